//! `push`: an `@channel` message to a big channel whose members are mostly away, each with a Web Push
//! subscription at a real push service; how long until the last push is accepted, and whether the members
//! online were slowed meanwhile.

use std::time::{Duration, Instant};

use parley_client::proto::v1::{
    CreateSubscriptionRequest, Mentions, SendMessageRequest, WebPushKeys,
};
use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::scenarios::fanout::{Broadcast, Via};
use crate::server_metrics::counter;
use crate::{Bench, Error, Result, User, setup};

/// M members, C of them connected, the rest away with a Web Push subscription each at PUSH_SERVICE (npm
/// `web-push-testing`: `bash scripts/push-service/run PORT`). The server must push without delay to it
/// (`push_delay_seconds = 0`, `push_allow_http = true`, `push_allow_private = true`). The sender posts one
/// `@channel` message, then R plain messages a second for S seconds; the report's latency is the connected
/// members' fan-out meanwhile, and `extra` has `push_last_accepted_ms` (from the `@channel` send to the
/// last push the service accepted, by the server's `parley_notifications_sent_total`).
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Push {
    /// Members of the channel, besides the sender.
    #[arg(long, default_value_t = 10_000)]
    pub members: usize,
    /// Members connected (the rest are away, with a subscription).
    #[arg(long, default_value_t = 1_000)]
    pub connected: usize,
    /// The push service's URL, e.g. http://127.0.0.1:8090.
    #[arg(long)]
    pub push_service: String,
    /// Plain messages per second after the `@channel` one, to measure fan-out during the burst.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 200)]
    pub size: usize,
    /// Sockets opened, and subscriptions made, at once during setup.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
}

#[derive(Deserialize)]
struct Subscribed {
    data: SubscriptionData,
}

#[derive(Deserialize)]
struct SubscriptionData {
    endpoint: String,
    keys: Keys,
}

#[derive(Deserialize)]
struct Keys {
    p256dh: String,
    auth: String,
}

/// Gives `user` exactly one subscription, fresh at the push service (whose subscriptions live in memory).
async fn subscribe(http: &reqwest::Client, service: &str, key: &str, user: &User) -> Result<()> {
    for old in user.client.subscriptions().await? {
        user.client.unsubscribe(old.id).await?;
    }
    let made: Subscribed = http
        .post(format!("{service}/subscribe"))
        .json(&serde_json::json!({ "applicationServerKey": key }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| Error::Scenario(format!("the push service: {e}")))?
        .json()
        .await
        .map_err(|e| Error::Scenario(format!("the push service: {e}")))?;
    user.client
        .subscribe(&CreateSubscriptionRequest::WebPush {
            endpoint: made.data.endpoint,
            keys: WebPushKeys {
                p256dh: made.data.keys.p256dh,
                auth: made.data.keys.auth,
            },
            expiration_time: None,
        })
        .await?;
    Ok(())
}

/// The server's count of pushes accepted and given up, now.
async fn pushed(bench: &Bench) -> (f64, f64) {
    let text = bench.client.text(&["metrics"]).await.unwrap_or_default();
    (
        counter(&text, "parley_notifications_sent_total"),
        counter(&text, "parley_notifications_failed_total"),
    )
}

pub async fn run(bench: &mut Bench, args: &Push) -> Result<Report> {
    if args.connected >= args.members {
        return Err(Error::Scenario("push needs members who are away".into()));
    }
    let users = bench.users(args.members + 1).await?;
    let (sender, members) = users
        .split_first()
        .ok_or_else(|| Error::Scenario("push needs users".into()))?;
    let handle = format!("pb-{}-big-{}", bench.accounts.prefix, args.members);
    let channel = setup::kept_channel(sender, members, &handle).await?;
    let (online, away) = members.split_at(args.connected);
    let key = sender.client.vapid_key().await?;
    let http = reqwest::Client::new();
    let service = args.push_service.trim_end_matches('/').to_owned();
    setup::bounded(away.to_vec(), args.connect_concurrency, |user| {
        let (http, service, key) = (http.clone(), service.clone(), key.clone());
        async move { subscribe(&http, &service, &key, &user).await }
    })
    .await?;
    let sockets = setup::connect_everyone(bench.output, online, args.connect_concurrency).await?;

    let (sent_before, failed_before) = pushed(bench).await;
    let start = Instant::now();
    sender
        .client
        .send_draft(
            channel,
            &SendMessageRequest {
                text: "@channel the building is closed tomorrow".into(),
                mentions: Some(Mentions {
                    channel: true,
                    ..Mentions::default()
                }),
                nonce: None,
                thread_root_id: None,
                also_to_conversation: None,
                quote: None,
                attachments: Vec::new(),
            },
        )
        .await?;
    let expected = away.len() as f64;
    let watch = {
        let client = bench.client.clone();
        tokio::spawn(async move {
            loop {
                let text = client.text(&["metrics"]).await.unwrap_or_default();
                let sent = counter(&text, "parley_notifications_sent_total") - sent_before;
                let failed = counter(&text, "parley_notifications_failed_total") - failed_before;
                if sent + failed >= expected || start.elapsed() > Duration::from_secs(600) {
                    return (start.elapsed(), sent, failed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let broadcast = Broadcast {
        sender,
        channel,
        rate: args.rate,
        seconds: args.seconds,
        size: args.size,
        via: Via::Rest,
    };
    let report = Report::new("push", bench.run_id, super::params(args));
    let mut report = broadcast.measure(bench, report, sockets).await?;
    let (last, sent, failed) = watch
        .await
        .map_err(|e| Error::Scenario(format!("the push watcher: {e}")))?;
    report
        .extra
        .insert("push_last_accepted_ms", last.as_secs_f64() * 1000.0);
    report.extra.insert("pushes_accepted", sent);
    report.extra.insert("pushes_failed", failed);
    Ok(report)
}
