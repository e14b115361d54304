//! The ops one connection has in flight. Each runs on a task of its own, so a socket is not held to one op at
//! a time (a bot or a bridge sends far more than one op per commit's round trip): ops about different
//! conversations run side by side and are answered as each completes, while ops about one conversation
//! start only once the one before has finished, so they take effect in the order sent. An op whose turn
//! comes after its connection began to close is not run: as when ops ran one at a time and the rest were
//! never read, nothing a closed (logged out, too slow) connection sent goes on taking effect.
//! The connection reads no further op while `MAX_IN_FLIGHT` are running. A task rather than a future polled
//! by the connection's loop: while the loop writes a catch-up, a parked op would keep its store connection
//! (or its place in the queue for one) unpolled.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use parley_core::ConversationId;
use tokio::sync::oneshot;

use super::outbound::{Closer, Frame};

/// Most ops one connection may have running; past it, its socket is not read until one completes.
pub(crate) const MAX_IN_FLIGHT: usize = 64;

type Running = Pin<Box<dyn Future<Output = Frame> + Send>>;

/// Made at the first op and boxed: an idle connection carries a pointer.
#[derive(Default)]
pub(crate) struct InFlight(Option<Box<Ops>>);

#[derive(Default)]
struct Ops {
    running: FuturesUnordered<Running>,
    /// For each conversation, the end of the last op started about it: the next one waits for it.
    last: HashMap<ConversationId, oneshot::Receiver<()>>,
}

impl InFlight {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|ops| ops.running.is_empty())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|ops| ops.running.len() >= MAX_IN_FLIGHT)
    }

    fn ops(&mut self) -> &mut Ops {
        self.0.get_or_insert_with(Box::default)
    }

    /// A reply known at once (a refusal): it is written like any other.
    pub(crate) fn answer(&mut self, reply: Frame) {
        self.ops().running.push(Box::pin(std::future::ready(reply)));
    }

    /// Starts an op on a task of its own, after the last one about the same conversation has finished,
    /// unless `closer` says the connection is closing by then. `failed` is the reply if the task fails.
    pub(crate) fn start(
        &mut self,
        conversation_id: Option<ConversationId>,
        op: impl Future<Output = Frame> + Send + 'static,
        failed: Frame,
        closer: &Closer,
    ) {
        let closer = Arc::clone(closer);
        let ops = self.ops();
        let turn = conversation_id.map(|id| {
            let (done, finished) = oneshot::channel::<()>();
            (ops.last.insert(id, finished), done)
        });
        let task = tokio::spawn(async move {
            let done = match turn {
                Some((previous, done)) => {
                    if let Some(previous) = previous {
                        // Finished or failed, the previous op has let go (its sender is dropped either way).
                        let _ = previous.await;
                    }
                    Some(done)
                }
                None => None,
            };
            if closer.reason().is_some() {
                // Nobody will read the reply: the connection is closing.
                return None;
            }
            let reply = op.await;
            drop(done);
            Some(reply)
        });
        ops.running.push(Box::pin(async move {
            match task.await {
                Ok(reply) => reply.unwrap_or(failed),
                Err(error) => {
                    tracing::error!(error = &error as &dyn std::error::Error, "an op failed");
                    failed
                }
            }
        }));
        ops.forget_finished();
    }

    /// The next reply, as ops complete; never completes when none is running.
    pub(crate) async fn next(&mut self) -> Frame {
        match self.0.as_mut() {
            Some(ops) => match ops.running.next().await {
                Some(reply) => reply,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }
}

impl Ops {
    /// Keeps the turns of at most as many conversations as ops can run, so a connection that writes to
    /// many conversations does not keep one entry for each.
    fn forget_finished(&mut self) {
        if self.last.len() > MAX_IN_FLIGHT {
            self.last.retain(|_, finished| {
                matches!(
                    finished.try_recv(),
                    Err(oneshot::error::TryRecvError::Empty)
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::gateway::close;
    use crate::gateway::outbound::{Close, close_with};

    fn frame(text: &str) -> Frame {
        Frame {
            text: text.to_owned().into(),
            cursor: None,
            committed_at: None,
        }
    }

    /// An op that takes `millis` and records when it ran.
    fn op(
        log: &Arc<Mutex<Vec<&'static str>>>,
        name: &'static str,
        millis: u64,
    ) -> impl Future<Output = Frame> + Send + 'static {
        let log = Arc::clone(log);
        async move {
            log.lock().map(|mut l| l.push(name)).ok();
            tokio::time::sleep(Duration::from_millis(millis)).await;
            frame(name)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ops_about_one_conversation_run_in_order_and_others_pass_them() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        let (one, two) = (Some(ConversationId(1)), Some(ConversationId(2)));
        in_flight.start(one, op(&log, "slow in 1", 50), frame("failed"), &open);
        in_flight.start(one, op(&log, "next in 1", 1), frame("failed"), &open);
        in_flight.start(two, op(&log, "quick in 2", 1), frame("failed"), &open);
        in_flight.start(None, op(&log, "ping", 0), frame("failed"), &open);
        let mut replies = Vec::new();
        while !in_flight.is_empty() {
            replies.push(in_flight.next().await.text.to_string());
        }
        assert_eq!(replies, ["ping", "quick in 2", "slow in 1", "next in 1"]);
        let started = log.lock().map(|l| l.clone()).unwrap_or_default();
        let position = |name| started.iter().position(|n| *n == name);
        assert!(position("slow in 1") < position("next in 1"));
    }

    async fn failing() -> Frame {
        panic!("the op failed")
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_op_answers_and_lets_the_next_one_run() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        let one = Some(ConversationId(1));
        in_flight.start(one, failing(), frame("failed"), &open);
        in_flight.start(one, op(&log, "after", 1), frame("failed"), &open);
        let mut replies = Vec::new();
        while !in_flight.is_empty() {
            replies.push(in_flight.next().await.text.to_string());
        }
        assert_eq!(replies, ["failed", "after"]);
    }

    #[tokio::test(start_paused = true)]
    async fn it_is_full_at_the_bound_and_keeps_no_turn_of_finished_conversations() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        for i in 0..MAX_IN_FLIGHT {
            let conversation = Some(ConversationId(i as i64));
            in_flight.start(conversation, op(&log, "op", 1), frame("failed"), &open);
        }
        assert!(in_flight.is_full());
        while !in_flight.is_empty() {
            in_flight.next().await;
        }
        assert!(!in_flight.is_full());
        in_flight.start(
            Some(ConversationId(-1)),
            op(&log, "op", 1),
            frame("failed"),
            &open,
        );
        let kept = in_flight.0.as_ref().map(|ops| ops.last.len());
        assert_eq!(
            kept,
            Some(1),
            "the finished conversations' turns are let go"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_op_whose_turn_comes_after_the_connection_closed_is_not_run() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let closer = Closer::default();
        let one = Some(ConversationId(1));
        in_flight.start(one, op(&log, "running", 50), frame("failed"), &closer);
        in_flight.start(one, op(&log, "waiting", 1), frame("skipped"), &closer);
        // The first op is under way when the connection closes; the second waits for its turn.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let logged_out = Close {
            code: close::LOGGED_OUT,
            reason: "logged out",
        };
        close_with(&closer, logged_out);
        let mut replies = Vec::new();
        while !in_flight.is_empty() {
            replies.push(in_flight.next().await.text.to_string());
        }
        assert_eq!(replies, ["running", "skipped"]);
        let ran = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(ran, ["running"], "the op that waited its turn never ran");
    }

    #[tokio::test(start_paused = true)]
    async fn forgetting_finished_turns_keeps_those_of_ops_still_running() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        let zero = Some(ConversationId(0));
        in_flight.start(zero, op(&log, "slow in 0", 100), frame("failed"), &open);
        for i in 1..MAX_IN_FLIGHT + 2 {
            let conversation = Some(ConversationId(i as i64));
            in_flight.start(conversation, op(&log, "quick", 1), frame("failed"), &open);
            // Each quick op finishes before the next starts, so the turns to forget pile up.
            assert_eq!(in_flight.next().await.text.as_str(), "quick");
        }
        in_flight.start(zero, op(&log, "next in 0", 1), frame("failed"), &open);
        let mut replies = Vec::new();
        while !in_flight.is_empty() {
            replies.push(in_flight.next().await.text.to_string());
        }
        assert_eq!(replies, ["slow in 0", "next in 0"]);
    }
}
