//! Counts of open things per key (connections per client address, sockets per user) with a cap on each,
//! given back when the thing closes.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// How many things each key has open, each at most `cap`.
pub(crate) struct Tally<K: Hash + Eq + Copy> {
    cap: usize,
    /// Only keys with at least one thing open, so the map is never larger than what is open. Held only to
    /// update a count, never across an await.
    open: Mutex<HashMap<K, usize>>,
}

/// One open thing's place in its key's count, given back on drop.
pub(crate) struct Counted<K: Hash + Eq + Copy> {
    tally: Arc<Tally<K>>,
    key: K,
}

impl<K: Hash + Eq + Copy> Tally<K> {
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Tally {
            cap,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one more for `key`, unless it has `cap` open already.
    pub(crate) fn take(self: &Arc<Self>, key: K) -> Option<Counted<K>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key).or_default();
        if *count >= self.cap {
            if *count == 0 {
                open.remove(&key);
            }
            return None;
        }
        *count += 1;
        Some(Counted {
            tally: Arc::clone(self),
            key,
        })
    }

    /// How many keys have something open.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl<K: Hash + Eq + Copy> Drop for Counted<K> {
    fn drop(&mut self) {
        let mut open = self.tally.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_cap_and_places_come_back() {
        let tally = Tally::new(2);
        let a1 = tally.take('a').expect("first a");
        let _a2 = tally.take('a').expect("second a");
        assert!(tally.take('a').is_none(), "a third a");
        let b1 = tally.take('b').expect("b has its own count");
        drop(a1);
        assert!(tally.take('a').is_some(), "a's place came back");
        drop(b1);
        assert_eq!(tally.keys(), 1, "b, with nothing open, is forgotten");
    }

    #[test]
    fn a_cap_of_zero_keeps_nothing() {
        let tally = Tally::<u8>::new(0);
        assert!(tally.take(1).is_none());
        assert_eq!(tally.keys(), 0);
    }
}
