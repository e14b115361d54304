//! The registry of this node's connections: which connection belongs to which user and organization, which
//! are in which conversation (a "room"), who watches whose presence, and which bus topics the node must
//! follow for them. It is pure: each input (a registration, a set of rooms, a signal from the bus, a lag, a
//! tick of the clock) changes its state and leaves effects (follow, unfollow, deliver these bytes to these
//! connections, catch up, close, reply) for the dispatcher to carry out. Nothing in it waits.
//!
//! Every connection is in the set of each topic it needs: its user's, its organization's, each of its rooms,
//! each user whose presence it watches. A topic is followed while its set is not empty. Following takes a
//! round trip to the broker; until it is confirmed, the connections that asked wait: a reply (or a catch-up)
//! is carried out once every follow the connection asked for before it is confirmed, so "from when
//! `register` returns, every event for it reaches its queue" holds without the dispatcher ever waiting for
//! the broker.
//!
//! A connection that will catch up from the store is "held": durable events are not queued for it until the
//! catch-up is, since writing a later event first would put its writer past the ones it has not seen. A new
//! connection is held until its rooms are set (its writer starts with a catch-up), one that joined a room
//! until the catch-up that follows the room's follow, and every connection after the bus lagged until its
//! user's rooms are read again.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parley_core::bus::{Ended, ProfileCopy, Signal, Topic};
use parley_core::model::{Audience, Event, EventKind};
use parley_core::proto::v1::Role;
use parley_core::{ConversationId, Cursor, OrgId, UserId};
use tokio::time::Instant;

use super::close;
use super::outbound::{Close, Frame, Outbound, ROLE_CHANGED};

#[cfg(test)]
mod tests;

pub(crate) type ConnId = u64;

/// Names one follow of a topic, so the confirmation of an older follow (the topic was unfollowed and
/// followed again meanwhile) is not taken for the newer one's.
pub(crate) type Ticket = u64;

/// Numbers each lag of the bus, so a re-read made for an earlier one (the bus lagged again while it ran) is
/// not taken for the re-read of the latest.
pub(crate) type Lag = u64;

/// What the dispatcher carries out after an input. `R` is how a caller waiting for its input is answered.
#[derive(Debug)]
pub(crate) enum Effect<R> {
    /// Subscribe to the topic, then confirm with `Registry::followed(topic, ticket)`.
    Follow {
        topic: Topic,
        ticket: Ticket,
    },
    Unfollow {
        topic: Topic,
    },
    /// Queue the frame for each connection (a full queue closes its connection as too slow).
    Deliver {
        to: Vec<ConnId>,
        frame: Arc<Frame>,
    },
    /// Queue an item for one connection.
    Queue {
        to: ConnId,
        item: Outbound,
    },
    /// Close a connection now, whatever it has queued.
    Close {
        to: ConnId,
        why: Close,
    },
    /// Those who waited for their input are answered: it is in effect.
    Reply(R),
    /// Announce that a user came online (true) or went offline.
    Presence {
        user_id: UserId,
        online: bool,
    },
    /// Read again the rooms, role and organization settings of this connection's user, then answer with
    /// `Registry::resettled` (or `resettle_failed`) and the same lag.
    Resettle {
        via: ConnId,
        lag: Lag,
    },
}

/// Who a connection is, as far as routing goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
}

/// What the registry asks of the value it keeps for each connection (the dispatcher's handle on it).
pub(crate) trait Session {
    /// Whether the session the connection was opened with is among `sessions`.
    fn ended(&self, sessions: &Ended) -> bool;
}

pub(crate) struct Registry<Q, R> {
    conns: HashMap<ConnId, Conn<Q, R>>,
    /// The connections that need each followed topic.
    topics: HashMap<Topic, Followed>,
    next_ticket: Ticket,
    /// The cursor of the last event routed. Events come in cursor order; one that comes again (it was
    /// published on two followed topics, as a joining is) is not routed twice.
    last_event: Cursor,
    /// How many connections are held, so that delivering to a room need not look at each when none is.
    held: usize,
    lags: Lag,
    presence_grace: Duration,
    /// Users whose last connection closed, by when they go offline unless one comes back.
    going_offline: HashMap<UserId, Instant>,
    deadlines: BinaryHeap<Reverse<(Instant, UserId)>>,
    closing: bool,
    effects: Vec<Effect<R>>,
}

struct Conn<Q, R> {
    member: Member,
    handle: Q,
    rooms: HashSet<ConversationId>,
    watching: HashSet<UserId>,
    /// Until its rooms are set: the user's joinings (true) and leavings (false) seen meanwhile, by cursor.
    membership_changes: Option<Vec<(Cursor, ConversationId, bool)>>,
    /// Until its rooms are first set: held, since its writer starts with a catch-up.
    starting: bool,
    /// After a lag, the lag whose re-read it waits for: held, and logging membership changes.
    resettle: Option<Lag>,
    /// Catch-ups waiting for follows: held.
    catch_ups: u32,
    /// What it waits for, while it waits for anything: boxed, as most connections wait for nothing.
    waiting: Option<Box<Waiting<R>>>,
}

/// The follows a connection waits for, and what waits for them.
struct Waiting<R> {
    /// Numbers the follows it waits for, in the order it asked for them.
    waits: Wait,
    /// The follows it waits for that are not confirmed yet, in increasing order.
    unconfirmed: Vec<Wait>,
    /// What to carry out once every follow asked for up to its number is confirmed, in that order.
    then: Vec<(Wait, Then<R>)>,
}

impl<Q, R> Conn<Q, R> {
    fn held(&self) -> bool {
        self.starting || self.resettle.is_some() || self.catch_ups > 0
    }
}

/// The number of a follow one connection waits for.
type Wait = u32;

/// What waits for a connection's follows.
enum Then<R> {
    Reply(R),
    /// The reply to setting its rooms, which ends its start.
    RoomsSet(R),
    CatchUp,
}

/// A followed topic: who needs it, and who waits for it to be confirmed.
#[derive(Default)]
struct Followed {
    conns: HashSet<ConnId>,
    /// The follow not confirmed yet, and the connections waiting for it (each with its number there).
    pending: Option<Box<Pending>>,
}

/// A follow not confirmed yet, and the connections waiting for it (each with its number there).
type Pending = (Ticket, Vec<(ConnId, Wait)>);

/// A registration refused (the server is shutting down): the handle given back, to close with `why`.
pub(crate) struct Refused<Q> {
    pub handle: Q,
    pub why: Close,
}

impl<Q: Session, R> Registry<Q, R> {
    pub(crate) fn new(presence_grace: Duration) -> Self {
        Registry {
            conns: HashMap::new(),
            topics: HashMap::new(),
            next_ticket: 0,
            last_event: Cursor(0),
            held: 0,
            lags: 0,
            presence_grace,
            going_offline: HashMap::new(),
            deadlines: BinaryHeap::new(),
            closing: false,
            effects: Vec::new(),
        }
    }

    /// The effects left by the inputs so far, in order; hand the vector back with `recycle`.
    pub(crate) fn take_effects(&mut self) -> Vec<Effect<R>> {
        std::mem::take(&mut self.effects)
    }

    /// Gives back a drained vector from `take_effects`, so its capacity is reused.
    pub(crate) fn recycle(&mut self, mut drained: Vec<Effect<R>>) {
        if self.effects.is_empty() {
            drained.clear();
            self.effects = drained;
        }
    }

    /// The handle kept for a connection.
    pub(crate) fn handle(&self, id: ConnId) -> Option<&Q> {
        self.conns.get(&id).map(|c| &c.handle)
    }

    /// Connections registered.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// When the next presence grace runs out, if one is running.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Adds a connection, in its user's and organization's sets and watching its contacts. `reply` is
    /// answered once every event for it reaches its queue. Its rooms come after (`set_rooms`), read once it
    /// already hears its user's membership changes, so none can fall in between. While the server shuts
    /// down, the connection is refused instead (and `reply` answered at once).
    pub(crate) fn register(
        &mut self,
        id: ConnId,
        member: Member,
        contacts: Vec<UserId>,
        handle: Q,
        reply: R,
    ) -> Result<(), Refused<Q>> {
        if self.closing {
            self.effects.push(Effect::Reply(reply));
            return Err(Refused {
                handle,
                why: SHUTTING_DOWN,
            });
        }
        let user_id = member.user_id;
        let first_here = !self.topics.contains_key(&Topic::User(user_id));
        self.conns.insert(
            id,
            Conn {
                member,
                handle,
                rooms: HashSet::new(),
                watching: HashSet::new(),
                membership_changes: Some(Vec::new()),
                starting: true,
                resettle: None,
                catch_ups: 0,
                waiting: None,
            },
        );
        self.held += 1;
        self.subscribe(id, Topic::User(user_id));
        self.subscribe(id, Topic::Org(member.org_id));
        for contact in contacts {
            self.watch_one(id, contact);
        }
        // A reconnect within the grace period cancels the pending "offline" instead of flapping.
        let was_going_offline = self.going_offline.remove(&user_id).is_some();
        if first_here && !was_going_offline {
            self.effects.push(Effect::Presence {
                user_id,
                online: true,
            });
        }
        self.when_followed(id, Then::Reply(reply));
        Ok(())
    }

    /// Removes a connection. The user goes offline a grace period after `now` unless one of theirs comes
    /// back.
    pub(crate) fn unregister(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        if conn.held() {
            self.held -= 1;
        }
        for conversation_id in &conn.rooms {
            self.unsubscribe(id, Topic::Conversation(*conversation_id));
        }
        for user_id in &conn.watching {
            self.unsubscribe(id, Topic::Presence(*user_id));
        }
        self.unsubscribe(id, Topic::Org(conn.member.org_id));
        let user_id = conn.member.user_id;
        if self.unsubscribe(id, Topic::User(user_id)) {
            let deadline = now + self.presence_grace;
            self.going_offline.insert(user_id, deadline);
            self.deadlines.push(Reverse((deadline, user_id)));
        }
    }

    /// Puts a registered connection in its conversations' rooms: `conversations` is exact as of `as_of`, and
    /// any joining or leaving after it that the registry already saw is applied on top.
    pub(crate) fn set_rooms(
        &mut self,
        id: ConnId,
        conversations: Vec<ConversationId>,
        as_of: Cursor,
        reply: R,
    ) {
        // While a re-read after a lag is due, the log of membership changes is kept for it: these rooms may
        // have been read before changes the bus dropped.
        let keep_log = self.conns.get(&id).is_some_and(|c| c.resettle.is_some());
        self.settle_rooms(id, conversations, as_of, keep_log);
        self.when_followed(id, Then::RoomsSet(reply));
    }

    /// Adds users whose presence the connection follows.
    pub(crate) fn watch(&mut self, id: ConnId, user_ids: Vec<UserId>, reply: R) {
        for user_id in user_ids {
            self.watch_one(id, user_id);
        }
        self.when_followed(id, Then::Reply(reply));
    }

    /// The broker confirmed a follow (`ok`), or it failed: either way, who waited for it goes on. After a
    /// failure they also catch up from the store, since the topic's events may not have reached them.
    pub(crate) fn followed(&mut self, topic: Topic, ticket: Ticket, ok: bool) {
        let Some(followed) = self.topics.get_mut(&topic) else {
            return;
        };
        if followed.pending.as_ref().is_none_or(|p| p.0 != ticket) {
            return;
        }
        if let Some((_, waiting)) = followed.pending.take().map(|p| *p) {
            for (id, wait) in waiting {
                self.release(id, wait);
                if !ok {
                    self.catch_up(id);
                }
            }
        }
    }

    /// Routes a signal from the bus. `frame` encodes it, once, if anyone here is to get it.
    pub(crate) fn route(&mut self, signal: &Signal, frame: impl FnOnce() -> Option<Arc<Frame>>) {
        match signal {
            Signal::Event(event) => self.route_event(event, frame),
            Signal::Typing {
                conversation_id,
                user_id,
            } => {
                let others = self.conns_of(Topic::Conversation(*conversation_id), |c| {
                    c.member.user_id != *user_id
                });
                self.deliver(others, false, frame);
            }
            Signal::Presence { user_id, .. } => {
                let watchers = self.conns_of(Topic::Presence(*user_id), |_| true);
                self.deliver(watchers, false, frame);
            }
            Signal::UserUpdated { profile, to } => {
                let user_id = profile.id;
                let recipients = match to {
                    // The user's own devices get the other copy (their node follows their own topic), so one
                    // that also watches them is left out here rather than told twice.
                    ProfileCopy::Watchers => {
                        self.conns_of(Topic::Presence(user_id), |c| c.member.user_id != user_id)
                    }
                    ProfileCopy::OwnDevices => self.conns_of(Topic::User(user_id), |_| true),
                };
                self.deliver(recipients, false, frame);
                if *to == ProfileCopy::OwnDevices {
                    self.close_if_role_changed(user_id, profile.role);
                }
            }
            Signal::OrgUpdated { org_id, .. } => {
                let members = self.conns_of(Topic::Org(*org_id), |_| true);
                self.deliver(members, false, frame);
            }
            Signal::Revoked { user_id, sessions } => {
                for to in self.conns_of(Topic::User(*user_id), |c| c.handle.ended(sessions)) {
                    self.effects.push(Effect::Close {
                        to,
                        why: LOGGED_OUT,
                    });
                }
            }
        }
    }

    /// The bus dropped signals for this node, joinings and leavings perhaps among them: every user's rooms,
    /// role and organization settings are read again (once per user, for all their connections), and until
    /// their connections catch up they are held. Membership changes meanwhile are logged per connection as
    /// at registration.
    pub(crate) fn lagged(&mut self) {
        self.lags += 1;
        let lag = self.lags;
        for conn in self.conns.values_mut() {
            conn.membership_changes.get_or_insert_with(Vec::new);
            if !conn.held() {
                self.held += 1;
            }
            conn.resettle = Some(lag);
        }
        for (topic, followed) in &self.topics {
            if let (Topic::User(_), Some(via)) = (topic, followed.conns.iter().next()) {
                self.effects.push(Effect::Resettle { via: *via, lag });
            }
        }
    }

    /// A user's rooms, role and organization settings, read again after lag `lag`: the user's connections
    /// that wait for that re-read (not for a later one) have their rooms set anew, catch up, are told the
    /// settings (`settings`, encoded), and close if the role changed.
    pub(crate) fn resettled(
        &mut self,
        user_id: UserId,
        lag: Lag,
        conversations: Vec<ConversationId>,
        as_of: Cursor,
        role: Role,
        settings: Option<Arc<Frame>>,
    ) {
        let ids = self.conns_of(Topic::User(user_id), |c| c.resettle == Some(lag));
        for &id in &ids {
            self.settle_rooms(id, conversations.clone(), as_of, false);
            if let Some(conn) = self.conns.get_mut(&id) {
                // Still held, by the catch-up now.
                conn.resettle = None;
                conn.catch_ups += 1;
            }
            self.when_followed(id, Then::CatchUp);
        }
        // A lost `org.updated` or `user.updated` is never replayed: the settings as they are now, and a close
        // for a connection whose role is not the user's any more.
        self.deliver(ids.clone(), false, || settings);
        for to in ids {
            if self.conns.get(&to).is_some_and(|c| c.member.role != role) {
                self.effects.push(Effect::Queue {
                    to,
                    item: Outbound::Close(&ROLE_CHANGED),
                });
            }
        }
    }

    /// A user's rooms could not be read again after lag `lag`: their connections that waited for it close
    /// (1011), to reconnect and resume.
    pub(crate) fn resettle_failed(&mut self, user_id: UserId, lag: Lag) {
        for to in self.conns_of(Topic::User(user_id), |c| c.resettle == Some(lag)) {
            self.effects.push(Effect::Close {
                to,
                why: SERVER_ERROR,
            });
        }
    }

    /// Users whose grace ran out by `now`, with no connection back, go offline.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(Reverse((at, user_id))) = self.deadlines.peek().copied() {
            if at > now {
                return;
            }
            self.deadlines.pop();
            if self.going_offline.get(&user_id) == Some(&at) {
                self.going_offline.remove(&user_id);
                self.effects.push(Effect::Presence {
                    user_id,
                    online: false,
                });
            }
        }
    }

    /// The organizations with connections here.
    pub(crate) fn orgs(&self) -> Vec<OrgId> {
        self.topics
            .keys()
            .filter_map(|topic| match topic {
                Topic::Org(org) => Some(*org),
                _ => None,
            })
            .collect()
    }

    /// The organization moved to another shard: its connections here close (1012) once what was queued is
    /// written, and reconnect, which takes them to its new shard.
    pub(crate) fn close_org(&mut self, org_id: OrgId) {
        for to in self.conns_of(Topic::Org(org_id), |_| true) {
            self.effects.push(Effect::Queue {
                to,
                item: Outbound::Close(&MOVED),
            });
        }
    }

    /// Closes every connection to reconnect elsewhere, and every later one at once.
    pub(crate) fn close_all(&mut self) {
        self.closing = true;
        for &to in self.conns.keys() {
            self.effects.push(Effect::Close {
                to,
                why: SHUTTING_DOWN,
            });
        }
    }

    fn route_event(&mut self, event: &Event, frame: impl FnOnce() -> Option<Arc<Frame>>) {
        if event.cursor <= self.last_event {
            return;
        }
        self.last_event = event.cursor;
        let conversation_id = event.conversation_id;
        let room = Topic::Conversation(conversation_id);
        match (&event.kind, event.audience) {
            // A join or leave in a very large channel goes to the member's own devices only: their rooms
            // still change.
            (EventKind::MemberJoined { user_id }, audience) => {
                let joiner = self.unsettled(*user_id, event.cursor, conversation_id, true);
                // Connections that were not in the room have not heard the conversation's events so far (its
                // creation, say, or what was said since they connected): they catch up from the store, which
                // includes this very event, once the room's topic is followed. Those already in it get it.
                let mut newcomers = Vec::new();
                for id in joiner {
                    if self.enter_room(id, conversation_id) {
                        self.catch_up(id);
                        newcomers.push(id);
                    }
                }
                let told = match audience {
                    Audience::Members => room,
                    Audience::User(_) => Topic::User(*user_id),
                };
                let told = self.conns_of(told, |_| true);
                let told = told.into_iter().filter(|id| !newcomers.contains(id));
                self.deliver(told.collect(), true, frame);
            }
            (EventKind::MemberLeft { user_id, .. }, audience) => {
                let leaver = self.unsettled(*user_id, event.cursor, conversation_id, false);
                let mut recipients = match audience {
                    Audience::Members => self.conns_of(room, |_| true),
                    Audience::User(_) => Vec::new(),
                };
                for id in &leaver {
                    if !recipients.contains(id) {
                        recipients.push(*id);
                    }
                }
                self.deliver(recipients, true, frame);
                for id in leaver {
                    self.leave_room(id, conversation_id);
                }
            }
            (_, Audience::User(user_id)) => {
                let devices = self.conns_of(Topic::User(user_id), |_| true);
                self.deliver(devices, true, frame);
            }
            (_, Audience::Members) => {
                let members = self.conns_of(room, |_| true);
                self.deliver(members, true, frame);
            }
        }
    }

    /// Queues the frame for each connection, leaving out held ones if it is a durable event. Nothing is
    /// encoded when nobody is to get it.
    fn deliver(
        &mut self,
        mut to: Vec<ConnId>,
        durable: bool,
        frame: impl FnOnce() -> Option<Arc<Frame>>,
    ) {
        if durable && self.held > 0 {
            to.retain(|id| self.conns.get(id).is_some_and(|c| !c.held()));
        }
        if to.is_empty() {
            return;
        }
        if let Some(frame) = frame() {
            self.effects.push(Effect::Deliver { to, frame });
        }
    }

    /// The connections in a topic's set that pass `filter`.
    fn conns_of(&self, topic: Topic, filter: impl Fn(&Conn<Q, R>) -> bool) -> Vec<ConnId> {
        let Some(followed) = self.topics.get(&topic) else {
            return Vec::new();
        };
        followed
            .conns
            .iter()
            .filter(|id| self.conns.get(id).is_some_and(&filter))
            .copied()
            .collect()
    }

    /// The user's connections whose rooms are set; for the others, whose rooms are still being read, the
    /// joining or leaving is recorded to apply on top.
    fn unsettled(
        &mut self,
        user_id: UserId,
        cursor: Cursor,
        conversation_id: ConversationId,
        joined: bool,
    ) -> Vec<ConnId> {
        let mut settled = self.conns_of(Topic::User(user_id), |_| true);
        settled.retain(|id| {
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
        });
        settled
    }

    /// Sets a connection's rooms to `conversations` (exact as of `as_of`) and the joinings and leavings
    /// logged after it, once: later calls find no log and change nothing, unless `keep_log`.
    fn settle_rooms(
        &mut self,
        id: ConnId,
        conversations: Vec<ConversationId>,
        as_of: Cursor,
        keep_log: bool,
    ) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let changes = if keep_log {
            conn.membership_changes.clone()
        } else {
            conn.membership_changes.take()
        };
        let Some(changes) = changes else {
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
        let current = conn.rooms.clone();
        for conversation_id in current.difference(&rooms) {
            self.leave_room(id, *conversation_id);
        }
        for conversation_id in rooms.difference(&current) {
            self.enter_room(id, *conversation_id);
        }
    }

    /// Puts a connection in a room; false if it was already in it.
    fn enter_room(&mut self, id: ConnId, conversation_id: ConversationId) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        if !conn.rooms.insert(conversation_id) {
            return false;
        }
        self.subscribe(id, Topic::Conversation(conversation_id));
        true
    }

    fn leave_room(&mut self, id: ConnId, conversation_id: ConversationId) {
        if let Some(conn) = self.conns.get_mut(&id)
            && conn.rooms.remove(&conversation_id)
        {
            self.unsubscribe(id, Topic::Conversation(conversation_id));
        }
    }

    fn watch_one(&mut self, id: ConnId, user_id: UserId) {
        if let Some(conn) = self.conns.get_mut(&id)
            && conn.watching.insert(user_id)
        {
            self.subscribe(id, Topic::Presence(user_id));
        }
    }

    /// Adds the connection to the topic's set, following the topic if it is the first; while the follow is
    /// not confirmed, the connection waits for it.
    fn subscribe(&mut self, id: ConnId, topic: Topic) {
        let followed = match self.topics.entry(topic) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                self.next_ticket += 1;
                let ticket = self.next_ticket;
                self.effects.push(Effect::Follow { topic, ticket });
                entry.insert(Followed {
                    conns: HashSet::new(),
                    pending: Some(Box::new((ticket, Vec::new()))),
                })
            }
        };
        if !followed.conns.insert(id) {
            return;
        }
        if let Some(pending) = followed.pending.as_mut()
            && let Some(conn) = self.conns.get_mut(&id)
        {
            let waiting = conn.waiting.get_or_insert_with(|| {
                Box::new(Waiting {
                    waits: 0,
                    unconfirmed: Vec::new(),
                    then: Vec::new(),
                })
            });
            waiting.waits += 1;
            waiting.unconfirmed.push(waiting.waits);
            pending.1.push((id, waiting.waits));
        }
    }

    /// Takes the connection out of the topic's set, unfollowing the topic if it was the last; true then.
    /// Whoever still waited for that follow needs it no more.
    fn unsubscribe(&mut self, id: ConnId, topic: Topic) -> bool {
        let Entry::Occupied(mut entry) = self.topics.entry(topic) else {
            return false;
        };
        entry.get_mut().conns.remove(&id);
        if !entry.get().conns.is_empty() {
            return false;
        }
        let followed = entry.remove();
        self.effects.push(Effect::Unfollow { topic });
        if let Some((_, waiting)) = followed.pending.map(|p| *p) {
            for (id, wait) in waiting {
                self.release(id, wait);
            }
        }
        true
    }

    /// A connection that joined a room (or whose follow failed) catches up once the room is followed, held
    /// until then.
    fn catch_up(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !conn.held() {
            self.held += 1;
        }
        conn.catch_ups += 1;
        self.when_followed(id, Then::CatchUp);
    }

    /// Carries out `then` once every follow the connection asked for so far is confirmed (at once if none is
    /// pending). A reply to a connection that is gone is given at once: it will find out.
    fn when_followed(&mut self, id: ConnId, then: Then<R>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            match then {
                Then::Reply(reply) | Then::RoomsSet(reply) => {
                    self.effects.push(Effect::Reply(reply))
                }
                Then::CatchUp => {}
            }
            return;
        };
        match conn.waiting.as_mut() {
            Some(waiting) => {
                waiting.then.push((waiting.waits, then));
                self.carry_out_ready(id);
            }
            None => self.carry_out(id, then),
        }
    }

    /// Follow number `wait` of the connection is confirmed (or no longer needed).
    fn release(&mut self, id: ConnId, wait: Wait) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if let Some(waiting) = conn.waiting.as_mut() {
            waiting.unconfirmed.retain(|w| *w != wait);
        }
        self.carry_out_ready(id);
    }

    /// Carries out, in order, what waits for no follow that is still unconfirmed; once nothing waits, the
    /// connection's `Waiting` goes.
    fn carry_out_ready(&mut self, id: ConnId) {
        let Some(waiting) = self.conns.get_mut(&id).and_then(|c| c.waiting.as_mut()) else {
            return;
        };
        let oldest = waiting.unconfirmed.first().copied().unwrap_or(Wait::MAX);
        let ready = waiting
            .then
            .iter()
            .take_while(|(after, _)| *after < oldest)
            .count();
        let ready: Vec<Then<R>> = waiting.then.drain(..ready).map(|(_, then)| then).collect();
        if waiting.unconfirmed.is_empty()
            && waiting.then.is_empty()
            && let Some(conn) = self.conns.get_mut(&id)
        {
            conn.waiting = None;
        }
        for then in ready {
            self.carry_out(id, then);
        }
    }

    fn carry_out(&mut self, id: ConnId, then: Then<R>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let was_held = conn.held();
        match then {
            Then::Reply(reply) => self.effects.push(Effect::Reply(reply)),
            Then::RoomsSet(reply) => {
                conn.starting = false;
                self.effects.push(Effect::Reply(reply));
            }
            Then::CatchUp => {
                conn.catch_ups = conn.catch_ups.saturating_sub(1);
                self.effects.push(Effect::Queue {
                    to: id,
                    item: Outbound::CatchUp,
                });
            }
        }
        if was_held && !conn.held() {
            self.held -= 1;
        }
    }

    /// The user's role in their organization changed: their connections here, authenticated with the old
    /// one, close (4006) once what was queued before (the `user.updated` that says so) is written.
    fn close_if_role_changed(&mut self, user_id: UserId, role: Role) {
        for to in self.conns_of(Topic::User(user_id), |c| c.member.role != role) {
            self.effects.push(Effect::Queue {
                to,
                item: Outbound::Close(&ROLE_CHANGED),
            });
        }
    }
}

const SHUTTING_DOWN: Close = Close {
    code: close::RESTART,
    reason: "server shutting down",
};

const MOVED: Close = Close {
    code: close::RESTART,
    reason: "the organization moved: reconnect and resume",
};

const LOGGED_OUT: Close = Close {
    code: close::LOGGED_OUT,
    reason: "logged out",
};

const SERVER_ERROR: Close = Close {
    code: close::INTERNAL,
    reason: "server error: reconnect and resume",
};
