//! Retention: a channel's own policy, the organization's status, and a purge on demand. (The
//! organization's policy is part of `/v1/org/settings`.)

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::ConversationId;
use parley_proto::v1::{ChannelRetention, Conversation, ErrorBody, RetentionStatus};

use super::{Auth, Body, Ids};
use crate::app::AppState;
use crate::error::ApiResult;

/// Set a channel's retention
///
/// How long this channel keeps messages, in place of the organization's policy: 0 for ever, or 1 to
/// 36,500 days; null follows the organization's again. The channel's owners and the organization's
/// administrators, where the organization allows channels a retention of their own
/// (`channel_retention` in `/v1/org/settings`). Every member's devices get a `conversation.updated`.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/retention",
    operation_id = "set_channel_retention",
    tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path, description = "The channel")),
    request_body = ChannelRetention,
    responses(
        (status = 200, description = "The channel as it is now", body = Conversation),
        (status = 400, description = "The retention is out of range (`invalid_retention`), the body is \
            malformed (`invalid_json`), this is not a channel (`not_a_channel`), or an id in the path is not \
            one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You do not own this channel (`not_moderator`), or the organization \
            does not allow channels a retention of their own (`channel_retention_off`)", body = ErrorBody),
        (status = 404, response = crate::openapi::ConversationNotFound),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn set_channel(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<ConversationId>,
    Body(body): Body<ChannelRetention>,
) -> ApiResult<Json<Conversation>> {
    let days = body.retention_days;
    Ok(Json(
        state
            .parley
            .set_channel_retention(&caller, id, days)
            .await?,
    ))
}

/// Retention and the purge job
///
/// The organization's retention, how many channels have their own, and the purge job's last run: when it
/// started and ended, and what it removed. Owners and administrators only.
#[utoipa::path(
    get,
    path = "/v1/admin/retention",
    operation_id = "retention_status",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy and the last run", body = RetentionStatus),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<RetentionStatus>> {
    Ok(Json(state.parley.retention_status(&caller).await?))
}

/// Purge now
///
/// Starts the purge job over the organization at once rather than at its next hourly run: messages older
/// than their conversation's retention are deleted with their edits, search entries, reactions,
/// attachments and events, in small batches (safe on a live server). Answers at once; the status shows
/// the run, with `finished_at` once it ended, and the audit log a `purged` entry. Owners and
/// administrators only.
#[utoipa::path(
    post,
    path = "/v1/admin/retention/run",
    operation_id = "run_purge",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The run started", body = RetentionStatus),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 409, description = "A purge is running on this server already (`purge_running`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn run(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<(StatusCode, Json<RetentionStatus>)> {
    let status = state.parley.start_purge(&caller).await?;
    Ok((StatusCode::ACCEPTED, Json(status)))
}
