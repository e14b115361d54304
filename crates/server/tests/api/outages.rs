//! What clients see while the store fails: an answer in the API's shape that says "retry" (503), never one
//! that says "your token is bad" (a socket closed with 4001 made the web client forget its login and the
//! SDK stop reconnecting), and never a wait as long as the outage. Runs on PostgreSQL behind a `Gate`.

use std::time::{Duration, Instant};

use parley_client::proto::v1::ServerMessage;
use parley_client::{Backoff, Error, Session};
use parley_testkit::TestServer;
use parley_testkit::cluster::{Gate, Schema};

use crate::dm;

fn assert_unavailable<T: std::fmt::Debug>(result: parley_client::Result<T>) {
    match result {
        Err(Error::Api {
            status: 503,
            code,
            retry_after: Some(_),
            ..
        }) => assert_eq!(code, "unavailable"),
        other => panic!("expected 503 unavailable with Retry-After, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_outage_keeps_everyone_logged_in_and_says_retry() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let mut gate = Gate::open(schema.server()).await;
    let url = schema.store_url_via(gate.port);
    let server = TestServer::spawn_with(|config| config.store = Some(url)).await;
    let ada = server.user("Ada").await;
    let bob = server.user("Bob").await;
    let id = dm(&ada.client, bob.id).await;
    let mut session = Session::start(bob.client.clone(), None, Backoff::default())
        .await
        .expect("a session");

    gate.cut().await;
    assert_unavailable(ada.client.me().await);
    match ada.client.connect(None).await {
        Err(Error::Closed { code, .. }) => assert_eq!(code, 1013, "try again later, not 4001"),
        Err(other) => panic!("expected a 1013 close, got {other:?}"),
        Ok(_) => panic!("a socket got in while the store was away"),
    }

    gate.reopen().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(error) = ada.client.me().await {
        assert!(
            Instant::now() < deadline,
            "the token works again: {error:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ada.client.connect(None).await.expect("the socket too");
    let sent = ada
        .client
        .send_message(id, "after the outage", Some("after"))
        .await
        .expect("send")
        .value;
    // Bob's session went on through it all, and hears the message.
    loop {
        let next = tokio::time::timeout(Duration::from_secs(15), session.next())
            .await
            .expect("bob hears it")
            .expect("bob's session lives");
        if let ServerMessage::Event(frame) = next
            && let parley_proto::v1::Event::MessageCreated { message, .. } = frame.event
            && message.id == sent.id
        {
            break;
        }
    }
    drop(schema);
}

/// A store that stops answering while its connections stay up: `/readyz` says so in time, and requests
/// answer 503 within the store's time limit instead of waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_store_is_waited_for_only_so_long() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let gate = Gate::open(schema.server()).await;
    let url = schema.store_url_via(gate.port);
    let server = TestServer::spawn_with(|config| {
        config.store = Some(url);
        config.store_timeout_millis = 1_000;
    })
    .await;
    let ada = server.user("Ada").await;
    let client = server.client();

    gate.freeze();
    let started = Instant::now();
    let ready = client.text(&["readyz"]).await;
    assert_eq!(ready.expect_err("not ready").status(), Some(503));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_unavailable(ada.client.me().await);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    gate.thaw();
    let deadline = Instant::now() + Duration::from_secs(15);
    while client.text(&["readyz"]).await.is_err() || ada.client.me().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "ready again once the store answers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(schema);
}
