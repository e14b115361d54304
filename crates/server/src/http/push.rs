//! Notifications: where the caller's devices are told (Web Push subscriptions and webhooks), the key
//! browsers subscribe with, and quiet hours.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::SubscriptionId;
use parley_proto::v1::{
    CreateSubscriptionRequest, ErrorBody, NotificationSettings, Subscription, SubscriptionList,
    VapidKey,
};

use super::{Auth, Body, Ids};
use crate::app::AppState;
use crate::error::ApiResult;

/// The key to subscribe with
///
/// The server's VAPID public key, which a browser passes as `applicationServerKey` to
/// `pushManager.subscribe`.
#[utoipa::path(
    get,
    path = "/v1/push/vapid",
    operation_id = "vapid_key",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key", body = VapidKey),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn vapid(State(state): State<AppState>, Auth(_caller): Auth) -> Json<VapidKey> {
    Json(VapidKey {
        public_key: state.vapid_public_key.to_string(),
    })
}

/// Be told on this device
///
/// Registers a Web Push subscription or a webhook for the caller; it belongs to this session, so logging
/// out removes it. The same endpoint again replaces the earlier one. A webhook's answer carries its
/// signing secret, shown this once.
#[utoipa::path(
    post,
    path = "/v1/push/subscriptions",
    operation_id = "create_subscription",
    tag = "notifications",
    security(("bearer" = [])),
    request_body = CreateSubscriptionRequest,
    responses(
        (status = 201, description = "The subscription", body = Subscription),
        (status = 400, description = "An endpoint or URL that is not `https`, points at a private or loopback \
            address, or is not a URL (`invalid_endpoint`, `invalid_url`), or keys of the wrong length \
            (`invalid_keys`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 409, description = "You have 20 subscriptions already (`too_many_subscriptions`)",
            body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(request): Body<CreateSubscriptionRequest>,
) -> ApiResult<(StatusCode, Json<Subscription>)> {
    let made = state.parley.add_subscription(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Your subscriptions
///
/// On all your devices; `this_session` marks those of the session asking. Secrets are never shown again.
#[utoipa::path(
    get,
    path = "/v1/push/subscriptions",
    operation_id = "list_subscriptions",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your subscriptions", body = SubscriptionList),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<SubscriptionList>> {
    Ok(Json(state.parley.subscriptions(&caller).await?))
}

/// Stop being told there
#[utoipa::path(
    delete,
    path = "/v1/push/subscriptions/{subscription_id}",
    operation_id = "delete_subscription",
    tag = "notifications",
    security(("bearer" = [])),
    params(("subscription_id" = SubscriptionId, Path, description = "The subscription")),
    responses(
        (status = 204, description = "Deleted, with the notifications on their way to it"),
        (status = 400, description = "`subscription_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such subscription of yours (`not_found`)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<SubscriptionId>,
) -> ApiResult<StatusCode> {
    state.parley.delete_subscription(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your notification settings
#[utoipa::path(
    get,
    path = "/v1/me/notifications",
    operation_id = "notification_settings",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your settings", body = NotificationSettings),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<NotificationSettings>> {
    Ok(Json(state.parley.notification_settings(&caller).await?))
}

/// Change your notification settings
///
/// Quiet hours hold pushes back until they end, in your time zone; `null` turns them off.
#[utoipa::path(
    put,
    path = "/v1/me/notifications",
    operation_id = "set_notification_settings",
    tag = "notifications",
    security(("bearer" = [])),
    request_body = NotificationSettings,
    responses(
        (status = 200, description = "Your settings", body = NotificationSettings),
        (status = 400, description = "A time not `HH:MM` (`invalid_quiet_hours`) or an unknown time zone \
            (`invalid_time_zone`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn set_settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(settings): Body<NotificationSettings>,
) -> ApiResult<Json<NotificationSettings>> {
    Ok(Json(
        state
            .parley
            .set_notification_settings(&caller, settings)
            .await?,
    ))
}
