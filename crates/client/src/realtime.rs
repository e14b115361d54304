//! The WebSocket half of the SDK: `Socket` is one connection as the protocol defines it; `Session` keeps one
//! alive, reconnecting with backoff and jitter and resuming from the last cursor it saw.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parley_proto::v1::{ClientOp, ServerFrame, ServerMessage};
use parley_proto::{Cursor, UserId};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Client, Error, Result};

/// What a socket yields.
#[derive(Clone, Debug, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "one per frame, matched at once")]
pub enum Incoming {
    Message(ServerMessage),
    /// A frame this SDK does not know (a newer server): clients ignore it, moving past its cursor if it has
    /// one.
    Unknown {
        text: String,
        cursor: Option<Cursor>,
    },
    /// The server closed the connection with this code.
    Closed {
        code: u16,
        reason: String,
    },
}

/// A frame as it came, before decoding: for clients that read only part of each frame (the load generator).
#[derive(Clone, Debug, PartialEq)]
pub enum RawIncoming {
    /// A text frame: one JSON object as `docs/protocol.md` defines them.
    Text(Utf8Bytes),
    /// The server closed the connection with this code.
    Closed { code: u16, reason: String },
}

/// Frames from the server are small; tungstenite's default read buffer (128 KiB, zeroed before every read)
/// made `memset` a tenth of a load generator's CPU.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(8 * 1024)
}

/// One WebSocket connection, past its `hello`.
pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub user_id: UserId,
    /// The cursor `ready` gave: durable events that follow come after it.
    pub ready_cursor: Cursor,
}

impl Client {
    /// The WebSocket URL of this server (`ws://…/v1/ws`).
    pub fn websocket_url(&self) -> String {
        let base = self.base_url().as_str().trim_end_matches('/');
        format!("{}/v1/ws", base.replacen("http", "ws", 1))
    }

    /// Opens a socket, says `hello` with this client's token, and waits for `ready`. A refused hello is
    /// `Error::Closed` with the server's close code.
    pub async fn connect(&self, resume: Option<Cursor>) -> Result<Socket> {
        self.connect_at(&self.websocket_url(), resume).await
    }

    /// Like `connect`, on the node `GET /v1/gateway` names (in a cluster, the one serving this user's
    /// organization). If the gateway cannot be asked, or the node it names cannot be reached (it died a
    /// moment ago, or the server's `public_url` is not one this client can reach), on this client's own
    /// server.
    pub async fn connect_where_told(&self, resume: Option<Cursor>) -> Result<Socket> {
        let own = self.websocket_url();
        let told = match self.gateway().await {
            Ok(gateway) if gateway.url != own => gateway.url,
            _ => return self.connect_at(&own, resume).await,
        };
        match self.connect_at(&told, resume).await {
            Err(Error::WebSocket(_)) => self.connect_at(&own, resume).await,
            answered => answered,
        }
    }

    /// Like `connect`, on the WebSocket at `url`.
    pub async fn connect_at(&self, url: &str, resume: Option<Cursor>) -> Result<Socket> {
        let token = self.token().unwrap_or_default().to_owned();
        let mut socket = match self.source_ip() {
            Some(ip) => Socket::open_from(url, ip).await?,
            None => Socket::open(url).await?,
        };
        socket.send(&ClientOp::Hello { token, resume }).await?;
        match socket.next().await {
            Some(Ok(Incoming::Message(ServerMessage::Frame(ServerFrame::Ready {
                user_id,
                cursor,
            })))) => {
                socket.user_id = user_id;
                socket.ready_cursor = cursor;
                Ok(socket)
            }
            Some(Ok(Incoming::Closed { code, reason })) => Err(Error::Closed { code, reason }),
            Some(Ok(other)) => Err(Error::Protocol(format!("expected ready, got {other:?}"))),
            Some(Err(error)) => Err(error),
            None => Err(Error::Protocol("the socket ended before ready".into())),
        }
    }
}

impl Socket {
    /// A raw socket, before any `hello`: for tests of what the server does with bad first frames.
    pub async fn open(url: &str) -> Result<Socket> {
        // No Nagle: a small op must not wait for the ACK of the one before it.
        let (stream, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(socket_config()), true)
                .await
                .map_err(Box::new)?;
        Ok(Socket {
            stream,
            user_id: UserId(0),
            ready_cursor: Cursor(0),
        })
    }

    /// A raw socket opened from a given local address.
    pub async fn open_from(url: &str, local: IpAddr) -> Result<Socket> {
        let parsed = url::Url::parse(url)?;
        let host = parsed.host_str().unwrap_or("127.0.0.1");
        let port = parsed.port_or_known_default().unwrap_or(80);
        let remote = tokio::net::lookup_host((host, port))
            .await
            .map_err(io_error)?
            .find(|address| address.is_ipv4() == local.is_ipv4())
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "no address of {host} of the same family as {local}"
                ))
            })?;
        let tcp = if local.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(io_error)?;
        tcp.bind(SocketAddr::new(local, 0)).map_err(io_error)?;
        let stream = tcp.connect(remote).await.map_err(io_error)?;
        stream.set_nodelay(true).map_err(io_error)?;
        let (stream, _) = tokio_tungstenite::client_async_with_config(
            url,
            MaybeTlsStream::Plain(stream),
            Some(socket_config()),
        )
        .await
        .map_err(Box::new)?;
        Ok(Socket {
            stream,
            user_id: UserId(0),
            ready_cursor: Cursor(0),
        })
    }

    pub async fn send(&mut self, op: &ClientOp) -> Result<()> {
        self.send_text(serde_json::to_string(op).unwrap_or_default())
            .await
    }

    /// Sends any text frame, valid or not.
    pub async fn send_text(&mut self, text: String) -> Result<()> {
        self.stream
            .send(Message::text(text))
            .await
            .map_err(Box::new)?;
        Ok(())
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.stream
            .send(Message::binary(bytes))
            .await
            .map_err(Box::new)?;
        Ok(())
    }

    /// The next frame from the server (pings are answered by the library and skipped); `None` once the
    /// connection is gone without a close frame.
    pub async fn next(&mut self) -> Option<Result<Incoming>> {
        Some(self.next_raw().await?.map(|raw| match raw {
            RawIncoming::Text(text) => match serde_json::from_str(text.as_str()) {
                Ok(message) => Incoming::Message(message),
                Err(_) => {
                    let cursor = serde_json::from_str::<CursorOnly>(text.as_str())
                        .ok()
                        .and_then(|c| c.cursor);
                    Incoming::Unknown {
                        text: text.to_string(),
                        cursor,
                    }
                }
            },
            RawIncoming::Closed { code, reason } => Incoming::Closed { code, reason },
        }))
    }

    /// The next frame, undecoded; `None` once the connection is gone without a close frame.
    pub async fn next_raw(&mut self) -> Option<Result<RawIncoming>> {
        loop {
            let message = match self.stream.next().await? {
                Ok(message) => message,
                Err(error) => return Some(Err(Error::WebSocket(Box::new(error)))),
            };
            return Some(match message {
                Message::Text(text) => Ok(RawIncoming::Text(text)),
                Message::Close(frame) => Ok(closed(frame)),
                Message::Binary(_) => Err(Error::Protocol("unexpected binary frame".into())),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            });
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }

    /// Stops reading and writing without a goodbye, as a lost network would.
    pub fn drop_without_close(self) {
        drop(self.stream);
    }
}

/// The one field any frame may have that a client must not ignore.
#[derive(serde::Deserialize)]
struct CursorOnly {
    cursor: Option<Cursor>,
}

fn io_error(error: std::io::Error) -> Error {
    Error::WebSocket(Box::new(tokio_tungstenite::tungstenite::Error::Io(error)))
}

fn closed(frame: Option<CloseFrame>) -> RawIncoming {
    match frame {
        Some(frame) => RawIncoming::Closed {
            code: frame.code.into(),
            reason: frame.reason.to_string(),
        },
        None => RawIncoming::Closed {
            code: 1005,
            reason: String::new(),
        },
    }
}

/// Reconnection delays: exponential from `first` to `cap`, each one drawn at random below the current bound
/// ("full jitter"), so clients cut off together do not come back together.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            attempt: 0,
        }
    }
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Self {
        Backoff {
            first,
            cap,
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let bound = self
            .first
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let random = getrandom::u64().unwrap_or(u64::MAX / 2);
        let bound_micros = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX).max(1);
        Duration::from_micros(random % bound_micros)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A connection that stays up: when it drops, `next` reconnects (with `Backoff`) where `GET /v1/gateway`
/// says and resumes from the last cursor seen, so the caller sees every durable event once, in order,
/// across reconnects and across the nodes of a cluster.
pub struct Session {
    client: Client,
    socket: Option<Socket>,
    cursor: Option<Cursor>,
    backoff: Backoff,
    /// How many times it reconnected.
    pub reconnects: u32,
}

impl Session {
    /// Connects, starting from `resume` (or from now).
    pub async fn start(
        client: Client,
        resume: Option<Cursor>,
        backoff: Backoff,
    ) -> Result<Session> {
        let socket = client.connect_where_told(resume).await?;
        Ok(Session::around(client, socket, resume, backoff))
    }

    /// Connects first to the WebSocket at `url` (a given node of a cluster), starting from `resume` (or
    /// from now); reconnects go where the gateway says, as always.
    pub async fn start_at(
        client: Client,
        url: &str,
        resume: Option<Cursor>,
        backoff: Backoff,
    ) -> Result<Session> {
        let socket = client.connect_at(url, resume).await?;
        Ok(Session::around(client, socket, resume, backoff))
    }

    fn around(client: Client, socket: Socket, resume: Option<Cursor>, backoff: Backoff) -> Session {
        let cursor = Some(resume.unwrap_or(socket.ready_cursor));
        Session {
            client,
            socket: Some(socket),
            cursor,
            backoff,
            reconnects: 0,
        }
    }

    /// The last durable cursor seen: where a reconnect resumes.
    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }

    /// Sends an op on the current connection (reconnecting first if there is none).
    pub async fn send(&mut self, op: &ClientOp) -> Result<()> {
        self.socket().await?.send(op).await
    }

    /// Drops the current connection without a goodbye, as a lost network would; the next call reconnects.
    pub fn lose_connection(&mut self) {
        if let Some(socket) = self.socket.take() {
            socket.drop_without_close();
        }
    }

    async fn socket(&mut self) -> Result<&mut Socket> {
        while self.socket.is_none() {
            tokio::time::sleep(self.backoff.next_delay()).await;
            match self.client.connect_where_told(self.cursor).await {
                // The backoff is reset only once a message arrives, so a server that accepts and then closes
                // at once is not hammered.
                Ok(socket) => {
                    self.reconnects += 1;
                    self.socket = Some(socket);
                }
                // A refused token will not get better by retrying.
                Err(Error::Closed { code, reason }) if code == 4001 || code == 4003 => {
                    return Err(Error::Closed { code, reason });
                }
                Err(_) => {}
            }
        }
        self.socket
            .as_mut()
            .ok_or_else(|| Error::Protocol("no socket".into()))
    }

    /// The next message, reconnecting and resuming as needed. Logged-out sessions end with `Error::Closed`.
    pub async fn next(&mut self) -> Result<ServerMessage> {
        loop {
            let socket = self.socket().await?;
            match socket.next().await {
                Some(Ok(Incoming::Unknown { cursor, .. })) => {
                    self.backoff.reset();
                    if cursor.is_some() {
                        self.cursor = cursor;
                    }
                }
                Some(Ok(Incoming::Message(message))) => {
                    self.backoff.reset();
                    match &message {
                        ServerMessage::Event(frame) => self.cursor = Some(frame.cursor),
                        // The old cursor is no good: after reloading, the caller continues from here.
                        ServerMessage::Frame(ServerFrame::Resync { cursor }) => {
                            self.cursor = Some(*cursor)
                        }
                        ServerMessage::Frame(_) => {}
                    }
                    return Ok(message);
                }
                Some(Ok(Incoming::Closed { code, reason })) if code == 4001 || code == 4003 => {
                    self.socket = None;
                    return Err(Error::Closed { code, reason });
                }
                Some(Ok(Incoming::Closed { .. })) | Some(Err(_)) | None => self.socket = None,
            }
        }
    }
}
