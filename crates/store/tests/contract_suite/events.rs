//! The event log: what a reconnecting client replays, and where a fresh one starts.

use parley_core::model::{Event, EventKind};
use parley_core::proto::v1::ConversationKind;
use parley_core::store::{NewConversation, Store};
use parley_core::{Cursor, UserId};

use super::{at, group, send, send_event, user};

/// An event as a comparable line. A replayed `conversation.created` shows the conversation as it is now (the
/// log keeps ids, not copies), so only its id is compared.
fn line(event: &Event) -> String {
    let kind = match &event.kind {
        EventKind::ConversationCreated(c) => format!("ConversationCreated({})", c.id),
        other => format!("{other:?}"),
    };
    format!("{} in {}: {kind}", event.cursor, event.conversation_id)
}

fn lines(events: &[Event]) -> Vec<String> {
    events.iter().map(line).collect()
}

async fn replay(store: &dyn Store, user_id: UserId, cursor: Cursor, limit: u32) -> Vec<Event> {
    let events = store
        .events_after(user_id, cursor, limit)
        .await
        .expect("events_after");
    for event in &events {
        assert!(event.cursor > cursor, "{event:?} is not after {cursor}");
    }
    for pair in events.windows(2) {
        assert!(pair[0].cursor < pair[1].cursor, "cursor order: {events:?}");
    }
    events
}

/// A user replays their conversations' events, as they were announced, in cursor order, in pages.
pub async fn events_after_replays_own_conversations_in_order(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let start = store.latest_cursor().await.expect("latest_cursor");
    let mut for_ada = Vec::new();

    let (g1, created) = store
        .create_conversation(NewConversation {
            org_id: ada.org_id,
            kind: ConversationKind::Group,
            name: Some("ada and bob"),
            handle: None,
            topic: None,
            private: false,
            created_by: ada.id,
            members: &[ada.id, bob.id],
            now: at(1),
        })
        .await
        .expect("create_conversation");
    for_ada.extend(created);
    let not_ada = group(store, &bob, &[&carol]).await;
    let (m1, sent) = send_event(store, g1.id, &ada, "hello bob", at(2)).await;
    for_ada.push(sent);
    send(store, not_ada.id, &carol, "not for ada").await;
    let reacted = store
        .add_reaction(g1.id, m1.id, bob.id, "👋")
        .await
        .expect("add_reaction")
        .expect("a new reaction");
    for_ada.push(reacted);
    let read = store
        .advance_read(g1.id, bob.id, m1.id)
        .await
        .expect("advance_read")
        .expect("moved");
    for_ada.push(read);
    let (m2, sent) = send_event(store, g1.id, &bob, "hi ada", at(3)).await;
    for_ada.push(sent);
    let unreacted = store
        .remove_reaction(g1.id, m1.id, bob.id, "👋")
        .await
        .expect("remove_reaction")
        .expect("it was there");
    for_ada.push(unreacted);
    let joined = store
        .add_members(g1.id, &[carol.id], at(4))
        .await
        .expect("add_members");
    assert_eq!(joined.len(), 1);
    for_ada.extend(joined);
    assert!(m2.id > m1.id);

    let replayed = replay(store, ada.id, start, 100).await;
    assert_eq!(
        lines(&replayed),
        lines(&for_ada),
        "exactly ada's events, as announced"
    );
    assert!(
        replayed.iter().all(|e| e.conversation_id == g1.id),
        "nothing of other conversations"
    );

    assert_eq!(
        lines(&replay(store, ada.id, start, 3).await),
        lines(&for_ada[..3]),
        "limit"
    );
    let from_middle = for_ada[2].cursor;
    assert_eq!(
        lines(&replay(store, ada.id, from_middle, 100).await),
        lines(&for_ada[3..]),
        "strictly after the cursor"
    );

    // Paging one at a time walks the same log.
    let mut cursor = start;
    let mut paged = Vec::new();
    loop {
        let page = replay(store, ada.id, cursor, 1).await;
        let Some(event) = page.into_iter().next() else {
            break;
        };
        cursor = event.cursor;
        paged.push(event);
        assert!(paged.len() <= for_ada.len(), "paging never ends: {paged:?}");
    }
    assert_eq!(lines(&paged), lines(&for_ada));

    let latest = store.latest_cursor().await.expect("latest_cursor");
    assert!(replay(store, ada.id, latest, 100).await.is_empty());
    let bobs = replay(store, bob.id, start, 100).await;
    assert!(bobs.iter().any(|e| e.conversation_id == not_ada.id));
    assert!(bobs.iter().any(|e| e.conversation_id == g1.id));
}

/// `message.hidden` is for the user who hid the message, nobody else.
pub async fn events_after_shows_hidden_events_to_their_user_only(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let message = send(store, group.id, &bob, "hide me").await;
    let start = store.latest_cursor().await.expect("latest_cursor");

    let bob_hid = store
        .hide_message(group.id, message.id, bob.id)
        .await
        .expect("hide_message")
        .expect("hidden");
    let ada_hid = store
        .hide_message(group.id, message.id, ada.id)
        .await
        .expect("hide_message")
        .expect("hidden");

    assert_eq!(
        lines(&replay(store, ada.id, start, 100).await),
        lines(&[ada_hid]),
        "ada's own hide only"
    );
    assert_eq!(
        lines(&replay(store, bob.id, start, 100).await),
        lines(&[bob_hid]),
        "bob's own hide only"
    );
}

/// Someone who leaves replays their own `member.left`, and nothing of that conversation after it.
pub async fn events_after_includes_own_leave_but_nothing_later(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let group = group(store, &ada, &[&bob]).await;
    let start = store.latest_cursor().await.expect("latest_cursor");

    let left = store
        .remove_member(group.id, bob.id)
        .await
        .expect("remove_member")
        .expect("bob was a member");
    let (bye, after_leaving) = send_event(store, group.id, &ada, "bob is gone", at(5)).await;
    let hidden_by_ada = store
        .hide_message(group.id, bye.id, ada.id)
        .await
        .expect("hide_message")
        .expect("hidden");

    assert_eq!(
        lines(&replay(store, bob.id, start, 100).await),
        lines(std::slice::from_ref(&left)),
        "bob hears that he left, then nothing more of that conversation"
    );
    assert_eq!(
        lines(&replay(store, ada.id, start, 100).await),
        lines(&[left, after_leaving, hidden_by_ada]),
    );
    assert!(
        replay(store, carol.id, Cursor(0), 100).await.is_empty(),
        "carol was never in it"
    );
}

/// After a delete for everyone, the replayed `message.created` is a tombstone: the text is nowhere.
pub async fn erased_message_replays_as_tombstone(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let start = store.latest_cursor().await.expect("latest_cursor");
    let (message, _) = send_event(store, group.id, &ada, "a secret never to replay", at(1)).await;
    let deleted = store
        .erase_message(group.id, message.id)
        .await
        .expect("erase_message")
        .expect("erased");

    let replayed = replay(store, bob.id, start, 100).await;
    assert_eq!(replayed.len(), 2, "{replayed:?}");
    let EventKind::MessageCreated(tombstone) = &replayed[0].kind else {
        panic!("message.created first: {replayed:?}");
    };
    assert_eq!(tombstone.id, message.id);
    assert!(tombstone.deleted);
    assert_eq!(tombstone.text, None);
    assert_eq!(line(&replayed[1]), line(&deleted));
    assert!(
        !format!("{replayed:?}").contains("secret"),
        "the text is gone from the log: {replayed:?}"
    );
}

/// The latest cursor is the newest event's: it moves with every event and only then.
pub async fn latest_cursor_is_the_newest_event(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let empty = store.latest_cursor().await.expect("latest_cursor");
    assert!(
        replay(store, ada.id, empty, 100).await.is_empty(),
        "no event yet"
    );

    let group = group(store, &ada, &[&bob]).await;
    let after_create = store.latest_cursor().await.expect("latest_cursor");
    assert!(after_create > empty);
    let (message, sent) = send_event(store, group.id, &ada, "hello", at(1)).await;
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        sent.cursor
    );
    assert!(sent.cursor > after_create);

    // Reads and writes that change nothing leave it where it is.
    store
        .messages(
            group.id,
            ada.id,
            parley_core::model::Page::Latest { limit: 10 },
        )
        .await
        .expect("messages");
    store
        .conversations_of(ada.id)
        .await
        .expect("conversations_of");
    store
        .advance_read(group.id, bob.id, message.id)
        .await
        .expect("advance_read")
        .expect("moved");
    let read_cursor = store.latest_cursor().await.expect("latest_cursor");
    assert!(read_cursor > sent.cursor);
    store
        .advance_read(group.id, bob.id, message.id)
        .await
        .expect("advance_read");
    store
        .add_members(group.id, &[bob.id], at(2))
        .await
        .expect("add_members");
    let carol = user(store, "acme", "carol").await;
    store
        .remove_member(group.id, carol.id)
        .await
        .expect("remove_member");
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        read_cursor
    );
    assert!(replay(store, ada.id, read_cursor, 100).await.is_empty());
    assert!(replay(store, bob.id, read_cursor, 100).await.is_empty());
}
