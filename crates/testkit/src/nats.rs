//! NATS servers for tests, as processes of the machine's `nats-server` binary (`NATS_SERVER`, by default
//! `/usr/sbin/nats-server`): one on its own, or several clustered on loopback with a chosen latency between
//! them, as servers in different racks or zones have. Each can be killed and started again on its ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::latency::Latency;
use crate::ports::free_port;
use crate::required;

/// How long a server may take to come up, and a cluster to connect its routes.
const START_PATIENCE: Duration = Duration::from_secs(30);
/// The cluster's name, which every server of it gives.
const CLUSTER_NAME: &str = "parley-test";

/// A NATS server process on ports of its own.
pub struct NatsServer {
    pub port: u16,
    binary: PathBuf,
    /// Flags besides the address and port (a cluster's).
    flags: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl NatsServer {
    /// One server on its own, logging to `dir`; `None` without the binary (see `required`).
    pub async fn start(dir: &Path) -> Option<NatsServer> {
        let mut server = NatsServer::new(binary()?, Vec::new(), dir.join("nats.log"));
        server.resume().await;
        Some(server)
    }

    fn new(binary: PathBuf, flags: Vec<String>, log: PathBuf) -> NatsServer {
        NatsServer {
            port: free_port(),
            binary,
            flags,
            child: None,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same ports.
    pub async fn resume(&mut self) {
        let log = std::fs::File::create(&self.log).expect("NATS log file");
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.flags)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Servers clustered on loopback, every route through a `Latency` forwarder: each server listens for
/// routes on a port of its own and tells the others to reach it through its forwarder, so every route, the
/// ones the servers find out about from each other included, goes through one.
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
    _latencies: Vec<Latency>,
}

impl NatsCluster {
    /// One server on its own, as a cluster of one.
    pub async fn single(dir: &Path) -> Option<NatsCluster> {
        Some(NatsCluster {
            servers: vec![NatsServer::start(dir).await?],
            _latencies: Vec::new(),
        })
    }

    /// `count` servers, `delay` apart each way, logging to `dir`; returns once every route is up. `None`
    /// without the binary (see `required`).
    pub async fn start(dir: &Path, count: usize, delay: Duration) -> Option<NatsCluster> {
        let binary = binary()?;
        let route_ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
        let mut latencies = Vec::with_capacity(count);
        for port in &route_ports {
            let target = SocketAddr::from(([127, 0, 0, 1], *port));
            latencies.push(Latency::open(target, delay).await);
        }
        let mut servers = Vec::with_capacity(count);
        for (n, route_port) in route_ports.iter().enumerate() {
            let others: Vec<String> = latencies
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != n)
                .map(|(_, latency)| format!("nats://127.0.0.1:{}", latency.port))
                .collect();
            let flags = vec![
                "--cluster_name".to_owned(),
                CLUSTER_NAME.to_owned(),
                "--cluster".to_owned(),
                format!("nats://127.0.0.1:{route_port}"),
                "--cluster_advertise".to_owned(),
                format!("127.0.0.1:{}", latencies[n].port),
                "--routes".to_owned(),
                others.join(","),
            ];
            let log = dir.join(format!("nats-{}.log", n + 1));
            servers.push(NatsServer::new(binary.clone(), flags, log));
        }
        for server in &mut servers {
            server.resume().await;
        }
        let cluster = NatsCluster {
            servers,
            _latencies: latencies,
        };
        cluster.wait_for_routes().await;
        Some(cluster)
    }

    /// Every server's URL, server `first`'s first: what a node that should connect to it is given.
    pub fn urls_from(&self, first: usize) -> String {
        let count = self.servers.len();
        (0..count)
            .map(|i| self.servers[(first + i) % count].url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills every server.
    pub async fn kill_all(&mut self) {
        for server in &mut self.servers {
            server.kill().await;
        }
    }

    /// Starts every server that is not running again, and waits for their routes.
    pub async fn resume_all(&mut self) {
        for server in &mut self.servers {
            if server.child.is_none() {
                server.resume().await;
            }
        }
        self.wait_for_routes().await;
    }

    /// Waits until every running server's log shows a route open to each of the others.
    pub async fn wait_for_routes(&self) {
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        let running: Vec<&NatsServer> = self.servers.iter().filter(|s| s.child.is_some()).collect();
        loop {
            let connected = running.iter().all(|server| {
                let log = server.log();
                // Two servers that dial each other at once keep one route and close the other.
                let routes = log.matches("Route connection created").count();
                let closed = log.matches("Router connection closed").count();
                routes.saturating_sub(closed) >= running.len() - 1
            });
            if connected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the NATS servers never connected their routes:\n{}",
                self.servers
                    .iter()
                    .map(NatsServer::log)
                    .collect::<Vec<_>>()
                    .join("\n----\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The `nats-server` binary, or `None` (a failure under `REQUIRE_SERVICES=1`).
fn binary() -> Option<PathBuf> {
    let binary = std::env::var_os("NATS_SERVER")
        .map_or_else(|| PathBuf::from("/usr/sbin/nats-server"), PathBuf::from);
    if !binary.exists() {
        assert!(
            !required(),
            "NATS server binary {} is required",
            binary.display()
        );
        eprintln!("skipped: no NATS server at {}", binary.display());
        return None;
    }
    Some(binary)
}
