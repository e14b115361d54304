//! The registry of this node's connections and the dispatcher that routes every signal to them.
//!
//! One task, the dispatcher, owns all routing state: which connection belongs to which user and which
//! organization, which connections are in which conversation (a "room"), who watches whose presence.
//! Registration, departures and bus deliveries all go through it, in one order, so a membership change and
//! the events around it can never be seen out of order, and no lock is held while anything is sent.
//!
//! It follows a bus topic while at least one local connection needs it (the sets below are the reference
//! counts) and unfollows it when the last one goes. Each event is encoded once; every recipient's queue gets
//! the same bytes (a reference-counted buffer), never a copy.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use parley_core::bus::{Delivery, Follow, Inbox, ProfileCopy, Signal, Topic};
use parley_core::model::{Audience, Event, EventKind, Millis};
use parley_core::proto::v1::Role;
use parley_core::service::Resettled;
use parley_core::{Caller, ConversationId, Cursor, OrgId, Parley, UserId};
use tokio::sync::{Notify, mpsc, oneshot};

use super::close;
use crate::tally::Tally;

pub(crate) type ConnId = u64;

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
    /// Close, once what was queued before is written.
    Close(Close),
}

/// Why a connection is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Close {
    pub code: u16,
    pub reason: &'static str,
}

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

/// The user's role in their organization changed since the connection authenticated: it reconnects with the
/// new one.
pub(crate) const ROLE_CHANGED: Close = Close {
    code: close::ROLE_CHANGED,
    reason: "role changed: reconnect",
};

pub(crate) fn close_with(closer: &Closer, code: u16, reason: &'static str) {
    if closer.reason.set(Close { code, reason }).is_ok() {
        metrics::counter!("parley_ws_closes_total", "code" => code.to_string()).increment(1);
        closer.notify.notify_one();
    }
}

/// What a new connection brings to the registry. Its conversations come after (`Hub::set_rooms`), read once
/// the connection already hears its user's membership changes, so none can fall in between.
pub(crate) struct Registration {
    pub caller: Arc<Caller>,
    pub contacts: Vec<UserId>,
    pub outbound: mpsc::Sender<Outbound>,
    pub closer: Closer,
}

enum Command {
    Register {
        id: ConnId,
        registration: Box<Registration>,
        done: oneshot::Sender<()>,
    },
    Rooms {
        id: ConnId,
        conversations: Vec<ConversationId>,
        as_of: Cursor,
        done: oneshot::Sender<()>,
    },
    Unregister {
        id: ConnId,
    },
    Watch {
        id: ConnId,
        user_ids: Vec<UserId>,
        done: oneshot::Sender<()>,
    },
    /// A user's conversations, role and organization settings read again after the bus lagged: their
    /// connections' rooms are set anew, they are told the settings, and they close if the role changed.
    Resettle {
        user_id: UserId,
        resettled: Box<Resettled>,
    },
    /// Closes a user's connections here (1011): their rooms could not be re-read.
    Drop {
        user_id: UserId,
    },
    GraceOver {
        user_id: UserId,
        generation: u64,
    },
    CloseAll,
}

/// Counts every durable event written to a socket, and how long after its commit. The handles are looked
/// up once: by name on each of 200,000 deliveries a second, the lookups were 4% of the server's CPU.
pub(crate) struct DeliveryMetrics {
    latency: metrics::Histogram,
    delivered: metrics::Counter,
}

impl DeliveryMetrics {
    fn new() -> Self {
        DeliveryMetrics {
            latency: metrics::histogram!("parley_ws_delivery_seconds"),
            delivered: metrics::counter!("parley_ws_events_delivered_total"),
        }
    }

    pub(crate) fn record(&self, committed_at: Millis) {
        let seconds = (Millis::now().0 - committed_at.0).max(0) as f64 / 1000.0;
        self.latency.record(seconds);
        self.delivered.increment(1);
    }
}

/// This node's gateway: a handle on the dispatcher.
pub struct Hub {
    pub(crate) delivery: DeliveryMetrics,
    /// The clock of every connection's op limiter. Made once: each one made calibrates its counter with
    /// `cpuid`, which was 6.5% of the server's CPU while thousands of clients connected.
    pub(crate) clock: governor::clock::DefaultClock,
    /// How many sockets each user has open here, each at most the configured number.
    pub(crate) sockets: Arc<Tally<UserId>>,
    commands: mpsc::UnboundedSender<Command>,
    next_id: AtomicU64,
    connections: Arc<AtomicUsize>,
}

impl Hub {
    /// Starts the dispatcher on `inbox`, which must follow no topic yet. Metrics are registered here, so
    /// the recorder must be installed first.
    pub fn start(
        parley: Arc<Parley>,
        inbox: Inbox,
        presence_grace: Duration,
        max_sockets_per_user: usize,
    ) -> Arc<Self> {
        let (commands, queue) = mpsc::unbounded_channel();
        let connections = Arc::new(AtomicUsize::new(0));
        let (presence, changes) = mpsc::unbounded_channel();
        tokio::spawn(announce_presence(Arc::clone(&parley), changes));
        let dispatcher = Dispatcher {
            presence,
            last_event: Cursor(0),
            parley,
            topics: Arc::clone(&inbox.topics),
            commands: commands.clone(),
            presence_grace,
            connections: Arc::clone(&connections),
            conns: HashMap::new(),
            by_user: HashMap::new(),
            by_org: HashMap::new(),
            rooms: HashMap::new(),
            watchers: HashMap::new(),
            going_offline: HashMap::new(),
            grace_generation: 0,
            closing: false,
        };
        tokio::spawn(dispatcher.run(inbox, queue));
        Arc::new(Hub {
            delivery: DeliveryMetrics::new(),
            clock: governor::clock::DefaultClock::default(),
            sockets: Tally::new(max_sockets_per_user),
            commands,
            next_id: AtomicU64::new(1),
            connections,
        })
    }

    /// Adds a connection; from when this returns, every event for it reaches its queue.
    pub(crate) async fn register(&self, registration: Registration) -> Option<ConnId> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (done, registered) = oneshot::channel();
        self.commands
            .send(Command::Register {
                id,
                registration: Box::new(registration),
                done,
            })
            .ok()?;
        registered.await.ok().map(|()| id)
    }

    /// Puts a registered connection in its conversations' rooms: `conversations` is exact as of `as_of`, and
    /// any joining or leaving after it that the dispatcher already saw is applied on top.
    pub(crate) async fn set_rooms(
        &self,
        id: ConnId,
        conversations: Vec<ConversationId>,
        as_of: Cursor,
    ) -> Option<()> {
        let (done, set) = oneshot::channel();
        self.commands
            .send(Command::Rooms {
                id,
                conversations,
                as_of,
                done,
            })
            .ok()?;
        set.await.ok()
    }

    pub(crate) fn unregister(&self, id: ConnId) {
        let _ = self.commands.send(Command::Unregister { id });
    }

    /// Adds users whose presence this connection follows; from when this returns, their changes reach it.
    pub(crate) async fn watch(&self, id: ConnId, user_ids: Vec<UserId>) -> Option<()> {
        let (done, watching) = oneshot::channel();
        self.commands
            .send(Command::Watch { id, user_ids, done })
            .ok()?;
        watching.await.ok()
    }

    /// Tells every connection to reconnect elsewhere, refuses new ones, and waits (up to `patience`) until
    /// they are gone.
    pub async fn close_all(&self, patience: Duration) {
        let _ = self.commands.send(Command::CloseAll);
        let deadline = tokio::time::Instant::now() + patience;
        while self.connections.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Connections currently registered on this node.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }
}

struct Conn {
    user_id: UserId,
    caller: Arc<Caller>,
    outbound: mpsc::Sender<Outbound>,
    closer: Closer,
    rooms: HashSet<ConversationId>,
    watching: HashSet<UserId>,
    /// Until its rooms are set: the user's joinings (true) and leavings (false) seen meanwhile, by cursor.
    membership_changes: Option<Vec<(Cursor, ConversationId, bool)>>,
    /// After bus lag, until its rooms are read again: durable events are not queued for it, since writing
    /// a later one before the catch-up would put the writer past the ones the bus dropped.
    resettling: bool,
}

/// Announces users coming online and going offline, one change at a time, so that the announcements of one
/// user can never overtake each other (a late "offline" after a quick "online" again).
async fn announce_presence(
    parley: Arc<Parley>,
    mut changes: mpsc::UnboundedReceiver<(UserId, bool)>,
) {
    while let Some((user_id, online)) = changes.recv().await {
        let announced = if online {
            parley.came_online(user_id).await
        } else {
            parley.went_offline(user_id).await
        };
        if let Err(error) = announced {
            tracing::warn!(%user_id, error = &error as &dyn std::error::Error, "presence update failed");
        }
    }
}

struct Dispatcher {
    /// Presence changes to announce, in order.
    presence: mpsc::UnboundedSender<(UserId, bool)>,
    /// The cursor of the last event routed. Events come in cursor order; one that comes again (it was
    /// published on two followed topics, as a joining is) is not routed twice.
    last_event: Cursor,
    parley: Arc<Parley>,
    topics: Arc<dyn Follow>,
    commands: mpsc::UnboundedSender<Command>,
    presence_grace: Duration,
    connections: Arc<AtomicUsize>,
    conns: HashMap<ConnId, Conn>,
    by_user: HashMap<UserId, HashSet<ConnId>>,
    /// The connections of each organization's members, for its settings changes (`Topic::Org`).
    by_org: HashMap<OrgId, HashSet<ConnId>>,
    rooms: HashMap<ConversationId, HashSet<ConnId>>,
    watchers: HashMap<UserId, HashSet<ConnId>>,
    /// Users whose last connection closed, by the generation of their grace timer.
    going_offline: HashMap<UserId, u64>,
    /// Only grows, so a stale timer can never match a newer grace period.
    grace_generation: u64,
    closing: bool,
}

/// Adds `id` to `key`'s set; true when the set was empty (the topic must be followed).
fn insert<K: Hash + Eq>(sets: &mut HashMap<K, HashSet<ConnId>>, key: K, id: ConnId) -> bool {
    let set = sets.entry(key).or_default();
    set.insert(id) && set.len() == 1
}

/// Removes `id` from `key`'s set; true when the set is now empty (the topic may be unfollowed).
fn remove<K: Hash + Eq>(sets: &mut HashMap<K, HashSet<ConnId>>, key: &K, id: ConnId) -> bool {
    let Some(set) = sets.get_mut(key) else {
        return false;
    };
    if !set.remove(&id) || !set.is_empty() {
        return false;
    }
    sets.remove(key);
    true
}

impl Dispatcher {
    async fn run(mut self, mut inbox: Inbox, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => return,
                },
                delivery = inbox.deliveries.next() => match delivery {
                    Some(Delivery::Signal(signal)) => self.route(&signal).await,
                    Some(Delivery::Lagged) => self.resettle_everyone(),
                    None => return,
                },
            }
        }
    }

    async fn follow(&self, topic: Topic) {
        if let Err(error) = self.topics.follow(topic).await {
            tracing::error!(
                ?topic,
                error = &error as &dyn std::error::Error,
                "cannot follow a topic"
            );
        }
    }

    async fn unfollow(&self, topic: Topic) {
        if let Err(error) = self.topics.unfollow(topic).await {
            tracing::warn!(
                ?topic,
                error = &error as &dyn std::error::Error,
                "cannot unfollow a topic"
            );
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Register {
                id,
                registration,
                done,
            } => {
                if self.closing {
                    close_with(&registration.closer, close::RESTART, "server shutting down");
                    let _ = done.send(());
                    return;
                }
                self.register(id, *registration).await;
                let _ = done.send(());
            }
            Command::Rooms {
                id,
                conversations,
                as_of,
                done,
            } => {
                self.set_rooms(id, conversations, as_of).await;
                let _ = done.send(());
            }
            Command::Unregister { id } => self.unregister(id).await,
            Command::Watch { id, user_ids, done } => {
                for user_id in user_ids {
                    self.watch(id, user_id).await;
                }
                let _ = done.send(());
            }
            Command::Resettle { user_id, resettled } => {
                let Resettled {
                    conversations,
                    as_of,
                    role,
                    settings,
                } = *resettled;
                let ids = self.user_conns(user_id);
                for &id in &ids {
                    self.set_rooms(id, conversations.clone(), as_of).await;
                    if let Some(conn) = self.conns.get_mut(&id) {
                        conn.resettling = false;
                    }
                    self.push(id, Outbound::CatchUp);
                }
                // A lost `org.updated` or `user.updated` is never replayed: the settings as they are now,
                // and a close for a connection whose role is not the user's any more.
                if let Some(message) = self.parley.signal_wire(&settings) {
                    self.deliver(&ids, &Arc::new(Frame::control(&message)));
                }
                self.close_if_role_changed(user_id, role);
            }
            Command::Drop { user_id } => {
                for id in self.user_conns(user_id) {
                    if let Some(conn) = self.conns.get(&id) {
                        close_with(
                            &conn.closer,
                            close::INTERNAL,
                            "server error: reconnect and resume",
                        );
                    }
                }
            }
            Command::GraceOver {
                user_id,
                generation,
            } => {
                let still_away = !self.by_user.contains_key(&user_id);
                if still_away && self.going_offline.get(&user_id) == Some(&generation) {
                    self.going_offline.remove(&user_id);
                    let _ = self.presence.send((user_id, false));
                }
            }
            Command::CloseAll => {
                self.closing = true;
                for conn in self.conns.values() {
                    close_with(&conn.closer, close::RESTART, "server shutting down");
                }
            }
        }
    }

    async fn register(&mut self, id: ConnId, registration: Registration) {
        let Registration {
            caller,
            contacts,
            outbound,
            closer,
        } = registration;
        let (user_id, org_id) = (caller.user.id, caller.user.org_id);
        let first_here = !self.by_user.contains_key(&user_id);
        if insert(&mut self.by_user, user_id, id) {
            self.follow(Topic::User(user_id)).await;
        }
        if insert(&mut self.by_org, org_id, id) {
            self.follow(Topic::Org(org_id)).await;
        }
        self.conns.insert(
            id,
            Conn {
                user_id,
                caller,
                outbound,
                closer,
                rooms: HashSet::new(),
                watching: HashSet::new(),
                membership_changes: Some(Vec::new()),
                resettling: false,
            },
        );
        for contact in contacts {
            self.watch(id, contact).await;
        }
        self.connections.fetch_add(1, Ordering::AcqRel);
        metrics::gauge!("parley_ws_connections").increment(1.0);
        // A reconnect within the grace period cancels the pending "offline" instead of flapping.
        let was_going_offline = self.going_offline.remove(&user_id).is_some();
        if first_here && !was_going_offline {
            let _ = self.presence.send((user_id, true));
        }
    }

    async fn unregister(&mut self, id: ConnId) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        self.connections.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("parley_ws_connections").decrement(1.0);
        for conversation_id in &conn.rooms {
            if remove(&mut self.rooms, conversation_id, id) {
                self.unfollow(Topic::Conversation(*conversation_id)).await;
            }
        }
        for user_id in &conn.watching {
            if remove(&mut self.watchers, user_id, id) {
                self.unfollow(Topic::Presence(*user_id)).await;
            }
        }
        let org_id = conn.caller.user.org_id;
        if remove(&mut self.by_org, &org_id, id) {
            self.unfollow(Topic::Org(org_id)).await;
        }
        if remove(&mut self.by_user, &conn.user_id, id) {
            self.unfollow(Topic::User(conn.user_id)).await;
            self.start_grace(conn.user_id);
        }
    }

    async fn set_rooms(&mut self, id: ConnId, conversations: Vec<ConversationId>, as_of: Cursor) {
        let Some(changes) = self
            .conns
            .get_mut(&id)
            .and_then(|c| c.membership_changes.take())
        else {
            return;
        };
        let mut rooms: HashSet<ConversationId> = conversations.into_iter().collect();
        for (cursor, conversation_id, joined) in changes {
            if cursor <= as_of {
                continue;
            }
            if joined {
                rooms.insert(conversation_id);
            } else {
                rooms.remove(&conversation_id);
            }
        }
        let current = self
            .conns
            .get(&id)
            .map(|c| c.rooms.clone())
            .unwrap_or_default();
        for conversation_id in current.difference(&rooms) {
            self.leave_room(id, *conversation_id).await;
        }
        for conversation_id in rooms.difference(&current) {
            self.enter_room(id, *conversation_id).await;
        }
    }

    /// Records a joining or leaving for connections whose rooms are not set yet; returns the others.
    fn settled(
        &mut self,
        ids: Vec<ConnId>,
        cursor: Cursor,
        conversation_id: ConversationId,
        joined: bool,
    ) -> Vec<ConnId> {
        ids.into_iter()
            .filter(|id| {
                match self
                    .conns
                    .get_mut(id)
                    .and_then(|c| c.membership_changes.as_mut())
                {
                    Some(changes) => {
                        changes.push((cursor, conversation_id, joined));
                        false
                    }
                    None => true,
                }
            })
            .collect()
    }

    /// The user's last connection here closed: they go offline unless one comes back within the grace.
    fn start_grace(&mut self, user_id: UserId) {
        self.grace_generation += 1;
        let generation = self.grace_generation;
        self.going_offline.insert(user_id, generation);
        let commands = self.commands.clone();
        let grace = self.presence_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = commands.send(Command::GraceOver {
                user_id,
                generation,
            });
        });
    }

    /// Puts a connection in a conversation's room, following the conversation if it is the room's first.
    async fn enter_room(&mut self, id: ConnId, conversation_id: ConversationId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.rooms.insert(conversation_id);
        if insert(&mut self.rooms, conversation_id, id) {
            self.follow(Topic::Conversation(conversation_id)).await;
        }
    }

    async fn leave_room(&mut self, id: ConnId, conversation_id: ConversationId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.rooms.remove(&conversation_id);
        }
        if remove(&mut self.rooms, &conversation_id, id) {
            self.unfollow(Topic::Conversation(conversation_id)).await;
        }
    }

    async fn watch(&mut self, id: ConnId, user_id: UserId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.watching.insert(user_id);
        if insert(&mut self.watchers, user_id, id) {
            self.follow(Topic::Presence(user_id)).await;
        }
    }

    /// The user's role in their organization changed: their connections here, authenticated with the old
    /// one, close (4006) once the `user.updated` queued before says so, and reconnect with the new one.
    fn close_if_role_changed(&self, user_id: UserId, role: Role) {
        for id in self.user_conns(user_id) {
            if self
                .conns
                .get(&id)
                .is_some_and(|c| c.caller.user.role != role)
            {
                self.push(id, Outbound::Close(ROLE_CHANGED));
            }
        }
    }

    fn user_conns(&self, user_id: UserId) -> Vec<ConnId> {
        self.by_user
            .get(&user_id)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    fn org_conns(&self, org_id: OrgId) -> Vec<ConnId> {
        self.by_org
            .get(&org_id)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    fn watcher_conns(&self, user_id: UserId) -> Vec<ConnId> {
        self.watchers
            .get(&user_id)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    fn room_conns(&self, conversation_id: ConversationId) -> Vec<ConnId> {
        self.rooms
            .get(&conversation_id)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Queues an item for a connection; a connection whose queue is full is closed, never waited for.
    fn push(&self, id: ConnId, item: Outbound) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        match conn.outbound.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("parley_ws_queue_drops_total").increment(1);
                close_with(
                    &conn.closer,
                    close::TOO_SLOW,
                    "too slow: resume from your cursor",
                );
            }
            // The connection is on its way out; its unregistration follows.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn deliver(&self, ids: &[ConnId], frame: &Arc<Frame>) {
        for id in ids {
            let resettling = self.conns.get(id).is_some_and(|c| c.resettling);
            if resettling && frame.cursor.is_some() {
                continue;
            }
            self.push(*id, Outbound::Frame(Arc::clone(frame)));
        }
    }

    /// The bus dropped signals for this node, joinings and leavings perhaps among them: every user's rooms,
    /// role and organization settings are read again (once per user, for all their connections), their
    /// connections catch up from the store, are told the settings, and close if the role changed. Until
    /// then, membership changes are logged per connection as at registration.
    fn resettle_everyone(&mut self) {
        tracing::warn!(
            "the bus dropped signals for this node; connections re-read their rooms and catch up"
        );
        for conn in self.conns.values_mut() {
            conn.membership_changes.get_or_insert_with(Vec::new);
            conn.resettling = true;
        }
        for ids in self.by_user.values() {
            let Some(conn) = ids.iter().find_map(|id| self.conns.get(id)) else {
                continue;
            };
            let (parley, commands, caller) = (
                Arc::clone(&self.parley),
                self.commands.clone(),
                Arc::clone(&conn.caller),
            );
            tokio::spawn(async move {
                match parley.resettle(&caller).await {
                    Ok(resettled) => {
                        let _ = commands.send(Command::Resettle {
                            user_id: caller.user.id,
                            resettled: Box::new(resettled),
                        });
                    }
                    // Its connections cannot be trusted to be in the right rooms: they reconnect and resume.
                    Err(error) => {
                        tracing::error!(
                            error = &error as &dyn std::error::Error,
                            "cannot re-read rooms after lag"
                        );
                        let _ = commands.send(Command::Drop {
                            user_id: caller.user.id,
                        });
                    }
                }
            });
        }
    }

    async fn route(&mut self, signal: &Signal) {
        match signal {
            Signal::Event(event) => self.route_event(signal, event).await,
            Signal::Typing {
                conversation_id,
                user_id,
            } => {
                let Some(message) = self.parley.signal_wire(signal) else {
                    return;
                };
                let frame = Arc::new(Frame::control(&message));
                let others: Vec<ConnId> = self
                    .room_conns(*conversation_id)
                    .into_iter()
                    .filter(|id| self.conns.get(id).is_some_and(|c| c.user_id != *user_id))
                    .collect();
                self.deliver(&others, &frame);
            }
            Signal::Presence { user_id, .. } => {
                let Some(message) = self.parley.signal_wire(signal) else {
                    return;
                };
                let watchers = self.watcher_conns(*user_id);
                self.deliver(&watchers, &Arc::new(Frame::control(&message)));
            }
            Signal::UserUpdated { profile, to } => {
                let Some(message) = self.parley.signal_wire(signal) else {
                    return;
                };
                let user_id = profile.id;
                let recipients: Vec<ConnId> = match to {
                    // The user's own devices get the other copy (their node follows their own topic),
                    // so one that also watches them is left out here rather than told twice.
                    ProfileCopy::Watchers => self
                        .watcher_conns(user_id)
                        .into_iter()
                        .filter(|id| self.conns.get(id).is_some_and(|c| c.user_id != user_id))
                        .collect(),
                    ProfileCopy::OwnDevices => self.user_conns(user_id),
                };
                self.deliver(&recipients, &Arc::new(Frame::control(&message)));
                if *to == ProfileCopy::OwnDevices {
                    self.close_if_role_changed(user_id, profile.role);
                }
            }
            Signal::OrgUpdated { org_id, .. } => {
                let Some(message) = self.parley.signal_wire(signal) else {
                    return;
                };
                let members = self.org_conns(*org_id);
                self.deliver(&members, &Arc::new(Frame::control(&message)));
            }
            Signal::Revoked { user_id, sessions } => {
                for id in self.user_conns(*user_id) {
                    if let Some(conn) = self
                        .conns
                        .get(&id)
                        .filter(|c| c.caller.session_ended(sessions))
                    {
                        close_with(&conn.closer, close::LOGGED_OUT, "logged out");
                    }
                }
            }
        }
    }

    async fn route_event(&mut self, signal: &Signal, event: &Event) {
        if event.cursor <= self.last_event {
            return;
        }
        self.last_event = event.cursor;
        let Some(message) = self.parley.signal_wire(signal) else {
            return;
        };
        let frame = Arc::new(Frame {
            text: encode(&message),
            cursor: Some(event.cursor),
            committed_at: Some(event.at),
        });
        let conversation_id = event.conversation_id;
        match (&event.kind, event.audience) {
            // A join or leave in a very large channel goes to the member's own devices only: their rooms
            // still change.
            (EventKind::MemberJoined { user_id }, audience) => {
                let joiner = self.user_conns(*user_id);
                let joiner = self.settled(joiner, event.cursor, conversation_id, true);
                // Connections that were not in the room have not heard the conversation's events so far (its
                // creation, say, or what was said since they connected): they catch up from the store, which
                // includes this very event. Those already in the room just get it.
                let mut newcomers = Vec::new();
                for id in joiner {
                    let already_in = self
                        .conns
                        .get(&id)
                        .is_some_and(|c| c.rooms.contains(&conversation_id));
                    if !already_in {
                        self.enter_room(id, conversation_id).await;
                        newcomers.push(id);
                    }
                }
                let told = match audience {
                    Audience::Members => self.room_conns(conversation_id),
                    Audience::User(_) => self.user_conns(*user_id),
                };
                let members: Vec<ConnId> = told
                    .into_iter()
                    .filter(|id| !newcomers.contains(id))
                    .collect();
                self.deliver(&members, &frame);
                for id in newcomers {
                    self.push(id, Outbound::CatchUp);
                }
            }
            (EventKind::MemberLeft { user_id, .. }, audience) => {
                let leaver = self.user_conns(*user_id);
                let leaver = self.settled(leaver, event.cursor, conversation_id, false);
                let mut recipients = match audience {
                    Audience::Members => self.room_conns(conversation_id),
                    Audience::User(_) => Vec::new(),
                };
                recipients.extend(
                    leaver
                        .iter()
                        .filter(|id| !recipients.contains(id))
                        .copied()
                        .collect::<Vec<_>>(),
                );
                self.deliver(&recipients, &frame);
                for id in leaver {
                    self.leave_room(id, conversation_id).await;
                }
            }
            (_, Audience::User(user_id)) => self.deliver(&self.user_conns(user_id), &frame),
            (_, Audience::Members) => self.deliver(&self.room_conns(conversation_id), &frame),
        }
    }
}
