//! Conversations and their members.

use parley_core::model::{
    Audience, Conversation, ConversationSummary, Event, EventKind, Member, Millis,
};
use parley_core::proto::v1::{ChannelRole, ConversationKind, MembershipPatch};
use parley_core::store::{ConversationChange, DirectMessage, StoreError, StoreResult};
use parley_core::{ConversationId, Cursor, OrgId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::connection::backend;
use super::rows::{self, CONVERSATION_COLUMNS, MEMBER_COLUMNS, like_escape, one, run};
use super::{events, mentions, messages};
use crate::inputs::NewConversation;

/// Creates a conversation with its members and logs `conversation.created`.
pub(crate) fn create(
    c: &Connection,
    new: &NewConversation,
) -> StoreResult<(Conversation, Vec<Event>)> {
    if let Some(handle) = &new.handle {
        let taken = one(
            c,
            "SELECT 1 FROM conversations WHERE org_id = ?1 AND handle = ?2",
            params![new.org_id.0, handle],
            |_| Ok(()),
        )
        .optional()
        .map_err(backend)?;
        if taken.is_some() {
            return Err(StoreError::Conflict("handle"));
        }
    }
    run(c,
        "INSERT INTO conversations (org_id, kind, name, handle, topic, private, dm_key, created_by, created_at, last_activity)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            new.org_id.0,
            rows::kind_name(new.kind),
            new.name,
            new.handle,
            new.topic,
            new.private,
            new.dm_key,
            new.created_by.0,
            new.now.0
        ],
    )
    .map_err(backend)?;
    let id = ConversationId(c.last_insert_rowid());
    for user_id in &new.members {
        insert_member(c, id, *user_id, new.now)?;
    }
    // A channel's creator is its first owner.
    if new.kind == ConversationKind::Channel {
        set_role(c, id, new.created_by, ChannelRole::Owner)?;
    }
    let conversation =
        rows::conversation_by_id(c, id)?.ok_or(StoreError::NotFound("conversation"))?;
    // The creation, then each first member's joining: a member's devices learn of a conversation through
    // their own joining, whichever node they are on.
    let created = EventKind::ConversationCreated(conversation.clone());
    let mut announced = vec![events::append(c, id, created, Audience::Members, new.now)?];
    for user_id in &new.members {
        let joined = EventKind::MemberJoined { user_id: *user_id };
        announced.push(events::append(c, id, joined, Audience::Members, new.now)?);
    }
    Ok((conversation, announced))
}

pub(crate) fn direct_message(
    c: &Connection,
    org_id: OrgId,
    a: UserId,
    b: UserId,
    now: Millis,
) -> StoreResult<DirectMessage> {
    let new = NewConversation::direct(org_id, a, b, now);
    let existing = one(c,
            &format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.org_id = ?1 AND c.dm_key = ?2"),
            params![org_id.0, new.dm_key],
            rows::conversation,
        )
        .optional()
        .map_err(backend)?;
    if let Some(conversation) = existing {
        return Ok(DirectMessage::Existing(conversation));
    }
    let (conversation, events) = create(c, &new)?;
    Ok(DirectMessage::Created(conversation, events))
}

/// Adds a member if absent; true when added.
fn insert_member(
    c: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
    now: Millis,
) -> StoreResult<bool> {
    let added = run(
        c,
        "INSERT OR IGNORE INTO members (conversation_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
        params![conversation_id.0, user_id.0, now.0],
    )
    .map_err(backend)?;
    if added == 1 {
        run(
            c,
            "UPDATE conversations SET member_count = member_count + 1 WHERE id = ?1",
            [conversation_id.0],
        )
        .map_err(backend)?;
    }
    Ok(added == 1)
}

pub(crate) fn add_members(
    c: &Connection,
    conversation_id: ConversationId,
    user_ids: &[UserId],
    own_devices_only: bool,
    now: Millis,
) -> StoreResult<Vec<Event>> {
    let mut added = Vec::new();
    for user_id in user_ids {
        if insert_member(c, conversation_id, *user_id, now)? {
            added.push(events::append(
                c,
                conversation_id,
                EventKind::MemberJoined { user_id: *user_id },
                Audience::about(*user_id, own_devices_only),
                now,
            )?);
        }
    }
    Ok(added)
}

pub(crate) fn channel_by_handle(
    c: &Connection,
    org_id: OrgId,
    handle: &str,
) -> StoreResult<Option<Conversation>> {
    one(c,
        &format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.org_id = ?1 AND c.handle = ?2"),
        params![org_id.0, handle],
        rows::conversation,
    )
    .optional()
    .map_err(backend)
}

pub(crate) fn member_ids(
    c: &Connection,
    conversation_id: ConversationId,
    limit: u32,
) -> StoreResult<Vec<UserId>> {
    let mut statement = c
        .prepare_cached("SELECT user_id FROM members WHERE conversation_id = ?1 ORDER BY joined_at, user_id LIMIT ?2")
        .map_err(backend)?;
    let ids = statement
        .query_map(params![conversation_id.0, limit], |row| {
            Ok(UserId(row.get(0)?))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(ids)
}

pub(crate) fn members_among(
    c: &Connection,
    conversation_id: ConversationId,
    user_ids: &[UserId],
) -> StoreResult<Vec<UserId>> {
    let ids: Vec<String> = user_ids.iter().map(|id| id.0.to_string()).collect();
    c.prepare_cached(
        "SELECT user_id FROM members WHERE conversation_id = ?1
         AND user_id IN (SELECT value FROM json_each(?2))",
    )
    .and_then(|mut s| {
        s.query_map(
            params![conversation_id.0, format!("[{}]", ids.join(","))],
            |row| Ok(UserId(row.get(0)?)),
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    })
    .map_err(backend)
}

pub(crate) fn conversations_of(
    c: &Connection,
    user_id: UserId,
) -> StoreResult<Vec<ConversationSummary>> {
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {CONVERSATION_COLUMNS}, {MEMBER_COLUMNS} FROM members m
             JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = ?1 ORDER BY c.last_activity DESC, c.id DESC"
        ))
        .map_err(backend)?;
    let pairs = statement
        .query_map([user_id.0], |row| {
            Ok((
                rows::conversation(row)?,
                rows::member_at(row, rows::CONVERSATION_COLUMN_COUNT)?,
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    let mut summaries = Vec::with_capacity(pairs.len());
    for (conversation, membership) in pairs {
        let unread_count = messages::unread_count(c, &membership)?;
        let unread_mentions = mentions::unread(c, &membership)?;
        let last_message = messages::latest_visible(c, conversation.id, user_id)?;
        summaries.push(ConversationSummary {
            conversation,
            membership,
            unread_count,
            unread_mentions,
            last_message,
        });
    }
    Ok(summaries)
}

pub(crate) fn public_channels(
    c: &Connection,
    org_id: OrgId,
    query: &str,
    limit: u32,
) -> StoreResult<Vec<Conversation>> {
    let pattern = format!("%{}%", like_escape(query));
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c
             WHERE c.org_id = ?1 AND c.kind = 'channel' AND c.private = 0 AND c.archived = 0
             AND (c.name LIKE ?2 ESCAPE '\\' OR c.handle LIKE ?2 ESCAPE '\\' OR c.topic LIKE ?2 ESCAPE '\\')
             ORDER BY c.member_count DESC, c.id LIMIT ?3"
        ))
        .map_err(backend)?;
    let channels = statement
        .query_map(params![org_id.0, pattern, limit], rows::conversation)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(channels)
}

pub(crate) fn update_membership(
    c: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
    patch: &MembershipPatch,
) -> StoreResult<Member> {
    run(c,
        "UPDATE members SET muted = coalesce(?3, muted), notify_always = coalesce(?4, notify_always)
         WHERE conversation_id = ?1 AND user_id = ?2",
        params![conversation_id.0, user_id.0, patch.muted, patch.notify_always],
    )
    .map_err(backend)?;
    rows::membership(c, conversation_id, user_id)?.ok_or(StoreError::NotFound("membership"))
}

pub(crate) fn remove_member(
    c: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
    own_devices_only: bool,
    removed_by_moderator: bool,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let removed = run(
        c,
        "DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2",
        params![conversation_id.0, user_id.0],
    )
    .map_err(backend)?;
    if removed == 0 {
        return Ok(None);
    }
    run(
        c,
        "UPDATE conversations SET member_count = member_count - 1 WHERE id = ?1",
        [conversation_id.0],
    )
    .map_err(backend)?;
    let left = EventKind::MemberLeft {
        user_id,
        removed: removed_by_moderator,
    };
    let audience = Audience::about(user_id, own_devices_only);
    events::append(c, conversation_id, left, audience, now).map(Some)
}

/// The user's conversations and the newest cursor, in one read transaction so both describe the same moment.
pub(crate) fn snapshot_of_member(
    c: &Connection,
    user_id: UserId,
) -> StoreResult<(Vec<ConversationId>, Cursor)> {
    let snapshot = c.unchecked_transaction().map_err(backend)?;
    let ids = snapshot
        .prepare_cached("SELECT conversation_id FROM members WHERE user_id = ?1")
        .and_then(|mut statement| {
            statement
                .query_map([user_id.0], |row| Ok(ConversationId(row.get(0)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(backend)?;
    let cursor = events::latest(&snapshot)?;
    snapshot.commit().map_err(backend)?;
    Ok((ids, cursor))
}

/// Sets a member's role; `false` when they are not a member.
fn set_role(
    c: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
    role: ChannelRole,
) -> StoreResult<bool> {
    let changed = run(
        c,
        "UPDATE members SET role = ?3 WHERE conversation_id = ?1 AND user_id = ?2",
        params![conversation_id.0, user_id.0, role.as_str()],
    )
    .map_err(backend)?;
    Ok(changed > 0)
}

pub(crate) fn set_member_role(
    c: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
    role: ChannelRole,
    now: Millis,
) -> StoreResult<Option<Event>> {
    if !set_role(c, conversation_id, user_id, role)? {
        return Ok(None);
    }
    let changed = EventKind::MemberRoleChanged { user_id, role };
    events::append(c, conversation_id, changed, Audience::Members, now).map(Some)
}

pub(crate) fn member_roles(
    c: &Connection,
    conversation_id: ConversationId,
) -> StoreResult<Vec<(UserId, ChannelRole)>> {
    let mut statement = c
        .prepare_cached(
            "SELECT user_id, role FROM members WHERE conversation_id = ?1 AND role != 'member'
             ORDER BY joined_at, user_id",
        )
        .map_err(backend)?;
    statement
        .query_map([conversation_id.0], |row| {
            Ok((
                UserId(row.get(0)?),
                rows::channel_role(&row.get::<_, String>(1)?),
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)
}

pub(crate) fn update(
    c: &Connection,
    conversation_id: ConversationId,
    change: &ConversationChange,
    now: Millis,
) -> StoreResult<Option<(Conversation, Event)>> {
    let topic = change
        .topic
        .as_deref()
        .map(|t| (!t.is_empty()).then_some(t));
    let changed = run(
        c,
        "UPDATE conversations SET
             name = coalesce(?2, name),
             topic = CASE WHEN ?3 THEN ?4 ELSE topic END,
             private = coalesce(?5, private),
             archived = coalesce(?6, archived),
             retention_days = CASE WHEN ?7 THEN ?8 ELSE retention_days END
         WHERE id = ?1",
        params![
            conversation_id.0,
            change.name,
            topic.is_some(),
            topic.flatten(),
            change.private,
            change.archived,
            change.retention_days.is_some(),
            change.retention_days.flatten()
        ],
    )
    .map_err(backend)?;
    if changed == 0 {
        return Ok(None);
    }
    let conversation = rows::conversation_by_id(c, conversation_id)?
        .ok_or(StoreError::NotFound("conversation"))?;
    let updated = EventKind::ConversationUpdated(conversation.clone());
    let event = events::append(c, conversation_id, updated, Audience::Members, now)?;
    Ok(Some((conversation, event)))
}
