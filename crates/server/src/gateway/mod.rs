//! The WebSocket gateway (`GET /v1/ws`): the connection layer. It authenticates sockets, keeps the registry
//! of which user is on which local connection, follows the bus topics its connections need, fans events out,
//! and keeps sockets alive. It holds no business rules: every op is a call to a use case in core.
//!
//! - `registry/`: the pure registry of this node's connections, rooms and followed topics: inputs in,
//!   effects out, unit-tested.
//! - `dispatcher.rs`: the `Hub` handle and the one task that feeds the registry and carries out its effects.
//! - `follower.rs`: follows bus topics off the dispatcher's loop and confirms them.
//! - `presence.rs`: announces users coming online and going offline, in order.
//! - `outbound.rs`: what a connection is sent (shared frames, catch-ups, closes) and its close signal.
//! - `connection.rs`: one socket: the hello handshake, the reader (ops) and the writer (frames, catch-up,
//!   pings).

mod connection;
mod dispatcher;
mod follower;
mod in_flight;
mod outbound;
mod presence;
mod registry;

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::Response;

use crate::app::AppState;
use crate::error::ApiError;

pub use dispatcher::Hub;

/// Close codes, as `docs/protocol.md` documents them.
pub mod close {
    /// The first frame was not a valid `hello`, or did not come in time.
    pub const PROTOCOL: u16 = 4000;
    /// The token in `hello` is missing, invalid or revoked.
    pub const BAD_TOKEN: u16 = 4001;
    /// The client did not read fast enough and its queue filled: reconnect and resume from your cursor.
    pub const TOO_SLOW: u16 = 4002;
    /// The session was logged out.
    pub const LOGGED_OUT: u16 = 4003;
    /// Nothing came from the client (not even a pong) for too long.
    pub const IDLE: u16 = 4004;
    /// A frame over the size limit (standard "message too big").
    pub const TOO_BIG: u16 = 1009;
    /// The server failed (standard "internal error").
    pub const INTERNAL: u16 = 1011;
    /// The server is shutting down or restarting: reconnect, here or elsewhere (standard "service restart").
    pub const RESTART: u16 = 1012;
    /// The server cannot serve the connection for a moment (its store is unreachable): keep the token and
    /// reconnect with backoff (standard "try again later").
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The user has as many sockets open as they may: close one, or reconnect later.
    pub const TOO_MANY_SOCKETS: u16 = 4005;
    /// The user's role in their organization changed: reconnect (at once), and the new role applies.
    pub const ROLE_CHANGED: u16 = 4006;
    /// A frame that is not valid UTF-8 text (standard "invalid frame payload data").
    pub const NOT_UTF8: u16 = 1007;
    /// A frame that breaks the WebSocket protocol (standard "protocol error").
    pub const PROTOCOL_ERROR: u16 = 1002;
}

/// How the gateway treats sockets. Built from the server's `Config`.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// Largest frame (and message) a client may send, in bytes.
    pub max_frame_bytes: usize,
    /// Frames a connection may have queued before it is closed as too slow.
    pub queue_frames: usize,
    /// How often the server pings.
    pub ping_every: Duration,
    /// How long a connection may stay silent (no frame, no pong) before it is dropped.
    pub idle_timeout: Duration,
    /// How long the first frame (`hello`) may take.
    pub hello_timeout: Duration,
    /// How long a user stays online after their last connection closes, so a quick reconnect does not flap.
    pub presence_grace: Duration,
    /// Ops per second one connection may send (as a steady rate; twice that as a burst).
    pub ops_per_second: u32,
    /// Connections one user may have open at once.
    pub max_sockets_per_user: usize,
}

/// Read and write buffers sized for many idle sockets instead of the library's 128 KiB. The read buffer holds
/// an op or two (most are a few hundred bytes) and grows for a bigger frame; each KiB of it is a sixth of an
/// idle connection's memory (measured: 4 KiB 10.75, 1 KiB 7.75 and 6.27, 512 B 5.75 KiB per connection at
/// 19,000; ingest, whose ops are ~300 bytes, the same with 512 B as with 1 KiB).
const READ_BUFFER_BYTES: usize = 512;
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// Open a WebSocket
///
/// Upgrades to the real-time protocol of `docs/protocol.md`: the first frame is `hello` with a token.
#[utoipa::path(
    get,
    path = "/v1/ws",
    operation_id = "websocket",
    tag = "realtime",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; authenticate with the first frame"),
        (status = 400, description = "Not a WebSocket upgrade request"),
    )
)]
pub async fn upgrade(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let settings = state.gateway.clone();
    Ok(upgrade?
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(settings.max_frame_bytes)
        .max_frame_size(settings.max_frame_bytes)
        .on_upgrade(move |socket| connection::serve(socket, state.shards, settings)))
}
