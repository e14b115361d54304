//! Messages, reactions, read checkpoints, receipts and search.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::service::{DeleteScope, HistoryQuery, SendOutcome};
use parley_core::{ConversationId, MessageId};
use parley_proto::v1::{Message, MessageList, ReadRequest, ReceiptList, SendMessageRequest};
use serde::Deserialize;

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    before: Option<MessageId>,
    after: Option<MessageId>,
    limit: Option<u32>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ForWhom {
    #[default]
    Me,
    Everyone,
}

#[derive(Deserialize)]
pub struct DeleteParams {
    #[serde(default, rename = "for")]
    for_whom: ForWhom,
}

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    conversation_id: Option<ConversationId>,
}

/// 201 once the message is durable; 200 with the first message when its nonce was seen before.
pub async fn send(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Body(request): Body<SendMessageRequest>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    Ok(
        match state
            .parley
            .send_message(&caller, id, &request.text, request.nonce.as_deref())
            .await?
        {
            SendOutcome::Stored(message) => (StatusCode::CREATED, Json(message)),
            SendOutcome::Duplicate(message) => (StatusCode::OK, Json(message)),
        },
    )
}

pub async fn history(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Params(params): Params<HistoryParams>,
) -> ApiResult<Json<MessageList>> {
    let query = HistoryQuery {
        before: params.before,
        after: params.after,
        limit: params.limit,
    };
    Ok(Json(MessageList {
        messages: state.parley.history(&caller, id, query).await?,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, message_id)): Ids<(ConversationId, MessageId)>,
    Params(params): Params<DeleteParams>,
) -> ApiResult<StatusCode> {
    let scope = match params.for_whom {
        ForWhom::Me => DeleteScope::Me,
        ForWhom::Everyone => DeleteScope::Everyone,
    };
    state
        .parley
        .delete_message(&caller, id, message_id, scope)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn react(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, message_id, emoji)): Ids<(ConversationId, MessageId, String)>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .add_reaction(&caller, id, message_id, &emoji)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unreact(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, message_id, emoji)): Ids<(ConversationId, MessageId, String)>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .remove_reaction(&caller, id, message_id, &emoji)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn read(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Body(request): Body<ReadRequest>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .mark_read(&caller, id, request.message_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn receipts(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<ReceiptList>> {
    Ok(Json(ReceiptList {
        receipts: state.parley.receipts(&caller, id).await?,
    }))
}

pub async fn search(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<SearchParams>,
) -> ApiResult<Json<MessageList>> {
    let messages = state
        .parley
        .search_messages(&caller, &params.q, params.conversation_id)
        .await?;
    Ok(Json(MessageList { messages }))
}
