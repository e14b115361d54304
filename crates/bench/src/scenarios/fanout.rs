//! `fanout`: one sender, one channel, many connected members.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_client::Socket;
use parley_proto::ConversationId;
use serde::Serialize;

use crate::inbox::{DRAIN, Inbox, Ledger, Totals};
use crate::report::{Latencies, Progress, Report};
use crate::setup;
use crate::tag::Tag;
use crate::{Bench, Result, User};

/// Big rooms: one sender to a channel of M connected members at rate R.
///
/// One sender posts to a public channel whose members are all connected; every message is delivered to every
/// member's socket. Measures deliveries per second and latency from each message's scheduled send time to its
/// arrival on each socket (open loop). Sizes a deployment's big rooms: members × rate = deliveries/s.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Fanout {
    /// Connected members of the channel (the sender is one more user, not connected).
    #[arg(long, default_value_t = 1_000)]
    pub members: usize,
    /// Messages per second the sender posts (over REST, each on schedule whatever the previous one did).
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
}

impl Broadcast<'_> {
    /// Sends on schedule, receives on every socket, and fills `report` with what arrived and when.
    pub(crate) async fn measure(
        &self,
        bench: &mut Bench,
        mut report: Report,
        sockets: Vec<Socket>,
    ) -> Result<Report> {
        let n_sockets = sockets.len();
        let n_messages = (self.rate * self.seconds).round() as u64;
        let progress = Progress::start(
            bench.output,
            report.scenario,
            "deliveries",
            Some(n_messages * n_sockets as u64),
        );
        let ledger = Arc::new(Ledger::new(1));
        let latencies = Latencies::new();
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

        let accepted = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let mut sends = Vec::with_capacity(n_messages as usize);
        for seq in 0..n_messages {
            let scheduled = Duration::from_secs_f64(seq as f64 / self.rate);
            tokio::time::sleep_until((start + scheduled).into()).await;
            let tag = Tag {
                run_id: bench.run_id,
                sender: 0,
                seq,
                scheduled,
            };
            let (client, channel, accepted, errors) = (
                self.sender.client.clone(),
                self.channel,
                Arc::clone(&accepted),
                Arc::clone(&errors),
            );
            let text = tag.text(self.size);
            // Each send is its own task, so a slow answer never delays the next scheduled send.
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
        ledger.finish(0, accepted.load(Ordering::Relaxed));
        let totals = Totals::gather(receivers, &ledger).await;
        let seconds = start.elapsed().as_secs_f64();
        let after = bench.probe.sample()?;
        progress.finish();

        report.seconds = seconds;
        report.unit = "deliveries";
        report.offered_per_second = Some(self.rate * n_sockets as f64);
        report.achieved_per_second = totals.delivered as f64 / seconds;
        report.sent = accepted.load(Ordering::Relaxed);
        report.errors = errors.load(Ordering::Relaxed);
        totals.fill(&mut report);
        report.latency = latencies.percentiles();
        report.server_delivery = bench.server_histogram().await.since(&histogram);
        report.server = crate::procfs::Probe::usage(before, after);
        Ok(report)
    }
}
