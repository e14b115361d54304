//! Sign-up, login and logout.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use parley_proto::v1::{AuthResponse, ErrorBody, LoginRequest, PasswordChange, SignupRequest};

use super::{Auth, Body};
use crate::app::AppState;
use crate::error::ApiResult;

/// Sign up
///
/// Creates an account and logs it in: in the organization of the `invite`, or in `org` (the server's default
/// when absent). An existing organization is joined only with an invitation, unless it is open to sign-up
/// (the default organization is, while the server's sign-up is open); a new one is created only if the
/// server's sign-up is open.
#[utoipa::path(
    post,
    path = "/v1/auth/signup",
    tag = "accounts",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Signed up and logged in", body = AuthResponse),
        (status = 400, description = "A field breaks its rule (`invalid_handle`, `invalid_email`, \
            `invalid_password`, `invalid_name`), the invitation is for another `org` (`invite_org_mismatch`), \
            or the body is malformed (`invalid_input`)", body = ErrorBody),
        (status = 403, description = "Joining this organization takes an invitation (`invite_required`; the \
            same whether it exists or not, when this server creates none on sign-up), the invitation is \
            unknown, expired or used up (`invalid_invite`), or the organization signs in through its \
            identity provider only (`sso_required`)", body = ErrorBody),
        (status = 409, description = "The username or the email is taken (`username_taken`, `email_taken`)",
            body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address, or from everyone, for now \
            (`rate_limited`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(request): Body<SignupRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let device = device(&headers);
    let session = state
        .parley
        .signup(request, client.ip(), device.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Log in
///
/// Unknown accounts and wrong passwords get the same answer. A deactivated account's right password is
/// answered 403 `account_deactivated`; where the organization requires single sign-on, 403 `sso_required`
/// (but for its owners, so a broken provider locks nobody out).
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = AuthResponse),
        (status = 400, description = "The body is malformed (`invalid_input`)", body = ErrorBody),
        (status = 401, description = "Unknown account or wrong password (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "An administrator deactivated this account (`account_deactivated`), or \
            its organization signs in through its identity provider only and it is not an owner \
            (`sso_required`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many attempts for this account or from this address (`rate_limited`)",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(request): Body<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let device = device(&headers);
    let session = state
        .parley
        .login(request, client.ip(), device.as_deref())
        .await?;
    Ok(Json(session))
}

/// What a session keeps of the device that made it: its `User-Agent`.
pub(super) fn device(headers: &HeaderMap) -> Option<String> {
    let user_agent = headers.get(header::USER_AGENT)?.to_str().ok()?;
    parley_core::service::device_name(user_agent)
}

/// Change your password
///
/// Takes your current password; every other session of yours ends (this one stays), on every node.
#[utoipa::path(
    put,
    path = "/v1/users/me/password",
    tag = "accounts",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "The password is changed and your other sessions are ended"),
        (status = 400, description = "The new password breaks its rule (`invalid_password`), or the body \
            is malformed (`invalid_input`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "The current password is not right (`wrong_password`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many attempts (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Auth(caller): Auth,
    Body(change): Body<PasswordChange>,
) -> ApiResult<StatusCode> {
    state
        .parley
        .change_password(&caller, change, client.ip())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log out
///
/// Revokes the token at once, on every node, including the WebSockets opened with it.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked"),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn logout(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<StatusCode> {
    state.parley.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log out everywhere
///
/// Revokes every session of yours at once, this one included, on every node, and closes every WebSocket
/// they opened.
#[utoipa::path(
    delete,
    path = "/v1/users/me/sessions",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session is revoked"),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn logout_everywhere(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<StatusCode> {
    state.parley.logout_everywhere(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
