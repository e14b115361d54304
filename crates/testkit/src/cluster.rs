//! A cluster on loopback for tests: `parley` nodes as real processes (so one can be killed with `kill -9`)
//! on one PostgreSQL schema of their own and NATS server processes of their own (one, or three clustered;
//! each can be stopped and started again), with a TCP balancer in front for REST, as operators run it.
//! WebSockets go where `GET /v1/gateway` says, straight to a node.
//!
//! PostgreSQL comes from `DATABASE_URL` (by default the machine's `test` database); NATS is the machine's
//! `nats-server` binary (`nats`); files go to a SeaweedFS of the cluster's own (`seaweedfs`). Without them `Cluster::start`
//! answers `None` and the test is skipped, unless `REQUIRE_SERVICES=1` (as in CI) makes that a failure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_client::Client;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::nats::NatsCluster;
use crate::ports::free_port;
use crate::seaweedfs::SeaweedFs;
use crate::{TestUser, required, sign_up};

/// How long a node or the NATS server may take to come up.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// The NATS a cluster's nodes share.
#[derive(Clone, Copy, Debug)]
pub enum Nats {
    /// One server.
    One,
    /// Three servers clustered, `delay` apart each way; `nodes[i]` is given all three, server `i % 3` first.
    Three { delay: Duration },
}

/// A PostgreSQL schema of its own (a cluster's, or one test's), dropped with it.
pub struct Schema {
    admin_url: String,
    name: String,
}

impl Schema {
    /// A new empty schema, or `None` without PostgreSQL (see the module's doc).
    pub async fn create() -> Option<Schema> {
        let admin_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let client = match connect(&admin_url).await {
            Ok(client) => client,
            Err(error) => {
                assert!(
                    !required(),
                    "PostgreSQL at {admin_url} is required: {error}"
                );
                eprintln!("skipped: no PostgreSQL at {admin_url} ({error})");
                return None;
            }
        };
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("random bytes");
        let name = format!("parley_cluster_{}", u64::from_le_bytes(random));
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create the cluster's schema");
        Some(Schema { admin_url, name })
    }

    /// The store URL for this schema.
    pub fn store_url(&self) -> String {
        let separator = if self.admin_url.contains('?') {
            '&'
        } else {
            '?'
        };
        // The application name marks the schema's sessions, which its drop ends first.
        format!(
            "{}{separator}options=-csearch_path%3D{name}&application_name={name}",
            self.admin_url,
            name = self.name
        )
    }

    /// The PostgreSQL server's port on 127.0.0.1.
    fn server_port(&self) -> u16 {
        let config: Option<tokio_postgres::Config> = self.admin_url.parse().ok();
        config
            .and_then(|c| c.get_ports().first().copied())
            .unwrap_or(5432)
    }

    /// The PostgreSQL server, for a `Gate` to forward to.
    pub fn server(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.server_port()))
    }

    /// The store URL for this schema through a `Gate` on `port`.
    pub fn store_url_via(&self, port: u16) -> String {
        self.store_url().replacen(
            &format!(":{}/", self.server_port()),
            &format!(":{port}/"),
            1,
        )
    }
}

/// A TCP forwarder to one server that a test can cut (every connection through it closes, new ones are
/// refused), freeze (connections stay up but nothing crosses, as with a stopped server or a network that
/// drops packets silently) and open again.
pub struct Gate {
    pub port: u16,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
    frozen: tokio::sync::watch::Sender<bool>,
    /// The connections through the gate still open.
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl Gate {
    pub async fn open(target: SocketAddr) -> Gate {
        let mut gate = Gate {
            port: free_port(),
            target,
            task: None,
            frozen: tokio::sync::watch::Sender::new(false),
            open: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        };
        gate.reopen().await;
        gate
    }

    /// Closes every connection through the gate and refuses new ones; returns once they are closed (an
    /// aborted task is dropped, and its sockets closed, only when the runtime next gets to it).
    pub async fn cut(&mut self) {
        self.stop();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.open.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the gate's connections did not close"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Stops forwarding anything, both ways, without closing a connection; new ones are accepted and
    /// get nothing either.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Forwards again what the freeze held back.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }

    pub async fn reopen(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the gate's port");
        let (target, frozen) = (self.target, self.frozen.subscribe());
        let open = Arc::clone(&self.open);
        self.task = Some(tokio::spawn(pass_through(listener, target, frozen, open)));
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The gate's forwarder: each connection to `target`, both ways, holding still while `frozen`. Its
/// connections are tasks of its own, so aborting it closes them all.
async fn pass_through(
    listener: TcpListener,
    target: SocketAddr,
    frozen: tokio::sync::watch::Receiver<bool>,
    open: Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((inbound, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let frozen = frozen.clone();
        let counted = Counted::new(Arc::clone(&open));
        connections.spawn(async move {
            // Counts the connection open until the task ends or is dropped, its sockets with it.
            let _counted = counted;
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            let (from_client, to_client) = inbound.into_split();
            let (from_server, to_server) = outbound.into_split();
            tokio::select! {
                () = copy_unless_frozen(from_client, to_server, frozen.clone()) => {}
                () = copy_unless_frozen(from_server, to_client, frozen) => {}
            }
        });
    }
}

/// One open connection of a gate's, counted until dropped.
struct Counted(Arc<std::sync::atomic::AtomicUsize>);

impl Counted {
    fn new(open: Arc<std::sync::atomic::AtomicUsize>) -> Counted {
        open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Counted(open)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copies bytes from `from` to `to` until either side closes, reading nothing while `frozen`.
async fn copy_unless_frozen(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if *frozen.borrow_and_update() {
            if frozen.changed().await.is_err() {
                return;
            }
            continue;
        }
        tokio::select! {
            read = from.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            },
            changed = frozen.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

pub(crate) async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime, which cannot block on itself: a thread of its own does.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                if let Ok(client) = connect(&url).await {
                    // A server of this process cannot finish what it holds while this thread blocks the
                    // runtime it runs on (an open transaction's locks would stall the drop): end its
                    // sessions first.
                    let _ = client
                        .batch_execute(&format!(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                             WHERE application_name = '{name}';
                             DROP SCHEMA IF EXISTS {name} CASCADE"
                        ))
                        .await;
                }
            });
            Ok::<(), std::io::Error>(())
        })
        .join();
    }
}

/// One `parley` process.
pub struct Node {
    pub id: String,
    pub port: u16,
    child: Option<Child>,
    config: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
}

impl Node {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn websocket_url(&self) -> String {
        format!("ws://127.0.0.1:{}/v1/ws", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// What the node logged so far (to print when a check fails).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The cluster. Dropping it kills every process and drops its schema.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub nats: NatsCluster,
    /// The object store every node keeps files in.
    pub files: SeaweedFs,
    /// The TCP balancer's URL: what REST clients use.
    pub url: String,
    binary: PathBuf,
    balancer: JoinHandle<()>,
    _schema: Schema,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `count` nodes of the `parley` binary at `binary` (`env!("CARGO_BIN_EXE_parley")`) on one NATS
    /// server, each with `extra_config` (TOML) added to its configuration. `None` when PostgreSQL or NATS is
    /// not there.
    pub async fn start(binary: &Path, count: usize, extra_config: &str) -> Option<Cluster> {
        Cluster::start_on(Nats::One, binary, count, extra_config).await
    }

    /// `start`, on the NATS of `nats`.
    pub async fn start_on(
        nats: Nats,
        binary: &Path,
        count: usize,
        extra_config: &str,
    ) -> Option<Cluster> {
        parley_client::install_tls_provider();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let schema = Schema::create().await?;
        let nats = match nats {
            Nats::One => NatsCluster::single(dir.path()).await?,
            Nats::Three { delay } => NatsCluster::start(dir.path(), 3, delay).await?,
        };
        let files = SeaweedFs::start().await?;
        let store_url = schema.store_url();
        // Links signed by one node must hold on every other, and every node pushes with one VAPID key.
        let shared = format!(
            "{}url_secret = \"{}\"\nvapid_private_key = \"{}\"\n",
            files.config_toml(),
            crate::random_hex(32),
            crate::random_hex(32)
        );
        let mut nodes = Vec::with_capacity(count);
        for n in 1..=count {
            let port = free_port();
            let id = format!("node-{n}");
            let data_dir = dir.path().join(&id);
            std::fs::create_dir_all(&data_dir).expect("a node's data directory");
            let config = dir.path().join(format!("{id}.toml"));
            let toml = format!(
                "listen = \"127.0.0.1:{port}\"\nstore = \"{store_url}\"\nbus = \"{}\"\nnode_id = \"{id}\"\n\
                 cluster = \"{}\"\n{shared}{}{extra_config}\n",
                nats.urls_from(n - 1),
                schema.name,
                crate::lifted_limits_toml(),
            );
            std::fs::write(&config, toml).expect("a node's config file");
            nodes.push(Node {
                id: id.clone(),
                port,
                child: None,
                config,
                log: dir.path().join(format!("{id}.log")),
                data_dir,
            });
        }
        let addresses: Vec<SocketAddr> = nodes
            .iter()
            .map(|n| SocketAddr::from(([127, 0, 0, 1], n.port)))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the balancer");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("balancer address")
        );
        let balancer = tokio::spawn(forward(listener, addresses));
        let mut cluster = Cluster {
            nodes,
            nats,
            files,
            url,
            binary: binary.to_owned(),
            balancer,
            _schema: schema,
            _dir: dir,
        };
        // One after the other: the first applies the migrations.
        for n in 0..count {
            cluster.start_node(n).await;
        }
        cluster.wait_for_nodes(count).await;
        Some(cluster)
    }

    /// Starts node `n` (again) and waits until it is ready.
    pub async fn start_node(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("a node's log file");
        let child = Command::new(&self.binary)
            .arg("serve")
            .arg("--config")
            .arg(&node.config)
            .arg("--data-dir")
            .arg(&node.data_dir)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start a parley node");
        node.child = Some(child);
        let client = Client::new(&node.url()).expect("node URL");
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            if client.text(&["readyz"]).await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not become ready:\n{}",
                node.id,
                node.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9` of node `n`: no goodbye to anyone.
    pub async fn kill_node(&mut self, n: usize) {
        if let Some(mut child) = self.nodes[n].child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM to node `n`, and waits until it has exited.
    pub async fn stop_node(&mut self, n: usize) {
        if let Some(mut child) = self.nodes[n].child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
        }
    }

    /// Waits until every running node counts `count` live nodes (its `parley_cluster_nodes` gauge).
    pub async fn wait_for_nodes(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            let mut agreed = true;
            for node in self.nodes.iter().filter(|n| n.is_running()) {
                let metrics = Client::new(&node.url())
                    .expect("node URL")
                    .text(&["metrics"])
                    .await
                    .unwrap_or_default();
                let live = metrics
                    .lines()
                    .find_map(|line| line.strip_prefix("parley_cluster_nodes "))
                    .and_then(|n| n.trim().parse::<f64>().ok());
                agreed &= live == Some(count as f64);
            }
            if agreed {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the nodes never saw {count} live nodes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A client of the cluster through the balancer, not logged in.
    pub fn client(&self) -> Client {
        Client::new(&self.url).expect("balancer URL")
    }

    /// Signs up a new user in the org with this handle (created if new), through the balancer.
    pub async fn user_in(&self, name: &str, org: &str) -> TestUser {
        sign_up(&self.client(), name, Some(org)).await
    }

    /// Every node's log, for a failed check's message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("---- {} ----\n{}", n.id, n.log()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.balancer.abort();
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _ = child.start_kill();
            }
        }
    }
}

/// The TCP balancer: each connection goes to the next server that accepts it,
/// round robin. Its connections are tasks of its own, so aborting it closes them all.
async fn forward(listener: TcpListener, nodes: Vec<SocketAddr>) {
    let next = Arc::new(Mutex::new(0usize));
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let (nodes, next) = (nodes.clone(), Arc::clone(&next));
        connections.spawn(async move {
            let start = next.lock().map_or(0, |mut n| {
                *n += 1;
                *n
            });
            for i in 0..nodes.len() {
                let address = nodes[(start + i) % nodes.len()];
                if let Ok(mut outbound) = TcpStream::connect(address).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    return;
                }
            }
        });
    }
}
