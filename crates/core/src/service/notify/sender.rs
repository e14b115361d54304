//! Attempts the deliveries due on the shards this node holds, a bounded number at once (each on its own
//! task, refilled as they finish), and records each outcome as it comes: accepted (forgotten), gone (the subscription with it), retried with backoff
//! (`Retry-After` honoured) for up to a day, or given up and recorded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Attempt, Held, PushSender, TICK, later};
use crate::model::Millis;
use crate::service::Parley;
use crate::store::{Delivery, Outcome};

/// Deliveries attempted at once by one node.
const AT_ONCE: usize = 64;
/// Deliveries read at once: those in flight come first (the oldest due), then new ones.
const BATCH: u32 = 256;
/// How long a delivery is retried before it is given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

pub(super) async fn send_loop(
    parley: Weak<Parley>,
    sender: Arc<dyn PushSender>,
    held: Arc<tokio::sync::Mutex<Held>>,
) {
    let mut attempts = Attempts {
        running: tokio::task::JoinSet::new(),
        in_flight: HashSet::new(),
        tasks: HashMap::new(),
        sender,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(done) = attempts.running.join_next_with_id(), if !attempts.running.is_empty() => {
                let task = match &done {
                    Ok((task, _)) => *task,
                    Err(error) => error.id(),
                };
                if let Some(id) = attempts.tasks.remove(&task) {
                    attempts.in_flight.remove(&id);
                }
                // A panicked attempt is a bug; its delivery is tried again at the next tick.
                let Ok((_, (delivery, attempt))) = done else {
                    continue;
                };
                let Some(parley) = parley.upgrade() else {
                    return;
                };
                let now = Millis::now();
                let outcome = outcome(&delivery, attempt, now);
                count(&delivery, &outcome, now);
                if let Err(error) = parley.store.settle(&delivery, &outcome, now).await {
                    let error = &error as &dyn std::error::Error;
                    tracing::warn!(error, "notifier cannot record an attempt");
                }
                // Refill once half the room is free, rather than wait for the tick.
                if attempts.in_flight.len() > AT_ONCE / 2 {
                    continue;
                }
            }
        }
        let Some(parley) = parley.upgrade() else {
            return;
        };
        let shards: Vec<u16> = held.lock().await.keys().copied().collect();
        if let Err(error) = attempts.start_due(&parley, &shards).await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(error, "notifier cannot send");
        }
    }
}

/// The attempts under way: at most `AT_ONCE`, each on a task of its own, so one receiver that hangs holds
/// only its own attempt (for the sender's timeout), never the others.
struct Attempts {
    running: tokio::task::JoinSet<(Delivery, Attempt)>,
    /// The deliveries of `running`, which the store still lists as due until they are settled.
    in_flight: HashSet<i64>,
    /// Which delivery each task attempts.
    tasks: HashMap<tokio::task::Id, i64>,
    sender: Arc<dyn PushSender>,
}

impl Attempts {
    async fn start_due(&mut self, parley: &Parley, shards: &[u16]) -> Result<(), crate::Error> {
        if shards.is_empty() || self.in_flight.len() >= AT_ONCE {
            return Ok(());
        }
        let due = parley
            .store
            .deliveries_due(shards, Millis::now(), BATCH)
            .await?;
        for delivery in due {
            if self.in_flight.len() >= AT_ONCE {
                break;
            }
            if !self.in_flight.insert(delivery.id) {
                continue;
            }
            let (id, sender) = (delivery.id, Arc::clone(&self.sender));
            let task = self.running.spawn(async move {
                let attempt = sender.send(&delivery).await;
                (delivery, attempt)
            });
            self.tasks.insert(task.id(), id);
        }
        Ok(())
    }
}

fn outcome(delivery: &Delivery, attempt: Attempt, now: Millis) -> Outcome {
    match attempt {
        Attempt::Accepted => Outcome::Delivered,
        Attempt::Gone => Outcome::Gone,
        Attempt::Refused(reason) => Outcome::Failed { reason },
        Attempt::Retry { after, why } => {
            let at = later(
                now,
                after
                    .unwrap_or_else(|| backoff(delivery.attempts))
                    .min(MAX_BACKOFF),
            );
            if at > later(delivery.first_at, GIVE_UP_AFTER) {
                Outcome::Failed {
                    reason: format!("gave up after {} attempts: {why}", delivery.attempts + 1),
                }
            } else {
                Outcome::Retry { at }
            }
        }
    }
}

/// 1 s, 2 s, 4 s, … up to an hour.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(12)).min(MAX_BACKOFF)
}

fn count(delivery: &Delivery, outcome: &Outcome, now: Millis) {
    match outcome {
        Outcome::Delivered => {
            ::metrics::counter!("parley_notifications_sent_total").increment(1);
            let delay = now.0.saturating_sub(delivery.sent_at.0).max(0) as f64 / 1000.0;
            ::metrics::histogram!("parley_notification_delay_seconds").record(delay);
        }
        Outcome::Gone => {
            ::metrics::counter!("parley_push_subscriptions_dropped_total").increment(1);
        }
        Outcome::Retry { .. } => {
            ::metrics::counter!("parley_notifications_retried_total").increment(1);
        }
        Outcome::Failed { reason } => {
            tracing::warn!(
                notification = delivery.notification_id,
                subscription = delivery.subscription.id.0,
                reason,
                "notification given up"
            );
            ::metrics::counter!("parley_notifications_failed_total").increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
