//! Malformed, hostile and oversized input: always a clear 4xx in the API's error shape, never a 500, and
//! nothing half-written.

use parley_client::{Page, RawResponse};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::dm;

#[track_caller]
fn assert_error(response: &RawResponse, status: u16, code: &str) {
    let body = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, status, "{body}");
    let error = response
        .error()
        .unwrap_or_else(|| panic!("not the error shape: {body}"));
    assert_eq!(error.error.code, code, "{body}");
    assert!(!error.error.message.is_empty());
}

#[tokio::test]
async fn bodies_that_are_not_what_the_route_takes() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await.to_string();
    let messages = ["v1", "conversations", &id, "messages"];
    let json = Some("application/json");
    let cases: Vec<(Vec<u8>, Option<&str>, u16, &str)> = vec![
        (b"{\"text\":".to_vec(), json, 400, "invalid_input"),
        (b"{\"text\": 5}".to_vec(), json, 400, "invalid_input"),
        (b"{\"text\": null}".to_vec(), json, 400, "invalid_input"),
        (b"[]".to_vec(), json, 400, "invalid_input"),
        (b"{}".to_vec(), json, 400, "invalid_input"),
        (
            b"{\"text\":\"hi\",\"surprise\":1}".to_vec(),
            json,
            400,
            "invalid_input",
        ),
        (
            b"{\"text\":\"\xff\xfe\"}".to_vec(),
            json,
            400,
            "invalid_input",
        ),
        (
            b"{\"text\":\"\\ud800\"}".to_vec(),
            json,
            400,
            "invalid_input",
        ),
        (
            b"{\"text\":\"hi\"}".to_vec(),
            None,
            415,
            "unsupported_media_type",
        ),
        (
            b"{\"text\":\"hi\"}".to_vec(),
            Some("text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            [b"{\"text\":\"".as_slice(), &vec![b'a'; 300 * 1024], b"\"}"].concat(),
            json,
            413,
            "too_large",
        ),
        (
            b"{\"text\":\"hi\",\"nonce\":7}".to_vec(),
            json,
            400,
            "invalid_input",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = ann
            .client
            .raw(Method::POST, &messages, content_type, body)
            .await
            .expect("request");
        assert_error(&response, status, code);
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let response = ann
        .client
        .raw(Method::POST, &messages, json, deep.into_bytes())
        .await
        .expect("request");
    assert_error(&response, 400, "invalid_input");
    assert!(
        ann.client
            .history(dm(&ann.client, bob.id).await, Page::default())
            .await
            .expect("history")
            .is_empty()
    );
}

#[tokio::test]
async fn ids_and_queries_that_do_not_parse() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await.to_string();
    let get = |segments: Vec<String>| {
        let client = ann.client.clone();
        async move {
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            client
                .raw(Method::GET, &segments, None, Vec::new())
                .await
                .expect("request")
        }
    };
    for bad in ["abc", "-1", "1.5", "99999999999999999999999", "0x10", " 1"] {
        let response = get(vec!["v1".into(), "conversations".into(), bad.into()]).await;
        assert_error(&response, 400, "invalid_id");
        let response = get(vec!["v1".into(), "users".into(), bad.into()]).await;
        assert_error(&response, 400, "invalid_id");
    }
    assert_error(
        &get(vec!["v1".into(), "conversations".into(), "424242".into()]).await,
        404,
        "not_found",
    );
    let history = |query: &str| {
        let url = format!("{}/v1/conversations/{id}/messages?{query}", server.url);
        let token = ann.client.token().unwrap_or_default().to_owned();
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            RawResponse {
                status,
                headers: response.headers().clone(),
                body: response.bytes().await.expect("body").to_vec(),
            }
        }
    };
    for query in [
        "limit=abc",
        "limit=-1",
        "before=x",
        "after=1e3",
        "unknown=1",
        "limit=99999999999",
    ] {
        assert_error(&history(query).await, 400, "invalid_query");
    }
    let url = format!("{}/v1/conversations/{id}/messages/1?for=nobody", server.url);
    let response = reqwest::Client::new()
        .delete(url)
        .bearer_auth(ann.client.token().unwrap_or_default())
        .send()
        .await;
    assert_eq!(response.expect("request").status().as_u16(), 400);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let server = TestServer::spawn().await;
    let client = server.client();
    let response = client
        .raw(Method::GET, &["v1", "nothing", "here"], None, Vec::new())
        .await
        .expect("request");
    assert_error(&response, 404, "not_found");
    let response = client
        .raw(Method::DELETE, &["v1", "auth", "signup"], None, Vec::new())
        .await
        .expect("request");
    assert_error(&response, 405, "method_not_allowed");
    let response = client.raw(
        Method::POST,
        &["v1", "auth", "login"],
        Some("application/json"),
        b"{\"login\":1}".to_vec(),
    );
    assert_error(&response.await.expect("request"), 400, "invalid_input");
}
