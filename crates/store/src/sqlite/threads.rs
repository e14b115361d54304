//! Threads: each reply moves its root's counters and adds followers in the send's transaction; followers
//! keep a read checkpoint per thread.

use parley_core::model::{
    Audience, Event, EventKind, FollowedThread, ROOT_REPLIERS, ThreadSummary,
};
use parley_core::store::{StoreError, StoreResult};
use parley_core::{ConversationId, MessageId, UserId};
use rusqlite::{Connection, params};

use super::connection::backend;
use super::events;
use super::messages::VISIBLE;
use super::rows::{self, one, run};
use crate::inputs::NewMessage;

/// Counts a reply on its root and makes the root's author, the replier and whoever the reply mentions
/// follow the thread; returns the root's `thread.updated`.
pub(crate) fn add_reply(
    c: &Connection,
    reply: &NewMessage,
    root_id: MessageId,
) -> StoreResult<Event> {
    let (root_author, repliers): (i64, Option<String>) = one(
        c,
        "SELECT author_id, repliers FROM messages WHERE id = ?1 AND conversation_id = ?2",
        params![root_id.0, reply.conversation_id.0],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .map_err(|_| StoreError::NotFound("message"))?;
    let mut thread = ThreadSummary {
        reply_count: 0,
        last_reply_at: reply.now,
        repliers: rows::ids(repliers.as_deref()),
    };
    if thread.repliers.len() < ROOT_REPLIERS && !thread.repliers.contains(&reply.author_id) {
        thread.repliers.push(reply.author_id);
    }
    thread.reply_count = one(
        c,
        "UPDATE messages SET reply_count = reply_count + 1, last_reply_at = ?2, repliers = ?3
         WHERE id = ?1 RETURNING reply_count",
        params![root_id.0, reply.now.0, rows::ids_text(&thread.repliers)],
        |row| row.get(0),
    )
    .map_err(backend)?;
    run(
        c,
        "INSERT OR IGNORE INTO thread_follows (user_id, root_id, conversation_id, following)
         VALUES (?1, ?2, ?3, 1)",
        params![root_author, root_id.0, reply.conversation_id.0],
    )
    .map_err(backend)?;
    for user_id in reply.new_followers() {
        follow(c, reply.conversation_id, root_id, user_id, true)?;
    }
    events::append(
        c,
        reply.conversation_id,
        EventKind::ThreadUpdated { root_id, thread },
        Audience::Members,
        reply.now,
    )
}

pub(crate) fn follow(
    c: &Connection,
    conversation_id: ConversationId,
    root_id: MessageId,
    user_id: UserId,
    following: bool,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO thread_follows (user_id, root_id, conversation_id, following) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, root_id) DO UPDATE SET following = excluded.following",
        params![user_id.0, root_id.0, conversation_id.0, following],
    )
    .map_err(backend)?;
    Ok(())
}

/// Moves the user's checkpoint in a thread forward; reading a thread one does not follow keeps its
/// checkpoint without following it.
pub(crate) fn advance_read(
    c: &Connection,
    conversation_id: ConversationId,
    root_id: MessageId,
    user_id: UserId,
    message_id: MessageId,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO thread_follows (user_id, root_id, conversation_id, following, last_read)
         VALUES (?1, ?2, ?3, 0, ?4)
         ON CONFLICT (user_id, root_id) DO UPDATE SET last_read = max(coalesce(last_read, 0), excluded.last_read)",
        params![user_id.0, root_id.0, conversation_id.0, message_id.0],
    )
    .map_err(backend)?;
    Ok(())
}

/// The threads the user follows in conversations they are still in, newest reply first.
pub(crate) fn followed(
    c: &Connection,
    user_id: UserId,
    limit: u32,
) -> StoreResult<Vec<FollowedThread>> {
    let found = c
        .prepare_cached(&format!(
            "SELECT {}, f.last_read FROM thread_follows f
             JOIN members mb ON mb.conversation_id = f.conversation_id AND mb.user_id = f.user_id
             JOIN messages m ON m.id = f.root_id
             WHERE f.user_id = ?1 AND f.following = 1 AND m.reply_count > 0
             ORDER BY m.last_reply_at DESC, m.id DESC LIMIT ?2",
            rows::MESSAGE_COLUMNS
        ))
        .and_then(|mut s| {
            s.query_map(params![user_id.0, limit], |row| {
                Ok((
                    rows::message(row)?,
                    row.get::<_, Option<i64>>(rows::MESSAGE_COLUMN_COUNT)?
                        .map(MessageId),
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(backend)?;
    let (roots, checkpoints): (Vec<_>, Vec<_>) = found.into_iter().unzip();
    let roots = rows::with_reactions(c, roots)?;
    let mut threads = Vec::with_capacity(roots.len());
    for (root, last_read) in roots.into_iter().zip(checkpoints) {
        let unread_replies = unread_replies(c, root.id, user_id, last_read)?;
        threads.push(FollowedThread {
            root,
            last_read,
            unread_replies,
        });
    }
    Ok(threads)
}

fn unread_replies(
    c: &Connection,
    root_id: MessageId,
    user_id: UserId,
    last_read: Option<MessageId>,
) -> StoreResult<u64> {
    let count: i64 = one(
        c,
        &format!(
            "SELECT count(*) FROM messages m WHERE m.thread_root_id = ?1 AND m.id > ?3
             AND m.author_id <> ?2 AND m.deleted = 0 AND {VISIBLE}"
        ),
        params![root_id.0, user_id.0, last_read.map_or(0, |id| id.0)],
        |row| row.get(0),
    )
    .map_err(backend)?;
    Ok(count.try_into().unwrap_or(0))
}
