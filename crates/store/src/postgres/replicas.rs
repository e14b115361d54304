//! Read replicas: PostgreSQL streaming replicas of the primary that take history, search, conversation
//! lists and catch-up off it.
//!
//! **Never behind the reader.** A read goes to a replica only once that replica has replayed every write
//! the primary had made durable when the read arrived. The read takes a sample of the primary's WAL flush
//! position that began after it arrived (one sample serves every read waiting at that moment, so the
//! primary answers one tiny query per round trip however many reads come), then asks a replica whether it
//! has replayed that far. Every write acknowledged to anyone before the read arrived, through any node, is
//! flushed by then, so the replica shows it: a client that writes and reads at once sees its write, and a
//! catch-up misses no event it would have found on the primary. No time window is trusted.
//!
//! Positions compare only along one history: a replica counts only while it streams the primary's current
//! timeline, so one left on an old timeline by a promotion elsewhere (whose positions may be past the new
//! primary's, with writes nobody acknowledged) never answers. That takes `pg_stat_wal_receiver`, which
//! PostgreSQL shows only to superusers and members of `pg_read_all_stats`.
//!
//! Each connection to a replica is checked when it is made: the same database cluster (its system
//! identifier), the same database and the same schemas as the primary's, so that a URL naming another
//! database (another Parley's, say) is never read as this one's.
//!
//! A replica that has not replayed that far, that is down, that has been promoted, or whose read fails
//! (a query cancelled by a conflict with recovery, say) leaves the read to the primary; one that does not
//! answer rests a few seconds, then a single read tries it again. One whose connections are all busy
//! leaves just that read to the primary.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::{
    ClientWrapper, HookError, Pool, PoolError, RecyclingMethod, TimeoutType, Timeouts,
};
use parley_core::store::{StoreError, StoreResult};
use tokio::sync::{Notify, watch};
use tokio_postgres::types::PgLsn;

use super::pool;
use super::sql::{backend, get, row};
use super::writer::Db;

/// Connections to each replica, as many as the primary's readers.
const CONNECTIONS: usize = 15;
/// How long a replica may take to make a connection or to say how far it has replayed; past it the read
/// goes to the primary and the replica rests.
const REPLICA_PATIENCE: Duration = Duration::from_secs(1);
/// How long a replica that failed to answer is left alone.
const REST: Duration = Duration::from_secs(3);
/// How long a read waits for one of a replica's connections to be free; past it the primary answers.
const BUSY_PATIENCE: Duration = Duration::from_millis(20);
/// How long a sample of the primary's position may take; past it the reads waiting go to the primary.
const SAMPLE_PATIENCE: Duration = Duration::from_secs(2);

pub(crate) struct Replicas {
    replicas: Vec<Replica>,
    /// Where the next read starts looking, so reads spread over the replicas.
    next: AtomicUsize,
    primary: Position,
}

struct Replica {
    pool: Pool,
    /// `host:port`, for the logs.
    name: String,
    /// Until when the replica is left alone; `None` while it answers.
    resting_until: Mutex<Option<Instant>>,
    /// Whether the missing privilege to read `pg_stat_wal_receiver` was logged already.
    told_unprivileged: AtomicBool,
}

impl Replicas {
    /// Pools for the replicas at `urls` and a sampler of the primary at `primary_url`; `None` without
    /// replicas. Connections to replicas are made when first needed, so a replica down at start only rests.
    pub(crate) async fn open(primary_url: &str, urls: &[String]) -> StoreResult<Option<Self>> {
        if urls.is_empty() {
            return Ok(None);
        }
        let primary = pool::pool(
            &pool::config(primary_url)?,
            1,
            RecyclingMethod::Fast,
            SAMPLE_PATIENCE,
        )?;
        let expected = Arc::new(identity(&primary.get().await.map_err(backend)?).await?);
        let replicas = urls
            .iter()
            .map(|url| {
                let config = pool::config(url)?;
                let expected = Arc::clone(&expected);
                let pool = pool::builder(
                    &config,
                    CONNECTIONS,
                    RecyclingMethod::Fast,
                    REPLICA_PATIENCE,
                )
                .post_create(deadpool_postgres::Hook::async_fn(move |client, _| {
                    let expected = Arc::clone(&expected);
                    Box::pin(async move { same_database(client, &expected).await })
                }))
                .build()
                .map_err(backend)?;
                Ok(Replica {
                    pool,
                    name: name_of(&config),
                    resting_until: Mutex::new(None),
                    told_unprivileged: AtomicBool::new(false),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(Replicas {
            replicas,
            next: AtomicUsize::new(0),
            primary: Position::start(primary),
        }))
    }

    /// A connection to a replica that has replayed everything the primary had flushed when this was
    /// called, or `None` when no replica has (the read then goes to the primary).
    pub(crate) async fn caught_up(&self) -> Option<Db> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let awake: Vec<&Replica> = (0..self.replicas.len())
            .map(|offset| &self.replicas[(start + offset) % self.replicas.len()])
            .filter(|replica| !replica.resting())
            .collect();
        if awake.is_empty() {
            return None;
        }
        let needed = self.primary.after_now().await?;
        for replica in awake {
            match tokio::time::timeout(REPLICA_PATIENCE, replica.replayed(needed)).await {
                Ok(Ok(Some(db))) => {
                    replica.answered();
                    return Some(db);
                }
                Ok(Ok(None)) => replica.answered(),
                Ok(Err(Refusal::Busy)) => {}
                Ok(Err(Refusal::Failed(error))) => replica.rest(&error),
                Err(_) => replica.rest(&Silent),
            }
        }
        None
    }

    /// Counts where a read was answered: by a replica, or by the primary.
    pub(crate) fn answered_by(&self, replica: bool) {
        let to = if replica { "replica" } else { "primary" };
        metrics::counter!("parley_store_routed_reads_total", "to" => to).increment(1);
    }

    /// A read on a replica failed: the caller reads from the primary instead.
    pub(crate) fn read_failed(&self, error: &StoreError) {
        metrics::counter!("parley_store_replica_read_failures_total").increment(1);
        tracing::warn!(
            error = error as &dyn std::error::Error,
            "a read on a replica failed; the primary answers it"
        );
    }
}

/// Why a replica could not be asked.
enum Refusal {
    /// Every connection to it is in use: the primary takes this read, and the replica is fine.
    Busy,
    Failed(StoreError),
}

impl Replica {
    /// A connection to this replica if it has replayed up to `needed` on the primary's timeline, still
    /// replaying (a promoted replica is no longer one) and streaming that timeline.
    async fn replayed(&self, needed: Needed) -> Result<Option<Db>, Refusal> {
        let timeouts = Timeouts {
            wait: Some(BUSY_PATIENCE),
            create: Some(REPLICA_PATIENCE),
            recycle: Some(REPLICA_PATIENCE),
        };
        let db = match self.pool.timeout_get(&timeouts).await {
            Ok(db) => db,
            Err(PoolError::Timeout(TimeoutType::Wait)) => return Err(Refusal::Busy),
            Err(error) => return Err(Refusal::Failed(backend(error))),
        };
        let found = row(
            &db,
            "SELECT pg_is_in_recovery() AND coalesce(pg_last_wal_replay_lsn() >= $1, false),
                    receiver.pid IS NOT NULL AND receiver.status IS NULL,
                    coalesce(receiver.status = 'streaming' AND receiver.received_tli = $2, false)
             FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS receiver ON true",
            &[&needed.position, &needed.timeline],
        )
        .await
        .map_err(Refusal::Failed)?
        .ok_or(Refusal::Failed(StoreError::NotFound("replay position")))?;
        let column = |index| get::<bool>(&found, index).map_err(Refusal::Failed);
        let (replayed, unprivileged, streaming) = (column(0)?, column(1)?, column(2)?);
        if unprivileged && !self.told_unprivileged.swap(true, Ordering::Relaxed) {
            tracing::error!(
                replica = %self.name,
                "the store's role cannot read pg_stat_wal_receiver on this replica, so it cannot tell \
                 which timeline it follows and takes no reads: grant it pg_read_all_stats"
            );
        }
        Ok((replayed && streaming).then_some(db))
    }

    /// Whether the replica rests. When its rest is over, the first caller tries it (and the others still
    /// leave it alone until that try answers).
    fn resting(&self) -> bool {
        let Ok(mut until) = self.resting_until.lock() else {
            return false;
        };
        match *until {
            Some(end) if Instant::now() < end => true,
            Some(_) => {
                *until = Some(Instant::now() + REST);
                false
            }
            None => false,
        }
    }

    /// The replica answered: it no longer rests.
    fn answered(&self) {
        if let Ok(mut until) = self.resting_until.lock() {
            *until = None;
        }
    }

    fn rest(&self, error: &(dyn std::error::Error + 'static)) {
        if let Ok(mut until) = self.resting_until.lock() {
            *until = Some(Instant::now() + REST);
        }
        tracing::warn!(
            replica = %self.name,
            error,
            "a read replica did not answer; it rests {REST:?} and the primary takes its reads"
        );
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no answer within {REPLICA_PATIENCE:?}")]
struct Silent;

/// Which database a connection reaches: its cluster's system identifier, the database, the schemas it
/// searches.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    system: i64,
    database: String,
    schemas: String,
}

const IDENTITY: &str =
    "SELECT system_identifier, current_database()::text, current_schemas(false)::text
                        FROM pg_control_system()";

async fn identity(db: &Db) -> StoreResult<Identity> {
    let found = row(db, IDENTITY, &[])
        .await?
        .ok_or(StoreError::NotFound("identity"))?;
    Ok(Identity {
        system: get(&found, 0)?,
        database: get(&found, 1)?,
        schemas: get(&found, 2)?,
    })
}

/// Refuses a new replica connection that does not reach a copy of the primary's database.
async fn same_database(client: &mut ClientWrapper, expected: &Identity) -> Result<(), HookError> {
    let found = client
        .query_one(IDENTITY, &[])
        .await
        .map_err(HookError::Backend)?;
    let identity = Identity {
        system: found.try_get(0).map_err(HookError::Backend)?,
        database: found.try_get(1).map_err(HookError::Backend)?,
        schemas: found.try_get(2).map_err(HookError::Backend)?,
    };
    if identity == *expected {
        return Ok(());
    }
    tracing::error!(
        ?expected, found = ?identity,
        "a read replica is not a copy of the store's database (another cluster, database or schema); it takes no reads"
    );
    Err(HookError::message("not a replica of the store's database"))
}

/// `host:port` of the first host `config` names.
fn name_of(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// Samples of the primary's WAL flush position, taken on demand by a task of their own: each read takes a
/// ticket, and the first sample whose query began after the ticket was taken answers it.
struct Position {
    tickets: Arc<AtomicU64>,
    wake: Arc<Notify>,
    samples: watch::Receiver<Sample>,
}

#[derive(Clone, Copy)]
struct Sample {
    /// The newest ticket taken before the query began.
    ticket: u64,
    /// `None` when the primary did not answer.
    position: Option<Needed>,
}

/// How far a replica must have replayed, and on which timeline.
#[derive(Clone, Copy)]
struct Needed {
    position: PgLsn,
    timeline: i32,
}

impl Position {
    /// Starts the sampler; it stops once this is dropped.
    fn start(primary: Pool) -> Position {
        let tickets = Arc::new(AtomicU64::new(0));
        let wake = Arc::new(Notify::new());
        let (publish, samples) = watch::channel(Sample {
            ticket: 0,
            position: None,
        });
        tokio::spawn(sample(
            primary,
            Arc::clone(&tickets),
            Arc::clone(&wake),
            publish,
        ));
        Position {
            tickets,
            wake,
            samples,
        }
    }

    /// The primary's flush position and timeline, read after this was called; `None` if the primary did
    /// not answer.
    async fn after_now(&self) -> Option<Needed> {
        let ticket = self.tickets.fetch_add(1, Ordering::AcqRel) + 1;
        let mut samples = self.samples.clone();
        self.wake.notify_one();
        let sample = samples.wait_for(|s| s.ticket >= ticket).await.ok()?;
        sample.position
    }
}

/// The sampler: whenever tickets wait, notes the newest, queries the primary and publishes the answer for
/// every ticket up to it.
async fn sample(
    primary: Pool,
    tickets: Arc<AtomicU64>,
    wake: Arc<Notify>,
    publish: watch::Sender<Sample>,
) {
    let mut answered = 0;
    loop {
        tokio::select! {
            () = publish.closed() => return,
            () = wake.notified() => {}
        }
        // Reads woken together take their tickets before this one is read, and share its sample.
        tokio::task::yield_now().await;
        loop {
            let ticket = tickets.load(Ordering::Acquire);
            if ticket <= answered {
                break;
            }
            let position = tokio::time::timeout(SAMPLE_PATIENCE, flushed(&primary))
                .await
                .ok()
                .and_then(Result::ok);
            answered = ticket;
            metrics::counter!("parley_store_position_samples_total").increment(1);
            publish.send_replace(Sample { ticket, position });
        }
    }
}

/// How far the primary's WAL is durable, on its current timeline: every commit acknowledged so far ends at
/// or before it. A session that acknowledges commits before flushing them (`synchronous_commit = off`)
/// answers how far it has inserted instead; it reads its own setting, which is the writer's, so every node
/// must have the same (operations.md).
async fn flushed(primary: &Pool) -> StoreResult<Needed> {
    let db = primary.get().await.map_err(backend)?;
    let found = row(
        &db,
        "SELECT lsn, ('x' || substr(pg_walfile_name(lsn), 1, 8))::bit(32)::int
         FROM (SELECT CASE WHEN current_setting('synchronous_commit') = 'off'
                           THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END
               AS lsn) AS here",
        &[],
    )
    .await?
    .ok_or(StoreError::NotFound("flush position"))?;
    Ok(Needed {
        position: get(&found, 0)?,
        timeline: get(&found, 1)?,
    })
}
