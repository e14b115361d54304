//! The event log: what a reconnecting client replays, and where a fresh one starts.

use std::sync::Arc;

use parley_core::model::{Audience, Event, EventKind, Millis, Page};
use parley_core::proto::v1::ConversationKind;
use parley_core::store::{DirectMessage, NewConversation, Store};
use parley_core::{Cursor, UserId};

use super::{at, group, send, send_event, sorted, user};

/// An event as a comparable line: position, conversation, kind, audience and commit time. A replayed
/// `conversation.created` shows the conversation as it is now (the log keeps ids, not copies), so only its id
/// is compared.
pub fn line(event: &Event) -> String {
    let kind = match &event.kind {
        EventKind::ConversationCreated(c) => format!("ConversationCreated({})", c.id),
        other => format!("{other:?}"),
    };
    format!(
        "{} in {}: {kind} for {:?} at {}",
        event.cursor, event.conversation_id, event.audience, event.at.0
    )
}

pub fn lines(events: &[Event]) -> Vec<String> {
    events.iter().map(line).collect()
}

pub async fn replay(store: &dyn Store, user_id: UserId, cursor: Cursor, limit: u32) -> Vec<Event> {
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
        .advance_read(g1.id, bob.id, m1.id, Audience::Members)
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
        .add_members(g1.id, &[carol.id], false, at(4))
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

    assert_eq!(bob_hid.audience, Audience::User(bob.id));
    assert_eq!(ada_hid.audience, Audience::User(ada.id));
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
        .remove_member(group.id, bob.id, false, false)
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
        .erase_message(group.id, message.id, false)
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
        .advance_read(group.id, bob.id, message.id, Audience::Members)
        .await
        .expect("advance_read")
        .expect("moved");
    let read_cursor = store.latest_cursor().await.expect("latest_cursor");
    assert!(read_cursor > sent.cursor);
    store
        .advance_read(group.id, bob.id, message.id, Audience::Members)
        .await
        .expect("advance_read");
    store
        .add_members(group.id, &[bob.id], false, at(2))
        .await
        .expect("add_members");
    let carol = user(store, "acme", "carol").await;
    store
        .remove_member(group.id, carol.id, false, false)
        .await
        .expect("remove_member");
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        read_cursor
    );
    assert!(replay(store, ada.id, read_cursor, 100).await.is_empty());
    assert!(replay(store, bob.id, read_cursor, 100).await.is_empty());
}

/// A read marker for the reader's own devices (`Audience::User`, as in very large channels) replays to the
/// reader only; one for every member replays to every member. Receipts hold both checkpoints either way.
pub async fn private_read_marker_replays_to_its_reader_only(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let dave = user(store, "acme", "dave").await;
    let group = group(store, &ada, &[&bob, &carol]).await;
    let (m1, _) = send_event(store, group.id, &carol, "one", at(1)).await;
    let (m2, _) = send_event(store, group.id, &carol, "two", at(2)).await;
    let start = store.latest_cursor().await.expect("latest_cursor");

    let private = store
        .advance_read(group.id, bob.id, m2.id, Audience::User(bob.id))
        .await
        .expect("advance_read")
        .expect("moved");
    assert_eq!(private.conversation_id, group.id);
    assert_eq!(
        private.kind,
        EventKind::ReadUpdated {
            user_id: bob.id,
            message_id: m2.id
        }
    );
    assert_eq!(private.audience, Audience::User(bob.id));
    let public = store
        .advance_read(group.id, ada.id, m1.id, Audience::Members)
        .await
        .expect("advance_read")
        .expect("moved");
    assert_eq!(public.audience, Audience::Members);
    assert!(public.cursor > private.cursor);
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        public.cursor,
        "a private event is in the log all the same"
    );

    assert_eq!(
        lines(&replay(store, bob.id, start, 100).await),
        lines(&[private.clone(), public.clone()]),
        "bob replays his own marker and ada's"
    );
    assert_eq!(
        lines(&replay(store, ada.id, start, 100).await),
        lines(std::slice::from_ref(&public)),
        "ada, a member, does not see bob's private marker"
    );
    assert_eq!(
        lines(&replay(store, carol.id, start, 100).await),
        lines(std::slice::from_ref(&public)),
        "nor does carol"
    );
    assert!(
        replay(store, dave.id, Cursor(0), 100).await.is_empty(),
        "dave is not a member"
    );
    assert_eq!(
        lines(&replay(store, ada.id, private.cursor, 100).await),
        lines(std::slice::from_ref(&public)),
        "paging past a private event of someone else's"
    );

    assert_eq!(
        sorted(store.receipts(group.id).await.expect("receipts")),
        sorted(vec![(ada.id, m1.id), (bob.id, m2.id)]),
        "the checkpoint moved whoever was told"
    );
    let bobs = store
        .membership(group.id, bob.id)
        .await
        .expect("membership")
        .expect("bob is a member");
    assert_eq!(bobs.last_read, Some(m2.id));

    // Not moved, no event, whatever the audience.
    let again = store
        .advance_read(group.id, bob.id, m1.id, Audience::User(bob.id))
        .await
        .expect("advance_read");
    assert_eq!(again, None);
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        public.cursor
    );
}

/// An empty log has both its oldest and latest cursor at 0; the first event sets both, later ones move the
/// latest only.
pub async fn oldest_and_latest_cursor_start_at_zero_and_move(store: &dyn Store) {
    let oldest = || async { store.oldest_cursor().await.expect("oldest_cursor") };
    let latest = || async { store.latest_cursor().await.expect("latest_cursor") };
    assert_eq!(oldest().await, Cursor(0), "empty log");
    assert_eq!(latest().await, Cursor(0), "empty log");

    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    assert_eq!(oldest().await, Cursor(0), "users are not events");
    assert_eq!(latest().await, Cursor(0), "users are not events");

    let (group, created) = store
        .create_conversation(NewConversation {
            org_id: ada.org_id,
            kind: ConversationKind::Group,
            name: Some("first"),
            handle: None,
            topic: None,
            private: false,
            created_by: ada.id,
            members: &[ada.id, bob.id],
            now: at(1),
        })
        .await
        .expect("create_conversation");
    let first = created.first().expect("events").cursor;
    let last = created.last().expect("events").cursor;
    assert!(first > Cursor(0));
    assert_eq!(oldest().await, first, "the first event ever");
    assert_eq!(latest().await, last);

    let (_, sent) = send_event(store, group.id, &ada, "hello", at(2)).await;
    assert_eq!(oldest().await, first, "unchanged by later events");
    assert_eq!(latest().await, sent.cursor);
    assert!(sent.cursor > last);
    let left = store
        .remove_member(group.id, bob.id, false, false)
        .await
        .expect("remove_member")
        .expect("bob was a member");
    assert_eq!(oldest().await, first);
    assert_eq!(latest().await, left.cursor);
    assert_eq!(
        lines(&replay(store, ada.id, Cursor(0), 100).await).len(),
        created.len() + 2,
        "everything since the oldest cursor replays from 0"
    );
}

/// Pruning drops the events committed before a time, but never the newest event, so the log never
/// restarts: the oldest cursor moves up, replay from 0 returns what is left, and new events come after all
/// earlier ones. What the events were about stays.
pub async fn prune_events_drops_old_events_but_keeps_the_newest(store: &dyn Store) {
    assert_eq!(
        store.prune_events(at(1_000)).await.expect("prune_events"),
        0,
        "nothing to prune in an empty log"
    );
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let oldest = || async { store.oldest_cursor().await.expect("oldest_cursor") };
    let latest = || async { store.latest_cursor().await.expect("latest_cursor") };

    let (group, created) = store
        .create_conversation(NewConversation {
            org_id: ada.org_id,
            kind: ConversationKind::Group,
            name: Some("pruned"),
            handle: None,
            topic: None,
            private: false,
            created_by: ada.id,
            members: &[ada.id, bob.id],
            now: at(0),
        })
        .await
        .expect("create_conversation");
    assert_eq!(created.len(), 3, "{created:?}");
    let (m1, e1) = send_event(store, group.id, &ada, "one", at(10)).await;
    let (m2, e2) = send_event(store, group.id, &bob, "two", at(20)).await;
    let (m3, e3) = send_event(store, group.id, &ada, "three", at(30)).await;
    assert_eq!(oldest().await, created[0].cursor);
    assert_eq!(latest().await, e3.cursor);
    // The notifier has read the whole log: pruning never takes what it has yet to read
    // (`notify::pruning_spares_what_the_notifier_has_yet_to_read`).
    super::notify::notifier_has_read_up_to(store, e3.cursor).await;

    assert_eq!(
        store.prune_events(at(0)).await.expect("prune_events"),
        0,
        "strictly before: events at that very time stay"
    );
    assert_eq!(oldest().await, created[0].cursor);

    assert_eq!(
        store.prune_events(at(20)).await.expect("prune_events"),
        4,
        "the creation, both joinings and the first message"
    );
    assert_eq!(oldest().await, e2.cursor);
    assert_eq!(latest().await, e3.cursor, "the newest is untouched");
    for user_id in [ada.id, bob.id] {
        assert_eq!(
            lines(&replay(store, user_id, Cursor(0), 100).await),
            lines(&[e2.clone(), e3.clone()]),
            "replay from 0 returns what is left"
        );
    }

    assert_eq!(
        store.prune_events(at(1_000)).await.expect("prune_events"),
        1,
        "everything is older, but the newest stays"
    );
    assert_eq!(oldest().await, e3.cursor);
    assert_eq!(latest().await, e3.cursor);
    assert_eq!(
        lines(&replay(store, ada.id, Cursor(0), 100).await),
        lines(std::slice::from_ref(&e3))
    );
    assert_eq!(
        store.prune_events(at(1_000)).await.expect("prune_events"),
        0,
        "the newest event is never pruned"
    );
    assert_eq!(oldest().await, e3.cursor);

    // Pruning is about the log only: the messages and the membership are all still there.
    let history = store
        .messages(group.id, bob.id, Page::Latest { limit: 10 })
        .await
        .expect("messages");
    assert_eq!(
        history.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![m1.id, m2.id, m3.id]
    );
    assert_eq!(
        sorted(store.member_ids(group.id, 10).await.expect("member_ids")),
        sorted(vec![ada.id, bob.id])
    );

    // New events come after every event there ever was.
    let (_, e4) = send_event(store, group.id, &bob, "four", at(40)).await;
    assert!(e4.cursor > e3.cursor, "{} after {}", e4.cursor, e3.cursor);
    for earlier in created.iter().chain([&e1, &e2, &e3]) {
        assert!(e4.cursor > earlier.cursor, "cursors never restart");
    }
    let joined = store
        .add_members(
            group.id,
            &[user(store, "acme", "carol").await.id],
            false,
            at(5),
        )
        .await
        .expect("add_members");
    assert!(
        joined[0].cursor > e4.cursor,
        "in commit order, whatever its time"
    );
    assert_eq!(oldest().await, e3.cursor);
    assert_eq!(latest().await, joined[0].cursor);
    assert_eq!(
        lines(&replay(store, ada.id, Cursor(0), 100).await),
        lines(&[e3.clone(), e4.clone(), joined[0].clone()])
    );
    super::notify::notifier_has_read_up_to(store, joined[0].cursor).await;

    // The newest is the newest by cursor, not by time: the joining at(5) stays while e3 and e4 go.
    assert_eq!(store.prune_events(at(6)).await.expect("prune_events"), 0);
    assert_eq!(store.prune_events(at(35)).await.expect("prune_events"), 1);
    assert_eq!(
        lines(&replay(store, ada.id, Cursor(0), 100).await),
        lines(&[e4.clone(), joined[0].clone()]),
    );
    assert_eq!(oldest().await, e4.cursor);
    assert_eq!(
        store.prune_events(at(1_000)).await.expect("prune_events"),
        1
    );
    assert_eq!(oldest().await, joined[0].cursor);
    assert_eq!(latest().await, joined[0].cursor);
    assert_eq!(
        lines(&replay(store, ada.id, Cursor(0), 100).await),
        lines(std::slice::from_ref(&joined[0])),
    );
}

/// `Event.at` is the commit time: the `now` given to the writes that take one, the clock at the time of the
/// write for the others. The log replays it unchanged.
pub async fn event_at_is_the_time_of_the_write(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let mut written = Vec::new();

    let (group, created) = store
        .create_conversation(NewConversation {
            org_id: ada.org_id,
            kind: ConversationKind::Group,
            name: Some("timed"),
            handle: None,
            topic: None,
            private: false,
            created_by: ada.id,
            members: &[ada.id, bob.id],
            now: at(100),
        })
        .await
        .expect("create_conversation");
    assert!(created.iter().all(|e| e.at == at(100)), "{created:?}");
    written.extend(created);
    let joined = store
        .add_members(group.id, &[carol.id], false, at(200))
        .await
        .expect("add_members");
    assert!(joined.iter().all(|e| e.at == at(200)), "{joined:?}");
    written.extend(joined);
    // An earlier time than the events before it: `at` is what the writer said, the cursor is commit order.
    let (message, sent) = send_event(store, group.id, &bob, "timed", at(50)).await;
    assert_eq!(sent.at, at(50));
    written.push(sent);
    let DirectMessage::Created(dm, dm_events) = store
        .direct_message(ada.org_id, ada.id, bob.id, at(300))
        .await
        .expect("direct_message")
    else {
        panic!("a new DM");
    };
    assert!(dm_events.iter().all(|e| e.at == at(300)), "{dm_events:?}");
    let (_, in_dm) = send_event(store, dm.id, &ada, "in the DM", at(301)).await;
    assert_eq!(in_dm.at, at(301));

    // Writes that take no time are stamped with the clock.
    let before = Millis::now();
    let untimed = vec![
        store
            .add_reaction(group.id, message.id, ada.id, "⏱")
            .await
            .expect("add_reaction")
            .expect("new"),
        store
            .remove_reaction(group.id, message.id, ada.id, "⏱")
            .await
            .expect("remove_reaction")
            .expect("there"),
        store
            .advance_read(group.id, ada.id, message.id, Audience::Members)
            .await
            .expect("advance_read")
            .expect("moved"),
        store
            .hide_message(group.id, message.id, ada.id)
            .await
            .expect("hide_message")
            .expect("hidden"),
        store
            .erase_message(group.id, message.id, false)
            .await
            .expect("erase_message")
            .expect("erased"),
        store
            .remove_member(group.id, carol.id, false, false)
            .await
            .expect("remove_member")
            .expect("carol was a member"),
    ];
    let after = Millis::now();
    for event in &untimed {
        assert!(
            before <= event.at && event.at <= after,
            "{event:?} not within {before:?}..={after:?}"
        );
    }
    written.extend(untimed);

    let replayed = replay(store, ada.id, Cursor(0), 100).await;
    let in_group: Vec<&Event> = replayed
        .iter()
        .filter(|e| e.conversation_id == group.id)
        .collect();
    assert_eq!(in_group.len(), written.len(), "{replayed:?}");
    for (replayed, written) in in_group.into_iter().zip(&written) {
        assert_eq!(replayed.cursor, written.cursor);
        assert_eq!(
            replayed.at, written.at,
            "replayed as committed: {replayed:?}"
        );
    }
    let in_dm_replayed: Vec<Millis> = replayed
        .iter()
        .filter(|e| e.conversation_id == dm.id)
        .map(|e| e.at)
        .collect();
    assert_eq!(in_dm_replayed, vec![at(300), at(300), at(300), at(301)]);
}

/// A user far behind (thousands of other people's events since their cursor) replays exactly what a user
/// a few events behind would: their conversations' events, their private ones and their own leaving, in
/// cursor order, page after page, each once.
pub async fn events_after_far_behind_replays_the_same(store: Arc<dyn Store>) {
    const OTHERS: usize = 2_500;
    let ada = user(store.as_ref(), "acme", "ada").await;
    let bob = user(store.as_ref(), "acme", "bob").await;
    let carol = user(store.as_ref(), "acme", "carol").await;
    let ours = group(store.as_ref(), &ada, &[&bob]).await;
    let left = group(store.as_ref(), &ada, &[&bob]).await;
    let theirs = group(store.as_ref(), &carol, &[]).await;
    let start = store.latest_cursor().await.expect("latest_cursor");

    let mut for_bob = Vec::new();
    let (first, sent) = send_event(store.as_ref(), ours.id, &ada, "before the crowd", at(1)).await;
    for_bob.push(sent);
    let mut crowd = Vec::with_capacity(OTHERS);
    for i in 0..OTHERS {
        let store = Arc::clone(&store);
        let carol = carol.clone();
        crowd.push(tokio::spawn(async move {
            send(store.as_ref(), theirs.id, &carol, &format!("crowd {i}")).await
        }));
    }
    for sent in crowd {
        sent.await.expect("task");
    }
    let hidden = store
        .hide_message(ours.id, first.id, bob.id)
        .await
        .expect("hide_message")
        .expect("hidden");
    for_bob.push(hidden);
    for_bob.push(
        store
            .remove_member(left.id, bob.id, false, false)
            .await
            .expect("remove_member")
            .expect("bob was a member"),
    );
    send(store.as_ref(), left.id, &ada, "after bob left").await;
    for_bob.push(
        send_event(store.as_ref(), ours.id, &ada, "after the crowd", at(2))
            .await
            .1,
    );
    let behind = store.latest_cursor().await.expect("latest_cursor").0 - start.0;
    assert!(behind > OTHERS as i64, "{behind} events since the start");

    assert_eq!(
        lines(&replay(store.as_ref(), bob.id, start, 100).await),
        lines(&for_bob),
        "all of bob's events and nothing else"
    );
    let mut paged = Vec::new();
    let mut cursor = start;
    loop {
        let page = replay(store.as_ref(), bob.id, cursor, 2).await;
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        paged.extend(page);
    }
    assert_eq!(lines(&paged), lines(&for_bob), "pages of two, each once");
    assert_eq!(
        replay(store.as_ref(), carol.id, start, 10_000).await.len(),
        OTHERS,
        "carol replays her own crowd"
    );
}
