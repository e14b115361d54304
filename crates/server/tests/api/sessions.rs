//! Sessions end: unused for too long, past their lifetime, or everywhere at once; their sockets close with
//! them, and a socket that stays open keeps its session in use.

use std::time::{Duration, Instant};

use parley_client::{Incoming, Socket};
use parley_proto::v1::LoginRequest;
use parley_testkit::{PASSWORD, TestServer, TestUser};

use crate::assert_api_error;

pub(crate) async fn close_code(socket: &mut Socket, patience: Duration) -> u16 {
    loop {
        match tokio::time::timeout(patience, socket.next()).await {
            Ok(Some(Ok(Incoming::Closed { code, .. }))) => return code,
            Ok(Some(Ok(Incoming::Message(_)))) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

async fn second_login(user: &TestUser) -> parley_client::Client {
    let login = LoginRequest {
        login: user.email.clone(),
        password: PASSWORD.into(),
        org: None,
    };
    let session = user.client.login(&login).await.expect("login");
    user.client.with_token(session.token)
}

#[tokio::test]
async fn an_unused_session_ends_and_a_used_one_lives_to_its_lifetime() {
    let server = TestServer::spawn_with(|config| {
        config.session_idle_seconds = 2;
        config.session_lifetime_seconds = 4;
    })
    .await;
    let ann = server.user("Ann").await;
    let idle = second_login(&ann).await;
    let started = Instant::now();
    // Used every half second, the first session lives on past the idle limit, up to its lifetime.
    while started.elapsed() < Duration::from_millis(3_000) {
        ann.client.me().await.expect("a session in use lives");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_api_error(idle.me().await, 401, "unauthenticated");
    tokio::time::sleep(Duration::from_millis(4_300).saturating_sub(started.elapsed())).await;
    assert_api_error(ann.client.me().await, 401, "unauthenticated");
}

#[tokio::test]
async fn an_open_socket_keeps_its_session_in_use_and_closes_at_its_lifetime() {
    let server = TestServer::spawn_with(|config| {
        config.session_idle_seconds = 1;
        config.session_lifetime_seconds = 3;
        config.ws_ping_millis = 100;
    })
    .await;
    let ann = server.user("Ann").await;
    let mut socket = ann.client.connect(None).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    ann.client
        .me()
        .await
        .expect("the socket kept the session in use");
    let started = Instant::now();
    assert_eq!(close_code(&mut socket, Duration::from_secs(5)).await, 4001);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed at the lifetime"
    );
    assert_api_error(ann.client.me().await, 401, "unauthenticated");
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_session_and_socket_of_that_user_only() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let phone = second_login(&ann).await;
    let mut desk_socket = ann.client.connect(None).await.expect("connect");
    let mut phone_socket = phone.connect(None).await.expect("connect");
    let mut bob_socket = bob.client.connect(None).await.expect("connect");

    phone.logout_everywhere().await.expect("log out everywhere");
    for socket in [&mut desk_socket, &mut phone_socket] {
        assert_eq!(close_code(socket, Duration::from_secs(5)).await, 4003);
    }
    assert_api_error(ann.client.me().await, 401, "unauthenticated");
    assert_api_error(phone.me().await, 401, "unauthenticated");
    assert_api_error(phone.logout_everywhere().await, 401, "unauthenticated");
    bob.client.me().await.expect("bob's session stands");
    bob_socket
        .send(&parley_proto::v1::ClientOp::Ping { reference: None })
        .await
        .expect("bob's socket stands");
    // Logging in again works.
    second_login(&ann).await.me().await.expect("a new session");
}
