//! Pinned messages.

use parley_core::model::{Audience, Event, EventKind, Millis, PinnedMessage};
use parley_core::store::{StoreError, StoreResult};
use parley_core::{ConversationId, MessageId, UserId};
use rusqlite::{Connection, params};

use super::connection::backend;
use super::events;
use super::rows::{self, MESSAGE_COLUMN_COUNT, MESSAGE_COLUMNS, one, run};

/// Pins a message, within the conversation's limit; `None` if it was pinned already.
pub(crate) fn pin(
    c: &Connection,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    limit: u32,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let (pinned, already): (u32, bool) = one(
        c,
        "SELECT count(*), coalesce(max(message_id = ?2), 0) FROM pins WHERE conversation_id = ?1",
        params![conversation_id.0, message_id.0],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .map_err(backend)?;
    if already {
        return Ok(None);
    }
    if pinned >= limit {
        return Err(StoreError::Conflict("pins"));
    }
    run(
        c,
        "INSERT INTO pins (conversation_id, message_id, pinned_by, pinned_at) VALUES (?1, ?2, ?3, ?4)",
        params![conversation_id.0, message_id.0, user_id.0, now.0],
    )
    .map_err(backend)?;
    let kind = EventKind::PinAdded {
        message_id,
        user_id,
    };
    events::append(c, conversation_id, kind, Audience::Members, now).map(Some)
}

/// Unpins a message; `None` if it was not pinned.
pub(crate) fn unpin(
    c: &Connection,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let removed = run(
        c,
        "DELETE FROM pins WHERE conversation_id = ?1 AND message_id = ?2",
        params![conversation_id.0, message_id.0],
    )
    .map_err(backend)?;
    if removed == 0 {
        return Ok(None);
    }
    let kind = EventKind::PinRemoved {
        message_id,
        user_id,
    };
    events::append(c, conversation_id, kind, Audience::Members, now).map(Some)
}

/// Newest pin first.
pub(crate) fn list(
    c: &Connection,
    conversation_id: ConversationId,
) -> StoreResult<Vec<PinnedMessage>> {
    let found = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS}, p.pinned_by, p.pinned_at FROM pins p
             JOIN messages m ON m.id = p.message_id
             WHERE p.conversation_id = ?1 ORDER BY p.pinned_at DESC, p.message_id DESC"
        ))
        .and_then(|mut s| {
            s.query_map([conversation_id.0], |row| {
                Ok((
                    rows::message(row)?,
                    UserId(row.get(MESSAGE_COLUMN_COUNT)?),
                    Millis(row.get(MESSAGE_COLUMN_COUNT + 1)?),
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(backend)?;
    let (messages, pinned): (Vec<_>, Vec<_>) =
        found.into_iter().map(|(m, by, at)| (m, (by, at))).unzip();
    let messages = rows::with_reactions(c, messages)?;
    Ok(messages
        .into_iter()
        .zip(pinned)
        .map(|(message, (pinned_by, pinned_at))| PinnedMessage {
            message,
            pinned_by,
            pinned_at,
        })
        .collect())
}
