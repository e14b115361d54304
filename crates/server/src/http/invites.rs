//! Invitations into the caller's organization.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::InviteId;
use parley_proto::v1::{
    CreateInviteRequest, ErrorBody, Invite, InviteList, InviteLookup, InvitePreview,
};

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

/// Invite people
///
/// Makes an invitation into your organization: whoever has its `token` (or opens its `url`) may sign up
/// into it, until it expires or is used `max_uses` times. The token is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/invites",
    operation_id = "create_invite",
    tag = "accounts",
    security(("bearer" = [])),
    request_body = CreateInviteRequest,
    responses(
        (status = 201, description = "The invitation, with its token and link", body = Invite),
        (status = 400, description = "`max_uses` or `expires_in_hours` out of range (`invalid_max_uses`, \
            `invalid_expiry`), or the body is malformed (`invalid_input`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "Guests do not invite (`guest_forbidden`), or this organization keeps invitations to its administrators (`invitations_restricted`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(request): Body<CreateInviteRequest>,
) -> ApiResult<(StatusCode, Json<Invite>)> {
    let invite = state.parley.create_invite(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    all: Option<bool>,
}

/// Your invitations
///
/// The invitations you made, newest first (at most 100), used up and expired ones included; no tokens.
/// With `all=true`, every invitation of your organization, whoever made it: owners and administrators only
/// (a refusal is audited).
#[utoipa::path(
    get,
    path = "/v1/invites",
    operation_id = "list_invites",
    tag = "accounts",
    security(("bearer" = [])),
    params(("all" = Option<bool>, Query, description = "Every invitation of the organization (administrators)")),
    responses(
        (status = 200, description = "Your invitations", body = InviteList),
        (status = 400, description = "The query is malformed (`invalid_query`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`all` asked by someone who is not an owner or administrator \
            (`not_admin`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(query): Params<ListQuery>,
) -> ApiResult<Json<InviteList>> {
    let everyones = query.all.unwrap_or(false);
    let invites = state.parley.invites(&caller, everyones).await?;
    Ok(Json(InviteList { invites }))
}

/// Withdraw an invitation
///
/// Nobody can sign up with it any more. Its maker may withdraw it, and so may the organization's owners and
/// administrators (audited either way).
#[utoipa::path(
    delete,
    path = "/v1/invites/{invite_id}",
    operation_id = "revoke_invite",
    tag = "accounts",
    security(("bearer" = [])),
    params(("invite_id" = InviteId, Path, description = "The invitation")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 400, description = "`invite_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No invitation you may withdraw has this id (`not_found`)", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(invite_id): Ids<InviteId>,
) -> ApiResult<StatusCode> {
    state.parley.revoke_invite(&caller, invite_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Look an invitation up
///
/// Which organization an invitation leads to, for whoever holds it, before signing up with it. The token
/// travels in the body, so it stays out of URLs and their logs.
#[utoipa::path(
    post,
    path = "/v1/invites/lookup",
    operation_id = "lookup_invite",
    tag = "accounts",
    request_body = InviteLookup,
    responses(
        (status = 200, description = "Where the invitation leads", body = InvitePreview),
        (status = 400, description = "The body is malformed (`invalid_input`)", body = ErrorBody),
        (status = 404, description = "The invitation is unknown, expired or used up (`not_found`)",
            body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn lookup(
    State(state): State<AppState>,
    Body(request): Body<InviteLookup>,
) -> ApiResult<Json<InvitePreview>> {
    Ok(Json(state.parley.preview_invite(&request.token).await?))
}
