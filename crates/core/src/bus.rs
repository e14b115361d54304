//! The Bus trait: how events reach every node that has someone to tell, and who is online. Owned here;
//! implemented by `parley-bus`.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use parley_proto::v1::OrgSettings;
use serde::{Deserialize, Serialize};

use crate::model::{Audience, Event, EventKind, Millis, Profile};
use crate::{ConversationId, Cursor, OrgId, UserId};

/// Where a message is published. Typed, so no code glues topic strings together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everyone in a conversation.
    Conversation(ConversationId),
    /// One user's own devices.
    User(UserId),
    /// Whoever follows one user's presence.
    Presence(UserId),
    /// The connected devices of every member of an organization.
    Org(OrgId),
}

/// What travels on the bus: durable events, and the ephemeral signals that are never stored.
// Each signal is made once and shared in an `Arc` by every receiver, so its size is paid once per signal;
// boxing the event would add an allocation to every one instead.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Signal {
    Event(Event),
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    Presence {
        user_id: UserId,
        online: bool,
        last_seen: Option<Millis>,
    },
    /// Sessions of a user ended: sockets opened with them must close.
    Revoked {
        user_id: UserId,
        sessions: Ended,
    },
    /// A user's name or avatar changed. Published twice, on `Topic::Presence` for whoever follows them and
    /// on `Topic::User` for their own devices; `to` names the copy, so a node that follows both topics
    /// (a device of the user's that also follows them) still tells each connection once.
    UserUpdated {
        profile: Profile,
        to: ProfileCopy,
    },
    /// An organization's settings changed; published on `Topic::Org`. They travel as members read them
    /// (`GET /v1/org/settings`), worked out once by the node that made the change, so every node sends the
    /// same frame without reading the store.
    OrgUpdated {
        org_id: OrgId,
        settings: OrgSettings,
    },
}

/// Which of a user's sessions ended, by the SHA-256 of their tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ended {
    /// One session (a logout).
    One([u8; 32]),
    /// Every one (logging out everywhere, a deactivation).
    All,
    /// Every one but this (a password change keeps the session that made it).
    AllBut([u8; 32]),
}

impl Ended {
    /// Whether the session whose token hashes to `token_hash` is among those that ended.
    pub fn includes(&self, token_hash: &[u8; 32]) -> bool {
        match self {
            Ended::One(hash) => hash == token_hash,
            Ended::All => true,
            Ended::AllBut(hash) => hash != token_hash,
        }
    }
}

/// Which connections one copy of `Signal::UserUpdated` is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileCopy {
    /// Those following the user's presence (contacts and `presence_sub`), the user's own devices excepted.
    Watchers,
    /// The user's own devices.
    OwnDevices,
}

impl Event {
    /// The topics this event goes to. Private events go to their user only. A member who joins or leaves
    /// also hears it on their own topic, since their devices may not follow the conversation (yet, or any
    /// more).
    pub fn topics(&self) -> Vec<Topic> {
        let conversation = Topic::Conversation(self.conversation_id);
        match (&self.kind, self.audience) {
            (_, Audience::User(user_id)) => vec![Topic::User(user_id)],
            (
                EventKind::MemberJoined { user_id } | EventKind::MemberLeft { user_id, .. },
                Audience::Members,
            ) => {
                vec![conversation, Topic::User(*user_id)]
            }
            (_, Audience::Members) => vec![conversation],
        }
    }
}

/// What an inbox receives.
#[derive(Clone, Debug)]
pub enum Delivery {
    Signal(Arc<Signal>),
    /// The inbox fell behind and signals were dropped: durable events must be caught up from the store.
    Lagged,
}

#[derive(Debug, thiserror::Error)]
#[error("bus failed")]
pub struct BusError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// The topics an inbox follows. Following is reference-free: the caller counts its own interest.
#[async_trait]
pub trait Follow: Send + Sync {
    /// From when this returns, signals published to `topic` reach the inbox.
    async fn follow(&self, topic: Topic) -> Result<(), BusError>;
    async fn unfollow(&self, topic: Topic) -> Result<(), BusError>;
}

/// One node's receiving end: a set of followed topics and the signals published to them, in publish order.
pub struct Inbox {
    pub topics: Arc<dyn Follow>,
    pub deliveries: BoxStream<'static, Delivery>,
}

/// A node of the cluster, as it announces itself on the bus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Unique among the live nodes, and stable across restarts of the same node.
    pub id: String,
    /// The base URL its clients connect to (`Settings::public_url` of that node).
    pub url: String,
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes to one topic, at most once (durability is the store's job: whoever misses an event catches
    /// up from the event log by cursor).
    async fn publish(&self, topic: Topic, signal: Arc<Signal>) -> Result<(), BusError>;
    /// Publishes one commit's events, each on its `Event::topics()`, in cursor order. `after` is the newest
    /// cursor committed before them. Returns once they have reached the broker, so that events committed
    /// later, on any node, reach every inbox after these.
    async fn publish_commit(&self, after: Cursor, events: &[Event]) -> Result<(), BusError> {
        let _ = after;
        for event in events {
            let signal = Arc::new(Signal::Event(event.clone()));
            for topic in event.topics() {
                self.publish(topic, Arc::clone(&signal)).await?;
            }
        }
        Ok(())
    }
    /// A new inbox following no topic yet.
    async fn inbox(&self) -> Result<Inbox, BusError>;
    /// Records that a user has (or no longer has) a connection on this node.
    async fn set_online(&self, user_id: UserId, online: bool) -> Result<(), BusError>;
    /// Which of these users are online anywhere.
    async fn online(&self, user_ids: &[UserId]) -> Result<Vec<bool>, BusError>;
    /// Answers when the bus can carry signals.
    async fn ping(&self) -> Result<(), BusError>;
    /// Leaves the cluster, so the other nodes drop this one at once rather than after it falls silent.
    /// Called once at shutdown, after this node's sockets are closed; nothing is published after it.
    async fn close(&self) {}
    /// The nodes alive now, this one included; empty for a bus that serves one node only.
    async fn nodes(&self) -> Result<Vec<Node>, BusError> {
        Ok(Vec::new())
    }
}
