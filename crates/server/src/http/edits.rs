//! Editing a message, and its earlier versions.

use axum::Json;
use axum::extract::State;
use parley_core::{ConversationId, MessageId};
use parley_proto::v1::{EditMessageRequest, ErrorBody, MessageEditList, SentMessage};

use super::{Auth, Body, Ids};
use crate::app::AppState;
use crate::error::ApiResult;

/// Edit a message
///
/// The author only. The text it had is kept as an earlier version (`.../edits`); every member's devices get
/// `message.updated`. `mentions`, when present, replaces whom the message mentions.
#[utoipa::path(
    patch,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}",
    operation_id = "edit_message",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The message"),
    ),
    request_body = EditMessageRequest,
    responses(
        (status = 200, description = "The message as it is now, with `edited_at`; `dropped_mentions` lists \
            mentioned people who are not members", body = SentMessage),
        (status = 400, description = "`conversation_id` or `message_id` is not an id (`invalid_id`), the text \
            breaks its rule (`invalid_text`), `mentions` breaks its rules (`invalid_mentions`, \
            `unknown_user`), the message is deleted (`message_deleted`) or the body is malformed \
            (`invalid_input`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "Not the message's author, or a public channel you have not joined \
            (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "You made more changes than allowed for now (`rate_limited`)",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn edit(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, message_id)): Ids<(ConversationId, MessageId)>,
    Body(request): Body<EditMessageRequest>,
) -> ApiResult<Json<SentMessage>> {
    let message = state
        .parley
        .edit_message(
            &caller,
            id,
            message_id,
            &request.text,
            request.mentions.as_ref(),
        )
        .await?;
    Ok(Json(message))
}

/// A message's earlier versions
///
/// Oldest first; the current text is the message's own. Any member may read them. A message deleted for
/// everyone has none.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/edits",
    operation_id = "list_message_edits",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The message"),
    ),
    responses(
        (status = 200, description = "The earlier versions, oldest first", body = MessageEditList),
        (status = 400, description = "`conversation_id` or `message_id` is not an id (`invalid_id`)",
            body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, message_id)): Ids<(ConversationId, MessageId)>,
) -> ApiResult<Json<MessageEditList>> {
    Ok(Json(MessageEditList {
        edits: state.parley.message_edits(&caller, id, message_id).await?,
    }))
}
