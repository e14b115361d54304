//! What the tests of edits, threads, mentions, pins, quotes and large channels share: drafts to send, a
//! server on PostgreSQL, raw calls for bodies the SDK would never send, and proof that a socket heard
//! nothing it should not have.

use parley_client::proto::v1::{Event, LoginRequest, Mentions, Message, SendMessageRequest};
use parley_client::{Client, RawResponse, Socket};
use parley_proto::{ConversationId, UserId};
use parley_testkit::cluster::Schema;
use parley_testkit::{PASSWORD, TestServer, TestUser};
use reqwest::Method;

use crate::realtime::next_event;

/// A message with nothing but text.
pub(crate) fn draft(text: &str) -> SendMessageRequest {
    SendMessageRequest {
        text: text.to_owned(),
        nonce: None,
        mentions: None,
        thread_root_id: None,
        also_to_conversation: None,
        quote: None,
        attachments: Vec::new(),
    }
}

/// Sends a message with nothing but text, and returns it as stored.
pub(crate) async fn say(client: &Client, id: ConversationId, text: &str) -> Message {
    client
        .send_message(id, text, None)
        .await
        .expect("send")
        .value
}

/// Mentions of these users, without `@channel` or `@here`.
pub(crate) fn naming(user_ids: &[UserId]) -> Mentions {
    Mentions {
        user_ids: user_ids.to_vec(),
        channel: false,
        here: false,
    }
}

/// A server on a PostgreSQL schema of its own (or several: its shards), dropped after it.
pub(crate) struct OnPostgres {
    pub server: TestServer,
    _schema: Schema,
    _shards: Vec<Schema>,
}

/// A server on PostgreSQL, or `None` when there is none (the test then passes, unless `REQUIRE_SERVICES=1`
/// makes that a failure, as in CI).
pub(crate) async fn on_postgres() -> Option<OnPostgres> {
    on_postgres_with(|_| {}).await
}

/// The same, with `adjust` applied to the server's configuration too.
pub(crate) async fn on_postgres_with(
    adjust: impl FnOnce(&mut parley_server::Config),
) -> Option<OnPostgres> {
    let schema = Schema::create().await?;
    let url = schema.store_url();
    let server = TestServer::spawn_with(|config| {
        adjust(config);
        config.store = Some(url);
    })
    .await;
    Some(OnPostgres {
        server,
        _schema: schema,
        _shards: Vec::new(),
    })
}

/// A server on two shards with `adjust` applied, whose default organization lives on the second: an
/// organization is made on the first before anyone signs up there.
pub(crate) async fn on_shards_with(
    adjust: impl FnOnce(&mut parley_server::Config),
) -> Option<OnPostgres> {
    let (first, second) = (Schema::create().await?, Schema::create().await?);
    let (url, shard) = (first.store_url(), second.store_url());
    let server = TestServer::spawn_with(|config| {
        adjust(config);
        config.store = Some(url);
        config.store_shards = vec![shard];
    })
    .await;
    server.user_in("Placeholder", Some("first-shard")).await;
    Some(OnPostgres {
        server,
        _schema: first,
        _shards: vec![second],
    })
}

/// A test on SQLite and its twin on PostgreSQL (which passes without one, unless `REQUIRE_SERVICES=1`),
/// both running `$body` on a server of their own; doc comments before it go on the first.
macro_rules! on_both_stores {
    ($name:ident, $on_postgres:ident, $body:path) => {
        #[tokio::test]
        async fn $name() {
            $body(&parley_testkit::TestServer::spawn().await).await;
        }

        #[tokio::test]
        async fn $on_postgres() {
            let Some(postgres) = $crate::features::on_postgres().await else {
                return;
            };
            $body(&postgres.server).await;
        }
    };
}
pub(crate) use on_both_stores;

/// A request with a JSON body as written, for bodies the SDK would never send.
pub(crate) async fn raw_json(
    client: &Client,
    method: Method,
    segments: &[&str],
    body: &str,
) -> RawResponse {
    client
        .raw(
            method,
            segments,
            Some("application/json"),
            body.as_bytes().to_vec(),
        )
        .await
        .expect("request")
}

/// `sender` sends a marker and it is the next durable event `socket` gets: whatever the socket should not
/// have heard did not come before it.
pub(crate) async fn heard_nothing_before_a_marker(
    socket: &mut Socket,
    sender: &Client,
    conversation_id: ConversationId,
) -> Message {
    let marker = sender
        .send_message(conversation_id, "marker", None)
        .await
        .expect("send a marker")
        .value;
    let next = next_event(socket).await;
    assert!(
        matches!(&next.event, Event::MessageCreated { message, .. } if message.id == marker.id),
        "expected the marker, got {next:?}"
    );
    marker
}

/// A client with a session of `user` that has since been logged out: the user exists and may do the thing,
/// but not with this token.
pub(crate) async fn revoked_session_of(server: &TestServer, user: &TestUser) -> Client {
    let request = LoginRequest {
        login: user.email.clone(),
        password: PASSWORD.to_owned(),
        org: None,
    };
    let session = server.client().login(&request).await.expect("log in");
    let client = server.client().with_token(session.token);
    client.logout().await.expect("log out");
    client
}
