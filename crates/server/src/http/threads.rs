//! Threads: their replies, following them, where I read up to, and the threads I follow.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::{ConversationId, MessageId};
use parley_proto::v1::{ErrorBody, MessageList, ReadRequest, ThreadList};

use super::messages::HistoryParams;
use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

/// A page of a thread
///
/// The replies to `message_id`, oldest first, paged as history is (the root itself is the message).
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/thread",
    operation_id = "list_thread",
    tag = "threads",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The thread's root"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "The page of replies, oldest first", body = MessageList),
        (status = 400, description = "An id is not an id (`invalid_id`), the query is malformed \
            (`invalid_query`), `limit` is out of range (`invalid_limit`) or the message is a reply \
            (`invalid_thread_root`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
    )
)]
pub async fn replies(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, root_id)): Ids<(ConversationId, MessageId)>,
    Params(params): Params<HistoryParams>,
) -> ApiResult<Json<MessageList>> {
    let messages = state
        .parley
        .thread(&caller, id, root_id, params.into())
        .await?;
    Ok(Json(MessageList { messages }))
}

/// Follow a thread
///
/// Its replies then count in `GET /v1/threads`. The root's author, repliers and whoever a reply mentions
/// follow it without asking.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/follow",
    operation_id = "follow_thread",
    tag = "threads",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The thread's root"),
    ),
    responses(
        (status = 204, description = "You follow the thread"),
        (status = 400, description = "An id is not an id (`invalid_id`) or the message is a reply \
            (`invalid_thread_root`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 429, description = "You made more changes than allowed for now (`rate_limited`)",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn follow(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, root_id)): Ids<(ConversationId, MessageId)>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .follow_thread(&caller, id, root_id, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop following a thread
///
/// Until you reply in it or a reply mentions you.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/follow",
    operation_id = "unfollow_thread",
    tag = "threads",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The thread's root"),
    ),
    responses(
        (status = 204, description = "You do not follow the thread"),
        (status = 400, description = "An id is not an id (`invalid_id`) or the message is a reply \
            (`invalid_thread_root`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 429, description = "You made more changes than allowed for now (`rate_limited`)",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn unfollow(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, root_id)): Ids<(ConversationId, MessageId)>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .follow_thread(&caller, id, root_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move your read checkpoint in a thread
///
/// Forward only, to one of the thread's replies.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/thread/read",
    operation_id = "mark_thread_read",
    tag = "threads",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The thread's root"),
    ),
    request_body = ReadRequest,
    responses(
        (status = 204, description = "Your checkpoint in the thread is at this reply or later"),
        (status = 400, description = "An id is not an id (`invalid_id`), the root is a reply \
            (`invalid_thread_root`), `message_id` is not a reply in this thread or the body is malformed \
            (`invalid_input`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn read(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, root_id)): Ids<(ConversationId, MessageId)>,
    Body(request): Body<ReadRequest>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .mark_thread_read(&caller, id, root_id, request.message_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Threads you follow
///
/// In conversations you are in, newest reply first (at most 50), each with its unread replies.
#[utoipa::path(
    get,
    path = "/v1/threads",
    operation_id = "list_threads",
    tag = "threads",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The threads you follow", body = ThreadList),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<ThreadList>> {
    Ok(Json(ThreadList {
        threads: state.parley.followed_threads(&caller).await?,
    }))
}
