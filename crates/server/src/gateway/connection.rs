//! One WebSocket: the `hello` handshake, then a reader (client ops) and a writer (everything sent) that run
//! side by side until either ends.
//!
//! The writer is the only code that writes to the socket. It takes whatever is queued and writes it as one
//! batch with a single flush, skips durable events it already sent (by cursor), and replays from the store
//! when asked to catch up. Since the dispatcher queues events in cursor order and replays are by cursor, a
//! client sees each durable event once, in order, with no gap.

use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parley_core::service::{Pruned, Replay, SendOutcome};
use parley_core::{Caller, Cursor, Error, Parley, UserId};
use parley_proto::v1::{ClientOp, ServerFrame, ServerMessage};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::hub::{Close, Closer, ConnId, Frame, Hub, Outbound, Registration, close_with, encode};
use super::{GatewaySettings, close};
use crate::error::ApiError;

/// Most frames written between two flushes; bounds how long a busy writer goes without checking for close.
const MAX_BATCH: usize = 256;
/// How long a closing writer tries to send its close frame.
const CLOSE_PATIENCE: Duration = Duration::from_secs(1);
/// Events replayed per store query during a catch-up.
const REPLAY_PAGE: u32 = 500;

type Sink = SplitSink<WebSocket, Message>;

pub(super) async fn serve(
    mut socket: WebSocket,
    parley: Arc<Parley>,
    hub: Arc<Hub>,
    settings: GatewaySettings,
) {
    let (caller, token, resume) = match hello(&mut socket, &parley, &settings).await {
        Ok(hello) => hello,
        Err(Close { code, reason }) => {
            metrics::counter!("parley_ws_closes_total", "code" => code.to_string()).increment(1);
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            return;
        }
    };
    let (closer, closed) = watch::channel(None);
    let closer: Closer = Arc::new(closer);
    let (outbound, queue) = mpsc::channel(settings.queue_frames);
    let registered = register(
        &parley,
        &hub,
        &caller,
        outbound.clone(),
        Arc::clone(&closer),
    )
    .await;
    let Some((id, as_of)) = registered else {
        let frame = CloseFrame {
            code: close::INTERNAL,
            reason: "cannot register".into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
        return;
    };
    // A logout between the first check and the registration was announced before this connection could
    // hear it: check again, now that any later one reaches it.
    if parley.authenticate(&token).await.is_err() {
        hub.unregister(id);
        let frame = CloseFrame {
            code: BAD_TOKEN.code,
            reason: BAD_TOKEN.reason.into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
        return;
    }
    // A fresh client starts where its rooms were read; every later event for it is either queued live or
    // found by the catch-up the writer starts with.
    let start = resume.unwrap_or(as_of);
    let (mut sink, stream) = socket.split();
    let ready = ServerFrame::Ready {
        user_id: caller.user.id,
        cursor: start,
    };
    if sink.send(Message::Text(encode(&ready))).await.is_ok() {
        let writer = Writer {
            parley: Arc::clone(&parley),
            hub: Arc::clone(&hub),
            caller: Arc::clone(&caller),
            closer: Arc::clone(&closer),
            last_sent: start,
            pruned: Pruned::Resync,
        };
        let writing = tokio::spawn(writer.run(sink, queue, closed.clone(), settings.ping_every));
        let reader = Reader {
            watched: AtomicUsize::new(0),
            parley,
            hub: Arc::clone(&hub),
            id,
            caller,
            outbound,
            closer,
            settings,
        };
        // The reader gets a task of its own and this one ends: the setup above (hello, registration) makes
        // this future several KiB, which a connection would otherwise keep for its whole life.
        tokio::spawn(async move {
            reader.run(stream, closed).await;
            let _ = writing.await;
            hub.unregister(id);
        });
        return;
    }
    hub.unregister(id);
}

const BAD_TOKEN: Close = Close {
    code: close::BAD_TOKEN,
    reason: "bad token",
};

/// Waits for `hello` and authenticates it.
async fn hello(
    socket: &mut WebSocket,
    parley: &Parley,
    settings: &GatewaySettings,
) -> Result<(Arc<Caller>, String, Option<Cursor>), Close> {
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
    let Ok(ClientOp::Hello { token, resume }) = serde_json::from_str::<ClientOp>(&text) else {
        return Err(protocol);
    };
    let caller = parley.authenticate(&token).await.map_err(|_| BAD_TOKEN)?;
    Ok((Arc::new(caller), token, resume))
}

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

struct Writer {
    parley: Arc<Parley>,
    hub: Arc<Hub>,
    caller: Arc<Caller>,
    closer: Closer,
    /// The cursor of the last durable event written (or the start): anything at or before it is not resent.
    last_sent: Cursor,
    /// Whether a catch-up may skip pruned events: not the first one (the client was away), but every later
    /// one (the connection heard everything live since).
    pruned: Pruned,
}

impl Writer {
    async fn run(
        mut self,
        mut sink: Sink,
        mut queue: mpsc::Receiver<Outbound>,
        mut closed: watch::Receiver<Option<Close>>,
        ping_every: Duration,
    ) {
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let outcome = {
            // One wait for the close, polled by every select of `pump`: a new `changed()` per frame
            // registered a waker each time (5% of the server's CPU at 200,000 deliveries a second).
            let closing = std::pin::pin!(closed.changed());
            self.pump(&mut sink, &mut queue, &mut ping, closing).await
        };
        if let Err(error) = outcome {
            tracing::debug!(%error, "socket write failed");
            close_with(&self.closer, close::INTERNAL, "write failed");
        }
        let close = (*closed.borrow()).unwrap_or(Close {
            code: 1000,
            reason: "bye",
        });
        let frame = CloseFrame {
            code: close.code,
            reason: close.reason.into(),
        };
        // A peer that reads nothing will not read this either: give it a moment, then drop the socket.
        let _ = tokio::time::timeout(CLOSE_PATIENCE, sink.send(Message::Close(Some(frame)))).await;
    }

    /// Writes whatever is queued, and pings, until the queue ends or `closing` completes.
    async fn pump(
        &mut self,
        sink: &mut Sink,
        queue: &mut mpsc::Receiver<Outbound>,
        ping: &mut tokio::time::Interval,
        mut closing: Pin<&mut impl Future>,
    ) -> Result<(), axum::Error> {
        // Every connection starts with a catch-up from its start cursor: a resume replays what was missed,
        // a fresh start what committed while its rooms were being set.
        let mut pending = Some(Outbound::CatchUp);
        loop {
            let first = match pending.take() {
                Some(item) => item,
                None => tokio::select! {
                    biased;
                    _ = &mut closing => return Ok(()),
                    item = queue.recv() => match item {
                        Some(item) => item,
                        None => return Ok(()),
                    },
                    _ = ping.tick() => {
                        // A peer that reads nothing blocks this too; a close must still get through.
                        tokio::select! {
                            biased;
                            _ = &mut closing => return Ok(()),
                            sent = sink.send(Message::Ping(Default::default())) => sent?,
                        }
                        continue;
                    }
                },
            };
            // A peer that stops reading blocks the write; a close (too slow, logout, shutdown) must still get
            // through, so the batch races it.
            tokio::select! {
                biased;
                _ = &mut closing => return Ok(()),
                written = self.write_batch(sink, queue, first) => written?,
            }
        }
    }

    /// Writes `first` and whatever else is queued (up to `MAX_BATCH`), then flushes once.
    async fn write_batch(
        &mut self,
        sink: &mut Sink,
        queue: &mut mpsc::Receiver<Outbound>,
        first: Outbound,
    ) -> Result<(), axum::Error> {
        self.write(sink, first).await?;
        let mut written = 1;
        while written < MAX_BATCH {
            let Ok(item) = queue.try_recv() else { break };
            self.write(sink, item).await?;
            written += 1;
        }
        sink.flush().await
    }

    /// Writes one item without flushing.
    async fn write(&mut self, sink: &mut Sink, item: Outbound) -> Result<(), axum::Error> {
        match item {
            Outbound::Frame(frame) => {
                if let Some(cursor) = frame.cursor {
                    if cursor <= self.last_sent {
                        return Ok(());
                    }
                    self.last_sent = cursor;
                }
                sink.feed(Message::Text(frame.text.clone())).await?;
                if let Some(committed_at) = frame.committed_at {
                    self.hub.delivery.record(committed_at);
                }
                Ok(())
            }
            Outbound::CatchUp => {
                // Boxed: the replay's future is most of the writer's size, and a writer holds it only while it
                // catches up, not for its whole idle life.
                let caught_up = Box::pin(self.catch_up(sink)).await;
                self.pruned = Pruned::Skip;
                caught_up
            }
        }
    }

    /// Writes every event after `last_sent` that the store holds for this user, page by page.
    async fn catch_up(&mut self, sink: &mut Sink) -> Result<(), axum::Error> {
        loop {
            match self
                .parley
                .replay(&self.caller, self.last_sent, REPLAY_PAGE, self.pruned)
                .await
            {
                Ok(Replay::Events(events)) => {
                    let full_page = events.len() == REPLAY_PAGE as usize;
                    metrics::counter!("parley_ws_events_replayed_total")
                        .increment(events.len() as u64);
                    for event in &events {
                        let frame = ServerMessage::Event(self.parley.event_wire(event));
                        sink.feed(Message::Text(encode(&frame))).await?;
                        self.last_sent = event.cursor;
                    }
                    if !full_page {
                        return Ok(());
                    }
                }
                Ok(Replay::Resync) => {
                    let cursor = self
                        .parley
                        .current_cursor()
                        .await
                        .map_err(axum::Error::new)?;
                    sink.feed(Message::Text(encode(&ServerFrame::Resync { cursor })))
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

/// The part of an op that is read before the rest, so even a malformed op gets its `ref` back.
#[derive(Deserialize)]
struct OpLabel {
    #[serde(rename = "ref", default)]
    reference: Option<String>,
}

/// Most users one connection may follow the presence of with `presence_sub`, so its state stays bounded.
const MAX_WATCHED: usize = 10_000;

struct Reader {
    /// How many users this connection asked to follow with `presence_sub` (repeats counted).
    watched: AtomicUsize,
    parley: Arc<Parley>,
    hub: Arc<Hub>,
    id: ConnId,
    caller: Arc<Caller>,
    outbound: mpsc::Sender<Outbound>,
    closer: Closer,
    settings: GatewaySettings,
}

impl Reader {
    async fn run(
        self,
        mut stream: SplitStream<WebSocket>,
        mut closed: watch::Receiver<Option<Close>>,
    ) {
        let per_second = NonZeroU32::new(self.settings.ops_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        let limiter: DefaultDirectRateLimiter =
            RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst));
        loop {
            let next = tokio::select! {
                _ = closed.changed() => return,
                next = tokio::time::timeout(self.settings.idle_timeout, stream.next()) => next,
            };
            let message = match next {
                Err(_) => {
                    return close_with(&self.closer, close::IDLE, "idle: no frame or pong in time");
                }
                Ok(None) => return close_with(&self.closer, 1000, "bye"),
                Ok(Some(Err(error))) => return self.failed(&error),
                Ok(Some(Ok(message))) => message,
            };
            let reply = match message {
                Message::Text(text) if limiter.check().is_err() => {
                    let reference = serde_json::from_str::<OpLabel>(&text)
                        .ok()
                        .and_then(|l| l.reference);
                    error_frame(reference, "rate_limited", "too many ops; slow down")
                }
                // Boxed for the same reason as the writer's catch-up: most connections are idle.
                Message::Text(text) => Box::pin(self.op(&text)).await,
                Message::Binary(_) => {
                    error_frame(None, "unsupported_frame", "ops are JSON text frames")
                }
                Message::Close(_) => return close_with(&self.closer, 1000, "bye"),
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if let Err(mpsc::error::TrySendError::Full(_)) =
                self.outbound.try_send(Outbound::Frame(Arc::new(reply)))
            {
                return close_with(
                    &self.closer,
                    close::TOO_SLOW,
                    "too slow: resume from your cursor",
                );
            }
        }
    }

    fn failed(&self, error: &axum::Error) {
        let too_big = std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<tungstenite::Error>())
            .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
        if too_big {
            close_with(&self.closer, close::TOO_BIG, "frame too big");
        } else {
            close_with(&self.closer, 1000, "bye");
        }
    }

    /// Runs one op and returns its reply.
    async fn op(&self, text: &str) -> Frame {
        let reference = serde_json::from_str::<OpLabel>(text)
            .ok()
            .and_then(|l| l.reference);
        let op = match serde_json::from_str::<ClientOp>(text) {
            Ok(op) => op,
            Err(error) => return error_frame(reference, "invalid_op", &error.to_string()),
        };
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
            } => self
                .parley
                .send_message(caller, conversation_id, &text, nonce.as_deref())
                .await
                .map(|outcome| match outcome {
                    SendOutcome::Stored(message) | SendOutcome::Duplicate(message) => {
                        ServerFrame::Ack {
                            reference: reference.clone(),
                            message,
                        }
                    }
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
}

impl Reader {
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
