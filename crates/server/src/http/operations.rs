//! Health, readiness, metrics, the gateway address and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use parley_proto::v1::GatewayInfo;

use super::Auth;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

/// Alive: answers as long as the process serves HTTP.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready: the store and the bus answer.
pub async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state.parley.ready().await.map_err(|error| {
        tracing::warn!(error = &error as &dyn std::error::Error, "not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the store or the bus is unreachable",
        )
    })?;
    Ok("ready")
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Where this user's WebSocket should go. On one node that is this node.
pub async fn gateway(State(state): State<AppState>, Auth(_caller): Auth) -> Json<GatewayInfo> {
    Json(GatewayInfo {
        url: state.websocket_url.clone(),
    })
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
}

/// The OpenAPI document of this API, as served and as committed in `docs/openapi.json`.
pub fn openapi_document() -> String {
    crate::openapi::document()
}
