//! The one place errors become HTTP answers, in the API.md shape `{"error": {"code", "message"}}`.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::Error;
use parley_core::storage::StorageError;
use parley_proto::v1::{ErrorBody, ErrorDetail};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The same answer with a `Retry-After` of `secs` seconds.
    pub fn retry_after(self, secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(secs),
            ..self
        }
    }

    /// The stable code, for the WebSocket's error frames.
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    fn internal(error: &dyn std::error::Error) -> Self {
        // Logged once, here; the client learns nothing of the cause.
        tracing::error!(error = %ErrorChain(error), "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side",
        )
    }
}

impl ApiError {
    fn unavailable(error: &dyn std::error::Error) -> Self {
        // Logged once, here; the client learns nothing of the cause.
        tracing::error!(error = %ErrorChain(error), "request failed: a backend is unavailable");
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is unavailable for a moment; retry",
            )
        }
    }
}

/// Displays an error with all its sources, for logs.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::Invalid { code, .. } => ApiError::new(StatusCode::BAD_REQUEST, code, message),
            Error::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "missing, invalid or revoked credentials",
            ),
            Error::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            Error::Denied { code, .. } => ApiError::new(StatusCode::FORBIDDEN, code, message),
            Error::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            Error::Absent { code, .. } => ApiError::new(StatusCode::NOT_FOUND, code, message),
            Error::NotVerified { code, .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, code, message)
            }
            Error::Unprocessable { code, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            Error::Upstream { code, .. } => ApiError::new(StatusCode::BAD_GATEWAY, code, message),
            Error::Conflict { code, .. } => ApiError::new(StatusCode::CONFLICT, code, message),
            Error::RateLimited { retry_after } => ApiError {
                retry_after_secs: Some(retry_after.as_secs().max(1)),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            Error::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
            }
            Error::Busy => ApiError {
                retry_after_secs: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
            },
            // The store or the bus failing is an outage, not a bug in the request: the client keeps its
            // token and tries again.
            Error::Storage(StorageError::TooLarge(_)) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
            }
            Error::Storage(StorageError::Body(_)) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", message)
            }
            Error::Store(_) | Error::Bus(_) | Error::Storage(_) => ApiError::unavailable(&error),
            Error::Hashing(_) | Error::Encoding(_) => ApiError::internal(&error),
        }
    }
}

/// Body rejections keep their 4xx status (413 too large, 415 not JSON); type errors become 400.
fn rejection(status: StatusCode, body_text: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "too_large", "the request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            "send JSON with Content-Type: application/json",
        ),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", body_text),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(r: WebSocketUpgradeRejection) -> Self {
        ApiError::new(r.status(), "not_a_websocket", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
