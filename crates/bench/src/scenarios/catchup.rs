//! `catchup`: how long a user who was offline takes to get what they missed.

use std::time::{Duration, Instant};

use parley_client::RawIncoming;
use serde::Serialize;

use crate::inbox::Inbox;
use crate::peek::Peek;
use crate::report::{Latencies, Progress, Report};
use crate::tag::Tag;
use crate::{Bench, Error, Result, setup};

/// How long a reconnect may take to replay everything before what is missing counts as lost.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(30);

/// Reconnect after being offline: replay of M messages across K conversations.
///
/// A user in CONVERSATIONS groups goes offline; MESSAGES messages arrive spread across them (sent over REST
/// by another member); the user reconnects with its cursor (`hello` with `resume`). Measures the time from
/// opening the socket to the arrival of the last replayed message, REPEATS times (each round continues from
/// the cursor the previous one ended at). This is the wait of a phone coming back from the background.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Catchup {
    #[arg(long, default_value_t = 50)]
    pub conversations: usize,
    /// Messages missed per round, spread round-robin over the conversations.
    #[arg(long, default_value_t = 1_000)]
    pub messages: usize,
    /// Rounds (samples of the catch-up time).
    #[arg(long, default_value_t = 20)]
    pub repeats: usize,
    /// Messages the other member sends at once while the user is offline.
    #[arg(long, default_value_t = 32)]
    pub send_concurrency: usize,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 200)]
    pub size: usize,
}

pub async fn run(bench: &mut Bench, args: &Catchup) -> Result<Report> {
    if args.conversations == 0 || args.messages == 0 {
        return Err(Error::Scenario(
            "catchup needs conversations and messages".into(),
        ));
    }
    let users = bench.users(2).await?;
    let (reader, writer) = (&users[0], &users[1]);
    let mut conversations = Vec::with_capacity(args.conversations);
    for n in 0..args.conversations {
        conversations.push(
            setup::group(
                writer,
                std::slice::from_ref(reader),
                &format!("Bench catch-up {n}"),
            )
            .await?,
        );
    }
    let mut cursor = reader.client.connect(None).await?.ready_cursor;

    let progress = Progress::start(bench.output, "catchup", "rounds", Some(args.repeats as u64));
    let done = progress.counter();
    let catchups = Latencies::new();
    // Latency from the tags' schedule means nothing here; the inbox only counts.
    let mut inbox = Inbox::new(bench.run_id, Instant::now(), vec![0], Latencies::new());
    let (mut sent, mut errors, mut replay_seconds) = (0u64, 0u64, 0.0);
    let before = bench.probe.sample()?;
    let start = Instant::now();
    for round in 0..args.repeats {
        let first_seq = (round * args.messages) as u64;
        let messages: Vec<_> = (0..args.messages).collect();
        // One task per chunk: `send_concurrency` tasks, each sending its chunk in order.
        let results = futures_util::future::join_all(
            messages
                .chunks(args.messages.div_ceil(args.send_concurrency.max(1)))
                .map(|chunk| {
                    let chunk = chunk.to_vec();
                    let conversations = &conversations;
                    let run_id = bench.run_id;
                    async move {
                        let mut ok = 0u64;
                        for i in chunk {
                            let tag = Tag {
                                run_id,
                                sender: 0,
                                seq: first_seq + i as u64,
                                scheduled: Duration::ZERO,
                            };
                            let conversation = conversations[i % conversations.len()];
                            if writer
                                .client
                                .send_message(
                                    conversation,
                                    &tag.text(args.size),
                                    Some(&tag.nonce()),
                                )
                                .await
                                .is_ok()
                            {
                                ok += 1;
                            }
                        }
                        ok
                    }
                }),
        )
        .await;
        let accepted: u64 = results.iter().sum();
        sent += accepted;
        errors += args.messages as u64 - accepted;

        let target = inbox.distinct + accepted;
        let opened = Instant::now();
        let mut socket = reader.client.connect(Some(cursor)).await?;
        let deadline = tokio::time::Instant::now() + REPLAY_TIMEOUT;
        while inbox.distinct < target {
            let next = tokio::time::timeout_at(deadline, socket.next_raw()).await;
            match next {
                Ok(Some(Ok(RawIncoming::Text(text)))) => {
                    let frame = Peek::of(&text);
                    if let Some(next) = frame.cursor {
                        cursor = next;
                    }
                    inbox.take(&frame);
                }
                Ok(Some(Ok(RawIncoming::Closed { .. }) | Err(_)) | None) | Err(_) => break,
            }
        }
        let took = opened.elapsed();
        if inbox.distinct >= target {
            catchups.record(took);
            replay_seconds += took.as_secs_f64();
        }
        socket.close().await;
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = bench.probe.sample()?;
    progress.finish();

    let mut report = Report::new("catchup", bench.run_id, super::params(args));
    report.seconds = seconds;
    report.unit = "replayed messages";
    report.achieved_per_second = inbox.distinct as f64 / replay_seconds.max(1e-9);
    report.sent = sent;
    report.errors = errors;
    report.expected = Some(sent);
    report.delivered = Some(inbox.distinct);
    report.lost = Some(sent.saturating_sub(inbox.distinct));
    report.duplicated = Some(inbox.duplicated);
    report.latency = catchups.percentiles();
    report.server = crate::procfs::Probe::usage(before, after);
    Ok(report)
}
