//! Edits: the new text replaces the old, which is kept as an earlier version until the message is erased.

use deadpool_postgres::GenericClient;
use parley_core::model::{Audience, Event, EventKind, Message, MessageVersion, Millis};
use parley_core::proto::v1::Mentions;
use parley_core::store::{StoreError, StoreResult};
use parley_core::{ConversationId, MessageId};

use super::sql::{self, get, rows, run};
use super::{events, mentions};

/// Replaces the text (and the mentions, when given); `None` when the message is deleted. The generated
/// `search` column follows the text.
pub(crate) async fn edit(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    message_id: MessageId,
    text: &str,
    new_mentions: Option<&Mentions>,
    now: Millis,
) -> StoreResult<Option<(Message, Event)>> {
    let kept = run(
        c,
        "INSERT INTO message_edits (message_id, text, written_at)
         SELECT id, text, coalesce(edited_at, created_at) FROM messages
         WHERE id = $1 AND conversation_id = $2 AND NOT deleted",
        &[&message_id.0, &conversation_id.0],
    )
    .await?;
    if kept == 0 {
        return Ok(None);
    }
    run(
        c,
        "UPDATE messages SET text = $2, edited_at = $3 WHERE id = $1",
        &[&message_id.0, &text, &now.0],
    )
    .await?;
    if let Some(m) = new_mentions {
        run(
            c,
            "UPDATE messages SET mention_ids = $2, mention_channel = $3, mention_here = $4 WHERE id = $1",
            &[
                &message_id.0,
                &sql::ids_array(&m.user_ids),
                &m.channel,
                &m.here,
            ],
        )
        .await?;
    }
    let message = sql::message_by_id(c, conversation_id, message_id)
        .await?
        .ok_or(StoreError::NotFound("message"))?;
    if let Some(m) = new_mentions {
        mentions::reindex(c, &message, &m.user_ids).await?;
    }
    let event = events::append(
        c,
        conversation_id,
        EventKind::MessageUpdated(message.clone()),
        Audience::Members,
        now,
    )
    .await?;
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
