//! Answers streamed as JSON lines (`application/x-ndjson`): one batch read at a time, as the client takes
//! them, so an export of any size goes through in bounded memory.

use std::future::Future;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use parley_core::Error;
use serde::Serialize;

/// A response whose body is the lines of each batch `next` gives, from `start` on, until it gives none. A
/// failure partway ends the body early (the client sees a cut stream, never half a line).
pub fn stream<S, T, F, Fut>(start: S, next: F) -> Response
where
    S: Send + 'static,
    T: Serialize,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<(Vec<T>, S)>, Error>> + Send + 'static,
{
    let next = std::sync::Arc::new(next);
    let lines = futures_util::stream::unfold(Some(start), move |state| {
        let next = std::sync::Arc::clone(&next);
        async move {
            match next(state?).await {
                Ok(Some((batch, state))) => {
                    let mut text = String::new();
                    for item in &batch {
                        if let Ok(line) = serde_json::to_string(item) {
                            text.push_str(&line);
                            text.push('\n');
                        }
                    }
                    Some((Ok::<_, std::io::Error>(text), Some(state)))
                }
                Ok(None) => None,
                Err(error) => Some((Err(std::io::Error::other(error.to_string())), None)),
            }
        }
    });
    let mut response = Body::from_stream(lines).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}
