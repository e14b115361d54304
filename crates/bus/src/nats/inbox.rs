//! One inbox: its subscriptions on the feed (one per followed topic, plus the commit markers) and the task
//! that puts durable events back in cursor order. Also the local routes, which carry this node's own signals
//! straight to its own inboxes while NATS is away.
//!
//! **Why nothing published before a marker is missed.** A commit's events and then its marker are written in
//! one go on the publishing node's feed connection (`Shared::publish_commit`), so the server has queued the
//! events to this node's feed before it queues the marker, and the feed hands an inbox its messages in the
//! order they came, on one channel (`feed.rs`). So when the task takes a marker in, every event of that commit is in `Ordered`
//! already. A marker this node hands its own inboxes (NATS being away) comes after its events on the local
//! channel, or after they came through NATS: the task takes in whatever the feed holds before applying it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream;
use parley_core::bus::{BusError, Delivery, Follow, Inbox, Signal, Topic};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::feed::{Feed, Frame, Sid};
use super::link::Link;
use super::ordered::{Marked, Ordered};
use super::probe;
use super::wire::{Marker, decode};
use super::{INBOX_CAPACITY, NatsError, STALL, Shared, stopped};

pub(crate) type InboxId = u64;

/// Frames the task takes in at once before it looks at its other sources again.
const BATCH: usize = 1_024;

/// What a node hands its own inboxes directly, without NATS.
pub(crate) enum Local {
    Signal(Arc<Signal>),
    Marker(Marker),
}

struct Slot {
    sender: mpsc::Sender<Local>,
    lagged: Arc<AtomicBool>,
}

/// Which local inbox follows which topic: what the node's own signals take while NATS is away.
#[derive(Default)]
pub(crate) struct Routes {
    followers: HashMap<Topic, HashSet<InboxId>>,
    inboxes: HashMap<InboxId, Slot>,
    next_inbox: InboxId,
}

impl Routes {
    pub(crate) fn followed(&self, topic: Topic) -> bool {
        self.followers.contains_key(&topic)
    }

    /// Hands a signal to every local inbox that follows the topic; one that is full is told it lagged.
    pub(crate) fn deliver(&self, topic: Topic, signal: &Arc<Signal>) {
        let Some(followers) = self.followers.get(&topic) else {
            return;
        };
        for id in followers {
            if let Some(slot) = self.inboxes.get(id) {
                slot.send(Local::Signal(Arc::clone(signal)));
            }
        }
    }

    /// Hands a commit marker to every local inbox.
    pub(crate) fn deliver_marker(&self, marker: Marker) {
        for slot in self.inboxes.values() {
            slot.send(Local::Marker(marker));
        }
    }

    fn add(&mut self, topic: Topic, inbox: InboxId) {
        self.followers.entry(topic).or_default().insert(inbox);
    }

    fn remove(&mut self, topic: Topic, inbox: InboxId) {
        let Some(inboxes) = self.followers.get_mut(&topic) else {
            return;
        };
        inboxes.remove(&inbox);
        if inboxes.is_empty() {
            self.followers.remove(&topic);
        }
    }

    fn forget(&mut self, inbox: InboxId) {
        self.inboxes.remove(&inbox);
        self.followers.retain(|_, inboxes| {
            inboxes.remove(&inbox);
            !inboxes.is_empty()
        });
    }
}

impl Slot {
    fn send(&self, local: Local) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.sender.try_send(local) {
            self.lagged.store(true, Ordering::Release);
        }
    }
}

/// The topics of one inbox. Holds the bus weakly: once the `NatsBus` is gone, following fails.
struct NatsFollow {
    shared: Weak<Shared>,
    inbox: InboxId,
    /// The inbox's channel on the feed, which each new subscription routes to.
    frames: mpsc::Sender<Frame>,
    /// Held while a topic is followed or unfollowed, so the routes, the feed and this stay in step.
    sids: Mutex<HashMap<Topic, Sid>>,
}

impl NatsFollow {
    fn sids(&self) -> MutexGuard<'_, HashMap<Topic, Sid>> {
        self.sids.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Follow for NatsFollow {
    async fn follow(&self, topic: Topic) -> Result<(), BusError> {
        let shared = self.shared.upgrade().ok_or(NatsError::Closed)?;
        shared.check_open()?;
        {
            let mut sids = self.sids();
            if sids.contains_key(&topic) {
                return Ok(());
            }
            shared.routes().add(topic, self.inbox);
            let sid = shared
                .feed
                .subscribe(shared.subjects.topic(topic), self.frames.clone());
            sids.insert(topic, sid);
        }
        // The subscription counts from when every server of the cluster has it, which only a round trip
        // and then a probe prove.
        subscribed(&shared.feed).await?;
        Ok(probe::probe(&shared).await?)
    }

    async fn unfollow(&self, topic: Topic) -> Result<(), BusError> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        let mut sids = self.sids();
        if let Some(sid) = sids.remove(&topic) {
            shared.routes().remove(topic, self.inbox);
            shared.feed.unsubscribe(sid);
        }
        Ok(())
    }
}

impl Drop for NatsFollow {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.routes().forget(self.inbox);
            for sid in self.sids().values() {
                shared.feed.unsubscribe(*sid);
            }
        }
    }
}

/// A round trip on the feed; without a connection there is nothing to wait for: the subscriptions go to the
/// server when it is back, and every inbox lags then.
async fn subscribed(feed: &Feed) -> Result<(), NatsError> {
    match feed.barrier().await {
        Err(NatsError::Disconnected) => Ok(()),
        result => result,
    }
}

/// A new inbox, following the commit markers and no topic yet.
pub(crate) async fn open(
    shared: &Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Result<Inbox, NatsError> {
    shared.check_open()?;
    let (frames_sender, frames) = mpsc::channel(INBOX_CAPACITY);
    let markers = shared
        .feed
        .subscribe(shared.subjects.commits().to_owned(), frames_sender.clone());
    if let Err(error) = subscribed(&shared.feed).await {
        shared.feed.unsubscribe(markers);
        return Err(error);
    }
    let (output, receiver) = mpsc::channel(INBOX_CAPACITY);
    let (local_sender, local) = mpsc::channel(INBOX_CAPACITY);
    let lagged = Arc::new(AtomicBool::new(false));
    let inbox = {
        let mut routes = shared.routes();
        routes.next_inbox += 1;
        let id = routes.next_inbox;
        routes.inboxes.insert(
            id,
            Slot {
                sender: local_sender,
                lagged: Arc::clone(&lagged),
            },
        );
        id
    };
    let mut link = shared.link.subscribe();
    let generation = link.borrow_and_update().generation;
    let merger = Merger {
        feed: Arc::clone(&shared.feed),
        frames,
        markers,
        ordered: Ordered::new(STALL),
        output,
        lagged: Arc::clone(&lagged),
        local,
        link,
        generation,
        stop,
        released: Vec::new(),
    };
    tokio::spawn(merger.run());
    let deliveries = stream::unfold((receiver, lagged), |(mut receiver, lagged)| async move {
        if lagged.swap(false, Ordering::AcqRel) {
            return Some((Delivery::Lagged, (receiver, lagged)));
        }
        let delivery = receiver.recv().await?;
        Some((delivery, (receiver, lagged)))
    });
    let topics = Arc::new(NatsFollow {
        shared: Arc::downgrade(shared),
        inbox,
        frames: frames_sender,
        sids: Mutex::default(),
    });
    Ok(Inbox {
        topics,
        deliveries: deliveries.boxed(),
    })
}

/// The task behind one inbox.
struct Merger {
    feed: Arc<Feed>,
    frames: mpsc::Receiver<Frame>,
    /// The commit markers' subscription; every other one is a topic's.
    markers: Sid,
    ordered: Ordered<Arc<Signal>>,
    output: mpsc::Sender<Delivery>,
    /// Set when `output` was full: the consumer is told `Lagged` before it reads on.
    lagged: Arc<AtomicBool>,
    local: mpsc::Receiver<Local>,
    link: watch::Receiver<Link>,
    generation: u64,
    stop: watch::Receiver<bool>,
    released: Vec<Arc<Signal>>,
}

impl Merger {
    async fn run(mut self) {
        loop {
            let deadline = self.ordered.deadline();
            let stall = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
            tokio::select! {
                biased;
                () = stopped(&mut self.stop) => break,
                () = self.output.closed() => break,
                changed = self.link.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    self.link_changed();
                }
                local = self.local.recv() => match local {
                    Some(local) => self.local(local),
                    None => break,
                },
                frame = self.frames.recv() => match frame {
                    Some(frame) => self.frames(frame),
                    None => break,
                },
                () = stall, if deadline.is_some() => self.check_stall(),
            }
        }
        self.feed.unsubscribe(self.markers);
    }

    /// This frame and what else the feed holds now, up to a batch.
    fn frames(&mut self, first: Frame) {
        let now = Instant::now();
        self.frame(first, now);
        for _ in 1..BATCH {
            let Ok(frame) = self.frames.try_recv() else {
                break;
            };
            self.frame(frame, now);
        }
    }

    fn frame(&mut self, frame: Frame, now: Instant) {
        if frame.sid == self.markers {
            if let Some(marker) = decode::<Marker>("commit marker", &frame.payload) {
                self.apply(marker, now);
                self.send_released();
            }
            return;
        }
        match decode::<Signal>("topic", &frame.payload) {
            Some(signal) => self.signal(Arc::new(signal), now),
            // It may have been a durable event, which the consumer must now catch up on.
            None => self.emit(Delivery::Lagged),
        }
    }

    fn apply(&mut self, marker: Marker, now: Instant) {
        let marked = self
            .ordered
            .marker(marker.after, marker.last, now, &mut self.released);
        if marked == Marked::PastAHole {
            // What earlier markers released comes before the hole.
            self.send_released();
            tracing::debug!(?marker, "bus inbox starts its order over past a hole");
            self.emit(Delivery::Lagged);
        }
    }

    /// Durable events wait for their marker; anything else goes out at once.
    fn signal(&mut self, signal: Arc<Signal>, now: Instant) {
        match &*signal {
            Signal::Event(event) => self.ordered.event(event.cursor, signal.clone(), now),
            _ => self.emit(Delivery::Signal(signal)),
        }
    }

    fn local(&mut self, local: Local) {
        let now = Instant::now();
        match local {
            Local::Signal(signal) => self.signal(signal, now),
            // The commit's events came on this channel before it, or (when it is redelivered after NATS
            // went away) through NATS before this node's round trip returned: take in what the feed holds.
            Local::Marker(marker) => {
                while let Ok(frame) = self.frames.try_recv() {
                    self.frame(frame, now);
                }
                self.apply(marker, now);
                self.send_released();
            }
        }
    }
    /// Whatever NATS had in flight is lost either way. When it goes, the order goes on: this node's own
    /// commits extend it meanwhile, as long as no other node commits. When it is back (once this node's
    /// subscriptions are on the server again, `nodes::arm`), or after an overflow, the order starts over
    /// (`ordered.rs`: from the next marker, with a second lag if that one comes after a hole).
    fn link_changed(&mut self) {
        let link = *self.link.borrow_and_update();
        if link.generation == self.generation {
            return;
        }
        self.generation = link.generation;
        if link.connected {
            self.ordered.restart();
        }
        self.emit(Delivery::Lagged);
    }

    fn check_stall(&mut self) {
        if self.ordered.stalled(Instant::now()) {
            tracing::warn!("bus inbox stalled behind a missing commit marker; catching up");
            self.emit(Delivery::Lagged);
        }
    }

    fn send_released(&mut self) {
        for signal in std::mem::take(&mut self.released) {
            self.emit(Delivery::Signal(signal));
        }
    }

    /// Never blocks: a consumer that falls behind is told it lagged, as with `LocalBus`.
    fn emit(&self, delivery: Delivery) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.output.try_send(delivery) {
            self.lagged.store(true, Ordering::Release);
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}
