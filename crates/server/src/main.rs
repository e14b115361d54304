//! `parley serve`: runs the server on the embedded default unless told otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use parley_core::proto::v1::Role;
use parley_server::{AppState, Config, run};
use tracing_subscriber::EnvFilter;

// glibc's malloc and free were ~7% of the send path's profile, partly waiting on its arenas' locks
// (BENCHMARKS.md, "Speed, fifth part"); the workspace's Cargo.toml says what jemalloc changed.
#[cfg(all(target_os = "linux", feature = "jemalloc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "Parley: a real-time messaging server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Print the OpenAPI document.
    Openapi,
    /// Change things the API leaves to the operator, on the store the server uses.
    Admin(AdminArgs),
}

#[derive(clap::Args)]
struct AdminArgs {
    /// TOML config file, as `serve` takes it (the store, the data directory).
    #[arg(long, env = "PARLEY_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory of the embedded store [default: ./parley-data].
    #[arg(long, env = "PARLEY_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Store URL [default: SQLite in the data directory].
    #[arg(long, env = "PARLEY_STORE", global = true)]
    store: Option<String>,
    /// The further shards, as `serve` takes them.
    #[arg(
        long = "store-shard",
        env = "PARLEY_STORE_SHARDS",
        value_delimiter = ' ',
        global = true
    )]
    store_shards: Vec<String>,
    #[command(subcommand)]
    task: AdminTask,
}

#[derive(Subcommand)]
enum AdminTask {
    /// Let anyone sign up into an organization without an invitation (`--open`), or stop it (`--close`);
    /// the organization is created if it does not exist. On a server whose sign-up is closed, this is how
    /// the first people get in: open an organization, let them sign up, close it, and invite the rest.
    OpenSignup {
        /// The organization's handle.
        #[arg(long)]
        org: String,
        /// Open it to sign-up.
        #[arg(long, conflicts_with = "close", required_unless_present = "close")]
        open: bool,
        /// Make it invitation only (every organization starts so, but the default one while the server's
        /// `open_signup` is true).
        #[arg(long)]
        close: bool,
    },
    /// Whether an organization's pushes carry a preview of the message (`--on`, the default) or only ids
    /// (`--off`: the client fetches the message), for organizations that keep text off push services.
    PushPreviews {
        /// The organization's handle.
        #[arg(long)]
        org: String,
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
    },
    /// Give a person a role in their organization: owner, admin, member or guest. Whatever anyone's role,
    /// from the server's shell; only leaving the organization without an active owner is refused.
    SetRole {
        /// The organization's handle.
        #[arg(long)]
        org: String,
        /// The person's username.
        #[arg(long)]
        user: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Move an organization to another shard while it is in use, with PostgreSQL's logical replication
    /// (the source needs `wal_level = logical`): copy, catch up, hold its requests for a moment, check,
    /// switch, and delete it from the source. Interrupted or stopped before the switch, the same command
    /// resumes; after the switch, it finishes.
    MoveOrg {
        /// The organization's handle.
        org: String,
        /// The shard it goes to (0 is `store`, 1 the first `--store-shard`, …).
        #[arg(long)]
        to: u16,
        /// Stop the copy (resume by running the move again).
        #[arg(long, conflicts_with = "undo")]
        stop: bool,
        /// Undo a move that has not switched: the copy goes, the source is as before.
        #[arg(long)]
        undo: bool,
    },
}

impl AdminTask {
    /// The organization the task is about.
    fn org(&self) -> &str {
        match self {
            AdminTask::OpenSignup { org, .. }
            | AdminTask::PushPreviews { org, .. }
            | AdminTask::SetRole { org, .. }
            | AdminTask::MoveOrg { org, .. } => org,
        }
    }
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| "the role is owner, admin, member or guest".to_owned())
}

impl AdminArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(data_dir) = &self.data_dir {
            config.data_dir.clone_from(data_dir);
        }
        if let Some(store) = &self.store {
            config.store = Some(store.clone());
        }
        if !self.store_shards.is_empty() {
            config.store_shards.clone_from(&self.store_shards);
        }
        Ok(config)
    }

    async fn run(self) -> anyhow::Result<()> {
        let config = self.config()?;
        if let AdminTask::MoveOrg {
            org,
            to,
            stop,
            undo,
        } = self.task
        {
            return move_org(&config, org, to, stop, undo).await;
        }
        let parley = parley_server::open_for_admin(&config, self.task.org())
            .await
            .context("cannot open the store")?;
        match self.task {
            AdminTask::OpenSignup { org, open, .. } => {
                parley
                    .set_open_signup(&org, open)
                    .await
                    .with_context(|| format!("cannot change sign-up of {org}"))?;
                let state = if open {
                    "open to sign-up"
                } else {
                    "invitation only"
                };
                println!("{org} is {state}");
                if !open && org == config.default_org && config.open_signup {
                    println!(
                        "but it is the default organization, which anyone may join while the server's \
                         open_signup is true"
                    );
                }
            }
            AdminTask::PushPreviews { org, on, .. } => {
                parley
                    .set_push_previews(&org, on)
                    .await
                    .with_context(|| format!("cannot change the push previews of {org}"))?;
                let state = if on {
                    "carry a preview"
                } else {
                    "carry ids only"
                };
                println!("{org}'s pushes {state}");
            }
            AdminTask::MoveOrg { .. } => {}
            AdminTask::SetRole { org, user, role } => {
                parley
                    .set_role_as_operator(&org, &user, role)
                    .await
                    .with_context(|| format!("cannot change the role of {user} in {org}"))?;
                println!("{user} of {org} is now {}", role.as_str());
            }
        }
        Ok(())
    }
}

/// `parley admin move-org`: every shard's URL from the configuration, and the move.
async fn move_org(
    config: &Config,
    handle: String,
    to: u16,
    stop: bool,
    undo: bool,
) -> anyhow::Result<()> {
    let Some(first) = config
        .store
        .clone()
        .filter(|_| !config.store_shards.is_empty())
    else {
        anyhow::bail!("moving an organization needs shards: a PostgreSQL store and --store-shard");
    };
    let mut shards = vec![first];
    shards.extend(config.store_shards.iter().cloned());
    let mover = parley_store::OrgMove {
        handle: handle.clone(),
        to,
        shards,
    };
    if stop {
        mover.stop().await.context("cannot stop the move")?;
        println!("stopped the copy of {handle}; run the move again to resume it");
    } else if undo {
        mover.undo().await.context("cannot undo the move")?;
        println!("undid the move of {handle}: it stays where it was");
    } else {
        let moved = mover
            .run(&|step| println!("{step}"))
            .await
            .with_context(|| format!("cannot move {handle}"))?;
        println!(
            "moved {handle} to shard {to}: {} rows, copied in {} ms, requests held for {} ms",
            moved.rows,
            moved.copied_in.as_millis(),
            moved.held_for.as_millis()
        );
    }
    Ok(())
}

/// Each flag also reads its environment variable; both override the config file.
#[derive(clap::Args)]
struct ServeArgs {
    /// TOML config file (keys as in `Config`: listen, data_dir, store, bus, public_url, ...).
    #[arg(long, env = "PARLEY_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PARLEY_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory for the embedded store [default: ./parley-data].
    #[arg(long, env = "PARLEY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Store URL [default: SQLite in the data directory].
    #[arg(long, env = "PARLEY_STORE")]
    store: Option<String>,
    /// A streaming replica of the PostgreSQL store to read from; once per replica (the variable separates
    /// them with spaces: a URL may hold commas, as a multi-host one does).
    #[arg(
        long = "store-replica",
        env = "PARLEY_STORE_REPLICAS",
        value_delimiter = ' '
    )]
    store_replicas: Vec<String>,
    /// A further PostgreSQL database holding whole organizations: shard 1, 2, … in the order given, the
    /// store being shard 0 (the variable separates them with spaces).
    #[arg(
        long = "store-shard",
        env = "PARLEY_STORE_SHARDS",
        value_delimiter = ' '
    )]
    store_shards: Vec<String>,
    /// A streaming replica of a shard after the first, as SHARD=URL (1 for the first --store-shard); once
    /// per replica (the variable separates them with spaces).
    #[arg(
        long = "store-shard-replica",
        env = "PARLEY_STORE_SHARD_REPLICAS",
        value_delimiter = ' '
    )]
    store_shard_replicas: Vec<String>,
    /// Bus URL [default: in-process; nats://host:port (tls://host:port) for a cluster, several separated by
    /// commas].
    #[arg(long, env = "PARLEY_BUS")]
    bus: Option<String>,
    /// The user the NATS servers ask for, with --nats-password.
    #[arg(long, env = "PARLEY_NATS_USER")]
    nats_user: Option<String>,
    /// The password of --nats-user.
    #[arg(long, env = "PARLEY_NATS_PASSWORD", hide_env_values = true)]
    nats_password: Option<String>,
    /// The token the NATS servers ask for, instead of a user and password.
    #[arg(long, env = "PARLEY_NATS_TOKEN", hide_env_values = true)]
    nats_token: Option<String>,
    /// A file holding the NKey seed (SU...) the NATS servers know this cluster's user by.
    #[arg(long, env = "PARLEY_NATS_NKEY")]
    nats_nkey: Option<PathBuf>,
    /// A NATS credentials file (.creds: the user's JWT and seed), for NATS servers in operator mode.
    #[arg(long, env = "PARLEY_NATS_CREDS")]
    nats_creds: Option<PathBuf>,
    /// A PEM file of the CA that signed the NATS servers' certificates; given, every NATS server is reached
    /// over TLS [default: the system's roots, TLS for tls:// servers and those that ask].
    #[arg(long, env = "PARLEY_NATS_CA")]
    nats_ca: Option<PathBuf>,
    /// A PEM file of this node's certificate, for NATS servers that verify their clients'; with --nats-key.
    #[arg(long, env = "PARLEY_NATS_CERT")]
    nats_cert: Option<PathBuf>,
    /// The PEM file of --nats-cert's private key.
    #[arg(long, env = "PARLEY_NATS_KEY")]
    nats_key: Option<PathBuf>,
    /// This node's id in a cluster, unique among its nodes and kept across restarts [default: the public URL].
    #[arg(long, env = "PARLEY_NODE_ID")]
    node_id: Option<String>,
    /// Name of the cluster: nodes with the same name on one NATS server serve together [default: parley].
    #[arg(long, env = "PARLEY_CLUSTER")]
    cluster: Option<String>,
    /// URL clients reach this server at [default: http://LISTEN].
    #[arg(long, env = "PARLEY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Whether sign-up may create new organizations [default: true].
    #[arg(long, env = "PARLEY_OPEN_SIGNUP")]
    open_signup: Option<bool>,
    /// Where files live [default: local, `objects/` in the data directory; s3://BUCKET for a cluster].
    #[arg(long, env = "PARLEY_FILES")]
    files: Option<String>,
    /// The S3 endpoint of a store other than AWS (SeaweedFS, MinIO, ...) [default: AWS, or AWS_ENDPOINT].
    #[arg(long, env = "PARLEY_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The bucket's region [default: AWS_REGION, else us-east-1]. Credentials come from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY (or the config file).
    #[arg(long, env = "PARLEY_S3_REGION")]
    s3_region: Option<String>,
    /// The secret that signs file links: 32 characters or more, the same on every node of a cluster
    /// [default on a single node: made once and kept in the data directory].
    #[arg(long, env = "PARLEY_URL_SECRET", hide_env_values = true)]
    url_secret: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "PARLEY_LOG_JSON")]
    log_json: bool,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(data_dir) = self.data_dir {
            config.data_dir = data_dir;
        }
        config.store = self.store.or(config.store);
        if !self.store_replicas.is_empty() {
            config.store_replicas = self.store_replicas;
        }
        if !self.store_shards.is_empty() {
            config.store_shards = self.store_shards;
        }
        if !self.store_shard_replicas.is_empty() {
            config.store_shard_replicas = self.store_shard_replicas;
        }
        config.bus = self.bus.or(config.bus);
        config.nats_user = self.nats_user.or(config.nats_user);
        config.nats_password = self.nats_password.or(config.nats_password);
        config.nats_token = self.nats_token.or(config.nats_token);
        config.nats_ca = self.nats_ca.or(config.nats_ca);
        config.nats_cert = self.nats_cert.or(config.nats_cert);
        config.nats_key = self.nats_key.or(config.nats_key);
        config.nats_nkey = self.nats_nkey.or(config.nats_nkey);
        config.nats_creds = self.nats_creds.or(config.nats_creds);
        config.node_id = self.node_id.or(config.node_id);
        if let Some(cluster) = self.cluster {
            config.cluster = cluster;
        }
        config.public_url = self.public_url.or(config.public_url);
        if let Some(open_signup) = self.open_signup {
            config.open_signup = open_signup;
        }
        config.files = self.files.or(config.files);
        config.s3_endpoint = self.s3_endpoint.or(config.s3_endpoint);
        config.s3_region = self.s3_region.or(config.s3_region);
        config.url_secret = self.url_secret.or(config.url_secret);
        Ok(config)
    }
}

fn init_logs(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed now, not when the future is first polled: a
/// signal that came between "listening" and the first poll would otherwise kill the process uncleanly.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        [SignalKind::interrupt(), SignalKind::terminate()].map(|kind| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::warn!(%error, ?kind, "cannot listen for a signal");
                None
            }
        })
    };
    async move {
        #[cfg(unix)]
        {
            let [interrupt, terminate] = signals;
            let received = |stream: Option<tokio::signal::unix::Signal>| async move {
                match stream {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = received(interrupt) => {},
                () = received(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Openapi => {
            print!("{}", parley_server::openapi_document());
            Ok(())
        }
        Command::Admin(args) => args.run().await,
        Command::Serve(args) => {
            init_logs(args.log_json);
            match parley_server::raise_open_files_limit() {
                Ok(limit) => tracing::info!(limit, "open files limit"),
                Err(error) => tracing::warn!(%error, "cannot read or raise the open files limit"),
            }
            let config = args.into_config()?;
            let stop = shutdown_signal();
            let state = AppState::open(&config).await.context("cannot start")?;
            let listener = parley_server::bind(config.listen)
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            tracing::info!(address = %listener.local_addr()?, data_dir = %config.data_dir.display(), "parley listening");
            run(listener, state, stop).await.context("server failed")?;
            tracing::info!("stopped cleanly");
            Ok(())
        }
    }
}
