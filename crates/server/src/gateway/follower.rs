//! Follows and unfollows bus topics for the dispatcher, off its loop: a follow takes a round trip to the
//! broker, and the loop that serves every connection must not wait for one. Follows of different topics run
//! side by side; the operations on one topic run one after another, in the order they were asked, so an
//! unfollow can never overtake the follow before it. Each follow is confirmed back with its ticket.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use parley_core::bus::{Follow, Topic};
use tokio::sync::mpsc;

use super::registry::Ticket;

/// What the follower is asked to do.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Follow(Topic, Ticket),
    Unfollow(Topic),
}

impl Op {
    fn topic(self) -> Topic {
        match self {
            Op::Follow(topic, _) | Op::Unfollow(topic) => topic,
        }
    }
}

/// A follow the broker confirmed (`ok`), or that failed (logged here).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Followed {
    pub topic: Topic,
    pub ticket: Ticket,
    pub ok: bool,
}

/// Starts the follower on `topics`. It stops when the returned sender is dropped.
pub(crate) fn start(
    topics: Arc<dyn Follow>,
) -> (mpsc::UnboundedSender<Op>, mpsc::UnboundedReceiver<Followed>) {
    let (ops, asked) = mpsc::unbounded_channel();
    let (confirm, confirmed) = mpsc::unbounded_channel();
    tokio::spawn(run(topics, asked, confirm));
    (ops, confirmed)
}

async fn run(
    topics: Arc<dyn Follow>,
    mut asked: mpsc::UnboundedReceiver<Op>,
    confirm: mpsc::UnboundedSender<Followed>,
) {
    let mut running = FuturesUnordered::new();
    // A topic is a key here while an operation on it runs; the queue holds the ones asked after it.
    let mut waiting: HashMap<Topic, VecDeque<Op>> = HashMap::new();
    loop {
        tokio::select! {
            op = asked.recv() => {
                let Some(op) = op else { return };
                match waiting.get_mut(&op.topic()) {
                    Some(queue) => queue.push_back(op),
                    None => {
                        waiting.insert(op.topic(), VecDeque::new());
                        running.push(perform(Arc::clone(&topics), op));
                    }
                }
            }
            Some((done, ok)) = running.next(), if !running.is_empty() => {
                if let Op::Follow(topic, ticket) = done {
                    let _ = confirm.send(Followed { topic, ticket, ok });
                }
                let topic = done.topic();
                match waiting.get_mut(&topic).and_then(VecDeque::pop_front) {
                    Some(next) => running.push(perform(Arc::clone(&topics), next)),
                    None => {
                        waiting.remove(&topic);
                    }
                }
            }
        }
    }
}

async fn perform(topics: Arc<dyn Follow>, op: Op) -> (Op, bool) {
    let result = match op {
        Op::Follow(topic, _) => topics.follow(topic).await,
        Op::Unfollow(topic) => topics.unfollow(topic).await,
    };
    // A failed follow is not lost: the connections that asked for it catch up from the store.
    if let Err(error) = &result {
        tracing::warn!(
            ?op,
            error = error as &dyn std::error::Error,
            "cannot follow or unfollow a topic"
        );
    }
    (op, result.is_ok())
}
