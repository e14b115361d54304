//! Connections as an attacker (or a bad network) holds them: idle, a head or a body that never completes,
//! more than their share. Each is bounded, and the server keeps answering everyone else.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use parley_client::proto::v1::{ClientOp, ServerFrame};
use parley_testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A server with short HTTP deadlines, so the tests can wait them out.
async fn strict_server(adjust: impl FnOnce(&mut parley_server::Config)) -> TestServer {
    TestServer::spawn_with(|config| {
        config.http_header_timeout_millis = 400;
        config.http_keepalive_idle_millis = 1_500;
        config.http_body_timeout_millis = 400;
        config.http_request_timeout_millis = 1_500;
        adjust(config);
    })
    .await
}

fn address(server: &TestServer) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// A TCP connection to the server from the loopback address `from` (127.0.0.x are all this machine).
async fn connect_from(server: &TestServer, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::from(from), 0))
        .expect("bind a source address");
    socket.connect(address(server)).await.expect("connect")
}

/// Reads until the server closes the connection (or `patience` runs out), and returns what came and when
/// the close did.
async fn read_until_closed(
    stream: &mut TcpStream,
    patience: Duration,
) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + patience),
            stream.read(&mut buffer),
        )
        .await
        {
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&received).into_owned(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Reads one whole answer (head and a `content-length` body) from a connection that stays open.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before answering");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n";

#[tokio::test]
async fn a_connection_that_sends_nothing_or_half_a_head_is_closed_at_the_header_deadline() {
    let server = strict_server(|_| {}).await;
    let opened = Instant::now();
    let mut silent = connect_from(&server, [127, 0, 0, 1]).await;
    let mut half = connect_from(&server, [127, 0, 0, 1]).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .expect("write");
    let mut trickle = connect_from(&server, [127, 0, 0, 1]).await;
    let trickling = tokio::spawn(async move {
        // A byte every 100 ms never finishes the head; the deadline counts from the first one.
        for byte in b"GET /healthz HTTP/1.1\r\nHost: parley\r\nX-Slow: yes-yes-yes" {
            if trickle.write_all(&[*byte]).await.is_err() {
                return Some(trickle);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    });
    for stream in [&mut silent, &mut half] {
        let (text, closed) = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "closed by the server");
        let lived = opened.elapsed();
        assert!(lived >= Duration::from_millis(400), "{lived:?}");
        assert!(text.is_empty(), "no answer to no request: {text}");
    }
    let trickle = trickling.await.expect("trickle");
    assert!(
        trickle.is_some(),
        "the trickled head was cut off before it ended"
    );
}

#[tokio::test]
async fn an_idle_keepalive_connection_lives_past_the_header_deadline_then_closes() {
    let server = strict_server(|_| {}).await;
    let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
    stream.write_all(HEALTH).await.expect("write");
    assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than the header deadline, shorter than the keep-alive one: still usable.
    tokio::time::sleep(Duration::from_millis(800)).await;
    stream.write_all(HEALTH).await.expect("write");
    assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let closed = closed.expect("closed once idle past the keep-alive deadline");
    assert!(closed >= Duration::from_millis(1_200), "{closed:?}");
}

#[tokio::test]
async fn a_body_that_stops_coming_is_answered_408_and_a_trickle_ends_at_the_deadline() {
    let server = strict_server(|_| {}).await;
    let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
    stream
        .write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"login\":",
        )
        .await
        .expect("write");
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");

    // A body that keeps trickling, each part within the pause allowed, still ends at the request's deadline.
    // A declared body over the limit is refused before it comes.
    let mut big = connect_from(&server, [127, 0, 0, 1]).await;
    big.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\n\
          Content-Length: 99999999\r\n\r\n",
    )
    .await
    .expect("write");
    let answer = read_answer(&mut big).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
    stream
        .write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n",
        )
        .await
        .expect("write");
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut received)).await;
    trickle.abort();
    // Answered "retry later", not 408: a browser resends a request answered 408 by itself.
    let answer = String::from_utf8_lossy(&received);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""code":"timeout""#), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(1_400));
}

#[tokio::test]
async fn connections_are_capped_per_address_and_in_all_and_others_still_get_in() {
    let server = TestServer::spawn_with(|config| {
        config.max_connections = Some(8);
        config.max_connections_per_address = 5;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from(&server, [127, 0, 0, 1]).await);
    }
    let mut sixth = connect_from(&server, [127, 0, 0, 1]).await;
    let (answer, closed) = read_until_closed(&mut sixth, Duration::from_secs(5)).await;
    assert!(closed.is_some());
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );

    // Another address still gets in, up to the cap in all.
    let mut other = connect_from(&server, [127, 0, 0, 2]).await;
    other.write_all(HEALTH).await.expect("write");
    assert!(read_answer(&mut other).await.starts_with("HTTP/1.1 200"));
    held.push(other);
    held.push(connect_from(&server, [127, 0, 0, 2]).await);
    held.push(connect_from(&server, [127, 0, 0, 3]).await);
    let mut ninth = connect_from(&server, [127, 0, 0, 4]).await;
    let (answer, _) = read_until_closed(&mut ninth, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "the server is full: {answer}"
    );

    // A closed connection gives its place back.
    held.remove(0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = connect_from(&server, [127, 0, 0, 1]).await;
    again.write_all(HEALTH).await.expect("write");
    assert!(read_answer(&mut again).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_websocket_outlives_the_http_deadlines() {
    let server = strict_server(|_| {}).await;
    let ann = server.user("Ann").await;
    let mut socket = ann.client.connect(None).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let reference = Some("after the deadlines".to_owned());
    socket
        .send(&ClientOp::Ping {
            reference: reference.clone(),
        })
        .await
        .expect("ping");
    assert_eq!(
        crate::realtime::next_reply(&mut socket).await,
        ServerFrame::Pong { reference }
    );
}

#[tokio::test]
async fn made_up_methods_share_one_metrics_label() {
    let server = TestServer::spawn().await;
    for n in 0..20 {
        let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
        let request =
            format!("BAR{n} /healthz HTTP/1.1\r\nHost: parley\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let _ = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    }
    let metrics = server.client().text(&["metrics"]).await.expect("metrics");
    assert!(!metrics.contains("BAR"), "a client-chosen label value");
    assert!(
        metrics.contains(r#"route="/healthz",method="other""#),
        "{metrics}"
    );
}
