//! The connection pool and the writer: one task per node that runs queued writes in batches, one
//! transaction and one commit per batch (group commit), and takes turns with the other nodes' writers.
//!
//! **Why turns.** Clients resume from a cursor, so a cursor must never be passed by an event that commits
//! later with a smaller one, and the bus must carry events in cursor order. Each writer therefore holds a
//! PostgreSQL advisory lock (the *turn*) from before its transaction begins until its events have been handed
//! to the bus: ids taken from the sequences inside a turn grow in commit order across every node, and each
//! commit reaches the broker before the next one anywhere. A node killed between its commit and its publish
//! loses the turn with its connection; the next writer finds the log ahead of the `published` row and
//! publishes those events again before its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Pool, RecyclingMethod};
use futures_util::future::BoxFuture;
use parley_core::model::{Event, EventKind};
use parley_core::store::{Commit, CommitFeed, Queued, Sent, StoreError, StoreResult};
use parley_core::{ConversationId, Cursor};
use tokio::sync::{mpsc, oneshot};

use super::batch::{Isolation, Pending, PlainSend, Write, run_all};
use super::pool;
use super::search_index::{self, Wake};
use super::shard_ids::made_here;
use super::sql::{backend, row, run};
use super::{events, messages, shard_ids};
use crate::announces::Announces;
use crate::inputs::NewMessage;

/// A pooled connection.
pub(crate) type Db = deadpool_postgres::Client;

/// Writes per transaction at most.
const MAX_BATCH: usize = 512;
/// Read connections per node. The writer has a connection of its own, so reads (a reconnect storm's
/// replays) can never make writes wait for a connection.
const READERS: usize = 15;
/// How long a session holding the turn may sit idle, in or out of a transaction, before PostgreSQL ends it
/// and so frees the turn. A healthy writer is never idle that long while it holds it (it waits at most
/// `PUBLISH_PATIENCE` for the bus); a frozen or cut-off node would otherwise stall every node's writes until
/// TCP noticed, which can take hours.
const TURN_IDLE_LIMIT: &str = "15s";
/// How long making a connection to the primary may take.
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);
/// How long a turn waits for the relay to hand its events to the bus. Past it the turn ends anyway: the
/// bus is at most once, and the events are in the log for whoever catches up.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(2);

/// Migrations in order; `schema_migrations` records which have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_invites_and_session_expiry.sql"),
    include_str!("../../migrations/postgres/0003_edits_threads_mentions_pins.sql"),
    include_str!("../../migrations/postgres/0004_files.sql"),
    include_str!("../../migrations/postgres/0005_notifications.sql"),
    include_str!("../../migrations/postgres/0006_administration.sql"),
    include_str!("../../migrations/postgres/0007_retention.sql"),
    include_str!("../../migrations/postgres/0008_single_sign_on.sql"),
    include_str!("../../migrations/postgres/0009_search_out_of_the_turn.sql"),
    include_str!("../../migrations/postgres/0010_shard_directory.sql"),
    include_str!("../../migrations/postgres/0011_org_moves.sql"),
];

#[derive(Debug, thiserror::Error)]
#[error("the store's writer has stopped")]
struct WriterGone;

pub(crate) struct Connections {
    pool: Pool,
    jobs: mpsc::UnboundedSender<Box<dyn Pending>>,
    commit_feed: Mutex<Option<CommitFeed>>,
    /// Whether someone took the feed: until then no turn waits for a publish that nobody will make.
    feed_taken: Arc<AtomicBool>,
}

impl Connections {
    /// Connects to `url`, brings the schema up to date and starts the writer.
    pub(crate) async fn open(url: &str, shard: Option<i64>) -> StoreResult<Arc<Self>> {
        let config = pool::config(url)?;
        let pool = pool::pool(&config, READERS, RecyclingMethod::Fast, CONNECT_PATIENCE)?;
        // Checked with a query before each turn: the server may have ended an idle writer session
        // (`TURN_IDLE_LIMIT`), and a turn must not start on a dead connection.
        let writer_pool = pool::pool(&config, 1, RecyclingMethod::Verified, CONNECT_PATIENCE)?;
        let db = pool.get().await.map_err(backend)?;
        let turn_key = turn_key(&db).await?;
        migrate(&db, turn_key, shard).await?;
        drop(db);
        let (jobs, queue) = mpsc::unbounded_channel();
        let (committed, commit_feed) = mpsc::unbounded_channel();
        let feed_taken = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            pool: writer_pool,
            turn_key,
            feed: committed,
            feed_taken: Arc::clone(&feed_taken),
            search_index: search_index::start(pool.clone(), shard),
            newest_here: format!(
                "SELECT (SELECT cursor FROM published),
                        (SELECT coalesce(max(cursor), 0) FROM events WHERE {})",
                made_here("cursor", shard)
            ),
            shard,
        };
        tokio::spawn(writer.run(queue));
        Ok(Arc::new(Connections {
            pool,
            jobs,
            commit_feed: Mutex::new(Some(commit_feed)),
            feed_taken,
        }))
    }

    /// Runs `work` in the next write batch and answers once that batch is durable. If `work` fails, none of
    /// its changes are committed and the rest of the batch commits; a refusal must therefore come before
    /// `work` changes anything (`spoils_the_batch`). `work` may run twice, so it must depend only on what it
    /// captured and the database.
    pub(crate) async fn write<T: Announces + Send + Sync + 'static>(
        &self,
        work: impl for<'c> Fn(&'c Db) -> BoxFuture<'c, StoreResult<T>> + Send + Sync + 'static,
    ) -> StoreResult<T> {
        self.queue(None, work).await
    }

    /// Like `write`, but the write is queued now, when this is called, and the future answers once it is
    /// durable. A write that stores a message of `conversation` is stored after every one queued before it
    /// for the same conversation (`run_all`).
    pub(crate) fn queue<T: Announces + Send + Sync + 'static>(
        &self,
        conversation: Option<ConversationId>,
        work: impl for<'c> Fn(&'c Db) -> BoxFuture<'c, StoreResult<T>> + Send + Sync + 'static,
    ) -> Queued<T> {
        let (done, answer) = oneshot::channel::<StoreResult<T>>();
        self.enqueue(
            Box::new(Write::new(Box::new(work), conversation, done)),
            answer,
        )
    }

    /// Queues a send with nothing but text (`NewMessage::extras` is `None`), as `queue` would a write
    /// that stores it: such sends share a statement (`batch::run_all`).
    pub(crate) fn queue_plain_send(&self, new: NewMessage) -> Queued<Sent> {
        let (done, answer) = oneshot::channel::<StoreResult<Sent>>();
        self.enqueue(Box::new(PlainSend::new(new, done)), answer)
    }

    fn enqueue<T: Send + 'static>(
        &self,
        write: Box<dyn Pending>,
        answer: oneshot::Receiver<StoreResult<T>>,
    ) -> Queued<T> {
        let queued = self.jobs.send(write);
        Box::pin(async move {
            queued.map_err(|_| backend(WriterGone))?;
            answer.await.map_err(|_| backend(WriterGone))?
        })
    }

    /// A connection for reads.
    pub(crate) async fn read(&self) -> StoreResult<Db> {
        self.pool.get().await.map_err(backend)
    }

    pub(crate) fn take_commit_feed(&self) -> Option<CommitFeed> {
        let feed = self.commit_feed.lock().ok()?.take();
        if feed.is_some() {
            self.feed_taken.store(true, Ordering::Release);
        }
        feed
    }
}

/// The turn's lock key: one per database and schema, so stores in other schemas (tests) never wait on it.
async fn turn_key(db: &Db) -> StoreResult<i64> {
    let found = row(
        db,
        "SELECT hashtextextended('parley turn ' || current_database() || '.' || current_schema(), 0)",
        &[],
    )
    .await?
    .ok_or(StoreError::NotFound("schema"))?;
    found.try_get(0).map_err(backend)
}

/// Applies the migrations not yet applied, holding the turn so nodes starting together migrate once.
async fn migrate(db: &Db, turn_key: i64, shard: Option<i64>) -> StoreResult<()> {
    run(db, "SELECT pg_advisory_lock($1)", &[&turn_key]).await?;
    let mut migrated = apply_migrations(db).await;
    if let (Ok(()), Some(number)) = (&migrated, shard) {
        migrated = shard_ids::lay_out(db, number).await;
    }
    let unlocked = run(db, "SELECT pg_advisory_unlock($1)", &[&turn_key]).await;
    migrated.and(unlocked.map(|_| ()))
}

async fn apply_migrations(db: &Db) -> StoreResult<()> {
    db.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
        .await
        .map_err(backend)?;
    let applied: i32 = row(
        db,
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        &[],
    )
    .await?
    .map_or(Ok(0), |r| r.try_get(0))
    .map_err(backend)?;
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        db.batch_execute(&format!(
            "BEGIN; {sql}\nINSERT INTO schema_migrations (version) VALUES ({version}); COMMIT;"
        ))
        .await
        .map_err(backend)?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(())
}

struct Writer {
    pool: Pool,
    turn_key: i64,
    feed: mpsc::UnboundedSender<Commit>,
    feed_taken: Arc<AtomicBool>,
    /// This node's text-search indexer, woken after each commit that stored a message.
    search_index: Wake,
    /// Reads the `published` row and the newest cursor taken on this shard: events a move copied in were
    /// published by the shard that took them.
    newest_here: String,
    shard: Option<i64>,
}

impl Writer {
    /// Takes every queued write (up to `MAX_BATCH`), commits them in one turn, then answers each. Ends when
    /// every sender is gone, after finishing what was queued.
    async fn run(self, mut queue: mpsc::UnboundedReceiver<Box<dyn Pending>>) {
        let mut batch: Vec<Box<dyn Pending>> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = queue.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(write) => batch.push(write),
                    Err(_) => break,
                }
            }
            metrics::histogram!("parley_store_batch_writes").record(batch.len() as f64);
            let started = std::time::Instant::now();
            self.turn(&mut batch).await;
            metrics::histogram!("parley_store_batch_seconds")
                .record(started.elapsed().as_secs_f64());
        }
    }

    /// One turn: take the lock, publish what a dead writer left unpublished, commit the batch, answer its
    /// callers, hand its events to the bus, give the lock back. Callers are answered before the publish: a
    /// committed write stands, and should this node die before publishing, the next turn anywhere publishes
    /// it.
    async fn turn(&self, batch: &mut Vec<Box<dyn Pending>>) {
        let result = match self.pool.get().await {
            Ok(db) => self.take_turn(&db, batch).await,
            Err(error) => Err(backend(error)),
        };
        if let Err(error) = &result {
            tracing::error!(
                error = error as &dyn std::error::Error,
                "write batch failed"
            );
            let failure = error.to_string();
            for write in batch.drain(..) {
                write.complete(Err(&failure));
            }
        }
    }

    async fn take_turn(&self, db: &Db, batch: &mut Vec<Box<dyn Pending>>) -> StoreResult<()> {
        // The key is our own number, so it can be written into the statement: one round trip.
        db.batch_execute(&format!(
            "SET idle_session_timeout = '{TURN_IDLE_LIMIT}';
             SET idle_in_transaction_session_timeout = '{TURN_IDLE_LIMIT}';
             SELECT pg_advisory_lock({})",
            self.turn_key
        ))
        .await
        .map_err(backend)?;
        let result = self.in_turn(db, batch).await;
        let unlock = format!("SELECT pg_advisory_unlock({})", self.turn_key);
        let finish = match &result {
            // The bus has the batch: record it and give the turn back in one round trip. Not waiting for the
            // record to be durable is safe: if it is lost, the next turn publishes those events again, and
            // inboxes drop copies by cursor.
            Ok(Some(published)) => format!(
                "BEGIN; SET LOCAL synchronous_commit = off;
                 UPDATE published SET cursor = {}; COMMIT; {unlock}",
                published.0
            ),
            Ok(None) => unlock,
            // Leave no transaction open on a connection that goes back to the pool.
            Err(_) => format!("ROLLBACK; {unlock}"),
        };
        // If the connection broke, the server has ended the session and its lock with it.
        let ended = db.batch_execute(&finish).await.map_err(backend);
        result.and(ended)
    }

    /// Answers the newest cursor it handed to the bus, for the `published` row.
    async fn in_turn(
        &self,
        db: &Db,
        batch: &mut Vec<Box<dyn Pending>>,
    ) -> StoreResult<Option<Cursor>> {
        let state = row(db, &self.newest_here, &[])
            .await?
            .ok_or(StoreError::NotFound("published"))?;
        let published = Cursor(state.try_get(0).map_err(backend)?);
        let newest = Cursor(state.try_get(1).map_err(backend)?);
        if published < newest {
            let missed = events::range(db, published, newest, self.shard).await?;
            tracing::warn!(
                %published, %newest,
                "the log is ahead of the bus (a writer died between commit and publish): publishing again"
            );
            self.publish(published, missed).await;
            run(db, "UPDATE published SET cursor = $1", &[&newest.0]).await?;
        }

        db.batch_execute("BEGIN").await.map_err(backend)?;
        if !run_all(db, batch, Isolation::Shared).await {
            metrics::counter!("parley_store_batch_reruns_total").increment(1);
            db.batch_execute("ROLLBACK; BEGIN").await.map_err(backend)?;
            run_all(db, batch, Isolation::Savepoint).await;
        }
        let mut committed: Vec<Event> = batch.iter().flat_map(|w| w.announced()).collect();
        committed.sort_by_key(|e| e.cursor);
        messages::touch_conversations(db, &committed).await?;
        db.batch_execute("COMMIT").await.map_err(backend)?;

        for write in batch.drain(..) {
            write.complete(Ok(()));
        }
        if committed
            .iter()
            .any(|e| matches!(e.kind, EventKind::MessageCreated(_)))
        {
            self.search_index.wake();
        }
        let last = committed.last().map(|e| e.cursor);
        if last.is_some() {
            self.publish(newest, committed).await;
        }
        Ok(last)
    }

    /// Hands events to the relay and, if anyone relays, waits until they are on the bus.
    async fn publish(&self, after: Cursor, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let relayed = self.feed_taken.load(Ordering::Acquire);
        let (published, answer) = oneshot::channel();
        let commit = Commit {
            after,
            events,
            published: relayed.then_some(published),
        };
        if self.feed.send(commit).is_err() || !relayed {
            return;
        }
        if tokio::time::timeout(PUBLISH_PATIENCE, answer)
            .await
            .is_err()
        {
            tracing::warn!("the bus took too long; the turn moves on");
        }
    }
}
