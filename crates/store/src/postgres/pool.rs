//! Connection pools: the settings every connection to a PostgreSQL server gets, whether to the primary
//! (`writer.rs`) or to a read replica (`replicas.rs`).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolBuilder, RecyclingMethod};
use parley_core::store::StoreResult;

use super::sql::backend;

/// How long any other session may sit idle inside a transaction before PostgreSQL ends it, releasing
/// its locks. No transaction here waits on anything but the database for that long.
const IDLE_IN_TRANSACTION_LIMIT: &str = "30s";

/// The connection settings for `url`.
pub(crate) fn config(url: &str) -> StoreResult<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = url.parse().map_err(backend)?;
    // A database that vanishes without closing the connection (a cut network) is noticed in seconds.
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(15));
    // A node frozen in the middle of a transaction (a stopped process, a runtime blocked) must not hold
    // its row locks for ever: other nodes' notifiers and writers would wait on them.
    let options = format!(
        "{} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_LIMIT}",
        config.get_options().unwrap_or_default()
    );
    config.options(options.trim_start());
    Ok(config)
}

/// A pool of at most `size` connections made with `config`, each made within `patience` and waited for
/// at most twice that.
pub(crate) fn pool(
    config: &tokio_postgres::Config,
    size: usize,
    recycling_method: RecyclingMethod,
    patience: Duration,
) -> StoreResult<Pool> {
    builder(config, size, recycling_method, patience)
        .build()
        .map_err(backend)
}

/// `pool`'s builder, for a pool that needs more (a check of each new connection).
pub(crate) fn builder(
    config: &tokio_postgres::Config,
    size: usize,
    recycling_method: RecyclingMethod,
    patience: Duration,
) -> PoolBuilder {
    let manager = Manager::from_config(
        config.clone(),
        tokio_postgres::NoTls,
        ManagerConfig { recycling_method },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(patience))
        .wait_timeout(Some(patience * 2))
}
