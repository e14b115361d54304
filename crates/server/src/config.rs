//! Configuration: defaults in code, then an optional TOML file, then environment variables and flags
//! (`PARLEY_...`; a flag wins over its variable). Loaded once in `main`; tests build a `Config` in code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parley_core::Settings;
use parley_core::service::notify::{AddressPolicy, PushSettings};
use parley_core::service::{FileSettings, LoginLimits, SendLimits, SessionLimits, SignupLimits};
use parley_core::signing::UrlSigner;
use serde::Deserialize;

use crate::gateway::GatewaySettings;
use crate::serve::{Deadlines, HttpSettings};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP and WebSocket listener binds.
    pub listen: SocketAddr,
    /// Where the embedded store keeps its database, and the local object storage its files.
    pub data_dir: PathBuf,
    /// Storage: absent or `sqlite` for SQLite in the data directory (`sqlite:///path/to.db` for another file).
    pub store: Option<String>,
    /// Streaming replicas of a PostgreSQL store (`postgres://...` each) that history, search, conversation
    /// lists and catch-up are read from once they have replayed as far as the reader needs.
    pub store_replicas: Vec<String>,
    /// Further PostgreSQL databases (`postgres://...` each): shards 1, 2, … of a cluster whose
    /// organizations live on several, `store` being shard 0 and holding the directory of which lives where.
    /// A new organization goes to the shard with the fewest. A shard added later starts as an empty
    /// database; every node lists the same shards in the same order.
    pub store_shards: Vec<String>,
    /// Streaming replicas of the shards after the first, each `SHARD=postgres://...` (`1=postgres://...`
    /// for a replica of the first of `store_shards`), read from as `store_replicas` (the first shard's) are.
    pub store_shard_replicas: Vec<String>,
    /// Longest a store call may take, in milliseconds: past it the request answers 503 (and a socket's
    /// catch-up closes it with 1011, to come back), rather than waiting on a store that stopped answering.
    pub store_timeout_millis: u64,
    /// Event bus: absent or `local` for the in-process bus, `nats://host:port` (or `tls://host:port`) for a
    /// cluster's; several servers of one NATS cluster separated by commas, and the node fails over between
    /// them.
    pub bus: Option<String>,
    /// The user and password the NATS servers ask for (their `authorization` block), if they ask.
    pub nats_user: Option<String>,
    pub nats_password: Option<String>,
    /// The token the NATS servers ask for, instead of a user and password.
    pub nats_token: Option<String>,
    /// A file holding the NKey seed (`SU...`) of the user the NATS servers know this cluster as.
    pub nats_nkey: Option<PathBuf>,
    /// A NATS credentials file (`.creds`: the user's JWT and NKey seed, as `nsc` writes it), for servers in
    /// operator mode (NATS's decentralized authentication).
    pub nats_creds: Option<PathBuf>,
    /// A PEM file of the CA that signed the NATS servers' certificates, trusted besides the system's roots;
    /// given, every server is reached over TLS (without it, those given as `tls://` or that ask for it).
    pub nats_ca: Option<PathBuf>,
    /// A PEM file of this node's certificate (and its chain), for NATS servers that verify their clients'
    /// certificates; with `nats_key`. Given, every server is reached over TLS.
    pub nats_cert: Option<PathBuf>,
    /// The PEM file of `nats_cert`'s private key.
    pub nats_key: Option<PathBuf>,
    /// This node's id in a cluster: unique among its nodes, and the same across its restarts; defaults to
    /// the public URL.
    pub node_id: Option<String>,
    /// The cluster's name: nodes with the same name on one NATS server serve together (it prefixes every
    /// subject they use).
    pub cluster: String,
    /// How often a cluster node announces on the bus that it is alive, in milliseconds.
    pub node_heartbeat_millis: u64,
    /// How long a cluster node may stay silent before the others count it dead (its users offline, its
    /// organizations served elsewhere), in milliseconds.
    pub node_ttl_millis: u64,
    /// The URL clients reach this server at; defaults to `http://` plus the listen address.
    pub public_url: Option<String>,
    /// Handle of the organization sign-ups without `org` join.
    pub default_org: String,
    /// Whether a sign-up naming an unknown organization creates it.
    pub open_signup: bool,
    /// Failed logins of one account per minute, after which addresses that have been failing (3 failures
    /// in 15 minutes) are refused until the minute is over; others still get in.
    pub login_attempts_per_account: u32,
    /// Login attempts allowed per minute from one client address.
    pub login_attempts_per_address: u32,
    /// Sign-ups allowed per hour from one client address (all at once, then evenly over the hour).
    pub signups_per_address_per_hour: u32,
    /// Sign-ups allowed per minute from everyone together.
    pub signups_per_minute: u32,
    /// Messages one user may send per second, over REST and all their sockets together; reactions,
    /// deletions, invitations and profile changes take from the same allowance.
    pub sends_per_second: u32,
    /// Messages one user may send at once before `sends_per_second` applies.
    pub sends_burst: u32,
    /// Seconds a session may go unused before it ends (an open WebSocket uses it).
    pub session_idle_seconds: u64,
    /// Seconds a session lives at most, however much it is used.
    pub session_lifetime_seconds: u64,
    /// WebSockets one user may have open at once (each device or tab has one); one more is closed with 4005.
    pub ws_max_sockets_per_user: usize,
    /// Largest JSON request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's head (request line and headers), counted from when
    /// its connection opens or from the first byte of a later request, in milliseconds.
    pub http_header_timeout_millis: u64,
    /// How long a keep-alive connection may stay idle between requests, in milliseconds.
    pub http_keepalive_idle_millis: u64,
    /// Longest pause between two parts of a request body, in milliseconds (then 408).
    pub http_body_timeout_millis: u64,
    /// Longest a whole REST request may take, body and answer, in milliseconds (then 503 `timeout`).
    pub http_request_timeout_millis: u64,
    /// Most connections (HTTP and WebSocket) open at once; absent, the open-files limit less a reserve.
    pub max_connections: Option<usize>,
    /// Most connections open at once from one client address. Behind a proxy every client has the proxy's
    /// address: raise this there and cap connections at the proxy.
    pub max_connections_per_address: usize,
    /// How long events are kept for WebSocket clients to resume from, in hours (at least 7 days is the
    /// promise to clients); an older cursor gets `resync`.
    pub event_retention_hours: u64,
    /// Largest WebSocket frame a client may send, in bytes; bigger ones close the socket with 1009.
    pub ws_max_frame_bytes: usize,
    /// Frames a WebSocket may have queued before it is closed as too slow (4002).
    pub ws_queue_frames: usize,
    /// How often the server pings each WebSocket, in milliseconds.
    pub ws_ping_millis: u64,
    /// How long a WebSocket may stay silent (no frame, no pong) before it is dropped, in milliseconds.
    pub ws_idle_timeout_millis: u64,
    /// How long a new WebSocket may take to send `hello`, in milliseconds.
    pub ws_hello_timeout_millis: u64,
    /// How long a user stays online after their last socket closes, in milliseconds.
    pub presence_grace_millis: u64,
    /// Ops per second one WebSocket may send (twice that as a burst).
    pub ws_ops_per_second: u32,
    /// Signals this node's bus inbox may hold unread before it counts as lagging (its connections then
    /// re-read their rooms and catch up from the store).
    pub bus_inbox_capacity: usize,
    /// Where files and avatars live: absent or `local` for `objects/` in the data directory, `s3://BUCKET`
    /// for an S3-compatible bucket (a cluster's nodes must share one).
    pub files: Option<String>,
    /// The S3 endpoint of a store other than AWS (`http://127.0.0.1:8333` for SeaweedFS, say); addressed
    /// path-style. Absent: AWS itself, or `AWS_ENDPOINT` from the environment.
    pub s3_endpoint: Option<String>,
    /// The bucket's region; absent: `AWS_REGION` or `AWS_DEFAULT_REGION` from the environment, else
    /// `us-east-1`.
    pub s3_region: Option<String>,
    /// Credentials for the bucket; absent: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
    /// `AWS_SESSION_TOKEN`) from the environment.
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// Largest file one upload takes, in bytes.
    pub max_file_bytes: u64,
    /// Bytes of files one organization may keep (uploads still pending included).
    pub org_storage_quota_bytes: u64,
    /// The secret that signs file links, at least 32 characters, the same on every node of a cluster
    /// (required there). Absent on a single node: made once and kept in `url-secret` in the data directory.
    pub url_secret: Option<String>,
    /// How long a signed file link (and a presigned URL of the object store) works, in seconds.
    pub file_link_seconds: u64,
    /// How long an upload that is on no message is kept, in hours.
    pub upload_lifetime_hours: u64,
    /// How long a message waits for its reader before anyone is pushed, in seconds.
    pub push_delay_seconds: u64,
    /// Whether pushes and webhooks may go to plain `http` URLs (never in production).
    pub push_allow_http: bool,
    /// Whether pushes and webhooks may go to private, loopback or link-local addresses.
    pub push_allow_private: bool,
    /// Whether an organization's identity provider may be at a plain `http` URL (never in production).
    pub sso_allow_http: bool,
    /// Whether an organization's identity provider may be at a private, loopback or link-local address
    /// (a provider inside the company's network).
    pub sso_allow_private: bool,
    /// The VAPID private key (RFC 8292): 32 bytes in base64url, the same on every node of a cluster
    /// (required there). Absent on a single node: made once and kept in `vapid-key` in the data directory.
    pub vapid_private_key: Option<String>,
    /// Who push services may contact about this server's pushes (the VAPID `sub`): a `mailto:` or `https:`
    /// URL. Absent: `mailto:postmaster@` the public URL's host.
    pub vapid_subject: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./parley-data"),
            store: None,
            store_replicas: Vec::new(),
            store_shards: Vec::new(),
            store_shard_replicas: Vec::new(),
            store_timeout_millis: 10_000,
            bus: None,
            nats_user: None,
            nats_password: None,
            nats_token: None,
            nats_ca: None,
            nats_cert: None,
            nats_key: None,
            nats_nkey: None,
            nats_creds: None,
            node_id: None,
            cluster: "parley".to_owned(),
            node_heartbeat_millis: 1_000,
            node_ttl_millis: 10_000,
            public_url: None,
            default_org: "default".to_owned(),
            open_signup: true,
            login_attempts_per_account: 10,
            login_attempts_per_address: 60,
            signups_per_address_per_hour: 20,
            signups_per_minute: 60,
            sends_per_second: 10,
            sends_burst: 50,
            ws_max_sockets_per_user: 32,
            session_idle_seconds: 14 * 24 * 3600,
            session_lifetime_seconds: 90 * 24 * 3600,
            // A 10,000-character message is at most 40 KB of UTF-8, more when JSON-escaped.
            max_body_bytes: 256 * 1024,
            http_header_timeout_millis: 10_000,
            http_keepalive_idle_millis: 60_000,
            http_body_timeout_millis: 10_000,
            // An avatar of 5 MiB at 100 KB/s.
            http_request_timeout_millis: 60_000,
            max_connections: None,
            max_connections_per_address: 1_024,
            event_retention_hours: 7 * 24,
            ws_max_frame_bytes: 64 * 1024,
            ws_queue_frames: 1024,
            ws_ping_millis: 25_000,
            ws_idle_timeout_millis: 60_000,
            ws_hello_timeout_millis: 10_000,
            presence_grace_millis: 5_000,
            ws_ops_per_second: 50,
            bus_inbox_capacity: 65_536,
            files: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            max_file_bytes: 100 * 1024 * 1024,
            org_storage_quota_bytes: 100 * 1024 * 1024 * 1024,
            url_secret: None,
            file_link_seconds: 600,
            upload_lifetime_hours: 24,
            push_delay_seconds: 10,
            push_allow_http: false,
            push_allow_private: false,
            sso_allow_http: false,
            sso_allow_private: false,
            vapid_private_key: None,
            vapid_subject: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

impl Config {
    /// Defaults overlaid with the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })
    }

    pub fn gateway(&self) -> GatewaySettings {
        GatewaySettings {
            max_frame_bytes: self.ws_max_frame_bytes,
            queue_frames: self.ws_queue_frames.max(1),
            ping_every: Duration::from_millis(self.ws_ping_millis.max(1)),
            idle_timeout: Duration::from_millis(self.ws_idle_timeout_millis.max(1)),
            hello_timeout: Duration::from_millis(self.ws_hello_timeout_millis.max(1)),
            presence_grace: Duration::from_millis(self.presence_grace_millis),
            ops_per_second: self.ws_ops_per_second,
            max_sockets_per_user: self.ws_max_sockets_per_user.max(1),
        }
    }

    pub fn http(&self) -> HttpSettings {
        let millis = |n: u64| Duration::from_millis(n.max(1));
        HttpSettings {
            deadlines: Deadlines {
                header: millis(self.http_header_timeout_millis),
                keepalive_idle: millis(self.http_keepalive_idle_millis),
            },
            body_timeout: millis(self.http_body_timeout_millis),
            request_timeout: millis(self.http_request_timeout_millis),
            max_connections: self
                .max_connections
                .unwrap_or_else(crate::serve::default_max_connections)
                .max(1),
            max_connections_per_address: self.max_connections_per_address.max(1),
        }
    }

    /// What core's use cases need to know of the configuration, with the signer of file links (which
    /// `files::url_signer` makes from `url_secret` or the data directory).
    pub fn settings(&self, signer: UrlSigner) -> Settings {
        Settings {
            default_org: self.default_org.clone(),
            open_signup: self.open_signup,
            public_url: self.public_url(),
            login_limits: LoginLimits {
                per_account: self.login_attempts_per_account,
                per_address: self.login_attempts_per_address,
            },
            signup_limits: SignupLimits {
                per_address_per_hour: self.signups_per_address_per_hour,
                per_minute: self.signups_per_minute,
            },
            send_limits: SendLimits {
                per_second: self.sends_per_second,
                burst: self.sends_burst,
            },
            session_limits: self.session_limits(),
            event_retention: Duration::from_secs(self.event_retention_hours.saturating_mul(3600)),
            files: FileSettings {
                max_file_bytes: self.max_file_bytes.max(1),
                org_quota_bytes: self.org_storage_quota_bytes,
                signer,
                link_lifetime: Duration::from_secs(self.file_link_seconds.max(1)),
                upload_lifetime: Duration::from_secs(
                    self.upload_lifetime_hours.max(1).saturating_mul(3600),
                ),
            },
            push: PushSettings {
                addresses: AddressPolicy {
                    allow_http: self.push_allow_http,
                    allow_private: self.push_allow_private,
                },
                delay: Duration::from_secs(self.push_delay_seconds),
                lease: Duration::from_millis(self.node_ttl_millis.max(1)),
            },
            sso_addresses: AddressPolicy {
                allow_http: self.sso_allow_http,
                allow_private: self.sso_allow_private,
            },
        }
    }

    fn session_limits(&self) -> SessionLimits {
        SessionLimits {
            idle: Duration::from_secs(self.session_idle_seconds.max(1)),
            lifetime: Duration::from_secs(self.session_lifetime_seconds.max(1)),
        }
    }

    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| self.public_url())
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}
