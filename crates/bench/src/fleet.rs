//! Runs past one process's limits. One process may hold about 19,000 sockets (the open-files limit here
//! is 20,000, and cannot be raised), and one source address has about 28,000 ephemeral ports to a server.
//! So `idle` and `connect` with more sockets than `--sockets-per-process` start several processes of this
//! same binary, each with its share of the users (`--shard I/N`), its own source address (127.0.0.2,
//! 127.0.0.3, ...) and the same accounts file, and add up what they report. This process signs everyone up
//! and makes the conversations first, so the shards only connect; it alone samples the server.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::report::{Percentiles, Report};
use crate::scenarios::{connect, idle};
use crate::{Bench, Error, Result};

/// What a shard prints once it has loaded the accounts and is ready to start on `go`.
const READY: &str = "parley-bench: ready";
/// What an `idle` shard prints once all its sockets are open.
const CONNECTED: &str = "parley-bench: connected";
/// How long a shard may take to say each of those, and to finish.
const PATIENCE: Duration = Duration::from_secs(600);

/// In a shard: says it is ready and waits for the word to start, so that every shard starts together.
pub async fn ready_then_wait_for_go() {
    println!("{READY}");
    let mut line = String::new();
    let _ = BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
}

/// In an `idle` shard: says its sockets are open and holds them until told to let go (stdin closes).
pub async fn connected_then_hold() {
    println!("{CONNECTED}");
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
}

/// How to start the shards.
pub struct Fleet {
    /// This program.
    pub program: PathBuf,
    pub url: String,
    /// Cluster mode's node URLs (empty for one server).
    pub nodes: Vec<String>,
    /// The accounts file every shard reads (required: it is how they share the users).
    pub accounts: PathBuf,
    /// The source address of the first shard; the others count up from it.
    pub first_ip: Ipv4Addr,
    pub processes: usize,
}

/// A shard: its process and its stdout, read line by line.
struct Running {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Fleet {
    /// How many processes `sockets` need at `per_process` each.
    pub fn needed(sockets: usize, per_process: usize) -> usize {
        sockets.div_ceil(per_process.max(1))
    }

    fn start(&self, index: usize, scenario: &[String]) -> Result<Running> {
        let octets = self.first_ip.octets();
        let last = usize::from(octets[3]) + index;
        let ip = Ipv4Addr::new(
            octets[0],
            octets[1],
            octets[2],
            u8::try_from(last).unwrap_or(u8::MAX),
        );
        let mut command = Command::new(&self.program);
        if !self.nodes.is_empty() {
            command.arg("--nodes").arg(self.nodes.join(","));
        }
        let mut child = command
            .arg("--url")
            .arg(&self.url)
            .arg("--accounts")
            .arg(&self.accounts)
            .arg("--source-ip")
            .arg(IpAddr::V4(ip).to_string())
            .arg("--shard")
            .arg(format!("{index}/{}", self.processes))
            .arg("--quiet")
            .args(scenario)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Scenario(format!("cannot start shard {index}: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Scenario(format!("shard {index} has no stdout")))?;
        Ok(Running {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Starts every shard, waits until each is ready, then tells them all to go.
    async fn start_all(&self, scenario: &[String]) -> Result<Vec<Running>> {
        let mut shards = (0..self.processes)
            .map(|index| self.start(index, scenario))
            .collect::<Result<Vec<_>>>()?;
        for (index, shard) in shards.iter_mut().enumerate() {
            wait_for(shard, index, READY).await?;
        }
        for (index, shard) in shards.iter_mut().enumerate() {
            let stdin = shard
                .child
                .stdin
                .as_mut()
                .ok_or_else(|| Error::Scenario(format!("shard {index} has no stdin")))?;
            stdin
                .write_all(b"go\n")
                .await
                .map_err(|e| Error::Scenario(format!("shard {index}: {e}")))?;
        }
        Ok(shards)
    }

    /// A shard's scenario arguments: every socket counted (each shard takes its share of the users), and
    /// its share of the connects in flight.
    fn scenario(&self, name: &str, sockets: usize, concurrency: usize) -> [String; 5] {
        [
            name.to_owned(),
            "--sockets".to_owned(),
            sockets.to_string(),
            "--concurrency".to_owned(),
            concurrency.div_ceil(self.processes).to_string(),
        ]
    }

    /// `idle` over the shards: all connect, the server's memory is read once every shard holds its sockets
    /// and again after the hold, then the shards let go.
    pub async fn idle(&self, bench: &mut Bench, args: &idle::Idle) -> Result<Report> {
        let (_, made) = idle::prepare(bench, args).await?;
        let scenario = self.scenario("idle", args.sockets, args.concurrency);
        let before = bench.probe.sample()?;
        let mut shards = self.start_all(&scenario).await?;
        let started = Instant::now();
        for (index, shard) in shards.iter_mut().enumerate() {
            wait_for(shard, index, CONNECTED).await?;
        }
        let connect_seconds = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
        let after = bench.probe.sample()?;
        for shard in &mut shards {
            // Closing its stdin tells a shard to let go.
            drop(shard.child.stdin.take());
        }
        let reports = finish(shards).await?;

        let mut report = Report::new("idle", bench.run_id, crate::scenarios::params(args));
        report.seconds = started.elapsed().as_secs_f64();
        report.unit = "sockets";
        report.sent = reports.iter().map(|r| count(r, "sent")).sum();
        report.errors = reports.iter().map(|r| count(r, "errors")).sum();
        report.achieved_per_second = report.sent as f64 / connect_seconds;
        report.server = crate::procfs::Probe::usage(before, after);
        let held = report.sent;
        idle::memory_per_connection(&mut report, held);
        report.extra.insert("conversations_created", made as f64);
        report.extra.insert("processes", self.processes as f64);
        Ok(report)
    }

    /// `connect` over the shards, all starting on the same word. The rate is every socket over the slowest
    /// shard's time; each latency percentile is the worst shard's (percentiles of parts do not add up).
    pub async fn connect(&self, bench: &mut Bench, args: &connect::Connect) -> Result<Report> {
        bench.users(args.sockets).await?;
        let scenario = self.scenario("connect", args.sockets, args.concurrency);
        let before = bench.probe.sample()?;
        let shards = self.start_all(&scenario).await?;
        let started = Instant::now();
        let reports = finish(shards).await?;
        let after = bench.probe.sample()?;

        let slowest = reports
            .iter()
            .filter_map(|r| r.get("seconds").and_then(serde_json::Value::as_f64))
            .fold(0.0, f64::max);
        let mut report = Report::new("connect", bench.run_id, crate::scenarios::params(args));
        report.seconds = started.elapsed().as_secs_f64();
        report.unit = "connects";
        report.sent = reports.iter().map(|r| count(r, "sent")).sum();
        report.errors = reports.iter().map(|r| count(r, "errors")).sum();
        report.achieved_per_second = report.sent as f64 / slowest.max(1e-9);
        report.latency = worst(&reports);
        report.server = crate::procfs::Probe::usage(before, after);
        report.extra.insert("processes", self.processes as f64);
        report.extra.insert("slowest_process_seconds", slowest);
        Ok(report)
    }
}

/// Reads a shard's output until `line`.
async fn wait_for(shard: &mut Running, index: usize, line: &str) -> Result<()> {
    let seen = tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(next)) = shard.lines.next_line().await {
            if next == line {
                return true;
            }
        }
        false
    })
    .await;
    match seen {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::Scenario(format!(
            "shard {index} ended before {line:?}"
        ))),
        Err(_) => Err(Error::Scenario(format!(
            "shard {index} did not say {line:?} in time"
        ))),
    }
}

/// Waits for every shard and reads the JSON line each ends with.
async fn finish(shards: Vec<Running>) -> Result<Vec<serde_json::Value>> {
    let mut reports = Vec::with_capacity(shards.len());
    for (index, mut shard) in shards.into_iter().enumerate() {
        let mut last = None;
        let ended = tokio::time::timeout(PATIENCE, async {
            while let Ok(Some(line)) = shard.lines.next_line().await {
                if line.starts_with('{') {
                    last = Some(line);
                }
            }
            shard.child.wait().await
        })
        .await;
        let status = match ended {
            Ok(status) => status.map_err(|e| Error::Scenario(format!("shard {index}: {e}")))?,
            Err(_) => {
                return Err(Error::Scenario(format!(
                    "shard {index} did not finish in time"
                )));
            }
        };
        let report = last
            .filter(|_| status.success())
            .and_then(|line| serde_json::from_str(&line).ok())
            .ok_or_else(|| Error::Scenario(format!("shard {index} failed ({status})")))?;
        reports.push(report);
    }
    Ok(reports)
}

fn count(report: &serde_json::Value, field: &str) -> u64 {
    report
        .get(field)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// Each percentile at its worst over the shards, and every sample counted.
fn worst(reports: &[serde_json::Value]) -> Option<Percentiles> {
    let all: Vec<Percentiles> = reports
        .iter()
        .filter_map(|r| serde_json::from_value(r.get("latency")?.clone()).ok())
        .collect();
    let first = *all.first()?;
    Some(all.iter().fold(first, |worst, p| Percentiles {
        count: 0,
        p50_ms: worst.p50_ms.max(p.p50_ms),
        p99_ms: worst.p99_ms.max(p.p99_ms),
        p999_ms: worst.p999_ms.max(p.p999_ms),
        max_ms: worst.max_ms.max(p.max_ms),
    }))
    .map(|p| Percentiles {
        count: all.iter().map(|p| p.count).sum(),
        ..p
    })
}
