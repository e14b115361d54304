//! Row to domain type mapping, and the column lists those mappings expect.

use parley_core::model::{Conversation, Member, Message, Millis, Reaction, ThreadSummary, User};
use parley_core::proto::v1::{ChannelRole, ConversationKind, Mentions, QuoteRef, Role};
use parley_core::{ConversationId, MessageId, OrgId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::connection::backend;
pub(crate) use crate::like::like_escape;
use parley_core::store::StoreResult;

/// Columns of `USERS`, as `user` reads them.
pub(crate) const USER_COLUMNS: &str = "u.id, u.org_id, o.handle, u.username, u.name, u.email, u.avatar_version, \
     u.last_seen, u.created_at, u.role, u.deactivated_at";
/// Where the columns after `USER_COLUMNS` start.
pub(crate) const USER_COLUMN_COUNT: usize = 11;
/// Users with their org, whose handle a `User` carries.
pub(crate) const USERS: &str = "users u JOIN orgs o ON o.id = u.org_id";

pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(row.get(0)?),
        org_id: OrgId(row.get(1)?),
        org_handle: row.get(2)?,
        username: row.get(3)?,
        name: row.get(4)?,
        email: row.get(5)?,
        avatar_version: row.get(6)?,
        last_seen: row.get::<_, Option<i64>>(7)?.map(Millis),
        created_at: Millis(row.get(8)?),
        role: role(&row.get::<_, String>(9)?),
        deactivated_at: row.get::<_, Option<i64>>(10)?.map(Millis),
    })
}

/// A stored channel role; the schema's CHECK keeps it one of the three.
pub(crate) fn channel_role(text: &str) -> ChannelRole {
    ChannelRole::parse(text).unwrap_or(ChannelRole::Member)
}

/// A stored role; the schema's CHECK keeps it one of the four.
pub(crate) fn role(text: &str) -> Role {
    Role::parse(text).unwrap_or(Role::Member)
}

pub(crate) fn user_by_id(c: &Connection, id: UserId) -> StoreResult<Option<User>> {
    one(
        c,
        &format!("SELECT {USER_COLUMNS} FROM {USERS} WHERE u.id = ?1"),
        [id.0],
        user,
    )
    .optional()
    .map_err(backend)
}

pub(crate) const CONVERSATION_COLUMNS: &str = "c.id, c.org_id, c.kind, c.name, c.handle, c.topic, c.private, c.created_by, c.created_at, c.member_count, c.archived, c.retention_days";
/// Where the columns after `CONVERSATION_COLUMNS` start.
pub(crate) const CONVERSATION_COLUMN_COUNT: usize = 12;

pub(crate) fn conversation(row: &Row<'_>) -> rusqlite::Result<Conversation> {
    let kind: String = row.get(2)?;
    Ok(Conversation {
        id: ConversationId(row.get(0)?),
        org_id: OrgId(row.get(1)?),
        kind: match kind.as_str() {
            "dm" => ConversationKind::Dm,
            "group" => ConversationKind::Group,
            _ => ConversationKind::Channel,
        },
        name: row.get(3)?,
        handle: row.get(4)?,
        topic: row.get(5)?,
        private: row.get(6)?,
        created_by: UserId(row.get(7)?),
        created_at: Millis(row.get(8)?),
        member_count: row.get::<_, i64>(9)?.try_into().unwrap_or(0),
        archived: row.get(10)?,
        retention_days: row.get(11)?,
    })
}

pub(crate) fn kind_name(kind: ConversationKind) -> &'static str {
    match kind {
        ConversationKind::Dm => "dm",
        ConversationKind::Group => "group",
        ConversationKind::Channel => "channel",
    }
}

pub(crate) fn conversation_by_id(
    c: &Connection,
    id: ConversationId,
) -> StoreResult<Option<Conversation>> {
    one(
        c,
        &format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?1"),
        [id.0],
        conversation,
    )
    .optional()
    .map_err(backend)
}

/// Columns of `members m`, after the conversation's.
pub(crate) const MEMBER_COLUMNS: &str =
    "m.conversation_id, m.user_id, m.muted, m.notify_always, m.last_read, m.joined_at, m.role";

pub(crate) fn member_at(row: &Row<'_>, start: usize) -> rusqlite::Result<Member> {
    Ok(Member {
        conversation_id: ConversationId(row.get(start)?),
        user_id: UserId(row.get(start + 1)?),
        muted: row.get(start + 2)?,
        notify_always: row.get(start + 3)?,
        last_read: row.get::<_, Option<i64>>(start + 4)?.map(MessageId),
        joined_at: Millis(row.get(start + 5)?),
        role: channel_role(&row.get::<_, String>(start + 6)?),
    })
}

pub(crate) fn membership(
    c: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
) -> StoreResult<Option<Member>> {
    one(
        c,
        &format!(
            "SELECT {MEMBER_COLUMNS} FROM members m WHERE m.conversation_id = ?1 AND m.user_id = ?2"
        ),
        params![conversation_id.0, user_id.0],
        |row| member_at(row, 0),
    )
    .optional()
    .map_err(backend)
}

pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.author_id, m.text, m.nonce, m.created_at, \
     m.deleted, m.edited_at, m.thread_root_id, m.also_to_conversation, m.mention_ids, m.mention_channel, \
     m.mention_here, m.quote_conversation_id, m.quote_message_id, m.reply_count, m.last_reply_at, m.repliers, \
     m.removed_by_moderator";

/// How many columns `MESSAGE_COLUMNS` has: where the columns after them start.
pub(crate) const MESSAGE_COLUMN_COUNT: usize = 19;

/// A message without its reactions; `with_reactions` fills them in.
pub(crate) fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    let quote = match (
        row.get::<_, Option<i64>>(13)?,
        row.get::<_, Option<i64>>(14)?,
    ) {
        (Some(conversation_id), Some(message_id)) => Some(QuoteRef {
            conversation_id: ConversationId(conversation_id),
            message_id: MessageId(message_id),
        }),
        _ => None,
    };
    let reply_count: u32 = row.get(15)?;
    let thread = match row.get::<_, Option<i64>>(16)? {
        Some(last_reply_at) if reply_count > 0 => Some(ThreadSummary {
            reply_count,
            last_reply_at: Millis(last_reply_at),
            repliers: ids(row.get::<_, Option<String>>(17)?.as_deref()),
        }),
        _ => None,
    };
    Ok(Message {
        id: MessageId(row.get(0)?),
        conversation_id: ConversationId(row.get(1)?),
        author_id: UserId(row.get(2)?),
        text: row.get(3)?,
        nonce: row.get(4)?,
        created_at: Millis(row.get(5)?),
        deleted: row.get(6)?,
        removed_by_moderator: row.get(18)?,
        reactions: Vec::new(),
        edited_at: row.get::<_, Option<i64>>(7)?.map(Millis),
        thread_root_id: row.get::<_, Option<i64>>(8)?.map(MessageId),
        also_to_conversation: row.get(9)?,
        mentions: Mentions {
            user_ids: ids(row.get::<_, Option<String>>(10)?.as_deref()),
            channel: row.get(11)?,
            here: row.get(12)?,
        },
        quote,
        thread,
        attachments: Vec::new(),
    })
}

/// User ids kept as "1,2,3" (mentions, repliers).
pub(crate) fn ids_text(ids: &[UserId]) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let ids: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
    Some(ids.join(","))
}

pub(crate) fn ids(text: Option<&str>) -> Vec<UserId> {
    text.map(|t| {
        t.split(',')
            .filter_map(|id| id.parse().ok())
            .map(UserId)
            .collect()
    })
    .unwrap_or_default()
}

/// Loads the reactions and attachments of a page of messages, in a query each.
pub(crate) fn with_reactions(
    c: &Connection,
    mut messages: Vec<Message>,
) -> StoreResult<Vec<Message>> {
    if messages.is_empty() {
        return Ok(messages);
    }
    let ids: Vec<String> = messages.iter().map(|m| m.id.0.to_string()).collect();
    let ids = format!("[{}]", ids.join(","));
    let mut statement = c
        .prepare_cached(
            "SELECT message_id, emoji, user_id FROM reactions
             WHERE message_id IN (SELECT value FROM json_each(?1))
             ORDER BY message_id, emoji, created_at, user_id",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map([ids], |row| {
            Ok((
                MessageId(row.get(0)?),
                row.get::<_, String>(1)?,
                UserId(row.get(2)?),
            ))
        })
        .map_err(backend)?;
    for row in rows {
        let (message_id, emoji, user_id) = row.map_err(backend)?;
        let Some(message) = messages.iter_mut().find(|m| m.id == message_id) else {
            continue;
        };
        match message.reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) => reaction.user_ids.push(user_id),
            None => message.reactions.push(Reaction {
                emoji,
                user_ids: vec![user_id],
            }),
        }
    }
    super::files::with_attachments(c, &mut messages)?;
    Ok(messages)
}

pub(crate) fn message_by_id(
    c: &Connection,
    conversation_id: ConversationId,
    id: MessageId,
) -> StoreResult<Option<Message>> {
    let found = one(
        c,
        &format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?1 AND m.conversation_id = ?2"
        ),
        params![id.0, conversation_id.0],
        message,
    )
    .optional()
    .map_err(backend)?;
    Ok(with_reactions(c, found.into_iter().collect())?.pop())
}

/// The messages with these ids (with their reactions), in two queries whatever the number.
pub(crate) fn messages_by_ids(c: &Connection, ids: &[MessageId]) -> StoreResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
    let found = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id IN (SELECT value FROM json_each(?1))"
        ))
        .and_then(|mut statement| {
            statement
                .query_map([format!("[{}]", ids.join(","))], message)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(backend)?;
    with_reactions(c, found)
}

/// A one-row query through the connection's statement cache: hot statements are parsed once, not per call
/// (a profile of sends showed SQL parsing among the top costs before).
pub(crate) fn one<T, P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
    row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(params, row)
}

/// A statement without rows, through the statement cache; returns the number of rows changed.
pub(crate) fn run<P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}
