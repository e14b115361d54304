//! Messages, reactions, read checkpoints and full-text search.

use parley_core::model::{Audience, Event, EventKind, Member, Message, Millis, Page};
use parley_core::store::{Sent, StoreError, StoreResult};
use parley_core::{ConversationId, MessageId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::connection::backend;
use super::rows::{self, MESSAGE_COLUMNS, one, run};
use super::{events, files, mentions, threads};
use crate::inputs::NewMessage;
use crate::like::words_pattern;

/// Messages the viewer has not hidden for themselves.
pub(crate) const VISIBLE: &str =
    "NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = ?2 AND h.message_id = m.id)";

pub(crate) fn create(c: &Connection, new: &NewMessage) -> StoreResult<Sent> {
    if let Some(nonce) = &new.nonce {
        let earlier = one(
            c,
            "SELECT id FROM messages WHERE conversation_id = ?1 AND author_id = ?2 AND nonce = ?3",
            params![new.conversation_id.0, new.author_id.0, nonce],
            |row| row.get::<_, i64>(0),
        )
        .optional()
        .map_err(backend)?;
        if let Some(id) = earlier {
            let message = rows::message_by_id(c, new.conversation_id, MessageId(id))?
                .ok_or(StoreError::NotFound("message"))?;
            return Ok(Sent::Duplicate(message));
        }
    }
    // Checked before anything changes: a refusal must change nothing (`connection.rs`).
    if let Some(extras) = &new.extras {
        files::check_attachable(c, new.author_id, &extras.attachments)?;
    }
    match &new.extras {
        None => c
            .prepare_cached(
                "INSERT INTO messages (conversation_id, author_id, text, nonce, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![new.conversation_id.0, new.author_id.0, new.text, new.nonce, new.now.0])),
        Some(extras) => c
            .prepare_cached(
                "INSERT INTO messages (conversation_id, author_id, text, nonce, created_at, thread_root_id,
                     also_to_conversation, mention_ids, mention_channel, mention_here, quote_conversation_id,
                     quote_message_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    new.conversation_id.0,
                    new.author_id.0,
                    new.text,
                    new.nonce,
                    new.now.0,
                    extras.thread_root_id.map(|id| id.0),
                    extras.also_to_conversation,
                    rows::ids_text(&extras.mentions.user_ids),
                    extras.mentions.channel,
                    extras.mentions.here,
                    extras.quote.map(|q| q.conversation_id.0),
                    extras.quote.map(|q| q.message_id.0),
                ])
            }),
    }
    .map_err(backend)?;
    let id = MessageId(c.last_insert_rowid());
    c.prepare_cached("UPDATE conversations SET last_activity = ?2 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![new.conversation_id.0, new.now.0]))
        .map_err(backend)?;
    let message = new.stored(id);
    let mut events = vec![events::append(
        c,
        new.conversation_id,
        EventKind::MessageCreated(message.clone()),
        Audience::Members,
        new.now,
    )?];
    if let Some(extras) = &new.extras {
        files::attach(
            c,
            id,
            new.conversation_id,
            new.author_id,
            &extras.attachments,
        )?;
        mentions::index(c, &message, &extras.mentions.user_ids)?;
        if let Some(root_id) = extras.thread_root_id {
            events.push(threads::add_reply(c, new, root_id)?);
        }
    }
    Ok(Sent::Stored(message, events))
}

pub(crate) fn add_reaction(
    c: &Connection,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    emoji: &str,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let added = run(c,
            "INSERT OR IGNORE INTO reactions (message_id, emoji, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![message_id.0, emoji, user_id.0, now.0],
        )
        .map_err(backend)?;
    if added == 0 {
        return Ok(None);
    }
    let kind = EventKind::ReactionAdded {
        message_id,
        user_id,
        emoji: emoji.to_owned(),
    };
    events::append(c, conversation_id, kind, Audience::Members, now).map(Some)
}

/// Which messages of a conversation a page is read from.
#[derive(Clone, Copy)]
pub(crate) enum Scope {
    /// The main history: messages that are not replies, and replies also sent to the conversation.
    Main,
    /// The replies of one thread.
    Thread(MessageId),
}

/// The main history, as its pages and counts read it.
pub(crate) const IN_MAIN: &str = "(m.thread_root_id IS NULL OR m.also_to_conversation = 1)";

pub(crate) fn page(
    c: &Connection,
    conversation_id: ConversationId,
    viewer: UserId,
    scope: Scope,
    page: Page,
) -> StoreResult<Vec<Message>> {
    if let Page::Around { id, limit } = page {
        // The message itself and the older half, then the newer half.
        let older = Page::Before {
            id: MessageId(id.0.saturating_add(1)),
            limit: limit - limit / 2,
        };
        let mut messages = self::page(c, conversation_id, viewer, scope, older)?;
        if limit / 2 > 0 {
            let newer = Page::After {
                id,
                limit: limit / 2,
            };
            messages.extend(self::page(c, conversation_id, viewer, scope, newer)?);
        }
        return Ok(messages);
    }
    let mut args: Vec<i64> = vec![conversation_id.0, viewer.0];
    let mut arg = |value: i64| {
        args.push(value);
        format!("?{}", args.len())
    };
    let within = match scope {
        Scope::Main => IN_MAIN.to_owned(),
        Scope::Thread(root) => format!("m.thread_root_id = {}", arg(root.0)),
    };
    // Pages that end at a bound are read newest first and turned around, so they hold the closest messages.
    let (bounds, limit, newest_first) = match page {
        Page::Latest { limit } | Page::Around { limit, .. } => (String::new(), limit, true),
        Page::Before { id, limit } => (format!("AND m.id < {}", arg(id.0)), limit, true),
        Page::After { id, limit } => (format!("AND m.id > {}", arg(id.0)), limit, false),
        Page::Between {
            after,
            before,
            limit,
        } => (
            format!("AND m.id > {} AND m.id < {}", arg(after.0), arg(before.0)),
            limit,
            false,
        ),
    };
    let order = if newest_first { "DESC" } else { "ASC" };
    let limit = arg(i64::from(limit));
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 AND {VISIBLE} AND {within}
         {bounds} ORDER BY m.id {order} LIMIT {limit}"
    );
    let found = c
        .prepare_cached(&sql)
        .and_then(|mut statement| {
            statement
                .query_map(rusqlite::params_from_iter(&args), rows::message)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(backend)?;
    let mut messages = rows::with_reactions(c, found)?;
    if newest_first {
        messages.reverse();
    }
    Ok(messages)
}

/// Messages after the member's checkpoint, by others, not deleted or hidden.
pub(crate) fn unread_count(c: &Connection, member: &Member) -> StoreResult<u64> {
    let count: i64 = c
        .prepare_cached(&format!(
            "SELECT count(*) FROM messages m WHERE m.conversation_id = ?1 AND m.id > ?3
             AND m.author_id <> ?2 AND m.deleted = 0 AND {IN_MAIN} AND {VISIBLE}"
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

pub(crate) fn latest_visible(
    c: &Connection,
    conversation_id: ConversationId,
    viewer: UserId,
) -> StoreResult<Option<Message>> {
    Ok(page(
        c,
        conversation_id,
        viewer,
        Scope::Main,
        Page::Latest { limit: 1 },
    )?
    .pop())
}

pub(crate) fn receipts(
    c: &Connection,
    conversation_id: ConversationId,
) -> StoreResult<Vec<(UserId, MessageId)>> {
    let mut statement = c
        .prepare_cached(
            "SELECT user_id, last_read FROM members WHERE conversation_id = ?1 AND last_read IS NOT NULL
             ORDER BY last_read DESC, user_id",
        )
        .map_err(backend)?;
    let receipts = statement
        .query_map([conversation_id.0], |row| {
            Ok((UserId(row.get(0)?), MessageId(row.get(1)?)))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(receipts)
}

/// Turns the user's words into an FTS5 query that can only mean "all of these words": each word becomes a
/// quoted string (quotes doubled), so operators, columns and parentheses in the input are plain text.
/// The last word also matches as a prefix, for search as you type.
fn fts_query(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    let mut query = words.join(" ");
    if !query.is_empty() {
        query.push('*');
    }
    query
}

/// Indexes for search every message stored since the last time, in the transaction about to commit: the
/// writer's deferred work (`connection.rs`), so one FTS5 statement and one index segment for every batch
/// committed within `DEFERRED_LAG`, and a search (`SqliteStore::search_messages`) has it run first.
pub(crate) fn index_new(c: &Connection) -> rusqlite::Result<()> {
    let indexed = run(
        c,
        "INSERT INTO messages_fts (rowid, text)
         SELECT id, text FROM messages
         WHERE id > (SELECT message_id FROM search_indexed) AND text IS NOT NULL",
        [],
    )?;
    if indexed > 0 {
        run(
            c,
            "UPDATE search_indexed SET message_id = (SELECT max(id) FROM messages)",
            [],
        )?;
    }
    Ok(())
}

pub(crate) fn search(
    c: &Connection,
    viewer: UserId,
    text: &str,
    conversation_id: Option<ConversationId>,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let query = fts_query(text);
    if query.is_empty() {
        return Ok(Vec::new());
    }
    // The words in the text, or in the name of a file the message carries.
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m
             WHERE m.id IN (
                 SELECT id FROM (
                     SELECT f.rowid AS id FROM messages_fts f
                     JOIN messages m ON m.id = f.rowid
                     JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = ?2
                     WHERE messages_fts MATCH ?1 AND {VISIBLE} AND (?3 IS NULL OR m.conversation_id = ?3)
                     ORDER BY f.rowid DESC LIMIT ?4)
                 UNION
                 SELECT id FROM (
                     SELECT fl.message_id AS id FROM files fl
                     JOIN members mb ON mb.conversation_id = fl.conversation_id AND mb.user_id = ?2
                     WHERE fl.state = 2 AND fl.name LIKE ?5 ESCAPE '\\'
                     AND (?3 IS NULL OR fl.conversation_id = ?3)
                     ORDER BY fl.message_id DESC LIMIT ?4))
             AND m.deleted = 0 AND {VISIBLE}
             ORDER BY m.id DESC LIMIT ?4"
        ))
        .map_err(backend)?;
    let found = statement
        .query_map(
            params![
                query,
                viewer.0,
                conversation_id.map(|c| c.0),
                limit,
                words_pattern(text)
            ],
            rows::message,
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    rows::with_reactions(c, found)
}

pub(crate) fn advance_read(
    c: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
    message_id: MessageId,
    audience: Audience,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let moved = run(
        c,
        "UPDATE members SET last_read = ?3
             WHERE conversation_id = ?1 AND user_id = ?2 AND (last_read IS NULL OR last_read < ?3)",
        params![conversation_id.0, user_id.0, message_id.0],
    )
    .map_err(backend)?;
    if moved == 0 {
        return Ok(None);
    }
    events::append(
        c,
        conversation_id,
        EventKind::ReadUpdated {
            user_id,
            message_id,
        },
        audience,
        now,
    )
    .map(Some)
}

/// Erases the text, its earlier versions, mentions, pin and reactions, keeping a tombstone so history and replays show "deleted". The FTS
/// trigger removes the index entry (FTS5 secure-delete, so the words leave the index itself) and
/// `PRAGMA secure_delete` zeroes the freed bytes: the text is nowhere in the file afterwards.
pub(crate) fn erase(
    c: &Connection,
    conversation_id: ConversationId,
    message_id: MessageId,
    by_moderator: bool,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let erased = run(c,
            "UPDATE messages SET text = NULL, deleted = 1, mention_ids = NULL, mention_channel = 0, mention_here = 0,
                                 removed_by_moderator = ?3
             WHERE id = ?1 AND conversation_id = ?2 AND deleted = 0",
            params![message_id.0, conversation_id.0, by_moderator],
        )
        .map_err(backend)?;
    if erased == 0 {
        return Ok(None);
    }
    for sql in [
        "DELETE FROM reactions WHERE message_id = ?1",
        "DELETE FROM message_edits WHERE message_id = ?1",
        "DELETE FROM mentions WHERE message_id = ?1",
        "DELETE FROM pins WHERE message_id = ?1",
        // A push on its way may carry a preview of the text.
        "DELETE FROM push_deliveries WHERE message_id = ?1",
        "DELETE FROM notify_pending WHERE message_id = ?1",
    ] {
        run(c, sql, [message_id.0]).map_err(backend)?;
    }
    files::erase_of_message(c, message_id)?;
    events::append(
        c,
        conversation_id,
        EventKind::MessageDeleted {
            message_id,
            removed_by_moderator: by_moderator,
        },
        Audience::Members,
        now,
    )
    .map(Some)
}

pub(crate) fn hide(
    c: &Connection,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let hidden = run(
        c,
        "INSERT OR IGNORE INTO hidden_messages (user_id, message_id) VALUES (?1, ?2)",
        params![user_id.0, message_id.0],
    )
    .map_err(backend)?;
    if hidden == 0 {
        return Ok(None);
    }
    events::append(
        c,
        conversation_id,
        EventKind::MessageHidden {
            message_id,
            user_id,
        },
        Audience::User(user_id),
        now,
    )
    .map(Some)
}

pub(crate) fn remove_reaction(
    c: &Connection,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    emoji: &str,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let removed = run(
        c,
        "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3",
        params![message_id.0, emoji, user_id.0],
    )
    .map_err(backend)?;
    if removed == 0 {
        return Ok(None);
    }
    let kind = EventKind::ReactionRemoved {
        message_id,
        user_id,
        emoji: emoji.to_owned(),
    };
    events::append(c, conversation_id, kind, Audience::Members, now).map(Some)
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn search_text_never_becomes_fts_syntax() {
        assert_eq!(fts_query("hello wor"), "\"hello\" \"wor\"*");
        assert_eq!(fts_query("a\"b OR c*"), "\"a\"\"b\" \"OR\" \"c*\"*");
        assert_eq!(fts_query("   "), "");
    }
}
