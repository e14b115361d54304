//! What receivers saw. A `Ledger` holds how many messages each sender got accepted, once every sender is
//! done; an `Inbox` is one receiver's record of tagged messages (latency, distinct count per sender,
//! duplicates). Together they give lost (accepted but never delivered) and duplicated per receiver.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::peek::Peek;
use crate::report::Latencies;
use crate::tag::Tag;

/// Each sender's count of accepted messages, published when it stops sending.
pub struct Ledger {
    accepted: Vec<AtomicU64>,
    senders_left: AtomicUsize,
    all_done: watch::Sender<bool>,
}

impl Ledger {
    pub fn new(n_senders: usize) -> Self {
        Ledger {
            accepted: (0..n_senders).map(|_| AtomicU64::new(0)).collect(),
            senders_left: AtomicUsize::new(n_senders),
            all_done: watch::Sender::new(n_senders == 0),
        }
    }

    /// Sender `sender` has stopped, with `accepted` messages stored by the server.
    pub fn finish(&self, sender: u32, accepted: u64) {
        if let Some(slot) = self.accepted.get(sender as usize) {
            slot.store(accepted, Ordering::Release);
        }
        if self.senders_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_done.send_replace(true);
        }
    }

    pub fn accepted(&self, sender: u32) -> u64 {
        self.accepted
            .get(sender as usize)
            .map_or(0, |count| count.load(Ordering::Acquire))
    }

    pub fn total_accepted(&self) -> u64 {
        self.accepted
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .sum()
    }

    /// Changes to true once every sender has finished.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.all_done.subscribe()
    }
}

/// One receiver's record of this run's messages.
pub struct Inbox {
    run_id: u64,
    start: Instant,
    /// The senders whose messages this receiver must get; others' (its own echo) are ignored.
    expect_from: Vec<u32>,
    /// Per sender, a bit per sequence number seen.
    seen: HashMap<u32, Vec<u64>>,
    pub distinct: u64,
    pub duplicated: u64,
    latencies: Latencies,
    /// Why the receiver stopped early, if it did.
    pub failure: Option<String>,
}

impl Inbox {
    pub fn new(run_id: u64, start: Instant, expect_from: Vec<u32>, latencies: Latencies) -> Self {
        Inbox {
            run_id,
            start,
            expect_from,
            seen: HashMap::new(),
            distinct: 0,
            duplicated: 0,
            latencies,
            failure: None,
        }
    }

    /// Takes a frame; true if it was a new message of this run from an expected sender.
    pub fn take(&mut self, frame: &Peek<'_>) -> bool {
        let arrived = self.start.elapsed();
        let Some(tag) = frame
            .created_text()
            .and_then(|text| Tag::parse(&text, self.run_id))
        else {
            return false;
        };
        if !self.expect_from.contains(&tag.sender) {
            return false;
        }
        let bits = self.seen.entry(tag.sender).or_default();
        let (word, bit) = ((tag.seq / 64) as usize, tag.seq % 64);
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        if bits[word] & (1 << bit) != 0 {
            self.duplicated += 1;
            return false;
        }
        bits[word] |= 1 << bit;
        self.distinct += 1;
        self.latencies.record(arrived.saturating_sub(tag.scheduled));
        true
    }

    /// Whether everything the ledger says was accepted from the expected senders has arrived.
    pub fn complete(&self, ledger: &Ledger) -> bool {
        self.distinct >= self.expected(ledger)
    }

    pub fn expected(&self, ledger: &Ledger) -> u64 {
        self.expect_from.iter().map(|s| ledger.accepted(*s)).sum()
    }
}

/// The sum over receivers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub expected: u64,
    pub delivered: u64,
    pub duplicated: u64,
    /// Receivers that stopped early (closed by the server or lost).
    pub failed: u64,
}

impl Totals {
    /// Waits for every receiver and adds up what each saw (a receiver task that panicked adds nothing, so
    /// its messages count as lost).
    pub async fn gather(receivers: Vec<tokio::task::JoinHandle<Inbox>>, ledger: &Ledger) -> Totals {
        let mut totals = Totals::default();
        for receiver in receivers {
            if let Ok(inbox) = receiver.await {
                totals.add(&inbox, ledger);
            }
        }
        totals
    }

    pub fn add(&mut self, inbox: &Inbox, ledger: &Ledger) {
        self.expected += inbox.expected(ledger);
        self.delivered += inbox.distinct;
        self.duplicated += inbox.duplicated;
        self.failed += u64::from(inbox.failure.is_some());
    }

    /// Puts the counts into the report.
    pub fn fill(&self, report: &mut crate::Report) {
        report.expected = Some(self.expected);
        report.delivered = Some(self.delivered);
        report.lost = Some(self.lost());
        report.duplicated = Some(self.duplicated);
        if self.failed > 0 {
            report.extra.insert("receivers_failed", self.failed as f64);
        }
    }

    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }
}

/// How long receivers wait, after the last sender finished, for what is still on its way.
pub const DRAIN: Duration = Duration::from_secs(10);
