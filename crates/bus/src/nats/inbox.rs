//! One inbox: a NATS subscription per followed topic plus the commit markers, and the task that merges them
//! into one stream with durable events in cursor order. Also the local routes, which carry this node's own
//! signals straight to its own inboxes while NATS is away.
//!
//! **Why nothing published before a marker is missed.** A commit's events, a round trip, then its marker are
//! published on one connection (`Shared::publish_commit`), so the server sends them to this node in that
//! order, and async-nats's connection handler, reading them in that order, pushes each event into its
//! subscription's channel before it pushes the marker into the marker channel. `ready.rs` proves that once the marker has been taken out, every
//! subscription still holding such an event is in the ready queue. So on taking markers out (`round`, first
//! pass) the task takes the queue once more and drains each subscription in it (second pass), not the
//! marker subscription, and only then hands the markers to `Ordered`: every event of those commits is in its
//! heap by then. A subscription that `follow` handed over before the commit was published is taken in before
//! the second pass (`follow` queues it before returning). A marker this node hands its own inboxes (NATS
//! being away) comes after its events on the local channel, or after they came through NATS; the same second
//! pass takes those in. The task runs unconstrained by tokio's budget, which would otherwise make a drain
//! stop early (see `ready.rs`), and yields by itself.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use async_nats::{Message, Subscriber};
use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream;
use parley_core::bus::{BusError, Delivery, Follow, Inbox, Signal, Topic};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::link::Link;
use super::ordered::{Marked, Ordered};
use super::ready::{Drained, Key, ReadySet};
use super::wire::{Marker, decode};
use super::{INBOX_CAPACITY, NatsError, STALL, Shared, stopped};

pub(crate) type InboxId = u64;

/// The marker subscription's key in the ready set; topics take keys from 1.
const MARKERS: Key = 0;

/// Messages the task takes in before it yields once: it runs unconstrained, so it paces itself.
const YIELD_EVERY: usize = 1_024;

/// What a node hands its own inboxes directly, without NATS.
pub(crate) enum Local {
    Signal(Arc<Signal>),
    Marker(Marker),
}

struct Slot {
    sender: mpsc::Sender<Local>,
    lagged: Arc<AtomicBool>,
}

/// Which local inbox follows which topic: what the node's own signals take while NATS is away, and what
/// `follow` checks to make a second follow of a topic a no-op.
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

    fn add(&mut self, topic: Topic, inbox: InboxId) -> bool {
        self.followers.entry(topic).or_default().insert(inbox)
    }

    fn remove(&mut self, topic: Topic, inbox: InboxId) -> bool {
        let Some(inboxes) = self.followers.get_mut(&topic) else {
            return false;
        };
        let removed = inboxes.remove(&inbox);
        if inboxes.is_empty() {
            self.followers.remove(&topic);
        }
        removed
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

enum Command {
    Follow(Topic, Subscriber),
    /// Answered once the subscription is gone, so that nothing more of the topic arrives.
    Unfollow(Topic, oneshot::Sender<()>),
}

/// The topics of one inbox. Holds the bus weakly: once the `NatsBus` is gone, following fails.
struct NatsFollow {
    shared: Weak<Shared>,
    inbox: InboxId,
    commands: mpsc::UnboundedSender<Command>,
}

#[async_trait]
impl Follow for NatsFollow {
    async fn follow(&self, topic: Topic) -> Result<(), BusError> {
        let shared = self.shared.upgrade().ok_or(NatsError::Closed)?;
        shared.check_open()?;
        if !shared.routes().add(topic, self.inbox) {
            return Ok(());
        }
        let subscribed = shared.subscribe(shared.subjects.topic(topic)).await;
        let sent = subscribed.and_then(|subscriber| {
            self.commands
                .send(Command::Follow(topic, subscriber))
                .map_err(|_| NatsError::Closed)
        });
        if let Err(error) = sent {
            shared.routes().remove(topic, self.inbox);
            return Err(error.into());
        }
        // The subscription counts from when the server has it, which only a round trip proves.
        shared.barrier_if_connected().await?;
        Ok(())
    }

    async fn unfollow(&self, topic: Topic) -> Result<(), BusError> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        if !shared.routes().remove(topic, self.inbox) {
            return Ok(());
        }
        drop(shared);
        // The task drops the subscriber, which unsubscribes; no answer means the task is gone anyway.
        let (done, dropped) = oneshot::channel();
        if self.commands.send(Command::Unfollow(topic, done)).is_ok() {
            let _ = dropped.await;
        }
        Ok(())
    }
}

impl Drop for NatsFollow {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.routes().forget(self.inbox);
        }
    }
}

/// A new inbox, following the commit markers and no topic yet.
pub(crate) async fn open(
    shared: &Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Result<Inbox, NatsError> {
    shared.check_open()?;
    let markers = shared
        .subscribe(shared.subjects.commits().to_owned())
        .await?;
    shared.barrier_if_connected().await?;
    let (output, receiver) = mpsc::channel(INBOX_CAPACITY);
    let (local_sender, local) = mpsc::channel(INBOX_CAPACITY);
    let (commands_sender, commands) = mpsc::unbounded_channel();
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
    let mut subs = ReadySet::new();
    subs.insert(MARKERS, markers);
    let merger = Merger {
        subs,
        topics: HashMap::new(),
        next_key: MARKERS + 1,
        ordered: Ordered::new(STALL),
        output,
        lagged: Arc::clone(&lagged),
        commands,
        commands_open: true,
        local,
        link,
        generation,
        stop,
        messages: Vec::new(),
        markers: Vec::new(),
        released: Vec::new(),
        since_yield: 0,
    };
    tokio::spawn(tokio::task::coop::unconstrained(merger.run()));
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
        commands: commands_sender,
    });
    Ok(Inbox {
        topics,
        deliveries: deliveries.boxed(),
    })
}

/// The task behind one inbox; it owns the subscriptions.
struct Merger {
    subs: ReadySet<Subscriber>,
    topics: HashMap<Topic, Key>,
    next_key: Key,
    ordered: Ordered<Arc<Signal>>,
    output: mpsc::Sender<Delivery>,
    /// Set when `output` was full: the consumer is told `Lagged` before it reads on.
    lagged: Arc<AtomicBool>,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_open: bool,
    local: mpsc::Receiver<Local>,
    link: watch::Receiver<Link>,
    generation: u64,
    stop: watch::Receiver<bool>,
    messages: Vec<Message>,
    markers: Vec<Marker>,
    released: Vec<Arc<Signal>>,
    since_yield: usize,
}

impl Merger {
    async fn run(mut self) {
        loop {
            let deadline = self.ordered.deadline();
            let stall = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
            tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return,
                () = self.output.closed() => return,
                command = self.commands.recv(), if self.commands_open => match command {
                    Some(command) => self.command(command),
                    None => self.commands_open = false,
                },
                changed = self.link.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.link_changed();
                }
                local = self.local.recv() => match local {
                    Some(local) => self.local(local),
                    None => return,
                },
                () = self.subs.woken() => self.round(),
                () = stall, if deadline.is_some() => self.check_stall(),
            }
            self.since_yield += 1;
            if self.since_yield >= YIELD_EVERY {
                self.since_yield = 0;
                tokio::task::yield_now().await;
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Follow(topic, subscriber) => {
                if self.topics.contains_key(&topic) {
                    return;
                }
                let key = self.next_key;
                self.next_key += 1;
                self.topics.insert(topic, key);
                self.subs.insert(key, subscriber);
            }
            Command::Unfollow(topic, done) => {
                if let Some(key) = self.topics.remove(&topic) {
                    self.subs.remove(key);
                }
                let _ = done.send(());
            }
        }
    }

    fn take_commands(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            self.command(command);
        }
    }

    /// Takes in what the woken subscriptions hold; if that includes markers, applies them once everything
    /// published before them is in (module comment).
    fn round(&mut self) {
        let now = Instant::now();
        self.take_commands();
        for key in self.subs.take_ready() {
            self.drain(key, now);
        }
        if self.markers.is_empty() {
            return;
        }
        self.take_in_before_markers(now);
        for marker in std::mem::take(&mut self.markers) {
            self.apply(marker, now);
        }
        self.send_released();
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

    /// The second pass: whatever was published before the markers just taken out, and is still in a
    /// subscription, is in one that is queued now (`ready.rs`). The marker subscription waits for the next
    /// round. Subscriptions handed over by `follow` calls that returned before come first.
    fn take_in_before_markers(&mut self, now: Instant) {
        self.take_commands();
        for key in self.subs.take_ready() {
            if key == MARKERS {
                self.subs.requeue(key);
            } else {
                self.drain(key, now);
            }
        }
    }

    fn drain(&mut self, key: Key, now: Instant) {
        let drained = self.subs.drain(key, &mut self.messages);
        let mut messages = std::mem::take(&mut self.messages);
        self.since_yield += messages.len();
        for message in messages.drain(..) {
            if key == MARKERS {
                if let Some(marker) = decode::<Marker>(&message.subject, &message.payload) {
                    self.markers.push(marker);
                }
            } else {
                match decode::<Signal>(&message.subject, &message.payload) {
                    Some(signal) => self.signal(Arc::new(signal), now),
                    // It may have been a durable event, which the consumer must now catch up on.
                    None => self.emit(Delivery::Lagged),
                }
            }
        }
        self.messages = messages;
        if drained == Drained::Ended {
            // Only when the client is closed for good; the bus is going away.
            self.topics.retain(|_, k| *k != key);
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
            // went away) through NATS before this node's round trip returned: the second pass takes
            // those in.
            Local::Marker(marker) => {
                self.take_in_before_markers(now);
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
