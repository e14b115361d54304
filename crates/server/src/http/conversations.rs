//! DMs, groups and channels, and membership.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::ConversationId;
use parley_core::service::Created;
use parley_proto::v1::{
    Conversation, ConversationList, CreateConversationRequest, ErrorBody, InviteRequest,
    Membership, MembershipPatch,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryParams {
    /// Text the channel's name, handle or topic contains, up to 100 characters; empty matches every channel.
    #[serde(default)]
    q: String,
}

/// Start a DM, group or channel
///
/// 201 for a new conversation; 200 when a DM between the pair already existed.
#[utoipa::path(
    post,
    path = "/v1/conversations",
    operation_id = "create_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    request_body = CreateConversationRequest,
    responses(
        (status = 201, description = "The new conversation", body = Conversation),
        (status = 200, description = "The DM that already linked the pair", body = Conversation),
        (status = 400, description = "A field breaks its rule (`invalid_members`, `too_many_members`, \
            `invalid_dm`, `invalid_name`, `invalid_topic`, `invalid_handle`, `invalid_private`) or the body is \
            malformed (`invalid_input`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "A guest creates a channel (`guest_forbidden`), or this organization keeps channels to its administrators (`channel_creation_restricted`)", body = ErrorBody),
        (status = 404, description = "A member is not a user of your organization (`not_found`)",
            body = ErrorBody),
        (status = 409, description = "The channel handle is taken (`handle_taken`); or someone named is deactivated (`user_deactivated`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(request): Body<CreateConversationRequest>,
) -> ApiResult<(StatusCode, Json<Conversation>)> {
    Ok(
        match state.parley.create_conversation(&caller, request).await? {
            Created::New(conversation) => (StatusCode::CREATED, Json(conversation)),
            Created::Existing(conversation) => (StatusCode::OK, Json(conversation)),
        },
    )
}

/// Your conversations
///
/// Most recent activity first, each with `unread_count`, `last_message` and `membership`.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    operation_id = "list_conversations",
    tag = "conversations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The conversations you are a member of", body = ConversationList),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<ConversationList>> {
    Ok(Json(ConversationList {
        conversations: state.parley.conversations(&caller).await?,
    }))
}

/// A conversation
///
/// With `members` for conversations of up to 1,000 members; `member_count` always.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}",
    operation_id = "get_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    responses(
        (status = 200, description = "The conversation", body = Conversation),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, response = crate::openapi::ConversationNotFound),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.parley.conversation(&caller, id).await?))
}

/// Search public channels
///
/// The public channels of your organization, at most 100, the most popular first.
#[utoipa::path(
    get,
    path = "/v1/channels",
    operation_id = "search_channels",
    tag = "conversations",
    security(("bearer" = [])),
    params(DirectoryParams),
    responses(
        (status = 200, description = "The channels found", body = ConversationList),
        (status = 400, description = "`q` is over 100 characters (`invalid_query`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "Guests do not browse channels (`guest_forbidden`)", body = ErrorBody),
    )
)]
pub async fn directory(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<DirectoryParams>,
) -> ApiResult<Json<ConversationList>> {
    Ok(Json(ConversationList {
        conversations: state.parley.channel_directory(&caller, &params.q).await?,
    }))
}

/// Join a public channel
///
/// Joining a conversation you are in already changes nothing.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/join",
    operation_id = "join_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    responses(
        (status = 200, description = "The conversation, which you are now a member of", body = Conversation),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, response = crate::openapi::ConversationNotFound),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
    )
)]
pub async fn join(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.parley.join(&caller, id).await?))
}

/// Join a public channel by its handle
///
/// Where a channel's `join_url` leads.
#[utoipa::path(
    post,
    path = "/v1/join/{handle}",
    tag = "conversations",
    security(("bearer" = [])),
    params(("handle" = String, Path, description = "The channel's handle")),
    responses(
        (status = 200, description = "The channel, which you are now a member of", body = Conversation),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No public channel of your organization has this handle (`not_found`)",
            body = ErrorBody),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
    )
)]
pub async fn join_by_handle(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(handle): Ids<String>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.parley.join_by_handle(&caller, &handle).await?))
}

/// Add people to a group or channel
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/members",
    operation_id = "invite_members",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    request_body = InviteRequest,
    responses(
        (status = 204, description = "The people are members"),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`), `user_ids` is empty or too \
            long (`invalid_members`, `too_many_members`) or the body is malformed (`invalid_input`)",
                body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "A DM, or a public channel you have not joined (`forbidden`)",
            body = ErrorBody),
        (status = 404, description = "No such conversation or user, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 409, description = "The channel is archived (`archived`), or someone named is deactivated (`user_deactivated`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Body(request): Body<InviteRequest>,
) -> ApiResult<StatusCode> {
    state.parley.invite(&caller, id, &request.user_ids).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Leave a conversation
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/leave",
    operation_id = "leave_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    responses(
        (status = 204, description = "You are no longer a member"),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, response = crate::openapi::ConversationNotFound),
    )
)]
pub async fn leave(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<StatusCode> {
    state.parley.leave(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change your settings for a conversation
///
/// Absent fields keep their value.
#[utoipa::path(
    patch,
    path = "/v1/conversations/{conversation_id}/membership",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    request_body = MembershipPatch,
    responses(
        (status = 200, description = "Your membership", body = Membership),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`) or the body is malformed \
            (`invalid_input`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, response = crate::openapi::ConversationNotFound),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn update_membership(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Body(patch): Body<MembershipPatch>,
) -> ApiResult<Json<Membership>> {
    Ok(Json(
        state.parley.update_membership(&caller, id, patch).await?,
    ))
}
