//! `fanout`: one sender, one channel, many connected members.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_client::{RawIncoming, Socket};
use parley_proto::ConversationId;
use serde::Serialize;

use crate::inbox::{DRAIN, Inbox, Ledger, Totals};
use crate::peek::Peek;
use crate::report::{Latencies, Progress, Report};
use crate::setup;
use crate::tag::Tag;
use crate::{Bench, Result, User};

/// Big rooms: one sender to a channel of M connected members at rate R.
///
/// One sender posts to a public channel whose members are all connected; every message is delivered to every
/// member's socket. Measures deliveries per second and latency from each message's scheduled send time to its
/// arrival on each socket (open loop). Sizes a deployment's big rooms: members × rate = deliveries/s.
///
/// With `--via socket` the sender sends `send` ops over one WebSocket of its own instead of REST requests,
/// still each at its scheduled time whatever the acks before it did, and the report adds the acks' latency
/// from the schedule (`ack_p50_ms`, `ack_p99_ms`, `ack_max_ms`).
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Fanout {
    /// Connected members of the channel (the sender is one more user, connected only with --via socket).
    #[arg(long, default_value_t = 1_000)]
    pub members: usize,
    /// Messages per second the sender posts (each on schedule whatever the previous one did).
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// How long the sender posts.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 200)]
    pub size: usize,
    /// Sockets opened at once while connecting the members.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// How the sender posts: a REST request per message, or `send` ops over one WebSocket.
    #[arg(long, value_enum, default_value_t = Via::Rest)]
    pub via: Via,
}

/// How a broadcast's sender posts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `POST /v1/conversations/{id}/messages`, each request in a task of its own.
    #[default]
    Rest,
    /// `send` ops over one WebSocket, each answered `ack` once the message is stored.
    Socket,
}

pub async fn run(bench: &mut Bench, args: &Fanout) -> Result<Report> {
    let users = bench.users(args.members + 1).await?;
    let (sender, members) = users
        .split_first()
        .ok_or_else(|| crate::Error::Scenario("fanout needs at least one user".into()))?;
    let handle = format!("pb{:x}", bench.run_id & 0xffff_ffff);
    let channel = setup::channel(sender, members, &handle).await?;
    let sockets = setup::connect_everyone(bench.output, members, args.connect_concurrency).await?;

    let broadcast = Broadcast {
        sender,
        channel,
        rate: args.rate,
        seconds: args.seconds,
        size: args.size,
        via: args.via,
    };
    broadcast
        .measure(
            bench,
            Report::new("fanout", bench.run_id, super::params(args)),
            sockets,
        )
        .await
}

/// One sender posting to a channel on a fixed schedule while connected members receive.
pub(crate) struct Broadcast<'a> {
    pub sender: &'a User,
    pub channel: ConversationId,
    pub rate: f64,
    pub seconds: f64,
    pub size: usize,
    pub via: Via,
}

/// What the sender got done.
#[derive(Default)]
struct Sent {
    /// Messages the server stored (answered 2xx or `ack`).
    accepted: u64,
    /// Sends the server refused or that failed on the way.
    errors: u64,
    /// Ops sent over the socket that had no answer when the sender stopped waiting.
    unanswered: u64,
    /// Why the sender's socket stopped before its schedule ended, if it did.
    failure: Option<String>,
}

impl Broadcast<'_> {
    fn n_messages(&self) -> u64 {
        (self.rate * self.seconds).round() as u64
    }

    /// When message `seq` is due, after the run's start.
    fn scheduled(&self, seq: u64) -> Duration {
        Duration::from_secs_f64(seq as f64 / self.rate)
    }

    fn tag(&self, run_id: u64, seq: u64) -> Tag {
        Tag {
            run_id,
            sender: 0,
            seq,
            scheduled: self.scheduled(seq),
        }
    }

    /// Sends on schedule, receives on every socket, and fills `report` with what arrived and when.
    pub(crate) async fn measure(
        &self,
        bench: &mut Bench,
        mut report: Report,
        sockets: Vec<Socket>,
    ) -> Result<Report> {
        // The sender's own socket is opened before the measured phase, as the members' are.
        let sender_socket = match self.via {
            Via::Rest => None,
            Via::Socket => Some(self.sender.client.connect(None).await?),
        };
        let n_sockets = sockets.len();
        let n_messages = self.n_messages();
        let progress = Progress::start(
            bench.output,
            report.scenario,
            "deliveries",
            Some(n_messages * n_sockets as u64),
        );
        let ledger = Arc::new(Ledger::new(1));
        let latencies = Latencies::new();
        let acks = Latencies::new();
        let histogram = bench.server_histogram().await;
        let before = bench.probe.sample()?;
        let start = Instant::now();
        let receivers: Vec<_> = sockets
            .into_iter()
            .map(|socket| {
                let inbox = Inbox::new(bench.run_id, start, vec![0], latencies.clone());
                tokio::spawn(setup::receive(
                    socket,
                    inbox,
                    Arc::clone(&ledger),
                    progress.counter(),
                    DRAIN,
                ))
            })
            .collect();

        let sent = match sender_socket {
            None => self.post_over_rest(bench.run_id, start).await,
            Some(socket) => {
                self.send_over_socket(socket, bench.run_id, start, &acks)
                    .await
            }
        };
        ledger.finish(0, sent.accepted);
        let totals = Totals::gather(receivers, &ledger).await;
        let seconds = start.elapsed().as_secs_f64();
        let after = bench.probe.sample()?;
        progress.finish();

        report.seconds = seconds;
        report.unit = "deliveries";
        report.offered_per_second = Some(self.rate * n_sockets as f64);
        report.achieved_per_second = totals.delivered as f64 / seconds;
        report.scheduled = Some(n_messages);
        report.sent = sent.accepted;
        report.errors = sent.errors;
        totals.fill(&mut report);
        report.latency = latencies.percentiles();
        report.server_delivery = bench.server_histogram().await.since(&histogram);
        report.server = crate::procfs::Probe::usage(before, after);
        report.add_per_message_figures();
        if let Some(acks) = acks.percentiles() {
            report.extra.insert("ack_p50_ms", acks.p50_ms);
            report.extra.insert("ack_p99_ms", acks.p99_ms);
            report.extra.insert("ack_max_ms", acks.max_ms);
        }
        if sent.unanswered > 0 {
            report.extra.insert("unanswered", sent.unanswered as f64);
        }
        if let Some(failure) = sent.failure {
            // The report has no text fields: say why here, and count it there.
            eprintln!(
                "{}: the sender's socket stopped: {failure}",
                report.scenario
            );
            report.extra.insert("sender_failed", 1.0);
        }
        Ok(report)
    }

    /// Posts each message over REST at its scheduled time, each request in a task of its own so that a slow
    /// answer never delays the next one.
    async fn post_over_rest(&self, run_id: u64, start: Instant) -> Sent {
        let n_messages = self.n_messages();
        let accepted = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let mut sends = Vec::with_capacity(n_messages as usize);
        for seq in 0..n_messages {
            let tag = self.tag(run_id, seq);
            tokio::time::sleep_until((start + tag.scheduled).into()).await;
            let (client, channel, accepted, errors) = (
                self.sender.client.clone(),
                self.channel,
                Arc::clone(&accepted),
                Arc::clone(&errors),
            );
            let text = tag.text(self.size);
            sends.push(tokio::spawn(async move {
                match client
                    .send_message(channel, &text, Some(&tag.nonce()))
                    .await
                {
                    Ok(_) => accepted.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }));
        }
        for send in sends {
            let _ = send.await;
        }
        Sent {
            accepted: accepted.load(Ordering::Relaxed),
            errors: errors.load(Ordering::Relaxed),
            ..Sent::default()
        }
    }

    /// Sends each message as a `send` op over `socket` at its scheduled time, while reading the socket: an
    /// op never waits for the ack of the one before it (open loop), and each ack's latency from its
    /// message's schedule goes into `acks`. Once all are sent it reads on until every op is answered, or
    /// `DRAIN` has passed.
    async fn send_over_socket(
        &self,
        mut socket: Socket,
        run_id: u64,
        start: Instant,
        acks: &Latencies,
    ) -> Sent {
        let n_messages = self.n_messages();
        let mut sent = Sent::default();
        let (mut seq, mut answered) = (0u64, 0u64);
        let mut drain_until = None;
        while seq < n_messages || answered < seq {
            let next_send = (seq < n_messages).then(|| start + self.scheduled(seq));
            if next_send.is_none() && drain_until.is_none() {
                drain_until = Some(tokio::time::Instant::now() + DRAIN);
            }
            let give_up = drain_until.unwrap_or_else(|| start.into());
            // Not biased: when the sender is behind its schedule and acks keep coming, the two take turns.
            tokio::select! {
                _ = tokio::time::sleep_until(next_send.unwrap_or(start).into()), if next_send.is_some() => {
                    let tag = self.tag(run_id, seq);
                    let op = tag.send_op(self.channel, self.size);
                    if let Err(error) = socket.send(&op).await {
                        sent.errors += 1;
                        sent.failure = Some(error.to_string());
                        break;
                    }
                    seq += 1;
                }
                next = socket.next_raw() => match next {
                    Some(Ok(RawIncoming::Text(text))) => {
                        let frame = Peek::of(&text);
                        match frame.kind.as_ref() {
                            "ack" => {
                                answered += 1;
                                sent.accepted += 1;
                                let arrived = start.elapsed();
                                let tag = frame.acked_text().and_then(|text| Tag::parse(&text, run_id));
                                if let Some(tag) = tag {
                                    acks.record(arrived.saturating_sub(tag.scheduled));
                                }
                            }
                            "error" => {
                                answered += 1;
                                sent.errors += 1;
                            }
                            // The sender is a member: its own messages come back, and are not counted.
                            _ => {}
                        }
                    }
                    Some(Ok(RawIncoming::Closed { code, reason })) => {
                        sent.failure = Some(format!("closed by the server: {code} {reason}"));
                        break;
                    }
                    Some(Err(error)) => {
                        sent.failure = Some(error.to_string());
                        break;
                    }
                    None => {
                        sent.failure = Some("connection lost".to_owned());
                        break;
                    }
                },
                _ = tokio::time::sleep_until(give_up), if drain_until.is_some() => {
                    break;
                }
            }
        }
        sent.unanswered = seq.saturating_sub(answered);
        socket.close().await;
        sent
    }
}
