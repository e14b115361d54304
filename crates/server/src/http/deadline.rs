//! The whole-request deadline: a REST request that has not been answered in time is answered 503 `timeout`
//! (with `Retry-After`), and the handler's future is dropped; work it had handed on (a write queued for
//! the store, an image being decoded) goes on and may still complete, so a retry of a send uses its nonce.
//! Not 408: a browser resends a request answered 408 on its own, and this one may have been written.
//! A WebSocket upgrade is answered at once, so a socket's life is not a request's.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub(crate) async fn within(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => too_late().into_response(),
    }
}

/// The answer to a request past its deadline.
pub(crate) fn too_late() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "the request took too long; retry",
    )
    .retry_after(1)
}
