//! `pairs`: many one-to-one conversations, each side sending over its own socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_client::{RawIncoming, Socket};
use parley_proto::ConversationId;
use serde::Serialize;

use crate::inbox::{DRAIN, Inbox, Ledger, Totals};
use crate::peek::Peek;
use crate::report::{Latencies, Progress, Report};
use crate::tag::Tag;
use crate::{Bench, Error, Result, setup};

/// Everyday chat: U users in U/2 DMs, each sending at a fixed rate.
///
/// USERS connected users in USERS/2 DMs; each sends RATE messages per second to its partner with the
/// WebSocket `send` op (answered `ack` once durable), on a fixed schedule, spread evenly over the users,
/// never waiting for an ack before the next send (open loop): USERS × RATE messages a second in all, each
/// delivered once. Latency is from a message's scheduled time to its arrival on the partner's socket. This
/// is the everyday load of a chat deployment: many small conversations, each lightly used.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Pairs {
    /// Connected users (rounded down to an even number).
    #[arg(long, default_value_t = 2_000)]
    pub users: usize,
    /// Messages per second each user sends (the server allows 50 ops/s per socket).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Sockets opened (and DMs created) at once during setup.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
}

pub async fn run(bench: &mut Bench, args: &Pairs) -> Result<Report> {
    let n_users = args.users / 2 * 2;
    if n_users == 0 || args.rate <= 0.0 {
        return Err(Error::Scenario(
            "pairs needs at least 2 users and a positive rate".into(),
        ));
    }
    let users = bench.users(n_users).await?;
    let pairs: Vec<_> = users
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    let dms = setup::bounded(pairs, args.connect_concurrency, |(a, b)| async move {
        setup::dm(&a, &b).await
    })
    .await?;
    let sockets = setup::connect_everyone(bench.output, &users, args.connect_concurrency).await?;

    let per_user = (args.rate * args.seconds).round() as u64;
    let progress = Progress::start(
        bench.output,
        "pairs",
        "deliveries",
        Some(per_user * n_users as u64),
    );
    let ledger = Arc::new(Ledger::new(n_users));
    let latencies = Latencies::new();
    let errors = Arc::new(AtomicU64::new(0));
    let histogram = bench.server_histogram().await;
    let before = bench.probe.sample()?;
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(index, socket)| {
            let me = index as u32;
            let user = User {
                index: me,
                conversation: dms[index / 2],
                // Spread the first sends over one period, so the users do not all send at once.
                first: period.mul_f64(index as f64 / n_users as f64),
                period,
                n_messages: per_user,
                size: args.size,
                run_id: bench.run_id,
            };
            let inbox = Inbox::new(bench.run_id, start, vec![me ^ 1], latencies.clone());
            tokio::spawn(user.run(
                socket,
                inbox,
                start,
                Arc::clone(&ledger),
                progress.counter(),
                Arc::clone(&errors),
            ))
        })
        .collect();
    let totals = Totals::gather(tasks, &ledger).await;
    let seconds = start.elapsed().as_secs_f64();
    let after = bench.probe.sample()?;
    progress.finish();

    let mut report = Report::new("pairs", bench.run_id, super::params(args));
    report.seconds = seconds;
    report.unit = "deliveries";
    report.offered_per_second = Some(args.rate * n_users as f64);
    report.achieved_per_second = totals.delivered as f64 / seconds;
    report.scheduled = Some(per_user * n_users as u64);
    report.sent = ledger.total_accepted();
    report.errors = errors.load(Ordering::Relaxed);
    totals.fill(&mut report);
    report.latency = latencies.percentiles();
    report.server_delivery = bench.server_histogram().await.since(&histogram);
    report.server = crate::procfs::Probe::usage(before, after);
    report.add_per_message_figures();
    Ok(report)
}

/// One side of a DM: its schedule.
struct User {
    index: u32,
    conversation: ConversationId,
    first: Duration,
    period: Duration,
    n_messages: u64,
    size: usize,
    run_id: u64,
}

impl User {
    /// Sends on schedule while reading its socket (acks and the partner's messages), then reads on until the
    /// partner's accepted messages have all arrived or the drain time ran out.
    async fn run(
        self,
        mut socket: Socket,
        mut inbox: Inbox,
        start: Instant,
        ledger: Arc<Ledger>,
        delivered: Arc<AtomicU64>,
        errors: Arc<AtomicU64>,
    ) -> Inbox {
        let (mut seq, mut acked, mut pending) = (0u64, 0u64, 0u64);
        let mut all_done = ledger.watch();
        let mut finished = false;
        let mut drain_until = None;
        loop {
            if !finished && seq == self.n_messages && pending == 0 {
                finished = true;
                ledger.finish(self.index, acked);
            }
            if *all_done.borrow_and_update() {
                if inbox.complete(&ledger) {
                    break;
                }
                let deadline =
                    *drain_until.get_or_insert_with(|| tokio::time::Instant::now() + DRAIN);
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
            }
            let scheduled = self.first + self.period.mul_f64(seq as f64);
            let next_send = (seq < self.n_messages).then_some(start + scheduled);
            let wake = drain_until.unwrap_or_else(|| tokio::time::Instant::now() + DRAIN);
            tokio::select! {
                _ = tokio::time::sleep_until(next_send.unwrap_or(start).into()), if next_send.is_some() => {
                    let tag = Tag { run_id: self.run_id, sender: self.index, seq, scheduled };
                    let op = tag.send_op(self.conversation, self.size);
                    seq += 1;
                    match socket.send(&op).await {
                        Ok(()) => pending += 1,
                        Err(error) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            inbox.failure = Some(error.to_string());
                            break;
                        }
                    }
                }
                next = socket.next_raw() => match next {
                    Some(Ok(RawIncoming::Text(text))) => {
                        let frame = Peek::of(&text);
                        match frame.kind.as_ref() {
                            "ack" => {
                                pending = pending.saturating_sub(1);
                                acked += 1;
                            }
                            "error" => {
                                pending = pending.saturating_sub(1);
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                if inbox.take(&frame) {
                                    delivered.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                    Some(Ok(RawIncoming::Closed { code, reason })) => {
                        inbox.failure = Some(format!("closed by the server: {code} {reason}"));
                        break;
                    }
                    Some(Err(error)) => {
                        inbox.failure = Some(error.to_string());
                        break;
                    }
                    None => {
                        inbox.failure = Some("connection lost".to_owned());
                        break;
                    }
                },
                _ = all_done.changed() => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
        if !finished {
            // Stopped early: the partner must not wait for messages that will never come.
            ledger.finish(self.index, acked);
        }
        socket.close().await;
        inbox
    }
}
