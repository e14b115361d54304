//! Single sign-on: what the login page offers, a sign-in's start and finish, the provider's redirect back
//! to the web client, and an organization's provider as its administrators set it.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Redirect;
use parley_proto::v1::{
    AuthResponse, ErrorBody, SsoCallback, SsoProvider, SsoSettings, SsoSettingsUpdate, SsoStart,
    SsoStartRequest,
};
use serde::Deserialize;

use super::accounts::device;
use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

#[derive(Deserialize)]
pub struct OrgQuery {
    org: Option<String>,
}

/// An organization's single sign-on
///
/// Whether the organization (the server's default when `org` is absent) signs in through an OpenID provider,
/// and what the login page's button says. An organization that does not exist answers as one without.
#[utoipa::path(
    get,
    path = "/v1/auth/sso",
    operation_id = "sso_provider",
    tag = "accounts",
    params(("org" = Option<String>, Query, description = "The organization's handle")),
    responses(
        (status = 200, description = "The organization's provider, as the login page offers it", body = SsoProvider),
        (status = 400, description = "`org` is not a handle (`invalid_handle`), or the query is malformed \
            (`invalid_query`)", body = ErrorBody),
        (status = 404, description = "No single sign-on here (`sso_not_configured`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn provider(
    State(state): State<AppState>,
    Params(query): Params<OrgQuery>,
) -> ApiResult<Json<SsoProvider>> {
    Ok(Json(state.parley.sso_provider(query.org.as_deref()).await?))
}

/// Begin a sign-in through the organization's provider
///
/// Answers the provider's authorization URL (send the browser there) and a `flow_key` that only this client
/// holds: the sign-in finishes (`POST /v1/auth/sso/callback`) only with it, within ten minutes, once.
#[utoipa::path(
    post,
    path = "/v1/auth/sso/start",
    operation_id = "sso_start",
    tag = "accounts",
    request_body = SsoStartRequest,
    responses(
        (status = 200, description = "Where to send the browser, and the flow's key", body = SsoStart),
        (status = 400, description = "`org` is not a handle (`invalid_handle`), or the body is malformed \
            (`invalid_input`)", body = ErrorBody),
        (status = 404, description = "No single sign-on here (`sso_not_configured`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
        (status = 502, description = "The provider cannot be reached (`sso_unavailable`)", body = ErrorBody),
    )
)]
pub async fn start(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Body(request): Body<SsoStartRequest>,
) -> ApiResult<Json<SsoStart>> {
    let start = state
        .parley
        .sso_start(&*state.oidc, request, client.ip())
        .await?;
    Ok(Json(start))
}

/// What a provider's redirect carries.
#[derive(Deserialize)]
pub struct ProviderReturn {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's redirect back
///
/// The redirect URI an organization registers at its provider, one per organization. It sends the browser on
/// to the web client (`/?sso=callback&org=…&…`, with the `code`, `state` and `iss`, or the provider's
/// `error`), which finishes the sign-in with `POST /v1/auth/sso/callback` and the flow's key.
#[utoipa::path(
    get,
    path = "/v1/auth/sso/callback/{org}",
    operation_id = "sso_return",
    tag = "accounts",
    params(
        ("org" = String, Path, description = "The organization's handle"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The flow's state"),
        ("iss" = Option<String>, Query, description = "The provider's issuer (RFC 9207)"),
        ("error" = Option<String>, Query, description = "The provider's refusal (`access_denied`, …)"),
        ("error_description" = Option<String>, Query, description = "The refusal, in words"),
    ),
    responses(
        (status = 303, description = "To the web client, with the same parameters"),
        (status = 400, description = "The query is malformed (`invalid_query`)", body = ErrorBody),
    )
)]
pub async fn provider_return(
    Ids(org): Ids<String>,
    Params(back): Params<ProviderReturn>,
) -> Redirect {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("sso", "callback");
    query.append_pair("org", &org);
    let fields = [
        ("code", &back.code),
        ("state", &back.state),
        ("iss", &back.iss),
        ("error", &back.error),
        ("error_description", &back.error_description),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    Redirect::to(&format!("/?{}", query.finish()))
}

/// Finish a sign-in through the organization's provider
///
/// With the `org`, `code`, `state` and `iss` the provider's redirect carried and the `flow_key` the start
/// answered: redeems the code at the provider, checks the ID token (signature, issuer, audience, expiry,
/// nonce), and logs in the identity's account. The first sign-in of an identity makes its account, or takes
/// over the organization's account with the same email where the organization allows it and the provider
/// verified that email. Audited (`sso_login`), done or refused.
#[utoipa::path(
    post,
    path = "/v1/auth/sso/callback",
    operation_id = "sso_finish",
    tag = "accounts",
    request_body = SsoCallback,
    responses(
        (status = 200, description = "Logged in", body = AuthResponse),
        (status = 400, description = "The sign-in is unknown, expired, finished already, the flow key is not \
            its own, or it came back to another organization's callback (`invalid_sso_state`), or the body is \
            malformed (`invalid_input`)", body = ErrorBody),
        (status = 401, description = "The provider refused the code, or its ID token does not hold (a bad \
            signature, another issuer or audience, expired, another nonce) (`sso_failed`)", body = ErrorBody),
        (status = 403, description = "An administrator deactivated this account (`account_deactivated`)",
            body = ErrorBody),
        (status = 409, description = "An account with this email exists and may not be taken over \
            (`sso_account_exists`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "The provider gave no email address (`sso_email_missing`)",
            body = ErrorBody),
        (status = 429, description = "Too many attempts from this address (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
        (status = 502, description = "The provider cannot be reached (`sso_unavailable`)", body = ErrorBody),
    )
)]
pub async fn finish(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(callback): Body<SsoCallback>,
) -> ApiResult<Json<AuthResponse>> {
    let device = device(&headers);
    let session = state
        .parley
        .sso_finish(&*state.oidc, callback, client.ip(), device.as_deref())
        .await?;
    Ok(Json(session))
}

/// The organization's single sign-on
///
/// Its provider as set (never the client secret), and the redirect URI to register there. Owners and
/// administrators only.
#[utoipa::path(
    get,
    path = "/v1/admin/sso",
    operation_id = "sso_settings",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The provider", body = SsoSettings),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 404, description = "No single sign-on yet (`sso_not_configured`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<SsoSettings>> {
    Ok(Json(state.parley.sso_settings(&caller).await?))
}

/// Set the organization's single sign-on
///
/// The provider's issuer URL (its discovery document must answer), client id and secret (absent keeps the
/// stored one), the login button's label, whether a first sign-in may take over the account with the same
/// verified email, and whether members must sign in this way (password login refused, owners excepted).
/// Owners and administrators; audited.
#[utoipa::path(
    put,
    path = "/v1/admin/sso",
    operation_id = "set_sso_settings",
    tag = "administration",
    security(("bearer" = [])),
    request_body = SsoSettingsUpdate,
    responses(
        (status = 200, description = "The provider as it is now", body = SsoSettings),
        (status = 400, description = "A field breaks its rule, or no secret is stored nor given \
            (`invalid_sso_settings`), or the body is malformed (`invalid_input`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "The issuer's discovery document does not answer as an OpenID \
            provider's (`sso_discovery_failed`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn set_settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(update): Body<SsoSettingsUpdate>,
) -> ApiResult<Json<SsoSettings>> {
    let settings = state
        .parley
        .set_sso_settings(&*state.oidc, &caller, update)
        .await?;
    Ok(Json(settings))
}

/// Remove the organization's single sign-on
///
/// Its members log in with passwords again; accounts that single sign-on made have no password anyone
/// knows, so they cannot log in until a provider is set again. Owners and administrators; audited.
#[utoipa::path(
    delete,
    path = "/v1/admin/sso",
    operation_id = "remove_sso_settings",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 404, description = "No single sign-on to remove (`sso_not_configured`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn remove_settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<StatusCode> {
    state.parley.remove_sso_settings(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
