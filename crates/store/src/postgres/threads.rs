//! Threads: each reply moves its root's counters and adds followers in the send's transaction; followers
//! keep a read checkpoint per thread.

use deadpool_postgres::GenericClient;
use parley_core::model::{
    Audience, Event, EventKind, FollowedThread, ROOT_REPLIERS, ThreadSummary,
};
use parley_core::store::{StoreError, StoreResult};
use parley_core::{ConversationId, MessageId, UserId};

use super::events;
use super::messages::VISIBLE;
use super::sql::{self, MESSAGE_COLUMN_COUNT, MESSAGE_COLUMNS, get, row, rows, run};
use crate::inputs::NewMessage;

/// Counts a reply on its root and makes the root's author, the replier and whoever the reply mentions
/// follow the thread; returns the root's `thread.updated`.
pub(crate) async fn add_reply(
    c: &impl GenericClient,
    reply: &NewMessage,
    root_id: MessageId,
) -> StoreResult<Event> {
    // The counters and the repliers move in the statement that reads them: a batch's writes run interleaved
    // (`writer.rs`), so replies read apart from their write would each miss the others' repliers.
    let root = row(
        c,
        "UPDATE messages SET reply_count = reply_count + 1, last_reply_at = $3,
             repliers = CASE
                 WHEN $4 = ANY(coalesce(repliers, '{}')) OR cardinality(coalesce(repliers, '{}')) >= $5
                 THEN repliers
                 ELSE array_append(coalesce(repliers, '{}'), $4)
             END
         WHERE id = $1 AND conversation_id = $2
         RETURNING author_id, reply_count, repliers",
        &[
            &root_id.0,
            &reply.conversation_id.0,
            &reply.now.0,
            &reply.author_id.0,
            &i32::try_from(ROOT_REPLIERS).unwrap_or(i32::MAX),
        ],
    )
    .await?
    .ok_or(StoreError::NotFound("message"))?;
    let root_author: i64 = get(&root, 0)?;
    let reply_count: i32 = get(&root, 1)?;
    let repliers: Vec<UserId> = get::<Option<Vec<i64>>>(&root, 2)?
        .unwrap_or_default()
        .into_iter()
        .map(UserId)
        .collect();
    run(
        c,
        "INSERT INTO thread_follows (user_id, root_id, conversation_id, following) VALUES ($1, $2, $3, TRUE)
         ON CONFLICT DO NOTHING",
        &[&root_author, &root_id.0, &reply.conversation_id.0],
    )
    .await?;
    for user_id in reply.new_followers() {
        follow(c, reply.conversation_id, root_id, user_id, true).await?;
    }
    let thread = ThreadSummary {
        reply_count: reply_count.try_into().unwrap_or(0),
        last_reply_at: reply.now,
        repliers,
    };
    events::append(
        c,
        reply.conversation_id,
        EventKind::ThreadUpdated { root_id, thread },
        Audience::Members,
        reply.now,
    )
    .await
}

pub(crate) async fn follow(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    root_id: MessageId,
    user_id: UserId,
    following: bool,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO thread_follows (user_id, root_id, conversation_id, following) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, root_id) DO UPDATE SET following = excluded.following",
        &[&user_id.0, &root_id.0, &conversation_id.0, &following],
    )
    .await?;
    Ok(())
}

/// Moves the user's checkpoint in a thread forward; reading a thread one does not follow keeps its
/// checkpoint without following it.
pub(crate) async fn advance_read(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    root_id: MessageId,
    user_id: UserId,
    message_id: MessageId,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO thread_follows (user_id, root_id, conversation_id, following, last_read)
         VALUES ($1, $2, $3, FALSE, $4)
         ON CONFLICT (user_id, root_id) DO UPDATE
         SET last_read = greatest(coalesce(thread_follows.last_read, 0), excluded.last_read)",
        &[&user_id.0, &root_id.0, &conversation_id.0, &message_id.0],
    )
    .await?;
    Ok(())
}

/// The threads the user follows in conversations they are still in, newest reply first.
pub(crate) async fn followed(
    c: &impl GenericClient,
    user_id: UserId,
    limit: u32,
) -> StoreResult<Vec<FollowedThread>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, f.last_read FROM thread_follows f
         JOIN members mb ON mb.conversation_id = f.conversation_id AND mb.user_id = f.user_id
         JOIN messages m ON m.id = f.root_id
         WHERE f.user_id = $1 AND f.following AND m.reply_count > 0
         ORDER BY m.last_reply_at DESC, m.id DESC LIMIT $2"
    );
    let found = rows(c, &sql, &[&user_id.0, &i64::from(limit)]).await?;
    let roots = sql::with_reactions(c, sql::messages(&found)?).await?;
    let mut threads = Vec::with_capacity(roots.len());
    for (root, r) in roots.into_iter().zip(&found) {
        let last_read = get::<Option<i64>>(r, MESSAGE_COLUMN_COUNT)?.map(MessageId);
        let unread_replies = unread_replies(c, root.id, user_id, last_read).await?;
        threads.push(FollowedThread {
            root,
            last_read,
            unread_replies,
        });
    }
    Ok(threads)
}

async fn unread_replies(
    c: &impl GenericClient,
    root_id: MessageId,
    user_id: UserId,
    last_read: Option<MessageId>,
) -> StoreResult<u64> {
    let sql = format!(
        "SELECT count(*) FROM messages m WHERE m.thread_root_id = $1 AND m.id > $3
         AND m.author_id <> $2 AND NOT m.deleted AND {VISIBLE}"
    );
    let last_read = last_read.map_or(0, |id| id.0);
    let found = row(c, &sql, &[&root_id.0, &user_id.0, &last_read]).await?;
    let count: i64 = match &found {
        Some(r) => get(r, 0)?,
        None => 0,
    };
    Ok(count.try_into().unwrap_or(0))
}
