//! The ops one connection has in flight. A socket is not held to one op at a time (a bot or a bridge sends
//! far more than one op per commit's round trip): ops about different conversations run side by side and are
//! answered as each completes, while an op about a conversation that already has one under way waits in that
//! conversation's line until every op before it has completed, so ops about one conversation take effect in
//! the order sent. Sends are the exception that keeps a busy socket fast: a send *hands off* (`Handoff`) as
//! soon as its write is queued to the store, which stores the messages of a conversation in queue order, and
//! a send right behind it starts then, so a socket's sends to one conversation share commits instead of
//! waiting one commit each. Any other op (an edit, a typing signal) still waits for the sends before it to
//! complete. An op whose turn comes after its connection began to close is not run: as when ops ran one at
//! a time and the rest were never read, nothing a closed (logged out, too slow) connection sent goes on
//! taking effect. One already under way is finished by the closing connection (`FINISH_PATIENCE` in
//! `connection.rs`), its reply unread. The connection reads no further op while `MAX_IN_FLIGHT` are running
//! or waiting.
//!
//! The ops are futures polled by the connection's own task, not tasks of their own: a task per op cost a
//! spawn, a join and a wake-up more for every send (5% fewer acks a second with one op in flight per socket).
//! So the connection must keep polling them whatever else it awaits: every write of its loop races `drive`,
//! which stores the replies that complete meanwhile, or a parked op would keep its store connection (and, on
//! PostgreSQL, the cluster's turn to write) while a slow client is written to.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use parley_core::ConversationId;

use super::outbound::{Closer, Frame};

/// Most ops one connection may have running or waiting their turn; past it, its socket is not read until one
/// completes.
pub(crate) const MAX_IN_FLIGHT: usize = 64;

/// An op and what it is about, answering its reply once run (or skipped, or failed).
type Op = Pin<Box<dyn Future<Output = (Option<ConversationId>, Frame)> + Send>>;

/// A send's leave for the send behind it to start before it completes, passed once its message is queued
/// to the store (so nothing the next send does can be stored before it). Every op hands off when it
/// completes.
#[derive(Clone, Default)]
pub(crate) struct Handoff(Option<Arc<AtomicBool>>);

impl Handoff {
    pub(crate) fn pass(&self) {
        if let Some(passed) = &self.0 {
            passed.store(true, Ordering::Release);
        }
    }

    fn passed(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|passed| passed.load(Ordering::Acquire))
    }
}

/// Made at the first op and boxed: an idle connection carries a pointer.
#[derive(Default)]
pub(crate) struct InFlight(Option<Box<Ops>>);

#[derive(Default)]
struct Ops {
    running: FuturesUnordered<Op>,
    /// One entry for each conversation with an op under way.
    lines: HashMap<ConversationId, Line>,
    /// How many ops wait in `lines`.
    waiting: usize,
    /// Replies that completed while the connection was busy writing, oldest first.
    done: VecDeque<Frame>,
}

/// How an op is ordered among the others of its connection.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sequence {
    /// About no conversation: it starts at once.
    Free,
    /// It starts once every op before it about this conversation has completed.
    After(ConversationId),
    /// A send: it starts once the op before it about this conversation is a send that handed off (its
    /// message queued to the store), or once every op before it has completed.
    Send(ConversationId),
}

/// The ops about one conversation that have not completed.
struct Line {
    /// The hand-off of the op started last.
    last: Handoff,
    /// Ops started and not yet completed.
    running: usize,
    /// The ops sent since, in order.
    waiting: VecDeque<Waiting>,
}

struct Waiting {
    send: bool,
    handoff: Handoff,
    op: Op,
}

impl Line {
    /// Whether an op (a send or not) may start now, if no op waits ahead of it. Only sends pass their
    /// hand-off before they complete, so a send may follow a running op only if that op is a send.
    fn may_start(&self, send: bool) -> bool {
        self.running == 0 || (send && self.last.passed())
    }
}

impl InFlight {
    pub(crate) fn is_empty(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|ops| ops.running.is_empty() && ops.done.is_empty())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|ops| ops.running.len() + ops.waiting + ops.done.len() >= MAX_IN_FLIGHT)
    }

    fn ops(&mut self) -> &mut Ops {
        self.0.get_or_insert_with(Box::default)
    }

    /// A reply known at once (a refusal): it is written like any other.
    pub(crate) fn answer(&mut self, reply: Frame) {
        self.ops().done.push_back(reply);
    }

    /// Starts an op (`op` makes it, given its hand-off), or puts it in line as `sequence` says. One put in
    /// line is not run if `closer` says the connection is closing when its turn comes; `failed` makes the
    /// reply then, and if the op panics (made only then: most ops never need it).
    pub(crate) fn start<F>(
        &mut self,
        sequence: Sequence,
        op: impl FnOnce(Handoff) -> F,
        failed: impl FnOnce() -> Frame + Send + 'static,
        closer: &Closer,
    ) where
        F: Future<Output = Frame> + Send + 'static,
    {
        let ops = self.ops();
        let (id, send) = match sequence {
            Sequence::Free => {
                let none = Handoff::default();
                let op = guarded(None, op(none.clone()), failed, None, none);
                ops.running.push(op);
                return;
            }
            Sequence::After(id) => (id, false),
            Sequence::Send(id) => (id, true),
        };
        let handoff = Handoff(Some(Arc::default()));
        let line = ops.lines.entry(id).or_insert_with(|| Line {
            last: Handoff::default(),
            running: 0,
            waiting: VecDeque::new(),
        });
        if line.waiting.is_empty() && line.may_start(send) {
            line.running += 1;
            line.last = handoff.clone();
            let op = guarded(Some(id), op(handoff.clone()), failed, None, handoff);
            ops.running.push(op);
        } else {
            let closer = Some(Arc::clone(closer));
            let op = guarded(
                Some(id),
                op(handoff.clone()),
                failed,
                closer,
                handoff.clone(),
            );
            line.waiting.push_back(Waiting { send, handoff, op });
            ops.waiting += 1;
        }
    }

    /// The next reply, as ops complete; never completes when none is running.
    pub(crate) async fn next(&mut self) -> Frame {
        let Some(ops) = self.0.as_mut() else {
            return std::future::pending().await;
        };
        match ops.done.pop_front() {
            Some(reply) => reply,
            None => std::future::poll_fn(|cx| ops.poll_complete(cx)).await,
        }
    }

    /// `first` and the replies ready now after it, `most` in all: what one flush writes.
    pub(crate) fn with_ready(&mut self, first: Frame, most: usize) -> Vec<Frame> {
        let mut replies = vec![first];
        while replies.len() < most {
            match self.next().now_or_never() {
                Some(reply) => replies.push(reply),
                None => break,
            }
        }
        replies
    }

    /// Runs the ops in flight, keeping their replies for `next`; never completes. The connection races it
    /// with each of its writes.
    pub(crate) async fn drive(&mut self) {
        let Some(ops) = self.0.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            let reply = std::future::poll_fn(|cx| ops.poll_complete(cx)).await;
            ops.done.push_back(reply);
        }
    }
}

/// The op as the set runs it: answering `failed` if it panics, or, when `closer` is given (an op that waited
/// its turn), if the connection is closing once it starts. It hands off when it completes, if not before.
fn guarded(
    conversation_id: Option<ConversationId>,
    op: impl Future<Output = Frame> + Send + 'static,
    failed: impl FnOnce() -> Frame + Send + 'static,
    closer: Option<Closer>,
    handoff: Handoff,
) -> Op {
    Box::pin(async move {
        if closer.is_some_and(|closer| closer.reason().is_some()) {
            // Nobody will read the reply: the connection is closing.
            handoff.pass();
            return (conversation_id, failed());
        }
        let reply = match AssertUnwindSafe(op).catch_unwind().await {
            Ok(reply) => reply,
            Err(_) => {
                tracing::error!("an op failed");
                failed()
            }
        };
        handoff.pass();
        (conversation_id, reply)
    })
}

impl Ops {
    /// Polls the running ops, starting each line's next op once the one before hands off, until one
    /// completes: its reply.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Frame> {
        loop {
            let polled = self.running.poll_next_unpin(cx);
            if let Poll::Ready(Some((conversation_id, _))) = &polled {
                self.let_go(*conversation_id);
            }
            let started = self.start_handed_off();
            match polled {
                Poll::Ready(Some((_, reply))) => return Poll::Ready(reply),
                // Ops just started have not been polled yet; anything else wakes this task.
                _ if started => continue,
                _ => return Poll::Pending,
            }
        }
    }

    /// An op about `conversation_id` completed: its line goes once nothing else of it is under way.
    fn let_go(&mut self, conversation_id: Option<ConversationId>) {
        let Some(Entry::Occupied(mut line)) = conversation_id.map(|id| self.lines.entry(id)) else {
            return;
        };
        line.get_mut().running -= 1;
        if line.get().running == 0 && line.get().waiting.is_empty() {
            line.remove();
        }
    }

    /// Starts the ops whose turn has come in every line; whether it started any.
    fn start_handed_off(&mut self) -> bool {
        let mut started = false;
        for line in self.lines.values_mut() {
            while line
                .waiting
                .front()
                .is_some_and(|next| line.may_start(next.send))
            {
                let Some(next) = line.waiting.pop_front() else {
                    break;
                };
                self.waiting -= 1;
                line.running += 1;
                line.last = next.handoff;
                self.running.push(next.op);
                started = true;
            }
        }
        started
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

    /// Runs the ops for `millis`, as the connection does while it writes.
    async fn drive_for(in_flight: &mut InFlight, millis: u64) {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(millis)) => {}
            _ = in_flight.drive() => unreachable!("drive never completes"),
        }
    }

    /// Every reply still to come, in the order they complete.
    async fn every_reply(in_flight: &mut InFlight) -> Vec<String> {
        let mut replies = Vec::new();
        while !in_flight.is_empty() {
            replies.push(in_flight.next().await.text.to_string());
        }
        replies
    }

    #[tokio::test(start_paused = true)]
    async fn ops_about_one_conversation_run_in_order_and_others_pass_them() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        let (one, two) = (
            Sequence::After(ConversationId(1)),
            Sequence::After(ConversationId(2)),
        );
        in_flight.start(
            one,
            |_| op(&log, "slow in 1", 50),
            || frame("failed"),
            &open,
        );
        in_flight.start(one, |_| op(&log, "next in 1", 1), || frame("failed"), &open);
        in_flight.start(
            two,
            |_| op(&log, "quick in 2", 1),
            || frame("failed"),
            &open,
        );
        in_flight.start(
            Sequence::Free,
            |_| op(&log, "ping", 0),
            || frame("failed"),
            &open,
        );
        let replies = every_reply(&mut in_flight).await;
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
        let one = Sequence::After(ConversationId(1));
        in_flight.start(one, |_| failing(), || frame("failed"), &open);
        in_flight.start(one, |_| op(&log, "after", 1), || frame("failed"), &open);
        let replies = every_reply(&mut in_flight).await;
        assert_eq!(replies, ["failed", "after"]);
    }

    #[tokio::test(start_paused = true)]
    async fn it_is_full_at_the_bound_and_keeps_no_turn_of_finished_conversations() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        for i in 0..MAX_IN_FLIGHT {
            let conversation = Sequence::After(ConversationId(i as i64));
            in_flight.start(
                conversation,
                |_| op(&log, "op", 1),
                || frame("failed"),
                &open,
            );
        }
        assert!(in_flight.is_full());
        while !in_flight.is_empty() {
            in_flight.next().await;
        }
        assert!(!in_flight.is_full());
        in_flight.start(
            Sequence::After(ConversationId(-1)),
            |_| op(&log, "op", 1),
            || frame("failed"),
            &open,
        );
        let kept = in_flight.0.as_ref().map(|ops| ops.lines.len());
        assert_eq!(
            kept,
            Some(1),
            "the finished conversations' lines are let go"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_op_whose_turn_comes_after_the_connection_closed_is_not_run() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let closer = Closer::default();
        let one = Sequence::After(ConversationId(1));
        in_flight.start(
            one,
            |_| op(&log, "running", 50),
            || frame("failed"),
            &closer,
        );
        in_flight.start(
            one,
            |_| op(&log, "waiting", 1),
            || frame("skipped"),
            &closer,
        );
        // The first op is under way when the connection closes; the second waits for its turn.
        drive_for(&mut in_flight, 10).await;
        let logged_out = Close {
            code: close::LOGGED_OUT,
            reason: "logged out",
        };
        close_with(&closer, logged_out);
        let replies = every_reply(&mut in_flight).await;
        assert_eq!(replies, ["running", "skipped"]);
        let ran = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(ran, ["running"], "the op that waited its turn never ran");
    }

    #[tokio::test(start_paused = true)]
    async fn an_op_waits_for_its_conversation_however_many_others_pass() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        let zero = Sequence::After(ConversationId(0));
        in_flight.start(
            zero,
            |_| op(&log, "slow in 0", 100),
            || frame("failed"),
            &open,
        );
        for i in 1..MAX_IN_FLIGHT + 2 {
            let conversation = Sequence::After(ConversationId(i as i64));
            in_flight.start(
                conversation,
                |_| op(&log, "quick", 1),
                || frame("failed"),
                &open,
            );
            // Each quick op finishes before the next starts, their lines made and let go meanwhile.
            assert_eq!(in_flight.next().await.text.as_str(), "quick");
        }
        in_flight.start(
            zero,
            |_| op(&log, "next in 0", 1),
            || frame("failed"),
            &open,
        );
        let replies = every_reply(&mut in_flight).await;
        assert_eq!(replies, ["slow in 0", "next in 0"]);
    }

    #[tokio::test(start_paused = true)]
    async fn ops_waiting_their_turn_count_toward_the_bound() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        let one = Sequence::After(ConversationId(1));
        for _ in 0..MAX_IN_FLIGHT - 1 {
            in_flight.start(one, |_| op(&log, "op", 1), || frame("failed"), &open);
        }
        assert!(!in_flight.is_full());
        in_flight.answer(frame("refused"));
        assert!(in_flight.is_full(), "a reply not yet written counts too");
        let mut replies = 0;
        while !in_flight.is_empty() {
            in_flight.next().await;
            replies += 1;
        }
        assert_eq!(replies, MAX_IN_FLIGHT);
    }

    #[tokio::test(start_paused = true)]
    async fn driving_runs_the_ops_and_keeps_their_replies_in_order_of_completion() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        in_flight.start(
            Sequence::After(ConversationId(1)),
            |_| op(&log, "slow", 20),
            || frame("failed"),
            &open,
        );
        in_flight.start(
            Sequence::After(ConversationId(2)),
            |_| op(&log, "quick", 5),
            || frame("failed"),
            &open,
        );
        // A write that takes 50 ms, raced with the ops as the connection does.
        drive_for(&mut in_flight, 50).await;
        let started = log.lock().map(|l| l.len()).unwrap_or_default();
        assert_eq!(started, 2, "both ops ran while the connection wrote");
        let first = in_flight.next().now_or_never().map(|f| f.text.to_string());
        let second = in_flight.next().now_or_never().map(|f| f.text.to_string());
        assert_eq!(first.as_deref(), Some("quick"));
        assert_eq!(second.as_deref(), Some("slow"));
        assert!(in_flight.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_op_read_before_the_close_runs_even_if_not_yet_polled() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let closer = Closer::default();
        in_flight.start(
            Sequence::After(ConversationId(1)),
            |_| op(&log, "read", 1),
            || frame("skipped"),
            &closer,
        );
        let bye = Close {
            code: 1000,
            reason: "bye",
        };
        close_with(&closer, bye);
        assert_eq!(in_flight.next().await.text.as_str(), "read");
        let ran = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(ran, ["read"]);
    }

    /// A send that is queued to the store after 1 ms and stored 50 ms later.
    async fn queued_then_stored(handoff: Handoff, name: &'static str) -> Frame {
        tokio::time::sleep(Duration::from_millis(1)).await;
        handoff.pass();
        tokio::time::sleep(Duration::from_millis(50)).await;
        frame(name)
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_starts_once_the_send_before_it_hands_off() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        let send = Sequence::Send(ConversationId(1));
        in_flight.start(
            send,
            |h| queued_then_stored(h, "first"),
            || frame("failed"),
            &open,
        );
        in_flight.start(send, |_| op(&log, "second", 100), || frame("failed"), &open);
        in_flight.start(send, |_| op(&log, "third", 1), || frame("failed"), &open);
        drive_for(&mut in_flight, 10).await;
        let started = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(
            started,
            ["second"],
            "the second started once the first handed off; the third waits for the second"
        );
        let replies = every_reply(&mut in_flight).await;
        assert_eq!(replies, ["first", "second", "third"]);
        let lines = in_flight.0.as_ref().map(|ops| ops.lines.len());
        assert_eq!(
            lines,
            Some(0),
            "the line is let go once all its ops completed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_ops_wait_for_the_sends_before_them_to_complete() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut in_flight = InFlight::default();
        let open = Closer::default();
        let one = ConversationId(1);
        let (send, edit) = (Sequence::Send(one), Sequence::After(one));
        in_flight.start(
            send,
            |h| queued_then_stored(h, "first"),
            || frame("failed"),
            &open,
        );
        in_flight.start(
            send,
            |h| queued_then_stored(h, "second"),
            || frame("failed"),
            &open,
        );
        in_flight.start(edit, |_| op(&log, "edit", 1), || frame("failed"), &open);
        in_flight.start(
            send,
            |_| op(&log, "after the edit", 1),
            || frame("failed"),
            &open,
        );
        drive_for(&mut in_flight, 30).await;
        let started = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(
            started.is_empty(),
            "both sends handed off, yet {started:?} started"
        );
        let replies = every_reply(&mut in_flight).await;
        assert_eq!(replies, ["first", "second", "edit", "after the edit"]);
    }
}
