//! The server's own view of delivery latency: its `parley_ws_delivery_seconds` histogram on `/metrics`
//! (from a message's creation in the send to its write on the socket), read before and after a run so the
//! report can set the server's percentiles beside the bench's.

use serde::Serialize;

/// Cumulative bucket counts of the histogram at one moment: `(upper bound in seconds, count)`, ascending.
#[derive(Clone, Debug, Default)]
pub struct DeliveryHistogram {
    buckets: Vec<(f64, u64)>,
    sum_seconds: f64,
}

/// The server's delivery latency over a run, interpolated within its buckets.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ServerDelivery {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

const NAME: &str = "parley_ws_delivery_seconds";

impl DeliveryHistogram {
    /// Reads the histogram from a Prometheus text exposition; empty if it is not there.
    pub fn parse(text: &str) -> Self {
        let mut histogram = DeliveryHistogram::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(NAME) else {
                continue;
            };
            if let Some(bucket) = rest.strip_prefix("_bucket{le=\"") {
                let Some((bound, count)) = bucket.split_once("\"} ") else {
                    continue;
                };
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().unwrap_or(f64::NAN)
                };
                if let (false, Ok(count)) = (bound.is_nan(), count.trim().parse()) {
                    histogram.buckets.push((bound, count));
                }
            } else if let Some(sum) = rest.strip_prefix("_sum ") {
                histogram.sum_seconds = sum.trim().parse().unwrap_or(0.0);
            }
        }
        histogram
            .buckets
            .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        histogram
    }

    /// Adds another server's reading (a cluster's nodes share the buckets, being the same build).
    pub fn add(&mut self, other: &DeliveryHistogram) {
        for (bound, count) in &other.buckets {
            match self.buckets.iter_mut().find(|(b, _)| b == bound) {
                Some((_, total)) => *total += count,
                None => self.buckets.push((*bound, *count)),
            }
        }
        self.buckets
            .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        self.sum_seconds += other.sum_seconds;
    }

    /// What was recorded between `before` and this reading, or `None` if nothing was.
    pub fn since(&self, before: &DeliveryHistogram) -> Option<ServerDelivery> {
        let earlier = |bound: f64| {
            before
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0, |(_, count)| *count)
        };
        let run: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .map(|(bound, count)| (*bound, count.saturating_sub(earlier(*bound))))
            .collect();
        let count = run.last()?.1;
        if count == 0 {
            return None;
        }
        let quantile = |q: f64| {
            let target = q * count as f64;
            let (mut lower, mut below) = (0.0, 0u64);
            for (bound, cumulative) in &run {
                if *cumulative as f64 >= target {
                    if bound.is_infinite() {
                        return lower;
                    }
                    let within = (*cumulative - below).max(1) as f64;
                    return lower + (bound - lower) * (target - below as f64) / within;
                }
                (lower, below) = (*bound, *cumulative);
            }
            lower
        };
        Some(ServerDelivery {
            count,
            mean_ms: 1000.0 * (self.sum_seconds - before.sum_seconds) / count as f64,
            p50_ms: 1000.0 * quantile(0.50),
            p99_ms: 1000.0 * quantile(0.99),
        })
    }
}

/// The value of an unlabelled counter or gauge in a Prometheus text exposition; 0 if it is not there.
pub fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}
