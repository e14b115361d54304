//! What was acknowledged survives a restart: messages, nonces and sessions. Concurrent senders share
//! commits and each gets its own message.

use std::collections::BTreeSet;

use parley_client::Page;
use parley_testkit::TestServer;

use crate::dm;

#[tokio::test]
async fn nonces_and_messages_survive_a_restart() {
    let data = tempfile::tempdir().expect("temporary directory");
    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let first = ann
        .client
        .send_message(id, "before the restart", Some("restart-nonce"))
        .await
        .expect("send")
        .value;
    server.stop().await;

    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    let ann_again = ann
        .client
        .with_token(ann.client.token().unwrap_or_default());
    let client = parley_client::Client::new(&server.url)
        .expect("client")
        .with_token(ann_again.token().unwrap_or_default());
    let retry = client
        .send_message(id, "before the restart", Some("restart-nonce"))
        .await
        .expect("retry");
    assert!(!retry.new, "the nonce is durable");
    assert_eq!(retry.value.id, first.id);
    let next = client
        .send_message(id, "after the restart", None)
        .await
        .expect("send")
        .value;
    assert!(next.id > first.id, "ids keep growing across restarts");
    assert_eq!(
        client
            .history(id, Page::default())
            .await
            .expect("history")
            .len(),
        2
    );
}

#[tokio::test]
async fn concurrent_sends_are_all_stored_once_in_id_order() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let sends = (0..200).map(|n| {
        let client = if n % 2 == 0 {
            ann.client.clone()
        } else {
            bob.client.clone()
        };
        async move {
            client
                .send_message(id, &format!("burst {n}"), Some(&format!("burst-{n}")))
                .await
        }
    });
    let answers = futures_util::future::join_all(sends).await;
    let ids: BTreeSet<_> = answers
        .into_iter()
        .map(|a| a.expect("send").value.id)
        .collect();
    assert_eq!(ids.len(), 200);
    let history = ann
        .client
        .history(
            id,
            Page {
                limit: Some(200),
                ..Page::default()
            },
        )
        .await
        .expect("history");
    let stored: BTreeSet<_> = history.iter().map(|m| m.id).collect();
    assert_eq!(
        stored, ids,
        "every acknowledged message is in history, once"
    );
}
