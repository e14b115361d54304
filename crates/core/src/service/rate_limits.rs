//! Rate limits keyed by whatever is being limited (an account, an address, a user in a conversation), and
//! counts of recent failures.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::Error;

/// Past this many tracked keys, forget the ones whose allowance has refilled, so memory stays bounded. The
/// next sweep waits until the map has doubled since, so a map kept full does not make every call a scan.
const KEYS_BEFORE_SWEEP: usize = 10_000;

/// When to sweep next, after a sweep left `kept` keys.
fn next_sweep(kept: usize) -> usize {
    kept.saturating_mul(2).max(KEYS_BEFORE_SWEEP)
}

pub(super) struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    sweep_at: AtomicUsize,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub(super) fn new(quota: Quota) -> Self {
        KeyedLimiter {
            limiter: RateLimiter::keyed(quota),
            sweep_at: AtomicUsize::new(KEYS_BEFORE_SWEEP),
        }
    }

    /// Takes one unit of `key`'s allowance, or says how long until there is one.
    pub(super) fn check(&self, key: &K) -> Result<(), Error> {
        if self.limiter.len() > self.sweep_at.load(Ordering::Relaxed) {
            self.limiter.retain_recent();
            self.sweep_at
                .store(next_sweep(self.limiter.len()), Ordering::Relaxed);
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| Error::RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }
}

/// How many times each key failed within the current window (a fixed window per key, opened by its first
/// failure). Reading a count does not change it, unlike taking from a `KeyedLimiter`.
pub(super) struct FailureCounts<K: Hash + Eq> {
    window: Duration,
    /// Held only to read or bump a count, never across an await.
    counts: Mutex<Counts<K>>,
}

struct Counts<K> {
    by_key: HashMap<K, (Instant, u32)>,
    sweep_at: usize,
}

impl<K: Hash + Eq> FailureCounts<K> {
    pub(super) fn new(window: Duration) -> Self {
        FailureCounts {
            window,
            counts: Mutex::new(Counts {
                by_key: HashMap::new(),
                sweep_at: KEYS_BEFORE_SWEEP,
            }),
        }
    }

    /// Failures of `key` in its current window, and how long until that window closes.
    pub(super) fn count(&self, key: &K) -> (u32, Duration) {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        match counts.by_key.get(key) {
            Some(&(opened, n)) if opened.elapsed() < self.window => {
                (n, self.window.saturating_sub(opened.elapsed()))
            }
            _ => (0, Duration::ZERO),
        }
    }

    /// Counts one more failure of `key`.
    pub(super) fn record(&self, key: K) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.by_key.len() > counts.sweep_at {
            let window = self.window;
            counts
                .by_key
                .retain(|_, (opened, _)| opened.elapsed() < window);
            counts.sweep_at = next_sweep(counts.by_key.len());
        }
        let entry = counts.by_key.entry(key).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_within_their_window_only() {
        let counts = FailureCounts::new(Duration::from_millis(50));
        counts.record("a");
        counts.record("a");
        assert_eq!(counts.count(&"a").0, 2);
        assert_eq!(counts.count(&"b").0, 0);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(counts.count(&"a").0, 0, "the window closed");
        counts.record("a");
        assert_eq!(counts.count(&"a").0, 1, "a new window opens");
    }
}
