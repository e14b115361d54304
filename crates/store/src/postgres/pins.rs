//! Pinned messages.

use deadpool_postgres::GenericClient;
use parley_core::model::{Audience, Event, EventKind, Millis, PinnedMessage};
use parley_core::store::{StoreError, StoreResult};
use parley_core::{ConversationId, MessageId, UserId};

use super::events;
use super::sql::{self, MESSAGE_COLUMN_COUNT, MESSAGE_COLUMNS, get, row, rows, run};

/// Pins a message, within the conversation's limit; `None` if it was pinned already.
pub(crate) async fn pin(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    limit: u32,
    now: Millis,
) -> StoreResult<Option<Event>> {
    // The limit is checked in the statement that inserts: a batch's writes run interleaved (`writer.rs`), so
    // a count read in a statement of its own could let two pins past the last place.
    let pinned = run(
        c,
        "INSERT INTO pins (conversation_id, message_id, pinned_by, pinned_at)
         SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM pins WHERE conversation_id = $1) < $5
         ON CONFLICT DO NOTHING",
        &[
            &conversation_id.0,
            &message_id.0,
            &user_id.0,
            &now.0,
            &i64::from(limit),
        ],
    )
    .await?;
    if pinned == 0 {
        let already = row(
            c,
            "SELECT 1 FROM pins WHERE conversation_id = $1 AND message_id = $2",
            &[&conversation_id.0, &message_id.0],
        )
        .await?;
        return match already {
            Some(_) => Ok(None),
            None => Err(StoreError::Conflict("pins")),
        };
    }
    let kind = EventKind::PinAdded {
        message_id,
        user_id,
    };
    events::append(c, conversation_id, kind, Audience::Members, now)
        .await
        .map(Some)
}

/// Unpins a message; `None` if it was not pinned.
pub(crate) async fn unpin(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let removed = run(
        c,
        "DELETE FROM pins WHERE conversation_id = $1 AND message_id = $2",
        &[&conversation_id.0, &message_id.0],
    )
    .await?;
    if removed == 0 {
        return Ok(None);
    }
    let kind = EventKind::PinRemoved {
        message_id,
        user_id,
    };
    events::append(c, conversation_id, kind, Audience::Members, now)
        .await
        .map(Some)
}

/// Newest pin first.
pub(crate) async fn list(
    c: &impl GenericClient,
    conversation_id: ConversationId,
) -> StoreResult<Vec<PinnedMessage>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, p.pinned_by, p.pinned_at FROM pins p
         JOIN messages m ON m.id = p.message_id
         WHERE p.conversation_id = $1 ORDER BY p.pinned_at DESC, p.message_id DESC"
    );
    let found = rows(c, &sql, &[&conversation_id.0]).await?;
    let messages = sql::with_reactions(c, sql::messages(&found)?).await?;
    messages
        .into_iter()
        .zip(&found)
        .map(|(message, r)| {
            Ok(PinnedMessage {
                message,
                pinned_by: UserId(get(r, MESSAGE_COLUMN_COUNT)?),
                pinned_at: Millis(get(r, MESSAGE_COLUMN_COUNT + 1)?),
            })
        })
        .collect()
}
