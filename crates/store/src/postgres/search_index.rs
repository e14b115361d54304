//! The text-search indexer: one task per node that adds the messages committed since it last ran to
//! `message_search`, outside the cluster-wide turn (`migrations/postgres/0009_search_out_of_the_turn.sql`).
//!
//! It runs when the node starts and whenever the writer wakes it after a commit that stored a message: it
//! waits `GATHER` for more to come, then indexes `STEP` messages a transaction until it is level. The nodes
//! share the work through the one `search_indexed` row: a step that finds another node's indexer holding it
//! waits `GATHER` and looks again, since that one may stop short of this node's newest messages. A step
//! waits for no lock for long (`LOCK_PATIENCE`): an edit in the turn that waits for the step's entry while
//! the step waits for the turn's transaction would otherwise hold every node's writes until PostgreSQL
//! found the deadlock. A search never waits for any of this: it reads the messages above the mark from their
//! rows (`messages::search`). The writer owns the task: it ends once the writer has ended and dropped its
//! `Wake`.

use std::time::Duration;

use deadpool_postgres::Pool;
use parley_core::store::StoreResult;
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;

use super::shard_ids::made_here;
use super::sql::{backend, get};

/// How long the indexer lets commits gather after it is woken: one statement then indexes all of them.
const GATHER: Duration = Duration::from_millis(250);
/// Messages indexed per transaction at most, so that a long backlog (a node that was down) is taken in
/// short transactions: an edit or an erase of a message in a step waits for that step.
const STEP: i64 = 500;
/// Longest a step waits for a lock (the mark's row aside, which it skips when taken); past it the step is
/// undone and tried again `GATHER` later.
const LOCK_PATIENCE: &str = "50ms";
/// Longest pause between tries after a failure.
const MOST_PATIENCE: Duration = Duration::from_secs(30);

/// Wakes the indexer; dropping it stops the indexer.
pub(crate) struct Wake(mpsc::Sender<()>);

impl Wake {
    /// Asks for a run soon; a wake while one is already asked for adds nothing.
    pub(crate) fn wake(&self) {
        let _ = self.0.try_send(());
    }
}

/// Starts this node's indexer on connections from `pool`; it indexes what a node that stopped left behind
/// at once.
pub(crate) fn start(pool: Pool, shard: Option<i64>) -> Wake {
    let (wake, mut woken) = mpsc::channel(1);
    let step_sql = step_sql(shard);
    let _ = wake.try_send(());
    tokio::spawn(async move {
        while woken.recv().await.is_some() {
            tokio::time::sleep(GATHER).await;
            let mut pause = GATHER;
            while let Err(error) = catch_up(&pool, &woken, &step_sql).await {
                // The messages stay searchable from their rows meanwhile.
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "the search indexer failed; it tries again"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MOST_PATIENCE);
            }
        }
    });
    Wake(wake)
}

/// Indexes until the mark reaches the newest committed message, or the writer has stopped.
async fn catch_up(pool: &Pool, woken: &mpsc::Receiver<()>, step_sql: &str) -> StoreResult<()> {
    let mut db = pool.get().await.map_err(backend)?;
    while !woken.is_closed() {
        match index_step(&mut db, step_sql).await? {
            Step::Indexed(count) if count < STEP => return Ok(()),
            Step::Indexed(_) => {}
            Step::Busy => tokio::time::sleep(GATHER).await,
        }
    }
    Ok(())
}

enum Step {
    /// This many messages above the mark were taken (those with text entered), and the mark moved past them.
    Indexed(i64),
    /// Another node's indexer holds the mark, or a lock the step needed was held too long (see the module
    /// doc), or a message it was entering was deleted meanwhile: nothing was done.
    Busy,
}

/// One transaction: takes the mark, enters the next `STEP` messages above it and moves it. An entry already
/// there was written when its message's text changed, with newer text than this step may have read, and
/// is kept. Its commit need not wait for the disk: a step lost in a crash loses its entries and the mark's
/// move together, and the next step does them again.
async fn index_step(db: &mut deadpool_postgres::Client, step_sql: &str) -> StoreResult<Step> {
    let step = db.transaction().await.map_err(backend)?;
    step.batch_execute(&format!(
        "SET LOCAL lock_timeout = '{LOCK_PATIENCE}'; SET LOCAL synchronous_commit = off"
    ))
    .await
    .map_err(backend)?;
    let found = step.query_one(step_sql, &[&STEP]).await;
    let found = match found {
        Ok(found) => found,
        Err(error) if gave_way(&error) => return Ok(Step::Busy),
        Err(error) => return Err(backend(error)),
    };
    step.commit().await.map_err(backend)?;
    if !get::<bool>(&found, 0)? {
        return Ok(Step::Busy);
    }
    Ok(Step::Indexed(get(&found, 1)?))
}

/// One step's statement: the messages of this shard's (`made_here`: those a move copied in came with their
/// entries, or get them at the switch) above the mark.
fn step_sql(shard: Option<i64>) -> String {
    format!(
        "WITH mark AS (
             SELECT message_id FROM search_indexed FOR UPDATE SKIP LOCKED
         ), todo AS (
             SELECT m.id, m.text FROM mark, messages m WHERE m.id > mark.message_id AND {}
             ORDER BY m.id LIMIT $1
         ), entered AS (
             INSERT INTO message_search (message_id, search)
             SELECT id, to_tsvector('simple', text) FROM todo WHERE text IS NOT NULL
             ON CONFLICT (message_id) DO NOTHING
         ), moved AS (
             UPDATE search_indexed SET message_id = (SELECT max(id) FROM todo)
             WHERE EXISTS (SELECT 1 FROM todo)
         )
         SELECT EXISTS (SELECT 1 FROM mark), (SELECT count(*) FROM todo)",
        made_here("m.id", shard)
    )
}

/// Whether a step failed only because it met a write under way: a lock held past `LOCK_PATIENCE`, a
/// deadlock, or a message deleted after the step read it (its entry's foreign key).
fn gave_way(error: &tokio_postgres::Error) -> bool {
    [
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::FOREIGN_KEY_VIOLATION,
    ]
    .iter()
    .any(|state| error.code() == Some(state))
        || super::org_move::frozen(error)
}
