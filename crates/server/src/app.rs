//! Wiring: the shared state and the router with its layers. `serve::run` serves it.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use parley_bus::{ClientCertificate, LocalBus, NatsAuth, NatsBus, NatsSettings};
use parley_core::Parley;
use parley_core::bus::{Bus, BusError, Node};
use parley_core::service::notify::run_notifier;
use parley_core::sso::OpenIdConnect;
use parley_core::storage::StorageError;
use parley_core::store::StoreError;
use parley_core::store::{Directory, ShardNumber, Store};
use parley_store::{PgDirectory, PgStore, SqliteStore, TimeLimited};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::ApiError;
use crate::gateway::{GatewaySettings, Hub};
use crate::serve::HttpSettings;
use crate::shards::{Routes, Shard, Shards};
use crate::sso::OpenIdClient;
use crate::{files, http, metrics, push, web};

/// Everything a request handler needs. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    /// The use cases of the shard this request's organization lives on (of the one store, unsharded).
    pub parley: Arc<Parley>,
    pub metrics: PrometheusHandle,
    /// That shard's gateway.
    pub hub: Arc<Hub>,
    /// Every shard: a socket finds its own once its `hello` names its token.
    pub shards: Arc<Shards>,
    pub gateway: GatewaySettings,
    pub http: HttpSettings,
    pub(crate) max_body_bytes: usize,
    /// The object store's origin when it serves files itself (S3), for the web client's CSP.
    pub(crate) files_origin: Option<String>,
    /// The VAPID public key browsers subscribe to Web Push with.
    pub(crate) vapid_public_key: Arc<str>,
    /// OpenID Connect with organizations' identity providers.
    pub(crate) oidc: Arc<dyn OpenIdConnect>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {0}")]
    DataDir(String, #[source] std::io::Error),
    #[error("cannot open the store")]
    Store(#[from] StoreError),
    #[error("cannot reach the bus")]
    Bus(#[from] BusError),
    #[error(
        "a NATS bus joins a cluster, whose nodes must share one PostgreSQL store: set store = postgres://..."
    )]
    ClusterNeedsSharedStore,
    #[error(
        "a NATS bus joins a cluster, whose nodes must share one file storage: set files = s3://BUCKET"
    )]
    ClusterNeedsSharedFiles,
    #[error("read replicas (store_replicas) are PostgreSQL's: set store = postgres://... too")]
    ReplicasNeedPostgres,
    #[error("shards (store_shards) are PostgreSQL databases: set store = postgres://... too")]
    ShardsNeedPostgres,
    #[error("at most {} shards", parley_core::store::ID_STEP)]
    TooManyShards,
    #[error(
        "store_shard_replicas entry {0} is not SHARD=postgres://... with SHARD one of store_shards \
         (1 for the first)"
    )]
    ShardReplica(usize),
    #[error(
        "NATS credentials are a user with a password (nats_user, nats_password), a token (nats_token), an \
         NKey seed's file (nats_nkey) or a credentials file (nats_creds): one of them, and not half of one"
    )]
    NatsCredentials,
    #[error("cannot read the NATS NKey seed file {0}")]
    NatsNKey(String, #[source] std::io::Error),
    #[error("cannot read the NATS credentials file {0}")]
    NatsCreds(String, #[source] std::io::Error),
    #[error(
        "a NATS client certificate (nats_cert) goes with its private key (nats_key): both, or neither"
    )]
    NatsCertificate,
    #[error(
        "file links need a url_secret of at least 32 characters, the same on every node of a cluster \
         (PARLEY_URL_SECRET)"
    )]
    UrlSecret,
    #[error(
        "vapid_private_key must be 32 bytes in base64url (required on a cluster, where every node pushes \
         with the same key)"
    )]
    Vapid,
    #[error("cannot make the push client")]
    PushClient(#[source] reqwest::Error),
    #[error("cannot build the HTTP client for identity providers")]
    SsoClient(#[source] reqwest::Error),
    #[error("cannot open the file storage")]
    Storage(#[source] StorageError),
    #[error("unsupported {what} URL {url:?}: this build supports {supported}")]
    Unsupported {
        what: &'static str,
        url: String,
        supported: &'static str,
    },
}

impl AppState {
    /// Every shard this node serves (one, unsharded).
    pub fn all_shards(&self) -> &[Shard] {
        self.shards.all()
    }

    /// Opens the store, bus and blob store the configuration names, and starts the gateway's dispatcher and
    /// the janitor of events and sessions.
    pub async fn open(config: &Config) -> Result<Self, StartError> {
        let data_dir = &config.data_dir;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StartError::DataDir(data_dir.display().to_string(), e))?;
        if is_nats(config) && !is_postgres(config) {
            return Err(StartError::ClusterNeedsSharedStore);
        }
        if !config.store_replicas.is_empty() && !is_postgres(config) {
            return Err(StartError::ReplicasNeedPostgres);
        }
        replicas_of_shards(config)?;
        if is_nats(config) && config.files.as_deref().is_none_or(|files| files == "local") {
            return Err(StartError::ClusterNeedsSharedFiles);
        }
        let nats_auth = nats_auth(config)?;
        let nats_identity = nats_identity(config)?;
        let settings = config.settings(files::url_signer(config, is_nats(config))?);
        let push_settings = settings.push;
        let oidc = OpenIdClient::new(settings.sso_addresses).map_err(StartError::SsoClient)?;
        let storage = files::open_storage(config)?;
        files::migrate_avatars(config, &*storage)
            .await
            .map_err(StartError::Storage)?;
        let gateway = config.gateway();
        // Before the hubs, which register their metrics once.
        let metrics = metrics::handle();
        let vapid = Arc::new(push_identity(config, is_nats(config))?);
        let sender = push::HttpPushSender::new(Arc::clone(&vapid), push_settings.addresses)
            .map_err(StartError::PushClient)?;
        let sender = Arc::new(sender);
        let stores = open_shards(config).await?;
        let directory = open_directory(config, stores.len()).await?;
        let mut list = Vec::with_capacity(stores.len());
        for (number, store) in stores.into_iter().enumerate() {
            let prefix = match number {
                0 => config.cluster.clone(),
                n => format!("{}.shard{n}", config.cluster),
            };
            let bus = open_bus(config, nats_auth.clone(), nats_identity.clone(), prefix).await?;
            let inbox = bus.inbox().await?;
            let mut parley = Parley::new(store, bus, Arc::clone(&storage), settings.clone());
            if let Some(directory) = &directory {
                let number =
                    ShardNumber::try_from(number).map_err(|_| StartError::TooManyShards)?;
                parley = parley.on_shard(Arc::clone(directory), number);
            }
            let parley = Arc::new(parley);
            let hub = Hub::start(
                Arc::clone(&parley),
                inbox,
                gateway.presence_grace,
                gateway.max_sockets_per_user,
            );
            tokio::spawn(janitor(Arc::downgrade(&parley)));
            tokio::spawn(parley_core::service::make_previews(Arc::downgrade(&parley)));
            tokio::spawn(count_nodes(Arc::downgrade(&parley)));
            tokio::spawn(run_notifier(
                Arc::downgrade(&parley),
                Arc::clone(&sender) as _,
                config.node_id(),
            ));
            list.push(Shard { parley, hub });
        }
        let shards = Arc::new(match directory {
            Some(directory) => Shards::several(
                list,
                directory,
                config.default_org.clone(),
                config.open_signup,
            ),
            None => Shards::single(list.remove(0)),
        });
        Shards::follow_moves(&shards);
        let first = &shards.all()[0];
        Ok(AppState {
            parley: Arc::clone(&first.parley),
            metrics,
            hub: Arc::clone(&first.hub),
            shards: Arc::clone(&shards),
            gateway,
            http: config.http(),
            max_body_bytes: config.max_body_bytes,
            files_origin: files::origin(config),
            vapid_public_key: Arc::from(vapid.public_key()),
            oidc: Arc::new(oidc),
        })
    }
}

/// The use cases over the store of organization `org` (with `store_shards`, its shard's; placed on the
/// emptiest if new), for `parley admin` on the server's machine: no bus (the in-process one, which nobody
/// hears), no gateway, no listener.
pub async fn open_for_admin(config: &Config, org: &str) -> Result<Arc<Parley>, StartError> {
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StartError::DataDir(data_dir.display().to_string(), e))?;
    let mut stores = open_shards(config).await?;
    let directory = open_directory(config, stores.len()).await?;
    let number = match &directory {
        Some(directory) => {
            let emptiest = directory.emptiest().await?;
            directory.place(org, emptiest).await?
        }
        None => 0,
    };
    if usize::from(number) >= stores.len() {
        return Err(StartError::TooManyShards);
    }
    let store = stores.swap_remove(usize::from(number));
    let bus = Arc::new(LocalBus::with_inbox_capacity(config.bus_inbox_capacity));
    let storage = files::open_storage(config)?;
    let settings = config.settings(files::url_signer(config, false)?);
    let parley = Parley::new(store, bus, storage, settings);
    Ok(Arc::new(match directory {
        Some(directory) => parley.on_shard(directory, number),
        None => parley,
    }))
}

/// Each shard's read replicas, in shard order: `store_replicas` the first's, `store_shard_replicas`
/// (`SHARD=URL`) the others'.
fn replicas_of_shards(config: &Config) -> Result<Vec<Vec<String>>, StartError> {
    let mut replicas = vec![Vec::new(); 1 + config.store_shards.len()];
    replicas[0].clone_from(&config.store_replicas);
    for (entry, given) in config.store_shard_replicas.iter().enumerate() {
        let (shard, url) = given
            .split_once('=')
            .ok_or(StartError::ShardReplica(entry + 1))?;
        let shard = shard
            .parse::<usize>()
            .ok()
            .filter(|shard| (1..replicas.len()).contains(shard))
            .ok_or(StartError::ShardReplica(entry + 1))?;
        replicas[shard].push(url.to_owned());
    }
    Ok(replicas)
}

/// The directory of which organization lives on which shard, in the first shard's database, when there are
/// several; open the shards' stores first.
async fn open_directory(
    config: &Config,
    shards: usize,
) -> Result<Option<Arc<dyn Directory>>, StartError> {
    match (config.store.as_deref(), shards) {
        (Some(url), several) if several > 1 => {
            let count = ShardNumber::try_from(several).map_err(|_| StartError::TooManyShards)?;
            let limit = Duration::from_millis(config.store_timeout_millis.max(1));
            Ok(Some(Arc::new(PgDirectory::open(url, count, limit).await?)))
        }
        _ => Ok(None),
    }
}

/// The VAPID key pair: from `vapid_private_key`, required on a cluster; on a single node, from the data
/// directory's `vapid-key`, made on first start.
fn push_identity(config: &Config, cluster: bool) -> Result<push::Vapid, StartError> {
    let subject = config.vapid_subject.clone().unwrap_or_else(|| {
        let public = config.public_url();
        let host = url::Url::parse(&public)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".to_owned());
        format!("mailto:postmaster@{host}")
    });
    if let Some(key) = &config.vapid_private_key {
        return push::Vapid::parse(key, subject).ok_or(StartError::Vapid);
    }
    if cluster {
        return Err(StartError::Vapid);
    }
    let path = config.data_dir.join("vapid-key");
    let secret = files::read_or_make(&path)
        .map_err(|e| StartError::DataDir(path.display().to_string(), e))?;
    let text = String::from_utf8(secret).map_err(|_| StartError::Vapid)?;
    push::Vapid::parse(&text, subject).ok_or(StartError::Vapid)
}

fn is_postgres(config: &Config) -> bool {
    config
        .store
        .as_deref()
        .is_some_and(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

fn is_nats(config: &Config) -> bool {
    config
        .bus
        .as_deref()
        .is_some_and(|url| url.starts_with("nats://") || url.starts_with("tls://"))
}

/// The store the configuration names: SQLite in the data directory by default, another SQLite file with
/// `sqlite:///path`, or PostgreSQL with `postgres://...`; every call under `store_timeout_millis`.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let store = open_backend(config).await?;
    Ok(time_limited(config, store))
}

fn time_limited(config: &Config, store: Arc<dyn Store>) -> Arc<dyn Store> {
    let limit = Duration::from_millis(config.store_timeout_millis.max(1));
    Arc::new(TimeLimited::new(store, limit))
}

/// The configured store, or with `store_shards` every shard's in order: `store` first.
async fn open_shards(config: &Config) -> Result<Vec<Arc<dyn Store>>, StartError> {
    if config.store_shards.is_empty() {
        return Ok(vec![open_store(config).await?]);
    }
    let Some(first) = config.store.as_deref().filter(|_| is_postgres(config)) else {
        return Err(StartError::ShardsNeedPostgres);
    };
    let urls = std::iter::once(first).chain(config.store_shards.iter().map(String::as_str));
    let replicas = replicas_of_shards(config)?;
    let mut stores = Vec::new();
    for ((number, url), replicas) in urls.enumerate().zip(replicas) {
        let number = u16::try_from(number)
            .ok()
            .filter(|number| i64::from(*number) < parley_core::store::ID_STEP)
            .ok_or(StartError::TooManyShards)?;
        let store = PgStore::open_shard(url, &replicas, Some(number)).await?;
        stores.push(time_limited(config, Arc::new(store)));
    }
    Ok(stores)
}

async fn open_backend(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let store: Arc<dyn Store> = match config.store.as_deref() {
        None | Some("sqlite") => Arc::new(SqliteStore::open(&config.data_dir.join("parley.db"))?),
        Some(url) if is_postgres(config) => {
            Arc::new(PgStore::open_with_replicas(url, &config.store_replicas).await?)
        }
        Some(url) => match url.strip_prefix("sqlite://") {
            Some(path) => Arc::new(SqliteStore::open(Path::new(path))?),
            None => {
                return Err(StartError::Unsupported {
                    what: "store",
                    url: url.into(),
                    supported: "sqlite, sqlite:///path, postgres://...",
                });
            }
        },
    };
    Ok(store)
}

/// The bus the configuration names: the in-process bus by default, NATS with `nats://...` or `tls://...`
/// (several servers separated by commas).
async fn open_bus(
    config: &Config,
    auth: NatsAuth,
    identity: Option<ClientCertificate>,
    prefix: String,
) -> Result<Arc<dyn Bus>, StartError> {
    match config.bus.as_deref() {
        None | Some("local") => Ok(Arc::new(LocalBus::with_inbox_capacity(
            config.bus_inbox_capacity,
        ))),
        Some(url) if is_nats(config) => {
            let node = Node {
                id: config.node_id(),
                url: config.public_url(),
            };
            let mut settings = NatsSettings::new(url, node);
            settings.auth = auth;
            settings.tls_ca = config.nats_ca.clone();
            settings.tls_identity = identity;
            settings.prefix = prefix;
            settings.heartbeat = Duration::from_millis(config.node_heartbeat_millis.max(1));
            settings.node_ttl = Duration::from_millis(config.node_ttl_millis.max(1));
            Ok(Arc::new(NatsBus::connect(settings).await?))
        }
        Some(url) => Err(StartError::Unsupported {
            what: "bus",
            url: url.into(),
            supported: "local, nats://..., tls://...",
        }),
    }
}

/// The node's NATS credentials from the config: a user with a password, a token, an NKey seed's file, or
/// none.
fn nats_auth(config: &Config) -> Result<NatsAuth, StartError> {
    // An empty value (a variable an orchestrator sets to "") is no value.
    let given = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
    let file = |path: &Option<std::path::PathBuf>| {
        path.clone().filter(|path| !path.as_os_str().is_empty())
    };
    let login = (
        given(&config.nats_user),
        given(&config.nats_password),
        given(&config.nats_token),
        file(&config.nats_nkey),
        file(&config.nats_creds),
    );
    match login {
        (None, None, None, None, None) => Ok(NatsAuth::None),
        (Some(user), Some(password), None, None, None) => {
            Ok(NatsAuth::UserPassword { user, password })
        }
        (None, None, Some(token), None, None) => Ok(NatsAuth::Token(token)),
        (None, None, None, Some(path), None) => std::fs::read_to_string(&path)
            .map(|seed| NatsAuth::NKey(seed.trim().to_owned()))
            .map_err(|e| StartError::NatsNKey(path.display().to_string(), e)),
        (None, None, None, None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| StartError::NatsCreds(path.display().to_string(), e))?;
            Ok(NatsAuth::from_creds(&text).map_err(BusError::from)?)
        }
        _ => Err(StartError::NatsCredentials),
    }
}

/// The certificate the node presents to NATS servers that verify their clients', from the config: a
/// certificate file with its key file, or neither.
fn nats_identity(config: &Config) -> Result<Option<ClientCertificate>, StartError> {
    let file = |path: &Option<std::path::PathBuf>| {
        path.clone().filter(|path| !path.as_os_str().is_empty())
    };
    match (file(&config.nats_cert), file(&config.nats_key)) {
        (None, None) => Ok(None),
        (Some(certificate), Some(key)) => Ok(Some(ClientCertificate { certificate, key })),
        _ => Err(StartError::NatsCertificate),
    }
}

/// Keeps the `parley_cluster_nodes` gauge at the number of live nodes the bus knows, for as long as the
/// server lives: what operators (and the cluster tests) watch to see a node join or go.
async fn count_nodes(parley: Weak<Parley>) {
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    loop {
        every_second.tick().await;
        let Some(parley) = parley.upgrade() else {
            return;
        };
        if let Ok(count) = parley.live_nodes().await {
            ::metrics::gauge!("parley_cluster_nodes").set(count as f64);
        }
    }
}

/// Hourly, for as long as the server lives: purges messages past their conversation's retention
/// (`retention.rs`), forgets events past their retention and sessions past their
/// idle limit or lifetime (which are refused already; this only keeps the tables small), deletes files
/// nobody can reach any more (erased, uploads left on no message, objects no record names), and on a shard
/// of several settles the address claims sign-ups left (`shard.rs`).
async fn janitor(parley: Weak<Parley>) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        let Some(parley) = parley.upgrade() else {
            return;
        };
        report_pruned("expired messages", parley.purge_expired().await);
        report_pruned("events", parley.prune_events().await);
        report_pruned("sessions", parley.prune_sessions().await);
        report_pruned("files", parley.collect_files().await);
        report_pruned("unknown objects", parley.sweep_storage().await);
        report_pruned("unsettled address claims", parley.settle_claims().await);
    }
}

fn report_pruned(what: &'static str, pruned: Result<u64, parley_core::Error>) {
    match pruned {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, what, "pruned"),
        Err(error) => tracing::warn!(
            error = &error as &dyn std::error::Error,
            what,
            "cannot prune"
        ),
    }
}

async fn unknown_route() -> ApiError {
    ApiError::not_found()
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// A panic is a bug; the client still gets the API's error shape, and the process lives on.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on our side",
    )
    .into_response()
}

/// The router: one per shard, each over its shard's use cases, and in front of them, when there are
/// several, `shards::route`, which hands each request to its organization's.
pub fn router(state: AppState) -> Router {
    let shards = state.all_shards();
    if shards.len() == 1 {
        return shard_router(state);
    }
    let routers = shards
        .iter()
        .map(|shard| {
            shard_router(AppState {
                parley: Arc::clone(&shard.parley),
                hub: Arc::clone(&shard.hub),
                ..state.clone()
            })
        })
        .collect();
    let routes = Routes {
        shards: Arc::clone(&state.shards),
        routers: Arc::new(routers),
        http: state.http.clone(),
        max_body_bytes: state.max_body_bytes,
    };
    // The shards' routers have the rest of the layers; these cover what the choosing itself answers.
    Router::new()
        .fallback(crate::shards::route)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(routes)
}

fn shard_router(state: AppState) -> Router {
    let request_timeout = state.http.request_timeout;
    http::routes()
        .merge(web::routes(state.files_origin.as_deref()))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(
            request_timeout,
            http::deadline::within,
        ))
        .merge(http::streamed_routes().method_not_allowed_fallback(wrong_method))
        .layer(middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        // A browser takes every answer as the type it says: a user's file never runs as a page.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}
