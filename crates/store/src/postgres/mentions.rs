//! Mentions: indexed per mentioned user, and `@channel`/`@here` kept once on the message.

use deadpool_postgres::GenericClient;
use parley_core::model::{Member, Message};
use parley_core::store::StoreResult;
use parley_core::{MessageId, UserId};

use super::messages::{IN_MAIN, VISIBLE};
use super::sql::{self, MESSAGE_COLUMNS, get, row, rows, run};

/// Indexes a new message's mentions of users.
pub(crate) async fn index(
    c: &impl GenericClient,
    message: &Message,
    user_ids: &[UserId],
) -> StoreResult<()> {
    if user_ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = user_ids.iter().map(|id| id.0).collect();
    run(
        c,
        "INSERT INTO mentions (user_id, conversation_id, message_id)
         SELECT u, $2, $3 FROM unnest($1::BIGINT[]) u ON CONFLICT DO NOTHING",
        &[&ids, &message.conversation_id.0, &message.id.0],
    )
    .await?;
    Ok(())
}

/// The unread messages that mention the member, not their own: in the main history, after their checkpoint
/// in the conversation; in a thread, after their checkpoint in that thread. Read from the index of their
/// mentions and of messages mentioning everyone, so it costs the mentions, not the unread messages.
pub(crate) async fn unread(c: &impl GenericClient, member: &Member) -> StoreResult<u64> {
    let sql = format!(
        "SELECT count(*) FROM messages m WHERE m.id IN (
             SELECT message_id FROM mentions WHERE user_id = $2 AND conversation_id = $1
             UNION
             SELECT id FROM messages WHERE conversation_id = $1 AND (mention_channel OR mention_here)
         ) AND m.author_id <> $2 AND NOT m.deleted AND {VISIBLE}
         AND CASE WHEN {IN_MAIN} THEN m.id > $3
             ELSE m.id > coalesce((SELECT f.last_read FROM thread_follows f
                                   WHERE f.user_id = $2 AND f.root_id = m.thread_root_id), 0)
         END"
    );
    let last_read = member.last_read.map_or(0, |m| m.0);
    let found = row(
        c,
        &sql,
        &[&member.conversation_id.0, &member.user_id.0, &last_read],
    )
    .await?;
    let count: i64 = match &found {
        Some(r) => get(r, 0)?,
        None => 0,
    };
    Ok(count.try_into().unwrap_or(0))
}

/// Messages that mention the user in conversations they are in, newest first.
pub(crate) async fn of(
    c: &impl GenericClient,
    user_id: UserId,
    before: Option<MessageId>,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id IN (
             SELECT x.message_id FROM mentions x
             JOIN members mb ON mb.conversation_id = x.conversation_id AND mb.user_id = $2
             WHERE x.user_id = $2 AND x.message_id < $1
             UNION
             SELECT a.id FROM members mb
             JOIN messages a ON a.conversation_id = mb.conversation_id
                 AND (a.mention_channel OR a.mention_here) AND a.id < $1
             WHERE mb.user_id = $2
         ) AND m.author_id <> $2 AND NOT m.deleted AND {VISIBLE}
         ORDER BY m.id DESC LIMIT $3"
    );
    let before = before.map_or(i64::MAX, |id| id.0);
    let found = rows(c, &sql, &[&before, &user_id.0, &i64::from(limit)]).await?;
    sql::with_reactions(c, sql::messages(&found)?).await
}
