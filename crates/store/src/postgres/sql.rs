//! Statement helpers (every statement through the connection's statement cache), error mapping, and rows to
//! domain types, with the column lists those mappings expect.

use deadpool_postgres::GenericClient;
use parley_core::model::{Conversation, Member, Message, Millis, Reaction, ThreadSummary, User};
use parley_core::proto::v1::{ChannelRole, ConversationKind, Mentions, QuoteRef, Role};
use parley_core::store::{StoreError, StoreResult};
use parley_core::{ConversationId, MessageId, OrgId, UserId};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A write's statement that always returns a row returned none. A backend failure, not `NotFound`: the
/// write may have changed something already, and only a backend failure makes the writer undo it
/// (`writer.rs`).
pub(crate) fn vanished(what: &'static str) -> StoreError {
    backend(NoRow(what))
}

#[derive(Debug, thiserror::Error)]
#[error("the statement writing the {0} returned no row")]
struct NoRow(&'static str);

pub(crate) async fn rows(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Vec<Row>> {
    let statement = c.prepare_cached(sql).await.map_err(backend)?;
    c.query(&statement, params).await.map_err(backend)
}

pub(crate) async fn row(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Option<Row>> {
    let statement = c.prepare_cached(sql).await.map_err(backend)?;
    c.query_opt(&statement, params).await.map_err(backend)
}

/// Runs a statement without rows; returns how many rows it changed.
pub(crate) async fn run(c: &impl GenericClient, sql: &str, params: Params<'_>) -> StoreResult<u64> {
    let statement = c.prepare_cached(sql).await.map_err(backend)?;
    c.execute(&statement, params).await.map_err(backend)
}

pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
) -> StoreResult<T> {
    row.try_get(index).map_err(backend)
}

/// Columns of `USERS`, as `user` reads them.
pub(crate) const USER_COLUMNS: &str = "u.id, u.org_id, o.handle, u.username, u.name, u.email, u.avatar_version, \
     u.last_seen, u.created_at, u.role, u.deactivated_at";
/// Where the columns after `USER_COLUMNS` start.
pub(crate) const USER_COLUMN_COUNT: usize = 11;
/// Users with their org, whose handle a `User` carries.
pub(crate) const USERS: &str = "users u JOIN orgs o ON o.id = u.org_id";

pub(crate) fn user(row: &Row) -> StoreResult<User> {
    Ok(User {
        id: UserId(get(row, 0)?),
        org_id: OrgId(get(row, 1)?),
        org_handle: get(row, 2)?,
        username: get(row, 3)?,
        name: get(row, 4)?,
        email: get(row, 5)?,
        avatar_version: get(row, 6)?,
        last_seen: get::<Option<i64>>(row, 7)?.map(Millis),
        created_at: Millis(get(row, 8)?),
        // The schema's CHECK keeps it one of the four.
        role: Role::parse(get(row, 9)?).unwrap_or(Role::Member),
        deactivated_at: get::<Option<i64>>(row, 10)?.map(Millis),
    })
}

pub(crate) async fn user_by_id(c: &impl GenericClient, id: UserId) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM {USERS} WHERE u.id = $1");
    row(c, &sql, &[&id.0]).await?.as_ref().map(user).transpose()
}

pub(crate) const CONVERSATION_COLUMNS: &str = "c.id, c.org_id, c.kind, c.name, c.handle, c.topic, c.private, \
     c.created_by, c.created_at, c.member_count, c.archived, c.retention_days";
/// Where the columns after `CONVERSATION_COLUMNS` start.
pub(crate) const CONVERSATION_COLUMN_COUNT: usize = 12;

pub(crate) fn conversation(row: &Row) -> StoreResult<Conversation> {
    let kind: &str = get(row, 2)?;
    Ok(Conversation {
        id: ConversationId(get(row, 0)?),
        org_id: OrgId(get(row, 1)?),
        kind: match kind {
            "dm" => ConversationKind::Dm,
            "group" => ConversationKind::Group,
            _ => ConversationKind::Channel,
        },
        name: get(row, 3)?,
        handle: get(row, 4)?,
        topic: get(row, 5)?,
        private: get(row, 6)?,
        created_by: UserId(get(row, 7)?),
        created_at: Millis(get(row, 8)?),
        member_count: get::<i64>(row, 9)?.try_into().unwrap_or(0),
        archived: get(row, 10)?,
        retention_days: get::<Option<i32>>(row, 11)?.and_then(|d| u32::try_from(d).ok()),
    })
}

pub(crate) fn kind_name(kind: ConversationKind) -> &'static str {
    match kind {
        ConversationKind::Dm => "dm",
        ConversationKind::Group => "group",
        ConversationKind::Channel => "channel",
    }
}

pub(crate) async fn conversation_by_id(
    c: &impl GenericClient,
    id: ConversationId,
) -> StoreResult<Option<Conversation>> {
    let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1");
    row(c, &sql, &[&id.0])
        .await?
        .as_ref()
        .map(conversation)
        .transpose()
}

/// Columns of `members m`, after the conversation's.
pub(crate) const MEMBER_COLUMNS: &str =
    "m.conversation_id, m.user_id, m.muted, m.notify_always, m.last_read, m.joined_at, m.role";

pub(crate) fn member_at(row: &Row, start: usize) -> StoreResult<Member> {
    Ok(Member {
        conversation_id: ConversationId(get(row, start)?),
        user_id: UserId(get(row, start + 1)?),
        muted: get(row, start + 2)?,
        notify_always: get(row, start + 3)?,
        last_read: get::<Option<i64>>(row, start + 4)?.map(MessageId),
        joined_at: Millis(get(row, start + 5)?),
        // The schema's CHECK keeps it one of the three.
        role: ChannelRole::parse(get(row, start + 6)?).unwrap_or(ChannelRole::Member),
    })
}

pub(crate) async fn membership(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_id: UserId,
) -> StoreResult<Option<Member>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM members m WHERE m.conversation_id = $1 AND m.user_id = $2"
    );
    row(c, &sql, &[&conversation_id.0, &user_id.0])
        .await?
        .map(|row| member_at(&row, 0))
        .transpose()
}

/// One round trip for what `conversation_by_id` and `membership` answer.
pub(crate) async fn conversation_and_membership(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_id: UserId,
) -> StoreResult<Option<(Conversation, Option<Member>)>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS}, {MEMBER_COLUMNS} FROM conversations c
         LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = $2
         WHERE c.id = $1"
    );
    let Some(found) = row(c, &sql, &[&conversation_id.0, &user_id.0]).await? else {
        return Ok(None);
    };
    let member = match get::<Option<i64>>(&found, CONVERSATION_COLUMN_COUNT)? {
        Some(_) => Some(member_at(&found, CONVERSATION_COLUMN_COUNT)?),
        None => None,
    };
    Ok(Some((conversation(&found)?, member)))
}

pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.author_id, m.text, m.nonce, m.created_at, \
     m.deleted, m.edited_at, m.thread_root_id, m.also_to_conversation, m.mention_ids, m.mention_channel, \
     m.mention_here, m.quote_conversation_id, m.quote_message_id, m.reply_count, m.last_reply_at, m.repliers, \
     m.removed_by_moderator";
/// How many columns `MESSAGE_COLUMNS` has: where the columns after them start.
pub(crate) const MESSAGE_COLUMN_COUNT: usize = 19;

/// A message without its reactions; `with_reactions` fills them in.
pub(crate) fn message(row: &Row) -> StoreResult<Message> {
    let quote = match (get::<Option<i64>>(row, 13)?, get::<Option<i64>>(row, 14)?) {
        (Some(conversation_id), Some(message_id)) => Some(QuoteRef {
            conversation_id: ConversationId(conversation_id),
            message_id: MessageId(message_id),
        }),
        _ => None,
    };
    let reply_count: i32 = get(row, 15)?;
    let thread = match get::<Option<i64>>(row, 16)? {
        Some(last_reply_at) if reply_count > 0 => Some(ThreadSummary {
            reply_count: reply_count.try_into().unwrap_or(0),
            last_reply_at: Millis(last_reply_at),
            repliers: user_ids(get(row, 17)?),
        }),
        _ => None,
    };
    Ok(Message {
        id: MessageId(get(row, 0)?),
        conversation_id: ConversationId(get(row, 1)?),
        author_id: UserId(get(row, 2)?),
        text: get(row, 3)?,
        nonce: get(row, 4)?,
        created_at: Millis(get(row, 5)?),
        deleted: get(row, 6)?,
        removed_by_moderator: get(row, 18)?,
        reactions: Vec::new(),
        edited_at: get::<Option<i64>>(row, 7)?.map(Millis),
        thread_root_id: get::<Option<i64>>(row, 8)?.map(MessageId),
        also_to_conversation: get(row, 9)?,
        mentions: Mentions {
            user_ids: user_ids(get(row, 10)?),
            channel: get(row, 11)?,
            here: get(row, 12)?,
        },
        quote,
        thread,
        attachments: Vec::new(),
    })
}

fn user_ids(ids: Option<Vec<i64>>) -> Vec<UserId> {
    ids.unwrap_or_default().into_iter().map(UserId).collect()
}

/// User ids as an array column holds them (`None` for none).
pub(crate) fn ids_array(ids: &[UserId]) -> Option<Vec<i64>> {
    (!ids.is_empty()).then(|| ids.iter().map(|id| id.0).collect())
}

pub(crate) fn messages(rows: &[Row]) -> StoreResult<Vec<Message>> {
    rows.iter().map(message).collect()
}

/// Loads the reactions and attachments of a page of messages, in a query each.
pub(crate) async fn with_reactions(
    c: &impl GenericClient,
    mut messages: Vec<Message>,
) -> StoreResult<Vec<Message>> {
    if messages.is_empty() {
        return Ok(messages);
    }
    let ids: Vec<i64> = messages.iter().map(|m| m.id.0).collect();
    let found = rows(
        c,
        "SELECT message_id, emoji, user_id FROM reactions WHERE message_id = ANY($1)
         ORDER BY message_id, emoji, created_at, user_id",
        &[&ids],
    )
    .await?;
    for row in &found {
        let (message_id, emoji, user_id) = (
            MessageId(get(row, 0)?),
            get::<String>(row, 1)?,
            UserId(get(row, 2)?),
        );
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
    super::files::with_attachments(c, &mut messages).await?;
    Ok(messages)
}

pub(crate) async fn message_by_id(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    id: MessageId,
) -> StoreResult<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1 AND m.conversation_id = $2"
    );
    let found = row(c, &sql, &[&id.0, &conversation_id.0]).await?;
    let found = found.as_ref().map(message).transpose()?;
    Ok(with_reactions(c, found.into_iter().collect()).await?.pop())
}

/// The messages with these ids (with their reactions), in two queries whatever the number.
pub(crate) async fn messages_by_ids(
    c: &impl GenericClient,
    ids: &[MessageId],
) -> StoreResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ANY($1)");
    let found = messages(&rows(c, &sql, &[&ids]).await?)?;
    with_reactions(c, found).await
}
