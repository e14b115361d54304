//! The served OpenAPI document matches `docs/openapi.json`.

use std::collections::BTreeSet;

use parley_testkit::TestServer;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
const REGENERATE: &str =
    "cargo run -q -p parley-server --bin parley -- openapi > docs/openapi.json";

/// Every operation `routes()` in `src/http/mod.rs` registers, the WebSocket upgrade included.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/auth/signup"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/auth/sso"),
    ("post", "/v1/auth/sso/start"),
    ("get", "/v1/auth/sso/callback/{org}"),
    ("post", "/v1/auth/sso/callback"),
    ("delete", "/v1/users/me/sessions"),
    ("get", "/v1/users/me/sessions"),
    ("delete", "/v1/users/me/sessions/{session_id}"),
    ("put", "/v1/users/me/password"),
    ("patch", "/v1/conversations/{conversation_id}"),
    ("post", "/v1/conversations/{conversation_id}/archive"),
    ("post", "/v1/conversations/{conversation_id}/unarchive"),
    ("get", "/v1/conversations/{conversation_id}/roles"),
    (
        "put",
        "/v1/conversations/{conversation_id}/members/{user_id}/role",
    ),
    (
        "delete",
        "/v1/conversations/{conversation_id}/members/{user_id}",
    ),
    ("get", "/v1/org/settings"),
    ("patch", "/v1/org/settings"),
    ("get", "/v1/admin/people"),
    ("put", "/v1/admin/people/{user_id}/role"),
    ("post", "/v1/admin/people/{user_id}/deactivate"),
    ("post", "/v1/admin/people/{user_id}/reactivate"),
    ("get", "/v1/admin/audit"),
    ("get", "/v1/admin/retention"),
    ("post", "/v1/admin/retention/run"),
    ("put", "/v1/conversations/{conversation_id}/retention"),
    ("get", "/v1/admin/sso"),
    ("put", "/v1/admin/sso"),
    ("delete", "/v1/admin/sso"),
    ("get", "/v1/admin/audit/export"),
    ("get", "/v1/admin/export"),
    ("get", "/v1/users/me/export"),
    ("post", "/v1/invites"),
    ("get", "/v1/invites"),
    ("delete", "/v1/invites/{invite_id}"),
    ("post", "/v1/invites/lookup"),
    ("get", "/v1/users/me"),
    ("patch", "/v1/users/me"),
    ("put", "/v1/users/me/avatar"),
    ("get", "/v1/users"),
    ("get", "/v1/users/{user_id}"),
    ("get", "/v1/users/{user_id}/avatar"),
    ("get", "/v1/contacts"),
    ("put", "/v1/contacts/{user_id}"),
    ("delete", "/v1/contacts/{user_id}"),
    ("post", "/v1/conversations"),
    ("get", "/v1/conversations"),
    ("get", "/v1/conversations/{conversation_id}"),
    ("get", "/v1/channels"),
    ("post", "/v1/conversations/{conversation_id}/join"),
    ("post", "/v1/join/{handle}"),
    ("get", "/v1/join/{handle}"),
    ("post", "/v1/conversations/{conversation_id}/members"),
    ("post", "/v1/conversations/{conversation_id}/leave"),
    ("patch", "/v1/conversations/{conversation_id}/membership"),
    ("post", "/v1/conversations/{conversation_id}/messages"),
    ("get", "/v1/conversations/{conversation_id}/messages"),
    (
        "delete",
        "/v1/conversations/{conversation_id}/messages/{message_id}",
    ),
    (
        "put",
        "/v1/conversations/{conversation_id}/messages/{message_id}/reactions/{emoji}",
    ),
    (
        "delete",
        "/v1/conversations/{conversation_id}/messages/{message_id}/reactions/{emoji}",
    ),
    ("post", "/v1/conversations/{conversation_id}/read"),
    ("get", "/v1/conversations/{conversation_id}/receipts"),
    ("get", "/v1/search"),
    ("get", "/v1/mentions"),
    ("get", "/v1/threads"),
    ("post", "/v1/uploads"),
    ("get", "/v1/uploads/{upload_id}"),
    ("delete", "/v1/uploads/{upload_id}"),
    ("put", "/v1/uploads/{upload_id}/parts/{part}"),
    ("post", "/v1/uploads/{upload_id}/complete"),
    ("post", "/v1/files/links"),
    ("get", "/v1/files/{file_id}"),
    ("get", "/v1/files/{file_id}/thumbnail"),
    ("get", "/v1/push/vapid"),
    ("post", "/v1/push/subscriptions"),
    ("get", "/v1/push/subscriptions"),
    ("delete", "/v1/push/subscriptions/{subscription_id}"),
    ("get", "/v1/me/notifications"),
    ("put", "/v1/me/notifications"),
    (
        "get",
        "/v1/conversations/{conversation_id}/messages/{message_id}",
    ),
    (
        "patch",
        "/v1/conversations/{conversation_id}/messages/{message_id}",
    ),
    (
        "get",
        "/v1/conversations/{conversation_id}/messages/{message_id}/edits",
    ),
    (
        "put",
        "/v1/conversations/{conversation_id}/messages/{message_id}/pin",
    ),
    (
        "delete",
        "/v1/conversations/{conversation_id}/messages/{message_id}/pin",
    ),
    ("get", "/v1/conversations/{conversation_id}/pins"),
    (
        "get",
        "/v1/conversations/{conversation_id}/messages/{message_id}/thread",
    ),
    (
        "post",
        "/v1/conversations/{conversation_id}/messages/{message_id}/thread/read",
    ),
    (
        "put",
        "/v1/conversations/{conversation_id}/messages/{message_id}/follow",
    ),
    (
        "delete",
        "/v1/conversations/{conversation_id}/messages/{message_id}/follow",
    ),
    ("get", "/v1/gateway"),
    ("get", "/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/ws"),
];

async fn served_document() -> String {
    let server = TestServer::spawn().await;
    server
        .client()
        .text(&["v1", "openapi.json"])
        .await
        .expect("GET /v1/openapi.json")
}

#[tokio::test]
async fn served_document_is_the_committed_one() {
    let served = served_document().await;
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_else(|error| {
        panic!("cannot read {COMMITTED} ({error}); create it with `{REGENERATE}`")
    });
    // Not assert_eq!: printing both documents would bury the message.
    assert!(
        served == committed,
        "docs/openapi.json differs from the served document; regenerate it with `{REGENERATE}`"
    );
}

#[tokio::test]
async fn document_has_exactly_the_routed_operations() {
    let document: serde_json::Value =
        serde_json::from_str(&served_document().await).expect("the document is JSON");
    let paths = document["paths"].as_object().expect("`paths` is an object");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item is an object");
            methods
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|&(method, path)| (method.to_owned(), path.to_owned()))
        .collect();
    assert_eq!(
        documented, routed,
        "each route needs a #[utoipa::path] on its handler, listed in `paths(...)` of src/openapi.rs, and an entry in ROUTES"
    );
}
