//! Every durable change is committed with an event and published on the bus, topic = the conversation; the
//! log gives the same events back by cursor. Checked at the service layer, on the real store and bus, since
//! the WebSocket that will deliver them to clients is not there yet.

use std::sync::Arc;

use futures_util::StreamExt;
use parley_bus::LocalBus;
use parley_core::bus::{Bus, Delivery, Topic};
use parley_core::model::{Event, EventKind};
use parley_core::service::DeleteScope;
use parley_core::store::Store;
use parley_core::{Caller, Cursor, Parley, Settings};
use parley_proto::v1::{ConversationKind, SignupRequest};
use parley_store::{FsBlobs, SqliteStore};

use crate::conversation_request;

async fn caller(parley: &Parley, username: &str) -> Caller {
    let request = SignupRequest {
        name: username.into(),
        email: format!("{username}@example.org"),
        password: parley_testkit::PASSWORD.into(),
        username: username.into(),
        org: None,
    };
    let session = parley.signup(request).await.expect("sign up");
    parley
        .authenticate(&session.token)
        .await
        .expect("authenticate")
}

async fn next_event(subscription: &mut parley_core::bus::Subscription) -> Arc<Event> {
    match subscription.next().await {
        Some(Delivery::Event(event)) => event,
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
        Arc::new(FsBlobs::new(data.path())),
        Settings::default(),
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
    let mut conversation = bus
        .subscribe(Topic::Conversation(id))
        .await
        .expect("subscribe");
    let mut bobs_own = bus
        .subscribe(Topic::User(bob.user.id))
        .await
        .expect("subscribe");

    let sent = match parley
        .send_message(&ann, id, "hello", None)
        .await
        .expect("send")
    {
        parley_core::service::SendOutcome::Stored(m)
        | parley_core::service::SendOutcome::Duplicate(m) => m,
    };
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

    let mut published = Vec::new();
    for _ in 0..5 {
        published.push(next_event(&mut conversation).await);
    }
    let kinds: Vec<&str> = published
        .iter()
        .map(|e| match &e.kind {
            EventKind::MessageCreated(m) if m.text.as_deref() == Some("hello") => "message.created",
            EventKind::ReactionAdded { emoji, .. } if emoji == "like" => "reaction.added",
            EventKind::ReadUpdated { user_id, .. } if *user_id == bob.user.id => "read.updated",
            EventKind::MessageDeleted { .. } => "message.deleted",
            EventKind::MemberLeft { user_id } if *user_id == bob.user.id => "member.left",
            _ => "unexpected",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "message.created",
            "reaction.added",
            "read.updated",
            "message.deleted",
            "member.left"
        ]
    );
    assert!(
        published.windows(2).all(|w| w[0].cursor < w[1].cursor),
        "cursors grow in commit order"
    );
    // Delete-for-me goes only to the user's own topic, and so does their leaving.
    assert!(matches!(
        next_event(&mut bobs_own).await.kind,
        EventKind::MessageHidden { .. }
    ));
    assert!(matches!(
        next_event(&mut bobs_own).await.kind,
        EventKind::MemberLeft { .. }
    ));

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
        published.iter().map(|e| e.cursor).collect::<Vec<_>>()
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
