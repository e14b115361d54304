//! Notifications for people who are away, through a real Web Push service (`web-push-testing`, which
//! checks VAPID and decrypts aes128gcm) and a real webhook receiver: who is told, after the delay, once,
//! collapsed per conversation, cleared when read elsewhere; and bad subscriptions refused.

use std::time::Duration;

use parley_client::Client;
use parley_client::proto::v1::{CreateSubscriptionRequest, Notification, WebPushKeys};
use parley_proto::ConversationId;
use parley_testkit::TestServer;
use parley_testkit::push_service::{PushService, PushSubscription};

use crate::dm;
use crate::features::{on_postgres_with, say};

/// Pushes one second after a message, to the loopback push service over plain HTTP.
fn pushing_soon_to_loopback(config: &mut parley_server::Config) {
    config.push_delay_seconds = 1;
    config.push_allow_http = true;
    config.push_allow_private = true;
}

async fn server() -> TestServer {
    TestServer::spawn_with(pushing_soon_to_loopback).await
}

/// Deliveries one node attempts at once: at most these can be accepted and not yet recorded at a kill.
pub(crate) const IN_FLIGHT: usize = 64;

/// A subscription at the push service, registered with the server for `client`'s session.
pub(crate) async fn subscribed_phone(push: &PushService, client: &Client) -> PushSubscription {
    let key = client.vapid_key().await.expect("the VAPID key");
    let phone = push.subscribe(&key).await;
    client
        .subscribe(&web_push(&phone))
        .await
        .expect("subscribe");
    phone
}

/// Waits until the distinct notifications `phone` got tell of `messages` messages of `dm` in all (their
/// counts add up), each only of that DM and the same each time it came; answers how many came again.
pub(crate) async fn told_of_every_message(
    push: &PushService,
    phone: &PushSubscription,
    dm: ConversationId,
    messages: usize,
) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let received: Vec<Notification> = push
            .messages(phone)
            .await
            .iter()
            .map(|m| serde_json::from_str(m).expect("a notification"))
            .collect();
        let mut distinct = std::collections::BTreeMap::new();
        for notification in &received {
            let Notification::Message {
                id,
                count,
                conversation_id,
                ..
            } = notification
            else {
                panic!("nobody read anything: {notification:?}");
            };
            assert_eq!(*conversation_id, dm, "only their own DM");
            if let Some(earlier) = distinct.insert(id.clone(), *count) {
                assert_eq!(earlier, *count, "a notification sent again is the same");
            }
        }
        let told: usize = distinct.values().map(|&c| c as usize).sum();
        if told >= messages || tokio::time::Instant::now() > deadline {
            assert_eq!(told, messages, "every message told of, once");
            return received.len() - distinct.len();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn web_push(sub: &PushSubscription) -> CreateSubscriptionRequest {
    CreateSubscriptionRequest::WebPush {
        endpoint: sub.endpoint.clone(),
        keys: WebPushKeys {
            p256dh: sub.p256dh.clone(),
            auth: sub.auth.clone(),
        },
        expiration_time: None,
    }
}

/// The notifications the push service decrypted for `sub`, once there are `count`.
async fn received(push: &PushService, sub: &PushSubscription, count: usize) -> Vec<Notification> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let messages = push.messages(sub).await;
        if messages.len() >= count || tokio::time::Instant::now() > deadline {
            return messages
                .iter()
                .map(|m| serde_json::from_str(m).expect("a notification"))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_dm_reaches_the_away_user_once_collapsed_and_is_cleared_when_read() {
    dm_pushes(&server().await).await;
}

#[tokio::test]
async fn a_dm_reaches_the_away_user_once_collapsed_and_is_cleared_when_read_on_postgres() {
    if let Some(postgres) = on_postgres_with(pushing_soon_to_loopback).await {
        dm_pushes(&postgres.server).await;
    }
}

async fn dm_pushes(server: &TestServer) {
    let Some(push) = PushService::start().await else {
        return;
    };
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let key = bob.client.vapid_key().await.expect("the VAPID key");
    let phone = push.subscribe(&key).await;
    let made = bob
        .client
        .subscribe(&web_push(&phone))
        .await
        .expect("subscribe");
    assert!(made.this_session);
    let id = dm(&ann.client, bob.id).await;

    let first = say(&ann.client, id, "lunch?").await;
    let got = received(&push, &phone, 1).await;
    let [
        Notification::Message {
            text,
            count,
            sender,
            conversation_id,
            message_id,
            ..
        },
    ] = got.as_slice()
    else {
        panic!("one message notification, got {got:?}");
    };
    assert_eq!(text.as_deref(), Some("lunch?"));
    assert_eq!((*count, *conversation_id, *message_id), (1, id, first.id));
    assert_eq!(sender.name, "Ann");

    // A burst collapses into one notification saying how many.
    let mut last = first.id;
    for text in ["now?", "or later", "ping"] {
        last = say(&ann.client, id, text).await.id;
    }
    let got = received(&push, &phone, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let Notification::Message { count, text, .. } = &got[1] else {
        panic!("a message notification");
    };
    assert_eq!((*count, text.as_deref()), (3, Some("ping")));

    // Read on another device: the phone is told to clear it.
    bob.client.mark_read(id, last).await.expect("read");
    let got = received(&push, &phone, 3).await;
    assert!(
        matches!(got.get(2), Some(Notification::Clear { conversation_id, .. }) if *conversation_id == id),
        "{got:?}"
    );

    // Read within the delay: nobody is buzzed.
    let read_at_once = say(&ann.client, id, "never mind").await;
    bob.client
        .mark_read(id, read_at_once.id)
        .await
        .expect("read");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(push.messages(&phone).await.len(), 3);

    // An expired subscription answers 410: it is dropped.
    push.expire(&phone).await;
    say(&ann.client, id, "hello?").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !bob.client.subscriptions().await.expect("list").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gone subscription stays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn subscriptions_are_checked_owned_and_end_with_their_session() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let keys = WebPushKeys {
        p256dh: format!("B{}", "A".repeat(86)),
        auth: "A".repeat(22),
    };
    for (endpoint, code) in [
        ("http://push.example.com/x", "invalid_endpoint"),
        ("https://127.0.0.1/x", "invalid_endpoint"),
        ("https://169.254.169.254/latest", "invalid_endpoint"),
        ("https://localhost/x", "invalid_endpoint"),
        ("not a url", "invalid_endpoint"),
    ] {
        let refused = ann
            .client
            .subscribe(&CreateSubscriptionRequest::WebPush {
                endpoint: endpoint.to_owned(),
                keys: keys.clone(),
                expiration_time: None,
            })
            .await
            .expect_err(endpoint);
        assert_eq!(refused.code(), Some(code), "{endpoint}");
    }
    let short = WebPushKeys {
        p256dh: "AAAA".to_owned(),
        auth: keys.auth.clone(),
    };
    let refused = ann
        .client
        .subscribe(&CreateSubscriptionRequest::WebPush {
            endpoint: "https://push.example.com/x".to_owned(),
            keys: short,
            expiration_time: None,
        })
        .await
        .expect_err("short keys");
    assert_eq!(refused.code(), Some("invalid_keys"));
    let hook = ann
        .client
        .subscribe(&CreateSubscriptionRequest::Webhook {
            url: "https://hooks.example.com/parley".to_owned(),
        })
        .await
        .expect("a webhook");
    assert_eq!(hook.secret.as_ref().map(String::len), Some(43));
    let listed = ann.client.subscriptions().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].secret, None, "the secret is shown once");
    let others = bob
        .client
        .unsubscribe(hook.id)
        .await
        .expect_err("not Bob's");
    assert_eq!(others.status(), Some(404));
    ann.client.logout().await.expect("logout");
    let login = server
        .client()
        .login(&parley_client::proto::v1::LoginRequest {
            login: ann.email.clone(),
            password: parley_testkit::PASSWORD.to_owned(),
            org: None,
        })
        .await
        .expect("log in again");
    let again = server.client().with_token(login.token);
    assert!(again.subscriptions().await.expect("list").is_empty());
}

/// What a webhook receiver got: headers and body of each POST.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>;

/// A webhook receiver on loopback: `/hook` answers 503 with `Retry-After: 1` to the first POST and 200 to
/// the rest; `/moved` answers a redirect to `/hook`, which must not be followed; `/hang` never answers.
async fn receiver() -> (String, Received) {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::post;
    let received: Received = Default::default();
    let hook = {
        let received = received.clone();
        move |headers: HeaderMap, body: String| {
            let received = received.clone();
            async move {
                let mut got = received.lock().expect("the log");
                got.push((headers, body));
                if got.len() == 1 {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, "1")],
                    )
                        .into_response()
                } else {
                    StatusCode::OK.into_response()
                }
            }
        }
    };
    use axum::response::IntoResponse;
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .route(
            "/moved",
            post(|| async { (StatusCode::FOUND, [(header::LOCATION, "/hook")]) }),
        )
        .route("/hang", post(std::future::pending::<StatusCode>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn webhooks_are_signed_retried_after_what_they_ask_and_never_redirected() {
    use hmac::{Hmac, KeyInit, Mac};
    let server = server().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let (base, received) = receiver().await;
    let hook = bob
        .client
        .subscribe(&CreateSubscriptionRequest::Webhook {
            url: format!("{base}/hook"),
        })
        .await
        .expect("a webhook");
    let secret = hook.secret.expect("the secret, once");
    let id = dm(&ann.client, bob.id).await;
    let sent = say(&ann.client, id, "the build is red").await;

    // Refused once with Retry-After: 1, then accepted; never sent again after that.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received.lock().expect("the log").len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no retry came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = received.lock().expect("the log").clone();
    assert_eq!(got.len(), 2, "one retry, then nothing more");
    for (headers, body) in &got {
        assert_eq!(body, &got[0].1, "a retry carries the same notification");
        let signature = headers["parley-signature"].to_str().expect("ASCII");
        let (t, v1) = signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
            .expect("t=…,v1=…");
        let mut mac =
            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("a key");
        mac.update(format!("{t}.{body}").as_bytes());
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(v1, expected, "the signature checks out");
    }
    let notification: Notification = serde_json::from_str(&got[0].1).expect("JSON");
    let Notification::Message {
        message_id, text, ..
    } = notification
    else {
        panic!("a message notification");
    };
    assert_eq!(
        (message_id, text.as_deref()),
        (sent.id, Some("the build is red"))
    );

    // A receiver that redirects is not followed: the notification is given up, not sent elsewhere.
    bob.client.unsubscribe(hook.id).await.expect("unsubscribe");
    bob.client
        .subscribe(&CreateSubscriptionRequest::Webhook {
            url: format!("{base}/moved"),
        })
        .await
        .expect("a webhook");
    say(&ann.client, id, "still red").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        received.lock().expect("the log").len(),
        2,
        "the redirect was followed"
    );
    let metrics = server.client().text(&["metrics"]).await.expect("metrics");
    assert!(
        metrics.contains("parley_notifications_failed_total 1"),
        "the redirected one is counted as failed"
    );
}

/// An organization that keeps text off the push services (`parley admin push-previews --off`) gets pushes
/// with ids only.
#[tokio::test]
async fn an_organization_may_keep_previews_off_the_push_services() {
    let Some(push) = PushService::start().await else {
        return;
    };
    let data = tempfile::tempdir().expect("a data directory");
    let server = TestServer::spawn_in(data.path(), pushing_soon_to_loopback).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["admin", "--data-dir"])
        .arg(data.path())
        .args([
            "push-previews",
            "--org",
            &server.config.default_org,
            "--off",
        ])
        .output()
        .expect("parley admin");
    assert!(output.status.success(), "{output:?}");
    let phone = subscribed_phone(&push, &bob.client).await;
    let id = dm(&ann.client, bob.id).await;
    let sent = say(&ann.client, id, "the secret plan").await;
    let got = received(&push, &phone, 1).await;
    let [
        Notification::Message {
            text, message_id, ..
        },
    ] = got.as_slice()
    else {
        panic!("one notification, got {got:?}");
    };
    assert_eq!((text, *message_id), (&None, sent.id));
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["admin", "--data-dir"])
        .arg(data.path())
        .args(["push-previews", "--org", "nowhere", "--on"])
        .output()
        .expect("parley admin");
    assert!(
        !missing.status.success(),
        "an unknown organization is refused"
    );
}

/// A receiver that never answers holds only its own attempt, for 10 s, and is then retried later; other
/// people's notifications go out meanwhile, and so do sends.
#[tokio::test]
async fn a_receiver_that_hangs_holds_up_nobody_else_and_is_retried() {
    let server = server().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let cy = server.user("Cy").await;
    let (base, received) = receiver().await;
    for (who, path) in [(&bob, "hang"), (&cy, "hook")] {
        who.client
            .subscribe(&CreateSubscriptionRequest::Webhook {
                url: format!("{base}/{path}"),
            })
            .await
            .expect("a webhook");
    }
    let started = tokio::time::Instant::now();
    let to_bob = dm(&ann.client, bob.id).await;
    say(&ann.client, to_bob, "are you there?").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let to_cy = dm(&ann.client, cy.id).await;
    say(&ann.client, to_cy, "and you?").await;
    // Cy's receiver answers 503 (Retry-After: 1), then 200: both while Bob's attempt still hangs.
    while received.lock().expect("the log").len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "Cy's notification waited for Bob's receiver"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = started + Duration::from_secs(30);
    loop {
        let metrics = server.client().text(&["metrics"]).await.expect("metrics");
        if metrics.contains("parley_notifications_retried_total 2") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob's was never retried"
        );
        say(&ann.client, to_bob, "still here").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
