//! Rate limits keyed by whatever is being limited (an account, an address, a user in a conversation).

use std::hash::Hash;

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
