//! The WebSocket gateway through real sockets: hello, every durable event, ops, many devices, resume without
//! gaps, membership changes on open sockets, typing, presence, profile changes, backpressure, logout, bad
//! input, shutdown.

use std::time::Duration;

use parley_client::proto::v1::{
    Allowed, ClientOp, Event, EventFrame, OrgSettingsPatch, Role, ServerFrame, ServerMessage, User,
};
use parley_client::{Client, DeleteFor, Incoming, Page, Socket};
use parley_proto::{ConversationId, Cursor, UserId};
use parley_testkit::{TestServer, TestUser};

use crate::users::PNG;
use crate::{assert_api_error, channel, dm, group};

/// Long enough for anything on loopback; a test that waits this long has failed.
const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) async fn connect(user: &TestUser) -> Socket {
    user.client.connect(None).await.expect("connect")
}

async fn next(socket: &mut Socket) -> Incoming {
    match tokio::time::timeout(PATIENCE, socket.next()).await {
        Ok(Some(Ok(incoming))) => incoming,
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// Presence, typing, profile and settings changes: frames that may interleave with anything.
fn is_ephemeral(frame: &ServerFrame) -> bool {
    matches!(
        frame,
        ServerFrame::PresenceUpdated { .. }
            | ServerFrame::Typing { .. }
            | ServerFrame::UserUpdated { .. }
            | ServerFrame::OrgUpdated { .. }
    )
}

/// The next durable event, skipping ephemeral frames that may interleave.
pub(crate) async fn next_event(socket: &mut Socket) -> EventFrame {
    loop {
        match next(socket).await {
            Incoming::Message(ServerMessage::Event(frame)) => return frame,
            Incoming::Message(ServerMessage::Frame(frame)) if is_ephemeral(&frame) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// The next `n` replies, all errors, as (ref, code) sorted by ref: ops are answered as each completes, not in
/// the order sent.
pub(crate) async fn error_replies(socket: &mut Socket, n: usize) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for _ in 0..n {
        match next_reply(socket).await {
            ServerFrame::Error {
                reference, code, ..
            } => errors.push((reference.unwrap_or_default(), code)),
            other => panic!("expected an error, got {other:?}"),
        }
    }
    errors.sort();
    errors
}

/// The next frame that is not a durable event or an ephemeral one: a reply.
pub(crate) async fn next_reply(socket: &mut Socket) -> ServerFrame {
    loop {
        match next(socket).await {
            Incoming::Message(ServerMessage::Event(_)) => continue,
            Incoming::Message(ServerMessage::Frame(frame)) if is_ephemeral(&frame) => continue,
            Incoming::Message(ServerMessage::Frame(frame)) => return frame,
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

/// An op's reply and the durable event it caused, which may arrive in either order.
pub(crate) async fn reply_and_event(socket: &mut Socket) -> (ServerFrame, EventFrame) {
    let (mut reply, mut event) = (None, None);
    while reply.is_none() || event.is_none() {
        match next(socket).await {
            Incoming::Message(ServerMessage::Event(frame)) => event = Some(frame),
            Incoming::Message(ServerMessage::Frame(frame)) if is_ephemeral(&frame) => {}
            Incoming::Message(ServerMessage::Frame(frame)) => reply = Some(frame),
            other => panic!("unexpected {other:?}"),
        }
    }
    (reply.expect("reply"), event.expect("event"))
}

/// How a socket that the server cut off ends, after whatever it had buffered: its close code, or `None`
/// when the connection ended without one (the server's reset of a dropped connection can overtake it).
async fn end_of(socket: &mut Socket) -> Option<u16> {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the socket ends")
        {
            Some(Ok(Incoming::Message(_) | Incoming::Unknown { .. })) => continue,
            Some(Ok(Incoming::Closed { code, .. })) => return Some(code),
            Some(Err(_)) | None => return None,
        }
    }
}

async fn next_close(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await {
            Ok(Some(Ok(Incoming::Closed { code, .. }))) => return code,
            Ok(Some(Ok(Incoming::Message(_)))) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

fn message_text(frame: &EventFrame) -> Option<&str> {
    match &frame.event {
        Event::MessageCreated { message, .. } => message.text.as_deref(),
        _ => None,
    }
}

fn send_op(reference: &str, conversation_id: ConversationId, text: &str) -> ClientOp {
    ClientOp::Send {
        reference: Some(reference.into()),
        conversation_id,
        text: text.into(),
        nonce: Some(format!("nonce-{reference}")),
        mentions: None,
        thread_root_id: None,
        also_to_conversation: None,
        quote: None,
        attachments: Vec::new(),
    }
}

#[tokio::test]
async fn hello_then_ready_or_a_close_code() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let socket = connect(&ann).await;
    assert_eq!(socket.user_id, ann.id);

    let refused = ann.client.with_token("not-a-token").connect(None).await;
    assert!(
        matches!(
            refused,
            Err(parley_client::Error::Closed { code: 4001, .. })
        ),
        "{:?}",
        refused.err()
    );
    let mut raw = Socket::open(&ann.client.websocket_url())
        .await
        .expect("open");
    raw.send(&ClientOp::Ping { reference: None })
        .await
        .expect("send");
    assert_eq!(
        next_close(&mut raw).await,
        4000,
        "the first frame must be hello"
    );
    let mut raw = Socket::open(&ann.client.websocket_url())
        .await
        .expect("open");
    raw.send_text("{not json".into()).await.expect("send");
    assert_eq!(next_close(&mut raw).await, 4000);

    // Not a WebSocket request at all: the API's error shape.
    let plain = server
        .client()
        .raw(reqwest::Method::GET, &["v1", "ws"], None, Vec::new())
        .await
        .expect("get");
    assert!((400..500).contains(&plain.status), "{}", plain.status);
    assert_eq!(
        plain.error().expect("error shape").error.code,
        "not_a_websocket"
    );
}

#[tokio::test]
async fn two_users_with_two_devices_each_see_everything_once() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut sockets = vec![
        connect(&ann).await,
        connect(&ann).await,
        connect(&bob).await,
        connect(&bob).await,
    ];

    sockets[0]
        .send(&send_op("s1", id, "hello over the socket"))
        .await
        .expect("send");
    // The sender gets the ack and, like every device, the event; the two may come in either order.
    let (ack, created) = reply_and_event(&mut sockets[0]).await;
    let ServerFrame::Ack {
        reference, message, ..
    } = ack
    else {
        panic!("expected an ack, got {ack:?}")
    };
    assert_eq!(reference.as_deref(), Some("s1"));
    assert_eq!(message.text.as_deref(), Some("hello over the socket"));
    assert!(matches!(created.event, Event::MessageCreated { message: m, .. } if m == message));
    let rest = bob
        .client
        .send_message(id, "hello over REST", None)
        .await
        .expect("send")
        .value;
    for (n, socket) in sockets.iter_mut().enumerate() {
        if n == 0 {
            assert_eq!(
                message_text(&next_event(socket).await),
                Some("hello over REST")
            );
            continue;
        }
        let first = next_event(socket).await;
        assert_eq!(
            (message_text(&first), first.cursor > Cursor(0)),
            (Some("hello over the socket"), true)
        );
        let second = next_event(socket).await;
        assert_eq!(message_text(&second), Some("hello over REST"));
        assert!(second.cursor > first.cursor);
    }

    // A read marker syncs across devices and reaches the other member.
    sockets[2]
        .send(&ClientOp::Read {
            reference: Some("r1".into()),
            conversation_id: id,
            message_id: rest.id,
        })
        .await
        .expect("read");
    let read = Event::ReadUpdated {
        conversation_id: id,
        user_id: bob.id,
        message_id: rest.id,
    };
    let (ok, event) = reply_and_event(&mut sockets[2]).await;
    assert_eq!(
        (ok, event.event),
        (
            ServerFrame::Ok {
                reference: Some("r1".into())
            },
            read.clone()
        )
    );
    for (n, socket) in sockets.iter_mut().enumerate() {
        if n != 2 {
            assert_eq!(next_event(socket).await.event, read);
        }
    }

    // Reactions and deletes, durable events of their own.
    ann.client.react(id, rest.id, "like").await.expect("react");
    ann.client
        .unreact(id, rest.id, "like")
        .await
        .expect("unreact");
    ann.client
        .delete_message(id, message.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    bob.client
        .delete_message(id, rest.id, DeleteFor::Me)
        .await
        .expect("hide");
    for (n, socket) in sockets.iter_mut().enumerate() {
        let added = next_event(socket).await.event;
        assert_eq!(
            added,
            Event::ReactionAdded {
                conversation_id: id,
                message_id: rest.id,
                emoji: "like".into(),
                user_id: ann.id
            }
        );
        assert!(matches!(
            next_event(socket).await.event,
            Event::ReactionRemoved { .. }
        ));
        assert_eq!(
            next_event(socket).await.event,
            Event::MessageDeleted {
                conversation_id: id,
                message_id: message.id,
                removed_by_moderator: false,
            }
        );
        if n >= 2 {
            // Delete-for-me goes to the deleter's own devices only.
            let hidden = next_event(socket).await.event;
            assert_eq!(
                hidden,
                Event::MessageHidden {
                    conversation_id: id,
                    message_id: rest.id,
                    user_id: bob.id
                }
            );
        }
    }
    // Ann's devices got nothing of Bob's delete-for-me: the next thing they see is the next message.
    bob.client
        .send_message(id, "marker", None)
        .await
        .expect("send");
    for socket in &mut sockets {
        assert_eq!(message_text(&next_event(socket).await), Some("marker"));
    }
}

#[tokio::test]
async fn resume_replays_exactly_what_was_missed_then_goes_live() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let first = ann
        .client
        .send_message(id, "seen live", None)
        .await
        .expect("send")
        .value;
    let mut socket = connect(&bob).await;
    let m2 = ann
        .client
        .send_message(id, "also seen live", None)
        .await
        .expect("send")
        .value;
    let seen = next_event(&mut socket).await;
    assert_eq!(message_text(&seen), Some("also seen live"));
    let cursor = seen.cursor;
    socket.drop_without_close();

    // While Bob is away: messages, a reaction, a delete.
    let m3 = ann
        .client
        .send_message(id, "missed one", None)
        .await
        .expect("send")
        .value;
    ann.client.react(id, first.id, "🎉").await.expect("react");
    ann.client
        .delete_message(id, m2.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    let m4 = ann
        .client
        .send_message(id, "missed two", None)
        .await
        .expect("send")
        .value;

    let mut socket = bob.client.connect(Some(cursor)).await.expect("resume");
    assert_eq!(socket.ready_cursor, cursor);
    let replayed = [
        next_event(&mut socket).await,
        next_event(&mut socket).await,
        next_event(&mut socket).await,
        next_event(&mut socket).await,
    ];
    assert!(
        matches!(&replayed[0].event, Event::MessageCreated { message, .. } if message.id == m3.id)
    );
    assert!(matches!(&replayed[1].event, Event::ReactionAdded { emoji, .. } if emoji == "🎉"));
    assert_eq!(
        replayed[2].event,
        Event::MessageDeleted {
            conversation_id: id,
            message_id: m2.id,
            removed_by_moderator: false,
        }
    );
    assert!(
        matches!(&replayed[3].event, Event::MessageCreated { message, .. } if message.id == m4.id)
    );
    assert!(replayed.windows(2).all(|w| w[0].cursor < w[1].cursor));
    // Then live, with nothing twice.
    ann.client
        .send_message(id, "live again", None)
        .await
        .expect("send");
    assert_eq!(
        message_text(&next_event(&mut socket).await),
        Some("live again")
    );

    // A cursor the server never issued (or one pruned away) asks for a resync.
    let mut stale = bob
        .client
        .connect(Some(Cursor(i64::MAX / 2)))
        .await
        .expect("connect");
    let ServerFrame::Resync { cursor: fresh } = next_reply(&mut stale).await else {
        panic!("resync")
    };
    assert!(
        fresh < Cursor(i64::MAX / 2),
        "the cursor to continue from is a real one"
    );
    ann.client
        .send_message(id, "after the resync", None)
        .await
        .expect("send");
    let next = next_event(&mut stale).await;
    assert!(next.cursor > fresh);
    assert_eq!(message_text(&next), Some("after the resync"));
}

#[tokio::test]
async fn a_session_reconnects_and_resumes_on_its_own() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let backoff = parley_client::Backoff::new(Duration::from_millis(5), Duration::from_millis(50));
    let mut session = parley_client::Session::start(bob.client.clone(), None, backoff)
        .await
        .expect("session");
    let mut texts = Vec::new();
    for n in 0..20 {
        ann.client
            .send_message(id, &format!("n{n}"), None)
            .await
            .expect("send");
        if n % 5 == 4 {
            session.lose_connection();
        }
    }
    while texts.len() < 20 {
        match tokio::time::timeout(PATIENCE, session.next())
            .await
            .expect("in time")
            .expect("message")
        {
            ServerMessage::Event(frame) => texts.extend(message_text(&frame).map(str::to_owned)),
            ServerMessage::Frame(_) => {}
        }
    }
    assert_eq!(
        texts,
        (0..20).map(|n| format!("n{n}")).collect::<Vec<_>>(),
        "all, once, in order"
    );
    assert!(session.reconnects >= 1);
}

#[tokio::test]
async fn joining_and_leaving_take_effect_on_open_sockets() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let mut carols = connect(&carol).await;
    let mut bobs = connect(&bob).await;

    // A group created with Bob in it reaches Bob's open socket: the creation, then each joining.
    let id = group(&ann.client, "Plans", &[bob.id]).await;
    assert!(
        matches!(next_event(&mut bobs).await.event, Event::ConversationCreated { conversation } if conversation.id == id)
    );
    let mut joined = vec![
        next_event(&mut bobs).await.event,
        next_event(&mut bobs).await.event,
    ];
    joined.sort_by_key(|e| match e {
        Event::MemberJoined { user_id, .. } => *user_id,
        _ => UserId(0),
    });
    assert_eq!(
        joined,
        vec![
            Event::MemberJoined {
                conversation_id: id,
                user_id: ann.id
            },
            Event::MemberJoined {
                conversation_id: id,
                user_id: bob.id
            },
        ]
    );

    // Carol, invited, catches up on the group (its events since she connected: the creation and the first
    // joinings), hears her own joining, then the group's next message at once.
    ann.client.invite(id, &[carol.id]).await.expect("invite");
    let mut caught_up = Vec::new();
    loop {
        let event = next_event(&mut carols).await.event;
        let mine = event
            == Event::MemberJoined {
                conversation_id: id,
                user_id: carol.id,
            };
        caught_up.push(event);
        if mine {
            break;
        }
    }
    assert!(
        matches!(&caught_up[0], Event::ConversationCreated { conversation } if conversation.id == id)
    );
    assert_eq!(
        caught_up.len(),
        4,
        "created, Ann and Bob joined, Carol joined: {caught_up:?}"
    );
    ann.client
        .send_message(id, "welcome", None)
        .await
        .expect("send");
    assert_eq!(
        message_text(&next_event(&mut carols).await),
        Some("welcome")
    );

    // Bob leaves: he hears his own leaving, then nothing more of that group.
    assert_eq!(
        next_event(&mut bobs).await.event,
        Event::MemberJoined {
            conversation_id: id,
            user_id: carol.id
        }
    );
    assert_eq!(message_text(&next_event(&mut bobs).await), Some("welcome"));
    bob.client.leave(id).await.expect("leave");
    assert_eq!(
        next_event(&mut bobs).await.event,
        Event::MemberLeft {
            conversation_id: id,
            user_id: bob.id,
            removed: false,
        }
    );
    ann.client
        .send_message(id, "after Bob left", None)
        .await
        .expect("send");
    let other = dm(&ann.client, bob.id).await;
    ann.client
        .send_message(other, "marker", None)
        .await
        .expect("send");
    loop {
        let frame = next_event(&mut bobs).await;
        assert_ne!(
            message_text(&frame),
            Some("after Bob left"),
            "a socket never gets events of a conversation it left"
        );
        if message_text(&frame) == Some("marker") {
            break;
        }
    }
}

#[tokio::test]
async fn everyone_connected_hears_a_new_group_from_its_creation_on() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let mut sockets = [
        connect(&ann).await,
        connect(&bob).await,
        connect(&carol).await,
    ];
    let id = group(&ann.client, "All three", &[bob.id, carol.id]).await;
    let mut seen = Vec::new();
    for socket in &mut sockets {
        let events = [
            next_event(socket).await,
            next_event(socket).await,
            next_event(socket).await,
            next_event(socket).await,
        ];
        assert!(
            matches!(&events[0].event, Event::ConversationCreated { conversation } if conversation.id == id)
        );
        let mut joined: Vec<UserId> = events[1..]
            .iter()
            .map(|e| match &e.event {
                Event::MemberJoined { user_id, .. } => *user_id,
                other => panic!("expected member.joined, got {other:?}"),
            })
            .collect();
        joined.sort();
        assert_eq!(joined, vec![ann.id, bob.id, carol.id]);
        seen.push(events.map(|e| e.cursor));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "the same events, in the same order: {seen:?}"
    );
    ann.client
        .send_message(id, "marker", None)
        .await
        .expect("send");
    for socket in &mut sockets {
        assert_eq!(
            message_text(&next_event(socket).await),
            Some("marker"),
            "and nothing twice"
        );
    }
}

#[tokio::test]
async fn public_channel_joins_reach_the_joiner_at_once() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = channel(&ann.client, "general", false).await;
    let mut bobs = connect(&bob).await;
    bob.client.join(id).await.expect("join");
    assert_eq!(
        next_event(&mut bobs).await.event,
        Event::MemberJoined {
            conversation_id: id,
            user_id: bob.id
        }
    );
    ann.client
        .send_message(id, "hi channel", None)
        .await
        .expect("send");
    assert_eq!(
        message_text(&next_event(&mut bobs).await),
        Some("hi channel")
    );
}

#[tokio::test]
async fn typing_goes_to_the_other_connected_members_only() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let id = dm(&ann.client, bob.id).await;
    let mut anns = connect(&ann).await;
    let mut bobs = connect(&bob).await;
    let mut carols = connect(&carol).await;
    anns.send(&ClientOp::Typing {
        reference: Some("t".into()),
        conversation_id: id,
    })
    .await
    .expect("typing");
    assert!(matches!(
        next_reply(&mut anns).await,
        ServerFrame::Ok { .. }
    ));
    loop {
        if let Incoming::Message(ServerMessage::Frame(ServerFrame::Typing {
            conversation_id,
            user_id,
        })) = next(&mut bobs).await
        {
            assert_eq!((conversation_id, user_id), (id, ann.id));
            break;
        }
    }
    // Not a member: refused, with the ref.
    carols
        .send(&ClientOp::Typing {
            reference: Some("c".into()),
            conversation_id: id,
        })
        .await
        .expect("typing");
    let ServerFrame::Error {
        reference, code, ..
    } = next_reply(&mut carols).await
    else {
        panic!("error")
    };
    assert_eq!(
        (reference.as_deref(), code.as_str()),
        (Some("c"), "not_found")
    );
    // Typing is never stored: nothing of it in history or in a replay.
    assert!(
        ann.client
            .history(id, parley_client::Page::default())
            .await
            .expect("history")
            .is_empty()
    );
    ann.client
        .send_message(id, "marker", None)
        .await
        .expect("send");
    assert_eq!(message_text(&next_event(&mut anns).await), Some("marker"));
}

#[tokio::test]
async fn presence_follows_contacts_and_subscriptions_with_a_grace_period() {
    let server = TestServer::spawn_with(|config| config.presence_grace_millis = 200).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    ann.client.add_contact(bob.id).await.expect("contact");
    let mut anns = connect(&ann).await;
    assert!(
        !ann.client
            .user(bob.id)
            .await
            .expect("profile")
            .presence
            .expect("presence")
            .online
    );

    let bobs = connect(&bob).await;
    let presence = loop {
        if let Incoming::Message(ServerMessage::Frame(
            frame @ ServerFrame::PresenceUpdated { .. },
        )) = next(&mut anns).await
        {
            break frame;
        }
    };
    assert_eq!(
        presence,
        ServerFrame::PresenceUpdated {
            user_id: bob.id,
            online: true,
            last_seen: None
        }
    );
    assert!(
        ann.client
            .user(bob.id)
            .await
            .expect("profile")
            .presence
            .expect("presence")
            .online
    );
    assert!(
        ann.client.contacts().await.expect("contacts")[0]
            .presence
            .as_ref()
            .expect("presence")
            .online
    );

    // A quick reconnect does not flap; leaving for longer than the grace does.
    bobs.close().await;
    let bobs = connect(&bob).await;
    bobs.close().await;
    let offline = loop {
        if let Incoming::Message(ServerMessage::Frame(
            frame @ ServerFrame::PresenceUpdated { .. },
        )) = next(&mut anns).await
        {
            break frame;
        }
    };
    let ServerFrame::PresenceUpdated {
        user_id,
        online,
        last_seen,
    } = offline
    else {
        unreachable!()
    };
    assert_eq!(
        (user_id, online, last_seen.is_some()),
        (bob.id, false, true)
    );

    // presence_sub: the state now, then changes.
    let carol = server.user("Carol").await;
    let stranger = server.user_in("Eve", Some("otherco")).await;
    let mut carols = connect(&carol).await;
    carols
        .send(&ClientOp::PresenceSub {
            reference: Some("p".into()),
            user_ids: vec![ann.id, bob.id, stranger.id],
        })
        .await
        .expect("sub");
    let ServerFrame::Presence { reference, users } = next_reply(&mut carols).await else {
        panic!("presence")
    };
    assert_eq!(reference.as_deref(), Some("p"));
    let states: Vec<(UserId, bool)> = users.iter().map(|u| (u.user_id, u.online)).collect();
    assert_eq!(
        states,
        vec![(ann.id, true), (bob.id, false)],
        "other orgs' people are left out"
    );
    let _bobs = connect(&bob).await;
    loop {
        if let Incoming::Message(ServerMessage::Frame(ServerFrame::PresenceUpdated {
            user_id,
            online,
            ..
        })) = next(&mut carols).await
        {
            assert_eq!((user_id, online), (bob.id, true));
            break;
        }
    }
}

/// The next `user.updated`, skipping whatever else comes.
async fn next_user_update(socket: &mut Socket) -> User {
    loop {
        if let Incoming::Message(ServerMessage::Frame(ServerFrame::UserUpdated { user })) =
            next(socket).await
        {
            return user;
        }
    }
}

/// Sends `presence_sub` and returns whom the server lets the connection follow.
async fn presence_sub(socket: &mut Socket, user_ids: Vec<UserId>) -> Vec<UserId> {
    socket
        .send(&ClientOp::PresenceSub {
            reference: Some("sub".into()),
            user_ids,
        })
        .await
        .expect("presence_sub");
    let ServerFrame::Presence { users, .. } = next_reply(socket).await else {
        panic!("presence")
    };
    users.iter().map(|u| u.user_id).collect()
}

#[tokio::test]
async fn profile_changes_reach_followers_and_own_devices_once() {
    let server = TestServer::spawn().await;
    let ada = server.user("Ada").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let dan = server.user("Dan").await;
    let eve = server.user_in("Eve", Some("otherco")).await;
    bob.client.add_contact(ada.id).await.expect("contact");
    let mut bobs = connect(&bob).await;
    let mut carols = connect(&carol).await;
    assert_eq!(presence_sub(&mut carols, vec![ada.id]).await, vec![ada.id]);
    let mut dans = connect(&dan).await;
    let mut eves = connect(&eve).await;
    assert!(
        presence_sub(&mut eves, vec![ada.id]).await.is_empty(),
        "nobody follows another org's people"
    );
    // Ada's phone also follows her own presence, and still hears each change once.
    let mut adas_laptop = connect(&ada).await;
    let mut adas_phone = connect(&ada).await;
    assert_eq!(
        presence_sub(&mut adas_phone, vec![ada.id]).await,
        vec![ada.id]
    );

    let renamed = ada.client.rename("Ada Lovelace").await.expect("rename");
    let with_avatar = ada
        .client
        .set_avatar("image/png", PNG.to_vec())
        .await
        .expect("upload");
    assert!(with_avatar.avatar_url.is_some());
    let profile = bob.client.user(ada.id).await.expect("profile");
    assert_eq!(
        User {
            presence: None,
            ..profile
        },
        with_avatar,
        "what the frames carry is the profile, without presence"
    );
    for socket in [&mut bobs, &mut carols, &mut adas_laptop, &mut adas_phone] {
        assert_eq!(next_user_update(socket).await, renamed);
        assert_eq!(next_user_update(socket).await, with_avatar);
    }

    // Dan and Eve follow nobody who changed: the first change each hears of is their own, which went out
    // after Ada's through the same dispatcher.
    for (user, socket) in [(&dan, &mut dans), (&eve, &mut eves)] {
        let own = user.client.rename("Someone Else").await.expect("rename");
        assert_eq!(next_user_update(socket).await, own);
    }
}

#[tokio::test]
async fn a_refused_profile_change_tells_nobody() {
    let server = TestServer::spawn().await;
    let ada = server.user("Ada").await;
    let bob = server.user("Bob").await;
    bob.client.add_contact(ada.id).await.expect("contact");
    let mut bobs = connect(&bob).await;
    let mut adas = connect(&ada).await;
    assert_api_error(ada.client.rename("").await, 400, "invalid_name");
    assert_api_error(
        ada.client.rename(&"x".repeat(101)).await,
        400,
        "invalid_name",
    );
    assert_api_error(
        ada.client
            .set_avatar("image/png", b"not an image".to_vec())
            .await,
        400,
        "unsupported_image",
    );
    // Nothing went out for those: the first change each socket hears of is the next good one.
    let renamed = ada.client.rename("Ada Lovelace").await.expect("rename");
    for socket in [&mut bobs, &mut adas] {
        assert_eq!(next_user_update(socket).await, renamed);
    }
}

#[tokio::test]
async fn logout_closes_the_sockets_of_that_session_only() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let login = parley_proto::v1::LoginRequest {
        login: ann.username.clone(),
        password: parley_testkit::PASSWORD.into(),
        org: None,
    };
    let other = ann
        .client
        .with_token(ann.client.login(&login).await.expect("login").token);
    let mut first = connect(&ann).await;
    let mut second = other.connect(None).await.expect("connect");
    ann.client.logout().await.expect("logout");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), next_close(&mut first))
            .await
            .expect("within a second"),
        4003
    );
    second
        .send(&ClientOp::Ping {
            reference: Some("still here".into()),
        })
        .await
        .expect("ping");
    assert_eq!(
        next_reply(&mut second).await,
        ServerFrame::Pong {
            reference: Some("still here".into())
        }
    );
}

#[tokio::test]
async fn bad_ops_get_error_frames_and_the_socket_stays_open() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut socket = connect(&ann).await;
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        ("{not json".into(), None, "invalid_op"),
        (r#"{"op":"fly","ref":"a"}"#.into(), Some("a"), "invalid_op"),
        (
            r#"{"op":"send","ref":"b","conversation_id":"x","text":"hi"}"#.into(),
            Some("b"),
            "invalid_op",
        ),
        (
            format!(r#"{{"op":"send","ref":"c","conversation_id":"{id}","text":""}}"#),
            Some("c"),
            "invalid_text",
        ),
        (
            format!(
                r#"{{"op":"send","ref":"d","conversation_id":"{id}","text":"{}"}}"#,
                "a".repeat(10_001)
            ),
            Some("d"),
            "invalid_text",
        ),
        (
            r#"{"op":"send","ref":"e","conversation_id":"424242","text":"hi"}"#.into(),
            Some("e"),
            "not_found",
        ),
        (
            r#"{"op":"hello","token":"x"}"#.into(),
            None,
            "already_authenticated",
        ),
        (
            format!(r#"{{"op":"read","ref":"g","conversation_id":"{id}","message_id":"999999"}}"#),
            Some("g"),
            "not_found",
        ),
        (
            r#"{"op":"presence_sub","ref":"h","user_ids":"nope"}"#.into(),
            Some("h"),
            "invalid_op",
        ),
    ];
    for (text, reference, code) in cases {
        socket.send_text(text.clone()).await.expect("send");
        match next_reply(&mut socket).await {
            ServerFrame::Error {
                reference: r,
                code: c,
                ..
            } => {
                assert_eq!((r.as_deref(), c.as_str()), (reference, code), "{text}");
            }
            other => panic!("{text}: expected an error, got {other:?}"),
        }
    }
    socket.send_binary(vec![1, 2, 3]).await.expect("send");
    assert!(
        matches!(next_reply(&mut socket).await, ServerFrame::Error { code, .. } if code == "unsupported_frame")
    );
    socket
        .send(&ClientOp::Ping {
            reference: Some("alive".into()),
        })
        .await
        .expect("ping");
    assert_eq!(
        next_reply(&mut socket).await,
        ServerFrame::Pong {
            reference: Some("alive".into())
        }
    );
    assert!(
        ann.client
            .history(id, parley_client::Page::default())
            .await
            .expect("history")
            .is_empty()
    );

    // A frame over the limit closes with 1009.
    socket.send_text("x".repeat(65 * 1024)).await.expect("send");
    assert_eq!(next_close(&mut socket).await, 1009);
}

#[tokio::test]
async fn ops_are_rate_limited_per_connection() {
    let server = TestServer::spawn_with(|config| config.ws_ops_per_second = 5).await;
    let ann = server.user("Ann").await;
    let mut socket = connect(&ann).await;
    for n in 0..30 {
        socket
            .send(&ClientOp::Ping {
                reference: Some(n.to_string()),
            })
            .await
            .expect("ping");
    }
    let mut limited = 0;
    for _ in 0..30 {
        if let ServerFrame::Error { code, .. } = next_reply(&mut socket).await {
            assert_eq!(code, "rate_limited");
            limited += 1;
        }
    }
    assert!(
        limited >= 15,
        "a burst of 30 over a limit of 5/s (burst 10): {limited} refused"
    );
}

#[tokio::test]
async fn one_socket_has_many_ops_in_flight_and_each_conversation_keeps_its_order() {
    let server = TestServer::spawn_with(|config| config.ws_ops_per_second = 1_000).await;
    let (ann, bob) = (server.user("Ann").await, server.user("Bob").await);
    let first = dm(&ann.client, bob.id).await;
    let second = group(&ann.client, "pipelined", &[bob.id]).await;
    let mut socket = connect(&ann).await;
    // More ops than may run at once on one socket, none waiting for the one before: the server reads on as
    // ops complete.
    let sends = 150;
    for n in 0..sends {
        let conversation = if n % 3 == 0 { second } else { first };
        let op = send_op(&n.to_string(), conversation, &format!("pipelined {n}"));
        socket.send(&op).await.expect("send");
    }
    socket
        .send(&ClientOp::Ping {
            reference: Some("ping".into()),
        })
        .await
        .expect("ping");
    let mut acked = std::collections::BTreeMap::new();
    let mut pong = false;
    while acked.len() < sends || !pong {
        match next_reply(&mut socket).await {
            ServerFrame::Ack {
                reference: Some(reference),
                message,
                ..
            } => {
                let n: usize = reference.parse().expect("a ref of ours");
                let again = acked.insert(n, (message.conversation_id, message.id));
                assert!(again.is_none(), "op {n} answered twice");
            }
            ServerFrame::Pong { .. } => pong = true,
            other => panic!("expected an ack, got {other:?}"),
        }
    }
    // Within each conversation, the messages were stored in the order they were sent.
    for conversation in [first, second] {
        let ids: Vec<_> = acked
            .values()
            .filter(|(c, _)| *c == conversation)
            .map(|(_, id)| *id)
            .collect();
        assert!(ids.is_sorted(), "{conversation:?} out of order: {ids:?}");
    }
    let page = Page {
        limit: Some(200),
        ..Page::default()
    };
    let history = bob.client.history(first, page).await.expect("history");
    let texts: Vec<_> = history.iter().filter_map(|m| m.text.clone()).collect();
    let sent: Vec<_> = (0..sends)
        .filter(|n| n % 3 != 0)
        .map(|n| format!("pipelined {n}"))
        .collect();
    assert_eq!(texts, sent);
}

/// A send the server read before the client closed is stored, as if the client had waited for its ack: a
/// bot that fires its last messages and hangs up loses none of them.
#[tokio::test]
async fn sends_read_before_the_client_closes_are_stored() {
    let server = TestServer::spawn().await;
    let (ann, bob) = (server.user("Ann").await, server.user("Bob").await);
    let conversations = [
        dm(&ann.client, bob.id).await,
        group(&ann.client, "one", &[bob.id]).await,
        group(&ann.client, "two", &[bob.id]).await,
    ];
    let mut socket = connect(&ann).await;
    for (n, conversation) in conversations.iter().enumerate() {
        let op = send_op(&n.to_string(), *conversation, &format!("last words {n}"));
        socket.send(&op).await.expect("send");
    }
    socket.close().await;
    for (n, conversation) in conversations.into_iter().enumerate() {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let history = bob
                .client
                .history(conversation, Page::default())
                .await
                .expect("history");
            if history
                .iter()
                .any(|m| m.text.as_deref() == Some(&format!("last words {n}")))
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the send read before the close was lost"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_reader_that_never_reads_is_closed_and_delays_nobody() {
    let server = TestServer::spawn_with(|config| config.ws_queue_frames = 64).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let id = group(&ann.client, "Busy", &[bob.id, carol.id]).await;
    let mut stuck = connect(&bob).await; // reads nothing until the end
    let mut reader = connect(&carol).await;
    // Enough bytes to fill the kernel's socket buffers and the server's write buffer for the stuck socket.
    const MESSAGES: usize = 1_500;
    let text = "x".repeat(9_990);
    let reading = tokio::spawn(async move {
        let mut read = 0;
        while read < MESSAGES {
            if message_text(&next_event(&mut reader).await).is_some() {
                read += 1;
            }
        }
        read
    });
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(25) {
        let nonces: Vec<String> = chunk.iter().map(|n| format!("flood-{n}")).collect();
        let sends = nonces
            .iter()
            .map(|nonce| ann.client.send_message(id, &text, Some(nonce)));
        for sent in futures_util::future::join_all(sends).await {
            sent.expect("send");
        }
    }
    assert_eq!(
        reading.await.expect("reader"),
        MESSAGES,
        "the reading member got everything"
    );
    // The stuck socket was cut off: what it finds after its buffered frames is a 4002 close or, if the
    // server could not even deliver that, the end of the connection.
    let ended = end_of(&mut stuck).await;
    assert!(matches!(ended, Some(4002) | None), "{ended:?}");
    let metrics = Client::new(&server.url)
        .expect("client")
        .text(&["metrics"])
        .await
        .expect("metrics");
    assert!(
        metrics.contains(r#"parley_ws_closes_total{code="4002"}"#),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("parley_ws_queue_drops_total")),
        "{metrics}"
    );
}

#[tokio::test]
async fn shutdown_tells_sockets_to_reconnect() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let mut socket = connect(&ann).await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(next_close(&mut socket).await, 1012);
    stopping.await.expect("stopped");
}

#[tokio::test]
async fn metrics_show_sockets_and_deliveries() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut socket = connect(&bob).await;
    // The first may arrive through the connection's opening catch-up; once it is read, that is over and
    // the second goes out live, through the path that measures delivery latency.
    for text in ["caught up or live", "live"] {
        ann.client.send_message(id, text, None).await.expect("send");
        next_event(&mut socket).await;
    }
    let text = Client::new(&server.url)
        .expect("client")
        .text(&["metrics"])
        .await
        .expect("metrics");
    for name in [
        "parley_ws_connections",
        "parley_ws_events_delivered_total",
        "parley_ws_delivery_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}

#[tokio::test]
async fn a_silent_peer_is_dropped() {
    let server = TestServer::spawn_with(|config| {
        config.ws_ping_millis = 50;
        config.ws_idle_timeout_millis = 300;
    })
    .await;
    let ann = server.user("Ann").await;
    // A client that reads nothing answers no ping either: to the server it is a dead peer. Being silent
    // for a while is the point here, so this test does wait: three idle timeouts, without reading.
    let mut silent = connect(&ann).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let ended = end_of(&mut silent).await;
    // The close frame may be lost if the server's reset of the dropped connection arrives first.
    assert!(matches!(ended, Some(4004) | None), "{ended:?}");
    let metrics = Client::new(&server.url)
        .expect("client")
        .text(&["metrics"])
        .await
        .expect("metrics");
    assert!(
        metrics.contains(r#"parley_ws_closes_total{code="4004"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_cursor_keeps_working_across_a_restart() {
    let data = tempfile::tempdir().expect("temporary directory");
    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut socket = connect(&bob).await;
    ann.client
        .send_message(id, "before", None)
        .await
        .expect("send");
    let cursor = next_event(&mut socket).await.cursor;
    drop(socket);
    ann.client
        .send_message(id, "missed across the restart", None)
        .await
        .expect("send");
    server.stop().await;

    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    let bob_again = Client::new(&server.url)
        .expect("client")
        .with_token(bob.client.token().unwrap_or_default());
    let mut socket = bob_again.connect(Some(cursor)).await.expect("resume");
    assert_eq!(
        message_text(&next_event(&mut socket).await),
        Some("missed across the restart")
    );
}

/// Forty messages "burst {from}" to "burst {from + 39}" sent at once: more than a small bus inbox holds.
async fn burst(client: &Client, conversation: ConversationId, from: usize) {
    let sends = (from..from + 40).map(|n| async move {
        client
            .send_message(conversation, &format!("burst {n}"), None)
            .await
    });
    for sent in futures_util::future::join_all(sends).await {
        sent.expect("send");
    }
}

#[tokio::test]
async fn after_the_bus_lags_rooms_and_events_are_still_exact() {
    // An inbox of two signals lags under any burst: the dispatcher must re-read rooms and catch up.
    let server = TestServer::spawn_with(|config| config.bus_inbox_capacity = 2).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let group_id = group(&ann.client, "Secret plans", &[bob.id]).await;
    let direct = dm(&ann.client, bob.id).await;
    let mut bobs = connect(&bob).await;

    let (_, left, _) = tokio::join!(
        burst(&ann.client, direct, 0),
        bob.client.leave(group_id),
        burst(&ann.client, direct, 40)
    );
    left.expect("leave");
    ann.client
        .send_message(group_id, "secret after Bob left", None)
        .await
        .expect("send");
    ann.client
        .send_message(direct, "marker", None)
        .await
        .expect("send");

    let mut bursts = Vec::new();
    let mut last = Cursor(0);
    loop {
        let frame = next_event(&mut bobs).await;
        assert!(frame.cursor > last, "in cursor order, each once");
        last = frame.cursor;
        let text = message_text(&frame).map(str::to_owned);
        assert_ne!(text.as_deref(), Some("secret after Bob left"));
        match text.as_deref() {
            Some("marker") => break,
            Some(burst) => bursts.push(burst.to_owned()),
            None => {}
        }
    }
    assert_eq!(bursts.len(), 80, "every burst message, once");

    // Back in the group, Bob hears it again.
    ann.client
        .invite(group_id, &[bob.id])
        .await
        .expect("invite");
    ann.client
        .send_message(group_id, "welcome back", None)
        .await
        .expect("send");
    loop {
        if message_text(&next_event(&mut bobs).await) == Some("welcome back") {
            break;
        }
    }
}

/// Settings and role changes are ephemeral frames, never replayed: when the bus lags and may have dropped
/// them, the node tells its connections the settings again and closes one whose role changed (4006). Either
/// way, live or after the lag, Bob's socket ends up told both.
#[tokio::test]
async fn after_the_bus_lags_settings_and_roles_are_told_again() {
    let server = TestServer::spawn_with(|config| config.bus_inbox_capacity = 2).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let direct = dm(&ann.client, bob.id).await;
    let mut bobs = connect(&bob).await;
    let restrict = OrgSettingsPatch {
        channel_creation: Some(Allowed::Admins),
        ..OrgSettingsPatch::default()
    };
    let (_, patched, _) = tokio::join!(
        burst(&ann.client, direct, 0),
        ann.client.update_org_settings(&restrict),
        burst(&ann.client, direct, 40)
    );
    patched.expect("settings");
    loop {
        if let Incoming::Message(ServerMessage::Frame(ServerFrame::OrgUpdated { settings })) =
            next(&mut bobs).await
            && settings.channel_creation == Allowed::Admins
        {
            break;
        }
    }
    let (_, promoted, _) = tokio::join!(
        burst(&ann.client, direct, 80),
        ann.client.set_role(bob.id, Role::Admin),
        burst(&ann.client, direct, 120)
    );
    promoted.expect("role");
    loop {
        if let Incoming::Closed { code, .. } = next(&mut bobs).await {
            assert_eq!(code, 4006, "closed for the role change");
            break;
        }
    }
}

#[tokio::test]
async fn sockets_can_come_from_another_loopback_address() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let from = std::net::IpAddr::from([127, 0, 0, 2]);
    let socket = ann
        .client
        .with_source_ip(from)
        .expect("a client from 127.0.0.2")
        .connect(None)
        .await
        .expect("connect from 127.0.0.2");
    assert_eq!(socket.user_id, ann.id);
}

/// One user's messages share one allowance, over REST and every socket: a client cannot sidestep the
/// socket's op limit by sending over REST, or the other way round.
#[tokio::test]
async fn sends_share_one_rate_limit_over_rest_and_sockets() {
    let server = TestServer::spawn_with(|config| {
        config.sends_per_second = 1;
        config.sends_burst = 3;
    })
    .await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    for n in 0..2 {
        ann.client
            .send_message(id, &format!("rest {n}"), None)
            .await
            .expect("within the burst");
    }
    let mut socket = connect(&ann).await;
    socket
        .send(&ClientOp::Send {
            reference: Some("third".into()),
            conversation_id: id,
            text: "over the socket".into(),
            nonce: None,
            mentions: None,
            thread_root_id: None,
            also_to_conversation: None,
            quote: None,
            attachments: Vec::new(),
        })
        .await
        .expect("send op");
    assert!(matches!(
        next_reply(&mut socket).await,
        ServerFrame::Ack { .. }
    ));
    socket
        .send(&ClientOp::Send {
            reference: Some("fourth".into()),
            conversation_id: id,
            text: "one too many".into(),
            nonce: None,
            mentions: None,
            thread_root_id: None,
            also_to_conversation: None,
            quote: None,
            attachments: Vec::new(),
        })
        .await
        .expect("send op");
    match next_reply(&mut socket).await {
        ServerFrame::Error {
            code, reference, ..
        } => {
            assert_eq!(code, "rate_limited");
            assert_eq!(reference.as_deref(), Some("fourth"));
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
    assert_api_error(
        ann.client.send_message(id, "and over REST", None).await,
        429,
        "rate_limited",
    );
    bob.client
        .send_message(id, "bob has his own allowance", None)
        .await
        .expect("another user");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    ann.client
        .send_message(id, "a second later", None)
        .await
        .expect("the allowance refills");
}

/// One user cannot hold every socket of a node: past the cap, a new socket is closed with 4005, and a place
/// comes back when one closes.
#[tokio::test]
async fn sockets_per_user_are_capped() {
    let server = TestServer::spawn_with(|config| config.ws_max_sockets_per_user = 2).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let first = connect(&ann).await;
    let _second = connect(&ann).await;
    match ann.client.connect(None).await {
        Err(parley_client::Error::Closed { code, .. }) => assert_eq!(code, 4005),
        Ok(_) => panic!("a third socket was let in"),
        Err(other) => panic!("expected a 4005 close, got {other:?}"),
    }
    let _bob = connect(&bob).await;
    first.close().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match ann.client.connect(None).await {
            Ok(_) => break,
            Err(error) => assert!(
                tokio::time::Instant::now() < deadline,
                "the closed socket's place never came back: {error:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
