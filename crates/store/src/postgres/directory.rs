//! `PgDirectory`: core's `Directory` in the first shard's database (`migrations/postgres/0010`), with what
//! this node has read of it cached. An organization stays on the shard it was placed on, so a cached shard
//! stays right.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Pool, RecyclingMethod};
use parley_core::OrgId;
use parley_core::model::Millis;
use parley_core::store::{Directory, ID_BASE, ID_STEP, ShardNumber, StoreResult};

use super::pool;
use tokio_postgres::Row;

use super::sql::{Params, backend, get, row, rows, run};
use crate::deadline::within_limit;

/// Connections to the directory: lookups are point reads on primary keys.
const CONNECTIONS: usize = 4;

/// The most unsettled claims one call of `unsettled_claims` answers.
const UNSETTLED_AT_ONCE: i64 = 1_000;

/// The most organizations (by id, and by handle) a node remembers; past it, it starts over.
const CACHED_AT_MOST: usize = 100_000;

pub struct PgDirectory {
    pool: Pool,
    /// Longest a lookup may take (the store's `store_timeout_millis`).
    limit: Duration,
    shards: ShardNumber,
    by_id: Cache<OrgId>,
    by_handle: Cache<String>,
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
        let directory = PgDirectory {
            pool,
            limit,
            shards,
            by_id: Cache::default(),
            by_handle: Cache::default(),
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
        if let Some(shard) = self.by_id.get(&org) {
            return Ok(Some(shard));
        }
        let found = self
            .row(
                "SELECT shard FROM directory_orgs WHERE org_id = $1",
                &[&org.0],
            )
            .await?;
        match found {
            Some(found) => {
                let shard = self.known(get(&found, 0)?);
                if let Some(shard) = shard {
                    self.by_id.put(org, shard);
                }
                Ok(shard)
            }
            // Made on a shard whose sign-up did not record it (it failed to): an id made on a shard says
            // which (`shard_ids.rs`). Not cached, as anyone can name any id.
            None if org.0 >= ID_BASE => Ok(ShardNumber::try_from(org.0.rem_euclid(ID_STEP))
                .ok()
                .filter(|shard| *shard < self.shards)),
            None => Ok(None),
        }
    }

    async fn shard_of_handle(&self, handle: &str) -> StoreResult<Option<ShardNumber>> {
        if let Some(shard) = self.by_handle.get(handle) {
            return Ok(Some(shard));
        }
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
            self.by_handle.put(handle.to_owned(), shard);
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
        self.by_handle.put(handle.to_owned(), shard);
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

/// What a node remembers of the directory, up to `CACHED_AT_MOST` entries.
struct Cache<K>(Mutex<HashMap<K, ShardNumber>>);

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Cache(Mutex::new(HashMap::new()))
    }
}

impl<K: std::hash::Hash + Eq> Cache<K> {
    fn get<Q>(&self, key: &Q) -> Option<ShardNumber>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(key).copied()
    }

    fn put(&self, key: K, shard: ShardNumber) {
        let mut cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHED_AT_MOST {
            cache.clear();
        }
        cache.insert(key, shard);
    }
}
