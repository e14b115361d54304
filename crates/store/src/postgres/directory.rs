//! `PgDirectory`: core's `Directory` in the first shard's database (`migrations/postgres/0010`), with what
//! this node has read of it cached. An organization stays on its shard until a move switches it
//! (`org_move.rs`), which announces the change on the channel `parley_directory`: every node listens, and
//! forgets what it cached of that organization. A node that lost its listening connection may have missed
//! announcements, so it forgets everything when it listens again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Pool, RecyclingMethod};
use parley_core::OrgId;
use parley_core::model::Millis;
use parley_core::store::{Change, Directory, ID_BASE, ID_STEP, ShardNumber, StoreResult};

use futures_util::StreamExt as _;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, Row};

use super::pool;

use super::sql::{Params, backend, get, row, rows, run};
use crate::deadline::within_limit;

/// Connections to the directory: lookups are point reads on primary keys.
const CONNECTIONS: usize = 4;

/// The most unsettled claims one call of `unsettled_claims` answers.
const UNSETTLED_AT_ONCE: i64 = 1_000;

/// The most organizations (by id, and by handle) a node remembers; past it, it starts over.
const CACHED_AT_MOST: usize = 100_000;

/// The channel on which a move announces an organization whose entry changed (its id, a space, its handle).
pub(crate) const CHANGES_CHANNEL: &str = "parley_directory";

/// How long the listener waits before listening again after its connection failed.
const LISTEN_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// Announcements a slow receiver of `changes` may fall behind by before it misses some.
const CHANGES_KEPT: usize = 1024;

pub struct PgDirectory {
    pool: Pool,
    /// Longest a lookup may take (the store's `store_timeout_millis`).
    limit: Duration,
    shards: ShardNumber,
    cached: Arc<Cached>,
    changes: broadcast::Sender<Change>,
    /// Listens for the changes; stopped with the directory.
    listener: tokio::task::JoinHandle<()>,
}

/// What this node has read of the directory.
#[derive(Default)]
struct Cached {
    by_id: Cache<OrgId>,
    by_handle: Cache<String>,
}

impl Cached {
    fn forget(&self, org: OrgId, handle: &str) {
        self.by_id.forget(&org);
        self.by_handle.forget(handle);
    }

    fn forget_all(&self) {
        self.by_id.clear();
        self.by_handle.clear();
    }
}

impl Drop for PgDirectory {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgDirectory {
    /// The directory in the database at `url`, the first shard's (open that shard's store first: it makes the
    /// tables), for `shards` shards, each lookup within `limit`. The first time, it enters the organizations and accounts that database
    /// held before it was a shard.
    pub async fn open(url: &str, shards: ShardNumber, limit: Duration) -> StoreResult<Self> {
        let config = pool::config(url)?;
        let pool = pool::pool(
            &config,
            CONNECTIONS,
            RecyclingMethod::Fast,
            Duration::from_secs(5),
        )?;
        let cached = Arc::new(Cached::default());
        let (changes, _) = broadcast::channel(CHANGES_KEPT);
        let listener = tokio::spawn(listen(config, Arc::clone(&cached), changes.clone()));
        let directory = PgDirectory {
            pool,
            limit,
            shards,
            cached,
            changes,
            listener,
        };
        directory.fill().await?;
        Ok(directory)
    }

    async fn fill(&self) -> StoreResult<()> {
        let mut db = self.pool.get().await.map_err(backend)?;
        let fill = db.transaction().await.map_err(backend)?;
        fill.batch_execute(
            "LOCK TABLE directory_filled IN EXCLUSIVE MODE;
             DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM directory_filled) THEN
                 INSERT INTO directory_orgs (handle, org_id, shard)
                   SELECT handle, id, 0 FROM orgs ON CONFLICT DO NOTHING;
                 INSERT INTO directory_emails (email, org_handle, bound, claimed_at)
                   SELECT u.email, o.handle, TRUE, 0 FROM users u JOIN orgs o ON o.id = u.org_id
                   ON CONFLICT DO NOTHING;
                 INSERT INTO directory_filled DEFAULT VALUES;
               END IF;
             END $$;",
        )
        .await
        .map_err(backend)?;
        fill.commit().await.map_err(backend)
    }

    /// One statement's row, if any, within the store's time limit.
    async fn row(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        within_limit(self.limit, async {
            let db = self.pool.get().await.map_err(backend)?;
            row(&db, sql, params).await
        })
        .await
    }

    /// One statement's rows, within the store's time limit.
    async fn rows(&self, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
        within_limit(self.limit, async {
            let db = self.pool.get().await.map_err(backend)?;
            rows(&db, sql, params).await
        })
        .await
    }

    /// One statement without rows, within the store's time limit.
    async fn run(&self, sql: &str, params: Params<'_>) -> StoreResult<u64> {
        within_limit(self.limit, async {
            let db = self.pool.get().await.map_err(backend)?;
            run(&db, sql, params).await
        })
        .await
    }

    /// The shard of organization `org` and whether a move holds it, if the directory has it. Cached only
    /// while not held: a held organization is read afresh each time, until it is released.
    async fn placed(&self, org: OrgId) -> StoreResult<Option<(Option<ShardNumber>, bool)>> {
        let generation = match self.cached.by_id.get(&org) {
            Ok(shard) => return Ok(Some((Some(shard), false))),
            Err(generation) => generation,
        };
        let found = self
            .row(
                "SELECT shard,
                        coalesce(held_until > (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT, FALSE)
                 FROM directory_orgs WHERE org_id = $1",
                &[&org.0],
            )
            .await?;
        let Some(found) = found else {
            return Ok(None);
        };
        let shard = self.known(get(&found, 0)?);
        let held: bool = get(&found, 1)?;
        if let Some(shard) = shard
            && !held
        {
            self.cached.by_id.put(org, shard, generation);
        }
        Ok(Some((shard, held)))
    }

    /// A shard number read from the directory, if this configuration has that shard.
    fn known(&self, shard: i32) -> Option<ShardNumber> {
        ShardNumber::try_from(shard)
            .ok()
            .filter(|shard| *shard < self.shards)
    }
}

#[async_trait]
impl Directory for PgDirectory {
    fn shards(&self) -> ShardNumber {
        self.shards
    }

    async fn shard_of_org(&self, org: OrgId) -> StoreResult<Option<ShardNumber>> {
        Ok(self.placement(org).await?.0)
    }

    async fn placement(&self, org: OrgId) -> StoreResult<(Option<ShardNumber>, bool)> {
        match self.placed(org).await? {
            Some(placed) => Ok(placed),
            // Made on a shard whose sign-up did not record it (it failed to): an id made on a shard says
            // which (`shard_ids.rs`). Not cached, as anyone can name any id.
            None if org.0 >= ID_BASE => Ok((
                ShardNumber::try_from(org.0.rem_euclid(ID_STEP))
                    .ok()
                    .filter(|shard| *shard < self.shards),
                false,
            )),
            None => Ok((None, false)),
        }
    }

    fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    async fn shard_of_handle(&self, handle: &str) -> StoreResult<Option<ShardNumber>> {
        let generation = match self.cached.by_handle.get(handle) {
            Ok(shard) => return Ok(Some(shard)),
            Err(generation) => generation,
        };
        let found = self
            .row(
                "SELECT shard FROM directory_orgs WHERE handle = $1",
                &[&handle],
            )
            .await?;
        let shard = match found {
            Some(found) => self.known(get(&found, 0)?),
            None => None,
        };
        if let Some(shard) = shard {
            self.cached
                .by_handle
                .put(handle.to_owned(), shard, generation);
        }
        Ok(shard)
    }

    async fn emptiest(&self) -> StoreResult<ShardNumber> {
        let shards = i32::from(self.shards);
        let found = self.row(
            "SELECT n FROM generate_series(0, $1 - 1) AS n
             ORDER BY (SELECT count(*) FROM directory_orgs d WHERE d.shard = n AND d.org_id IS NOT NULL), n
             LIMIT 1",
            &[&shards],
        )
        .await?;
        Ok(found
            .map(|found| get::<i32>(&found, 0))
            .transpose()?
            .and_then(|shard| self.known(shard))
            .unwrap_or(0))
    }

    async fn place(&self, handle: &str, shard: ShardNumber) -> StoreResult<ShardNumber> {
        if let Some(placed) = self.shard_of_handle(handle).await? {
            return Ok(placed);
        }
        let generation = match self.cached.by_handle.get(handle) {
            Ok(placed) => return Ok(placed),
            Err(generation) => generation,
        };
        // Unless another node placed this handle first.
        let placed = self
            .row(
                "INSERT INTO directory_orgs (handle, shard) VALUES ($1, $2)
             ON CONFLICT (handle) DO UPDATE SET shard = directory_orgs.shard
             RETURNING shard",
                &[&handle, &i32::from(shard)],
            )
            .await?;
        let shard = placed
            .map(|placed| get::<i32>(&placed, 0))
            .transpose()?
            .and_then(|shard| self.known(shard))
            .ok_or_else(|| backend(UnknownShard(handle.to_owned())))?;
        self.cached
            .by_handle
            .put(handle.to_owned(), shard, generation);
        Ok(shard)
    }

    async fn shard_of_email(&self, email: &str) -> StoreResult<Option<ShardNumber>> {
        let found = self.row(
            "SELECT o.shard FROM directory_emails e JOIN directory_orgs o ON o.handle = e.org_handle
             WHERE e.email = $1 AND e.bound",
            &[&email],
        )
        .await?;
        Ok(match found {
            Some(found) => self.known(get(&found, 0)?),
            None => None,
        })
    }

    async fn claim_email(&self, email: &str, handle: &str, now: Millis) -> StoreResult<bool> {
        let claimed = self.row(
            "INSERT INTO directory_emails (email, org_handle, bound, claimed_at) VALUES ($1, $2, FALSE, $3)
             ON CONFLICT (email) DO NOTHING
             RETURNING 1",
            &[&email, &handle, &now.0],
        )
        .await?;
        Ok(claimed.is_some())
    }

    async fn release_email(&self, email: &str) -> StoreResult<()> {
        self.run(
            "DELETE FROM directory_emails WHERE email = $1 AND NOT bound",
            &[&email],
        )
        .await?;
        Ok(())
    }

    async fn bind(&self, email: &str, handle: &str, org: OrgId) -> StoreResult<()> {
        self.run(
            "WITH org AS (
               UPDATE directory_orgs SET org_id = $3 WHERE handle = $2 AND org_id IS NULL
             )
             UPDATE directory_emails SET bound = TRUE WHERE email = $1",
            &[&email, &handle, &org.0],
        )
        .await?;
        Ok(())
    }

    async fn unsettled_claims(
        &self,
        shard: ShardNumber,
        before: Millis,
    ) -> StoreResult<Vec<(String, String)>> {
        let found = self
            .rows(
                "SELECT e.email, e.org_handle FROM directory_emails e
             JOIN directory_orgs o ON o.handle = e.org_handle
             WHERE NOT e.bound AND e.claimed_at < $1 AND o.shard = $2
             LIMIT $3",
                &[&before.0, &i32::from(shard), &UNSETTLED_AT_ONCE],
            )
            .await?;
        found
            .iter()
            .map(|claim| Ok((get(claim, 0)?, get(claim, 1)?)))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the directory placed organization {0:?} on no shard this node knows")]
struct UnknownShard(String);

/// What a node remembers of the directory, up to `CACHED_AT_MOST` entries. Its generation counts what it
/// forgot: a lookup notes it before reading the directory and keeps what it read only if nothing was
/// forgotten meanwhile, so an answer read before an announcement is never kept after it.
struct Cache<K>(Mutex<Entries<K>>);

struct Entries<K> {
    map: HashMap<K, ShardNumber>,
    generation: u64,
}

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Cache(Mutex::new(Entries {
            map: HashMap::new(),
            generation: 0,
        }))
    }
}

impl<K: std::hash::Hash + Eq> Cache<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached shard of `key`, or the generation to hand `put` after reading it from the directory.
    fn get<Q>(&self, key: &Q) -> Result<ShardNumber, u64>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let entries = self.lock();
        entries.map.get(key).copied().ok_or(entries.generation)
    }

    fn forget<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let mut entries = self.lock();
        entries.map.remove(key);
        entries.generation += 1;
    }

    fn clear(&self) {
        let mut entries = self.lock();
        entries.map.clear();
        entries.generation += 1;
    }

    /// Keeps `shard` for `key`, read from the directory after `get` answered `generation`, unless something
    /// was forgotten since.
    fn put(&self, key: K, shard: ShardNumber, generation: u64) {
        let mut entries = self.lock();
        if entries.generation != generation {
            return;
        }
        if entries.map.len() >= CACHED_AT_MOST {
            entries.map.clear();
        }
        entries.map.insert(key, shard);
    }
}

/// Listens for announced changes (`CHANGES_CHANNEL`) on a connection of its own, for as long as the
/// directory lives: forgets what is cached of each organization announced, then passes its id on. Each time
/// it starts listening (again) it forgets everything first, as it may have missed announcements.
async fn listen(
    config: tokio_postgres::Config,
    cached: Arc<Cached>,
    changes: broadcast::Sender<Change>,
) {
    loop {
        if let Err(error) = listen_once(&config, &cached, &changes).await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "lost the directory's announcements: listening again"
            );
        }
        tokio::time::sleep(LISTEN_AGAIN_AFTER).await;
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    cached: &Cached,
    changes: &broadcast::Sender<Change>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (heard, mut announced) = mpsc::unbounded_channel();
    // The connection is driven here, on this task: its announcements come out of `poll_message`.
    let driver = async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if heard.send(note.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    };
    let listening = async {
        client
            .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
            .await?;
        cached.forget_all();
        let _ = changes.send(Change::Any);
        while let Some(payload) = announced.recv().await {
            let (org, handle) = payload.split_once(' ').unwrap_or((&payload, ""));
            let Ok(org) = org.parse().map(OrgId) else {
                continue;
            };
            cached.forget(org, handle);
            let _ = changes.send(Change::Org(org));
        }
        Ok(())
    };
    tokio::select! {
        ended = driver => ended,
        ended = listening => ended,
    }
}
