//! `history`: how many pages of history a server reads a second, the reads that PostgreSQL read replicas
//! take off the primary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_client::Page;
use serde::Serialize;

use crate::report::{Latencies, Progress, Report};
use crate::tag::Tag;
use crate::{Bench, Error, Result, setup};

/// History reads: CONCURRENCY readers, each reading a page at a time.
///
/// A member of CONVERSATIONS groups, each filled with MESSAGES messages first, reads pages of LIMIT
/// messages (the newest, as a client opening a conversation does) with CONCURRENCY requests in flight, each
/// waiting for its answer before the next, for SECONDS; the other member meanwhile sends WRITES_PER_SECOND
/// messages to those conversations (0: none). Measures pages answered per second and the time to each.
/// On a server with read replicas the report adds the share of reads the replicas answered (its
/// `parley_store_routed_reads_total`).
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct History {
    #[arg(long, default_value_t = 20)]
    pub conversations: usize,
    /// Messages each conversation holds before the reads start.
    #[arg(long, default_value_t = 200)]
    pub messages: usize,
    /// Messages per page.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Reads in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 15.0)]
    pub seconds: f64,
    /// Messages sent per second while the reads run.
    #[arg(long, default_value_t = 0)]
    pub writes_per_second: u64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 200)]
    pub size: usize,
    /// The PostgreSQL primary's postmaster, on this machine: the report adds its CPU per page (its
    /// backends' included).
    #[arg(long)]
    pub primary_pid: Option<u32>,
    /// The same for the replica's.
    #[arg(long)]
    pub replica_pid: Option<u32>,
}

pub async fn run(bench: &mut Bench, args: &History) -> Result<Report> {
    if args.conversations == 0 || args.concurrency == 0 {
        return Err(Error::Scenario(
            "history needs conversations and readers".into(),
        ));
    }
    let users = bench.users(2).await?;
    let (reader, writer) = (&users[0], &users[1]);
    let mut conversations = Vec::with_capacity(args.conversations);
    for n in 0..args.conversations {
        let members = std::slice::from_ref(reader);
        conversations.push(setup::group(writer, members, &format!("Bench history {n}")).await?);
    }
    let fill: Vec<usize> = (0..args.conversations * args.messages).collect();
    let run_id = bench.run_id;
    let send = |seq: usize| {
        let tag = Tag {
            run_id,
            sender: 1,
            seq: seq as u64,
            scheduled: Duration::ZERO,
        };
        let conversation = conversations[seq % conversations.len()];
        let client = writer.client.clone();
        let text = tag.text(args.size);
        async move {
            client
                .send_message(conversation, &text, Some(&tag.nonce()))
                .await
        }
    };
    setup::bounded(fill, 32, |seq| async move {
        send(seq).await.map_err(Error::from)
    })
    .await?;

    let routed_before = routed(bench).await;
    let progress = Progress::start(bench.output, "history", "pages", None);
    let done = progress.counter();
    let latencies = Latencies::new();
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let databases_before = databases_cpu(args);
    let before = bench.probe.sample()?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);
    let readers = (0..args.concurrency).map(|n| {
        let (client, conversations) = (reader.client.clone(), conversations.clone());
        let (latencies, errors, done) = (latencies.clone(), Arc::clone(&errors), Arc::clone(&done));
        async move {
            let mut next = n;
            while Instant::now() < deadline {
                let page = Page {
                    limit: Some(args.limit),
                    ..Page::default()
                };
                let asked = Instant::now();
                match client
                    .history(conversations[next % conversations.len()], page)
                    .await
                {
                    Ok(_) => {
                        latencies.record(asked.elapsed());
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                next += args.concurrency;
            }
        }
    });
    let writes = {
        let stop = Arc::clone(&stop);
        let first = fill_len(args);
        async move {
            let (mut sent, mut failed) = (0u64, 0u64);
            if args.writes_per_second == 0 {
                return (sent, failed);
            }
            let mut every =
                tokio::time::interval(Duration::from_secs_f64(1.0 / args.writes_per_second as f64));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            // Sent on schedule, each without waiting for the ones before.
            let mut in_flight = futures_util::stream::FuturesUnordered::new();
            let mut next = first;
            loop {
                tokio::select! {
                    _ = every.tick(), if !stop.load(Ordering::Relaxed) => {
                        in_flight.push(send(next));
                        next += 1;
                    }
                    Some(result) = futures_util::StreamExt::next(&mut in_flight) => match result {
                        Ok(_) => sent += 1,
                        Err(_) => failed += 1,
                    },
                    else => break,
                }
            }
            (sent, failed)
        }
    };
    let reads = async {
        futures_util::future::join_all(readers).await;
        stop.store(true, Ordering::Relaxed);
    };
    let ((), (sent, failed_writes)) = tokio::join!(reads, writes);
    let seconds = start.elapsed().as_secs_f64();
    let after = bench.probe.sample()?;
    let databases_after = databases_cpu(args);
    progress.finish();
    let routed_after = routed(bench).await;

    let pages = latencies.count();
    let mut report = Report::new("history", bench.run_id, super::params(args));
    report.seconds = seconds;
    report.unit = "pages";
    report.achieved_per_second = pages as f64 / seconds.max(1e-9);
    report.sent = sent;
    report.errors = errors.load(Ordering::Relaxed) + failed_writes;
    report.latency = latencies.percentiles();
    report.server = crate::procfs::Probe::usage(before, after);
    let to_replica = routed_after.0.saturating_sub(routed_before.0) as f64;
    let to_primary = routed_after.1.saturating_sub(routed_before.1) as f64;
    if to_replica + to_primary > 0.0 {
        report
            .extra
            .insert("replica_share", to_replica / (to_replica + to_primary));
    }
    if let Some(cpu) = report.server.and_then(|server| server.cpu_seconds) {
        report
            .extra
            .insert("server_cpu_us_per_page", cpu * 1e6 / pages.max(1) as f64);
    }
    let per_page = |before: Option<f64>, after: Option<f64>| {
        Some((after? - before?) * 1e6 / pages.max(1) as f64)
    };
    if let Some(cpu) = per_page(databases_before.0, databases_after.0) {
        report.extra.insert("primary_cpu_us_per_page", cpu);
    }
    if let Some(cpu) = per_page(databases_before.1, databases_after.1) {
        report.extra.insert("replica_cpu_us_per_page", cpu);
    }
    Ok(report)
}

/// CPU seconds of the primary's and the replica's processes so far, for those given.
fn databases_cpu(args: &History) -> (Option<f64>, Option<f64>) {
    let cpu = |pid: Option<u32>| pid.map(crate::procfs::tree_cpu_seconds);
    (cpu(args.primary_pid), cpu(args.replica_pid))
}

fn fill_len(args: &History) -> usize {
    args.conversations * args.messages
}

/// Reads the server has sent to replicas and to the primary so far; zeros without replicas.
async fn routed(bench: &Bench) -> (u64, u64) {
    let text = bench.client.text(&["metrics"]).await.unwrap_or_default();
    let count = |to: &str| {
        let label = format!("parley_store_routed_reads_total{{to=\"{to}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&label))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (count("replica"), count("primary"))
}
