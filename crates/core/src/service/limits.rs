//! Rate limits keyed by whatever is being limited (an account, an address, a user in a conversation), and
//! counts of recent failures.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::Error;

/// Past this many tracked keys, forget the ones whose allowance has refilled, so memory stays bounded.
const KEYS_BEFORE_SWEEP: usize = 10_000;

pub(super) struct KeyedLimiter<K: Hash + Eq + Clone>(DefaultKeyedRateLimiter<K>);

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub(super) fn new(quota: Quota) -> Self {
        KeyedLimiter(RateLimiter::keyed(quota))
    }

    /// Takes one unit of `key`'s allowance, or says how long until there is one.
    pub(super) fn check(&self, key: &K) -> Result<(), Error> {
        if self.0.len() > KEYS_BEFORE_SWEEP {
            self.0.retain_recent();
        }
        self.0
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
    counts: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq> FailureCounts<K> {
    pub(super) fn new(window: Duration) -> Self {
        FailureCounts {
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Failures of `key` in its current window, and how long until that window closes.
    pub(super) fn count(&self, key: &K) -> (u32, Duration) {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        match counts.get(key) {
            Some(&(opened, n)) if opened.elapsed() < self.window => {
                (n, self.window.saturating_sub(opened.elapsed()))
            }
            _ => (0, Duration::ZERO),
        }
    }

    /// Counts one more failure of `key`.
    pub(super) fn record(&self, key: K) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > KEYS_BEFORE_SWEEP {
            counts.retain(|_, (opened, _)| opened.elapsed() < self.window);
        }
        let entry = counts.entry(key).or_insert((Instant::now(), 0));
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
