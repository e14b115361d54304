//! Administration of an organization: its people (roles, deactivation) and its audit log. Owners and
//! administrators only; every refusal is itself audited.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use parley_core::service::{AuditQuery, Export, PeopleQuery};
use parley_core::{AuditId, UserId};
use parley_proto::v1::{
    AuditKind, AuditList, ErrorBody, ExportLine, PeopleList, Person, RoleChange,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeopleParams {
    /// The start of a username, name or email; everyone when absent.
    q: Option<String>,
    /// Only people with a greater id: the next page (`next` of the last).
    after: Option<UserId>,
    /// How many people at most.
    #[param(default = 100)]
    limit: Option<u32>,
}

/// The organization's people
///
/// Everyone of your organization with their role and status, deactivated accounts included, by id.
/// Owners and administrators only.
#[utoipa::path(
    get,
    path = "/v1/admin/people",
    operation_id = "list_people",
    tag = "administration",
    security(("bearer" = [])),
    params(PeopleParams),
    responses(
        (status = 200, description = "A page of people", body = PeopleList),
        (status = 400, description = "The query is malformed (`invalid_query`) or `limit` is out of range \
            (`invalid_limit`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn people(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<PeopleParams>,
) -> ApiResult<Json<PeopleList>> {
    let query = PeopleQuery {
        q: params.q,
        after: params.after,
        limit: params.limit,
    };
    Ok(Json(state.parley.people(&caller, query).await?))
}

/// Change a person's role
///
/// Owners give any role to anyone; administrators make members and guests members or guests. An
/// organization keeps at least one active owner.
#[utoipa::path(
    put,
    path = "/v1/admin/people/{user_id}/role",
    tag = "administration",
    security(("bearer" = [])),
    params(("user_id" = UserId, Path, description = "The person")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The person, with their new role", body = Person),
        (status = 400, description = "The body is malformed (`invalid_input`), or an id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`), or may not \
            manage this person or give this role (`forbidden_role`)", body = ErrorBody),
        (status = 404, description = "No such person in your organization", body = ErrorBody),
        (status = 409, description = "They are the last active owner (`last_owner`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn set_role(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
    Body(change): Body<RoleChange>,
) -> ApiResult<Json<Person>> {
    Ok(Json(
        state.parley.set_role(&caller, user_id, change.role).await?,
    ))
}

/// Deactivate a person
///
/// Ends every session of theirs at once (their WebSockets close on every node), removes their push
/// subscriptions, and hides them from search and new conversations; what they wrote stays. Deactivating
/// someone already deactivated changes nothing.
#[utoipa::path(
    post,
    path = "/v1/admin/people/{user_id}/deactivate",
    tag = "administration",
    security(("bearer" = [])),
    params(("user_id" = UserId, Path, description = "The person")),
    responses(
        (status = 200, description = "The person, deactivated", body = Person),
        (status = 400, description = "You cannot deactivate yourself (`cannot_deactivate_yourself`), or an id in the path is not one (`invalid_id`)",
            body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`), or may not \
            manage this person (`forbidden_role`)", body = ErrorBody),
        (status = 404, description = "No such person in your organization", body = ErrorBody),
        (status = 409, description = "They are the last active owner (`last_owner`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn deactivate(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<Json<Person>> {
    Ok(Json(state.parley.deactivate(&caller, user_id).await?))
}

/// Reactivate a person
///
/// Lets a deactivated person log in again. Reactivating someone active changes nothing.
#[utoipa::path(
    post,
    path = "/v1/admin/people/{user_id}/reactivate",
    tag = "administration",
    security(("bearer" = [])),
    params(("user_id" = UserId, Path, description = "The person")),
    responses(
        (status = 200, description = "The person, active", body = Person),
        (status = 400, description = "An id in the path is not one (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`), or may not \
            manage this person (`forbidden_role`)", body = ErrorBody),
        (status = 404, description = "No such person in your organization", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn reactivate(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<Json<Person>> {
    Ok(Json(state.parley.reactivate(&caller, user_id).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Entries before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Entries by this person.
    actor: Option<UserId>,
    /// Entries of this kind.
    kind: Option<AuditKind>,
    /// Only entries older than this one: the next page (`next` of the last).
    before: Option<AuditId>,
    /// How many entries at most.
    #[param(default = 50)]
    limit: Option<u32>,
}

impl From<AuditParams> for AuditQuery {
    fn from(p: AuditParams) -> Self {
        AuditQuery {
            since: p.since,
            until: p.until,
            actor: p.actor,
            kind: p.kind,
            before: p.before,
            limit: p.limit,
        }
    }
}

/// The audit log
///
/// Security and administration events of your organization, newest first: logins and failed logins, role
/// changes, deactivations, invitations, settings, moderation, exports and purges, each done or refused.
/// Entries are only ever added. Owners and administrators only.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    operation_id = "list_audit",
    tag = "administration",
    security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of entries, newest first", body = AuditList),
        (status = 400, description = "The query is malformed (`invalid_query`), a time is not RFC 3339 \
            (`invalid_time`) or `limit` is out of range (`invalid_limit`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn audit(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<AuditParams>,
) -> ApiResult<Json<AuditList>> {
    Ok(Json(state.parley.audit_log(&caller, params.into()).await?))
}

/// Export the audit log
///
/// Every entry that passes the filters, oldest first, one JSON object per line (`application/x-ndjson`),
/// streamed as it is read. The export is itself audited. Owners and administrators only.
#[utoipa::path(
    get,
    path = "/v1/admin/audit/export",
    operation_id = "export_audit",
    tag = "administration",
    security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "The entries, one JSON object (an `AuditEntry`) per line",
            content_type = "application/x-ndjson", body = String),
        (status = 400, description = "The query is malformed (`invalid_query`) or a time is not RFC 3339 \
            (`invalid_time`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn export_audit(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<AuditParams>,
) -> ApiResult<Response> {
    let filter = state
        .parley
        .start_audit_export(&caller, params.into())
        .await?;
    let parley = state.parley.clone();
    Ok(super::ndjson::stream(None, move |after| {
        let (parley, caller, filter) = (parley.clone(), caller.clone(), filter.clone());
        async move {
            let batch = parley.audit_batch(&caller, &filter, after).await?;
            let next = batch.last().map(|e| e.id);
            Ok(next.map(|next| (batch, Some(next))))
        }
    }))
}

/// Export the organization
///
/// Its settings, people, conversations with their members, every message (thread replies and tombstones
/// included) and a manifest of its files, as JSON lines (`ExportLine`), streamed as they are read. Owners
/// and administrators only; audited.
#[utoipa::path(
    get,
    path = "/v1/admin/export",
    operation_id = "export_org",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One `ExportLine` per line", content_type = "application/x-ndjson",
            body = ExportLine),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
        (status = 503, description = "Too many exports are running on this node (`busy`)", body = ErrorBody),
    )
)]
pub async fn export_org(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    let export = state.parley.start_org_export(&caller).await?;
    Ok(export_stream(state, caller, export))
}

/// Export your messages
///
/// Every message you wrote in the conversations you are in, with a manifest of their files, as JSON lines
/// (`ExportLine`), streamed as they are read.
#[utoipa::path(
    get,
    path = "/v1/users/me/export",
    operation_id = "export_own",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One `ExportLine` per line", content_type = "application/x-ndjson",
            body = ExportLine),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
        (status = 503, description = "Too many exports are running on this node (`busy`)", body = ErrorBody),
    )
)]
pub async fn export_own(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    let export = state.parley.start_own_export(&caller).await?;
    Ok(export_stream(state, caller, export))
}

fn export_stream(state: AppState, caller: parley_core::Caller, export: Export) -> Response {
    let parley = state.parley.clone();
    super::ndjson::stream(export, move |mut export| {
        let (parley, caller) = (parley.clone(), caller.clone());
        async move {
            let batch = parley.export_batch(&caller, &mut export).await?;
            Ok(batch.map(|lines| (lines, export)))
        }
    })
}
