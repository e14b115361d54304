//! `NatsBus`: the bus of a cluster, over NATS core subjects and request/reply (no JetStream, no KV, so any
//! server from 2.9 on will do).
//!
//! - Each topic is a subject (`subjects.rs`); each followed topic is a subscription of the inbox that follows
//!   it, on the feed: a connection of the bus's own (`feed.rs`). `publish_commit` writes a commit's events and
//!   then a marker on `{prefix}.commits` in one go on the feed, and returns after a round trip; inboxes put
//!   durable events back in cursor order with the markers (`ordered.rs`, `inbox.rs`). Other signals go out
//!   on async-nats's connection and are delivered as they come.
//! - A follow counts as done once every other node's server knows it (`probe.rs`): in a NATS cluster a
//!   subscription reaches the other servers a moment after its own confirmed it.
//! - Presence is kept in memory on every node (`presence.rs`): each node announces its own changes, numbered,
//!   and heartbeats on `{prefix}.nodes`, and answers requests for its snapshot (`nodes.rs`). A node not heard
//!   for `node_ttl` is dropped with its users.
//! - Without NATS the node keeps serving its own users: its signals go straight to its own inboxes, and every
//!   inbox is told `Lagged` when the connection goes and again when it comes back (`link.rs`), the second
//!   time only once its subscriptions are on the server again.

mod auth;
mod feed;
mod inbox;
mod link;
mod nodes;
mod ordered;
mod presence;
mod probe;
mod subjects;
mod tls;
mod wire;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Subscriber};
use async_trait::async_trait;
use bytes::Bytes;
use parley_core::bus::{Bus, BusError, Inbox, Node, Signal, Topic};
use parley_core::model::{Event, Millis};
use parley_core::{Cursor, UserId};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

pub use auth::NatsAuth;
use feed::{Feed, Server};
use inbox::Routes;
use link::Link;
use presence::{Change, Presence};
use subjects::Subjects;
pub use tls::ClientCertificate;
use wire::{Marker, NodeMessage, SignalRef, encode};

/// Signals an inbox may hold unread before it is told it lagged, as with `LocalBus`.
const INBOX_CAPACITY: usize = 65_536;
/// How long events or markers may wait behind a gap before the inbox gives up on it and lags.
const STALL: Duration = Duration::from_secs(2);
/// A publish, subscription or round trip that takes longer fails.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Each connection attempt's limit, the first one's included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the client pings the server: a silent connection is declared lost after two missed pongs.
const PING_INTERVAL: Duration = Duration::from_secs(2);

/// Where the NATS bus connects and how this node appears to the others.
#[derive(Clone, Debug)]
pub struct NatsSettings {
    /// The server, or several of one NATS cluster separated by commas (`nats://127.0.0.1:4222`;
    /// `tls://host:4222` for TLS). Both connections go to the first that answers, in this order, and move
    /// to the next when it fails: list a node's nearest server first.
    pub url: String,
    /// The node's credentials, for both of its connections.
    pub auth: NatsAuth,
    /// A PEM file of the CA that signed the NATS servers' certificates, trusted besides the system's roots.
    /// Given, every server is reached over TLS; without it, servers given as `tls://` or whose `INFO` asks
    /// for TLS are, trusting the system's roots.
    pub tls_ca: Option<PathBuf>,
    /// The certificate this node presents to servers that verify their clients'. Given, every server is
    /// reached over TLS.
    pub tls_identity: Option<ClientCertificate>,
    /// The first tokens of every subject, so that clusters (or tests) sharing a server never meet.
    pub prefix: String,
    /// This node's id and the URL its clients connect to.
    pub node: Node,
    /// How often this node announces that it is alive.
    pub heartbeat: Duration,
    /// A node not heard from for this long is dead, and its users offline; longer than `heartbeat`.
    pub node_ttl: Duration,
}

impl NatsSettings {
    /// The defaults: prefix `parley`, a heartbeat every second, dead after ten seconds of silence.
    pub fn new(url: impl Into<String>, node: Node) -> Self {
        NatsSettings {
            url: url.into(),
            auth: NatsAuth::None,
            tls_ca: None,
            tls_identity: None,
            prefix: "parley".to_owned(),
            node,
            heartbeat: Duration::from_secs(1),
            node_ttl: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {url}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("invalid NATS bus settings: {0}")]
    Settings(&'static str),
    #[error("not connected to NATS")]
    Disconnected,
    #[error("NATS did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot publish on NATS")]
    Publish(#[from] async_nats::PublishError),
    #[error("cannot subscribe on NATS")]
    Subscribe(#[from] async_nats::SubscribeError),
    #[error("a NATS round trip failed")]
    Request(#[from] async_nats::RequestError),
    #[error("cannot flush to NATS")]
    Flush(#[from] async_nats::client::FlushError),
    #[error("cannot encode a bus message")]
    Encode(#[from] serde_json::Error),
    #[error("malformed reply on {0}")]
    Malformed(String),
    #[error("a bus message of {0} bytes is over the NATS server's limit")]
    TooLarge(usize),
    #[error("a node's presence snapshot kept changing while it was read")]
    SnapshotMoved,
    #[error("{0} nodes did not answer a probe in time")]
    Unprobed(usize),
    #[error("the bus is closed")]
    Closed,
}

impl From<NatsError> for BusError {
    fn from(error: NatsError) -> Self {
        BusError(Box::new(error))
    }
}

/// The bus of a cluster over NATS. Dropping it (or `close`) stops its tasks and announces that the node
/// leaves; its inboxes then end.
pub struct NatsBus {
    shared: Arc<Shared>,
    /// Dropped (or set) to stop every task of the bus, the inboxes' included.
    stop: watch::Sender<bool>,
}

/// What the bus, its follows and its tasks share.
struct Shared {
    client: Client,
    /// The inboxes' subscriptions.
    feed: Arc<Feed>,
    subjects: Subjects,
    node: Node,
    /// Tells this run of the node from an earlier one with the same id; later runs have larger ones.
    incarnation: u64,
    echo_subject: String,
    heartbeat: Duration,
    node_ttl: Duration,
    link: Arc<watch::Sender<Link>>,
    /// Told by the connection events that the client connected (again): `nodes::arm` then checks that the
    /// subscriptions are back before the link counts as up.
    reconnected: Arc<Notify>,
    /// The marker of this node's last commit the server handled: its copy on the way back to this node's
    /// feed may be lost when NATS goes, after the commit's events came back; handed to the local inboxes then.
    last_marker: Mutex<Option<Marker>>,
    /// Held only to look up or update the tables; never across an await.
    routes: Mutex<Routes>,
    /// Held only to look up or update the tables; never across an await.
    presence: Mutex<Presence>,
    /// The rounds that prove every server of the cluster knows the feed's subscriptions.
    probes: probe::Probes,
    /// Since when the client has been connected (this time): the heartbeats heard since say which nodes
    /// live.
    listening_since: Mutex<Instant>,
    /// This node's presence changes, in sequence, to the task that announces them.
    changes: mpsc::UnboundedSender<Change>,
    closed: AtomicBool,
    /// Whether stopping announces that the node leaves; not after `close` (which did) or `abort`.
    announce_leave: AtomicBool,
}

impl NatsBus {
    /// Connects, or fails within a few seconds if the server cannot be reached. Once connected, it
    /// reconnects by itself, forever.
    pub async fn connect(settings: NatsSettings) -> Result<NatsBus, BusError> {
        let subjects = Subjects::new(&settings.prefix).ok_or(NatsError::Settings(
            "the prefix must be dot-separated tokens of letters, digits, '-' and '_'",
        ))?;
        if settings.node.id.is_empty() {
            return Err(NatsError::Settings("the node needs an id").into());
        }
        if settings.heartbeat.is_zero() || settings.node_ttl <= settings.heartbeat {
            return Err(NatsError::Settings("node_ttl must be longer than heartbeat").into());
        }
        let link = Arc::new(watch::channel(Link::starting()).0);
        let reconnected = Arc::new(Notify::new());
        let (events_link, events_reconnected) = (Arc::clone(&link), Arc::clone(&reconnected));
        let servers: Vec<String> = settings
            .url
            .split(',')
            .map(str::trim)
            .filter(|server| !server.is_empty())
            .map(str::to_owned)
            .collect();
        let feed_servers = servers
            .iter()
            .map(|server| Server::parse(server))
            .collect::<Result<Vec<_>, _>>()?;
        if feed_servers.is_empty() {
            return Err(NatsError::Settings("no NATS server given").into());
        }
        settings.auth.check()?;
        let feed_servers_count = feed_servers.len();
        // A CA file or a certificate means TLS to every server, whatever its (unauthenticated) INFO says.
        let tls_required = settings.tls_ca.is_some() || settings.tls_identity.is_some();
        let wants_tls = tls_required || feed_servers.iter().any(|server| server.tls);
        let tls_config = if wants_tls {
            Some(tls::client_config(
                settings.tls_ca.as_deref(),
                settings.tls_identity.as_ref(),
            )?)
        } else {
            None
        };
        let mut options = settings.auth.apply(ConnectOptions::new());
        if let Some(config) = &tls_config {
            options = options.tls_client_config(config.clone());
        }
        let client = options
            .require_tls(tls_required)
            .name(format!("parley {}", settings.node.id))
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(OP_TIMEOUT))
            .ping_interval(PING_INTERVAL)
            .max_reconnects(None)
            .retain_servers_order()
            .reconnect_delay_callback(reconnect_delay)
            .event_callback(move |event| {
                let link = Arc::clone(&events_link);
                let reconnected = Arc::clone(&events_reconnected);
                async move { on_event(&link, &reconnected, &event) }
            })
            .connect(servers)
            .await
            .map_err(|source| NatsError::Connect {
                url: settings.url.clone(),
                source,
            })?;
        let incarnation = incarnation();
        let (changes, changes_receiver) = mpsc::unbounded_channel();
        let (stop, _) = watch::channel(false);
        let (feed_sessions, feed_sessions_receiver) = mpsc::unbounded_channel();
        let feed = Feed::start(
            feed_servers,
            format!("parley {} inboxes", settings.node.id),
            settings.auth.clone(),
            tls::FeedTls::new(tls_config, tls_required),
            Arc::clone(&link),
            feed_sessions,
            stop.subscribe(),
        );
        let shared = Arc::new(Shared {
            client,
            feed: Arc::new(feed),
            echo_subject: subjects.echo(&settings.node.id, incarnation),
            subjects,
            node: settings.node,
            incarnation,
            heartbeat: settings.heartbeat,
            node_ttl: settings.node_ttl,
            link,
            reconnected,
            last_marker: Mutex::default(),
            routes: Mutex::default(),
            presence: Mutex::default(),
            probes: probe::Probes::default(),
            listening_since: Mutex::new(Instant::now()),
            changes,
            closed: AtomicBool::new(false),
            announce_leave: AtomicBool::new(false),
        });
        let echo = shared.subscribe(shared.echo_subject.clone()).await?;
        tokio::spawn(nodes::echo(Arc::clone(&shared), echo, stop.subscribe()));
        let node_messages = shared.subscribe(shared.subjects.nodes().to_owned()).await?;
        let snapshots = shared
            .subscribe(shared.subjects.snapshot(&shared.node.id))
            .await?;
        tokio::spawn(nodes::listen(
            Arc::clone(&shared),
            node_messages,
            snapshots,
            stop.subscribe(),
        ));
        let probes = shared
            .subscribe(shared.subjects.probes().to_owned())
            .await?;
        tokio::spawn(probe::answer(Arc::clone(&shared), probes, stop.subscribe()));
        tokio::spawn(probe::feed_sessions(
            Arc::clone(&shared),
            feed_sessions_receiver,
            stop.subscribe(),
        ));
        // Every subscription is on the server before anyone hears of this node.
        shared.barrier().await?;
        // The feed tries the servers in turn, each for up to `CONNECT_TIMEOUT`, then probes.
        let feed_patience = CONNECT_TIMEOUT
            .saturating_mul(u32::try_from(feed_servers_count).unwrap_or(u32::MAX))
            .saturating_add(probe::longest_round(shared.heartbeat));
        let mut feed_link = shared.link.subscribe();
        tokio::time::timeout(feed_patience, feed_link.wait_for(|link| link.connected))
            .await
            .map_err(|_| NatsError::Timeout(feed_patience))?
            .map_err(|_| NatsError::Closed)?;
        shared.announce_leave.store(true, Ordering::SeqCst);
        tokio::spawn(nodes::announce(
            Arc::clone(&shared),
            changes_receiver,
            stop.subscribe(),
        ));
        Ok(NatsBus { shared, stop })
    }

    /// Announces that this node leaves, so that the others drop it (and its users) at once, and stops the
    /// bus: its inboxes end, and every call fails from now on. For a clean shutdown; dropping the bus does
    /// the same without waiting for the announcement to go out.
    pub async fn close(&self) {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shared.announce_leave.store(false, Ordering::SeqCst);
        if self.shared.connected() {
            self.shared.leave().await;
        }
        self.stop.send_replace(true);
    }

    /// Stops at once without announcing that this node leaves, as a crash would: the others drop it only
    /// once `node_ttl` has passed. For tests of what a cluster does when a node dies.
    pub fn abort(self) {
        self.shared.announce_leave.store(false, Ordering::SeqCst);
    }
}

#[async_trait]
impl Bus for NatsBus {
    /// While this node does not hear NATS, the signal also goes straight to its own inboxes, and without a
    /// connection to publish on it goes there only; the call still succeeds: its callers are use cases
    /// (typing, presence, profile changes, logout) that must keep working for the node's own users, and
    /// the other nodes' inboxes learn of the loss through `Lagged`. A signal async-nats buffered as its
    /// connection fell goes out once it is back, so an inbox may hear it twice: every signal is idempotent.
    async fn publish(&self, topic: Topic, signal: Arc<Signal>) -> Result<(), BusError> {
        let shared = &self.shared;
        shared.check_open()?;
        if !shared.link_up() {
            shared.routes().deliver(topic, &signal);
        }
        if !shared.connected() {
            tracing::debug!(?topic, "NATS is away: published to this node only");
            return Ok(());
        }
        let payload = encode(&*signal).map_err(NatsError::from)?;
        shared
            .publish(shared.subjects.topic(topic), payload)
            .await?;
        Ok(())
    }

    /// Without NATS (or when publishing fails, or while the feed is away), the events go to this node's own
    /// inboxes, with their marker, so still in order; and without NATS (or on failure) the call fails: the relay logs that the cluster did not get them; the other
    /// nodes' inboxes lag and catch up from the store.
    async fn publish_commit(&self, after: Cursor, events: &[Event]) -> Result<(), BusError> {
        let Some(last) = events.iter().map(|event| event.cursor).max() else {
            return Ok(());
        };
        let marker = Marker { after, last };
        let shared = &self.shared;
        shared.check_open()?;
        let result = shared.publish_commit(marker, events).await;
        if result.is_err() || !shared.link_up() {
            // Copies that also came through NATS are dropped by cursor.
            shared.deliver_commit(marker, events);
        }
        Ok(result?)
    }

    async fn inbox(&self) -> Result<Inbox, BusError> {
        Ok(inbox::open(&self.shared, self.stop.subscribe()).await?)
    }

    async fn set_online(&self, user_id: UserId, online: bool) -> Result<(), BusError> {
        let mut presence = self.shared.presence();
        // Sent under the lock, so that changes reach the announcing task in sequence.
        if let Some(change) = presence.set_own(user_id, online) {
            let _ = self.shared.changes.send(change);
        }
        Ok(())
    }

    async fn online(&self, user_ids: &[UserId]) -> Result<Vec<bool>, BusError> {
        self.shared.expire_dead();
        Ok(self.shared.presence().online(user_ids))
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.shared.check_open()?;
        if !self.shared.connected() || !self.shared.link_up() {
            return Err(NatsError::Disconnected.into());
        }
        Ok(self.shared.barrier().await?)
    }

    async fn close(&self) {
        NatsBus::close(self).await;
    }

    async fn nodes(&self) -> Result<Vec<Node>, BusError> {
        self.shared.expire_dead();
        let shared = &self.shared;
        Ok(shared
            .presence()
            .nodes(&shared.node, Instant::now(), shared.node_ttl))
    }
}

impl Shared {
    fn check_open(&self) -> Result<(), NatsError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(NatsError::Closed);
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    fn routes(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        self.presence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn subscribe(&self, subject: String) -> Result<Subscriber, NatsError> {
        tokio::time::timeout(OP_TIMEOUT, self.client.subscribe(subject))
            .await
            .map_err(|_| NatsError::Timeout(OP_TIMEOUT))?
            .map_err(NatsError::from)
    }

    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), NatsError> {
        tokio::time::timeout(OP_TIMEOUT, self.client.publish(subject, payload))
            .await
            .map_err(|_| NatsError::Timeout(OP_TIMEOUT))?
            .map_err(NatsError::from)
    }

    async fn publish_message(&self, message: &NodeMessage) -> Result<(), NatsError> {
        self.publish(self.subjects.nodes().to_owned(), encode(message)?)
            .await
    }

    async fn request(
        &self,
        subject: &str,
        payload: Bytes,
    ) -> Result<async_nats::Message, NatsError> {
        tokio::time::timeout(OP_TIMEOUT, self.client.request(subject.to_owned(), payload))
            .await
            .map_err(|_| NatsError::Timeout(OP_TIMEOUT))?
            .map_err(NatsError::from)
    }

    /// Returns once the server has handled everything this node sent before: a request this bus answers
    /// itself goes out after it on the same connection, and the server handles a connection's messages in
    /// order.
    async fn barrier(&self) -> Result<(), NatsError> {
        self.request(&self.echo_subject, Bytes::new())
            .await
            .map(drop)
    }

    /// The events, each on its topics, then the marker, in one write on the feed's connection: the server
    /// handles the marker only after every event, and a commit lost with a connection is never half sent
    /// again on the next one (`feed.rs`). Returns once the server has handled it all. Fails while the link
    /// is down: the other nodes then see a hole in the markers, and catch up.
    async fn publish_commit(&self, marker: Marker, events: &[Event]) -> Result<(), NatsError> {
        // Not before the feed's probe: until then its server may not know every other node's
        // subscriptions, and a commit through it could miss them with nothing to show (`probe.rs`).
        if !self.link_up() {
            return Err(NatsError::Disconnected);
        }
        let mut messages = Vec::with_capacity(events.len() + 1);
        for event in events {
            let payload = encode(&SignalRef::Event(event))?;
            for topic in event.topics() {
                messages.push((self.subjects.topic(topic), payload.clone()));
            }
        }
        messages.push((self.subjects.commits().to_owned(), encode(&marker)?));
        self.feed.publish(&messages).await?;
        *self
            .last_marker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(marker);
        Ok(())
    }

    /// A commit for this node's own inboxes only.
    fn deliver_commit(&self, marker: Marker, events: &[Event]) {
        let routes = self.routes();
        for event in events {
            let topics = event.topics();
            if topics.iter().any(|topic| routes.followed(*topic)) {
                let signal = Arc::new(Signal::Event(event.clone()));
                for topic in topics {
                    routes.deliver(topic, &signal);
                }
            }
        }
        routes.deliver_marker(marker);
    }

    /// NATS went away: its copy of this node's last marker may be lost in flight, and the local inboxes
    /// need it to go on in order (its events reached them before that commit's round trip returned).
    fn redeliver_last_marker(&self) {
        let marker = *self
            .last_marker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(marker) = marker {
            self.routes().deliver_marker(marker);
        }
    }

    /// The client has just connected (again).
    fn listening_from_now(&self) {
        *self
            .listening_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn listening_since(&self) -> Instant {
        *self
            .listening_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the link counts as up: both connections up, and their subscriptions confirmed since.
    fn link_up(&self) -> bool {
        self.link.borrow().connected
    }

    /// Drops the nodes not heard from for `node_ttl`, and tells this node's watchers of their users who are
    /// now online nowhere. Not while this node is away itself: it cannot hear anyone then.
    fn expire_dead(&self) {
        if !self.link_up() {
            return;
        }
        let effects = self.presence().expire(Instant::now(), self.node_ttl);
        self.announce_offline(&effects.offline);
    }

    /// To this node's own inboxes only: every node tells its own, so each watcher hears it once.
    fn announce_offline(&self, offline: &[(UserId, Millis)]) {
        if offline.is_empty() {
            return;
        }
        let routes = self.routes();
        for &(user_id, last_seen) in offline {
            let topic = Topic::Presence(user_id);
            if routes.followed(topic) {
                let signal = Signal::Presence {
                    user_id,
                    online: false,
                    last_seen: Some(last_seen),
                };
                routes.deliver(topic, &Arc::new(signal));
            }
        }
    }

    fn announces_leave(&self) -> bool {
        self.announce_leave.load(Ordering::SeqCst)
    }

    async fn leave(&self) {
        let message = NodeMessage::Leave {
            node_id: self.node.id.clone(),
            incarnation: self.incarnation,
        };
        let sent = match self.publish_message(&message).await {
            Ok(()) => tokio::time::timeout(OP_TIMEOUT, self.client.flush())
                .await
                .map_err(|_| NatsError::Timeout(OP_TIMEOUT))
                .and_then(|flushed| flushed.map_err(NatsError::from)),
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "cannot announce that this node leaves"
            );
        }
    }
}

/// Returns when the bus stops: `close` set the flag, or the `NatsBus` was dropped.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&stop| stop).await;
}

fn on_event(link: &watch::Sender<Link>, reconnected: &Notify, event: &async_nats::Event) {
    match event {
        async_nats::Event::Connected => reconnected.notify_one(),
        async_nats::Event::Disconnected => {
            tracing::warn!(
                "lost the NATS connection: serving this node's users only until it is back"
            );
            link::observe_client(link, false);
        }
        async_nats::Event::SlowConsumer(sid) => {
            tracing::warn!(sid, "a NATS subscription overflowed: inboxes catch up");
            link::overflow(link);
        }
        _ => {}
    }
}

/// Straight away, then 100 ms doubling up to a second: a node without NATS serves only its own users.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(4);
    (Duration::from_millis(100) * 2u32.pow(doublings)).min(Duration::from_secs(1))
}

/// The wall clock in nanoseconds, so that a restarted node's is larger, plus a count for buses started in
/// the same process at once.
fn incarnation() -> u64 {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default();
    nanos.saturating_add(STARTED.fetch_add(1, Ordering::Relaxed))
}
