//! The inboxes' own connection to NATS: it carries their subscriptions, and the node's commits. Other
//! signals, round trips and the node's few subscriptions of its own (`nodes.rs`) stay on async-nats.
//!
//! Why a connection of our own: async-nats gives every subscription a channel whose first block (32 messages
//! of 184 bytes) is allocated when the subscription is made, about 6 KB. A node follows a topic per local user
//! and per conversation with a local member, so those blocks were most of a connection's memory
//! (BENCHMARKS.md, "A cluster"). Here a subscription is an entry in a table. And every message arrives on one
//! stream, in the order the server sent it, which is the order `inbox.rs` builds on.
//!
//! A commit (its events, then its marker) is written in one go and never again on a later connection, so
//! the server handles its marker only after all its events, and the `PONG` that answers the `PING` written
//! after them proves it has: the order `inbox.rs` needs, in one round trip.
//!
//! The protocol is NATS's text protocol, the part this needs: `INFO`, `CONNECT`, `SUB`, `UNSUB`, `PUB`,
//! `MSG`/`HMSG`, `PING`/`PONG`, `+OK`/`-ERR`; over TLS (`tls.rs`), after the `INFO`, when the server is
//! given as `tls://`, its `INFO` asks for it, or a CA file was given.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_rustls::rustls::pki_types::ServerName;

use super::auth::NatsAuth;
use super::link::{self, Link};
use super::tls::FeedTls;
use super::{CONNECT_TIMEOUT, NatsError, OP_TIMEOUT, PING_INTERVAL, reconnect_delay, stopped};

/// A subscription's id on the feed's connection.
pub(crate) type Sid = u64;

/// A control line longer than this is not NATS: the connection is dropped. (A large cluster's `INFO`, with
/// its `connect_urls`, is the longest.)
const MAX_LINE: usize = 64 * 1024;
/// A connection that stayed up this long was a good one: the next attempt goes to the same server, at once.
const STABLE: Duration = Duration::from_secs(5);
/// A payload larger than this is not one of ours (the server's own limit is 1 MiB by default).
const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// The server's limit on what it takes, until its `INFO` says: NATS's default.
const DEFAULT_MAX_PUBLISH: usize = 1024 * 1024;

/// One message, as it came: which subscription it is for, and its payload.
pub(crate) struct Frame {
    pub sid: Sid,
    pub payload: Bytes,
}

/// A server to connect to, from the bus's URL list.
#[derive(Clone, Debug)]
pub(crate) struct Server {
    address: String,
    /// The name its certificate must have.
    host: String,
    /// `tls://`: the connection must be TLS (it is also when the server's `INFO` asks).
    pub(crate) tls: bool,
}

impl Server {
    /// `nats://host[:port]`, `tls://host[:port]`, or just `host[:port]`. Credentials in the URL are
    /// refused: they go in the settings' `auth`, which both of the node's connections use.
    pub(crate) fn parse(text: &str) -> Result<Server, NatsError> {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("nats://{text}")
        };
        let url = url::Url::parse(&with_scheme)
            .map_err(|_| NatsError::Settings("a NATS server must be nats://host:port"))?;
        let tls = match url.scheme() {
            "nats" => false,
            "tls" => true,
            _ => {
                return Err(NatsError::Settings(
                    "a NATS server must be nats:// or tls://",
                ));
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(NatsError::Settings(
                "credentials go in the NATS settings (a user and password, a token or an NKey), not in the URL",
            ));
        }
        let host = url
            .host_str()
            .ok_or(NatsError::Settings("a NATS server needs a host"))?;
        let port = url.port().unwrap_or(4222);
        Ok(Server {
            address: format!("{host}:{port}"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            tls,
        })
    }
}

/// The `CONNECT` line, with the node's credentials (an NKey signs `nonce`, the server's).
fn connect_line(name: &str, auth: &NatsAuth, nonce: &str) -> Result<Vec<u8>, NatsError> {
    let mut options = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "tls_required": false,
        "name": name,
        "lang": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "echo": true,
        "headers": true,
        "no_responders": false,
    });
    if let Some(fields) = options.as_object_mut() {
        auth.put(fields, nonce)?;
    }
    let mut line = b"CONNECT ".to_vec();
    serde_json::to_writer(&mut line, &options)?;
    line.extend_from_slice(b"\r\n");
    Ok(line)
}

/// Whether a `-ERR` is the server refusing the connection's credentials (NATS's `Authorization Violation`,
/// `Authentication Timeout`, `User Authentication Expired`, ...), not one of its subscriptions.
fn refuses_login(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    error.contains("authorization violation") || error.contains("authentication")
}

/// The feed's handle: subscriptions are made and ended here, at once in the table; the connection's task
/// tells the server.
pub(crate) struct Feed {
    table: Arc<Mutex<Table>>,
    writes: mpsc::UnboundedSender<Write>,
    next_sid: AtomicU64,
    /// The largest payload the server takes (its `INFO`'s `max_payload`): a larger one would make it close
    /// the connection.
    max_publish: Arc<AtomicUsize>,
    /// Whether a connection is up with every subscription on it: until then a round trip has nothing to
    /// wait for.
    up: Arc<AtomicBool>,
}

#[derive(Default)]
struct Table {
    subs: HashMap<Sid, Sub>,
}

struct Sub {
    subject: String,
    route: mpsc::Sender<Frame>,
    /// A full route drops the message quietly (a probe's answers), rather than making every inbox lag.
    lossy: bool,
}

enum Write {
    Sub(Sid, String),
    Unsub(Sid),
    /// Answered when the server has handled everything sent before it; dropped if the connection goes.
    Ping(oneshot::Sender<()>),
    /// `PUB`s written as they are, then a `PING`, answered as `Ping` is.
    Publish(Vec<u8>, oneshot::Sender<()>),
}

impl Feed {
    /// Starts the connection's task, which connects (again and again, forever) until `stop`. Each time a
    /// connection has every subscription on its server, the number of its session goes to `subscribed`; the
    /// link's feed half is up from when a probe has gone round (`probe.rs`) until the connection ends.
    pub(crate) fn start(
        servers: Vec<Server>,
        name: String,
        auth: NatsAuth,
        tls: FeedTls,
        link: Arc<watch::Sender<Link>>,
        subscribed: mpsc::UnboundedSender<u64>,
        stop: watch::Receiver<bool>,
    ) -> Feed {
        let table = Arc::new(Mutex::new(Table::default()));
        let (writes, queue) = mpsc::unbounded_channel();
        let max_publish = Arc::new(AtomicUsize::new(DEFAULT_MAX_PUBLISH));
        let up = Arc::new(AtomicBool::new(false));
        let connection = Connection {
            servers,
            name,
            auth,
            tls,
            table: Arc::clone(&table),
            link,
            subscribed,
            max_publish: Arc::clone(&max_publish),
            up: Arc::clone(&up),
        };
        tokio::spawn(connection.run(queue, stop));
        Feed {
            table,
            writes,
            next_sid: AtomicU64::new(1),
            max_publish,
            up,
        }
    }

    /// Messages on `subject` go to `route` from when the server has the subscription (`barrier`).
    pub(crate) fn subscribe(&self, subject: String, route: mpsc::Sender<Frame>) -> Sid {
        self.add(subject, route, false)
    }

    /// As `subscribe`, for messages that may be lost: when `route` is full they are dropped.
    pub(crate) fn subscribe_lossy(&self, subject: String, route: mpsc::Sender<Frame>) -> Sid {
        self.add(subject, route, true)
    }

    fn add(&self, subject: String, route: mpsc::Sender<Frame>, lossy: bool) -> Sid {
        let sid = self.next_sid.fetch_add(1, Ordering::Relaxed);
        let mut table = self.table();
        table.subs.insert(
            sid,
            Sub {
                subject: subject.clone(),
                route,
                lossy,
            },
        );
        // Queued under the lock, so that a new connection either finds it in the queue or in the table it
        // sends, never both. No task means the bus is stopping: the table alone is enough then.
        let _ = self.writes.send(Write::Sub(sid, subject));
        sid
    }

    /// Nothing more of the subscription reaches its route once this returns.
    pub(crate) fn unsubscribe(&self, sid: Sid) {
        let mut table = self.table();
        if table.subs.remove(&sid).is_some() {
            let _ = self.writes.send(Write::Unsub(sid));
        }
    }

    /// Returns once the server has handled every subscription made before; `Disconnected` if there is no
    /// connection (the subscriptions go to the server when there is one again).
    pub(crate) async fn barrier(&self) -> Result<(), NatsError> {
        self.check_up()?;
        let (answer, answered) = oneshot::channel();
        self.writes
            .send(Write::Ping(answer))
            .map_err(|_| NatsError::Closed)?;
        answer_of(answered).await
    }

    /// Publishes the messages in order, in one write, and returns once the server has handled them all. Fails
    /// without a connection, or if it goes first: then the server may have handled some of them, a prefix,
    /// and nothing of them is written again.
    pub(crate) async fn publish(&self, messages: &[(String, Bytes)]) -> Result<(), NatsError> {
        self.check_up()?;
        let (answer, answered) = oneshot::channel();
        self.writes
            .send(Write::Publish(self.encode(messages)?, answer))
            .map_err(|_| NatsError::Closed)?;
        answer_of(answered).await
    }

    /// Publishes the messages in order, in one write, after whatever this connection was given before,
    /// without waiting for the server.
    pub(crate) fn post(&self, messages: &[(String, Bytes)]) -> Result<(), NatsError> {
        self.check_up()?;
        let (answer, _) = oneshot::channel();
        self.writes
            .send(Write::Publish(self.encode(messages)?, answer))
            .map_err(|_| NatsError::Closed)
    }

    fn encode(&self, messages: &[(String, Bytes)]) -> Result<Vec<u8>, NatsError> {
        let max = self.max_publish.load(Ordering::Relaxed);
        let mut out =
            Vec::with_capacity(messages.iter().map(|(s, p)| s.len() + p.len() + 32).sum());
        for (subject, payload) in messages {
            if payload.len() > max {
                return Err(NatsError::TooLarge(payload.len()));
            }
            out.extend_from_slice(format!("PUB {subject} {}\r\n", payload.len()).as_bytes());
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\r\n");
        }
        Ok(out)
    }

    /// Whether a connection is up with every subscription on its server.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn check_up(&self) -> Result<(), NatsError> {
        if self.up.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(NatsError::Disconnected)
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }
}

/// A round trip's answer: `Disconnected` if its connection went first.
async fn answer_of(answered: oneshot::Receiver<()>) -> Result<(), NatsError> {
    match tokio::time::timeout(OP_TIMEOUT, answered).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(NatsError::Disconnected),
        Err(_) => Err(NatsError::Timeout(OP_TIMEOUT)),
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Connection {
    servers: Vec<Server>,
    name: String,
    auth: NatsAuth,
    tls: FeedTls,
    table: Arc<Mutex<Table>>,
    link: Arc<watch::Sender<Link>>,
    subscribed: mpsc::UnboundedSender<u64>,
    max_publish: Arc<AtomicUsize>,
    up: Arc<AtomicBool>,
}

/// What the reading half tells the writing half.
enum Heard {
    Ping,
    Pong,
    Gone,
}

/// A `PING` this side sent, in the order sent: the server answers them in that order.
enum Pending {
    /// The one after the `SUB`s of a new connection: its `PONG` puts the feed up.
    Subscribed,
    Keepalive,
    Barrier(oneshot::Sender<()>),
}

impl Connection {
    async fn run(self, mut queue: mpsc::UnboundedReceiver<Write>, mut stop: watch::Receiver<bool>) {
        // Failed attempts in a row, for the backoff; and the server to try, moving on past one that fails.
        let mut attempts = 0usize;
        let mut next = 0usize;
        loop {
            attempts += 1;
            let server = &self.servers[next % self.servers.len()];
            let opened = tokio::select! {
                biased;
                () = stopped(&mut stop) => return,
                opened = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&server.address)) => opened,
            };
            match opened {
                Ok(Ok(stream)) => {
                    let up_since = self.session(server, stream, &mut queue, &mut stop).await;
                    self.up.store(false, Ordering::Release);
                    link::feed_down(&self.link);
                    // A server that takes the subscriptions and then drops the connection at once (a slow
                    // consumer, one going down) is backed off from like one that refuses.
                    if up_since.is_some_and(|since| since.elapsed() >= STABLE) {
                        attempts = 0;
                    } else {
                        next += 1;
                    }
                }
                Ok(Err(error)) => {
                    next += 1;
                    tracing::debug!(
                        server = server.address,
                        error = &error as &dyn std::error::Error,
                        "cannot connect the NATS feed"
                    );
                }
                Err(_) => {
                    next += 1;
                    tracing::debug!(server = server.address, "NATS feed connect timed out");
                }
            }
            // Meanwhile a round trip has nothing to wait for; the table keeps the subscriptions.
            let pause = tokio::time::sleep(reconnect_delay(attempts));
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    biased;
                    () = stopped(&mut stop) => return,
                    () = &mut pause => break,
                    write = queue.recv() => if write.is_none() { return },
                }
            }
        }
    }

    /// One connection, until it fails or the bus stops; answers since when the feed was up on it, if it was.
    async fn session(
        &self,
        server: &Server,
        stream: TcpStream,
        queue: &mut mpsc::UnboundedReceiver<Write>,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Instant> {
        let mut stream = stream;
        let _ = stream.set_nodelay(true);
        let (info, said_after) = match expect_info(&mut stream).await {
            Ok(heard) => heard,
            Err(error) => {
                tracing::warn!(server = server.address, %error, "the NATS feed's server is not NATS");
                return None;
            }
        };
        self.max_publish
            .store(info.max_payload(), Ordering::Relaxed);
        if !self.tls.wanted(server.tls, info.tls_required) {
            // Whatever the server said after its INFO is read first.
            let (read, write) = stream.into_split();
            let read = BufReader::new(std::io::Cursor::new(said_after).chain(read));
            return self.converse(server, &info, read, write, queue, stop).await;
        }
        if !said_after.is_empty() {
            tracing::warn!(server = server.address, "the NATS server spoke before TLS");
            return None;
        }
        let connector = match self.tls.connector() {
            Ok(connector) => connector,
            Err(error) => {
                tracing::error!(server = server.address, %error, "cannot set up TLS to NATS");
                return None;
            }
        };
        let Ok(name) = ServerName::try_from(server.host.clone()) else {
            tracing::error!(server = server.address, "not a name a certificate can have");
            return None;
        };
        let handshake = connector.connect(name, stream);
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::warn!(server = server.address, %error, "TLS to the NATS feed's server failed");
                return None;
            }
            Err(_) => {
                tracing::warn!(
                    server = server.address,
                    "TLS to the NATS feed's server timed out"
                );
                return None;
            }
        };
        let (read, write) = tokio::io::split(stream);
        self.converse(server, &info, BufReader::new(read), write, queue, stop)
            .await
    }

    /// The session once the connection is open (and secured): `CONNECT`, the subscriptions, and then
    /// whatever comes, until it fails or the bus stops.
    async fn converse<R, W>(
        &self,
        server: &Server,
        info: &Info,
        read: BufReader<R>,
        mut write: W,
        queue: &mut mpsc::UnboundedReceiver<Write>,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Instant>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin,
    {
        let mut out = match connect_line(&self.name, &self.auth, &info.nonce) {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(%error, "cannot write the NATS feed's CONNECT");
                return None;
            }
        };
        // Whatever the queue holds is in the table already (or gone from it): drop it, send the table. A
        // round trip dropped here answers `Disconnected`, as the feed is not up yet.
        {
            let table = lock(&self.table);
            while queue.try_recv().is_ok() {}
            for (sid, sub) in &table.subs {
                put_sub(&mut out, *sid, &sub.subject);
            }
        }
        out.extend_from_slice(b"PING\r\n");
        let mut pending = VecDeque::from([Pending::Subscribed]);
        let (heard_sender, mut heard) = mpsc::unbounded_channel();
        let reader = Reader {
            table: Arc::clone(&self.table),
            link: Arc::clone(&self.link),
            heard: heard_sender,
            overflowing: AtomicBool::new(false),
        };
        let reading = Reading(tokio::spawn(reader.run(read)));
        let mut keepalive = tokio::time::interval(PING_INTERVAL);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        keepalive.reset();
        let mut up_since = None;
        loop {
            if !out.is_empty() {
                // Flushed too: TLS may hold what it took until told to (a plain socket holds nothing).
                let written = async {
                    write.write_all(&out).await?;
                    write.flush().await
                };
                match tokio::time::timeout(OP_TIMEOUT, written).await {
                    Ok(Ok(())) => out.clear(),
                    _ => break,
                }
            }
            tokio::select! {
                biased;
                () = stopped(stop) => break,
                heard = heard.recv() => match heard {
                    Some(Heard::Ping) => out.extend_from_slice(b"PONG\r\n"),
                    Some(Heard::Pong) => match pending.pop_front() {
                        Some(Pending::Subscribed) => {
                            up_since = Some(Instant::now());
                            self.up.store(true, Ordering::Release);
                            let _ = self.subscribed.send(link::feed_subscribed(&self.link));
                        }
                        Some(Pending::Barrier(answer)) => { let _ = answer.send(()); }
                        Some(Pending::Keepalive) | None => {}
                    },
                    Some(Heard::Gone) | None => break,
                },
                write = queue.recv() => {
                    let Some(write) = write else { break };
                    put(&mut out, &mut pending, write);
                    while let Ok(write) = queue.try_recv() {
                        put(&mut out, &mut pending, write);
                    }
                }
                _ = keepalive.tick() => {
                    // Two pings unanswered for a whole interval each: the connection is dead.
                    if pending.iter().filter(|p| matches!(p, Pending::Keepalive)).count() >= 2 {
                        tracing::warn!(server = server.address, "the NATS feed's server stopped answering");
                        break;
                    }
                    out.extend_from_slice(b"PING\r\n");
                    pending.push_back(Pending::Keepalive);
                }
            }
        }
        drop(reading);
        if up_since.is_some() {
            tracing::warn!(server = server.address, "lost the NATS feed's connection");
        }
        up_since
    }
}

/// Aborts the reading task when the session ends, however it ends.
struct Reading(JoinHandle<()>);

impl Drop for Reading {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn put(out: &mut Vec<u8>, pending: &mut VecDeque<Pending>, write: Write) {
    match write {
        Write::Sub(sid, subject) => put_sub(out, sid, &subject),
        Write::Unsub(sid) => out.extend_from_slice(format!("UNSUB {sid}\r\n").as_bytes()),
        Write::Ping(answer) => {
            out.extend_from_slice(b"PING\r\n");
            pending.push_back(Pending::Barrier(answer));
        }
        Write::Publish(messages, answer) => {
            out.extend_from_slice(&messages);
            out.extend_from_slice(b"PING\r\n");
            pending.push_back(Pending::Barrier(answer));
        }
    }
}

fn put_sub(out: &mut Vec<u8>, sid: Sid, subject: &str) {
    out.extend_from_slice(format!("SUB {subject} {sid}\r\n").as_bytes());
}

/// What the feed reads of the server's `INFO`.
#[derive(Default, serde::Deserialize)]
struct Info {
    max_payload: Option<usize>,
    #[serde(default)]
    tls_required: bool,
    /// What an NKey login signs.
    #[serde(default)]
    nonce: String,
}

impl Info {
    fn parse(info: &[u8]) -> Info {
        serde_json::from_slice(info.trim_ascii()).unwrap_or_default()
    }

    fn max_payload(&self) -> usize {
        self.max_payload.unwrap_or(DEFAULT_MAX_PUBLISH)
    }
}

/// The server's `INFO`, read straight off the connection, and whatever came after it in the same reads
/// (nothing, from a NATS server: it waits for `CONNECT`, or for a TLS handshake).
async fn expect_info(stream: &mut TcpStream) -> Result<(Info, Vec<u8>), String> {
    let mut read = BufReader::new(stream);
    let mut line = Vec::new();
    match tokio::time::timeout(CONNECT_TIMEOUT, read_line(&mut read, &mut line)).await {
        Ok(Ok(())) if line.starts_with(b"INFO") => {
            Ok((Info::parse(&line[4..]), read.buffer().to_vec()))
        }
        Ok(Ok(())) => Err(format!(
            "it began with {:?}",
            String::from_utf8_lossy(&line)
        )),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("no INFO in time".to_owned()),
    }
}

/// One control line, without its `\r\n`.
async fn read_line(
    read: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<()> {
    line.clear();
    let read_bytes = (&mut *read)
        .take(MAX_LINE as u64)
        .read_until(b'\n', line)
        .await?;
    if read_bytes == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    if line.last() != Some(&b'\n') {
        return Err(std::io::Error::other("control line too long"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(())
}

/// The reading half: routes each message to its subscription's inbox as it comes, in order.
struct Reader {
    table: Arc<Mutex<Table>>,
    link: Arc<watch::Sender<Link>>,
    heard: mpsc::UnboundedSender<Heard>,
    /// Set from an overflow until a message goes through again: one warning per overflow, not per message.
    overflowing: AtomicBool,
}

impl Reader {
    async fn run(self, mut read: BufReader<impl AsyncRead + Unpin>) {
        if let Err(error) = self.read(&mut read).await {
            tracing::debug!(%error, "the NATS feed's connection ended");
        }
        let _ = self.heard.send(Heard::Gone);
    }

    async fn read(&self, read: &mut BufReader<impl AsyncRead + Unpin>) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(256);
        loop {
            read_line(read, &mut line).await?;
            let text = std::str::from_utf8(&line).map_err(std::io::Error::other)?;
            let (op, args) = text.split_once([' ', '\t']).unwrap_or((text, ""));
            match op.to_ascii_uppercase().as_str() {
                "MSG" => {
                    let (sid, size) = msg_args(args, false)?;
                    let payload = read_payload(read, size.total).await?;
                    self.route(sid, payload);
                }
                "HMSG" => {
                    let (sid, size) = msg_args(args, true)?;
                    let mut payload = read_payload(read, size.total).await?;
                    self.route(sid, payload.split_off(size.headers));
                }
                "PING" => self.tell(Heard::Ping)?,
                "PONG" => self.tell(Heard::Pong)?,
                "+OK" | "INFO" => {}
                // A refused login ends the session (the server closes it anyway); the next attempt comes
                // after the usual backoff. Nothing was delivered, so the inboxes have nothing to catch up.
                "-ERR" if refuses_login(args) => {
                    tracing::error!(error = args, "the NATS server refused the feed's login");
                    return Err(std::io::Error::other("login refused"));
                }
                // The server may have refused a subscription (a permission, a limit) and go on: whatever
                // the inboxes follow may be missing, so they catch up.
                "-ERR" => {
                    tracing::warn!(error = args, "the NATS server refused the feed");
                    link::overflow(&self.link);
                }
                _ => return Err(std::io::Error::other(format!("unknown NATS op {op:?}"))),
            }
        }
    }

    fn tell(&self, heard: Heard) -> std::io::Result<()> {
        self.heard
            .send(heard)
            .map_err(|_| std::io::Error::other("session ended"))
    }

    /// Never waits: an inbox that cannot keep up makes every inbox lag and catch up from the store.
    fn route(&self, sid: Sid, payload: Bytes) {
        let table = lock(&self.table);
        let Some(sub) = table.subs.get(&sid) else {
            return;
        };
        match sub.route.try_send(Frame { sid, payload }) {
            Err(mpsc::error::TrySendError::Full(_)) if sub.lossy => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                drop(table);
                // Every drop starts a new generation: a drop after the inbox handled the last one's lag must
                // make it lag again.
                link::overflow(&self.link);
                if !self.overflowing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(sid, "a bus inbox overflowed: inboxes catch up");
                }
            }
            Ok(()) => self.overflowing.store(false, Ordering::Relaxed),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

struct Size {
    headers: usize,
    total: usize,
}

/// `MSG <subject> <sid> [reply] <bytes>`, or `HMSG <subject> <sid> [reply] <header bytes> <total bytes>`.
fn msg_args(args: &str, with_headers: bool) -> std::io::Result<(Sid, Size)> {
    let malformed = || std::io::Error::other(format!("malformed MSG arguments {args:?}"));
    let parts: Vec<&str> = args.split_ascii_whitespace().collect();
    let counts = if with_headers { 2 } else { 1 };
    if parts.len() != 2 + counts && parts.len() != 3 + counts {
        return Err(malformed());
    }
    let sid = parts[1].parse().map_err(|_| malformed())?;
    let number = |part: &str| part.parse::<usize>().map_err(|_| malformed());
    let total = number(parts[parts.len() - 1])?;
    let headers = if with_headers {
        number(parts[parts.len() - 2])?
    } else {
        0
    };
    if total > MAX_PAYLOAD || headers > total {
        return Err(malformed());
    }
    Ok((sid, Size { headers, total }))
}

async fn read_payload(
    read: &mut BufReader<impl AsyncRead + Unpin>,
    size: usize,
) -> std::io::Result<Bytes> {
    let mut payload = vec![0; size + 2];
    read.read_exact(&mut payload).await?;
    if !payload.ends_with(b"\r\n") {
        return Err(std::io::Error::other("a NATS payload must end with CRLF"));
    }
    payload.truncate(size);
    Ok(Bytes::from(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_login_is_told_from_a_refused_subscription() {
        for login in [
            "'Authorization Violation'",
            "'Authentication Timeout'",
            "'User Authentication Expired'",
        ] {
            assert!(refuses_login(login), "{login}");
        }
        for other in [
            "'Permissions Violation for Subscription to \"parley.c.1\"'",
            "'Maximum Subscriptions Exceeded'",
            "'Slow Consumer'",
        ] {
            assert!(!refuses_login(other), "{other}");
        }
    }

    #[test]
    fn servers_parse_and_credentials_are_refused() {
        let plain = Server::parse("nats://127.0.0.1:4222").expect("plain");
        assert_eq!(plain.address, "127.0.0.1:4222");
        let bare = Server::parse("localhost").expect("bare host");
        assert_eq!(bare.address, "localhost:4222");
        assert!(!bare.tls);
        let tls = Server::parse("tls://nats.example.org").expect("tls");
        assert_eq!(
            (tls.address.as_str(), tls.host.as_str(), tls.tls),
            ("nats.example.org:4222", "nats.example.org", true)
        );
        for bad in [
            "nats://bob:secret@h:5",
            "nats://t0ken@h",
            "tls://bob:secret@h:4222",
            "http://h:4222",
            "nats://",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_servers_payload_limit_is_read_from_its_info() {
        assert_eq!(
            Info::parse(br#" {"server_id":"x","max_payload":65536}"#).max_payload(),
            65_536
        );
        assert_eq!(Info::parse(b" {}").max_payload(), DEFAULT_MAX_PUBLISH);
        assert_eq!(Info::parse(b" not json").max_payload(), DEFAULT_MAX_PUBLISH);
        assert!(Info::parse(br#" {"tls_required":true}"#).tls_required);
        assert!(!Info::parse(b" {}").tls_required);
    }

    #[test]
    fn msg_arguments_parse_and_bounds_hold() {
        let (sid, size) = msg_args("a.b 7 12", false).expect("msg");
        assert_eq!((sid, size.headers, size.total), (7, 0, 12));
        let (sid, size) = msg_args("a.b 7 _INBOX.x 12", false).expect("msg with reply");
        assert_eq!((sid, size.total), (7, 12));
        let (sid, size) = msg_args("a.b 9 4 10", true).expect("hmsg");
        assert_eq!((sid, size.headers, size.total), (9, 4, 10));
        for bad in [
            "a.b",
            "a.b x 3",
            "a.b 7 -1",
            "a.b 7 r 3 4",
            "a.b 7 99999999999",
        ] {
            assert!(msg_args(bad, false).is_err(), "{bad:?}");
        }
        assert!(
            msg_args("a.b 9 11 10", true).is_err(),
            "headers past the end"
        );
    }
}
