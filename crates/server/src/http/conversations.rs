//! DMs, groups and channels, and membership.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::ConversationId;
use parley_core::service::Created;
use parley_proto::v1::{
    Conversation, ConversationList, CreateConversationRequest, InviteRequest, Membership,
    MembershipPatch,
};
use serde::Deserialize;

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

#[derive(Deserialize)]
pub struct DirectoryParams {
    #[serde(default)]
    q: String,
}

/// 201 for a new conversation; 200 when a DM between the pair already existed.
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

pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<ConversationList>> {
    Ok(Json(ConversationList {
        conversations: state.parley.conversations(&caller).await?,
    }))
}

pub async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.parley.conversation(&caller, id).await?))
}

pub async fn directory(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<DirectoryParams>,
) -> ApiResult<Json<ConversationList>> {
    Ok(Json(ConversationList {
        conversations: state.parley.channel_directory(&caller, &params.q).await?,
    }))
}

pub async fn join(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.parley.join(&caller, id).await?))
}

pub async fn join_by_handle(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(handle): Ids<String>,
) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.parley.join_by_handle(&caller, &handle).await?))
}

pub async fn invite(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Body(request): Body<InviteRequest>,
) -> ApiResult<StatusCode> {
    state.parley.invite(&caller, id, &request.user_ids).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn leave(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<StatusCode> {
    state.parley.leave(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
