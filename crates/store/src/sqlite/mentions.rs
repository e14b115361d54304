//! Mentions: indexed per mentioned user, and `@channel`/`@here` kept once on the message.

use parley_core::model::{Member, Message};
use parley_core::store::StoreResult;
use parley_core::{MessageId, UserId};
use rusqlite::{Connection, params};

use super::connection::backend;
use super::messages::{IN_MAIN, VISIBLE};
use super::rows::{self, MESSAGE_COLUMNS, run};

/// Indexes a new message's mentions of users.
pub(crate) fn index(c: &Connection, message: &Message, user_ids: &[UserId]) -> StoreResult<()> {
    for user_id in user_ids {
        run(
            c,
            "INSERT OR IGNORE INTO mentions (user_id, conversation_id, message_id) VALUES (?1, ?2, ?3)",
            params![user_id.0, message.conversation_id.0, message.id.0],
        )
        .map_err(backend)?;
    }
    Ok(())
}

/// Replaces an edited message's mentions of users in the index.
pub(crate) fn reindex(c: &Connection, message: &Message, user_ids: &[UserId]) -> StoreResult<()> {
    run(
        c,
        "DELETE FROM mentions WHERE message_id = ?1",
        [message.id.0],
    )
    .map_err(backend)?;
    index(c, message, user_ids)
}

/// The unread messages that mention the member, not their own: in the main history, after their checkpoint
/// in the conversation; in a thread, after their checkpoint in that thread. Read from the index of their
/// mentions and of messages mentioning everyone, so it costs the mentions, not the unread messages.
pub(crate) fn unread(c: &Connection, member: &Member) -> StoreResult<u64> {
    let count: i64 = c
        .prepare_cached(&format!(
            "SELECT count(*) FROM messages m WHERE m.id IN (
                 SELECT message_id FROM mentions WHERE user_id = ?2 AND conversation_id = ?1
                 UNION
                 SELECT id FROM messages
                 WHERE conversation_id = ?1 AND (mention_channel = 1 OR mention_here = 1)
             ) AND m.author_id <> ?2 AND m.deleted = 0 AND {VISIBLE}
             AND CASE WHEN {IN_MAIN} THEN m.id > ?3
                 ELSE m.id > coalesce((SELECT f.last_read FROM thread_follows f
                                       WHERE f.user_id = ?2 AND f.root_id = m.thread_root_id), 0)
             END"
        ))
        .and_then(|mut s| {
            s.query_row(
                params![
                    member.conversation_id.0,
                    member.user_id.0,
                    member.last_read.map_or(0, |m| m.0)
                ],
                |row| row.get(0),
            )
        })
        .map_err(backend)?;
    Ok(count.try_into().unwrap_or(0))
}

/// Messages that mention the user in conversations they are in, newest first.
pub(crate) fn of(
    c: &Connection,
    user_id: UserId,
    before: Option<MessageId>,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let found = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id IN (
                 SELECT x.message_id FROM mentions x
                 JOIN members mb ON mb.conversation_id = x.conversation_id AND mb.user_id = ?2
                 WHERE x.user_id = ?2 AND x.message_id < ?1
                 UNION
                 SELECT a.id FROM members mb
                 JOIN messages a ON a.conversation_id = mb.conversation_id
                     AND (a.mention_channel = 1 OR a.mention_here = 1) AND a.id < ?1
                 WHERE mb.user_id = ?2
             ) AND m.author_id <> ?2 AND m.deleted = 0 AND {VISIBLE}
             ORDER BY m.id DESC LIMIT ?3"
        ))
        .and_then(|mut s| {
            s.query_map(
                params![before.map_or(i64::MAX, |id| id.0), user_id.0, limit],
                rows::message,
            )
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(backend)?;
    rows::with_reactions(c, found)
}
