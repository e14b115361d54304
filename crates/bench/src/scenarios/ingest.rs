//! `ingest`: durable write throughput over WebSocket `send` ops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_client::{RawIncoming, Socket};
use parley_proto::ConversationId;
use serde::Serialize;

use crate::peek::Peek;
use crate::report::{Latencies, Progress, Report};
use crate::tag::Tag;
use crate::{Bench, Error, Result, setup};

/// Durable write throughput: S senders, each waiting for its ack.
///
/// SENDERS connected users each send messages one at a time with the WebSocket `send` op, waiting for the
/// `ack` (which the server gives only once the message is committed to disk) before the next: a closed loop
/// that measures acknowledged, durable messages per second and the time to each ack. Each sender writes to a
/// DM with a user who is not connected, so the sockets carry only the senders' own traffic. A socket may send
/// 50 ops per second (100 in a burst); a `rate_limited` answer is counted and the same message is sent again
/// 20 ms later.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Ingest {
    /// Concurrent senders, each with its own socket.
    #[arg(long, default_value_t = 500)]
    pub senders: usize,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 200)]
    pub size: usize,
    /// Sockets opened (and DMs created) at once during setup.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
}

/// How long a sender waits for the answer to its op before it counts the socket as gone.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What one sender did.
#[derive(Default)]
struct Counts {
    acked: u64,
    errors: u64,
    rate_limited: u64,
}

pub async fn run(bench: &mut Bench, args: &Ingest) -> Result<Report> {
    if args.senders == 0 {
        return Err(Error::Scenario("ingest needs at least one sender".into()));
    }
    let users = bench.users(args.senders * 2).await?;
    let (senders, partners) = users.split_at(args.senders);
    let pairs: Vec<_> = senders.iter().zip(partners).collect();
    let dms = setup::bounded(pairs, args.connect_concurrency, |(a, b)| setup::dm(a, b)).await?;
    let sockets = setup::connect_everyone(bench.output, senders, args.connect_concurrency).await?;

    let progress = Progress::start(bench.output, "ingest", "acks", None);
    let latencies = Latencies::new();
    let before = bench.probe.sample()?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = sockets
        .into_iter()
        .zip(dms)
        .enumerate()
        .map(|(index, (socket, conversation))| {
            let sender = Sender {
                index: index as u32,
                conversation,
                size: args.size,
                run_id: bench.run_id,
                start,
                deadline,
            };
            tokio::spawn(sender.run(socket, latencies.clone(), progress.counter()))
        })
        .collect();
    let mut totals = Counts::default();
    for task in tasks {
        match task.await {
            Ok(counts) => {
                totals.acked += counts.acked;
                totals.errors += counts.errors;
                totals.rate_limited += counts.rate_limited;
            }
            Err(_) => totals.errors += 1,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = bench.probe.sample()?;
    progress.finish();

    let mut report = Report::new("ingest", bench.run_id, super::params(args));
    report.seconds = seconds;
    report.unit = "acks";
    report.achieved_per_second = totals.acked as f64 / seconds;
    report.sent = totals.acked;
    report.errors = totals.errors;
    report.latency = latencies.percentiles();
    report.server = crate::procfs::Probe::usage(before, after);
    report
        .extra
        .insert("rate_limited", totals.rate_limited as f64);
    Ok(report)
}

struct Sender {
    index: u32,
    conversation: ConversationId,
    size: usize,
    run_id: u64,
    start: Instant,
    deadline: Instant,
}

impl Sender {
    async fn run(self, mut socket: Socket, latencies: Latencies, acked: Arc<AtomicU64>) -> Counts {
        let mut counts = Counts::default();
        let mut seq = 0;
        'messages: while Instant::now() < self.deadline {
            let sent_at = Instant::now();
            let tag = Tag {
                run_id: self.run_id,
                sender: self.index,
                seq,
                scheduled: sent_at - self.start,
            };
            let op = tag.send_op(self.conversation, self.size);
            loop {
                if socket.send(&op).await.is_err() {
                    counts.errors += 1;
                    break 'messages;
                }
                match self.answer(&mut socket).await {
                    Answer::Ack => {
                        latencies.record(sent_at.elapsed());
                        acked.fetch_add(1, Ordering::Relaxed);
                        counts.acked += 1;
                        break;
                    }
                    Answer::RateLimited => {
                        counts.rate_limited += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Answer::Error => {
                        counts.errors += 1;
                        break;
                    }
                    Answer::Gone => {
                        counts.errors += 1;
                        break 'messages;
                    }
                }
            }
            seq += 1;
        }
        socket.close().await;
        counts
    }

    /// The answer to the op just sent; events on the way (the sender's own `message.created`) are skipped.
    async fn answer(&self, socket: &mut Socket) -> Answer {
        loop {
            let Ok(next) = tokio::time::timeout(ANSWER_TIMEOUT, socket.next_raw()).await else {
                return Answer::Gone;
            };
            match next {
                Some(Ok(RawIncoming::Text(text))) => {
                    let frame = Peek::of(&text);
                    match (frame.kind.as_ref(), frame.code.as_deref()) {
                        ("ack", _) => return Answer::Ack,
                        ("error", Some("rate_limited")) => return Answer::RateLimited,
                        ("error", _) => return Answer::Error,
                        _ => {}
                    }
                }
                Some(Ok(RawIncoming::Closed { .. }) | Err(_)) | None => return Answer::Gone,
            }
        }
    }
}

enum Answer {
    Ack,
    RateLimited,
    Error,
    Gone,
}
