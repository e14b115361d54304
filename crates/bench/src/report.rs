//! What a run reports: counts, rates, latency percentiles from HDR histograms, the server's CPU and memory.
//! Printed as a table for people and as one JSON line for scripts; and a progress line on stderr meanwhile.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procfs::ServerUsage;
use crate::server_metrics::ServerDelivery;

/// Whether a run shows a progress line on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Progress,
    Quiet,
}

/// Latencies in microseconds, from 1 µs to 10 minutes at 3 significant digits. Shared by every task of a run
/// behind a std `Mutex`: recording is a few nanoseconds and nothing awaits while it is held.
#[derive(Clone)]
pub struct Latencies(Arc<Mutex<Histogram<u64>>>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        // The bounds are constants that `new_with_bounds` accepts, so this cannot fail.
        let histogram =
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant bounds are valid");
        Latencies(Arc::new(Mutex::new(histogram)))
    }

    fn lock(&self) -> MutexGuard<'_, Histogram<u64>> {
        // A panic while recording leaves the histogram usable: take it anyway.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.lock().saturating_record(micros);
    }

    pub fn count(&self) -> u64 {
        self.lock().len()
    }

    /// Percentiles in milliseconds, or none if nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let histogram = self.lock();
        if histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Percentiles {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        })
    }
}

#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The outcome of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub run_id: String,
    /// The flags that sized the run.
    pub params: serde_json::Value,
    /// Length of the measured phase (setup excluded).
    pub seconds: f64,
    /// What `offered_per_second` and `achieved_per_second` count: deliveries, connects, acks, ...
    pub unit: &'static str,
    /// The rate the schedule asked for (open-loop scenarios only).
    pub offered_per_second: Option<f64>,
    pub achieved_per_second: f64,
    /// Messages (or sockets) the bench sent or opened and the server accepted.
    pub sent: u64,
    /// Sends or connects that failed.
    pub errors: u64,
    /// Messages the schedule had (scenarios that send messages on a schedule): `sent` falls short of it by
    /// the sends the server refused (`errors`) and those never sent or never answered (a sender stopped).
    pub scheduled: Option<u64>,
    /// Messages the server accepted per second of the measured phase (scenarios that deliver messages).
    pub messages_per_second: Option<f64>,
    /// Deliveries the receivers should have had, and had (distinct).
    pub expected: Option<u64>,
    pub delivered: Option<u64>,
    pub lost: Option<u64>,
    pub duplicated: Option<u64>,
    pub latency: Option<Percentiles>,
    /// The same deliveries as the server's `parley_ws_delivery_seconds` saw them (live events only).
    pub server_delivery: Option<ServerDelivery>,
    pub server: Option<ServerUsage>,
    /// The server's CPU time (user + system, from `server`) per delivery the receivers counted, in
    /// microseconds: everything the server did in the measured phase (storing, acks, a sender's own echo)
    /// divided over them.
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Scenario-specific figures.
    pub extra: BTreeMap<&'static str, f64>,
}

impl Report {
    pub fn new(scenario: &'static str, run_id: u64, params: serde_json::Value) -> Self {
        Report {
            scenario,
            run_id: format!("{run_id:x}"),
            params,
            seconds: 0.0,
            unit: "",
            offered_per_second: None,
            achieved_per_second: 0.0,
            sent: 0,
            errors: 0,
            scheduled: None,
            messages_per_second: None,
            expected: None,
            delivered: None,
            lost: None,
            duplicated: None,
            latency: None,
            server_delivery: None,
            server: None,
            server_cpu_us_per_delivery: None,
            extra: BTreeMap::new(),
        }
    }

    /// Fills the figures per message and per delivery from what a run that delivers messages has set:
    /// `messages_per_second` from `sent` and `seconds`, and `server_cpu_us_per_delivery` from `server` and
    /// `delivered`. Call it last.
    pub fn add_per_message_figures(&mut self) {
        self.messages_per_second = Some(self.sent as f64 / self.seconds.max(1e-9));
        let cpu_seconds = self.server.and_then(|server| server.cpu_seconds);
        self.server_cpu_us_per_delivery = match (cpu_seconds, self.delivered) {
            (Some(cpu), Some(delivered)) if delivered > 0 => Some(cpu * 1e6 / delivered as f64),
            _ => None,
        };
    }

    /// The one-line JSON form.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    }

    /// The human form: one row per figure.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![
            (
                "scenario".into(),
                format!("{} (run {})", self.scenario, self.run_id),
            ),
            ("params".into(), self.params.to_string()),
            ("measured".into(), format!("{:.1} s", self.seconds)),
        ];
        if let Some(offered) = self.offered_per_second {
            rows.push(("offered".into(), format!("{offered:.0} {}/s", self.unit)));
        }
        rows.push((
            "achieved".into(),
            format!("{:.0} {}/s", self.achieved_per_second, self.unit),
        ));
        let of_scheduled = self
            .scheduled
            .map(|scheduled| format!(" of {scheduled} scheduled"))
            .unwrap_or_default();
        rows.push((
            "sent".into(),
            format!("{}{of_scheduled} ({} errors)", self.sent, self.errors),
        ));
        if let Some(messages) = self.messages_per_second {
            rows.push(("messages".into(), format!("{messages:.0} messages/s")));
        }
        if let (Some(expected), Some(delivered)) = (self.expected, self.delivered) {
            rows.push((
                "delivered".into(),
                format!(
                    "{delivered} of {expected} (lost {}, duplicated {})",
                    self.lost.unwrap_or(0),
                    self.duplicated.unwrap_or(0)
                ),
            ));
        }
        if let Some(l) = self.latency {
            rows.push((
                "latency".into(),
                format!(
                    "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} samples)",
                    l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.count
                ),
            ));
        }
        if let Some(d) = self.server_delivery {
            rows.push((
                "server's view".into(),
                format!(
                    "p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms ({} deliveries, its histogram)",
                    d.p50_ms, d.p99_ms, d.mean_ms, d.count
                ),
            ));
        }
        if let Some(server) = &self.server {
            if let Some(cpu) = server.cpu_seconds {
                let per_delivery = self
                    .server_cpu_us_per_delivery
                    .map(|us| format!(", {us:.1} µs per delivery"))
                    .unwrap_or_default();
                rows.push((
                    "server CPU".into(),
                    format!(
                        "{cpu:.2} s ({:.0}% of one core){per_delivery}",
                        100.0 * cpu / self.seconds.max(1e-9)
                    ),
                ));
            }
            rows.push((
                "server RSS".into(),
                format!(
                    "{:.1} MiB before, {:.1} MiB after",
                    server.rss_before_kib as f64 / 1024.0,
                    server.rss_after_kib as f64 / 1024.0
                ),
            ));
        }
        for (name, value) in &self.extra {
            rows.push((name.to_string(), format!("{value:.2}")));
        }
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(name, value)| format!("{name:<width$}  {value}\n"))
            .collect()
    }
}

/// A progress line on stderr, rewritten every second until `finish` (or drop).
pub struct Progress {
    done: Arc<AtomicU64>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Counts `unit` toward `total` (if known) under `label`.
    pub fn start(output: Output, label: &str, unit: &'static str, total: Option<u64>) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        let task = (output == Output::Progress).then(|| {
            let (done, label) = (Arc::clone(&done), label.to_owned());
            tokio::spawn(async move {
                let started = Instant::now();
                let mut last = 0;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let now = done.load(Ordering::Relaxed);
                    let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                    eprint!(
                        "\r{label}: {:>4.0} s  {now}{of} {unit}  ({} {unit}/s)      ",
                        started.elapsed().as_secs_f64(),
                        now - last
                    );
                    last = now;
                }
            })
        });
        Progress { done, task }
    }

    /// The counter the workers add to.
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.done)
    }

    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            eprintln!();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}
