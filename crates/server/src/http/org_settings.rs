//! An organization's settings: sign-up policy, default channels, and who may create channels, make
//! invitations and use `@channel`.

use axum::Json;
use axum::extract::State;
use parley_proto::v1::{ErrorBody, OrgSettings, OrgSettingsPatch};

use super::{Auth, Body};
use crate::app::AppState;
use crate::error::ApiResult;

/// Your organization's settings
///
/// Any member may read them.
#[utoipa::path(
    get,
    path = "/v1/org/settings",
    operation_id = "org_settings",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = OrgSettings),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<OrgSettings>> {
    Ok(Json(state.parley.org_settings(&caller).await?))
}

/// Change your organization's settings
///
/// Owners and administrators; audited.
#[utoipa::path(
    patch,
    path = "/v1/org/settings",
    operation_id = "update_org_settings",
    tag = "administration",
    security(("bearer" = [])),
    request_body = OrgSettingsPatch,
    responses(
        (status = 200, description = "The settings as they are now", body = OrgSettings),
        (status = 400, description = "A domain is not one (`invalid_domain`, also for `email_domains` \
            sign-up without any), a channel is not a public channel of yours (`invalid_channel`), too many \
            (`too_many_domains`, `too_many_channels`), or nothing to change (`invalid_input`)",
            body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "You are not an owner or administrator (`not_admin`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many requests (`rate_limited`)", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(patch): Body<OrgSettingsPatch>,
) -> ApiResult<Json<OrgSettings>> {
    Ok(Json(
        state.parley.update_org_settings(&caller, patch).await?,
    ))
}
