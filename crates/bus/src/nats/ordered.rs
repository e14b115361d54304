//! Durable events back in cursor order, whatever subscription they came on.
//!
//! Commits from different nodes reach the server in no set order, and a node's connection can drop between a
//! commit and the next. Every commit is followed by a marker `{after, last}` on one subject that every
//! inbox follows, published after the commit's events (and after a round trip that proves the server has
//! them). A marker therefore proves that the inbox has received every event in `(after, last]` it is going to
//! receive (provided the caller has taken in everything that came before the marker: see `inbox.rs`). A marker proves nothing about other commits.
//!
//! The *watermark* `W` is the highest cursor such that markers cover everything up to it. Events wait in a
//! min-heap and go out, in cursor order, once they are at or below `W`. A marker with `after <= W` moves `W` to
//! its `last` (the store publishes `after == W` exactly; `<` only happens for a marker seen twice, and is just
//! as safe, since the marker covers `(after, last]` and `W` covers the rest). A marker with `after > W` waits
//! behind the gap, by `after`, until the markers before it come.
//!
//! Without a watermark (at first, and after a restart), the first marker continues the order only if it
//! follows on from what already went out (`after <= released`). Otherwise commits up to its `after` may have
//! been missed, and not only ones in flight: a node cut off from NATS still commits to the shared store. Its
//! events up to `last` are dropped, the order starts at `last`, and the caller must report `Lagged` *now*:
//! the consumer then reads the store after this commit, so it gets everything the hole held, and everything
//! later comes in order.
//!
//! If the watermark does not move for `stall` while anything waits, a marker was lost: `stalled` drops what
//! waits and starts over, and the caller reports the lag. Memory is bounded the same way: by what arrives in
//! `stall`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use parley_core::Cursor;
use tokio::time::Instant;

pub(crate) struct Ordered<T> {
    stall: Duration,
    /// Everything up to it has been received; `None` until the first marker (and after a restart).
    watermark: Option<Cursor>,
    /// Nothing at or below it goes out again: a republished event, or an event on two followed topics.
    released: Cursor,
    held: BinaryHeap<Held<T>>,
    /// Markers ahead of a gap: `after` to `last`.
    ahead: BTreeMap<Cursor, Cursor>,
    /// Since when something has waited without the watermark moving.
    waiting_since: Option<Instant>,
}

impl<T> Ordered<T> {
    pub(crate) fn new(stall: Duration) -> Self {
        Ordered {
            stall,
            watermark: None,
            released: Cursor(0),
            held: BinaryHeap::new(),
            ahead: BTreeMap::new(),
            waiting_since: None,
        }
    }

    /// A durable event from any subscription; held until a marker covers it.
    pub(crate) fn event(&mut self, cursor: Cursor, item: T, now: Instant) {
        if cursor <= self.released {
            return;
        }
        self.held.push(Held { cursor, item });
        self.waiting_since.get_or_insert(now);
    }

    /// A commit marker: appends to `out`, in cursor order, every event it lets go.
    #[must_use = "the consumer must be told when the order starts over a hole"]
    pub(crate) fn marker(
        &mut self,
        after: Cursor,
        last: Cursor,
        now: Instant,
        out: &mut Vec<T>,
    ) -> Marked {
        if last <= after {
            tracing::warn!(?after, ?last, "empty commit marker skipped");
            return Marked::InOrder;
        }
        match self.watermark {
            None if after <= self.released => self.advance(last, now, out),
            None => {
                self.start_past_a_hole(last, now);
                return Marked::PastAHole;
            }
            Some(watermark) if after <= watermark => self.advance(watermark.max(last), now, out),
            Some(_) => {
                let waiting = self.ahead.entry(after).or_insert(last);
                *waiting = (*waiting).max(last);
                self.waiting_since.get_or_insert(now);
            }
        }
        Marked::InOrder
    }

    fn start_past_a_hole(&mut self, last: Cursor, now: Instant) {
        while self.held.peek().is_some_and(|h| h.cursor <= last) {
            self.held.pop();
        }
        self.watermark = Some(last);
        self.released = self.released.max(last);
        self.waiting_since = (!self.held.is_empty()).then_some(now);
    }

    fn advance(&mut self, mut watermark: Cursor, now: Instant, out: &mut Vec<T>) {
        if self.watermark.is_some_and(|w| w >= watermark) {
            return;
        }
        while let Some(entry) = self.ahead.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            watermark = watermark.max(entry.remove());
        }
        self.watermark = Some(watermark);
        while self.held.peek().is_some_and(|h| h.cursor <= watermark) {
            let Some(held) = self.held.pop() else { break };
            if held.cursor > self.released {
                self.released = held.cursor;
                out.push(held.item);
            }
        }
        self.released = self.released.max(watermark);
        let waiting = !self.held.is_empty() || !self.ahead.is_empty();
        self.waiting_since = waiting.then_some(now);
    }

    /// When `stalled` should next be asked, if anything waits.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.waiting_since.map(|since| since + self.stall)
    }

    /// True when something has waited behind a gap for longer than the stall limit; what waits is dropped and
    /// the order starts over from the next marker. The caller must report the lag.
    pub(crate) fn stalled(&mut self, now: Instant) -> bool {
        let stalled = self.deadline().is_some_and(|deadline| now >= deadline);
        if stalled {
            self.restart();
        }
        stalled
    }

    /// Drops what waits and starts over from the next marker (after a lag reported by the caller).
    pub(crate) fn restart(&mut self) {
        self.watermark = None;
        self.held = BinaryHeap::new();
        self.ahead = BTreeMap::new();
        self.waiting_since = None;
    }
}

/// What a marker did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Marked {
    /// It moved the watermark, or waits behind a gap.
    InOrder,
    /// The order started over past a hole: the caller must tell the consumer it lagged.
    PastAHole,
}

/// Ordered by cursor, smallest first (`BinaryHeap` is a max-heap).
struct Held<T> {
    cursor: Cursor,
    item: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cursor == other.cursor
    }
}

impl<T> Eq for Held<T> {}

impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Held<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.cursor.cmp(&self.cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(2);

    fn c(n: i64) -> Cursor {
        Cursor(n)
    }

    struct Run {
        ordered: Ordered<i64>,
        now: Instant,
        out: Vec<i64>,
    }

    impl Run {
        fn new() -> Self {
            Run {
                ordered: Ordered::new(STALL),
                now: Instant::now(),
                out: Vec::new(),
            }
        }

        fn events(&mut self, cursors: &[i64]) {
            for &n in cursors {
                self.ordered.event(c(n), n, self.now);
            }
        }

        /// A marker that must keep the order.
        fn marker(&mut self, after: i64, last: i64) -> Vec<i64> {
            let marked = self
                .ordered
                .marker(c(after), c(last), self.now, &mut self.out);
            assert_eq!(marked, Marked::InOrder, "marker ({after}, {last}]");
            std::mem::take(&mut self.out)
        }

        /// A marker that must start the order over a hole (releasing nothing).
        fn hole(&mut self, after: i64, last: i64) {
            let marked = self
                .ordered
                .marker(c(after), c(last), self.now, &mut self.out);
            assert_eq!(marked, Marked::PastAHole, "marker ({after}, {last}]");
            assert!(self.out.is_empty());
        }

        fn wait(&mut self, duration: Duration) {
            self.now += duration;
        }
    }

    #[test]
    fn events_go_out_in_cursor_order_once_a_marker_covers_them() {
        let mut run = Run::new();
        run.events(&[3, 1, 2]);
        assert_eq!(run.marker(0, 3), vec![1, 2, 3]);
        run.events(&[5, 4]);
        assert_eq!(run.ordered.deadline(), Some(run.now + STALL));
        assert_eq!(run.marker(3, 5), vec![4, 5]);
        assert_eq!(run.ordered.deadline(), None);
    }

    #[test]
    fn events_of_a_later_commit_wait_for_their_own_marker() {
        let mut run = Run::new();
        run.events(&[1, 2, 4]);
        assert_eq!(run.marker(0, 2), vec![1, 2]);
        run.events(&[3]);
        assert_eq!(run.marker(2, 3), vec![3]);
        assert_eq!(run.marker(3, 4), vec![4]);
    }

    #[test]
    fn a_marker_ahead_of_a_gap_waits_for_the_markers_before_it() {
        let mut run = Run::new();
        run.events(&[1]);
        assert_eq!(run.marker(0, 1), vec![1]);
        run.events(&[4, 5, 2, 3]);
        assert_eq!(run.marker(3, 5), Vec::<i64>::new());
        assert_eq!(run.marker(2, 3), Vec::<i64>::new());
        assert_eq!(run.marker(1, 2), vec![2, 3, 4, 5]);
        assert_eq!(run.ordered.deadline(), None);
    }

    #[test]
    fn an_event_is_released_once_whatever_the_topics_it_came_on() {
        let mut run = Run::new();
        run.events(&[1, 2, 2, 1]);
        assert_eq!(run.marker(0, 2), vec![1, 2]);
        run.events(&[2, 1, 3, 3]);
        assert_eq!(run.marker(2, 3), vec![3]);
        assert_eq!(run.marker(2, 3), Vec::<i64>::new());
        run.events(&[3]);
        assert_eq!(run.ordered.deadline(), None);
    }

    #[test]
    fn a_first_marker_that_follows_on_continues_the_order() {
        let mut run = Run::new();
        run.events(&[2, 1]);
        assert_eq!(run.marker(0, 2), vec![1, 2]);
        run.events(&[3]);
        // Restarted (NATS came back, say) with nothing missed since 2: no need to catch up.
        run.ordered.restart();
        run.events(&[3, 4]);
        assert_eq!(run.marker(2, 4), vec![3, 4]);
    }

    #[test]
    fn a_first_marker_past_a_hole_starts_over_there() {
        let mut run = Run::new();
        run.events(&[1]);
        assert_eq!(run.marker(0, 1), vec![1]);
        run.ordered.restart();
        // Commits 2 to 7 were missed, say by a node cut off from NATS; events up to 9 are the store's.
        run.events(&[8, 9, 11]);
        run.hole(7, 9);
        assert_eq!(run.ordered.deadline(), Some(run.now + STALL));
        assert_eq!(run.marker(9, 11), vec![11]);
        run.events(&[8, 9, 10]);
        assert_eq!(run.ordered.deadline(), None);
        // Likewise for a new inbox, which cannot know what came before.
        let mut run = Run::new();
        run.events(&[5]);
        run.hole(4, 5);
        run.events(&[6]);
        assert_eq!(run.marker(5, 6), vec![6]);
    }

    #[test]
    fn a_node_cut_off_goes_on_with_its_own_commits_until_another_node_commits() {
        let mut run = Run::new();
        assert_eq!(run.marker(0, 4), Vec::<i64>::new());
        // NATS is away: this node's own commits come with their markers, in order.
        run.events(&[5]);
        assert_eq!(run.marker(4, 5), vec![5]);
        // Another node committed 6 to 9, unseen here: this node's next commit waits, stalls.
        run.events(&[10]);
        assert_eq!(run.marker(9, 10), Vec::<i64>::new());
        run.wait(STALL);
        assert!(run.ordered.stalled(run.now));
        run.events(&[11]);
        run.hole(10, 11);
        run.events(&[12]);
        assert_eq!(run.marker(11, 12), vec![12]);
    }

    #[test]
    fn a_marker_that_overlaps_the_watermark_still_advances_it() {
        let mut run = Run::new();
        assert_eq!(run.marker(0, 2), Vec::<i64>::new());
        run.events(&[3, 4]);
        assert_eq!(run.marker(1, 4), vec![3, 4]);
    }

    #[test]
    fn a_lost_marker_stalls_then_the_order_starts_over() {
        let mut run = Run::new();
        run.events(&[1]);
        assert_eq!(run.marker(0, 1), vec![1]);
        // The marker (1, 2] never comes.
        run.events(&[2, 3]);
        assert_eq!(run.marker(2, 3), Vec::<i64>::new());
        run.wait(STALL - Duration::from_millis(1));
        assert!(!run.ordered.stalled(run.now));
        run.wait(Duration::from_millis(1));
        assert!(run.ordered.stalled(run.now));
        assert_eq!(run.ordered.deadline(), None);
        run.events(&[4]);
        run.hole(3, 4);
        // Events it dropped are not released later.
        run.events(&[2, 3, 5]);
        assert_eq!(run.marker(4, 5), vec![5]);
    }

    #[test]
    fn progress_keeps_the_stall_guard_quiet() {
        let mut run = Run::new();
        assert_eq!(run.marker(0, 1), Vec::<i64>::new());
        for n in 2..10 {
            run.events(&[n, n + 1]);
            run.wait(Duration::from_millis(1500));
            assert!(!run.ordered.stalled(run.now));
            assert_eq!(run.marker(n - 1, n), vec![n]);
        }
    }

    #[test]
    fn events_without_any_marker_stall_too() {
        let mut run = Run::new();
        run.events(&[1]);
        run.wait(STALL);
        assert!(run.ordered.stalled(run.now));
        run.hole(1, 2);
    }
}
