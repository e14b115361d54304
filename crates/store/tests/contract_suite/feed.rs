//! The commit feed: every committed event, once, in commit (cursor) order, exactly as the write returned it;
//! what announces nothing (no-op writes, duplicate sends) never reaches it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use parley_core::model::{Audience, Event, Millis};
use parley_core::proto::v1::{ConversationKind, MembershipPatch};
use parley_core::store::{CommitFeed, DirectMessage, NewConversation, NewMessage, Sent, Store};
use parley_core::{Cursor, MessageId};

use super::events::{lines, replay};
use super::{at, group, send_event, token, user};

/// How long to wait for a batch that must come.
const PATIENCE: Duration = Duration::from_secs(10);

/// Receives batches until `count` events arrived, and returns them in arrival order. Panics if the feed
/// closes, stays silent too long, or brings more than `count`, or if a batch does not name the one before
/// it as what it comes `after`.
async fn receive(feed: &mut CommitFeed, count: usize) -> Vec<Event> {
    let mut received: Vec<Event> = Vec::with_capacity(count);
    while received.len() < count {
        let commit = tokio::time::timeout(PATIENCE, feed.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {count} events arrived: {received:?}",
                    received.len()
                )
            })
            .expect("the feed stays open while the store lives");
        if let Some(previous) = received.last() {
            assert_eq!(
                commit.after, previous.cursor,
                "a commit comes after the one before"
            );
        }
        assert!(
            commit.events.iter().all(|e| e.cursor > commit.after),
            "a commit's events come after its `after`"
        );
        received.extend(commit.events);
    }
    assert_eq!(received.len(), count, "more than expected: {received:?}");
    received
}

/// The feed brings exactly `written`, as the write returned it (and nothing left over from before).
async fn expect_announced(feed: &mut CommitFeed, written: &[Event]) {
    assert!(!written.is_empty(), "a write that announces something");
    let received = receive(feed, written.len()).await;
    assert_eq!(received, written, "the feed brings what the write returned");
}

/// There is one feed: the first taker gets it. Then every write that returns events announces exactly those,
/// in commit order; writes that change nothing a client hears of announce nothing.
pub async fn commit_feed_announces_what_each_write_returned(store: &dyn Store) {
    let mut feed = store
        .take_commit_feed()
        .expect("the first take gets the feed");
    assert!(store.take_commit_feed().is_none(), "there is only one feed");
    assert!(store.take_commit_feed().is_none(), "still only one");

    // Announce nothing: accounts, sessions, contacts.
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    store
        .create_session(ada.id, token(1), None, at(0))
        .await
        .expect("create_session");
    store
        .add_contact(ada.id, bob.id)
        .await
        .expect("add_contact");
    store
        .rename_user(ada.id, "Ada Renamed")
        .await
        .expect("rename_user");
    store
        .touch_last_seen(ada.id, at(1))
        .await
        .expect("touch_last_seen");
    assert!(feed.try_recv().is_err(), "no event was written yet");

    let (group, created) = store
        .create_conversation(NewConversation {
            org_id: ada.org_id,
            kind: ConversationKind::Group,
            name: Some("fed"),
            handle: None,
            topic: None,
            private: false,
            created_by: ada.id,
            members: &[ada.id, bob.id],
            now: at(2),
        })
        .await
        .expect("create_conversation");
    assert_eq!(created.len(), 3, "{created:?}");
    expect_announced(&mut feed, &created).await;

    let DirectMessage::Created(dm, dm_events) = store
        .direct_message(ada.org_id, bob.id, ada.id, at(3))
        .await
        .expect("direct_message")
    else {
        panic!("a new DM");
    };
    expect_announced(&mut feed, &dm_events).await;
    let existing = store
        .direct_message(ada.org_id, ada.id, bob.id, at(4))
        .await
        .expect("direct_message");
    assert!(
        matches!(existing, DirectMessage::Existing(ref c) if c.id == dm.id),
        "{existing:?}"
    );

    let joined = store
        .add_members(group.id, &[bob.id, carol.id], false, at(5))
        .await
        .expect("add_members");
    assert_eq!(joined.len(), 1, "bob was in already: {joined:?}");
    expect_announced(&mut feed, &joined).await;
    let nobody = store
        .add_members(group.id, &[carol.id], false, at(6))
        .await
        .expect("add_members");
    assert!(nobody.is_empty());

    let sent = store
        .queue_message(NewMessage {
            conversation_id: group.id,
            author_id: bob.id,
            text: "fed once",
            mentions: &Default::default(),
            thread_root_id: None,
            also_to_conversation: false,
            quote: None,
            attachments: &[],
            nonce: Some("feed-nonce"),
            now: at(7),
        })
        .await
        .expect("queue_message");
    let Sent::Stored(message, sent_event) = sent else {
        panic!("a new nonce is stored: {sent:?}");
    };
    expect_announced(&mut feed, &sent_event).await;
    let retried = store
        .queue_message(NewMessage {
            conversation_id: group.id,
            author_id: bob.id,
            text: "fed once, retried",
            mentions: &Default::default(),
            thread_root_id: None,
            also_to_conversation: false,
            quote: None,
            attachments: &[],
            nonce: Some("feed-nonce"),
            now: at(8),
        })
        .await
        .expect("queue_message");
    assert!(matches!(retried, Sent::Duplicate(_)), "{retried:?}");

    let reacted = store
        .add_reaction(group.id, message.id, ada.id, "📣")
        .await
        .expect("add_reaction")
        .expect("new");
    expect_announced(&mut feed, std::slice::from_ref(&reacted)).await;
    let twice = store
        .add_reaction(group.id, message.id, ada.id, "📣")
        .await
        .expect("add_reaction");
    assert_eq!(twice, None);
    let unreacted = store
        .remove_reaction(group.id, message.id, ada.id, "📣")
        .await
        .expect("remove_reaction")
        .expect("there");
    expect_announced(&mut feed, std::slice::from_ref(&unreacted)).await;
    let not_there = store
        .remove_reaction(group.id, message.id, ada.id, "📣")
        .await
        .expect("remove_reaction");
    assert_eq!(not_there, None);

    // Read markers are announced whatever their audience; who hears them is for the relay to say.
    let read_public = store
        .advance_read(group.id, ada.id, message.id, Audience::Members)
        .await
        .expect("advance_read")
        .expect("moved");
    expect_announced(&mut feed, std::slice::from_ref(&read_public)).await;
    let read_private = store
        .advance_read(group.id, carol.id, message.id, Audience::User(carol.id))
        .await
        .expect("advance_read")
        .expect("moved");
    assert_eq!(read_private.audience, Audience::User(carol.id));
    expect_announced(&mut feed, std::slice::from_ref(&read_private)).await;
    let not_moved = store
        .advance_read(group.id, carol.id, message.id, Audience::User(carol.id))
        .await
        .expect("advance_read");
    assert_eq!(not_moved, None);
    store
        .update_membership(
            group.id,
            carol.id,
            MembershipPatch {
                muted: Some(true),
                notify_always: None,
            },
        )
        .await
        .expect("update_membership");

    let hidden = store
        .hide_message(group.id, message.id, carol.id)
        .await
        .expect("hide_message")
        .expect("hidden");
    assert_eq!(hidden.audience, Audience::User(carol.id));
    expect_announced(&mut feed, std::slice::from_ref(&hidden)).await;
    let hidden_again = store
        .hide_message(group.id, message.id, carol.id)
        .await
        .expect("hide_message");
    assert_eq!(hidden_again, None);

    let erased = store
        .erase_message(group.id, message.id, false)
        .await
        .expect("erase_message")
        .expect("erased");
    expect_announced(&mut feed, std::slice::from_ref(&erased)).await;
    let erased_again = store
        .erase_message(group.id, message.id, false)
        .await
        .expect("erase_message");
    assert_eq!(erased_again, None);

    let left = store
        .remove_member(group.id, carol.id, false, false)
        .await
        .expect("remove_member")
        .expect("carol was a member");
    expect_announced(&mut feed, std::slice::from_ref(&left)).await;
    let not_a_member = store
        .remove_member(group.id, carol.id, false, false)
        .await
        .expect("remove_member");
    assert_eq!(not_a_member, None);

    // Pruning, revoking and forgetting are no events either.
    store.prune_events(Millis(0)).await.expect("prune_events");
    store
        .delete_session(token(1))
        .await
        .expect("delete_session");
    store
        .remove_contact(ada.id, bob.id)
        .await
        .expect("remove_contact");
    let (_, last) = send_event(store, dm.id, &ada, "the last word", at(9)).await;
    expect_announced(&mut feed, std::slice::from_ref(&last)).await;
    assert!(
        feed.try_recv().is_err(),
        "nothing more: {:?}",
        feed.try_recv()
    );
}

/// 100 concurrent sends, 20 concurrent retries of some of them and a reaction: the feed brings every committed
/// event exactly once, in strictly increasing cursor order across batches, each as its write returned it;
/// the retries that found their nonce taken bring nothing.
pub async fn commit_feed_orders_concurrent_commits(store: Arc<dyn Store>) {
    const SENDS: usize = 100;
    const RETRIES: usize = 20;
    let mut feed = store
        .take_commit_feed()
        .expect("the first take gets the feed");
    assert!(store.take_commit_feed().is_none(), "there is only one feed");

    let mut authors = Vec::new();
    for name in ["ada", "bob", "carol", "dave"] {
        authors.push(user(store.as_ref(), "acme", name).await);
    }
    let others: Vec<_> = authors[1..].iter().collect();
    let group = group(store.as_ref(), &authors[0], &others).await;
    let (first, first_event) =
        send_event(store.as_ref(), group.id, &authors[1], "react to me", at(1)).await;
    // Setup events, as the feed brings them.
    let setup = receive(&mut feed, 1 + authors.len() + 1).await;
    assert_eq!(setup.last(), Some(&first_event));

    let send = |i: usize, text: String| {
        let store = Arc::clone(&store);
        let author_id = authors[i % authors.len()].id;
        tokio::spawn(async move {
            let nonce = format!("nonce-{i}");
            let sent = store
                .queue_message(NewMessage {
                    conversation_id: group.id,
                    author_id,
                    text: &text,
                    mentions: &Default::default(),
                    thread_root_id: None,
                    also_to_conversation: false,
                    quote: None,
                    attachments: &[],
                    nonce: Some(&nonce),
                    now: at(10 + i64::try_from(i).unwrap_or(0)),
                })
                .await
                .expect("queue_message");
            (i, sent)
        })
    };
    let mut sends = Vec::with_capacity(SENDS + RETRIES);
    for i in 0..SENDS {
        sends.push(send(i, format!("message {i}")));
        if i < RETRIES {
            sends.push(send(i, format!("message {i}, retried")));
        }
    }
    let reaction = {
        let store = Arc::clone(&store);
        let reactor = authors[2].id;
        tokio::spawn(async move {
            store
                .add_reaction(group.id, first.id, reactor, "🏁")
                .await
                .expect("add_reaction")
        })
    };

    let mut written: Vec<Event> = Vec::with_capacity(SENDS + 1);
    let mut stored_per_nonce: BTreeMap<usize, Vec<MessageId>> = BTreeMap::new();
    let mut duplicates = 0;
    for task in sends {
        let (i, sent) = task.await.expect("send task");
        match sent {
            Sent::Stored(message, events) => {
                stored_per_nonce.entry(i).or_default().push(message.id);
                written.extend(events);
            }
            Sent::Duplicate(message) => {
                duplicates += 1;
                assert_eq!(
                    message.nonce.as_deref(),
                    Some(format!("nonce-{i}").as_str())
                );
            }
        }
    }
    written.push(
        reaction
            .await
            .expect("reaction task")
            .expect("a new reaction"),
    );
    assert_eq!(stored_per_nonce.len(), SENDS, "every nonce is stored");
    assert!(
        stored_per_nonce.values().all(|ids| ids.len() == 1),
        "each nonce once: {stored_per_nonce:?}"
    );
    assert_eq!(duplicates, RETRIES, "each retry found its nonce taken");
    assert_eq!(written.len(), SENDS + 1);

    let received = receive(&mut feed, written.len()).await;
    for pair in received.windows(2) {
        assert!(
            pair[0].cursor < pair[1].cursor,
            "commit order across batches: {} then {}",
            pair[0].cursor,
            pair[1].cursor
        );
    }
    assert!(
        received[0].cursor > first_event.cursor,
        "after what came before"
    );
    let by_cursor: BTreeMap<Cursor, &Event> = written.iter().map(|e| (e.cursor, e)).collect();
    assert_eq!(
        by_cursor.len(),
        written.len(),
        "every write has its own cursor"
    );
    for event in &received {
        let returned = by_cursor
            .get(&event.cursor)
            .unwrap_or_else(|| panic!("announced, but no write returned it: {event:?}"));
        assert_eq!(
            event.kind, returned.kind,
            "as returned, at {}",
            event.cursor
        );
        assert_eq!(*event, **returned, "as returned, at {}", event.cursor);
    }
    let announced: BTreeSet<Cursor> = received.iter().map(|e| e.cursor).collect();
    assert_eq!(
        announced,
        by_cursor.keys().copied().collect::<BTreeSet<_>>(),
        "every committed event, exactly once"
    );

    // The log holds the same, in the same order; and nothing more comes (a later write is next in line).
    assert_eq!(
        lines(&replay(store.as_ref(), authors[3].id, first_event.cursor, 1_000).await),
        lines(&received),
        "the feed and the log agree"
    );
    let (_, last) = send_event(store.as_ref(), group.id, &authors[0], "last", at(1_000)).await;
    assert_eq!(receive(&mut feed, 1).await, vec![last]);
    assert!(feed.try_recv().is_err(), "nothing more");
}
