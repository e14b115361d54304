//! The server's CPU time and memory, read from `/proc/PID` (Linux): `utime + stime` from `stat` and `VmRSS`
//! from `status`. Only meaningful when the server runs on the same machine as the bench.

use std::time::Instant;

use serde::Serialize;

use crate::{Error, Result};

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`), which is 100 on every Linux the bench runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the server process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    pub at: Instant,
}

/// The server's use of the machine over a run.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ServerUsage {
    /// CPU time (user + system) the server used during the measured phase.
    pub cpu_seconds: Option<f64>,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

/// Samples the server's processes (one per node of a cluster on this machine), if the bench was told them.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub pids: Vec<u32>,
}

impl Probe {
    pub fn new(pids: Vec<u32>) -> Self {
        Probe { pids }
    }

    /// A reading now, summed over the processes, or none without a pid.
    pub fn sample(&self) -> Result<Option<Sample>> {
        let mut total: Option<Sample> = None;
        for &pid in &self.pids {
            let read = |file: &str| {
                std::fs::read_to_string(format!("/proc/{pid}/{file}"))
                    .map_err(|source| Error::Proc { pid, source })
            };
            let stat = read("stat")?;
            let status = read("status")?;
            let cpu_seconds = cpu_ticks(&stat).unwrap_or(0) as f64 / TICKS_PER_SECOND;
            let rss_kib = rss_kib(&status).unwrap_or(0);
            let sum = total.get_or_insert(Sample {
                cpu_seconds: 0.0,
                rss_kib: 0,
                at: Instant::now(),
            });
            sum.cpu_seconds += cpu_seconds;
            sum.rss_kib += rss_kib;
        }
        Ok(total)
    }

    /// CPU used between two readings, and RSS at each.
    pub fn usage(before: Option<Sample>, after: Option<Sample>) -> Option<ServerUsage> {
        let (before, after) = (before?, after?);
        Some(ServerUsage {
            cpu_seconds: Some(after.cpu_seconds - before.cpu_seconds),
            rss_before_kib: before.rss_kib,
            rss_after_kib: after.rss_kib,
        })
    }
}

/// `utime + stime` from `/proc/PID/stat`. The command name (field 2) is in parentheses and may hold spaces,
/// so fields are counted after its closing parenthesis: utime and stime are fields 14 and 15.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` from `/proc/PID/status`, in KiB.
fn rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds (user + system) of process `pid` and of its children alive now: a PostgreSQL server's
/// postmaster and its backends, say. A child that exited meanwhile is not counted.
pub fn tree_cpu_seconds(pid: u32) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0;
    for entry in entries.filter_map(std::result::Result::ok) {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let own = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok());
        if own == Some(pid) || parent(&stat) == Some(pid) {
            ticks += cpu_ticks(&stat).unwrap_or(0);
        }
    }
    ticks as f64 / TICKS_PER_SECOND
}

/// The parent's pid from `/proc/PID/stat` (field 4, the second after the command name).
fn parent(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}
