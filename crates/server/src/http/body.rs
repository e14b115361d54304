//! Request bodies: read whole, within a size limit, with a bound on how long the client may pause between
//! parts of it, so a body that never comes cannot hold a request (and its connection) open.

use std::time::Duration;

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::error::ApiError;

/// Reads a body of at most `max_bytes`, waiting at most `pause` for each part of it. A declared length
/// over the limit is refused before any of the body is read.
pub(crate) async fn read(
    body: axum::body::Body,
    max_bytes: usize,
    pause: Duration,
) -> Result<Bytes, ApiError> {
    let declared = body.size_hint().lower();
    if usize::try_from(declared).map_or(true, |declared| declared > max_bytes) {
        return Err(too_large());
    }
    let mut body = Limited::new(body, max_bytes);
    let mut bytes = BytesMut::new();
    loop {
        let frame = tokio::time::timeout(pause, body.frame())
            .await
            .map_err(|_| too_slow())?;
        match frame {
            None => return Ok(bytes.freeze()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Some(Err(error)) if error.is::<LengthLimitError>() => return Err(too_large()),
            Some(Err(error)) => {
                tracing::debug!(%error, "cannot read a request body");
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the request body could not be read",
                ));
            }
        }
    }
}

fn too_slow() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request body stopped arriving",
    )
}

pub(crate) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "the request body is too large",
    )
}

/// A JSON body, with every rejection in the API's error shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send JSON with Content-Type: application/json",
            ));
        }
        let bytes = read(
            request.into_body(),
            state.max_body_bytes,
            state.http.body_timeout,
        )
        .await?;
        parley_proto::decode(&bytes).map(Body).map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", error.to_string())
        })
    }
}

/// A body as a stream, for a handler that passes it on as it comes (an upload's part) rather than reading it
/// whole: each wait for the next part is bounded by `pause`, and a stall ends the stream with an error.
pub(crate) fn stream(body: axum::body::Body, pause: Duration) -> parley_core::storage::ByteStream {
    let frames = futures_util::stream::unfold(body, move |mut body| async move {
        loop {
            let frame = match tokio::time::timeout(pause, body.frame()).await {
                Err(_) => {
                    let stalled =
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "the body stalled");
                    return Some((Err(stalled), body));
                }
                Ok(None) => return None,
                Ok(Some(Err(error))) => return Some((Err(std::io::Error::other(error)), body)),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                return Some((Ok(data), body));
            }
        }
    });
    Box::pin(frames)
}
