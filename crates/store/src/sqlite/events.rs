//! The event log: written in the same transaction as the change it records, read back by cursor.

use std::collections::HashMap;

use parley_core::model::{Audience, Event, EventKind, Message, Millis};
use parley_core::store::StoreResult;
use parley_core::{ConversationId, Cursor, MessageId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::connection::backend;
use super::rows::{self, one, run};
use crate::event_columns::{self, LoggedEvent as Row, Merge};

/// Appends an event to the log and returns it with its cursor.
pub(crate) fn append(
    c: &Connection,
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
    c.prepare_cached(
        "INSERT INTO events (conversation_id, kind, user_id, message_id, emoji, private_to, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            conversation_id.0,
            name,
            user_id.map(|u| u.0),
            message_id.map(|m| m.0),
            emoji,
            private_to,
            now.0
        ])
    })
    .map_err(backend)?;
    Ok(Event {
        cursor: Cursor(c.last_insert_rowid()),
        conversation_id,
        kind,
        audience,
        at: now,
    })
}

/// Rebuilds an event from its row; `None` when what it refers to is gone.
fn materialize(
    c: &Connection,
    row: Row,
    messages: &HashMap<MessageId, Message>,
) -> StoreResult<Option<Event>> {
    let conversation = if row.needs_conversation() {
        rows::conversation_by_id(c, row.conversation_id)?
    } else {
        None
    };
    Ok(row.into_event(messages, conversation))
}

/// The columns of a log row, as `read` takes them.
const ROW_COLUMNS: &str = "e.cursor, e.conversation_id, e.kind, e.user_id, e.message_id, e.emoji, e.private_to, e.created_at";

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        cursor: Cursor(row.get(0)?),
        conversation_id: ConversationId(row.get(1)?),
        name: row.get(2)?,
        user_id: row.get::<_, Option<i64>>(3)?.map(UserId),
        message_id: row.get::<_, Option<i64>>(4)?.map(MessageId),
        emoji: row.get(5)?,
        private_to: row.get::<_, Option<i64>>(6)?.map(UserId),
        at: Millis(row.get(7)?),
    })
}

/// How far behind the newest event a replay may be and still walk the whole log from its cursor. Further
/// behind, most of what the walk would read belongs to other people's conversations (10,000 users who
/// reconnect at once after 100,000 events would read 10^9 rows), so it reads the user's conversations
/// one by one instead.
const WALK_AT_MOST: i64 = 2_000;

/// Events after `cursor` that `user_id` may see, oldest first: those of the conversations they are in now
/// (private ones only if meant for them), plus their own private events and their own leaving.
pub(crate) fn after(
    c: &Connection,
    user_id: UserId,
    cursor: Cursor,
    limit: u32,
) -> StoreResult<Vec<Event>> {
    // One snapshot for every query below: read apart, an event committed between two of them could be
    // missed while a later one is returned, and a client resuming after it would never get it.
    let snapshot = c.unchecked_transaction().map_err(backend)?;
    let c = &*snapshot;
    let behind = latest(c)?.0 - cursor.0;
    let rows = if behind <= WALK_AT_MOST {
        walk(c, user_id, cursor, limit)
    } else {
        by_conversation(c, user_id, cursor, limit)
    }
    .map_err(backend)?;
    // The messages of a page of events, loaded in one query (with their reactions in one more), not one by one.
    let created: Vec<MessageId> = rows
        .iter()
        .filter(|row| row.needs_message())
        .filter_map(|row| row.message_id)
        .collect();
    let messages: HashMap<MessageId, Message> = rows::messages_by_ids(c, &created)?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        events.extend(materialize(c, row, &messages)?);
    }
    Ok(events)
}

/// Walks the log from the cursor by primary key, keeping each row after an index lookup of the membership:
/// the cost follows the events after the cursor, whoever they are for.
fn walk(c: &Connection, user_id: UserId, cursor: Cursor, limit: u32) -> rusqlite::Result<Vec<Row>> {
    c.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS}
         FROM events e
         WHERE e.cursor > ?2 AND (
             (e.private_to IS NULL AND EXISTS (
                 SELECT 1 FROM members m WHERE m.conversation_id = e.conversation_id AND m.user_id = ?1))
             OR e.private_to = ?1
             OR (e.kind = 'member.left' AND e.user_id = ?1))
         ORDER BY e.cursor LIMIT ?3"
    ))?
    .query_map(params![user_id.0, cursor.0, limit], read)?
    .collect()
}

/// The same events, read source by source (each of the user's conversations, their private events, their
/// leavings), each by index in cursor order, and merged: the cost follows the user's conversations and
/// their events, not everyone's. Once `limit` rows are in hand, later sources are read only up to the
/// last of them, so a page reads about `limit` rows however many conversations there are.
fn by_conversation(
    c: &Connection,
    user_id: UserId,
    cursor: Cursor,
    limit: u32,
) -> rusqlite::Result<Vec<Row>> {
    let mut merge = Merge::new(limit);
    let conversations: Vec<i64> = c
        .prepare_cached("SELECT conversation_id FROM members WHERE user_id = ?1")?
        .query_map([user_id.0], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut in_conversation = c.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM events e
         WHERE e.conversation_id = ?1 AND e.cursor > ?2 AND e.cursor <= ?4 AND e.private_to IS NULL
         ORDER BY e.cursor LIMIT ?3"
    ))?;
    for conversation_id in conversations {
        let found = in_conversation
            .query_map(
                params![conversation_id, cursor.0, limit, merge.up_to()],
                read,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        merge.take(found);
    }
    for sql in [
        format!(
            "SELECT {ROW_COLUMNS} FROM events e WHERE e.private_to = ?1 AND e.cursor > ?2
             AND e.cursor <= ?4 ORDER BY e.cursor LIMIT ?3"
        ),
        format!(
            "SELECT {ROW_COLUMNS} FROM events e WHERE e.kind = 'member.left' AND e.user_id = ?1
             AND e.cursor > ?2 AND e.cursor <= ?4 ORDER BY e.cursor LIMIT ?3"
        ),
    ] {
        let found = c
            .prepare_cached(&sql)?
            .query_map(params![user_id.0, cursor.0, limit, merge.up_to()], read)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        merge.take(found);
    }
    Ok(merge.into_rows())
}

fn cursor_of(c: &Connection, sql: &str) -> StoreResult<Cursor> {
    let cursor: Option<i64> = one(c, sql, [], |row| row.get(0))
        .optional()
        .map_err(backend)?
        .flatten();
    Ok(Cursor(cursor.unwrap_or(0)))
}

pub(crate) fn latest(c: &Connection) -> StoreResult<Cursor> {
    cursor_of(c, "SELECT max(cursor) FROM events")
}

pub(crate) fn oldest(c: &Connection) -> StoreResult<Cursor> {
    cursor_of(c, "SELECT min(cursor) FROM events")
}

/// Deletes events committed before `before`, always keeping the newest one so cursors never restart.
pub(crate) fn prune(c: &Connection, before: Millis) -> StoreResult<u64> {
    let deleted = run(
        c,
        "DELETE FROM events WHERE created_at < ?1 AND cursor < (SELECT max(cursor) FROM events)
         AND cursor <= (SELECT coalesce(min(cursor), 0) FROM notify_shards)",
        [before.0],
    )
    .map_err(backend)?;
    Ok(deleted.try_into().unwrap_or(0))
}
