//! Test fixtures: a real Parley server on an ephemeral port with its own temporary data directory, and SDK
//! clients for it. The server is the same `run` that `main` calls; it shuts down when dropped. `cluster`
//! runs several nodes as processes on PostgreSQL and NATS.
//!
//! Logs are off unless `TEST_LOG=1`. Sign-up and send limits are lifted (`lift_limits`).

mod backdate;
mod child;
pub mod cluster;
pub mod latency;
pub mod nats;
pub mod oidc_provider;
pub mod ports;
pub mod push_service;
pub mod replication;
pub mod seaweedfs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use parley_client::Client;
use parley_proto::UserId;
use parley_proto::v1::{CreateInviteRequest, SignupRequest};
use parley_server::{AppState, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use parley_client;
pub use parley_proto;

/// Whether a missing service fails the test rather than skipping it (`REQUIRE_SERVICES=1`, as in CI).
pub(crate) fn required() -> bool {
    std::env::var("REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// `bytes` random bytes as hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).expect("random bytes");
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running server. Dropping it stops it; `stop` also waits until it has finished.
pub struct TestServer {
    pub url: String,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// Kept so the directory lives as long as the server (and is removed after).
    _data_dir: Option<tempfile::TempDir>,
}

/// A signed-up user and a client acting as them.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub client: Client,
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_test_writer()
            .try_init();
    }
}

/// Tests sign up dozens of people and send bursts from one address: the sign-up and send limits are lifted
/// for them (a test of a limit sets it again). Everything else keeps its default.
fn lift_limits(config: &mut Config) {
    config.signups_per_address_per_hour = LIFTED;
    config.signups_per_minute = LIFTED;
    config.sends_per_second = LIFTED;
    config.sends_burst = LIFTED;
}

const LIFTED: u32 = 1_000_000;

/// The same, as lines of a node's TOML configuration.
pub(crate) fn lifted_limits_toml() -> String {
    format!(
        "signups_per_address_per_hour = {LIFTED}\nsignups_per_minute = {LIFTED}\n\
         sends_per_second = {LIFTED}\nsends_burst = {LIFTED}\n"
    )
}

impl TestServer {
    /// A server on a fresh temporary data directory with the default configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server on a fresh temporary data directory, with `adjust` applied to its configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let mut server = Self::spawn_in(data_dir.path(), adjust).await;
        server._data_dir = Some(data_dir);
        server
    }

    /// A server on the given data directory (which outlives it): for restart tests.
    pub async fn spawn_in(data_dir: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        // For the tests' own HTTP clients too (`install_tls_provider` says why).
        parley_client::install_tls_provider();
        let listener = parley_server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind an ephemeral port");
        let address = listener.local_addr().expect("local address");
        let mut config = Config {
            listen: address,
            data_dir: PathBuf::from(data_dir),
            ..Config::default()
        };
        lift_limits(&mut config);
        adjust(&mut config);
        let state = AppState::open(&config)
            .await
            .expect("open the server state");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            parley_server::run(listener, state, shutdown)
                .await
                .expect("server runs");
        });
        TestServer {
            url: format!("http://{address}"),
            config,
            stop: Some(stop),
            task: Some(task),
            _data_dir: None,
        }
    }

    /// Stops accepting, finishes requests in flight, and waits until the server has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task ends cleanly");
        }
    }

    /// A client that is not logged in.
    pub fn client(&self) -> Client {
        Client::new(&self.url).expect("server URL parses")
    }

    /// Signs up a new user with a unique username in the default org.
    pub async fn user(&self, name: &str) -> TestUser {
        self.user_in(name, None).await
    }

    /// Signs up a new user with a unique username in the org with this handle (created if new).
    pub async fn user_in(&self, name: &str, org: Option<&str>) -> TestUser {
        sign_up(&self.client(), name, org).await
    }
}

/// Signs up a new user with a unique username through `client`. Into an org that exists already (and is
/// not open to sign-up) it signs up with an invitation made by the org's first test user, as people do.
pub async fn sign_up(client: &Client, name: &str, org: Option<&str>) -> TestUser {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let username = format!("{}{n}", name.to_lowercase().replace(' ', "_"));
    let email = format!("{username}@example.org");
    let org_key = org.map(|org| (client.base_url().to_string(), org.to_owned()));
    let inviter = org_key.as_ref().and_then(|key| {
        INVITERS
            .lock()
            .ok()
            .and_then(|inviters| inviters.get(key).cloned())
    });
    let invite = match inviter {
        Some(inviter) => {
            let request = CreateInviteRequest::default();
            let invite = inviter
                .create_invite(&request)
                .await
                .expect("an invitation");
            invite.token
        }
        None => None,
    };
    let request = SignupRequest {
        name: name.to_owned(),
        email: email.clone(),
        password: PASSWORD.to_owned(),
        username: username.clone(),
        org: org.map(str::to_owned),
        invite,
    };
    let session = client.signup(&request).await.expect("sign up");
    let member = client.with_token(session.token);
    if let Some(key) = org_key
        && let Ok(mut inviters) = INVITERS.lock()
    {
        inviters.entry(key).or_insert_with(|| member.clone());
    }
    TestUser {
        id: session.user_id,
        username,
        email,
        client: member,
    }
}

/// The first test user of each (server, org): who invites the org's later test users.
static INVITERS: std::sync::LazyLock<Mutex<HashMap<(String, String), Client>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
