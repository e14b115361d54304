//! Implementations of core's `Bus` trait. `LocalBus` is the embedded default: publish/subscribe and the
//! presence registry inside one process, with no broker. `NatsBus` is a cluster's: the same over NATS, with
//! durable events kept in cursor order across subscriptions and presence shared between nodes.
//!
//! The bus carries signals at most once and may drop them for an inbox that falls behind (which is then told
//! so). Nothing here is durable: the store's event log is, and whoever misses an event catches up from it by
//! cursor.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream;
use parley_core::UserId;
use parley_core::bus::{Bus, BusError, Delivery, Follow, Inbox, Signal, Topic};
use tokio::sync::mpsc;

mod nats;
pub use nats::{ClientCertificate, NatsAuth, NatsBus, NatsError, NatsSettings};

/// Signals an inbox may hold unread before it is told it lagged. A node's inbox is drained by one dispatcher
/// task that only copies pointers, so this is only reached when that task is starved.
const INBOX_CAPACITY: usize = 65_536;

type InboxId = u64;

struct InboxSlot {
    sender: mpsc::Sender<Arc<Signal>>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    followers: HashMap<Topic, HashSet<InboxId>>,
    inboxes: HashMap<InboxId, InboxSlot>,
    next_inbox: InboxId,
    /// Connections per user, as the gateways report them.
    online: HashMap<UserId, u32>,
}

/// In-process publish/subscribe. Publishing hands the same `Arc` to every inbox that follows the topic, in
/// publish order; no copy of the signal is made.
#[derive(Clone)]
pub struct LocalBus {
    /// Held only to look up or update the tables; never across an await.
    state: Arc<Mutex<State>>,
    inbox_capacity: usize,
}

impl Default for LocalBus {
    fn default() -> Self {
        LocalBus::with_inbox_capacity(INBOX_CAPACITY)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the bus's tables are poisoned")]
struct Poisoned;

fn lock(state: &Mutex<State>) -> Result<MutexGuard<'_, State>, BusError> {
    state.lock().map_err(|_| BusError(Box::new(Poisoned)))
}

impl LocalBus {
    pub fn new() -> Self {
        LocalBus::default()
    }

    /// A bus whose inboxes hold at most `capacity` unread signals before they are told they lagged.
    pub fn with_inbox_capacity(capacity: usize) -> Self {
        LocalBus {
            state: Arc::default(),
            inbox_capacity: capacity.max(1),
        }
    }
}

/// The topics of one inbox.
struct LocalFollow {
    state: Arc<Mutex<State>>,
    inbox: InboxId,
}

#[async_trait]
impl Follow for LocalFollow {
    async fn follow(&self, topic: Topic) -> Result<(), BusError> {
        lock(&self.state)?
            .followers
            .entry(topic)
            .or_default()
            .insert(self.inbox);
        Ok(())
    }

    async fn unfollow(&self, topic: Topic) -> Result<(), BusError> {
        let mut state = lock(&self.state)?;
        if let Some(inboxes) = state.followers.get_mut(&topic) {
            inboxes.remove(&self.inbox);
            if inboxes.is_empty() {
                state.followers.remove(&topic);
            }
        }
        Ok(())
    }
}

impl Drop for LocalFollow {
    fn drop(&mut self) {
        if let Ok(mut state) = self.state.lock() {
            state.inboxes.remove(&self.inbox);
            state.followers.retain(|_, inboxes| {
                inboxes.remove(&self.inbox);
                !inboxes.is_empty()
            });
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, topic: Topic, signal: Arc<Signal>) -> Result<(), BusError> {
        let state = lock(&self.state)?;
        let Some(followers) = state.followers.get(&topic) else {
            return Ok(());
        };
        for id in followers {
            let Some(slot) = state.inboxes.get(id) else {
                continue;
            };
            if let Err(mpsc::error::TrySendError::Full(_)) =
                slot.sender.try_send(Arc::clone(&signal))
            {
                slot.lagged.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    async fn inbox(&self) -> Result<Inbox, BusError> {
        let (sender, receiver) = mpsc::channel(self.inbox_capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = {
            let mut state = lock(&self.state)?;
            state.next_inbox += 1;
            let id = state.next_inbox;
            state.inboxes.insert(
                id,
                InboxSlot {
                    sender,
                    lagged: Arc::clone(&lagged),
                },
            );
            id
        };
        let deliveries = stream::unfold((receiver, lagged), |(mut receiver, lagged)| async move {
            if lagged.swap(false, Ordering::AcqRel) {
                return Some((Delivery::Lagged, (receiver, lagged)));
            }
            let signal = receiver.recv().await?;
            Some((Delivery::Signal(signal), (receiver, lagged)))
        });
        let topics = Arc::new(LocalFollow {
            state: Arc::clone(&self.state),
            inbox: id,
        });
        Ok(Inbox {
            topics,
            deliveries: deliveries.boxed(),
        })
    }

    async fn set_online(&self, user_id: UserId, online: bool) -> Result<(), BusError> {
        let mut state = lock(&self.state)?;
        let count = state.online.entry(user_id).or_default();
        if online {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.online.remove(&user_id);
            }
        }
        Ok(())
    }

    async fn online(&self, user_ids: &[UserId]) -> Result<Vec<bool>, BusError> {
        let state = lock(&self.state)?;
        Ok(user_ids
            .iter()
            .map(|id| state.online.contains_key(id))
            .collect())
    }

    async fn ping(&self) -> Result<(), BusError> {
        lock(&self.state).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::ConversationId;

    fn typing(user: i64) -> Arc<Signal> {
        Arc::new(Signal::Typing {
            conversation_id: ConversationId(7),
            user_id: UserId(user),
        })
    }

    async fn next(inbox: &mut Inbox) -> Delivery {
        inbox.deliveries.next().await.expect("a delivery")
    }

    #[tokio::test]
    async fn an_inbox_gets_what_its_topics_get_in_publish_order() {
        let bus = LocalBus::new();
        let mut inbox = bus.inbox().await.expect("inbox");
        let seven = Topic::Conversation(ConversationId(7));
        let eight = Topic::Conversation(ConversationId(8));
        bus.publish(seven, typing(0)).await.expect("publish");
        inbox.topics.follow(seven).await.expect("follow");
        inbox.topics.follow(eight).await.expect("follow");
        bus.publish(Topic::Conversation(ConversationId(9)), typing(9))
            .await
            .expect("publish");
        for (topic, user) in [(seven, 1), (eight, 2), (seven, 3)] {
            bus.publish(topic, typing(user)).await.expect("publish");
        }
        for user in 1..=3 {
            match next(&mut inbox).await {
                Delivery::Signal(signal) => assert_eq!(*signal, *typing(user)),
                Delivery::Lagged => panic!("not lagged"),
            }
        }
        inbox.topics.unfollow(seven).await.expect("unfollow");
        bus.publish(seven, typing(4)).await.expect("publish");
        bus.publish(eight, typing(5)).await.expect("publish");
        assert!(matches!(next(&mut inbox).await, Delivery::Signal(s) if *s == *typing(5)));
    }

    #[tokio::test]
    async fn an_inbox_that_falls_behind_is_told() {
        let bus = LocalBus::new();
        let mut inbox = bus.inbox().await.expect("inbox");
        let topic = Topic::User(UserId(1));
        inbox.topics.follow(topic).await.expect("follow");
        for n in 0..(INBOX_CAPACITY as i64 + 10) {
            bus.publish(topic, typing(n)).await.expect("publish");
        }
        assert!(matches!(next(&mut inbox).await, Delivery::Lagged));
    }

    #[tokio::test]
    async fn dropped_inboxes_are_forgotten() {
        let bus = LocalBus::new();
        let inbox = bus.inbox().await.expect("inbox");
        inbox
            .topics
            .follow(Topic::User(UserId(5)))
            .await
            .expect("follow");
        drop(inbox);
        bus.publish(Topic::User(UserId(5)), typing(1))
            .await
            .expect("publish");
        let state = bus.state.lock().expect("lock");
        assert!(state.inboxes.is_empty() && state.followers.is_empty());
    }

    #[tokio::test]
    async fn presence_counts_connections() {
        let bus = LocalBus::new();
        let (ann, bob) = (UserId(1), UserId(2));
        bus.set_online(ann, true).await.expect("online");
        bus.set_online(ann, true).await.expect("online");
        bus.set_online(ann, false).await.expect("offline");
        assert_eq!(
            bus.online(&[ann, bob]).await.expect("online"),
            vec![true, false]
        );
        bus.set_online(ann, false).await.expect("offline");
        assert_eq!(bus.online(&[ann]).await.expect("online"), vec![false]);
    }
}
