//! `connect`: how fast the server takes new authenticated sockets.

use std::time::Instant;

use serde::Serialize;

use crate::report::{Latencies, Progress, Report};
use crate::{Bench, Result, setup};

/// Connection rate: N sockets opened as fast as possible, hello to ready.
///
/// Opens SOCKETS authenticated sockets as fast as CONCURRENCY allows and reports connects per second and the
/// time of each, from opening the TCP connection through the WebSocket upgrade and `hello` to `ready`. This is
/// what a deployment sees after a restart or a network blip, when every client reconnects at once (the SDK
/// spreads them with backoff and jitter; this is the worst case). The sockets are closed at the end.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Connect {
    /// Sockets to open, one per user (past --sockets-per-process, over several processes).
    #[arg(long, default_value_t = 5_000)]
    pub sockets: usize,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
}

pub async fn run(bench: &mut Bench, args: &Connect) -> Result<Report> {
    let users = bench.users(args.sockets).await?;
    let users = match bench.shard {
        Some(shard) => shard.of(&users),
        None => &users[..],
    };
    let progress = Progress::start(bench.output, "connect", "sockets", Some(users.len() as u64));
    if bench.shard.is_some() {
        crate::fleet::ready_then_wait_for_go().await;
    }
    let latencies = Latencies::new();
    let before = bench.probe.sample()?;
    let start = Instant::now();
    let sockets =
        setup::connect_all(users, args.concurrency, &latencies, &progress.counter()).await;
    let seconds = start.elapsed().as_secs_f64();
    let after = bench.probe.sample()?;
    progress.finish();
    let mut connected = Vec::with_capacity(sockets.len());
    let mut errors = 0;
    for socket in sockets {
        match socket {
            Ok(socket) => connected.push(socket),
            Err(_) => errors += 1,
        }
    }
    let opened = connected.len() as u64;
    setup::bounded(connected, args.concurrency, |socket| async move {
        socket.close().await;
        Ok(())
    })
    .await?;

    let mut report = Report::new("connect", bench.run_id, super::params(args));
    report.seconds = seconds;
    report.unit = "connects";
    report.achieved_per_second = opened as f64 / seconds;
    report.sent = opened;
    report.errors = errors;
    report.latency = latencies.percentiles();
    report.server = crate::procfs::Probe::usage(before, after);
    Ok(report)
}
