//! Messages, reactions, read checkpoints, receipts and search.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::service::{DeleteScope, Draft, HistoryQuery};
use parley_core::{ConversationId, MessageId};
use parley_proto::v1::{
    ErrorBody, Message, MessageList, ReadRequest, ReceiptList, SendMessageRequest, SentMessage,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only messages older than this one: the page before it.
    before: Option<MessageId>,
    /// Only messages newer than this one: the page after it.
    after: Option<MessageId>,
    /// This message and those around it, about half older and half newer (a permalink); not with `before`
    /// or `after`.
    around: Option<MessageId>,
    /// How many messages at most, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

impl From<HistoryParams> for HistoryQuery {
    fn from(params: HistoryParams) -> Self {
        HistoryQuery {
            before: params.before,
            after: params.after,
            around: params.around,
            limit: params.limit,
        }
    }
}

/// `me` hides the message from your own views only; `everyone` (the sender only) erases its text for all.
#[derive(Deserialize, Default, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ForWhom {
    #[default]
    Me,
    Everyone,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Whom the message is deleted for.
    #[serde(default, rename = "for")]
    #[param(inline)]
    for_whom: ForWhom,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to look for, 1 to 256 characters.
    #[serde(default)]
    #[param(required = true)]
    q: String,
    /// Only this conversation; absent means every conversation you are in.
    conversation_id: Option<ConversationId>,
}

/// Send a message
///
/// 201 once the message is durable; 200 with the first message when its nonce was seen before. A message may
/// mention people (`mentions`), answer in a thread (`thread_root_id`) and quote a message (`quote`).
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/messages",
    operation_id = "send_message",
    tag = "messages",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    request_body = SendMessageRequest,
    responses(
        (status = 201, description = "The message, durably stored; `dropped_mentions` lists mentioned people \
            who are not members", body = SentMessage),
        (status = 200, description = "The message first sent with this nonce; nothing new is stored",
            body = SentMessage),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`), the text or nonce breaks \
            its rule (`invalid_text`, `invalid_nonce`), `mentions` names too many people (`invalid_mentions`) \
            or someone who is not a user of your organization (`unknown_user`), `thread_root_id` is a reply \
            (`invalid_thread_root`), the root or quoted message is deleted (`message_deleted`), \
            `also_to_conversation` without `thread_root_id` or the body is malformed (`invalid_input`)",
                body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 403, description = "`@channel` or `@here` that this organization keeps to moderators (`channel_mention_restricted`)", body = ErrorBody),
        (status = 404, description = "No such conversation, thread root (in this conversation) or quoted \
            message, or not visible to you (`not_found`)", body = ErrorBody),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "You sent more messages than allowed for now, over REST and your sockets \
            together (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Body(request): Body<SendMessageRequest>,
) -> ApiResult<(StatusCode, Json<SentMessage>)> {
    let outcome = state
        .parley
        .send_message(&caller, id, &Draft::from(request))
        .await?;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let sent = SentMessage {
        message: outcome.message,
        dropped_mentions: outcome.dropped_mentions,
    };
    Ok((status, Json(sent)))
}

/// One message
///
/// A reply too: for a permalink, or a quote's card. 404 for anyone who is not a member of its conversation
/// ("message unavailable").
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}",
    operation_id = "get_message",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The message"),
    ),
    responses(
        (status = 200, description = "The message", body = Message),
        (status = 400, description = "`conversation_id` or `message_id` is not an id (`invalid_id`)",
            body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such message, or not visible to you (`not_found`)", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, message_id)): Ids<(ConversationId, MessageId)>,
) -> ApiResult<Json<Message>> {
    Ok(Json(state.parley.message(&caller, id, message_id).await?))
}

/// A page of history
///
/// Oldest first. Without cursors, the newest page; with both, the messages between them; with `around`, a
/// message and its neighbours. Replies stay in their threads unless sent `also_to_conversation`. Messages
/// you deleted for yourself are left out.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/messages",
    operation_id = "list_messages",
    tag = "messages",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation"), HistoryParams),
    responses(
        (status = 200, description = "The page, oldest first", body = MessageList),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`), the query has an unknown \
            or malformed parameter or `around` with `before` or `after` (`invalid_query`) or `limit` is out \
            of range (`invalid_limit`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, response = crate::openapi::ConversationNotFound),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Params(params): Params<HistoryParams>,
) -> ApiResult<Json<MessageList>> {
    Ok(Json(MessageList {
        messages: state.parley.history(&caller, id, params.into()).await?,
    }))
}

/// Delete a message
///
/// For you only (`for=me`, the default), or for everyone (`for=everyone`, the sender only): the text is erased
/// from storage and a tombstone with `deleted: true` stays.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}",
    operation_id = "delete_message",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The message"),
        DeleteParams,
    ),
    responses(
        (status = 204, description = "The message is deleted"),
        (status = 400, description = "`conversation_id` or `message_id` is not an id (`invalid_id`) or `for` \
            is neither `me` nor `everyone` (`invalid_query`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`for=everyone` by someone other than the sender, or a public channel you \
            have not joined (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
    )
)]
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

/// React to a message
///
/// Reacting twice with the same emoji changes nothing.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/reactions/{emoji}",
    operation_id = "add_reaction",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The message"),
        ("emoji" = String, Path,
            description = "An emoji or a short word, 1 to 32 characters without spaces; `like` is a like"),
    ),
    responses(
        (status = 204, description = "You have reacted with this emoji"),
        (status = 400, description = "`conversation_id` or `message_id` is not an id (`invalid_id`), the emoji \
            breaks its rule (`invalid_emoji`) or the message is deleted (`message_deleted`)",
                body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
    )
)]
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

/// Take a reaction back
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/reactions/{emoji}",
    operation_id = "remove_reaction",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("conversation_id" = ConversationId, Path, description = "The conversation"),
        ("message_id" = MessageId, Path, description = "The message"),
        ("emoji" = String, Path,
            description = "An emoji or a short word, 1 to 32 characters without spaces; `like` is a like"),
    ),
    responses(
        (status = 204, description = "You have no reaction with this emoji"),
        (status = 400, description = "`conversation_id` or `message_id` is not an id (`invalid_id`) or the \
            emoji breaks its rule (`invalid_emoji`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, description = "No such conversation or message, or not visible to you (`not_found`)",
            body = ErrorBody),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
    )
)]
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

/// Move your read checkpoint
///
/// Forward only: an older message changes nothing.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/read",
    operation_id = "mark_read",
    tag = "messages",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    request_body = ReadRequest,
    responses(
        (status = 204, description = "Your checkpoint is at this message or later"),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`) or the body is malformed \
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
    Ids(id): Ids<ConversationId>,
    Body(request): Body<ReadRequest>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .mark_read(&caller, id, request.message_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Read receipts
///
/// Where each member has read up to.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/receipts",
    operation_id = "list_receipts",
    tag = "messages",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The conversation")),
    responses(
        (status = 200, description = "Each member's read checkpoint", body = ReceiptList),
        (status = 400, description = "`conversation_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::NotJoined),
        (status = 404, response = crate::openapi::ConversationNotFound),
    )
)]
pub async fn receipts(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
) -> ApiResult<Json<ReceiptList>> {
    Ok(Json(ReceiptList {
        receipts: state.parley.receipts(&caller, id).await?,
    }))
}

/// Search messages
///
/// Full-text search over the conversations you are in, newest first, at most 50.
#[utoipa::path(
    get,
    path = "/v1/search",
    operation_id = "search_messages",
    tag = "messages",
    security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "The messages found", body = MessageList),
        (status = 400, description = "`q` is empty or over 256 characters, or `conversation_id` is not an id \
            (`invalid_query`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`conversation_id` is a public channel you have not joined (`forbidden`)",
            body = ErrorBody),
        (status = 404, description = "No conversation `conversation_id`, or not visible to you (`not_found`)",
            body = ErrorBody),
    )
)]
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
