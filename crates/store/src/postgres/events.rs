//! The event log: written in the same transaction as the change it records, read back by cursor.
//!
//! Cursors come from the `events` sequence inside the writers' turn (`writer.rs`), so every event with a
//! smaller cursor is committed before any with a larger one is: a reader that sees cursor N sees all below.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use parley_core::model::{Audience, Event, EventKind, Message, Millis};
use parley_core::store::StoreResult;
use parley_core::{ConversationId, Cursor, MessageId, UserId};
use tokio_postgres::Row as PgRow;

use super::shard_ids::made_here;
use super::sql::{self, get, row, rows, run};
use crate::event_columns::{self, LoggedEvent, Merge};

/// Appends an event to the log and returns it with its cursor.
pub(crate) async fn append(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    kind: EventKind,
    audience: Audience,
    now: Millis,
) -> StoreResult<Event> {
    let (name, user_id, message_id, emoji) = event_columns::columns(&kind);
    let private_to = match audience {
        Audience::Members => None,
        Audience::User(user_id) => Some(user_id.0),
    };
    let inserted = row(
        c,
        "INSERT INTO events (conversation_id, kind, user_id, message_id, emoji, private_to, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING cursor",
        &[
            &conversation_id.0,
            &name,
            &user_id.map(|u| u.0),
            &message_id.map(|m| m.0),
            &emoji,
            &private_to,
            &now.0,
        ],
    )
    .await?
    .ok_or(sql::vanished("event"))?;
    Ok(Event {
        cursor: Cursor(get(&inserted, 0)?),
        conversation_id,
        kind,
        audience,
        at: now,
    })
}

const ROW_COLUMNS: &str = "e.cursor, e.conversation_id, e.kind, e.user_id, e.message_id, e.emoji, e.private_to, e.created_at";

fn logged(row: &PgRow) -> StoreResult<LoggedEvent> {
    Ok(LoggedEvent {
        cursor: Cursor(get(row, 0)?),
        conversation_id: ConversationId(get(row, 1)?),
        name: get(row, 2)?,
        user_id: get::<Option<i64>>(row, 3)?.map(UserId),
        message_id: get::<Option<i64>>(row, 4)?.map(MessageId),
        emoji: get(row, 5)?,
        private_to: get::<Option<i64>>(row, 6)?.map(UserId),
        at: Millis(get(row, 7)?),
    })
}

fn logged_all(found: &[PgRow]) -> StoreResult<Vec<LoggedEvent>> {
    found.iter().map(logged).collect()
}

/// Rebuilds events from their rows, loading the messages and conversations they refer to in a few queries.
async fn materialize(c: &impl GenericClient, logged: Vec<LoggedEvent>) -> StoreResult<Vec<Event>> {
    let created: Vec<MessageId> = logged
        .iter()
        .filter(|row| row.needs_message())
        .filter_map(|row| row.message_id)
        .collect();
    let messages: HashMap<MessageId, Message> = sql::messages_by_ids(c, &created)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let mut events = Vec::with_capacity(logged.len());
    for row in logged {
        let conversation = if row.needs_conversation() {
            sql::conversation_by_id(c, row.conversation_id).await?
        } else {
            None
        };
        events.extend(row.into_event(&messages, conversation));
    }
    Ok(events)
}

/// Every event taken on shard `shard` with a cursor in `(after, up_to]`, for whoever they are: what a writer
/// publishes again when the writer before it died between its commit and its publish.
pub(crate) async fn range(
    c: &impl GenericClient,
    after: Cursor,
    up_to: Cursor,
    shard: Option<i64>,
) -> StoreResult<Vec<Event>> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM events e WHERE e.cursor > $1 AND e.cursor <= $2 AND {}
         ORDER BY e.cursor",
        made_here("e.cursor", shard)
    );
    let found = rows(c, &sql, &[&after.0, &up_to.0]).await?;
    materialize(c, logged_all(&found)?).await
}

/// How far behind the newest event a replay may be and still walk the whole log from its cursor; further
/// behind it reads the user's conversations one by one (see the SQLite store's `events::after`).
const WALK_AT_MOST: i64 = 2_000;

/// Events after `cursor` that `user_id` may see, oldest first; cursors are `step` apart. `c` must be a snapshot (one repeatable-read
/// transaction), so that no query below sees an event another missed.
pub(crate) async fn after(
    c: &impl GenericClient,
    user_id: UserId,
    cursor: Cursor,
    limit: u32,
    step: i64,
) -> StoreResult<Vec<Event>> {
    let behind = (latest(c).await?.0 - cursor.0) / step;
    let logged = if behind <= WALK_AT_MOST {
        walk(c, user_id, cursor, limit).await?
    } else {
        by_conversation(c, user_id, cursor, limit).await?
    };
    materialize(c, logged).await
}

async fn walk(
    c: &impl GenericClient,
    user_id: UserId,
    cursor: Cursor,
    limit: u32,
) -> StoreResult<Vec<LoggedEvent>> {
    let sql = format!(
        "SELECT {ROW_COLUMNS}
         FROM events e
         WHERE e.cursor > $2 AND (
             (e.private_to IS NULL AND EXISTS (
                 SELECT 1 FROM members m WHERE m.conversation_id = e.conversation_id AND m.user_id = $1))
             OR e.private_to = $1
             OR (e.kind = 'member.left' AND e.user_id = $1))
         ORDER BY e.cursor LIMIT $3"
    );
    logged_all(&rows(c, &sql, &[&user_id.0, &cursor.0, &i64::from(limit)]).await?)
}

/// The same events, read source by source (each of the user's conversations, their private events, their
/// leavings), each by index in cursor order, and merged; once `limit` rows are in hand, later sources are
/// read only up to the last of them.
async fn by_conversation(
    c: &impl GenericClient,
    user_id: UserId,
    cursor: Cursor,
    limit: u32,
) -> StoreResult<Vec<LoggedEvent>> {
    let mut merge = Merge::new(limit);
    let conversations: Vec<i64> = rows(
        c,
        "SELECT conversation_id FROM members WHERE user_id = $1",
        &[&user_id.0],
    )
    .await?
    .iter()
    .map(|r| get(r, 0))
    .collect::<StoreResult<_>>()?;
    let in_conversation = format!(
        "SELECT {ROW_COLUMNS} FROM events e
         WHERE e.conversation_id = $1 AND e.cursor > $2 AND e.cursor <= $4 AND e.private_to IS NULL
         ORDER BY e.cursor LIMIT $3"
    );
    let limit = i64::from(limit);
    for conversation_id in conversations {
        let page = rows(
            c,
            &in_conversation,
            &[&conversation_id, &cursor.0, &limit, &merge.up_to()],
        )
        .await?;
        merge.take(logged_all(&page)?);
    }
    for sql in [
        format!(
            "SELECT {ROW_COLUMNS} FROM events e WHERE e.private_to = $1 AND e.cursor > $2
             AND e.cursor <= $4 ORDER BY e.cursor LIMIT $3"
        ),
        format!(
            "SELECT {ROW_COLUMNS} FROM events e WHERE e.kind = 'member.left' AND e.user_id = $1
             AND e.cursor > $2 AND e.cursor <= $4 ORDER BY e.cursor LIMIT $3"
        ),
    ] {
        let page = rows(c, &sql, &[&user_id.0, &cursor.0, &limit, &merge.up_to()]).await?;
        merge.take(logged_all(&page)?);
    }
    Ok(merge.into_rows())
}

async fn cursor_of(c: &impl GenericClient, sql: &str) -> StoreResult<Cursor> {
    let found = row(c, sql, &[]).await?;
    let cursor: Option<i64> = match &found {
        Some(r) => get(r, 0)?,
        None => None,
    };
    Ok(Cursor(cursor.unwrap_or(0)))
}

pub(crate) async fn latest(c: &impl GenericClient) -> StoreResult<Cursor> {
    cursor_of(c, "SELECT max(cursor) FROM events").await
}

pub(crate) async fn oldest(c: &impl GenericClient) -> StoreResult<Cursor> {
    cursor_of(c, "SELECT min(cursor) FROM events").await
}

/// Deletes events committed before `before`, always keeping the newest one so cursors never restart.
pub(crate) async fn prune(c: &impl GenericClient, before: Millis) -> StoreResult<u64> {
    run(
        c,
        // Never past the notifier's slowest shard: it has yet to read what follows its cursor.
        "DELETE FROM events WHERE created_at < $1 AND cursor < (SELECT max(cursor) FROM events)
         AND cursor <= (SELECT coalesce(min(cursor), 9223372036854775807) FROM notify_shards)",
        &[&before.0],
    )
    .await
}
