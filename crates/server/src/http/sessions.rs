//! Your own sessions: the devices you are logged in on, and ending one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::SessionId;
use parley_proto::v1::{ErrorBody, SessionList};

use super::{Auth, Ids};
use crate::app::AppState;
use crate::error::ApiResult;

/// Your sessions
///
/// The devices you are logged in on, most recently used first; `current` marks the one asking.
#[utoipa::path(
    get,
    path = "/v1/users/me/sessions",
    operation_id = "list_sessions",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your sessions", body = SessionList),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<SessionList>> {
    Ok(Json(state.parley.sessions(&caller).await?))
}

/// End a session
///
/// Logs that device out at once, on every node, closing its WebSockets. Ending the current session is a
/// logout.
#[utoipa::path(
    delete,
    path = "/v1/users/me/sessions/{session_id}",
    operation_id = "end_session",
    tag = "accounts",
    security(("bearer" = [])),
    params(("session_id" = SessionId, Path, description = "One of your sessions")),
    responses(
        (status = 204, description = "The session is ended"),
        (status = 400, description = "An id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such session of yours", body = ErrorBody),
    )
)]
pub async fn end(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(session_id): Ids<SessionId>,
) -> ApiResult<StatusCode> {
    state.parley.end_session(&caller, session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
