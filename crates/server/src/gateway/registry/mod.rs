//! The registry of this node's connections: which connection belongs to which user and organization, which
//! are in which conversation (a "room"), who watches whose presence, and which bus topics the node must
//! follow for them. It is pure: each input (a registration, a set of rooms, a signal from the bus, a lag, a
//! tick of the clock) changes its state and leaves effects (follow, unfollow, deliver these bytes to these
//! connections, catch up, close, reply) for the dispatcher to carry out. Nothing in it waits.
//!
//! Every connection is in the set of each topic it needs: its user's, its organization's, each of its rooms,
//! each user whose presence it watches. A topic is followed while its set is not empty. Following takes a
//! round trip to the broker; until it is confirmed, the connections that asked wait: their replies (and
//! catch-ups) are held until every topic they wait for is confirmed, so "from when `register` returns,
//! every event for it reaches its queue" holds without the dispatcher ever waiting for the broker.
//!
//! A connection that will catch up from the store is "held": durable events are not queued for it until the
//! catch-up is, since writing a later event first would put its writer past the ones it has not seen.

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
    /// `Registry::resettled` (or `resettle_failed`).
    Resettle {
        via: ConnId,
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
    /// Durable events are not queued for it: a catch-up is coming that will write them.
    held: bool,
    /// Follows it waits for; when none is left, `then` is carried out.
    awaiting: usize,
    then: Vec<Then<R>>,
}

/// What waits for a connection's follows.
enum Then<R> {
    Reply(R),
    CatchUp,
}

/// A followed topic: who needs it, and who waits for it to be confirmed.
#[derive(Default)]
struct Followed {
    conns: HashSet<ConnId>,
    /// The follow not confirmed yet, and the connections waiting for it.
    pending: Option<(Ticket, Vec<ConnId>)>,
}

impl<Q: Session, R> Registry<Q, R> {
    pub(crate) fn new(presence_grace: Duration) -> Self {
        Registry {
            conns: HashMap::new(),
            topics: HashMap::new(),
            next_ticket: 0,
            last_event: Cursor(0),
            held: 0,
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
    /// already hears its user's membership changes, so none can fall in between.
    pub(crate) fn register(
        &mut self,
        id: ConnId,
        member: Member,
        contacts: Vec<UserId>,
        handle: Q,
        reply: R,
    ) {
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
                held: false,
                awaiting: 0,
                then: Vec::new(),
            },
        );
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
        if self.closing {
            self.effects.push(Effect::Close {
                to: id,
                why: SHUTTING_DOWN,
            });
        }
        self.when_followed(id, Then::Reply(reply));
    }

    /// Removes a connection. The user goes offline a grace period after `now` unless one of theirs comes
    /// back.
    pub(crate) fn unregister(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        if conn.held {
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
        self.settle_rooms(id, conversations, as_of);
        self.when_followed(id, Then::Reply(reply));
    }

    /// Adds users whose presence the connection follows.
    pub(crate) fn watch(&mut self, id: ConnId, user_ids: Vec<UserId>, reply: R) {
        for user_id in user_ids {
            self.watch_one(id, user_id);
        }
        self.when_followed(id, Then::Reply(reply));
    }

    /// The broker confirmed a follow: who waited for it (and nothing else) gets what they waited for.
    pub(crate) fn followed(&mut self, topic: Topic, ticket: Ticket) {
        let Some(followed) = self.topics.get_mut(&topic) else {
            return;
        };
        if followed.pending.as_ref().is_none_or(|(t, _)| *t != ticket) {
            return;
        }
        if let Some((_, waiting)) = followed.pending.take() {
            for id in waiting {
                self.release(id);
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
                self.deliver(others, frame);
            }
            Signal::Presence { user_id, .. } => {
                let watchers = self.conns_of(Topic::Presence(*user_id), |_| true);
                self.deliver(watchers, frame);
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
                self.deliver(recipients, frame);
                if *to == ProfileCopy::OwnDevices {
                    self.close_if_role_changed(user_id, profile.role);
                }
            }
            Signal::OrgUpdated { org_id, .. } => {
                let members = self.conns_of(Topic::Org(*org_id), |_| true);
                self.deliver(members, frame);
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
        for conn in self.conns.values_mut() {
            conn.membership_changes.get_or_insert_with(Vec::new);
            if !conn.held {
                conn.held = true;
                self.held += 1;
            }
        }
        for (topic, followed) in &self.topics {
            if let (Topic::User(_), Some(via)) = (topic, followed.conns.iter().next()) {
                self.effects.push(Effect::Resettle { via: *via });
            }
        }
    }

    /// A user's rooms, role and organization settings, read again after a lag: their connections' rooms are
    /// set anew, they catch up, they are told the settings (`settings`, encoded), and they close if the
    /// role changed.
    pub(crate) fn resettled(
        &mut self,
        user_id: UserId,
        conversations: Vec<ConversationId>,
        as_of: Cursor,
        role: Role,
        settings: Option<Arc<Frame>>,
    ) {
        let ids = self.conns_of(Topic::User(user_id), |_| true);
        for &id in &ids {
            self.settle_rooms(id, conversations.clone(), as_of);
            self.when_followed(id, Then::CatchUp);
        }
        // A lost `org.updated` or `user.updated` is never replayed: the settings as they are now, and a close
        // for a connection whose role is not the user's any more.
        self.deliver(ids, || settings);
        self.close_if_role_changed(user_id, role);
    }

    /// A user's rooms could not be read again: their connections here close (1011), to reconnect and resume.
    pub(crate) fn resettle_failed(&mut self, user_id: UserId) {
        for to in self.conns_of(Topic::User(user_id), |_| true) {
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
                        self.when_followed(id, Then::CatchUp);
                        newcomers.push(id);
                    }
                }
                let told = match audience {
                    Audience::Members => room,
                    Audience::User(_) => Topic::User(*user_id),
                };
                let told = self.conns_of(told, |_| true);
                let told = told.into_iter().filter(|id| !newcomers.contains(id));
                self.deliver(told.collect(), frame);
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
                self.deliver(recipients, frame);
                for id in leaver {
                    self.leave_room(id, conversation_id);
                }
            }
            (_, Audience::User(user_id)) => {
                let devices = self.conns_of(Topic::User(user_id), |_| true);
                self.deliver(devices, frame);
            }
            (_, Audience::Members) => {
                let members = self.conns_of(room, |_| true);
                self.deliver(members, frame);
            }
        }
    }

    /// Queues the frame for each connection, leaving out held ones if it is a durable event. Nothing is
    /// encoded when nobody is to get it.
    fn deliver(&mut self, mut to: Vec<ConnId>, frame: impl FnOnce() -> Option<Arc<Frame>>) {
        if to.is_empty() {
            return;
        }
        let Some(frame) = frame() else {
            return;
        };
        if frame.cursor.is_some() && self.held > 0 {
            to.retain(|id| self.conns.get(id).is_some_and(|c| !c.held));
        }
        if !to.is_empty() {
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

    fn settle_rooms(&mut self, id: ConnId, conversations: Vec<ConversationId>, as_of: Cursor) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(changes) = conn.membership_changes.take() else {
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
                    pending: Some((ticket, Vec::new())),
                })
            }
        };
        if !followed.conns.insert(id) {
            return;
        }
        if let Some((_, waiting)) = followed.pending.as_mut() {
            waiting.push(id);
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.awaiting += 1;
            }
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
        if let Some((_, waiting)) = followed.pending {
            for id in waiting {
                self.release(id);
            }
        }
        true
    }

    /// Carries out `then` once the connection waits for no follow (at once if it waits for none).
    fn when_followed(&mut self, id: ConnId, then: Then<R>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            // Gone: whoever waits for the reply is told by its being dropped.
            return;
        };
        if matches!(then, Then::CatchUp) && !conn.held {
            conn.held = true;
            self.held += 1;
        }
        conn.then.push(then);
        if conn.awaiting == 0 {
            self.carry_out_then(id);
        }
    }

    /// One follow the connection waited for is confirmed (or no longer needed).
    fn release(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.awaiting = conn.awaiting.saturating_sub(1);
        if conn.awaiting == 0 {
            self.carry_out_then(id);
        }
    }

    fn carry_out_then(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        for then in std::mem::take(&mut conn.then) {
            match then {
                Then::Reply(reply) => self.effects.push(Effect::Reply(reply)),
                Then::CatchUp => {
                    if conn.held {
                        conn.held = false;
                        self.held -= 1;
                    }
                    self.effects.push(Effect::Queue {
                        to: id,
                        item: Outbound::CatchUp,
                    });
                }
            }
        }
    }

    /// The user's role in their organization changed: their connections here, authenticated with the old
    /// one, close (4006) once what was queued before (the `user.updated` that says so) is written.
    fn close_if_role_changed(&mut self, user_id: UserId, role: Role) {
        for to in self.conns_of(Topic::User(user_id), |c| c.member.role != role) {
            self.effects.push(Effect::Queue {
                to,
                item: Outbound::Close(ROLE_CHANGED),
            });
        }
    }
}

const SHUTTING_DOWN: Close = Close {
    code: close::RESTART,
    reason: "server shutting down",
};

const LOGGED_OUT: Close = Close {
    code: close::LOGGED_OUT,
    reason: "logged out",
};

const SERVER_ERROR: Close = Close {
    code: close::INTERNAL,
    reason: "server error: reconnect and resume",
};
