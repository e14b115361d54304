//! A large channel: one message reaches every connected member exactly once. The members are written into
//! the store before the server starts (signing up 5,000 people would spend minutes hashing passwords), then
//! everything else goes through the real server and real sockets.

use std::time::Instant;

use parley_client::Client;
use parley_client::proto::v1::{ConversationKind, Event, ServerMessage};
use parley_core::model::Millis;
use parley_core::store::{NewConversation, NewUser, OrgPolicy, Store};
use parley_proto::UserId;
use parley_store::SqliteStore;
use parley_testkit::TestServer;
use sha2::{Digest, Sha256};

const MEMBERS: usize = 5_000;
const CONNECTED: usize = 500;

/// A session token of the right shape (43 characters) that the test knows.
fn token(n: usize) -> String {
    format!("fanout-token-{n:030}")
}

async fn seed(store: &dyn Store) -> parley_proto::ConversationId {
    let mut ids: Vec<UserId> = Vec::with_capacity(MEMBERS);
    for n in 0..MEMBERS {
        let user = store
            .create_user(NewUser {
                org_handle: "default",
                org_policy: OrgPolicy::JoinOrCreate,
                username: &format!("member{n}"),
                email: &format!("member{n}@example.org"),
                name: &format!("Member {n}"),
                password_hash: "not-a-hash: these accounts log in by session only",
                now: Millis::now(),
            })
            .await
            .expect("user");
        if n < CONNECTED {
            let hash: [u8; 32] = Sha256::digest(token(n).as_bytes()).into();
            store
                .create_session(user.id, hash, None, Millis::now())
                .await
                .expect("session");
        }
        ids.push(user.id);
    }
    let (channel, _) = store
        .create_conversation(NewConversation {
            org_id: store
                .user(ids[0])
                .await
                .expect("user")
                .expect("exists")
                .org_id,
            kind: ConversationKind::Channel,
            name: Some("Everyone"),
            handle: Some("everyone"),
            topic: None,
            private: false,
            created_by: ids[0],
            members: &ids,
            now: Millis::now(),
        })
        .await
        .expect("channel");
    channel.id
}

/// The next durable event, skipping any other frame.
async fn next_event(socket: &mut parley_client::Socket) -> Event {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(parley_client::Incoming::Message(ServerMessage::Event(frame))))) => {
                return frame.event;
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_large_channel_reaches_each_connected_member_once() {
    let data = tempfile::tempdir().expect("temporary directory");
    let channel = {
        let store = SqliteStore::open(&data.path().join("parley.db")).expect("store");
        seed(&store).await
    };
    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    let base = Client::new(&server.url).expect("client");
    let mut sockets = Vec::with_capacity(CONNECTED);
    for n in 0..CONNECTED {
        sockets.push(
            base.with_token(token(n))
                .connect(None)
                .await
                .expect("connect"),
        );
    }
    let shown = base
        .with_token(token(0))
        .conversation(channel)
        .await
        .expect("show");
    assert_eq!(
        (shown.member_count, shown.members),
        (MEMBERS as u64, None),
        "too big to list members"
    );

    let sender = base.with_token(token(0));
    let started = Instant::now();
    let sent = sender
        .send_message(channel, "to everyone", None)
        .await
        .expect("send")
        .value;
    let receivers = sockets.into_iter().map(|mut socket| {
        tokio::spawn(async move {
            loop {
                match socket.next().await {
                    Some(Ok(parley_client::Incoming::Message(ServerMessage::Event(frame)))) => {
                        if let Event::MessageCreated { message, .. } = frame.event {
                            return (socket, message.id);
                        }
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("socket ended: {other:?}"),
                }
            }
        })
    });
    let mut sockets = Vec::with_capacity(CONNECTED);
    for receiver in receivers {
        let (socket, message_id) = receiver.await.expect("receiver");
        assert_eq!(message_id, sent.id);
        sockets.push(socket);
    }
    let fanout = started.elapsed();

    // Exactly once: the next message event each socket sees is the next message, not the first again.
    let marker = sender
        .send_message(channel, "marker", None)
        .await
        .expect("send")
        .value;
    let mut kept = Vec::with_capacity(CONNECTED);
    for mut socket in sockets {
        loop {
            match socket.next().await {
                Some(Ok(parley_client::Incoming::Message(ServerMessage::Event(frame)))) => {
                    if let Event::MessageCreated { message, .. } = frame.event {
                        assert_eq!(message.id, marker.id, "no duplicate of the first message");
                        break;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
        kept.push(socket);
    }
    let mut kept = kept.into_iter().skip(1);
    let (first_reader, second_reader) = (
        kept.next().expect("member 1"),
        kept.next().expect("member 2"),
    );
    let reader_id = first_reader.user_id;
    // In a channel this big a read marker is the reader's own business: member 1's socket hears it,
    // member 2's does not (the next thing it sees is the next message).
    let reader = base.with_token(token(1));
    reader.mark_read(channel, marker.id).await.expect("read");
    let after = sender
        .send_message(channel, "after the read", None)
        .await
        .expect("send")
        .value;
    for (n, mut socket) in [(1, first_reader), (2, second_reader)] {
        let first = next_event(&mut socket).await;
        if n == 1 {
            assert!(
                matches!(&first, Event::ReadUpdated { user_id, .. } if *user_id == reader_id),
                "{first:?}"
            );
            assert!(
                matches!(next_event(&mut socket).await, Event::MessageCreated { message, .. } if message.id == after.id)
            );
        } else {
            assert!(
                matches!(&first, Event::MessageCreated { message, .. } if message.id == after.id),
                "{first:?}"
            );
        }
    }
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!(
            "fan-out to {CONNECTED} of {MEMBERS} members: {fanout:?} from send to the last socket"
        );
    }
}
