//! The `parley-bench` command line: global flags, one subcommand per scenario, the table and the JSON line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use parley_bench::fleet::Fleet;
use parley_bench::procfs::Probe;
use parley_bench::scenarios::{
    bigchannel, catchup, connect, fanout, files, history, idle, ingest, moving, pairs, push, storm,
};
use parley_bench::{Accounts, Bench, Output, Shard};

/// A load generator for Parley: drives real sockets against a running server and reports rates, latency
/// percentiles (HDR histograms, open loop where the scenario has a rate), messages lost and duplicated, and,
/// with --server-pid, the server's CPU time and memory.
///
/// Each run prints a table, then one JSON line (on stdout), with a progress line on stderr meanwhile. The
/// bench signs up its own users (about 50 ms of server CPU each, for the password hash): pass --accounts FILE
/// so that later runs against the same server reuse them. Run it on the server's machine for --server-pid,
/// or anywhere for the rest; the load generator uses CPU too, so on a small machine it competes with the
/// server (read the figures as a floor).
#[derive(Debug, Parser)]
#[command(name = "parley-bench", version)]
struct Cli {
    /// The server's base URL.
    #[arg(
        long,
        global = true,
        env = "PARLEY_BENCH_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// A JSON file of the bench's users and their tokens: read if it exists, written with any new ones.
    #[arg(long, global = true, env = "PARLEY_BENCH_ACCOUNTS")]
    accounts: Option<PathBuf>,
    /// Sign-ups in flight at once (each costs the server one Argon2 hash; about its number of cores).
    #[arg(long, global = true, default_value_t = 4)]
    signup_concurrency: usize,
    /// The server's process id, to report its CPU time (/proc/PID/stat) and RSS (/proc/PID/status); for a
    /// cluster on this machine, each node's, separated by commas (the report sums them).
    #[arg(
        long,
        global = true,
        env = "PARLEY_BENCH_SERVER_PID",
        value_delimiter = ','
    )]
    server_pid: Vec<u32>,
    /// Cluster mode: the nodes' base URLs, separated by commas. User N talks to node N modulo their
    /// number (REST and WebSocket), so a conversation has members on every node; sign-ups and the
    /// server's own delivery histogram (summed over the nodes) use them too. --url is then unused.
    #[arg(long, global = true, env = "PARLEY_BENCH_NODES", value_delimiter = ',')]
    nodes: Vec<String>,
    /// No progress line.
    #[arg(long, global = true)]
    quiet: bool,
    /// The local address to open WebSockets from (127.0.0.2, 127.0.0.3, ...): one source address has about
    /// 28,000 ephemeral ports to a server. With more sockets than --sockets-per-process, the processes of a
    /// split run count up from this address (127.0.0.2 if not given).
    #[arg(long, global = true)]
    source_ip: Option<std::net::IpAddr>,
    /// Most sockets one bench process opens (one process may hold about 19,000 open files here): `idle`
    /// and `connect` with more start several processes of this program, each with a share of the users
    /// and its own source address, and add up what they report. Needs --accounts.
    #[arg(long, global = true, default_value_t = 18_000)]
    sockets_per_process: usize,
    /// This process is part INDEX of COUNT of a split run (set by the process that split it).
    #[arg(long, global = true, hide = true, value_parser = Shard::parse)]
    shard: Option<Shard>,
    #[command(subcommand)]
    scenario: Scenario,
}

/// Each scenario's help (`parley-bench SCENARIO --help`) is the doc comment of its sizes' struct.
#[derive(Debug, Subcommand)]
enum Scenario {
    Idle(idle::Idle),
    Connect(connect::Connect),
    Fanout(fanout::Fanout),
    Pairs(pairs::Pairs),
    Ingest(ingest::Ingest),
    Moving(moving::Moving),
    Catchup(catchup::Catchup),
    History(history::History),
    Storm(storm::Storm),
    Bigchannel(bigchannel::BigChannel),
    Files(files::Files),
    Push(push::Push),
    Signup(Signup),
}

/// Signs up users ahead of the runs that need them: `--accounts FILE` keeps them, so a later run starts at
/// once. Each sign-up costs the server one password hash (about 50 ms of a core), so 100,000 users take
/// about 40 minutes on two cores; do it once per server.
#[derive(Debug, clap::Args)]
struct Signup {
    /// How many accounts the file should hold when this ends.
    #[arg(long)]
    users: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut client = parley_bench::parley_client::Client::new(&cli.url)
        .with_context(|| format!("server URL {}", cli.url))?;
    if let Some(ip) = cli.source_ip {
        client = client.with_source_ip(ip).context("source address")?;
    }
    let accounts = match &cli.accounts {
        Some(path) => Accounts::load(path, cli.signup_concurrency)
            .with_context(|| format!("loading {}", path.display()))?,
        None => Accounts::in_memory(cli.signup_concurrency),
    };
    let output = if cli.quiet {
        Output::Quiet
    } else {
        Output::Progress
    };
    let mut nodes = Vec::with_capacity(cli.nodes.len());
    for url in &cli.nodes {
        let mut node = parley_bench::parley_client::Client::new(url)
            .with_context(|| format!("node URL {url}"))?;
        if let Some(ip) = cli.source_ip {
            node = node.with_source_ip(ip).context("source address")?;
        }
        nodes.push(node);
    }
    if let Some(first) = nodes.first() {
        client = first.clone();
    }
    let mut bench = Bench::new(client, accounts, Probe::new(cli.server_pid.clone()), output);
    bench.nodes = nodes;
    bench.shard = cli.shard;
    let fleet = |sockets: usize| -> anyhow::Result<Option<Fleet>> {
        let processes = Fleet::needed(sockets, cli.sockets_per_process);
        if processes <= 1 || cli.shard.is_some() {
            return Ok(None);
        }
        let accounts = cli
            .accounts
            .clone()
            .context("a run split over several processes needs --accounts, which they share")?;
        let first_ip = match cli.source_ip {
            Some(std::net::IpAddr::V4(ip)) => ip,
            Some(std::net::IpAddr::V6(_)) => anyhow::bail!("a split run counts up IPv4 addresses"),
            None => std::net::Ipv4Addr::new(127, 0, 0, 2),
        };
        Ok(Some(Fleet {
            program: std::env::current_exe().context("finding this program")?,
            url: cli.url.clone(),
            nodes: cli.nodes.clone(),
            accounts,
            first_ip,
            processes,
        }))
    };
    let report = match &cli.scenario {
        Scenario::Signup(args) => {
            bench.users(args.users).await.context("signing up")?;
            println!("{} accounts", bench.accounts.list.len());
            return Ok(());
        }
        Scenario::Idle(args) => match fleet(args.sockets)? {
            Some(fleet) => fleet.idle(&mut bench, args).await,
            None => idle::run(&mut bench, args).await,
        },
        Scenario::Connect(args) => match fleet(args.sockets)? {
            Some(fleet) => fleet.connect(&mut bench, args).await,
            None => connect::run(&mut bench, args).await,
        },
        Scenario::Fanout(args) => fanout::run(&mut bench, args).await,
        Scenario::Pairs(args) => pairs::run(&mut bench, args).await,
        Scenario::Ingest(args) => ingest::run(&mut bench, args).await,
        Scenario::Moving(args) => moving::run(&mut bench, args).await,
        Scenario::Catchup(args) => catchup::run(&mut bench, args).await,
        Scenario::History(args) => history::run(&mut bench, args).await,
        Scenario::Storm(args) => storm::run(&mut bench, args).await,
        Scenario::Bigchannel(args) => bigchannel::run(&mut bench, args).await,
        Scenario::Files(args) => files::run(&mut bench, args).await,
        Scenario::Push(args) => push::run(&mut bench, args).await,
    }
    .context("the run failed")?;
    print!("{}", report.table());
    println!("{}", report.json_line());
    Ok(())
}
