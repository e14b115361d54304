//! Moderating a channel: its settings, archiving it, its owners and moderators, removing members.
//! (Deleting someone else's message is `DELETE .../messages/{id}?for=everyone`, by a moderator.)

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::{ConversationId, UserId};
use parley_proto::v1::{
    ChannelRoleChange, Conversation, ConversationPatch, ErrorBody, MemberRole, MemberRoleList,
};

use super::{Auth, Body, Ids};
use crate::app::AppState;
use crate::error::ApiResult;

/// Change a channel
///
/// Renames it, changes its topic (empty clears it), or makes it private or public. Its owners and
/// moderators, and the organization's owners and administrators; every member's devices get a
/// `conversation.updated`.
#[utoipa::path(
    patch,
    path = "/v1/conversations/{conversation_id}",
    operation_id = "update_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The channel")),
    request_body = ConversationPatch,
    responses(
        (status = 200, description = "The channel as it is now", body = Conversation),
        (status = 400, description = "A field breaks its rule (`invalid_name`, `invalid_topic`), nothing is \
            changed (`invalid_input`), or this is not a channel (`not_a_channel`), or an id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You do not moderate this channel (`not_moderator`)", body = ErrorBody),
        (status = 404, response = crate::openapi::ConversationNotFound),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Body(patch): Body<ConversationPatch>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.parley.update_channel(&caller, id, patch).await?))
}

/// Archive a channel
///
/// Makes it read-only and takes it out of the directory; its history stays. Moderators only.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/archive",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The channel")),
    responses(
        (status = 200, description = "The channel, archived", body = Conversation),
        (status = 400, description = "This is not a channel (`not_a_channel`), or an id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You do not moderate this channel (`not_moderator`)", body = ErrorBody),
        (status = 404, response = crate::openapi::ConversationNotFound),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn archive(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.parley.archive_channel(&caller, id, true).await?))
}

/// Bring a channel back
///
/// Undoes an archive. Moderators only.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/unarchive",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The channel")),
    responses(
        (status = 200, description = "The channel, writable again", body = Conversation),
        (status = 400, description = "This is not a channel (`not_a_channel`), or an id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You do not moderate this channel (`not_moderator`)", body = ErrorBody),
        (status = 404, response = crate::openapi::ConversationNotFound),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn unarchive(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(
        state.parley.archive_channel(&caller, id, false).await?,
    ))
}

/// A channel's owners and moderators
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/roles",
    operation_id = "list_channel_roles",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The channel")),
    responses(
        (status = 200, description = "Its members whose role is not `member`, in join order",
            body = MemberRoleList),
        (status = 400, description = "An id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, response = crate::openapi::ConversationNotFound),
    )
)]
pub async fn roles(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<MemberRoleList>> {
    let roles = state.parley.channel_roles(&caller, id).await?;
    Ok(Json(MemberRoleList { roles }))
}

/// Change a member's role in a channel
///
/// Makes them an owner, a moderator or a plain member. The channel's owners and the organization's owners
/// and administrators; every member's devices get a `member.role_changed`.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/members/{user_id}/role",
    tag = "conversations",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The channel"),
        ("user_id" = UserId, Path, description = "A member"),
    ),
    request_body = ChannelRoleChange,
    responses(
        (status = 200, description = "The member's role now", body = MemberRole),
        (status = 400, description = "The body is malformed (`invalid_input`), or an id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You may not name this channel's moderators (`not_moderator`)",
            body = ErrorBody),
        (status = 404, description = "No such channel, or they are not a member of it", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn set_role(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, user_id)): Ids<(ConversationId, UserId)>,
    Body(change): Body<ChannelRoleChange>,
) -> ApiResult<Json<MemberRole>> {
    let role = state
        .parley
        .set_channel_role(&caller, id, user_id, change.role)
        .await?;
    Ok(Json(role))
}

/// Remove a member from a channel
///
/// A moderator removes plain members; the channel's owners and the organization's administrators anyone.
/// Every member's devices, and the removed member's, get a `member.left` with `removed: true`.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}/members/{user_id}",
    tag = "conversations",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The channel"),
        ("user_id" = UserId, Path, description = "A member"),
    ),
    responses(
        (status = 204, description = "They are no longer a member"),
        (status = 400, description = "This is not a channel (`not_a_channel`), or an id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You do not moderate this channel, or may not remove this member \
            (`not_moderator`)", body = ErrorBody),
        (status = 404, description = "No such channel, or they are not a member of it", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, user_id)): Ids<(ConversationId, UserId)>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .remove_from_channel(&caller, id, user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
