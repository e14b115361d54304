//! The node's background tasks: announcing itself (heartbeats, its presence changes, leaving), listening to
//! the other nodes (and fetching their snapshots), answering snapshot requests, and answering round trips.
//! Each ends when the `NatsBus` is dropped or closed.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Subscriber;
use bytes::Bytes;
use futures_util::StreamExt;
use parley_core::UserId;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::link;
use super::presence::{Change, Effects, Heard, Snapshot};
use super::wire::{NodeMessage, SnapshotReply, SnapshotRequest, decode, encode};
use super::{NatsError, Shared, stopped};

/// Users per snapshot page: at most ~22 bytes each in JSON, so a page stays well under NATS's 1 MiB.
const SNAPSHOT_PAGE: usize = 8_192;

/// Heartbeats and this node's presence changes, in the order of their sequence numbers, on one subject; and
/// the announcement that it leaves when it stops (unless it was aborted).
pub(crate) async fn announce(
    shared: Arc<Shared>,
    mut changes: mpsc::UnboundedReceiver<Change>,
    mut stop: watch::Receiver<bool>,
) {
    let mut heartbeats = tokio::time::interval(shared.heartbeat);
    heartbeats.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The last change handed to NATS (or skipped while away): what heartbeats vouch for.
    let mut sent = 0;
    loop {
        let message = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            change = changes.recv() => {
                let Some(change) = change else { break };
                sent = change.seq;
                NodeMessage::Presence {
                    node_id: shared.node.id.clone(),
                    incarnation: shared.incarnation,
                    seq: change.seq,
                    user_id: change.user_id,
                    online: change.online,
                }
            }
            _ = heartbeats.tick() => NodeMessage::Heartbeat {
                node: shared.node.clone(),
                incarnation: shared.incarnation,
                seq: sent,
            },
        };
        // While away, a change is not sent at all: the first heartbeat after shows the gap.
        if !shared.connected() {
            continue;
        }
        if let Err(error) = shared.publish_message(&message).await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "cannot announce this node"
            );
        }
    }
    if shared.announces_leave() {
        shared.leave().await;
    }
}

/// What the other nodes say, snapshots asked of this one, fetches of theirs, and the time to live.
pub(crate) async fn listen(
    shared: Arc<Shared>,
    mut nodes: Subscriber,
    mut snapshots: Subscriber,
    mut stop: watch::Receiver<bool>,
) {
    let mut fetches = JoinSet::new();
    let mut frozen: Option<Frozen> = None;
    let period = shared
        .heartbeat
        .min(shared.node_ttl / 4)
        .max(Duration::from_millis(10));
    let mut sweep = tokio::time::interval(period);
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut link = shared.link.subscribe();
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            message = nodes.next() => {
                let Some(message) = message else { return };
                if let Some(node_message) = decode(&message.subject, &message.payload) {
                    let effects = heard(&shared, node_message);
                    carry_out(&shared, effects, &mut fetches);
                }
            }
            request = snapshots.next() => {
                let Some(request) = request else { return };
                answer(&shared, request, &mut frozen).await;
            }
            Some(done) = fetches.join_next(), if !fetches.is_empty() => {
                let Ok((node_id, incarnation, result)) = done else { continue };
                let effects = match result {
                    Ok(snapshot) => shared.presence().snapshot(&node_id, snapshot),
                    Err(error) => {
                        tracing::debug!(
                            node_id,
                            error = &error as &dyn std::error::Error,
                            "cannot fetch a presence snapshot"
                        );
                        shared.presence().fetch_failed(&node_id, incarnation);
                        Effects::default()
                    }
                };
                carry_out(&shared, effects, &mut fetches);
            }
            () = shared.reconnected.notified() => arm(&shared).await,
            _ = sweep.tick() => {
                // A backstop for the connection events, which async-nats drops when its queue is full.
                if shared.connected() {
                    arm(&shared).await;
                } else {
                    link::observe_client(&shared.link, false);
                }
                shared.expire_dead();
            }
            changed = link.changed() => {
                if changed.is_err() {
                    return;
                }
                if link.borrow_and_update().connected {
                    shared.presence().touch_all(Instant::now());
                } else {
                    shared.redeliver_last_marker();
                }
            }
        }
    }
}

/// The client is connected (again): the link counts as up, and inboxes start their order over, once a round
/// trip shows that the server has this node's subscriptions back (async-nats sends them before anything
/// else on a new connection). Starting over earlier could take as the first marker one published after a
/// commit this node missed while its subscriptions were not back, and skip that commit.
async fn arm(shared: &Shared) {
    if shared.link.borrow().client || !shared.connected() {
        return;
    }
    // If it fails, the next sweep tries again.
    if shared.barrier().await.is_ok() && shared.connected() {
        shared.listening_from_now();
        link::observe_client(&shared.link, true);
    }
}

fn heard(shared: &Shared, message: NodeMessage) -> Effects {
    let heard = Heard::now();
    let mut presence = shared.presence();
    match message {
        NodeMessage::Heartbeat {
            node,
            incarnation,
            seq,
        } => {
            if node.id == shared.node.id {
                return Effects::default();
            }
            presence.heartbeat(node, incarnation, seq, heard)
        }
        NodeMessage::Presence {
            node_id,
            incarnation,
            seq,
            user_id,
            online,
        } => {
            if node_id == shared.node.id {
                return Effects::default();
            }
            let change = Change {
                seq,
                user_id,
                online,
            };
            presence.change(&node_id, incarnation, change, heard)
        }
        NodeMessage::Leave {
            node_id,
            incarnation,
        } => presence.leave(&node_id, incarnation, heard.millis),
    }
}

type Fetched = (String, u64, Result<Snapshot, NatsError>);

pub(crate) fn carry_out(shared: &Arc<Shared>, effects: Effects, fetches: &mut JoinSet<Fetched>) {
    for (node_id, incarnation) in effects.fetch {
        let shared = Arc::clone(shared);
        fetches.spawn(async move {
            let result = fetch(&shared, &node_id).await;
            (node_id, incarnation, result)
        });
    }
    shared.announce_offline(&effects.offline);
}

/// One snapshot of this node's set, kept while its pages are read so that they all come from one moment.
#[derive(Clone)]
struct Frozen {
    seq: u64,
    users: Arc<Vec<UserId>>,
}

async fn answer(shared: &Shared, request: async_nats::Message, frozen: &mut Option<Frozen>) {
    let Some(reply_to) = request.reply else {
        return;
    };
    let Some(asked) = decode::<SnapshotRequest>(&request.subject, &request.payload) else {
        return;
    };
    let snapshot = match (asked.seq, frozen.as_ref()) {
        (None, _) => {
            let presence = shared.presence();
            let seq = presence.own_seq();
            if frozen.as_ref().is_none_or(|f| f.seq != seq) {
                *frozen = Some(Frozen {
                    seq,
                    users: Arc::new(presence.own_users()),
                });
            }
            frozen.clone()
        }
        (Some(seq), Some(f)) if f.seq == seq => Some(f.clone()),
        _ => None,
    };
    let reply = match snapshot {
        None => SnapshotReply::Gone,
        Some(snapshot) => {
            let total = snapshot.users.len();
            let start = asked.offset.min(total);
            let end = start.saturating_add(SNAPSHOT_PAGE).min(total);
            SnapshotReply::Page {
                node: shared.node.clone(),
                incarnation: shared.incarnation,
                seq: snapshot.seq,
                total,
                users: snapshot.users[start..end].to_vec(),
            }
        }
    };
    let sent = match encode(&reply) {
        Ok(payload) => shared.publish(reply_to.to_string(), payload).await,
        Err(error) => Err(error.into()),
    };
    if let Err(error) = sent {
        tracing::debug!(
            error = &error as &dyn std::error::Error,
            "cannot answer a snapshot request"
        );
    }
}

/// Reads another node's snapshot page by page; starts again (a few times) if it moved on meanwhile.
async fn fetch(shared: &Shared, node_id: &str) -> Result<Snapshot, NatsError> {
    let subject = shared.subjects.snapshot(node_id);
    'attempt: for _ in 0..3 {
        let mut users = Vec::new();
        let mut first: Option<(parley_core::bus::Node, u64, u64)> = None;
        loop {
            let asked = SnapshotRequest {
                seq: first.as_ref().map(|(_, _, seq)| *seq),
                offset: users.len(),
            };
            let reply = shared.request(&subject, encode(&asked)?).await?;
            let reply = decode::<SnapshotReply>(&subject, &reply.payload)
                .ok_or_else(|| NatsError::Malformed(subject.clone()))?;
            let SnapshotReply::Page {
                node,
                incarnation,
                seq,
                total,
                users: page,
            } = reply
            else {
                continue 'attempt;
            };
            if first
                .as_ref()
                .is_some_and(|(_, i, s)| (*i, *s) != (incarnation, seq))
            {
                continue 'attempt;
            }
            let last_page = page.is_empty();
            users.extend(page);
            let (node, _, _) = first.get_or_insert((node, incarnation, seq));
            if last_page || users.len() >= total {
                return Ok(Snapshot {
                    node: node.clone(),
                    incarnation,
                    seq,
                    users,
                });
            }
        }
    }
    Err(NatsError::SnapshotMoved)
}

/// Answers round trips: a reply proves the server has handled everything this node sent before the request.
pub(crate) async fn echo(
    shared: Arc<Shared>,
    mut requests: Subscriber,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            request = requests.next() => {
                let Some(request) = request else { return };
                let Some(reply_to) = request.reply else { continue };
                if let Err(error) = shared.publish(reply_to.to_string(), Bytes::new()).await {
                    tracing::debug!(error = &error as &dyn std::error::Error, "cannot answer a round trip");
                }
            }
        }
    }
}
