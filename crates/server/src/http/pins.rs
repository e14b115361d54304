//! Pinned messages.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::{ConversationId, MessageId};
use parley_proto::v1::{ErrorBody, PinList};

use super::{Auth, Ids};
use crate::app::AppState;
use crate::error::ApiResult;

/// Pin a message
///
/// Any member, up to 100 pinned messages per conversation; pinning one again changes nothing. Members get
/// `pin.added`.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/pin",
    operation_id = "pin_message",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The message"),
    ),
    responses(
        (status = 204, description = "The message is pinned"),
        (status = 400, description = "`conversation_id` or `message_id` is not an id (`invalid_id`) or the \
            message is deleted (`message_deleted`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 409, description = "The conversation has 100 pinned messages already (`too_many_pins`); or the channel is archived (`archived`)",
            body = ErrorBody),
        (status = 429, description = "You made more changes than allowed for now (`rate_limited`)",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn pin(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, message_id)): Ids<(ConversationId, MessageId)>,
) -> ApiResult<StatusCode> {
    state.parley.pin_message(&caller, id, message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unpin a message
///
/// Any member; members get `pin.removed`.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/pin",
    operation_id = "unpin_message",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The message"),
    ),
    responses(
        (status = 204, description = "The message is not pinned"),
        (status = 400, description = "`conversation_id` or `message_id` is not an id (`invalid_id`)",
            body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
        (status = 429, description = "You made more changes than allowed for now (`rate_limited`)",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn unpin(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, message_id)): Ids<(ConversationId, MessageId)>,
) -> ApiResult<StatusCode> {
    state.parley.unpin_message(&caller, id, message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pinned messages
///
/// Newest pin first.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/pins",
    operation_id = "list_pins",
    tag = "messages",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    responses(
        (status = 200, description = "The pinned messages", body = PinList),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, response = crate::openapi::ConversationNotFound),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<PinList>> {
    Ok(Json(PinList {
        pins: state.parley.pins(&caller, id).await?,
    }))
}
