//! The Bus trait: how events reach every node that has someone to tell. Owned here; implemented by `parley-bus`.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::model::{Event, EventKind};
use crate::{ConversationId, UserId};

/// Where an event is published. Typed, so no code glues topic strings together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everyone in a conversation.
    Conversation(ConversationId),
    /// One user's own devices.
    User(UserId),
}

impl Event {
    /// The topics this event goes to: its conversation, or only its user for private events. A member who
    /// left also hears it on their own topic, since they no longer hear the conversation.
    pub fn topics(&self) -> Vec<Topic> {
        match &self.kind {
            EventKind::MessageHidden { user_id, .. } => vec![Topic::User(*user_id)],
            EventKind::MemberLeft { user_id } => {
                vec![
                    Topic::Conversation(self.conversation_id),
                    Topic::User(*user_id),
                ]
            }
            _ => vec![Topic::Conversation(self.conversation_id)],
        }
    }
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Delivery {
    Event(Arc<Event>),
    /// The subscriber fell behind and events were dropped: it must catch up from the store by cursor.
    Lagged,
}

pub type Subscription = BoxStream<'static, Delivery>;

#[derive(Debug, thiserror::Error)]
#[error("bus failed")]
pub struct BusError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes an event to one topic, at most once (durability is the store's job: late subscribers catch
    /// up from the event log).
    async fn publish(&self, topic: Topic, event: Arc<Event>) -> Result<(), BusError>;
    /// Subscribes to a topic; dropping the stream unsubscribes.
    async fn subscribe(&self, topic: Topic) -> Result<Subscription, BusError>;
    /// Answers when the bus can carry events.
    async fn ping(&self) -> Result<(), BusError>;
}
