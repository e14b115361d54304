//! One WebSocket: the `hello` handshake, then one task that reads the client's ops and writes everything the
//! connection is sent, until either side ends it.
//!
//! The task selects over the socket, the connection's queue (filled by the dispatcher), the op in progress,
//! pings and the close signal. It is the only code that writes to the socket: whatever is queued goes out as
//! one batch with a single flush, durable events it already sent are skipped (by cursor), and on
//! `Outbound::CatchUp` it replays from the store. Since the dispatcher queues events in cursor order and
//! replays are by cursor, a client sees each durable event once, in order, with no gap.
//!
//! Ops run many at once (`in_flight.rs`), polled by this task: those about one conversation in the order they
//! came, each answered as it completes. Every write races them, so they go on while a slow client is written
//! to. While the most a connection may have are in flight, its socket is not read, but queued frames keep
//! being written.

use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parley_core::model::Millis;
use parley_core::service::{Draft, Pruned, Replay};
use parley_core::{Caller, Cursor, Error, Parley, UserId};
use parley_proto::v1::{ClientOp, ServerFrame, ServerMessage};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::dispatcher::{Hub, Registration};
use super::in_flight::{Handoff, InFlight, Sequence};
use super::outbound::{
    Close, Closer, Deliveries, Frame, Outbound, ROLE_CHANGED, close_with, encode,
};
use super::registry::ConnId;
use super::{GatewaySettings, close};
use crate::error::ApiError;
use crate::shards::Shards;
use crate::tally::Counted;

/// Most frames written between two flushes; bounds how long a busy connection goes without checking for
/// close.
const MAX_BATCH: usize = 256;
/// How long a closing connection tries to send its close frame.
const CLOSE_PATIENCE: Duration = Duration::from_secs(1);
/// How long a closed connection lets the ops it had under way finish, their replies unread: a send read
/// before the close is stored, as it would be had the client waited for the ack.
const FINISH_PATIENCE: Duration = Duration::from_secs(10);
/// Events replayed per store query during a catch-up.
const REPLAY_PAGE: u32 = 500;

pub(super) async fn serve(mut socket: WebSocket, shards: Arc<Shards>, settings: GatewaySettings) {
    let hello = match hello(&mut socket, &shards, &settings).await {
        Ok(hello) => hello,
        Err(close) => {
            refuse(socket, close).await;
            return;
        }
    };
    let (caller, token, resume, parley, hub) = hello;
    let Some(place) = hub.sockets.take(caller.user.id) else {
        refuse(socket, TOO_MANY_SOCKETS).await;
        return;
    };
    let closer = Closer::default();
    let (outbound, queue) = mpsc::channel(settings.queue_frames);
    let registered = register(&parley, &hub, &caller, outbound, Arc::clone(&closer)).await;
    let Some((id, as_of)) = registered else {
        // Reading the user's contacts or conversations failed: the store, most likely.
        refuse(socket, TRY_AGAIN).await;
        return;
    };
    // A logout or a role change between the first check and the registration was announced before this
    // connection could hear it: check again, now that any later one reaches it.
    let refused = match parley.authenticate(&token).await {
        Err(error) => Some(refusal(error)),
        Ok(now) if now.user.role != caller.user.role => Some(ROLE_CHANGED),
        Ok(_) => None,
    };
    if let Some(close) = refused {
        hub.unregister(id);
        refuse(socket, close).await;
        return;
    }
    // A fresh client starts where its rooms were read; every later event for it is either queued live or
    // found by the catch-up the connection starts with.
    let start = resume.unwrap_or(as_of);
    let ready = ServerFrame::Ready {
        user_id: caller.user.id,
        cursor: start,
    };
    if socket.send(Message::Text(encode(&ready))).await.is_err() {
        hub.unregister(id);
        return;
    }
    let per_second = NonZeroU32::new(settings.ops_per_second).unwrap_or(NonZeroU32::MIN);
    let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
    let limiter = RateLimiter::direct_with_clock(
        Quota::per_second(per_second).allow_burst(burst),
        hub.clock.clone(),
    );
    let next_session_check = AtomicI64::new(parley.next_session_check(&caller).0);
    let connection = Connection {
        socket,
        queue,
        session: Arc::new(Session {
            watched: AtomicUsize::new(0),
            parley,
            hub,
            id,
            caller,
            next_session_check,
            _place: place,
        }),
        closer,
        limiter,
        last_sent: start,
        pruned: Pruned::Resync,
        ping_every: settings.ping_every,
        idle_timeout: settings.idle_timeout,
    };
    // A task of its own, and this one ends: the setup above (hello, registration) makes this future several
    // KiB, which a connection would otherwise keep for its whole life.
    tokio::spawn(connection.run());
}

/// Closes a socket that never got to `ready`, counting why.
async fn refuse(mut socket: WebSocket, Close { code, reason }: Close) {
    metrics::counter!("parley_ws_closes_total", "code" => code.to_string()).increment(1);
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_PATIENCE, socket.send(Message::Close(Some(frame)))).await;
}

const TOO_MANY_SOCKETS: Close = Close {
    code: close::TOO_MANY_SOCKETS,
    reason: "too many sockets open for this user",
};

const BAD_TOKEN: Close = Close {
    code: close::BAD_TOKEN,
    reason: "bad token",
};

/// What a `hello` proved: the caller, its token and where it resumes, and its organization's shard.
type Hello = (Arc<Caller>, String, Option<Cursor>, Arc<Parley>, Arc<Hub>);

/// Waits for `hello` and authenticates it on the shard of the token's organization.
async fn hello(
    socket: &mut WebSocket,
    shards: &Shards,
    settings: &GatewaySettings,
) -> Result<Hello, Close> {
    let protocol = Close {
        code: close::PROTOCOL,
        reason: "the first frame must be hello",
    };
    let first = tokio::time::timeout(settings.hello_timeout, socket.recv())
        .await
        .map_err(|_| protocol)?;
    let Some(Ok(Message::Text(text))) = first else {
        return Err(protocol);
    };
    let Ok(ClientOp::Hello { token, resume }) = parley_proto::decode::<ClientOp>(text.as_bytes())
    else {
        return Err(protocol);
    };
    // A move may hold the organization for a moment; no longer than a hello may take.
    let shard = tokio::time::timeout(settings.hello_timeout, shards.of_token(&token))
        .await
        .unwrap_or(Err(Error::Busy))
        .map_err(refusal)?;
    let caller = shard.parley.authenticate(&token).await.map_err(refusal)?;
    let (parley, hub) = (Arc::clone(&shard.parley), Arc::clone(&shard.hub));
    Ok((Arc::new(caller), token, resume, parley, hub))
}

/// How a failed authentication closes the socket: a bad token says so (the client forgets it), anything
/// else (the store unreachable) asks the client to keep it and come back (a 4001 there signed everyone out
/// during a database outage).
fn refusal(error: Error) -> Close {
    match error {
        Error::Unauthenticated => BAD_TOKEN,
        error => {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "cannot authenticate a socket"
            );
            TRY_AGAIN
        }
    }
}

const TRY_AGAIN: Close = Close {
    code: close::TRY_AGAIN_LATER,
    reason: "try again later",
};

/// Registers the connection, then reads its conversations and puts it in their rooms. Returns its id and the
/// cursor its rooms are exact at.
async fn register(
    parley: &Parley,
    hub: &Hub,
    caller: &Arc<Caller>,
    outbound: mpsc::Sender<Outbound>,
    closer: Closer,
) -> Option<(ConnId, Cursor)> {
    let contacts = parley.contact_ids(caller).await.ok()?;
    let registration = Registration {
        caller: Arc::clone(caller),
        contacts,
        outbound,
        closer,
    };
    let id = hub.register(registration).await?;
    let Ok((conversations, as_of)) = parley.conversations_snapshot(caller).await else {
        hub.unregister(id);
        return None;
    };
    hub.set_rooms(id, conversations, as_of).await?;
    Some((id, as_of))
}

/// A connection past `ready`: the socket and everything its one task needs.
struct Connection {
    socket: WebSocket,
    queue: mpsc::Receiver<Outbound>,
    /// What ops need, shared with the op in progress.
    session: Arc<Session>,
    closer: Closer,
    limiter: DefaultDirectRateLimiter,
    /// The cursor of the last durable event written (or the start): anything at or before it is not resent.
    last_sent: Cursor,
    /// Whether a catch-up may skip pruned events: not the first one (the client was away), but every later
    /// one (the connection heard everything live since).
    pruned: Pruned,
    ping_every: Duration,
    idle_timeout: Duration,
}

/// What an op runs with.
struct Session {
    /// How many users this connection asked to follow with `presence_sub` (repeats counted).
    watched: AtomicUsize,
    parley: Arc<Parley>,
    hub: Arc<Hub>,
    id: ConnId,
    caller: Arc<Caller>,
    /// When to check next that the session is live (and keep it from going idle), in milliseconds since
    /// the epoch: at the first ping after it. A check that could not tell (the store away) sets it back
    /// to now, so the next ping tries again.
    next_session_check: AtomicI64,
    /// This connection's place among its user's sockets, given back when the connection ends.
    _place: Counted<UserId>,
}

/// Why the loop stopped on its own (the close signal aside): the code and reason to close with.
type Stop = Option<Close>;

impl Connection {
    /// The connection's life, as the future of its task. An async block rather than an `async fn`: an
    /// `async fn` keeps a second copy of its by-value arguments (the connection, 512 bytes) in its state.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would hold the connection twice: 1,728 instead of 1,200 bytes per connection"
    )]
    fn run(mut self) -> impl Future<Output = ()> + Send {
        async move {
            let mut in_flight = InFlight::default();
            let outcome = {
                // One wait for the close, polled by every select of `pump`: a new wait per frame registered
                // a waker each time (5% of the server's CPU at 200,000 deliveries a second).
                let closer = Arc::clone(&self.closer);
                let closing = std::pin::pin!(closer.closed());
                self.pump(closing, &mut in_flight).await
            };
            match outcome {
                Ok(Some(close)) => close_with(&self.closer, close),
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%error, "socket write failed");
                    close_with(
                        &self.closer,
                        Close {
                            code: close::INTERNAL,
                            reason: "write failed",
                        },
                    );
                }
            }
            let close = self.closer.reason().unwrap_or(BYE);
            let frame = CloseFrame {
                code: close.code,
                reason: close.reason.into(),
            };
            // A peer that reads nothing will not read this either: give it a moment, then drop the socket.
            let say_goodbye = tokio::time::timeout(
                CLOSE_PATIENCE,
                self.socket.send(Message::Close(Some(frame))),
            );
            // The close is set, so an op still waiting its turn is skipped; one under way runs to its end.
            let finish = tokio::time::timeout(FINISH_PATIENCE, async {
                while !in_flight.is_empty() {
                    in_flight.next().await;
                }
            });
            let _ = tokio::join!(say_goodbye, finish);
            self.session.hub.unregister(self.session.id);
        }
    }

    /// Reads ops, starts them, and writes whatever is queued and each op's reply, until the
    /// client goes, a write fails, or `closing` completes. Every write races `closing`: a peer that stops
    /// reading blocks writes, and a close (too slow, logout, shutdown) must still get through.
    async fn pump(
        &mut self,
        mut closing: Pin<&mut impl Future>,
        in_flight: &mut InFlight,
    ) -> Result<Stop, axum::Error> {
        // One timer for the pings and for the silence that closes an idle connection, set to whichever
        // comes first and moved only when it fires: a frame from the client just moves `silent_until`. (Two
        // timers were 150 bytes more of every connection, and resetting the idle one at every frame cost a
        // trip through the timer wheel.)
        let start = tokio::time::Instant::now();
        let mut next_ping = start + self.ping_every;
        let mut silent_until = start + self.idle_timeout;
        let timer = tokio::time::sleep_until(next_ping.min(silent_until));
        let mut timer = std::pin::pin!(timer);
        // Every connection starts with a catch-up from its start cursor: a resume replays what was missed,
        // a fresh start what committed while its rooms were being set.
        let mut pending = Some(Outbound::CatchUp);
        loop {
            if let Some(first) = pending.take() {
                tokio::select! {
                    biased;
                    _ = &mut closing => return Ok(None),
                    written = self.write_batch(first) => written?,
                    () = in_flight.drive() => {}
                }
                continue;
            }
            // Not biased: the branches take turns when several are ready, so a queue that keeps refilling (a
            // busy room) cannot starve the client's ops, pongs and close, nor the other way round.
            tokio::select! {
                _ = &mut closing => return Ok(None),
                reply = in_flight.next(), if !in_flight.is_empty() => {
                    // The client may send again: a silent spell starts now.
                    silent_until = tokio::time::Instant::now() + self.idle_timeout;
                    let replies = in_flight.with_ready(reply, MAX_BATCH);
                    tokio::select! {
                        biased;
                        _ = &mut closing => return Ok(None),
                        sent = self.write_replies(replies) => sent?,
                        () = in_flight.drive() => {}
                    }
                }
                message = self.socket.next(), if !in_flight.is_full() => {
                    silent_until = tokio::time::Instant::now() + self.idle_timeout;
                    match message {
                        None => return Ok(Some(BYE)),
                        Some(Err(error)) => return Ok(Some(failed(&error))),
                        Some(Ok(Message::Close(_))) => return Ok(Some(BYE)),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Binary(_))) => {
                            in_flight.answer(error_frame(None, "unsupported_frame", "ops are JSON text frames"));
                        }
                        Some(Ok(Message::Text(text))) => self.take_op(&text, in_flight),
                    }
                }
                item = self.queue.recv() => match item {
                    Some(item) => pending = Some(item),
                    None => return Ok(None),
                },
                () = &mut timer => {
                    let now = tokio::time::Instant::now();
                    // Ops still running count as the client being there.
                    if now >= silent_until && in_flight.is_empty() {
                        return Ok(Some(Close { code: close::IDLE, reason: "idle: no frame or pong in time" }));
                    }
                    if now >= next_ping {
                        // From now: a long catch-up is not followed by a burst of the pings it held up.
                        next_ping = now + self.ping_every;
                        self.session.check_session_if_due(&self.closer);
                        tokio::select! {
                            biased;
                            _ = &mut closing => return Ok(None),
                            sent = self.socket.send(Message::Ping(Default::default())) => sent?,
                            () = in_flight.drive() => {}
                        }
                    }
                    // Past `silent_until` with ops running: look again at the next ping.
                    let idle_at = if silent_until > now { silent_until } else { next_ping };
                    timer.as_mut().reset(next_ping.min(idle_at));
                }
            }
        }
    }

    /// Decodes an op under the connection's rate limit and starts it, or answers why not.
    fn take_op(&self, text: &Utf8Bytes, in_flight: &mut InFlight) {
        // Only a refused op is read for its `ref` alone; a valid one carries it.
        let reference = || {
            parley_proto::decode::<OpLabel>(text.as_bytes())
                .ok()
                .and_then(|l| l.reference)
        };
        if self.limiter.check().is_err() {
            in_flight.answer(error_frame(
                reference(),
                "rate_limited",
                "too many ops; slow down",
            ));
            return;
        }
        match parley_proto::decode::<ClientOp>(text.as_bytes()) {
            Err(error) => {
                in_flight.answer(error_frame(reference(), "invalid_op", &error.to_string()));
            }
            Ok(op) => {
                let reference = op.reference().map(str::to_owned);
                let failed = move || error_frame(reference, "internal", "the op failed; try again");
                let sequence = match (op.conversation_id(), &op) {
                    (None, _) => Sequence::Free,
                    (Some(id), ClientOp::Send { .. }) => Sequence::Send(id),
                    (Some(id), _) => Sequence::After(id),
                };
                let session = Arc::clone(&self.session);
                in_flight.start(
                    sequence,
                    |handoff| session.op(op, handoff),
                    failed,
                    &self.closer,
                );
            }
        }
    }

    /// Writes the replies, then flushes once.
    async fn write_replies(&mut self, replies: Vec<Frame>) -> Result<(), axum::Error> {
        for reply in replies {
            self.socket.feed(Message::Text(reply.text)).await?;
        }
        self.socket.flush().await
    }

    /// Writes `first` and whatever else is queued (up to `MAX_BATCH`), then flushes once.
    async fn write_batch(&mut self, first: Outbound) -> Result<(), axum::Error> {
        let mut delivered = Deliveries::default();
        self.write(first, &mut delivered).await?;
        let mut written = 1;
        while written < MAX_BATCH {
            let Ok(item) = self.queue.try_recv() else {
                break;
            };
            self.write(item, &mut delivered).await?;
            written += 1;
        }
        self.socket.flush().await?;
        self.session.hub.delivery.record(&delivered);
        Ok(())
    }

    /// Writes one item without flushing, adding a durable event to `delivered`.
    async fn write(
        &mut self,
        item: Outbound,
        delivered: &mut Deliveries,
    ) -> Result<(), axum::Error> {
        match item {
            Outbound::Frame(frame) => {
                if let Some(cursor) = frame.cursor {
                    if cursor <= self.last_sent {
                        return Ok(());
                    }
                    self.last_sent = cursor;
                }
                self.socket.feed(Message::Text(frame.text.clone())).await?;
                if let Some(committed_at) = frame.committed_at {
                    delivered.add(&self.session.hub.delivery, committed_at);
                }
                Ok(())
            }
            Outbound::Close(close) => {
                // What was written before goes out with the batch's flush; the close follows it.
                close_with(&self.closer, *close);
                Ok(())
            }
            Outbound::CatchUp => {
                // Boxed: the replay's future is large, and a connection holds it only while it catches up,
                // not for its whole idle life.
                let caught_up = Box::pin(self.catch_up()).await;
                delivered.clock_is_stale();
                self.pruned = Pruned::Skip;
                caught_up
            }
        }
    }

    /// Writes every event after `last_sent` that the store holds for this user, page by page.
    async fn catch_up(&mut self) -> Result<(), axum::Error> {
        loop {
            match self
                .session
                .parley
                .replay(
                    &self.session.caller,
                    self.last_sent,
                    REPLAY_PAGE,
                    self.pruned,
                )
                .await
            {
                Ok(Replay::Events(events)) => {
                    let full_page = events.len() == REPLAY_PAGE as usize;
                    metrics::counter!("parley_ws_events_replayed_total")
                        .increment(events.len() as u64);
                    for event in &events {
                        let frame = ServerMessage::Event(self.session.parley.event_wire(event));
                        self.socket.feed(Message::Text(encode(&frame))).await?;
                        self.last_sent = event.cursor;
                    }
                    if !full_page {
                        return Ok(());
                    }
                }
                Ok(Replay::Resync) => {
                    let cursor = self
                        .session
                        .parley
                        .current_cursor()
                        .await
                        .map_err(axum::Error::new)?;
                    self.socket
                        .feed(Message::Text(encode(&ServerFrame::Resync { cursor })))
                        .await?;
                    self.last_sent = cursor;
                    return Ok(());
                }
                Err(error) => {
                    tracing::error!(error = &error as &dyn std::error::Error, "replay failed");
                    return Err(axum::Error::new(error));
                }
            }
        }
    }
}

const BYE: Close = Close {
    code: 1000,
    reason: "bye",
};

/// How a failed read closes the connection: a frame over the size limit says so, anything else is the
/// client gone.
fn failed(error: &axum::Error) -> Close {
    let cause = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>());
    match cause {
        Some(tungstenite::Error::Capacity(_)) => Close {
            code: close::TOO_BIG,
            reason: "frame too big",
        },
        Some(tungstenite::Error::Utf8(_)) => Close {
            code: close::NOT_UTF8,
            reason: "text frame is not UTF-8",
        },
        Some(tungstenite::Error::Protocol(_)) => Close {
            code: close::PROTOCOL_ERROR,
            reason: "WebSocket protocol violation",
        },
        _ => BYE,
    }
}

/// The part of an op that is read before the rest, so even a malformed op gets its `ref` back.
#[derive(Deserialize)]
struct OpLabel {
    #[serde(rename = "ref", default)]
    reference: Option<String>,
}

/// Most users one connection may follow the presence of with `presence_sub`, so its state stays bounded.
const MAX_WATCHED: usize = 10_000;

impl Session {
    /// When a check is due, checks on a task of its own that the connection's session is still live,
    /// marking it used; an ended one (logged out, past its lifetime, gone) closes the connection with 4001.
    fn check_session_if_due(self: &Arc<Self>, closer: &Closer) {
        let now = Millis::now().0;
        if now < self.next_session_check.load(Ordering::Relaxed) {
            return;
        }
        let next = self.parley.next_session_check(&self.caller).0;
        self.next_session_check.store(next, Ordering::Relaxed);
        let (session, closer) = (Arc::clone(self), Arc::clone(closer));
        tokio::spawn(async move {
            match session.parley.keep_session(&session.caller).await {
                Ok(()) => {}
                Err(Error::Unauthenticated) => {
                    close_with(
                        &closer,
                        Close {
                            code: close::BAD_TOKEN,
                            reason: "session ended",
                        },
                    );
                }
                // The store is away: the session stands until a check can tell, at the next ping.
                Err(error) => {
                    tracing::debug!(
                        error = &error as &dyn std::error::Error,
                        "cannot check a session"
                    );
                    session.next_session_check.store(0, Ordering::Relaxed);
                }
            }
        });
    }

    /// Runs one op and returns its reply. A send passes `handoff` once queued to the store (see
    /// `in_flight.rs`).
    async fn op(self: Arc<Self>, op: ClientOp, handoff: Handoff) -> Frame {
        let reference = op.reference().map(str::to_owned);
        let caller = &self.caller;
        let result = match op {
            ClientOp::Hello { .. } => {
                return error_frame(reference, "already_authenticated", "hello comes once");
            }
            ClientOp::Send {
                reference,
                conversation_id,
                text,
                nonce,
                mentions,
                thread_root_id,
                also_to_conversation,
                quote,
                attachments,
            } => {
                let draft = Draft {
                    text,
                    nonce,
                    mentions,
                    thread_root_id,
                    also_to_conversation: also_to_conversation.unwrap_or(false),
                    quote,
                    attachments,
                };
                let sent = match self
                    .parley
                    .queue_message(caller, conversation_id, &draft)
                    .await
                {
                    Ok(queued) => {
                        handoff.pass();
                        queued.durable().await
                    }
                    Err(error) => Err(error),
                };
                sent.map(|outcome| ServerFrame::Ack {
                    reference: reference.clone(),
                    message: outcome.message,
                    dropped_mentions: outcome.dropped_mentions,
                })
            }
            ClientOp::Edit {
                reference,
                conversation_id,
                message_id,
                text,
                mentions,
            } => self
                .parley
                .edit_message(
                    caller,
                    conversation_id,
                    message_id,
                    &text,
                    mentions.as_ref(),
                )
                .await
                .map(|edited| ServerFrame::Ack {
                    reference: reference.clone(),
                    message: edited.message,
                    dropped_mentions: edited.dropped_mentions,
                }),
            ClientOp::Pin {
                reference,
                conversation_id,
                message_id,
            } => self
                .parley
                .pin_message(caller, conversation_id, message_id)
                .await
                .map(|()| ServerFrame::Ok {
                    reference: reference.clone(),
                }),
            ClientOp::Unpin {
                reference,
                conversation_id,
                message_id,
            } => self
                .parley
                .unpin_message(caller, conversation_id, message_id)
                .await
                .map(|()| ServerFrame::Ok {
                    reference: reference.clone(),
                }),
            ClientOp::Read {
                reference,
                conversation_id,
                message_id,
            } => self
                .parley
                .mark_read(caller, conversation_id, message_id)
                .await
                .map(|()| ServerFrame::Ok {
                    reference: reference.clone(),
                }),
            ClientOp::Typing {
                reference,
                conversation_id,
            } => self
                .parley
                .typing(caller, conversation_id)
                .await
                .map(|()| ServerFrame::Ok {
                    reference: reference.clone(),
                }),
            ClientOp::PresenceSub {
                reference,
                user_ids,
            } => self.presence_sub(reference, &user_ids).await,
            ClientOp::Ping { reference } => Ok(ServerFrame::Pong { reference }),
        };
        match result {
            Ok(frame) => Frame::control(&frame),
            Err(error) => {
                let error = ApiError::from(error);
                error_frame(reference, error.code(), error.message())
            }
        }
    }

    /// Follows these users' presence, then reports where they are: following first, so no change can fall
    /// between the report and the first update.
    async fn presence_sub(
        &self,
        reference: Option<String>,
        user_ids: &[UserId],
    ) -> Result<ServerFrame, Error> {
        let targets = self.parley.presence_targets(&self.caller, user_ids).await?;
        let watched = self.watched.fetch_add(targets.len(), Ordering::Relaxed) + targets.len();
        if watched > MAX_WATCHED {
            self.watched.fetch_sub(targets.len(), Ordering::Relaxed);
            let message = format!("a connection follows at most {MAX_WATCHED} people's presence");
            return Err(Error::Invalid {
                code: "too_many_users",
                message,
            });
        }
        self.hub.watch(self.id, targets.clone()).await;
        let users = self.parley.presence(&self.caller, &targets).await?;
        Ok(ServerFrame::Presence { reference, users })
    }
}

fn error_frame(reference: Option<String>, code: &str, message: &str) -> Frame {
    Frame::control(&ServerFrame::Error {
        reference,
        code: code.to_owned(),
        message: message.to_owned(),
    })
}
