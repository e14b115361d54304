//! Edits: the new text replaces the old, which is kept as an earlier version until the message is erased.

use parley_core::model::{Audience, Event, EventKind, Message, MessageVersion, Millis};
use parley_core::proto::v1::Mentions;
use parley_core::store::{StoreError, StoreResult};
use parley_core::{ConversationId, MessageId};
use rusqlite::{Connection, OptionalExtension, params};

use super::connection::backend;
use super::rows::{self, one, run};
use super::{events, mentions};

/// Replaces the text (and the mentions, when given); `None` when the message is deleted. The search index
/// follows the text (the `messages_fts_change` trigger, or the writer's deferred `index_new` for a message
/// not indexed yet).
pub(crate) fn edit(
    c: &Connection,
    conversation_id: ConversationId,
    message_id: MessageId,
    text: &str,
    new_mentions: Option<&Mentions>,
    now: Millis,
) -> StoreResult<Option<(Message, Event)>> {
    let current: Option<(String, i64)> = one(
        c,
        "SELECT text, coalesce(edited_at, created_at) FROM messages
         WHERE id = ?1 AND conversation_id = ?2 AND deleted = 0",
        params![message_id.0, conversation_id.0],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
    .map_err(backend)?;
    let Some((old_text, written_at)) = current else {
        return Ok(None);
    };
    run(
        c,
        "INSERT INTO message_edits (message_id, text, written_at) VALUES (?1, ?2, ?3)",
        params![message_id.0, old_text, written_at],
    )
    .map_err(backend)?;
    run(
        c,
        "UPDATE messages SET text = ?2, edited_at = ?3 WHERE id = ?1",
        params![message_id.0, text, now.0],
    )
    .map_err(backend)?;
    if let Some(m) = new_mentions {
        run(
            c,
            "UPDATE messages SET mention_ids = ?2, mention_channel = ?3, mention_here = ?4 WHERE id = ?1",
            params![message_id.0, rows::ids_text(&m.user_ids), m.channel, m.here],
        )
        .map_err(backend)?;
    }
    let message = rows::message_by_id(c, conversation_id, message_id)?
        .ok_or(StoreError::NotFound("message"))?;
    if let Some(m) = new_mentions {
        mentions::reindex(c, &message, &m.user_ids)?;
    }
    let event = events::append(
        c,
        conversation_id,
        EventKind::MessageUpdated(message.clone()),
        Audience::Members,
        now,
    )?;
    Ok(Some((message, event)))
}

pub(crate) fn versions(c: &Connection, message_id: MessageId) -> StoreResult<Vec<MessageVersion>> {
    c.prepare_cached("SELECT text, written_at FROM message_edits WHERE message_id = ?1 ORDER BY id")
        .and_then(|mut s| {
            s.query_map([message_id.0], |row| {
                Ok(MessageVersion {
                    text: row.get(0)?,
                    written_at: Millis(row.get(1)?),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(backend)
}
