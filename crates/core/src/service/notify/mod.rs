//! The notifier: tells people of what they missed while away, by Web Push or webhook.
//!
//! It follows the event log with a durable cursor per shard of users (`store::SHARDS`), each shard held
//! by one node at a time under a lease in the store. For each message it decides who is told (`rules`)
//! and records a pending notification, moving the shard's cursor in the same transaction
//! (`follower.rs`). A delay later, if the message is still unread, the pending notifications of a
//! conversation become one notification per subscription (`dispatcher.rs`), which the sender attempts
//! until the push service or webhook accepts it (`sender.rs`). Nothing is forgotten before it was
//! accepted, so a crash loses nothing; a delivery accepted just before a crash is sent again with the same
//! id, `Topic` and tag, which the receiver collapses.

pub mod addresses;
mod dispatcher;
mod follower;
pub mod quiet_hours;
pub mod rules;
mod sender;
mod subscriptions;

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;

pub use addresses::AddressPolicy;
pub use subscriptions::MAX_SUBSCRIPTIONS;

use crate::Cursor;
use crate::model::Millis;
use crate::service::Parley;
use crate::store::{Delivery, SHARDS};

/// What the notifier needs to know, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct PushSettings {
    /// Where pushes and webhooks may go.
    pub addresses: AddressPolicy,
    /// How long a message waits for its reader before anyone is pushed (10 s by default).
    pub delay: Duration,
    /// How long a node holds its shards unless it renews them (a fifth of it apart): how soon another
    /// node takes over the users of one that died. The cluster's node time-to-live.
    pub lease: Duration,
}

/// The result of one attempt at a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Accepted,
    /// 404 or 410 from a push service: the subscription is gone.
    Gone,
    /// Worth another try (5xx, 429, a timeout, no connection), after `after` if the receiver said.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// Never worth another try (a refused address, a 4xx other than 404, 410 and 429).
    Refused(String),
}

/// Sends one delivery: Web Push or a webhook. Implemented by the server.
#[async_trait]
pub trait PushSender: Send + Sync + 'static {
    async fn send(&self, delivery: &Delivery) -> Attempt;
}

/// How often the follower, the dispatcher and the sender look for work.
const TICK: Duration = Duration::from_millis(200);

fn later(now: Millis, by: Duration) -> Millis {
    Millis(
        now.0
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX)),
    )
}

/// The shards this node holds, with each one's cursor as the follower last moved it.
type Held = BTreeMap<u16, Cursor>;

/// Runs the notifier of node `node` until the `Parley` it serves is dropped: holds a fair share of the
/// shards, follows the log, dispatches what is due, and sends.
pub async fn run_notifier(parley: Weak<Parley>, sender: Arc<dyn PushSender>, node: String) {
    let held = Arc::new(tokio::sync::Mutex::new(Held::new()));
    let deciding = decide_loop(parley.clone(), Arc::clone(&held), node.clone());
    let sending = sender::send_loop(parley, sender, held);
    tokio::join!(deciding, sending);
}

async fn decide_loop(parley: Weak<Parley>, held: Arc<tokio::sync::Mutex<Held>>, node: String) {
    let mut renewed: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(parley) = parley.upgrade() else {
            return;
        };
        if renewed.is_none_or(|at| at.elapsed() >= parley.settings.push.lease / 5) {
            match parley.hold_shards(&node).await {
                Ok(shards) => *held.lock().await = shards,
                Err(error) => {
                    held.lock().await.clear();
                    let error = &error as &dyn std::error::Error;
                    tracing::warn!(error, "cannot hold notifier shards");
                }
            }
            renewed = Some(tokio::time::Instant::now());
        }
        let mut shards = held.lock().await.clone();
        if shards.is_empty() {
            continue;
        }
        if let Err(error) = parley.follow_log(&node, &mut shards).await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(error, "notifier cannot follow the log");
        }
        *held.lock().await = shards.clone();
        let ids: Vec<u16> = shards.keys().copied().collect();
        if let Err(error) = parley.dispatch_due(&node, &ids).await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(error, "notifier cannot dispatch");
        }
    }
}

impl Parley {
    /// Renews this node's shards and takes its fair share of the others: all of them divided by the
    /// live nodes, rounded up.
    async fn hold_shards(&self, node: &str) -> Result<Held, crate::Error> {
        let nodes = self.live_nodes().await.unwrap_or(1).max(1);
        let want = usize::from(SHARDS).div_ceil(nodes);
        let now = Millis::now();
        let shards = self
            .store
            .hold_shards(node, now, later(now, self.settings.push.lease), want)
            .await?;
        Ok(shards.into_iter().collect())
    }
}
