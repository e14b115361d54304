//! `moving`: what an organization's people see while `parley admin move-org` moves it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_client::{Backoff, Session};
use parley_proto::v1::{Event, ServerMessage};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::report::{Latencies, Progress, Report};
use crate::{Bench, Error, Result, User, setup};

/// Clients of an organization while it moves to another shard.
///
/// SENDERS users send into one group of theirs over REST, each one message at a time, every message tried
/// again with its nonce until it is acknowledged (so a send refused during the switch is neither lost nor
/// doubled); one more member listens with the SDK's `Session`, which reconnects and resumes from its cursor
/// when the move closes its socket. Run `parley admin move-org` on the bench's organization meanwhile
/// (`scripts/bench-move.sh` does). The report gives the acknowledged sends, the longest wait for an
/// acknowledgement (latency, retries included), the attempts refused, and the messages the listener missed
/// or got twice after a drain of 10 s.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Moving {
    #[arg(long, default_value_t = 20)]
    pub senders: usize,
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
}

/// How long the listener may take to get what was acknowledged, after the senders stop.
const DRAIN: Duration = Duration::from_secs(10);

/// How long the listener must stay quiet, once it has everything, for the count to end.
const QUIET: Duration = Duration::from_secs(1);

/// How long a refused send waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_millis(20);

pub async fn run(bench: &mut Bench, args: &Moving) -> Result<Report> {
    if args.senders == 0 {
        return Err(Error::Scenario("moving needs at least one sender".into()));
    }
    let users = bench.users(args.senders + 1).await?;
    let (listener, senders) = users
        .split_first()
        .ok_or(Error::Scenario("no users".into()))?;
    let group = setup::group(listener, senders, &format!("moving-{}", bench.run_id)).await?;
    let backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
    let mut session = Session::start(listener.client.clone(), None, backoff).await?;
    let (heard_tx, mut heard) = mpsc::unbounded_channel();
    let listening = tokio::spawn(async move {
        while let Ok(message) = session.next().await {
            if let ServerMessage::Event(frame) = message
                && let Event::MessageCreated { message, .. } = frame.event
                && let Some(text) = message.text
                && heard_tx.send(text).is_err()
            {
                return;
            }
        }
    });

    let progress = Progress::start(bench.output, "moving", "acks", None);
    let latencies = Latencies::new();
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);
    let run_id = bench.run_id;
    let tasks: Vec<_> = senders
        .iter()
        .enumerate()
        .map(|(index, user)| {
            tokio::spawn(send_until(
                user.clone(),
                group,
                format!("{run_id}-{index}"),
                deadline,
                latencies.clone(),
                Arc::clone(&refused),
                progress.counter(),
            ))
        })
        .collect();
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.map_err(|e| Error::Scenario(e.to_string()))?);
    }
    let seconds = start.elapsed().as_secs_f64();
    progress.finish();

    // Until every acknowledged message came (or `DRAIN` passed), then as long as more keep coming within
    // `QUIET`: a copy that comes late is counted too.
    let mut counts: HashMap<String, u32> = HashMap::new();
    let drained = Instant::now() + DRAIN;
    let ours = format!("{run_id}-");
    loop {
        let until = if counts.len() < acked.len() {
            drained
        } else {
            Instant::now() + QUIET
        };
        let Ok(Some(text)) = tokio::time::timeout_at(until.into(), heard.recv()).await else {
            break;
        };
        if text.starts_with(&ours) {
            *counts.entry(text).or_insert(0) += 1;
        }
    }
    listening.abort();
    let missing = acked.iter().filter(|t| !counts.contains_key(*t)).count();
    let doubled = counts.values().filter(|n| **n > 1).count();

    let mut report = Report::new("moving", bench.run_id, super::params(args));
    report.seconds = seconds;
    report.unit = "acks";
    report.achieved_per_second = acked.len() as f64 / seconds;
    report.sent = acked.len() as u64;
    report.errors = (missing + doubled) as u64;
    report.latency = latencies.percentiles();
    report
        .extra
        .insert("refused_attempts", refused.load(Ordering::Relaxed) as f64);
    report.extra.insert("missed", missing as f64);
    report.extra.insert("doubled", doubled as f64);
    Ok(report)
}

/// Sends `{prefix}-N` until `deadline`, each until acknowledged; answers the texts acknowledged.
async fn send_until(
    user: User,
    group: parley_proto::ConversationId,
    prefix: String,
    deadline: Instant,
    latencies: Latencies,
    refused: Arc<AtomicU64>,
    acks: Arc<AtomicU64>,
) -> Vec<String> {
    let mut acked = Vec::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let text = format!("{prefix}-{n}");
        let sent_at = Instant::now();
        while user
            .client
            .send_message(group, &text, Some(&text))
            .await
            .is_err()
        {
            refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(RETRY_AFTER).await;
        }
        latencies.record(sent_at.elapsed());
        acks.fetch_add(1, Ordering::Relaxed);
        acked.push(text);
        n += 1;
    }
    acked
}
