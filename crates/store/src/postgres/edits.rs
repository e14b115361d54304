//! Edits: the new text replaces the old, which is kept as an earlier version until the message is erased.

use deadpool_postgres::GenericClient;
use parley_core::model::{Audience, Event, EventKind, Message, MessageVersion, Millis};
use parley_core::proto::v1::Mentions;
use parley_core::store::StoreResult;
use parley_core::{ConversationId, Cursor, MessageId};

use super::sql::{self, MESSAGE_COLUMN_COUNT, MESSAGE_COLUMNS, get, row, rows};

/// Replaces the text (and the mentions, when given); `None` when the message is deleted. One statement keeps
/// the old text as a version, writes the new one and its mentions (and their index) and logs the event: a
/// batch's writes run interleaved (`writer.rs`), so two edits at once must each see the other whole. The
/// message's search entry follows the text (a trigger, `0009_search_out_of_the_turn.sql`).
pub(crate) async fn edit(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    message_id: MessageId,
    text: &str,
    new_mentions: Option<&Mentions>,
    now: Millis,
) -> StoreResult<Option<(Message, Event)>> {
    let sql = format!(
        "WITH old AS (
             SELECT id, author_id, text, coalesce(edited_at, created_at) AS written_at FROM messages
             WHERE id = $1 AND conversation_id = $2 AND NOT deleted
         ), kept AS (
             INSERT INTO message_edits (message_id, text, written_at) SELECT id, text, written_at FROM old
         ), m AS (
             UPDATE messages SET text = $3, edited_at = $4,
                 mention_ids = CASE WHEN $5 THEN $6 ELSE mention_ids END,
                 mention_channel = CASE WHEN $5 THEN $7 ELSE mention_channel END,
                 mention_here = CASE WHEN $5 THEN $8 ELSE mention_here END
             WHERE id IN (SELECT id FROM old)
             RETURNING *
         ), unmentioned AS (
             DELETE FROM mentions
             WHERE $5 AND message_id IN (SELECT id FROM old)
                 AND NOT (user_id = ANY(coalesce($6, '{{}}'::BIGINT[])))
         ), mentioned AS (
             INSERT INTO mentions (user_id, conversation_id, message_id)
             SELECT u, $2, $1 FROM unnest(coalesce($6, '{{}}'::BIGINT[])) u
             WHERE $5 AND EXISTS (SELECT 1 FROM old)
             ON CONFLICT DO NOTHING
         ), e AS (
             INSERT INTO events (conversation_id, kind, user_id, message_id, created_at)
             SELECT $2, 'message.updated', author_id, id, $4 FROM old
             RETURNING cursor
         )
         SELECT {MESSAGE_COLUMNS}, (SELECT cursor FROM e) FROM m"
    );
    let given = new_mentions.is_some();
    let ids = new_mentions.and_then(|m| sql::ids_array(&m.user_ids));
    let (channel, here) = new_mentions.map_or((false, false), |m| (m.channel, m.here));
    let found = row(
        c,
        &sql,
        &[
            &message_id.0,
            &conversation_id.0,
            &text,
            &now.0,
            &given,
            &ids,
            &channel,
            &here,
        ],
    )
    .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    let cursor: i64 = get(&found, MESSAGE_COLUMN_COUNT)?;
    let message = sql::with_reactions(c, vec![sql::message(&found)?])
        .await?
        .pop()
        .ok_or(sql::vanished("message"))?;
    let event = Event {
        cursor: Cursor(cursor),
        conversation_id,
        kind: EventKind::MessageUpdated(message.clone()),
        audience: Audience::Members,
        at: now,
    };
    Ok(Some((message, event)))
}

pub(crate) async fn versions(
    c: &impl GenericClient,
    message_id: MessageId,
) -> StoreResult<Vec<MessageVersion>> {
    rows(
        c,
        "SELECT text, written_at FROM message_edits WHERE message_id = $1 ORDER BY id",
        &[&message_id.0],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(MessageVersion {
            text: get(r, 0)?,
            written_at: Millis(get(r, 1)?),
        })
    })
    .collect()
}
