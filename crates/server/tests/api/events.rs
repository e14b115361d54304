//! Every durable change is committed with an event and published on the bus, topic = the conversation; the
//! log gives the same events back by cursor. Checked at the service layer, on the real store and bus, since
//! the WebSocket that will deliver them to clients is not there yet.

use std::sync::Arc;

use futures_util::StreamExt;
use parley_bus::LocalBus;
use parley_core::bus::{Bus, Delivery, Inbox, Signal, Topic};
use parley_core::model::{Audience, Event, EventKind};
use parley_core::service::DeleteScope;
use parley_core::store::Store;
use parley_core::{Caller, Cursor, Parley};
use parley_proto::v1::{ConversationKind, SignupRequest};
use parley_store::{ObjectStorage, SqliteStore};

use crate::conversation_request;

pub(crate) async fn caller(parley: &Parley, username: &str) -> Caller {
    let request = SignupRequest {
        name: username.into(),
        email: format!("{username}@example.org"),
        password: parley_testkit::PASSWORD.into(),
        username: username.into(),
        org: None,
        invite: None,
    };
    let session = parley
        .signup(request, std::net::IpAddr::from([127, 0, 0, 1]), None)
        .await
        .expect("sign up");
    parley
        .authenticate(&session.token)
        .await
        .expect("authenticate")
}

async fn next_event(inbox: &mut Inbox) -> Event {
    match inbox.deliveries.next().await {
        Some(Delivery::Signal(signal)) => match &*signal {
            Signal::Event(event) => event.clone(),
            other => panic!("expected an event, got {other:?}"),
        },
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn changes_are_logged_and_published_in_commit_order() {
    let data = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(SqliteStore::open(&data.path().join("parley.db")).expect("open store"));
    let bus = Arc::new(LocalBus::new());
    let parley = Parley::new(
        store.clone(),
        bus.clone(),
        Arc::new(ObjectStorage::local(&data.path().join("objects")).expect("storage")),
        parley_server::Config::default()
            .settings(parley_core::signing::UrlSigner::new(vec![0; 32]).expect("a secret")),
    );
    let ann = caller(&parley, "ann").await;
    let bob = caller(&parley, "bob").await;
    let request = parley_proto::v1::CreateConversationRequest {
        name: Some("Team".into()),
        ..conversation_request(ConversationKind::Group, &[bob.user.id])
    };
    let id = match parley
        .create_conversation(&ann, request)
        .await
        .expect("create")
    {
        parley_core::service::Created::New(c) | parley_core::service::Created::Existing(c) => c.id,
    };
    // One inbox following the conversation and Bob's own topic, as a node with Bob connected would.
    let mut inbox = bus.inbox().await.expect("inbox");
    inbox
        .topics
        .follow(Topic::Conversation(id))
        .await
        .expect("follow");
    inbox
        .topics
        .follow(Topic::User(bob.user.id))
        .await
        .expect("follow");

    let draft = parley_core::service::Draft {
        text: "hello".into(),
        ..Default::default()
    };
    let sent = parley
        .send_message(&ann, id, &draft)
        .await
        .expect("send")
        .message;
    parley
        .add_reaction(&bob, id, sent.id, "like")
        .await
        .expect("react");
    parley.mark_read(&bob, id, sent.id).await.expect("read");
    parley
        .delete_message(&bob, id, sent.id, DeleteScope::Me)
        .await
        .expect("hide");
    parley
        .delete_message(&ann, id, sent.id, DeleteScope::Everyone)
        .await
        .expect("erase");
    parley.leave(&bob, id).await.expect("leave");

    // The relay publishes after commit, on its own time: the creation's events may or may not arrive
    // after the inbox began following. Everything from the message on does.
    let mut published = Vec::new();
    while published.len() < 7 {
        let event = next_event(&mut inbox).await;
        let creation = matches!(
            event.kind,
            EventKind::ConversationCreated(_) | EventKind::MemberJoined { .. }
        );
        if !creation {
            published.push(event);
        }
    }
    let kinds: Vec<&str> = published
        .iter()
        .map(|e| match &e.kind {
            EventKind::MessageCreated(m) if m.text.as_deref() == Some("hello") => "message.created",
            EventKind::ReactionAdded { emoji, .. } if emoji == "like" => "reaction.added",
            EventKind::ReadUpdated { user_id, .. } if *user_id == bob.user.id => "read.updated",
            EventKind::MessageHidden { user_id, .. } if *user_id == bob.user.id => "message.hidden",
            EventKind::MessageDeleted { .. } => "message.deleted",
            EventKind::MemberLeft { user_id, .. } if *user_id == bob.user.id => "member.left",
            _ => "unexpected",
        })
        .collect();
    // Bob's leaving goes to the conversation and to Bob's own topic: this inbox follows both.
    let expected = [
        "message.created",
        "reaction.added",
        "read.updated",
        "message.hidden",
        "message.deleted",
    ];
    assert_eq!(kinds[..5], expected);
    assert_eq!(kinds[5..], ["member.left", "member.left"]);
    assert!(
        published.windows(2).all(|w| w[0].cursor <= w[1].cursor),
        "published in commit order"
    );
    assert_eq!(published[4].audience, Audience::Members);
    assert_eq!(
        published[3].audience,
        Audience::User(bob.user.id),
        "delete-for-me is Bob's alone"
    );
    published.dedup_by_key(|e| e.cursor);

    // The log holds the same events; a replay of the erased message is a tombstone, never the text.
    let logged = store
        .events_after(ann.user.id, Cursor(0), 100)
        .await
        .expect("events");
    let after_created: Vec<_> = logged
        .iter()
        .filter(|e| e.cursor >= published[0].cursor)
        .collect();
    assert_eq!(
        after_created.iter().map(|e| e.cursor).collect::<Vec<_>>(),
        published
            .iter()
            .filter(|e| e.audience == Audience::Members)
            .map(|e| e.cursor)
            .collect::<Vec<_>>(),
        "Ann's log is everything published but Bob's own delete-for-me"
    );
    match &after_created[0].kind {
        EventKind::MessageCreated(m) => assert!(m.deleted && m.text.is_none()),
        other => panic!("expected message.created, got {other:?}"),
    }
    let frame = serde_json::to_value(parley.event_wire(after_created[0])).expect("wire");
    assert_eq!(frame["type"], "message.created");
    assert_eq!(frame["cursor"], after_created[0].cursor.to_string());
    assert!(frame["message"].get("text").is_none());
    // A user's own private events are in their log, and not in anyone else's.
    let bobs = store
        .events_after(bob.user.id, Cursor(0), 100)
        .await
        .expect("events");
    assert!(
        bobs.iter()
            .any(|e| matches!(e.kind, EventKind::MessageHidden { .. }))
    );
    assert!(
        logged
            .iter()
            .all(|e| !matches!(e.kind, EventKind::MessageHidden { .. }))
    );
}
