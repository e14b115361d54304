//! Many streams, polled only when they have something: each has its own waker, which puts the stream's key in
//! a shared queue. The work per wake-up is proportional to the streams that were woken, not to how many
//! there are (a node may follow 100,000 conversations).
//!
//! `drain` polls one stream until it answers `Pending`. Polling must not be cut short by tokio's cooperative
//! budget, which answers `Pending` with items still queued: run the owner inside `tokio::task::unconstrained`
//! (it yields by itself).
//!
//! What this guarantees, which is what the inbox's ordering rests on (see `inbox.rs`): say a producer thread
//! pushes item `e` into stream `k`'s channel and *afterwards* pushes item `m` into stream `j`'s channel, and
//! the owner takes `m` out of `j`. Then, from that moment, `e` is still in `k`'s channel only if `k` is in the
//! queue, so one `take_ready` later and a `drain` of each key it returns, `e` has been taken out. Proof: at
//! any time each stream is either in the queue, or its last poll answered `Pending` and left its waker
//! registered (new streams start queued, and `drain` polls until `Pending`). In the second case, pushing `e`
//! wakes the waker (tokio's channels register the waker and look again before answering `Pending`, so no
//! push falls between), and the wake puts `k` in the queue, on the producer's thread, before it returns and
//! before `m` is pushed; taking `m` out then happens after, so the owner sees `k` queued. (Were the owner
//! polling `k` at that very moment, the registration would make that poll return `e` or wake `k` itself
//! before returning, which is still before the owner goes on to take `m`.) The `queued` flag
//! only keeps a key from being queued twice: it is cleared before the poll, so a push during or after the
//! poll queues the key again.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::Stream;
use tokio::sync::Notify;

pub(crate) type Key = u64;

#[derive(Default)]
struct Queue {
    /// Held only to push or take keys; never across an await.
    keys: Mutex<VecDeque<Key>>,
    notify: Notify,
}

impl Queue {
    fn push(&self, key: Key) {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(key);
        self.notify.notify_one();
    }
}

struct KeyWaker {
    key: Key,
    queued: AtomicBool,
    queue: Arc<Queue>,
}

impl Wake for KeyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::SeqCst) {
            self.queue.push(self.key);
        }
    }
}

struct Entry<S> {
    stream: S,
    flag: Arc<KeyWaker>,
    waker: Waker,
}

pub(crate) struct ReadySet<S> {
    streams: HashMap<Key, Entry<S>>,
    queue: Arc<Queue>,
}

/// How a drain ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Nothing more for now; its waker is registered.
    Pending,
    /// The stream ended and was removed.
    Ended,
    /// No stream has this key (any more).
    Unknown,
}

impl<S: Stream + Unpin> ReadySet<S> {
    pub(crate) fn new() -> Self {
        ReadySet {
            streams: HashMap::new(),
            queue: Arc::default(),
        }
    }

    /// Adds a stream, queued: it may hold items already.
    pub(crate) fn insert(&mut self, key: Key, stream: S) {
        let flag = Arc::new(KeyWaker {
            key,
            queued: AtomicBool::new(true),
            queue: Arc::clone(&self.queue),
        });
        let waker = Waker::from(Arc::clone(&flag));
        self.streams.insert(
            key,
            Entry {
                stream,
                flag,
                waker,
            },
        );
        self.queue.push(key);
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<S> {
        self.streams.remove(&key).map(|entry| entry.stream)
    }

    /// Returns once some key has been queued since the last call (possibly already taken).
    pub(crate) async fn woken(&self) {
        self.queue.notify.notified().await;
    }

    /// The queued keys, in the order they were woken; they are no longer queued (though still flagged until
    /// drained).
    pub(crate) fn take_ready(&self) -> VecDeque<Key> {
        std::mem::take(
            &mut *self
                .queue
                .keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Puts a key taken by `take_ready` back without draining it, to drain it later.
    pub(crate) fn requeue(&self, key: Key) {
        self.queue.push(key);
    }

    /// Takes everything the stream holds now, until it answers `Pending` (or ends).
    pub(crate) fn drain(&mut self, key: Key, out: &mut Vec<S::Item>) -> Drained {
        let Some(entry) = self.streams.get_mut(&key) else {
            return Drained::Unknown;
        };
        entry.flag.queued.store(false, Ordering::SeqCst);
        let mut context = Context::from_waker(&entry.waker);
        loop {
            match Pin::new(&mut entry.stream).poll_next(&mut context) {
                Poll::Ready(Some(item)) => out.push(item),
                Poll::Ready(None) => {
                    self.streams.remove(&key);
                    return Drained::Ended;
                }
                Poll::Pending => return Drained::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    /// A channel as a stream, as `async_nats::Subscriber` is.
    struct Rx<T>(mpsc::Receiver<T>);

    impl<T> Stream for Rx<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }

    #[tokio::test]
    async fn only_woken_streams_are_drained() {
        let mut set = ReadySet::new();
        let mut senders = Vec::new();
        for key in 0..1_000 {
            let (sender, receiver) = mpsc::channel(8);
            set.insert(key, Rx(receiver));
            senders.push(sender);
        }
        let mut out = Vec::new();
        for key in set.take_ready() {
            assert_eq!(set.drain(key, &mut out), Drained::Pending);
        }
        assert!(out.is_empty() && set.take_ready().is_empty());
        senders[7].try_send(70).expect("send");
        senders[3].try_send(30).expect("send");
        senders[7].try_send(71).expect("send");
        set.woken().await;
        let ready: Vec<Key> = set.take_ready().into();
        assert_eq!(ready, vec![7, 3]);
        for key in ready {
            set.drain(key, &mut out);
        }
        assert_eq!(out, vec![70, 71, 30]);
        drop(senders.swap_remove(5));
        assert_eq!(set.take_ready(), VecDeque::from([5]));
        assert_eq!(set.drain(5, &mut out), Drained::Ended);
        assert_eq!(set.drain(5, &mut out), Drained::Unknown);
    }

    /// The guarantee in the module comment, against a producer on another thread that pushes the way
    /// async-nats's connection handler does (`try_send`, one message after another): each round's items go
    /// to a few of many channels, then its marker to the marker channel. Whenever the owner takes a marker,
    /// one more `take_ready` and drain must have brought in every item of that round.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_item_pushed_before_a_marker_is_found_by_one_more_round() {
        const STREAMS: u64 = 200;
        const ROUNDS: u64 = 20_000;
        const MARKERS: Key = u64::MAX;
        let mut set = ReadySet::new();
        let mut senders = Vec::new();
        for key in 0..STREAMS {
            let (sender, receiver) = mpsc::channel::<u64>(1 << 16);
            set.insert(key, Rx(receiver));
            senders.push(sender);
        }
        let (marker_sender, markers) = mpsc::channel::<u64>(1 << 16);
        set.insert(MARKERS, Rx(markers));
        let producer = std::thread::spawn(move || {
            let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
            for round in 0..ROUNDS {
                for _ in 0..3 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let key = usize::try_from(seed % STREAMS).expect("small");
                    senders[key].try_send(round).expect("room");
                }
                marker_sender.try_send(round).expect("room");
            }
        });
        let checked = tokio::task::coop::unconstrained(async move {
            let mut per_round = HashMap::<u64, u32>::new();
            let mut checked = 0;
            let mut out = Vec::new();
            let mut marker_out = Vec::new();
            while checked < ROUNDS {
                set.woken().await;
                for key in set.take_ready() {
                    if key == MARKERS {
                        set.drain(key, &mut marker_out);
                    } else {
                        set.drain(key, &mut out);
                    }
                }
                if !marker_out.is_empty() {
                    for key in set.take_ready() {
                        if key == MARKERS {
                            set.requeue(key);
                        } else {
                            set.drain(key, &mut out);
                        }
                    }
                }
                for round in out.drain(..) {
                    *per_round.entry(round).or_default() += 1;
                }
                for round in marker_out.drain(..) {
                    assert_eq!(per_round.remove(&round), Some(3), "round {round}");
                    checked += 1;
                }
            }
            checked
        })
        .await;
        producer.join().expect("producer");
        assert_eq!(checked, ROUNDS);
    }
}
