//! `idle`: the server's memory per open, authenticated, idle connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_client::{Incoming, Socket};
use serde::Serialize;
use tokio::sync::watch;

use crate::report::{Progress, Report};
use crate::{Bench, Error, Result, User, setup};

/// Conversations each idle user is in.
const CONVERSATIONS_PER_USER: usize = 5;
/// Members of each of those groups.
const GROUP_SIZE: usize = 10;

/// Memory per idle connection: N authenticated sockets held open.
///
/// Opens SOCKETS authenticated sockets, one per user, each user a member of 5 group conversations (made by the
/// first run of this size against the server, and reused by later ones), and holds them open (answering the server's pings) for SECONDS. Reports the server's RSS before connecting and at the
/// end of the hold, and their difference per connection: the memory to budget for each connected device.
/// One bench process holds at most ~19,000 sockets (the open-files limit): past --sockets-per-process, the run
/// is split over several processes of this program, each with a share of the users and its own source
/// address (127.0.0.2, 127.0.0.3, ...), and their sockets are added up.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Idle {
    #[arg(long, default_value_t = 5_000)]
    pub sockets: usize,
    /// How long to hold them.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// Connects (and conversation creates) in flight at once.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

/// The users and their groups, made if an earlier run of this size did not; answers the users and how many
/// groups it made.
pub async fn prepare(bench: &mut Bench, args: &Idle) -> Result<(Vec<User>, usize)> {
    if args.sockets == 0 {
        return Err(Error::Scenario("idle needs at least one socket".into()));
    }
    let users = bench.users(args.sockets).await?;
    let groups = groups(&users);
    let n_groups = groups.len();
    // The groups of an earlier run of the same size are kept (and found by name): each run adding its own
    // would put every user in more conversations than the scenario says.
    let name = format!("Bench idle {}", args.sockets);
    let last = users
        .last()
        .ok_or_else(|| Error::Scenario("no users".into()))?;
    let made_before = last
        .client
        .conversations()
        .await?
        .iter()
        .any(|c| c.name.as_deref() == Some(name.as_str()));
    if !made_before {
        setup::bounded(groups, args.concurrency, |members| {
            let name = &name;
            async move {
                let (owner, rest) = members
                    .split_first()
                    .ok_or_else(|| Error::Scenario("empty group".into()))?;
                setup::group(owner, rest, name).await
            }
        })
        .await?;
    }
    Ok((users, if made_before { 0 } else { n_groups }))
}

pub async fn run(bench: &mut Bench, args: &Idle) -> Result<Report> {
    let (users, made) = prepare(bench, args).await?;
    let users = match bench.shard {
        Some(shard) => shard.of(&users),
        None => &users[..],
    };
    if bench.shard.is_some() {
        crate::fleet::ready_then_wait_for_go().await;
    }
    let before = bench.probe.sample()?;
    let started = Instant::now();
    let sockets = setup::connect_everyone(bench.output, users, args.concurrency).await?;
    let connect_seconds = started.elapsed().as_secs_f64();

    let (stop, stopped) = watch::channel(false);
    let dropped = Arc::new(AtomicU64::new(0));
    let holders: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(hold(socket, stopped.clone(), Arc::clone(&dropped))))
        .collect();
    let holding = Progress::start(bench.output, "idle", "s held", None);
    let counter = holding.counter();
    let hold_started = Instant::now();
    if bench.shard.is_some() {
        // One part of a split run: the coordinator measures the server, and says when to let go.
        crate::fleet::connected_then_hold().await;
    } else {
        while hold_started.elapsed().as_secs_f64() < args.seconds {
            tokio::time::sleep(Duration::from_secs(1)).await;
            counter.store(hold_started.elapsed().as_secs(), Ordering::Relaxed);
        }
    }
    let after = bench.probe.sample()?;
    holding.finish();
    stop.send_replace(true);
    for holder in holders {
        let _ = holder.await;
    }

    let mut report = Report::new("idle", bench.run_id, super::params(args));
    report.seconds = started.elapsed().as_secs_f64();
    report.unit = "sockets";
    report.achieved_per_second = users.len() as f64 / connect_seconds;
    report.sent = users.len() as u64;
    report.errors = dropped.load(Ordering::Relaxed);
    report.server = crate::procfs::Probe::usage(before, after);
    memory_per_connection(&mut report, users.len() as u64);
    report.extra.insert("conversations_created", made as f64);
    Ok(report)
}

/// The server's memory growth over the run, per connection held, into the report.
pub(crate) fn memory_per_connection(report: &mut Report, connections: u64) {
    if let Some(usage) = report.server {
        let grown = usage.rss_after_kib as f64 - usage.rss_before_kib as f64;
        report
            .extra
            .insert("rss_per_connection_kib", grown / connections.max(1) as f64);
    }
}

/// Groups of ten such that each user is in five: round `k` cuts the users, rotated by `2k`, into tens.
fn groups(users: &[User]) -> Vec<Vec<User>> {
    let n = users.len();
    let mut groups = Vec::new();
    for round in 0..CONVERSATIONS_PER_USER {
        let offset = (2 * round) % n;
        let rotated: Vec<User> = (0..n).map(|i| users[(i + offset) % n].clone()).collect();
        // A group needs someone besides its owner; a lone user left over is in one conversation fewer.
        groups.extend(
            rotated
                .chunks(GROUP_SIZE)
                .filter(|chunk| chunk.len() > 1)
                .map(<[User]>::to_vec),
        );
    }
    groups
}

/// Reads the socket (so the library answers pings) until told to stop; counts it in `dropped` if the server
/// closed it first.
async fn hold(mut socket: Socket, mut stop: watch::Receiver<bool>, dropped: Arc<AtomicU64>) {
    loop {
        tokio::select! {
            next = socket.next() => match next {
                Some(Ok(Incoming::Message(_) | Incoming::Unknown { .. })) => {}
                Some(Ok(Incoming::Closed { .. }) | Err(_)) | None => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            _ = stop.changed() => break,
        }
    }
    socket.close().await;
}
