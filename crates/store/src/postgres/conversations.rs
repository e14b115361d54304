//! Conversations and their members.

use deadpool_postgres::GenericClient;
use parley_core::model::{
    Audience, Conversation, ConversationSummary, Event, EventKind, Member, Millis,
};
use parley_core::proto::v1::{ChannelRole, ConversationKind, MembershipPatch};
use parley_core::store::{ConversationChange, DirectMessage, StoreError, StoreResult};
use parley_core::{ConversationId, OrgId, UserId};

use super::sql::{self, CONVERSATION_COLUMNS, MEMBER_COLUMNS, get, row, rows, run};
use super::{events, mentions, messages};
use crate::inputs::NewConversation;
use crate::like::like_escape;

/// Creates a conversation with its members and logs `conversation.created`, then each member's joining.
pub(crate) async fn create(
    c: &impl GenericClient,
    new: &NewConversation,
) -> StoreResult<(Conversation, Vec<Event>)> {
    // Only a handle can be taken: a conversation created here has no DM key (see `direct_message`).
    match insert(c, new).await? {
        Some(id) => fill(c, id, new).await,
        None if new.handle.is_some() => Err(StoreError::Conflict("handle")),
        None => Err(sql::vanished("conversation")),
    }
}

pub(crate) async fn direct_message(
    c: &impl GenericClient,
    org_id: OrgId,
    a: UserId,
    b: UserId,
    now: Millis,
) -> StoreResult<DirectMessage> {
    let new = NewConversation::direct(org_id, a, b, now);
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.org_id = $1 AND c.dm_key = $2"
    );
    if let Some(existing) = row(c, &sql, &[&org_id.0, &new.dm_key]).await? {
        return Ok(DirectMessage::Existing(sql::conversation(&existing)?));
    }
    if let Some(id) = insert(c, &new).await? {
        let (conversation, events) = fill(c, id, &new).await?;
        return Ok(DirectMessage::Created(conversation, events));
    }
    // Another write of this batch opened the pair's DM between the lookup above and the insert.
    let existing = row(c, &sql, &[&org_id.0, &new.dm_key])
        .await?
        .ok_or(sql::vanished("conversation"))?;
    Ok(DirectMessage::Existing(sql::conversation(&existing)?))
}

/// Inserts the conversation's row; `None` when its handle or DM key is taken, in which case nothing was
/// written and the batch's transaction is as it was (a unique violation would abort it).
async fn insert(
    c: &impl GenericClient,
    new: &NewConversation,
) -> StoreResult<Option<ConversationId>> {
    let inserted = row(
        c,
        "INSERT INTO conversations (org_id, kind, name, handle, topic, private, dm_key, created_by, created_at, last_activity)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING RETURNING id",
        &[
            &new.org_id.0,
            &sql::kind_name(new.kind),
            &new.name,
            &new.handle,
            &new.topic,
            &new.private,
            &new.dm_key,
            &new.created_by.0,
            &new.now.0,
        ],
    )
    .await?;
    inserted.map(|r| get(&r, 0).map(ConversationId)).transpose()
}

/// Adds the members of a conversation just inserted and logs its creation and their joining.
async fn fill(
    c: &impl GenericClient,
    id: ConversationId,
    new: &NewConversation,
) -> StoreResult<(Conversation, Vec<Event>)> {
    for user_id in &new.members {
        insert_member(c, id, *user_id, new.now).await?;
    }
    // A channel's creator is its first owner.
    if new.kind == ConversationKind::Channel {
        set_role(c, id, new.created_by, ChannelRole::Owner).await?;
    }
    let conversation = sql::conversation_by_id(c, id)
        .await?
        .ok_or(sql::vanished("conversation"))?;
    let created = EventKind::ConversationCreated(conversation.clone());
    let mut announced = vec![events::append(c, id, created, Audience::Members, new.now).await?];
    for user_id in &new.members {
        let joined = EventKind::MemberJoined { user_id: *user_id };
        announced.push(events::append(c, id, joined, Audience::Members, new.now).await?);
    }
    Ok((conversation, announced))
}

/// Adds a member if absent; true when added.
async fn insert_member(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_id: UserId,
    now: Millis,
) -> StoreResult<bool> {
    let added = run(
        c,
        "INSERT INTO members (conversation_id, user_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&conversation_id.0, &user_id.0, &now.0],
    )
    .await?;
    if added == 1 {
        run(
            c,
            "UPDATE conversations SET member_count = member_count + 1 WHERE id = $1",
            &[&conversation_id.0],
        )
        .await?;
    }
    Ok(added == 1)
}

pub(crate) async fn add_members(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_ids: &[UserId],
    own_devices_only: bool,
    now: Millis,
) -> StoreResult<Vec<Event>> {
    let mut added = Vec::new();
    for user_id in user_ids {
        if insert_member(c, conversation_id, *user_id, now).await? {
            let joined = EventKind::MemberJoined { user_id: *user_id };
            let audience = Audience::about(*user_id, own_devices_only);
            added.push(events::append(c, conversation_id, joined, audience, now).await?);
        }
    }
    Ok(added)
}

pub(crate) async fn channel_by_handle(
    c: &impl GenericClient,
    org_id: OrgId,
    handle: &str,
) -> StoreResult<Option<Conversation>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.org_id = $1 AND c.handle = $2"
    );
    row(c, &sql, &[&org_id.0, &handle])
        .await?
        .as_ref()
        .map(sql::conversation)
        .transpose()
}

/// The members of each conversation, in join order, in one query.
pub(crate) async fn members_of(
    c: &impl GenericClient,
    conversation_ids: &[ConversationId],
) -> StoreResult<Vec<(ConversationId, Vec<UserId>)>> {
    let ids: Vec<i64> = conversation_ids.iter().map(|id| id.0).collect();
    let found = rows(
        c,
        "SELECT conversation_id, user_id FROM members WHERE conversation_id = ANY($1)
         ORDER BY conversation_id, joined_at, user_id",
        &[&ids],
    )
    .await?;
    let mut members: Vec<(ConversationId, Vec<UserId>)> = conversation_ids
        .iter()
        .map(|&id| (id, Vec::new()))
        .collect();
    for row in &found {
        let conversation_id = ConversationId(get(row, 0)?);
        let user_id = UserId(get(row, 1)?);
        if let Some((_, users)) = members.iter_mut().find(|(id, _)| *id == conversation_id) {
            users.push(user_id);
        }
    }
    Ok(members)
}

pub(crate) async fn member_ids(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    limit: u32,
) -> StoreResult<Vec<UserId>> {
    rows(
        c,
        "SELECT user_id FROM members WHERE conversation_id = $1 ORDER BY joined_at, user_id LIMIT $2",
        &[&conversation_id.0, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| get(r, 0).map(UserId))
    .collect()
}

pub(crate) async fn conversations_of(
    c: &impl GenericClient,
    user_id: UserId,
) -> StoreResult<Vec<ConversationSummary>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS}, {MEMBER_COLUMNS} FROM members m
         JOIN conversations c ON c.id = m.conversation_id
         WHERE m.user_id = $1 ORDER BY c.last_activity DESC, c.id DESC"
    );
    let found = rows(c, &sql, &[&user_id.0]).await?;
    let mut summaries = Vec::with_capacity(found.len());
    for r in &found {
        let (conversation, membership) = (
            sql::conversation(r)?,
            sql::member_at(r, sql::CONVERSATION_COLUMN_COUNT)?,
        );
        let unread_count = messages::unread_count(c, &membership).await?;
        let unread_mentions = mentions::unread(c, &membership).await?;
        let last_message = messages::latest_visible(c, conversation.id, user_id).await?;
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

pub(crate) async fn public_channels(
    c: &impl GenericClient,
    org_id: OrgId,
    query: &str,
    limit: u32,
) -> StoreResult<Vec<Conversation>> {
    // ILIKE: case-insensitive, as SQLite's LIKE is (for ASCII).
    let pattern = format!("%{}%", like_escape(query));
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c
         WHERE c.org_id = $1 AND c.kind = 'channel' AND NOT c.private AND NOT c.archived
         AND (c.name ILIKE $2 OR c.handle ILIKE $2 OR c.topic ILIKE $2)
         ORDER BY c.member_count DESC, c.id LIMIT $3"
    );
    rows(c, &sql, &[&org_id.0, &pattern, &i64::from(limit)])
        .await?
        .iter()
        .map(sql::conversation)
        .collect()
}

pub(crate) async fn update_membership(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_id: UserId,
    patch: &MembershipPatch,
) -> StoreResult<Member> {
    // The row as this statement left it: a read after it could see another patch of the same batch.
    let sql = format!(
        "UPDATE members m SET muted = coalesce($3, m.muted), notify_always = coalesce($4, m.notify_always)
         WHERE m.conversation_id = $1 AND m.user_id = $2 RETURNING {MEMBER_COLUMNS}"
    );
    row(
        c,
        &sql,
        &[
            &conversation_id.0,
            &user_id.0,
            &patch.muted,
            &patch.notify_always,
        ],
    )
    .await?
    .map(|r| sql::member_at(&r, 0))
    .transpose()?
    .ok_or(StoreError::NotFound("membership"))
}

pub(crate) async fn members_among(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_ids: &[UserId],
) -> StoreResult<Vec<UserId>> {
    let ids: Vec<i64> = user_ids.iter().map(|id| id.0).collect();
    rows(
        c,
        "SELECT user_id FROM members WHERE conversation_id = $1 AND user_id = ANY($2)",
        &[&conversation_id.0, &ids],
    )
    .await?
    .iter()
    .map(|r| Ok(UserId(get(r, 0)?)))
    .collect()
}

pub(crate) async fn remove_member(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_id: UserId,
    own_devices_only: bool,
    removed_by_moderator: bool,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let removed = run(
        c,
        "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2",
        &[&conversation_id.0, &user_id.0],
    )
    .await?;
    if removed == 0 {
        return Ok(None);
    }
    run(
        c,
        "UPDATE conversations SET member_count = member_count - 1 WHERE id = $1",
        &[&conversation_id.0],
    )
    .await?;
    let left = EventKind::MemberLeft {
        user_id,
        removed: removed_by_moderator,
    };
    let audience = Audience::about(user_id, own_devices_only);
    events::append(c, conversation_id, left, audience, now)
        .await
        .map(Some)
}

/// The user's conversations; `c` must be a snapshot holding the newest cursor read with them.
pub(crate) async fn of_member(
    c: &impl GenericClient,
    user_id: UserId,
) -> StoreResult<Vec<ConversationId>> {
    rows(
        c,
        "SELECT conversation_id FROM members WHERE user_id = $1",
        &[&user_id.0],
    )
    .await?
    .iter()
    .map(|r| get(r, 0).map(ConversationId))
    .collect()
}

/// Sets a member's role; `false` when they are not a member.
async fn set_role(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_id: UserId,
    role: ChannelRole,
) -> StoreResult<bool> {
    let changed = run(
        c,
        "UPDATE members SET role = $3 WHERE conversation_id = $1 AND user_id = $2",
        &[&conversation_id.0, &user_id.0, &role.as_str()],
    )
    .await?;
    Ok(changed > 0)
}

pub(crate) async fn set_member_role(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    user_id: UserId,
    role: ChannelRole,
    now: Millis,
) -> StoreResult<Option<Event>> {
    if !set_role(c, conversation_id, user_id, role).await? {
        return Ok(None);
    }
    let changed = EventKind::MemberRoleChanged { user_id, role };
    events::append(c, conversation_id, changed, Audience::Members, now)
        .await
        .map(Some)
}

pub(crate) async fn member_roles(
    c: &impl GenericClient,
    conversation_id: ConversationId,
) -> StoreResult<Vec<(UserId, ChannelRole)>> {
    rows(
        c,
        "SELECT user_id, role FROM members WHERE conversation_id = $1 AND role != 'member'
         ORDER BY joined_at, user_id",
        &[&conversation_id.0],
    )
    .await?
    .iter()
    .map(|r| {
        let role = ChannelRole::parse(get(r, 1)?).unwrap_or(ChannelRole::Member);
        Ok((UserId(get(r, 0)?), role))
    })
    .collect()
}

pub(crate) async fn update(
    c: &impl GenericClient,
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
             name = coalesce($2, name),
             topic = CASE WHEN $3 THEN $4 ELSE topic END,
             private = coalesce($5, private),
             archived = coalesce($6, archived),
             retention_days = CASE WHEN $7 THEN $8 ELSE retention_days END
         WHERE id = $1",
        &[
            &conversation_id.0,
            &change.name,
            &topic.is_some(),
            &topic.flatten(),
            &change.private,
            &change.archived,
            &change.retention_days.is_some(),
            &change
                .retention_days
                .flatten()
                .map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
        ],
    )
    .await?;
    if changed == 0 {
        return Ok(None);
    }
    let conversation = sql::conversation_by_id(c, conversation_id)
        .await?
        .ok_or(sql::vanished("conversation"))?;
    let updated = EventKind::ConversationUpdated(conversation.clone());
    let event = events::append(c, conversation_id, updated, Audience::Members, now).await?;
    Ok(Some((conversation, event)))
}
