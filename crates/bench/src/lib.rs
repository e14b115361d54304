//! `parley-bench`: a load generator for Parley. It drives real WebSockets and REST calls against a running
//! server through the SDK (`parley-client`), as any client would, and measures what a deployment can carry:
//! idle connections, connection rate, fan-out, one-to-one chat, durable ingest, catch-up, and files (uploads
//! and downloads at once, with the server's memory meanwhile).
//!
//! It is not a test of correctness (the server's own tests do that), but every run still counts messages
//! lost and duplicated, since a fast server that drops messages proves nothing. Latency is measured open-loop
//! where the scenario has a rate: from the moment a send was *scheduled* to its arrival at each receiver, on
//! this process's clock, so a stalled server cannot hide its stall (no coordinated omission).
//!
//! Code map: `accounts` (sign-up with bounded concurrency, the `--accounts` file), `fleet` (a run split over
//! several processes past one's open-files limit), `tag` (run id and sequence
//! numbers in message text), `inbox` (what a receiver saw: latency, lost, duplicated), `peek` (the few
//! fields of a frame the bench reads, without decoding the rest), `report` (HDR
//! histograms, the table and the JSON line, the progress line), `procfs` (the server's CPU time and RSS), and
//! one module per scenario under `scenarios`.

pub mod accounts;
pub mod fleet;
pub mod inbox;
pub mod peek;
pub mod procfs;
pub mod report;
pub mod scenarios;
pub mod server_metrics;
pub mod setup;
pub mod tag;

pub use accounts::{Account, Accounts};
pub use parley_client;
pub use report::{Output, Report};

use procfs::Probe;

/// What can go wrong in a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused a request or a socket, or the network failed.
    #[error("server: {0}")]
    Client(#[from] parley_client::Error),
    /// The accounts file could not be read or written.
    #[error("accounts file {path}")]
    AccountsFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("accounts file {path} is not valid JSON")]
    AccountsJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// `/proc/PID` of the server could not be read.
    #[error("reading /proc/{pid}")]
    Proc {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    /// The scenario could not be set up or ran into something unexpected.
    #[error("{0}")]
    Scenario(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One of the bench's users and a client acting as them.
#[derive(Clone, Debug)]
pub struct User {
    pub id: parley_proto::UserId,
    pub client: parley_client::Client,
}

/// This process's part of a run split over several (see `fleet`): it is `index` of `count`, and takes that
/// share of the users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// `index/count`, as the `--shard` flag takes it.
    pub fn parse(text: &str) -> std::result::Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not INDEX/COUNT"))?;
        let shard = Shard {
            index: index
                .parse()
                .map_err(|_| format!("{index:?} is not a number"))?,
            count: count
                .parse()
                .map_err(|_| format!("{count:?} is not a number"))?,
        };
        if shard.index >= shard.count {
            return Err(format!("shard {text} does not exist"));
        }
        Ok(shard)
    }

    /// This shard's contiguous part of `items`: the first ones get one more when they do not divide evenly.
    pub fn of<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let (each, extra) = (items.len() / self.count, items.len() % self.count);
        let start = self.index * each + self.index.min(extra);
        let len = each + usize::from(self.index < extra);
        &items[start..start + len]
    }
}

/// Everything a scenario needs: the server, the accounts it may use, the server process to sample, and where
/// progress goes.
pub struct Bench {
    /// A client of the server that is not logged in.
    pub client: parley_client::Client,
    pub accounts: Accounts,
    pub probe: Probe,
    pub output: Output,
    /// Tags this run's messages, so that a receiver can tell them from any other run's.
    pub run_id: u64,
    /// Set when this process runs one part of a split run.
    pub shard: Option<Shard>,
    /// Cluster mode: one client per node (not logged in); user N uses node N modulo their number.
    pub nodes: Vec<parley_client::Client>,
}

impl Bench {
    pub fn new(
        client: parley_client::Client,
        accounts: Accounts,
        probe: Probe,
        output: Output,
    ) -> Self {
        Bench {
            client,
            accounts,
            probe,
            output,
            run_id: tag::new_run_id(),
            shard: None,
            nodes: Vec::new(),
        }
    }

    /// The server's delivery histogram now (empty if `/metrics` cannot be read).
    pub async fn server_histogram(&self) -> server_metrics::DeliveryHistogram {
        let mut total = server_metrics::DeliveryHistogram::default();
        for server in self.servers() {
            if let Ok(text) = server.text(&["metrics"]).await {
                total.add(&server_metrics::DeliveryHistogram::parse(&text));
            }
        }
        total
    }

    /// Every node of a cluster, or the one server.
    fn servers(&self) -> &[parley_client::Client] {
        if self.nodes.is_empty() {
            std::slice::from_ref(&self.client)
        } else {
            &self.nodes
        }
    }

    /// `n` accounts, signing up those the accounts file does not have yet.
    pub async fn users(&mut self, n: usize) -> Result<Vec<User>> {
        self.accounts.ensure(&self.client, n, self.output).await?;
        let servers = self.servers();
        Ok(self.accounts.list[..n]
            .iter()
            .enumerate()
            .map(|(i, account)| User {
                id: account.user_id,
                client: servers[i % servers.len()].with_token(&account.token),
            })
            .collect())
    }
}
