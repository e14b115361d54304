//! The browser client (`crates/server/web/`), served at `/` by memory-serve: embedded and compressed (brotli,
//! gzip) in release builds, with ETags. Every response carries a Content-Security-Policy that allows no inline
//! script, no inline style and no other origin (but the object store's, for pictures and uploads), so a
//! message's text can never run as code even if a bug rendered it as HTML.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Redirect;
use memory_serve::CacheControl;
use tower_http::set_header::SetResponseHeaderLayer;

/// The policy, with the origin of the object store when files live in one: pictures load from it (a file's
/// link redirects there) and uploads post to it.
fn content_security_policy(files_origin: Option<&str>) -> String {
    let files = files_origin.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{files}; \
         connect-src 'self' ws: wss:{files}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The client's files.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(files_origin: Option<&str>) -> Router<S> {
    let policy = HeaderValue::try_from(content_security_policy(files_origin))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    let files = memory_serve::load!()
        // Not cached blindly: a new server version must reach every browser on its next load. The ETag makes
        // the check cheap.
        .html_cache_control(CacheControl::NoCache)
        .cache_control(CacheControl::NoCache)
        // memory-serve leaves compression off in debug builds; on, the tests see what browsers get.
        .enable_brotli(true)
        .enable_gzip(true)
        .into_router();
    files
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            policy,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
}

/// A browser that follows a channel's `join_url` (`POST` joins; a `GET` is a person clicking the link) gets the
/// client, which joins the channel and opens it.
#[utoipa::path(
    get,
    path = "/v1/join/{handle}",
    tag = "conversations",
    params(("handle" = String, Path, description = "The channel's handle")),
    responses(
        (status = 303, description = "To the web client (`/?join=HANDLE`), which joins the channel with `POST` \
            on this path once the person is logged in"),
    )
)]
pub(crate) async fn join_page(Path(handle): Path<String>) -> Redirect {
    let query: String = url_encode(&handle);
    Redirect::to(&format!("/?join={query}"))
}

/// Percent-encodes everything but unreserved characters, so the handle stays one query value.
fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_stays_one_query_value() {
        assert_eq!(url_encode("general"), "general");
        assert_eq!(url_encode("a&b=c d/é"), "a%26b%3Dc%20d%2F%C3%A9");
    }
}
