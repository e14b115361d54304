//! The messages that mention me.

use axum::Json;
use axum::extract::State;
use parley_core::MessageId;
use parley_proto::v1::{ErrorBody, MessageList};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Auth, Params};
use crate::app::AppState;
use crate::error::ApiResult;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MentionParams {
    /// Only mentions older than this message: the next page.
    before: Option<MessageId>,
    /// How many messages at most, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

/// Messages that mention you
///
/// By name, `@channel` or `@here`, in conversations you are in, not your own: newest first.
#[utoipa::path(
    get,
    path = "/v1/mentions",
    operation_id = "list_mentions",
    tag = "messages",
    security(("bearer" = [])),
    params(MentionParams),
    responses(
        (status = 200, description = "The messages, newest first", body = MessageList),
        (status = 400, description = "The query is malformed (`invalid_query`) or `limit` is out of range \
            (`invalid_limit`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<MentionParams>,
) -> ApiResult<Json<MessageList>> {
    let messages = state
        .parley
        .mentions(&caller, params.before, params.limit)
        .await?;
    Ok(Json(MessageList { messages }))
}
