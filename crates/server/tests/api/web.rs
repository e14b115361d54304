//! The browser client as the server serves it: the page at `/` and its files, with a Content-Security-Policy
//! that allows no inline script and no other origin, validators for cheap revalidation, compression, and a
//! channel's `join_url` opening the client.

use parley_testkit::TestServer;
use reqwest::StatusCode;
use reqwest::header;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

#[tokio::test]
async fn the_client_is_served_at_the_root_with_a_strict_policy() {
    let server = TestServer::spawn().await;
    let page = http()
        .get(format!("{}/", server.url))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let policy = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .expect("a Content-Security-Policy")
        .to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(
        headers
            .get(header::X_CONTENT_TYPE_OPTIONS)
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert!(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html")),
        "{headers:?}"
    );
    let body = page.text().await.expect("the page");
    assert!(body.contains("<html"), "{body}");

    // A browser that has the page asks again with its ETag and gets 304, with no body to download.
    let etag = headers.get(header::ETAG).expect("an ETag").clone();
    let again = http()
        .get(format!("{}/", server.url))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("GET / again");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // The script comes compressed to a browser that takes it.
    let script = http()
        .get(format!("{}/app.js", server.url))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("GET /app.js");
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        script
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    assert!(
        script
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .is_some()
    );
}

#[tokio::test]
async fn api_paths_still_answer_in_the_api_shape() {
    let server = TestServer::spawn().await;
    let missing = http()
        .get(format!("{}/v1/no-such-route", server.url))
        .send()
        .await
        .expect("GET unknown");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = missing.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "not_found");
}

/// A person who clicks a channel's `join_url` lands in the client, which joins (`POST` is the API's join).
#[tokio::test]
async fn a_join_url_opened_in_a_browser_opens_the_client() {
    let server = TestServer::spawn().await;
    let opened = http()
        .get(format!("{}/v1/join/general", server.url))
        .send()
        .await
        .expect("GET join_url");
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        opened.headers().get(header::LOCATION).map(|v| v.as_bytes()),
        Some(&b"/?join=general"[..])
    );
}
