//! The event log: written in the same transaction as the change it records, read back by cursor.

use parley_core::model::{Event, EventKind, Millis};
use parley_core::store::StoreResult;
use parley_core::{ConversationId, Cursor, MessageId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::connection::backend;
use super::rows;

/// The log's name for each kind, and the ids each row keeps.
fn columns(
    kind: &EventKind,
) -> (
    &'static str,
    Option<UserId>,
    Option<MessageId>,
    Option<&str>,
) {
    match kind {
        EventKind::MessageCreated(m) => ("message.created", Some(m.author_id), Some(m.id), None),
        EventKind::MessageDeleted { message_id } => {
            ("message.deleted", None, Some(*message_id), None)
        }
        EventKind::MessageHidden {
            message_id,
            user_id,
        } => ("message.hidden", Some(*user_id), Some(*message_id), None),
        EventKind::ReactionAdded {
            message_id,
            user_id,
            emoji,
        } => (
            "reaction.added",
            Some(*user_id),
            Some(*message_id),
            Some(emoji),
        ),
        EventKind::ReactionRemoved {
            message_id,
            user_id,
            emoji,
        } => (
            "reaction.removed",
            Some(*user_id),
            Some(*message_id),
            Some(emoji),
        ),
        EventKind::ReadUpdated {
            user_id,
            message_id,
        } => ("read.updated", Some(*user_id), Some(*message_id), None),
        EventKind::MemberJoined { user_id } => ("member.joined", Some(*user_id), None, None),
        EventKind::MemberLeft { user_id } => ("member.left", Some(*user_id), None, None),
        EventKind::ConversationCreated(c) => {
            ("conversation.created", Some(c.created_by), None, None)
        }
    }
}

/// Appends an event to the log and returns it with its cursor.
pub(crate) fn append(
    c: &Connection,
    conversation_id: ConversationId,
    kind: EventKind,
    now: Millis,
) -> StoreResult<Event> {
    let (name, user_id, message_id, emoji) = columns(&kind);
    c.prepare_cached(
        "INSERT INTO events (conversation_id, kind, user_id, message_id, emoji, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            conversation_id.0,
            name,
            user_id.map(|u| u.0),
            message_id.map(|m| m.0),
            emoji,
            now.0
        ])
    })
    .map_err(backend)?;
    Ok(Event {
        cursor: Cursor(c.last_insert_rowid()),
        conversation_id,
        kind,
    })
}

/// Rebuilds an event from its row; `None` when what it refers to is gone.
fn materialize(
    c: &Connection,
    cursor: Cursor,
    conversation_id: ConversationId,
    name: &str,
    user_id: Option<UserId>,
    message_id: Option<MessageId>,
    emoji: Option<String>,
) -> StoreResult<Option<Event>> {
    let user = || user_id.unwrap_or(UserId(0));
    let message = || message_id.unwrap_or(MessageId(0));
    let kind = match name {
        "message.created" => match rows::message_by_id(c, conversation_id, message())? {
            Some(m) => EventKind::MessageCreated(m),
            None => return Ok(None),
        },
        "message.deleted" => EventKind::MessageDeleted {
            message_id: message(),
        },
        "message.hidden" => EventKind::MessageHidden {
            message_id: message(),
            user_id: user(),
        },
        "reaction.added" => EventKind::ReactionAdded {
            message_id: message(),
            user_id: user(),
            emoji: emoji.unwrap_or_default(),
        },
        "reaction.removed" => EventKind::ReactionRemoved {
            message_id: message(),
            user_id: user(),
            emoji: emoji.unwrap_or_default(),
        },
        "read.updated" => EventKind::ReadUpdated {
            user_id: user(),
            message_id: message(),
        },
        "member.joined" => EventKind::MemberJoined { user_id: user() },
        "member.left" => EventKind::MemberLeft { user_id: user() },
        "conversation.created" => match rows::conversation_by_id(c, conversation_id)? {
            Some(conversation) => EventKind::ConversationCreated(conversation),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(Event {
        cursor,
        conversation_id,
        kind,
    }))
}

/// Events after `cursor` in the user's conversations, plus their own private ones, oldest first.
/// Walks the log from the cursor by primary key; each row is kept if the user is a member of its
/// conversation (an index lookup), so the cost is proportional to the events scanned, not to history.
pub(crate) fn after(
    c: &Connection,
    user_id: UserId,
    cursor: Cursor,
    limit: u32,
) -> StoreResult<Vec<Event>> {
    let mut statement = c
        .prepare_cached(
            "SELECT e.cursor, e.conversation_id, e.kind, e.user_id, e.message_id, e.emoji FROM events e
             WHERE e.cursor > ?2 AND (
                 (e.kind <> 'message.hidden' AND EXISTS (
                     SELECT 1 FROM members m WHERE m.conversation_id = e.conversation_id AND m.user_id = ?1))
                 OR (e.kind IN ('message.hidden', 'member.left') AND e.user_id = ?1))
             ORDER BY e.cursor LIMIT ?3",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map(params![user_id.0, cursor.0, limit], |row| {
            Ok((
                Cursor(row.get(0)?),
                ConversationId(row.get(1)?),
                row.get::<_, String>(2)?,
                row.get::<_, Option<i64>>(3)?.map(UserId),
                row.get::<_, Option<i64>>(4)?.map(MessageId),
                row.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let mut events = Vec::with_capacity(rows.len());
    for (cursor, conversation_id, name, user_id, message_id, emoji) in rows {
        if let Some(event) = materialize(
            c,
            cursor,
            conversation_id,
            &name,
            user_id,
            message_id,
            emoji,
        )? {
            events.push(event);
        }
    }
    Ok(events)
}

pub(crate) fn latest(c: &Connection) -> StoreResult<Cursor> {
    let cursor: Option<i64> = c
        .query_row("SELECT max(cursor) FROM events", [], |row| row.get(0))
        .optional()
        .map_err(backend)?
        .flatten();
    Ok(Cursor(cursor.unwrap_or(0)))
}
