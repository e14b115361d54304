//! The text-search indexer: one task per node that adds the messages committed since it last ran to
//! `message_search`, outside the cluster-wide turn (`migrations/postgres/0009_search_out_of_the_turn.sql`).
//!
//! The writer wakes it after each commit that stored a message; it waits `GATHER` for more to come, then
//! indexes `STEP` messages a statement until it is level. The nodes share the work through the one
//! `search_indexed` row: a statement that finds another node's indexer holding it waits `GATHER` and looks
//! again, since that one may stop short of this node's newest messages. A search never waits for any of
//! this: it reads the messages above the mark from their rows (`messages::search`). The writer owns the
//! task: it ends once the writer has ended and dropped its `Wake`.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::mpsc;

use super::sql::{backend, get, row};
use parley_core::store::StoreResult;

/// How long the indexer lets commits gather after it is woken: one statement then indexes all of them.
const GATHER: Duration = Duration::from_millis(250);
/// Messages indexed per statement at most, so that a long backlog (a node that was down) is taken in short
/// transactions: an edit or an erase of a message in a statement's step waits for that statement.
const STEP: i64 = 1_000;

/// Wakes the indexer; dropping it stops the indexer.
pub(crate) struct Wake(mpsc::Sender<()>);

impl Wake {
    /// Asks for a run soon; a wake while one is already asked for adds nothing.
    pub(crate) fn wake(&self) {
        let _ = self.0.try_send(());
    }
}

/// Starts this node's indexer on connections from `pool`.
pub(crate) fn start(pool: Pool) -> Wake {
    let (wake, mut woken) = mpsc::channel(1);
    tokio::spawn(async move {
        while woken.recv().await.is_some() {
            tokio::time::sleep(GATHER).await;
            if let Err(error) = catch_up(&pool, &woken).await {
                // The messages stay searchable from their rows; the next wake tries again.
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "the search indexer failed"
                );
            }
        }
    });
    Wake(wake)
}

/// Indexes until the mark reaches the newest committed message, or the writer has stopped.
async fn catch_up(pool: &Pool, woken: &mpsc::Receiver<()>) -> StoreResult<()> {
    let db = pool.get().await.map_err(backend)?;
    while !woken.is_closed() {
        match index_step(&db).await? {
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
    /// Another node's indexer holds the mark.
    Busy,
}

/// One statement, one transaction: takes the mark, enters the next `STEP` messages above it and moves it.
/// An entry already there was written by an edit or an erase, with newer text than this statement may
/// have read, and is kept.
async fn index_step(db: &impl GenericClient) -> StoreResult<Step> {
    let found = row(
        db,
        "WITH mark AS (
             SELECT message_id FROM search_indexed FOR UPDATE SKIP LOCKED
         ), todo AS (
             SELECT m.id, m.text FROM mark, messages m WHERE m.id > mark.message_id ORDER BY m.id LIMIT $1
         ), entered AS (
             INSERT INTO message_search (message_id, search)
             SELECT id, to_tsvector('simple', text) FROM todo WHERE text IS NOT NULL
             ON CONFLICT (message_id) DO NOTHING
         ), moved AS (
             UPDATE search_indexed SET message_id = (SELECT max(id) FROM todo) WHERE EXISTS (SELECT 1 FROM todo)
         )
         SELECT EXISTS (SELECT 1 FROM mark), (SELECT count(*) FROM todo)",
        &[&STEP],
    )
    .await?
    .ok_or(parley_core::store::StoreError::NotFound("search_indexed"))?;
    if !get::<bool>(&found, 0)? {
        return Ok(Step::Busy);
    }
    Ok(Step::Indexed(get(&found, 1)?))
}
