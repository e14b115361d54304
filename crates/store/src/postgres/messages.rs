//! Messages, reactions, read checkpoints and full-text search.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use parley_core::model::{Audience, Event, EventKind, Member, Message, Millis, Page};
use parley_core::store::{Sent, StoreError, StoreResult};
use parley_core::{ConversationId, Cursor, MessageId, UserId};

use super::sql::{self, MESSAGE_COLUMNS, get, row, rows, run};
use super::{events, mentions, threads};
use crate::inputs::NewMessage;

/// Messages the viewer has not hidden for themselves.
pub(crate) const VISIBLE: &str =
    "NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $2 AND h.message_id = m.id)";

/// Stores a message and its event in one statement (one round trip on the writer's hot path), unless the
/// author already sent this nonce here. The nonce is checked in the statement that writes, so a retry
/// answers the earlier message without a unique violation (which would abort the batch's transaction).
/// The conversation's `last_activity` is moved once per batch (`touch_conversations`), not here: one row
/// updated by every message of a busy conversation made a chain of row versions that each later update
/// walked.
pub(crate) async fn create(c: &impl GenericClient, new: &NewMessage) -> StoreResult<Sent> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &new.conversation_id.0,
        &new.author_id.0,
        &new.text,
        &new.nonce,
        &new.now.0,
    ];
    let stored = match &new.extras {
        None => row(
            c,
            "WITH earlier AS (
                 SELECT id FROM messages WHERE conversation_id = $1 AND author_id = $2 AND nonce = $4
             ), m AS (
                 INSERT INTO messages (conversation_id, author_id, text, nonce, created_at)
                 SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM earlier)
                 RETURNING id
             ), e AS (
                 INSERT INTO events (conversation_id, kind, user_id, message_id, created_at)
                 SELECT $1, 'message.created', $2, m.id, $5 FROM m
                 RETURNING cursor, message_id
             )
             SELECT (SELECT id FROM earlier), (SELECT message_id FROM e), (SELECT cursor FROM e)",
            &params,
        )
        .await?,
        Some(extras) => {
            let attachments: Vec<i64> = extras.attachments.iter().map(|a| a.id.0).collect();
            let extra: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
                &extras.thread_root_id.map(|id| id.0),
                &extras.also_to_conversation,
                &sql::ids_array(&extras.mentions.user_ids),
                &extras.mentions.channel,
                &extras.mentions.here,
                &extras.quote.map(|q| q.conversation_id.0),
                &extras.quote.map(|q| q.message_id.0),
                &attachments,
            ];
            let all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().chain(extra.iter()).copied().collect();
            // The attachments are checked and taken in the statement that inserts: all of them or, when
            // one was attached meanwhile, nothing at all (a refusal must change nothing, `writer.rs`).
            row(
                c,
                "WITH earlier AS (
                     SELECT id FROM messages WHERE conversation_id = $1 AND author_id = $2 AND nonce = $4
                 ), attachable AS (
                     SELECT count(*) = cardinality($13::bigint[]) AS fine FROM files
                     WHERE id = ANY($13) AND owner_id = $2 AND state = 1
                 ), m AS (
                     INSERT INTO messages (conversation_id, author_id, text, nonce, created_at, thread_root_id,
                         also_to_conversation, mention_ids, mention_channel, mention_here,
                         quote_conversation_id, quote_message_id)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
                     WHERE NOT EXISTS (SELECT 1 FROM earlier) AND (SELECT fine FROM attachable)
                     RETURNING id
                 ), a AS (
                     UPDATE files SET state = 2, conversation_id = $1, message_id = (SELECT id FROM m),
                         position = (array_position($13::bigint[], files.id) - 1)::smallint
                     WHERE id = ANY($13) AND EXISTS (SELECT 1 FROM m)
                     RETURNING id
                 ), e AS (
                     INSERT INTO events (conversation_id, kind, user_id, message_id, created_at)
                     SELECT $1, 'message.created', $2, m.id, $5 FROM m
                     RETURNING cursor, message_id
                 )
                 SELECT (SELECT id FROM earlier), (SELECT message_id FROM e), (SELECT cursor FROM e),
                     (SELECT fine FROM attachable), (SELECT count(*) FROM a)",
                &all,
            )
            .await?
        }
    }
    .ok_or(sql::vanished("message"))?;
    if let Some(earlier) = get::<Option<i64>>(&stored, 0)? {
        return duplicate(c, new, MessageId(earlier)).await;
    }
    if new.extras.is_some() && get::<Option<bool>>(&stored, 3)? == Some(false) {
        return Err(StoreError::Conflict("attachment"));
    }
    let (Some(id), Some(cursor)) = (
        get::<Option<i64>>(&stored, 1)?,
        get::<Option<i64>>(&stored, 2)?,
    ) else {
        return Err(sql::vanished("message"));
    };
    let Sent::Stored(message, mut events) = created(new, MessageId(id), Cursor(cursor)) else {
        return Err(sql::vanished("message"));
    };
    if let Some(extras) = &new.extras {
        mentions::index(c, &message, &extras.mentions.user_ids).await?;
        if let Some(root_id) = extras.thread_root_id {
            events.push(threads::add_reply(c, new, root_id).await?);
        }
    }
    Ok(Sent::Stored(message, events))
}

/// Stores several messages without extras (`NewMessage::extras` is `None`) and their events in one
/// statement, as `create` stores one, answering each in the order given: ids and cursors are taken in that
/// order (the ids as the arrays are read, the cursors in a sorted insert), and checked to be. The caller
/// gives no two messages with one author's same nonce in one conversation: the statement finds earlier
/// messages only, so such a pair would break the unique index and with it the batch. A send whose earlier
/// message is gone meanwhile (a purge beside it) is answered `NotFound`, as `create` answers it.
pub(crate) async fn create_many(
    c: &impl GenericClient,
    news: &[&NewMessage],
) -> StoreResult<Vec<StoreResult<Sent>>> {
    let conversations: Vec<i64> = news.iter().map(|n| n.conversation_id.0).collect();
    let authors: Vec<i64> = news.iter().map(|n| n.author_id.0).collect();
    let texts: Vec<&str> = news.iter().map(|n| n.text.as_str()).collect();
    let nonces: Vec<Option<&str>> = news.iter().map(|n| n.nonce.as_deref()).collect();
    let times: Vec<i64> = news.iter().map(|n| n.now.0).collect();
    let found = rows(
        c,
        "WITH src AS MATERIALIZED (
             SELECT s.*, nextval('messages_id_seq') AS id
             FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[])
                 WITH ORDINALITY AS s (conversation_id, author_id, text, nonce, created_at, ord)
         ), earlier AS (
             SELECT s.ord, m.id FROM src s JOIN messages m
                 ON m.conversation_id = s.conversation_id AND m.author_id = s.author_id AND m.nonce = s.nonce
         ), m AS (
             INSERT INTO messages (id, conversation_id, author_id, text, nonce, created_at)
             SELECT id, conversation_id, author_id, text, nonce, created_at FROM src
             WHERE ord NOT IN (SELECT ord FROM earlier)
             RETURNING id
         ), e AS (
             INSERT INTO events (conversation_id, kind, user_id, message_id, created_at)
             SELECT s.conversation_id, 'message.created', s.author_id, s.id, s.created_at FROM src s
             WHERE s.id IN (SELECT id FROM m) ORDER BY s.ord
             RETURNING cursor, message_id
         )
         SELECT earlier.id, e.message_id, e.cursor FROM src s
         LEFT JOIN earlier ON earlier.ord = s.ord LEFT JOIN e ON e.message_id = s.id
         ORDER BY s.ord",
        &[&conversations, &authors, &texts, &nonces, &times],
    )
    .await?;
    if found.len() != news.len() {
        return Err(sql::vanished("message"));
    }
    let mut sent = Vec::with_capacity(news.len());
    let mut earlier = Vec::new();
    let mut last = (MessageId(0), Cursor(0));
    for (new, r) in news.iter().zip(&found) {
        if let Some(id) = get::<Option<i64>>(r, 0)? {
            earlier.push(MessageId(id));
            sent.push(Err(MessageId(id)));
            continue;
        }
        let (Some(id), Some(cursor)) = (get::<Option<i64>>(r, 1)?, get::<Option<i64>>(r, 2)?)
        else {
            return Err(sql::vanished("message"));
        };
        let (id, cursor) = (MessageId(id), Cursor(cursor));
        if id <= last.0 || cursor <= last.1 {
            return Err(sql::backend(OutOfOrder));
        }
        last = (id, cursor);
        sent.push(Ok(created(new, id, cursor)));
    }
    // The messages that retried sends stored before, in one read whatever their number.
    let mut earlier: HashMap<MessageId, Message> = sql::messages_by_ids(c, &earlier)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    Ok(sent
        .into_iter()
        .map(|sent| match sent {
            Ok(sent) => Ok(sent),
            Err(id) => earlier
                .remove(&id)
                .map(Sent::Duplicate)
                .ok_or(StoreError::NotFound("message")),
        })
        .collect())
}

/// The message `new` is as stored under `id`, with its `message.created` event at `cursor`.
fn created(new: &NewMessage, id: MessageId, cursor: Cursor) -> Sent {
    let message = new.stored(id);
    let event = Event {
        cursor,
        conversation_id: new.conversation_id,
        kind: EventKind::MessageCreated(message.clone()),
        audience: Audience::Members,
        at: new.now,
    };
    Sent::Stored(message, vec![event])
}

/// The answer to a send whose nonce its author already sent here: the message that send stored.
async fn duplicate(
    c: &impl GenericClient,
    new: &NewMessage,
    earlier: MessageId,
) -> StoreResult<Sent> {
    let message = sql::message_by_id(c, new.conversation_id, earlier)
        .await?
        .ok_or(StoreError::NotFound("message"))?;
    Ok(Sent::Duplicate(message))
}

#[derive(Debug, thiserror::Error)]
#[error("the messages of one statement were stored out of order")]
struct OutOfOrder;

pub(crate) async fn add_reaction(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    emoji: &str,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let added = run(
        c,
        "INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        &[&message_id.0, &emoji, &user_id.0, &now.0],
    )
    .await?;
    if added == 0 {
        return Ok(None);
    }
    let kind = EventKind::ReactionAdded {
        message_id,
        user_id,
        emoji: emoji.to_owned(),
    };
    events::append(c, conversation_id, kind, Audience::Members, now)
        .await
        .map(Some)
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
pub(crate) const IN_MAIN: &str = "(m.thread_root_id IS NULL OR m.also_to_conversation)";

pub(crate) async fn page(
    c: &impl GenericClient,
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
        let mut messages = Box::pin(self::page(c, conversation_id, viewer, scope, older)).await?;
        if limit / 2 > 0 {
            let newer = Page::After {
                id,
                limit: limit / 2,
            };
            messages.extend(Box::pin(self::page(c, conversation_id, viewer, scope, newer)).await?);
        }
        return Ok(messages);
    }
    let mut args: Vec<i64> = vec![conversation_id.0, viewer.0];
    let mut arg = |value: i64| {
        args.push(value);
        format!("${}", args.len())
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
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND {VISIBLE} AND {within}
         {bounds} ORDER BY m.id {order} LIMIT {limit}"
    );
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let found = rows(c, &sql, &params).await?;
    let mut messages = sql::with_reactions(c, sql::messages(&found)?).await?;
    if newest_first {
        messages.reverse();
    }
    Ok(messages)
}

/// Messages after the member's checkpoint, by others, not deleted or hidden.
pub(crate) async fn unread_count(c: &impl GenericClient, member: &Member) -> StoreResult<u64> {
    let sql = format!(
        "SELECT count(*) FROM messages m WHERE m.conversation_id = $1 AND m.id > $3
         AND m.author_id <> $2 AND NOT m.deleted AND {IN_MAIN} AND {VISIBLE}"
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

pub(crate) async fn latest_visible(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    viewer: UserId,
) -> StoreResult<Option<Message>> {
    let latest = Page::Latest { limit: 1 };
    Ok(page(c, conversation_id, viewer, Scope::Main, latest)
        .await?
        .pop())
}

pub(crate) async fn receipts(
    c: &impl GenericClient,
    conversation_id: ConversationId,
) -> StoreResult<Vec<(UserId, MessageId)>> {
    rows(
        c,
        "SELECT user_id, last_read FROM members WHERE conversation_id = $1 AND last_read IS NOT NULL
         ORDER BY last_read DESC, user_id",
        &[&conversation_id.0],
    )
    .await?
    .iter()
    .map(|r| Ok((UserId(get(r, 0)?), MessageId(get(r, 1)?))))
    .collect()
}

/// The user's words as a text-search query that can only mean "all of these words": the words are parsed
/// by PostgreSQL's own parser (`to_tsvector`), so no operator in the input survives, each lexeme is quoted
/// back into the query, and the last word also matches as a prefix, for search as you type.
const WORDS_QUERY: &str = "(SELECT to_tsquery('simple', string_agg(
        '''' || replace(w.lexeme, '''', '''''') || ''''
            || CASE WHEN w.last THEN ':*' ELSE '' END, ' & '))
    FROM (SELECT v.lexeme, v.positions @> ARRAY[(SELECT max(p) FROM unnest(to_tsvector('simple', $1)) x, unnest(x.positions) p)] AS last
          FROM unnest(to_tsvector('simple', $1)) v) w)";

pub(crate) async fn search(
    c: &impl GenericClient,
    viewer: UserId,
    text: &str,
    conversation_id: Option<ConversationId>,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    if text.split_whitespace().next().is_none() {
        return Ok(Vec::new());
    }
    // The words in the text (its entry in the index, or, above the indexer's mark, the text itself), or in
    // the name of a file the message carries.
    let sql = format!(
        "WITH q AS (SELECT {WORDS_QUERY} AS query), found AS (
             (SELECT m.id FROM q, message_search s JOIN messages m ON m.id = s.message_id
              JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = $2
              WHERE q.query IS NOT NULL AND s.search @@ q.query AND NOT m.deleted AND {VISIBLE}
              AND ($3::BIGINT IS NULL OR m.conversation_id = $3)
              ORDER BY m.id DESC LIMIT $4)
             UNION
             (SELECT m.id FROM q, messages m
              JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = $2
              WHERE q.query IS NOT NULL AND m.id > (SELECT message_id FROM search_indexed)
              AND to_tsvector('simple', coalesce(m.text, '')) @@ q.query AND NOT m.deleted AND {VISIBLE}
              AND ($3::BIGINT IS NULL OR m.conversation_id = $3)
              ORDER BY m.id DESC LIMIT $4)
             UNION
             (SELECT f.message_id FROM files f
              JOIN members mb ON mb.conversation_id = f.conversation_id AND mb.user_id = $2
              WHERE f.state = 2 AND f.name ILIKE $5
              AND ($3::BIGINT IS NULL OR f.conversation_id = $3)
              ORDER BY f.message_id DESC LIMIT $4))
         SELECT {MESSAGE_COLUMNS} FROM messages m
         WHERE m.id IN (SELECT id FROM found) AND NOT m.deleted AND {VISIBLE}
         ORDER BY m.id DESC LIMIT $4"
    );
    let found = rows(
        c,
        &sql,
        &[
            &text,
            &viewer.0,
            &conversation_id.map(|c| c.0),
            &i64::from(limit),
            &crate::like::words_pattern(text),
        ],
    )
    .await?;
    sql::with_reactions(c, sql::messages(&found)?).await
}

pub(crate) async fn advance_read(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_id: UserId,
    message_id: MessageId,
    audience: Audience,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let moved = run(
        c,
        "UPDATE members SET last_read = $3
         WHERE conversation_id = $1 AND user_id = $2 AND (last_read IS NULL OR last_read < $3)",
        &[&conversation_id.0, &user_id.0, &message_id.0],
    )
    .await?;
    if moved == 0 {
        return Ok(None);
    }
    let kind = EventKind::ReadUpdated {
        user_id,
        message_id,
    };
    events::append(c, conversation_id, kind, audience, now)
        .await
        .map(Some)
}

/// Erases the text (and with it its search entry: a trigger, `0009_search_out_of_the_turn.sql`) and the
/// reactions, keeping a tombstone so history and replays show "deleted".
pub(crate) async fn erase(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    message_id: MessageId,
    by_moderator: bool,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let erased = run(
        c,
        "UPDATE messages SET text = NULL, deleted = TRUE, mention_ids = NULL, mention_channel = FALSE,
             mention_here = FALSE, removed_by_moderator = $3
         WHERE id = $1 AND conversation_id = $2 AND NOT deleted",
        &[&message_id.0, &conversation_id.0, &by_moderator],
    )
    .await?;
    if erased == 0 {
        return Ok(None);
    }
    for sql in [
        "DELETE FROM reactions WHERE message_id = $1",
        "DELETE FROM message_edits WHERE message_id = $1",
        "DELETE FROM mentions WHERE message_id = $1",
        "DELETE FROM pins WHERE message_id = $1",
        "UPDATE files SET state = 3 WHERE message_id = $1 AND state = 2",
        // A notification's payload may carry a preview of the text.
        "DELETE FROM push_deliveries WHERE message_id = $1",
        "DELETE FROM notify_pending WHERE message_id = $1",
    ] {
        run(c, sql, &[&message_id.0]).await?;
    }
    let kind = EventKind::MessageDeleted {
        message_id,
        removed_by_moderator: by_moderator,
    };
    events::append(c, conversation_id, kind, Audience::Members, now)
        .await
        .map(Some)
}

pub(crate) async fn hide(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let hidden = run(
        c,
        "INSERT INTO hidden_messages (user_id, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&user_id.0, &message_id.0],
    )
    .await?;
    if hidden == 0 {
        return Ok(None);
    }
    let kind = EventKind::MessageHidden {
        message_id,
        user_id,
    };
    events::append(c, conversation_id, kind, Audience::User(user_id), now)
        .await
        .map(Some)
}

pub(crate) async fn remove_reaction(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    message_id: MessageId,
    user_id: UserId,
    emoji: &str,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let removed = run(
        c,
        "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
        &[&message_id.0, &emoji, &user_id.0],
    )
    .await?;
    if removed == 0 {
        return Ok(None);
    }
    let kind = EventKind::ReactionRemoved {
        message_id,
        user_id,
        emoji: emoji.to_owned(),
    };
    events::append(c, conversation_id, kind, Audience::Members, now)
        .await
        .map(Some)
}

/// Moves `last_activity` of each conversation that got messages in a batch, in one statement, just before
/// the batch commits.
pub(crate) async fn touch_conversations(
    c: &impl GenericClient,
    committed: &[Event],
) -> StoreResult<()> {
    let mut latest: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    for event in committed {
        if let EventKind::MessageCreated(message) = &event.kind {
            let at = latest
                .entry(message.conversation_id.0)
                .or_insert(message.created_at.0);
            *at = (*at).max(message.created_at.0);
        }
    }
    if latest.is_empty() {
        return Ok(());
    }
    let (ids, times): (Vec<i64>, Vec<i64>) = latest.into_iter().unzip();
    run(
        c,
        "UPDATE conversations c SET last_activity = greatest(c.last_activity, t.at)
         FROM unnest($1::BIGINT[], $2::BIGINT[]) AS t(id, at) WHERE c.id = t.id",
        &[&ids, &times],
    )
    .await?;
    Ok(())
}
