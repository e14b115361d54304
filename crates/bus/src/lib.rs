//! Implementations of core's `Bus` trait. `LocalBus` is the embedded default: publish/subscribe inside one
//! process, with no broker.
//!
//! The bus carries events at most once and may drop them for a subscriber that falls behind (it is told so).
//! Nothing here is durable: the store's event log is, and subscribers catch up from it by cursor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream;
use parley_core::bus::{Bus, BusError, Delivery, Subscription, Topic};
use parley_core::model::Event;
use tokio::sync::broadcast;

/// Events a subscriber may fall behind by before it is told it lagged.
const TOPIC_CAPACITY: usize = 1024;

/// In-process publish/subscribe: one broadcast channel per topic that has subscribers.
#[derive(Default)]
pub struct LocalBus {
    /// Held only to look up or insert a sender; never across an await.
    topics: Mutex<HashMap<Topic, broadcast::Sender<Arc<Event>>>>,
}

impl LocalBus {
    pub fn new() -> Self {
        LocalBus::default()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the bus's topic table is poisoned")]
struct Poisoned;

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, topic: Topic, event: Arc<Event>) -> Result<(), BusError> {
        let mut topics = self
            .topics
            .lock()
            .map_err(|_| BusError(Box::new(Poisoned)))?;
        if let Some(sender) = topics.get(&topic) {
            // An error means nobody listens any more: forget the topic.
            if sender.send(event).is_err() {
                topics.remove(&topic);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, topic: Topic) -> Result<Subscription, BusError> {
        let receiver = {
            let mut topics = self
                .topics
                .lock()
                .map_err(|_| BusError(Box::new(Poisoned)))?;
            topics
                .entry(topic)
                .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
                .subscribe()
        };
        let deliveries = stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(event) => Some((Delivery::Event(event), receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((Delivery::Lagged, receiver)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        Ok(deliveries.boxed())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::model::EventKind;
    use parley_core::{ConversationId, Cursor, UserId};

    fn joined(cursor: i64) -> Arc<Event> {
        Arc::new(Event {
            cursor: Cursor(cursor),
            conversation_id: ConversationId(7),
            kind: EventKind::MemberJoined { user_id: UserId(1) },
        })
    }

    #[tokio::test]
    async fn subscribers_get_their_topics_events_in_order() {
        let bus = LocalBus::new();
        let mut here = bus
            .subscribe(Topic::Conversation(ConversationId(7)))
            .await
            .expect("subscribe");
        let mut elsewhere = bus
            .subscribe(Topic::Conversation(ConversationId(8)))
            .await
            .expect("subscribe");
        for cursor in 1..=3 {
            bus.publish(Topic::Conversation(ConversationId(7)), joined(cursor))
                .await
                .expect("publish");
        }
        for cursor in 1..=3 {
            match here.next().await {
                Some(Delivery::Event(e)) => assert_eq!(e.cursor, Cursor(cursor)),
                other => panic!("expected event {cursor}, got {other:?}"),
            }
        }
        bus.publish(Topic::Conversation(ConversationId(8)), joined(9))
            .await
            .expect("publish");
        match elsewhere.next().await {
            Some(Delivery::Event(e)) => assert_eq!(e.cursor, Cursor(9)),
            other => panic!("expected event 9, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told() {
        let bus = LocalBus::new();
        let topic = Topic::User(UserId(1));
        let mut slow = bus.subscribe(topic).await.expect("subscribe");
        for cursor in 0..(TOPIC_CAPACITY as i64 + 10) {
            bus.publish(topic, joined(cursor)).await.expect("publish");
        }
        assert!(matches!(slow.next().await, Some(Delivery::Lagged)));
    }

    #[tokio::test]
    async fn publishing_without_subscribers_is_fine() {
        let bus = LocalBus::new();
        bus.publish(Topic::User(UserId(5)), joined(1))
            .await
            .expect("publish");
        let subscription = bus
            .subscribe(Topic::User(UserId(5)))
            .await
            .expect("subscribe");
        drop(subscription);
        bus.publish(Topic::User(UserId(5)), joined(2))
            .await
            .expect("publish");
        assert!(bus.topics.lock().expect("lock").is_empty());
    }
}
