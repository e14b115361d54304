//! Proof that every server of a NATS cluster knows this node's subscriptions, before a follow counts as done.
//!
//! A server confirms a subscription to its client (the `PONG` of `Feed::barrier`) before the other servers
//! of its cluster hear of it over their routes. A commit that another node publishes through another server
//! in between does not reach this node, while its marker, on a subject followed long before, does: the
//! inbox would see no hole, and no catch-up would ever bring those events back. (With 20 ms between servers,
//! most join-or-resume cycles lost events that way.)
//!
//! So a follow waits for a probe. The probe subscribes to a subject of its own on the feed, after the
//! follow's subscription, and asks every other live node (on `{prefix}.probe`) to publish its id there
//! through its own feed, the connection its commits go out on. A server passes on a client's subscriptions
//! over each route in the order it took them, so once a node's answer arrives, its server knows every
//! subscription this node made before the probe's: each commit that node publishes from then on reaches
//! this one, and the ones before are in the store before the follow's catch-up reads it. A request that
//! overtook the subscription (it may travel through another server) is asked again. Concurrent follows share
//! a round. A node that does not answer within `PATIENCE` (it died, or lost NATS) fails the round: the
//! follows fail, and their connections catch up from the store. A commit that node publishes after the
//! catch-up may still miss this one, if the node is alive and its server learns of subscriptions that late;
//! so after a failed round the rounds go on, `SETTLE` apart, until one succeeds (the node answered, or is
//! no longer live), and then every inbox lags: every connection catches up once more, past anything missed
//! in between.
//!
//! Which nodes live: those heard within three heartbeats, and those that sent a probe of their own within
//! that time (a node that has just started asks before its first heartbeat reaches everyone). So that every
//! live node has been heard, a round first waits until the client has listened for a heartbeat and a half:
//! after the bus started, and after the client was away for long enough to miss a live node's heartbeats
//! for three (a short loss, a server's failover, waits for nothing).
//!
//! The feed probes the same way each time it connects (again), its first time included, before the link
//! counts as up, since the other servers learn of its subscriptions anew then; and a node publishes commits
//! only while its link is up. The other nodes' answers reach it through its new server after their
//! subscriptions did, so its commits through that server reach them; and they now wait for its answers too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_nats::Subscriber;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use std::collections::HashMap;

use super::feed::Sid;
use super::link;
use super::wire::{ProbeRequest, decode, encode};
use super::{NatsError, Shared, stopped};

/// How long a round waits for every live node's answer.
const PATIENCE: Duration = Duration::from_secs(1);
/// The first wait before a request is made again; it doubles, up to `LAST_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(10);
const LAST_RETRY: Duration = Duration::from_millis(200);
/// A node heard from within this many heartbeats is waited for.
const LIVE_HEARTBEATS: u32 = 3;
/// The nodes that asked for probes kept at most: a bound against a flood of made-up ids.
const MAX_ASKERS: usize = 4_096;
/// After a failed round, the pause before the next, until one succeeds.
const SETTLE: Duration = Duration::from_millis(500);

/// The rounds of one bus: one at a time, each for every probe asked before it started.
#[derive(Default)]
pub(crate) struct Probes {
    rounds: Mutex<Rounds>,
    next_round: AtomicU64,
    /// The other nodes that sent a probe, and when: live, even if their heartbeat has not come yet.
    askers: Mutex<HashMap<String, Instant>>,
}

#[derive(Default)]
struct Rounds {
    running: bool,
    /// The probes asked since the running round started, answered with how many nodes did not answer.
    waiting: Vec<oneshot::Sender<Result<(), usize>>>,
}

impl Probes {
    fn rounds(&self) -> MutexGuard<'_, Rounds> {
        self.rounds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn askers(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.askers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn asked(&self, node_id: String, now: Instant, within: Duration) {
        let mut askers = self.askers();
        askers.retain(|_, at| now.saturating_duration_since(*at) <= within);
        if askers.len() < MAX_ASKERS || askers.contains_key(&node_id) {
            askers.insert(node_id, now);
        }
    }

    fn asked_within(&self, now: Instant, within: Duration) -> Vec<String> {
        self.askers()
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) <= within)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// How long a node counts as live after it was last heard.
fn live_within(heartbeat: Duration) -> Duration {
    heartbeat.saturating_mul(LIVE_HEARTBEATS)
}

/// How long the client listens, after it (re)connected, before a round: every live node's heartbeat comes.
fn listen_first(heartbeat: Duration) -> Duration {
    heartbeat.saturating_mul(3) / 2
}

/// The longest a round can take, its wait to listen first included.
pub(crate) fn longest_round(heartbeat: Duration) -> Duration {
    listen_first(heartbeat).saturating_add(PATIENCE)
}

/// Returns once every live node's server knows every subscription this node's feed had when it was called;
/// `Unprobed` if some node did not answer in time. Without a feed connection there is nothing to prove: the
/// subscriptions go to the server when it is back, which probes then.
pub(crate) async fn probe(shared: &Arc<Shared>) -> Result<(), NatsError> {
    let (answer, answered) = oneshot::channel();
    let start = {
        let mut rounds = shared.probes.rounds();
        rounds.waiting.push(answer);
        !std::mem::replace(&mut rounds.running, true)
    };
    if start {
        // Ends when no probe waits; each round ends within `PATIENCE`.
        tokio::spawn(run(Arc::clone(shared)));
    }
    match answered.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(missing)) => Err(NatsError::Unprobed(missing)),
        Err(_) => Err(NatsError::Closed),
    }
}

/// Runs rounds while probes wait, and after a failed round until one succeeds (the module's doc).
async fn run(shared: Arc<Shared>) {
    let mut unsettled = false;
    loop {
        let waiting = {
            let mut rounds = shared.probes.rounds();
            if rounds.waiting.is_empty() && (!unsettled || shared.check_open().is_err()) {
                rounds.running = false;
                return;
            }
            std::mem::take(&mut rounds.waiting)
        };
        if unsettled && waiting.is_empty() {
            tokio::time::sleep(SETTLE).await;
        }
        let outcome = round(&shared).await;
        for answer in waiting {
            let _ = answer.send(outcome);
        }
        match (unsettled, outcome) {
            (false, Err(missing)) => {
                tracing::warn!(
                    missing,
                    "nodes did not answer a probe: the follows waiting for it catch up from the store, and \
                     probes go on until they answer"
                );
                unsettled = true;
            }
            (true, Ok(())) => {
                tracing::info!("every live node answers probes again: every connection catches up");
                link::overflow(&shared.link);
                unsettled = false;
            }
            _ => {}
        }
    }
}

/// One round: `Err` with how many nodes did not answer.
async fn round(shared: &Shared) -> Result<(), usize> {
    let deaf_since = shared.link.borrow().deaf_since;
    let heard_recently = deaf_since.is_some_and(|deaf| {
        Instant::now().saturating_duration_since(deaf) <= shared.heartbeat.saturating_mul(2)
    });
    if !heard_recently {
        tokio::time::sleep_until(shared.listening_since() + listen_first(shared.heartbeat)).await;
    }
    let (now, within) = (Instant::now(), live_within(shared.heartbeat));
    let mut missing = shared.presence().heard_within(now, within);
    missing.extend(shared.probes.asked_within(now, within));
    if missing.is_empty() || !shared.feed.is_up() {
        return Ok(());
    }
    let number = shared.probes.next_round.fetch_add(1, Ordering::Relaxed);
    let answer_on = shared
        .subjects
        .probe_answers(&shared.node.id, shared.incarnation, number);
    // Room for every answer to every request of the round; past it (answers from anyone else) they are
    // dropped, as asking again covers a lost one.
    let (answers, mut answered) = mpsc::channel(missing.len() * 16 + 16);
    let sid = shared.feed.subscribe_lossy(answer_on.clone(), answers);
    let _unsubscribe = Unsubscribe { shared, sid };
    match shared.feed.barrier().await {
        Ok(()) => {}
        Err(NatsError::Disconnected) => return Ok(()),
        Err(_) => return Err(missing.len()),
    }
    let request = ProbeRequest {
        from: shared.node.id.clone(),
        answer_on,
    };
    let Ok(request) = encode(&request) else {
        return Err(missing.len());
    };
    let deadline = Instant::now() + PATIENCE;
    let (mut ask_at, mut retry) = (Instant::now(), FIRST_RETRY);
    loop {
        if Instant::now() >= ask_at {
            if shared.connected() {
                let _ = shared
                    .publish(shared.subjects.probes().to_owned(), request.clone())
                    .await;
            }
            ask_at = Instant::now() + retry;
            retry = (retry * 2).min(LAST_RETRY);
        }
        tokio::select! {
            frame = answered.recv() => {
                let Some(frame) = frame else { return Err(missing.len()) };
                if let Ok(node_id) = std::str::from_utf8(&frame.payload) {
                    missing.remove(node_id);
                }
                if missing.is_empty() {
                    return Ok(());
                }
            }
            () = tokio::time::sleep_until(ask_at.min(deadline)) => {
                if Instant::now() >= deadline {
                    tracing::debug!(nodes = ?missing, "these nodes did not answer a probe");
                    return Err(missing.len());
                }
            }
        }
    }
}

struct Unsubscribe<'a> {
    shared: &'a Shared,
    sid: Sid,
}

impl Drop for Unsubscribe<'_> {
    fn drop(&mut self) {
        self.shared.feed.unsubscribe(self.sid);
    }
}

/// Answers the other nodes' probes, through the feed, until the bus stops.
pub(crate) async fn answer(
    shared: Arc<Shared>,
    mut requests: Subscriber,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let message = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            message = requests.next() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let Some(request) = decode::<ProbeRequest>(&message.subject, &message.payload) else {
            continue;
        };
        if request.from == shared.node.id || !shared.subjects.is_probe_answers(&request.answer_on) {
            continue;
        }
        let within = live_within(shared.heartbeat);
        shared.probes.asked(request.from, Instant::now(), within);
        let id = Bytes::from(shared.node.id.clone().into_bytes());
        // Without a feed there is no answer: the asking node's round fails, as it should, since this
        // node's commits do not go out either.
        let _ = shared.feed.post(&[(request.answer_on, id)]);
    }
}

/// Each time the feed has its subscriptions on a server, probes, then puts the link's feed half up (if
/// that session is still on). A round that fails is logged and the feed goes up anyway: the node cannot
/// wait for a node that is gone, and every inbox catches up from the store when the link comes up.
pub(crate) async fn feed_sessions(
    shared: Arc<Shared>,
    mut sessions: mpsc::UnboundedReceiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let mut session = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            session = sessions.recv() => match session {
                Some(session) => session,
                None => return,
            },
        };
        // Only the newest session can still be on.
        while let Ok(newer) = sessions.try_recv() {
            session = newer;
        }
        let shared = Arc::clone(&shared);
        let probed = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            probed = probe(&shared) => probed,
        };
        if let Err(error) = probed {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "the NATS cluster may not know all of this node's subscriptions yet"
            );
        }
        link::feed_probed(&shared.link, session);
    }
}
