//! Health, readiness, metrics, the gateway address and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use parley_proto::v1::{ErrorBody, GatewayInfo};

use super::Auth;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

/// How long `/readyz` waits for the store and the bus: a load balancer's health check gives up soon after.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Liveness
///
/// Answers as long as the process serves HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process serves HTTP", body = String, example = "ok"))
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness
///
/// Ready when the store (with shards, the first, which holds the directory) and the bus answer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The store and the bus answer", body = String, example = "ready"),
        (status = 503, description = "The store or the bus is unreachable (`not_ready`)", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    let not_ready = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the store or the bus is unreachable",
        )
    };
    // A store that hangs (PostgreSQL stopped with its connection still up) must read as not ready, not
    // as ready once it wakes up.
    match tokio::time::timeout(READY_WITHIN, state.shards.ready()).await {
        Ok(Ok(())) => Ok("ready"),
        Ok(Err(error)) => {
            tracing::warn!(error = &error as &dyn std::error::Error, "not ready");
            Err(not_ready())
        }
        Err(_) => {
            tracing::warn!(within = ?READY_WITHIN, "not ready: no answer from the store or the bus");
            Err(not_ready())
        }
    }
}

/// Metrics, in the Prometheus text format
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String,
            content_type = "text/plain; version=0.0.4"),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// The WebSocket to connect to
///
/// Where this user's WebSocket should go: the node that serves the user's organization (rendezvous
/// hashing of the org over the live nodes). On one node that is this node.
#[utoipa::path(
    get,
    path = "/v1/gateway",
    operation_id = "get_gateway",
    tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The WebSocket URL to connect to", body = GatewayInfo),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn gateway(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<GatewayInfo>, ApiError> {
    let url = state.parley.gateway_url(&caller).await?;
    Ok(Json(GatewayInfo { url }))
}

/// This OpenAPI document
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "get_openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
}
