//! Who may not: for every route, no token, a revoked token, another org's user, and a non-member are refused,
//! and refusals never reveal what exists.

use parley_client::{Client, RawResponse};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::{channel, dm};

struct Route {
    method: Method,
    path: String,
    body: Option<String>,
}

fn route(method: Method, path: String, body: Option<&str>) -> Route {
    Route {
        method,
        path,
        body: body.map(str::to_owned),
    }
}

/// Sends the route as written (paths here are plain ASCII, queries included) with the client's token.
async fn call(client: &Client, route: &Route) -> RawResponse {
    let url = format!(
        "{}{}",
        client.base_url().as_str().trim_end_matches('/'),
        route.path
    );
    let mut request = reqwest::Client::new().request(route.method.clone(), url);
    if let Some(token) = client.token() {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &route.body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    let response = request.send().await.expect("request");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    RawResponse {
        status,
        headers,
        body: response.bytes().await.expect("body").to_vec(),
    }
}

#[track_caller]
fn assert_refused(response: &RawResponse, status: u16, what: &str) {
    assert_eq!(
        response.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(response.error().is_some(), "{what}: error shape");
}

#[tokio::test]
async fn every_route_refuses_who_may_not() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let eve = server.user_in("Eve", Some("otherco")).await;
    let conversation = dm(&ann.client, bob.id).await;
    let message = ann
        .client
        .send_message(conversation, "private words", None)
        .await
        .expect("send")
        .value
        .id;
    ann.client
        .react(conversation, message, "like")
        .await
        .expect("react");
    let secret = channel(&ann.client, "secret", true).await;
    let (c, m) = (conversation, message);
    // A file on a message of Ann and Bob's, and an upload of Ann's still pending.
    let shared = crate::group(&ann.client, "Files", &[bob.id]).await;
    let picture = crate::files::upload(&ann.client, "p.png", &crate::files::png(8, 8)).await;
    crate::files::attach(&ann.client, shared, &[picture.id], "")
        .await
        .expect("send");
    let f = picture.id;
    let pending = ann
        .client
        .create_upload(&parley_client::proto::v1::CreateUploadRequest {
            name: "later.txt".to_owned(),
            size: 5,
            content_type: None,
        })
        .await
        .expect("upload");
    let u = pending.id;

    // Routes about a conversation Carol (same org, not a member) and Eve (other org) may not touch.
    let b = bob.id;
    let member_routes = vec![
        route(Method::GET, format!("/v1/conversations/{c}"), None),
        route(
            Method::PATCH,
            format!("/v1/conversations/{secret}"),
            Some(r#"{"name":"taken over"}"#),
        ),
        route(
            Method::POST,
            format!("/v1/conversations/{secret}/archive"),
            None,
        ),
        route(
            Method::POST,
            format!("/v1/conversations/{secret}/unarchive"),
            None,
        ),
        route(
            Method::GET,
            format!("/v1/conversations/{secret}/roles"),
            None,
        ),
        route(
            Method::PUT,
            format!("/v1/conversations/{secret}/retention"),
            Some(r#"{"retention_days":1}"#),
        ),
        route(
            Method::PUT,
            format!("/v1/conversations/{secret}/members/{b}/role"),
            Some(r#"{"role":"member"}"#),
        ),
        route(
            Method::DELETE,
            format!("/v1/conversations/{secret}/members/{b}"),
            None,
        ),
        route(
            Method::POST,
            format!("/v1/conversations/{c}/members"),
            Some(r#"{"user_ids":["1"]}"#),
        ),
        route(Method::POST, format!("/v1/conversations/{c}/leave"), None),
        route(Method::POST, format!("/v1/conversations/{c}/join"), None),
        route(
            Method::POST,
            format!("/v1/conversations/{secret}/join"),
            None,
        ),
        route(Method::POST, "/v1/join/secret".into(), None),
        route(
            Method::PATCH,
            format!("/v1/conversations/{c}/membership"),
            Some(r#"{"muted":true}"#),
        ),
        route(
            Method::POST,
            format!("/v1/conversations/{c}/messages"),
            Some(r#"{"text":"let me in"}"#),
        ),
        route(Method::GET, format!("/v1/conversations/{c}/messages"), None),
        route(
            Method::DELETE,
            format!("/v1/conversations/{c}/messages/{m}?for=me"),
            None,
        ),
        route(
            Method::DELETE,
            format!("/v1/conversations/{c}/messages/{m}?for=everyone"),
            None,
        ),
        route(
            Method::PUT,
            format!("/v1/conversations/{c}/messages/{m}/reactions/like"),
            None,
        ),
        route(
            Method::DELETE,
            format!("/v1/conversations/{c}/messages/{m}/reactions/like"),
            None,
        ),
        route(
            Method::POST,
            format!("/v1/conversations/{c}/read"),
            Some(&format!(r#"{{"message_id":"{m}"}}"#)),
        ),
        route(Method::GET, format!("/v1/conversations/{c}/receipts"), None),
        route(
            Method::GET,
            format!("/v1/search?q=private&conversation_id={c}"),
            None,
        ),
        route(Method::GET, format!("/v1/files/{f}"), None),
        route(Method::GET, format!("/v1/files/{f}/thumbnail"), None),
        route(
            Method::POST,
            "/v1/files/links".into(),
            Some(&format!(r#"{{"ids":["{f}"]}}"#)),
        ),
        // Uploads are their uploader's alone.
        route(Method::GET, format!("/v1/uploads/{u}"), None),
        route(
            Method::PUT,
            format!("/v1/uploads/{u}/parts/1"),
            Some("hello"),
        ),
        route(Method::POST, format!("/v1/uploads/{u}/complete"), None),
        route(Method::DELETE, format!("/v1/uploads/{u}"), None),
        route(
            Method::PUT,
            "/v1/users/me/avatar".into(),
            Some(&format!(r#"{{"upload_id":"{f}"}}"#)),
        ),
    ];
    // Routes about a user Eve (other org) may not see.
    let a = ann.id;
    let user_routes = vec![
        route(Method::GET, format!("/v1/users/{a}"), None),
        route(Method::GET, format!("/v1/users/{a}/avatar"), None),
        route(Method::PUT, format!("/v1/contacts/{a}"), None),
        route(Method::DELETE, format!("/v1/contacts/{a}"), None),
        // Eve administers her own org only.
        route(
            Method::PUT,
            format!("/v1/admin/people/{a}/role"),
            Some(r#"{"role":"guest"}"#),
        ),
        route(
            Method::POST,
            format!("/v1/admin/people/{a}/deactivate"),
            None,
        ),
        route(
            Method::POST,
            format!("/v1/admin/people/{a}/reactivate"),
            None,
        ),
    ];
    let own_routes = vec![
        route(Method::POST, "/v1/auth/logout".into(), None),
        route(Method::GET, "/v1/users/me".into(), None),
        route(
            Method::PATCH,
            "/v1/users/me".into(),
            Some(r#"{"name":"x"}"#),
        ),
        route(Method::PUT, "/v1/users/me/avatar".into(), Some("GIF89a")),
        route(Method::GET, "/v1/users?q=a".into(), None),
        route(Method::GET, "/v1/contacts".into(), None),
        route(
            Method::POST,
            "/v1/conversations".into(),
            Some(r#"{"kind":"group","name":"g","members":[]}"#),
        ),
        route(Method::GET, "/v1/conversations".into(), None),
        route(Method::GET, "/v1/channels".into(), None),
        route(Method::GET, "/v1/search?q=private".into(), None),
        route(Method::GET, "/v1/gateway".into(), None),
        route(
            Method::POST,
            "/v1/uploads".into(),
            Some(r#"{"name":"a.txt","size":5}"#),
        ),
        route(Method::GET, "/v1/push/vapid".into(), None),
        route(
            Method::POST,
            "/v1/push/subscriptions".into(),
            Some(r#"{"kind":"webhook","url":"https://hooks.example.com/x"}"#),
        ),
        route(Method::GET, "/v1/push/subscriptions".into(), None),
        route(Method::DELETE, "/v1/push/subscriptions/1".into(), None),
        route(Method::GET, "/v1/me/notifications".into(), None),
        route(
            Method::PUT,
            "/v1/me/notifications".into(),
            Some(r#"{"quiet_hours":null}"#),
        ),
        route(Method::GET, "/v1/users/me/sessions".into(), None),
        route(Method::DELETE, "/v1/users/me/sessions/1".into(), None),
        route(
            Method::PUT,
            "/v1/users/me/password".into(),
            Some(r#"{"current_password":"x","new_password":"long enough"}"#),
        ),
        route(Method::GET, "/v1/admin/people".into(), None),
        route(Method::GET, "/v1/org/settings".into(), None),
        route(
            Method::PATCH,
            "/v1/org/settings".into(),
            Some(r#"{"invitations":"admins"}"#),
        ),
        route(Method::GET, "/v1/admin/audit".into(), None),
        route(Method::GET, "/v1/admin/retention".into(), None),
        route(Method::POST, "/v1/admin/retention/run".into(), None),
        route(Method::GET, "/v1/admin/sso".into(), None),
        route(
            Method::PUT,
            "/v1/admin/sso".into(),
            Some(r#"{"issuer":"https://idp.example","client_id":"c","display_name":"IdP"}"#),
        ),
        route(Method::DELETE, "/v1/admin/sso".into(), None),
        route(Method::GET, "/v1/admin/audit/export".into(), None),
        route(Method::GET, "/v1/admin/export".into(), None),
        route(Method::GET, "/v1/users/me/export".into(), None),
    ];

    let anonymous = server.client();
    let revoked = server.user("Rex").await.client;
    revoked.logout().await.expect("logout");
    for r in member_routes.iter().chain(&user_routes).chain(&own_routes) {
        assert_refused(
            &call(&anonymous, r).await,
            401,
            &format!("no token: {} {}", r.method, r.path),
        );
        assert_refused(
            &call(&revoked, r).await,
            401,
            &format!("revoked: {} {}", r.method, r.path),
        );
    }
    for r in member_routes.iter().chain(&user_routes) {
        assert_refused(
            &call(&eve.client, r).await,
            404,
            &format!("other org: {} {}", r.method, r.path),
        );
    }
    for r in &member_routes {
        assert_refused(
            &call(&carol.client, r).await,
            404,
            &format!("non-member: {} {}", r.method, r.path),
        );
    }

    // Nothing of theirs leaked into what outsiders can list.
    for outsider in [&carol.client, &eve.client] {
        assert!(
            outsider
                .search("private", None)
                .await
                .expect("search")
                .is_empty()
        );
        assert!(
            outsider
                .conversations()
                .await
                .expect("list")
                .iter()
                .all(|x| x.id != c && x.id != secret)
        );
    }
    // And nothing was changed by all those attempts.
    let history = ann
        .client
        .history(c, parley_client::Page::default())
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].text.as_deref(), history[0].reactions.len()),
        (Some("private words"), 1)
    );
    assert_eq!(
        ann.client.conversation(c).await.expect("show").member_count,
        2
    );
    assert_eq!(
        ann.client.upload(u).await.expect("still there").state,
        parley_client::proto::v1::UploadState::Pending
    );
    assert_eq!(bob.client.file(f).await.expect("still there").status, 200);
}
