//! Malformed, hostile and oversized input: always a clear 4xx in the API's error shape, never a 500, and
//! nothing half-written.

use parley_client::{Page, RawResponse};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::dm;

#[track_caller]
pub(crate) fn assert_error(response: &RawResponse, status: u16, code: &str) {
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
        // Text may be left out only with attachments.
        (b"{}".to_vec(), json, 400, "invalid_text"),
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
        // An array where the object belongs: serde's derive read it field by field and stored a message.
        (b"[\"x\"]".to_vec(), json, 400, "invalid_input"),
        (
            b" \n[\"x\", \"nonce\"]".to_vec(),
            json,
            400,
            "invalid_input",
        ),
        (b"\"x\"".to_vec(), json, 400, "invalid_input"),
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
    // Beyond i64::MAX, with a sign or leading zeros: not the one spelling of an id the schema gives.
    for bad in [
        "abc",
        "-1",
        "1.5",
        "99999999999999999999999",
        "9223372036854775808",
        "0x10",
        " 1",
        "+1",
        "042",
    ] {
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
        "before=042",
        "after=9223372036854775808",
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

/// Ids and cursors are decimal strings, never JSON numbers (docs/protocol.md), in REST bodies and ops alike.
#[tokio::test]
async fn ids_as_numbers_and_arrays_for_objects_are_refused() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let sent = ann
        .client
        .send_message(id, "one", None)
        .await
        .expect("send")
        .value;
    let json = Some("application/json");
    let conversation = id.to_string();
    for body in [
        format!("{{\"message_id\": {}}}", sent.id),
        format!("[\"{}\"]", sent.id),
    ] {
        let response = ann
            .client
            .raw(
                Method::POST,
                &["v1", "conversations", &conversation, "read"],
                json,
                body.into_bytes(),
            )
            .await
            .expect("request");
        assert_error(&response, 400, "invalid_input");
    }
    let response = ann
        .client
        .raw(
            Method::POST,
            &["v1", "conversations"],
            json,
            format!("{{\"kind\":\"dm\",\"members\":[{}]}}", bob.id).into_bytes(),
        )
        .await
        .expect("request");
    assert_error(&response, 400, "invalid_input");

    let mut socket = ann.client.connect(None).await.expect("connect");
    for op in [
        r#"["ping"]"#.to_owned(),
        r#"["send","r2","1","text",null]"#.to_owned(),
        format!(r#"{{"op":"send","ref":"n","conversation_id":{id},"text":"as a number"}}"#),
        format!(
            r#"{{"op":"read","ref":"n","conversation_id":"{id}","message_id":{}}}"#,
            sent.id
        ),
        format!(r#"{{"op":"send","ref":"z","conversation_id":"0{id}","text":"leading zero"}}"#),
    ] {
        socket.send_text(op.clone()).await.expect("send");
        match crate::realtime::next_reply(&mut socket).await {
            parley_proto::v1::ServerFrame::Error { code, .. } => {
                assert_eq!(code, "invalid_op", "{op}")
            }
            other => panic!("{op}: expected invalid_op, got {other:?}"),
        }
    }
    let history = ann
        .client
        .history(id, Page::default())
        .await
        .expect("history");
    assert_eq!(history.len(), 1, "nothing but the first message was stored");
}

/// A WebSocket spoken by hand, to send what no well-behaved library would.
mod raw_websocket {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    pub struct RawSocket(TcpStream);

    /// A frame as a client sends it: final, with `opcode`, masked unless told otherwise.
    pub fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mask_bit = if masked { 0x80 } else { 0 };
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        let key = [0x12, 0x34, 0x56, 0x78];
        if masked {
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            frame.extend_from_slice(payload);
        }
        frame
    }

    impl RawSocket {
        /// Upgrades a TCP connection to `/v1/ws` and authenticates with `token`.
        pub async fn ready(server_url: &str, token: &str) -> RawSocket {
            let address = server_url.trim_start_matches("http://");
            let mut stream = TcpStream::connect(address).await.expect("connect");
            let request = format!(
                "GET /v1/ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.expect("upgrade");
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await.expect("upgrade answer");
                head.push(byte[0]);
            }
            assert!(
                head.starts_with(b"HTTP/1.1 101"),
                "{}",
                String::from_utf8_lossy(&head)
            );
            let mut socket = RawSocket(stream);
            let hello = format!(r#"{{"op":"hello","token":"{token}","resume":null}}"#);
            socket.send(&frame(0x1, hello.as_bytes(), true)).await;
            loop {
                let (opcode, payload) = socket.next_frame().await;
                assert_ne!(opcode, 0x8, "closed before ready");
                if opcode == 0x1 && payload.windows(7).any(|w| w == b"\"ready\"") {
                    return socket;
                }
            }
        }

        pub async fn send(&mut self, bytes: &[u8]) {
            self.0.write_all(bytes).await.expect("write");
        }

        /// The next frame the server sends: its opcode and payload (server frames are not masked).
        async fn next_frame(&mut self) -> (u8, Vec<u8>) {
            let mut head = [0u8; 2];
            self.0.read_exact(&mut head).await.expect("a frame");
            let length = match head[1] & 0x7f {
                126 => {
                    let mut n = [0u8; 2];
                    self.0.read_exact(&mut n).await.expect("length");
                    usize::from(u16::from_be_bytes(n))
                }
                127 => {
                    let mut n = [0u8; 8];
                    self.0.read_exact(&mut n).await.expect("length");
                    usize::try_from(u64::from_be_bytes(n)).expect("a length")
                }
                n => usize::from(n),
            };
            let mut payload = vec![0u8; length];
            self.0.read_exact(&mut payload).await.expect("payload");
            (head[0] & 0x0f, payload)
        }

        /// The code of the close frame the server sends next, skipping other frames.
        pub async fn close_code(&mut self) -> u16 {
            loop {
                let (opcode, payload) = self.next_frame().await;
                if opcode == 0x8 {
                    return u16::from_be_bytes([payload[0], payload[1]]);
                }
            }
        }
    }
}

/// What breaks the WebSocket protocol closes with the standard code that says so, not 1000 "bye": 1007 for
/// a text frame that is not UTF-8, 1002 for a frame a client may not send (unmasked).
#[tokio::test]
async fn broken_websocket_frames_close_with_their_standard_codes() {
    use raw_websocket::{RawSocket, frame};
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let token = ann.client.token().expect("token").to_owned();

    let mut socket = RawSocket::ready(&server.url, &token).await;
    socket.send(&frame(0x1, &[0xff, 0xfe, 0x80], true)).await;
    assert_eq!(socket.close_code().await, 1007);

    let mut socket = RawSocket::ready(&server.url, &token).await;
    socket.send(&frame(0x1, br#"{"op":"ping"}"#, false)).await;
    assert_eq!(socket.close_code().await, 1002);
}

/// Names and messages made of nothing visible are blank, and a name may not reorder itself to pass for
/// someone else's (`\u{202E}ecilA` displays as "Alice").
#[tokio::test]
async fn invisible_text_is_blank_and_names_cannot_reverse_themselves() {
    use parley_client::proto::v1::{ConversationKind, CreateConversationRequest, SignupRequest};
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let sent = ann
        .client
        .send_message(id, "visible", None)
        .await
        .expect("send")
        .value;
    let blanks = [
        "\u{200B}\u{200B}",
        "\u{3164}",
        " \u{FEFF}\u{2800} ",
        "\u{E0041}",
    ];
    for blank in blanks {
        let refused = ann.client.send_message(id, blank, None).await;
        crate::assert_api_error(refused, 400, "invalid_text");
        crate::assert_api_error(ann.client.rename(blank).await, 400, "invalid_name");
        let reaction = ann.client.react(id, sent.id, blank).await;
        crate::assert_api_error(reaction, 400, "invalid_emoji");
    }
    for spoof in ["\u{202E}ecilA", "Ann\u{2066}", "\u{200F}Bob"] {
        crate::assert_api_error(ann.client.rename(spoof).await, 400, "invalid_name");
        let group = CreateConversationRequest {
            kind: ConversationKind::Group,
            members: vec![bob.id],
            name: Some(spoof.to_owned()),
            handle: None,
            topic: None,
            private: None,
        };
        crate::assert_api_error(
            ann.client.create_conversation(&group).await,
            400,
            "invalid_name",
        );
        let signup = SignupRequest {
            name: spoof.to_owned(),
            email: "spoof@example.org".into(),
            password: parley_testkit::PASSWORD.into(),
            username: "spoof".into(),
            org: None,
            invite: None,
        };
        crate::assert_api_error(server.client().signup(&signup).await, 400, "invalid_name");
    }
    // Right-to-left text and its marks are fine in a message; emoji sequences are fine in a reaction.
    ann.client
        .send_message(id, "\u{202B}שלום\u{202C} hello", None)
        .await
        .expect("right-to-left text");
    ann.client
        .react(id, sent.id, "👩\u{200D}💻")
        .await
        .expect("an emoji sequence");
}
