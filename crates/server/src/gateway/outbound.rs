//! What a connection is sent: frames encoded once and shared by every recipient, the other items its writer
//! is asked to carry out in order, and the signal that closes it from anywhere.

use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use parley_core::Cursor;
use parley_core::model::Millis;
use tokio::sync::Notify;

use super::close;

/// A frame ready to write: encoded once, shared by every recipient.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub text: Utf8Bytes,
    /// The cursor of a durable event, so the writer can skip what it already sent.
    pub cursor: Option<Cursor>,
    /// When the event committed, for the delivery-latency histogram.
    pub committed_at: Option<Millis>,
}

impl Frame {
    /// A reply or other frame that is not a durable event.
    pub(crate) fn control(message: &impl serde::Serialize) -> Self {
        Frame {
            text: encode(message),
            cursor: None,
            committed_at: None,
        }
    }
}

pub(crate) fn encode(message: &impl serde::Serialize) -> Utf8Bytes {
    serde_json::to_string(message).unwrap_or_default().into()
}

/// What a connection's writer is asked to do, in order.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Shared by every recipient: a queue slot is a pointer, whatever the frame.
    Frame(Arc<Frame>),
    /// Replay from the store everything after the last cursor written, before writing more: the connection
    /// may have missed events (it joined a conversation this node did not follow, or the node lagged).
    CatchUp,
    /// Close, once what was queued before is written. A reference, so the item stays two words.
    Close(&'static Close),
}

// Every connection's queue holds a block of 32 items from its start, so each byte of an item is 32 of every
// idle connection's memory: a `Close` held by value made it 32 bytes, and the block 1,056 instead of 544.
const _: () = assert!(std::mem::size_of::<Outbound>() <= 16);

/// Why a connection is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Close {
    pub code: u16,
    pub reason: &'static str,
}

/// The user's role in their organization changed since the connection authenticated: it reconnects with the
/// new one.
pub(crate) const ROLE_CHANGED: Close = Close {
    code: close::ROLE_CHANGED,
    reason: "role changed: reconnect",
};

/// Tells a connection to close, from anywhere (the dispatcher or the connection itself); the first reason
/// wins. A `OnceLock` and a `Notify` rather than a `watch` channel, whose shared state (eight `Notify`s)
/// was 368 bytes of every connection.
#[derive(Debug, Default)]
pub(crate) struct CloseSignal {
    reason: OnceLock<Close>,
    notify: Notify,
}

pub(crate) type Closer = Arc<CloseSignal>;

impl CloseSignal {
    /// Why the connection is closing, once it is.
    pub(crate) fn reason(&self) -> Option<Close> {
        self.reason.get().copied()
    }

    /// Completes once a reason is set (at once if it already is). Only the connection's own task waits, so
    /// the permit `notify_one` leaves when nobody waits yet is never lost.
    pub(crate) async fn closed(&self) {
        if self.reason.get().is_none() {
            self.notify.notified().await;
        }
    }
}

pub(crate) fn close_with(closer: &Closer, Close { code, reason }: Close) {
    if closer.reason.set(Close { code, reason }).is_ok() {
        metrics::counter!("parley_ws_closes_total", "code" => code.to_string()).increment(1);
        closer.notify.notify_one();
    }
}

/// Counts every durable event written to a socket (once its write is flushed), and how long after its commit
/// the write that carries it began. The handles are looked up once: by name on each of 200,000 deliveries a
/// second, the lookups were 4% of the server's CPU.
pub(crate) struct DeliveryMetrics {
    latency: metrics::Histogram,
    delivered: metrics::Counter,
}

impl DeliveryMetrics {
    pub(crate) fn new() -> Self {
        DeliveryMetrics {
            latency: metrics::histogram!("parley_ws_delivery_seconds"),
            delivered: metrics::counter!("parley_ws_events_delivered_total"),
        }
    }

    /// Counts the deliveries of one write, once it is flushed (their latencies are in already).
    pub(crate) fn record(&self, batch: &Deliveries) {
        if batch.count > 0 {
            self.delivered.increment(batch.count);
        }
    }
}

/// The durable events one write (one flush) carries: the clock is read once for all of them, and the
/// shared counter touched once, rather than for each frame (two frames a flush and a clock read each were
/// 3.5% of the server's CPU in a room of 1,000).
#[derive(Default)]
pub(crate) struct Deliveries {
    now: Option<Millis>,
    count: u64,
}

impl Deliveries {
    /// Whatever the write awaited since its clock was read (a catch-up's reads) makes it stale.
    pub(crate) fn clock_is_stale(&mut self) {
        self.now = None;
    }

    /// A durable event committed at `committed_at` is being written.
    pub(crate) fn add(&mut self, metrics: &DeliveryMetrics, committed_at: Millis) {
        let now = *self.now.get_or_insert_with(Millis::now);
        let seconds = (now.0 - committed_at.0).max(0) as f64 / 1000.0;
        metrics.latency.record(seconds);
        self.count += 1;
    }
}
