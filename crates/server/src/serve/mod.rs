//! The accept loop: takes TCP connections within the caps (`admission.rs`), serves each with hyper under
//! its deadlines (`watchdog.rs`), and shuts down gracefully.
//!
//! axum's own `serve` has no caps and no timeouts: a connection that sent nothing was held forever, and a
//! few hundred of them used up the open-files limit until `/healthz` stopped answering. This loop is that
//! `serve` with the two added, on the same hyper.

mod admission;
mod watchdog;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::app::{AppState, router};
use admission::{Admission, Permit, Refusal};
pub use watchdog::Deadlines;
use watchdog::{Activity, Answer, Watched};

/// How the server treats HTTP connections and requests. Built from the server's `Config`.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub deadlines: Deadlines,
    /// Longest pause between two parts of a request body.
    pub body_timeout: Duration,
    /// Longest a whole REST request may take, body and answer.
    pub request_timeout: Duration,
    /// Most connections (HTTP and WebSocket) open at once.
    pub max_connections: usize,
    /// Most connections open at once from one client address.
    pub max_connections_per_address: usize,
}

/// File descriptors kept back from connections for the store, its log, the bus and the data directory.
fn reserved_files(limit: u64) -> u64 {
    (limit / 32).max(64)
}

/// The connection cap that fits the process's open-files limit, with room for everything else it opens.
pub fn default_max_connections() -> usize {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, rlimit::INFINITY));
    let limit = soft.min(1 << 20);
    usize::try_from(limit.saturating_sub(reserved_files(limit)))
        .unwrap_or(1024)
        .max(1)
}

/// Raises the soft open-files limit to the hard one, and returns the limit in effect: every connection is a
/// file, and distributions still start processes with a soft limit of 1,024 or less.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    rlimit::increase_nofile_limit(hard)
}

/// Serves until `shutdown` completes, then stops accepting, finishes the requests in flight (and so the
/// writes they wait on), closes the WebSockets and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shards = Arc::clone(&state.shards);
    let settings = state.http.clone();
    let app = router(state);
    let admission = Admission::new(
        settings.max_connections,
        settings.max_connections_per_address,
    );
    // Each connection's task holds a receiver: `stopping` tells them to finish, and its `closed` completes
    // once they all have.
    let (stopping, stop) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
        };
        let permit = match admission.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(refusal) => {
                turn_away(&socket, refusal);
                continue;
            }
        };
        // No Nagle: a WebSocket writes small frames, and each would otherwise wait for the ACK of the one
        // before it, which the peer delays by up to 40 ms (measured: ingest acks at p50 41 ms before, 31 ms
        // after).
        if let Err(error) = socket.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let connection = Connection {
            socket,
            peer,
            permit,
            app: app.clone(),
            deadlines: settings.deadlines,
        };
        tokio::spawn(connection.serve(stop.clone()));
    }
    drop(listener);
    drop(stop);
    let _ = stopping.send(true);
    stopping.closed().await;
    // WebSockets are not requests in flight: once the listener is closed (so nobody reconnects here), tell
    // them to reconnect elsewhere or after the restart, and give them a moment to go.
    let closing = shards
        .all()
        .iter()
        .map(|shard| shard.hub.close_all(SOCKETS_PATIENCE));
    futures_util::future::join_all(closing).await;
    // Only now: leaving stops the bus, and with it this node's dispatcher, which the closing needs.
    for shard in shards.all() {
        shard.parley.leave_cluster().await;
    }
    Ok(())
}

/// Connections the kernel may hold ready for accepting. The usual default (128) overflows when thousands
/// of clients reconnect at once after a restart; the overflowing ones wait a second before their SYN is
/// retried (measured: p99.9 connect at 1.03 s with 256 connects in flight).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the listening socket, with a backlog sized for reconnect storms.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How long shutdown waits for WebSockets to close after telling them to.
const SOCKETS_PATIENCE: Duration = Duration::from_secs(5);

/// Out of file descriptors (or another passing failure): wait a moment rather than spin, since accepting
/// again at once fails the same way until a connection closes.
async fn accept_failed(error: &std::io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Answers 503 to a connection over a cap, without waiting on it, and drops it.
fn turn_away(socket: &TcpStream, refusal: Refusal) {
    let reason = match refusal {
        Refusal::ServerFull => "server_full",
        Refusal::AddressFull => "address_full",
    };
    metrics::counter!("parley_http_connections_refused_total", "reason" => reason).increment(1);
    let body = r#"{"error":{"code":"too_many_connections","message":"too many connections; retry later"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // A fresh socket's send buffer is empty, so this fits; if it does not, the client just sees the close.
    let _ = socket.try_write(answer.as_bytes());
}

/// One accepted connection, before it is served.
struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    permit: Permit,
    app: Router,
    deadlines: Deadlines,
}

impl Connection {
    /// Serves requests (and hands a WebSocket upgrade its socket) until the client goes, a deadline passes,
    /// or shutdown has let the request in flight finish.
    async fn serve(self, mut stop: watch::Receiver<bool>) {
        let Connection {
            socket,
            peer,
            permit,
            app,
            deadlines,
        } = self;
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(socket, Arc::clone(&activity), permit));
        let requests = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let answering = requests.request_started();
            let answer = app.clone().oneshot(request);
            async move {
                let response = answer.await.unwrap_or_else(|never| match never {});
                Ok::<_, Infallible>(response.map(|body| Answer {
                    body,
                    _answering: answering,
                }))
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            // The watchdog keeps the deadlines; hyper's own header timer would also cut idle keep-alives.
            .header_read_timeout(None)
            .serve_connection(io, service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let mut expired = std::pin::pin!(activity.expire(deadlines));
        let mut stopping = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    return;
                }
                // Dropping the connection closes the socket; a request in flight keeps it from expiring.
                () = &mut expired => return,
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
