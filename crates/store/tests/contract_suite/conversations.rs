//! Conversations: creating groups, channels and DMs, membership, the conversation list and the channel
//! directory.

use std::collections::BTreeSet;

use parley_core::model::{Audience, Conversation, Event, EventKind, Millis};
use parley_core::proto::v1::{ConversationKind, MembershipPatch};
use parley_core::store::{DirectMessage, NewConversation, Store, StoreError};
use parley_core::{ConversationId, Cursor, UserId};

use super::events::{lines, replay};
use super::{at, channel, group, group_at, send_at, sorted, user};

/// A group starts with its members, counted, and announces its creation.
pub async fn create_conversation_with_members(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let dave = user(store, "acme", "dave").await;
    let before = store.latest_cursor().await.expect("latest_cursor");

    let (group, events) = store
        .create_conversation(NewConversation {
            org_id: ada.org_id,
            kind: ConversationKind::Group,
            name: Some("Launch"),
            handle: None,
            topic: Some("the launch"),
            private: false,
            created_by: ada.id,
            members: &[ada.id, bob.id, carol.id],
            now: at(5),
        })
        .await
        .expect("create_conversation");
    assert_eq!(group.org_id, ada.org_id);
    assert_eq!(group.kind, ConversationKind::Group);
    assert_eq!(group.name.as_deref(), Some("Launch"));
    assert_eq!(group.handle, None);
    assert_eq!(group.topic.as_deref(), Some("the launch"));
    assert!(!group.private);
    assert_eq!(group.created_by, ada.id);
    assert_eq!(group.created_at, at(5));
    assert_eq!(group.member_count, 3);
    assert_eq!(
        store.conversation(group.id).await.expect("conversation"),
        Some(group.clone())
    );

    // `conversation.created`, then one `member.joined` per first member (see
    // `creation_announces_created_then_each_member_joined` for the details).
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(events.iter().all(|e| e.conversation_id == group.id));
    assert_eq!(
        events[0].kind,
        EventKind::ConversationCreated(group.clone())
    );
    assert!(events[0].cursor > before);

    for member in [&ada, &bob, &carol] {
        let membership = store
            .membership(group.id, member.id)
            .await
            .expect("membership")
            .expect("a member");
        assert_eq!(membership.conversation_id, group.id);
        assert_eq!(membership.user_id, member.id);
        assert!(!membership.muted);
        assert!(!membership.notify_always);
        assert_eq!(membership.last_read, None);
        assert_eq!(membership.joined_at, at(5));
    }
    assert_eq!(
        store
            .membership(group.id, dave.id)
            .await
            .expect("membership"),
        None
    );
    // Several conversations' members at once, each in join order; an unknown one has none.
    let unknown = ConversationId(group.id.0 + 1_000);
    let members = store
        .members_of(&[group.id, unknown])
        .await
        .expect("members_of");
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].0, group.id);
    assert_eq!(
        sorted(members[0].1.clone()),
        sorted(vec![ada.id, bob.id, carol.id])
    );
    assert_eq!(members[1], (unknown, Vec::new()));
    assert_eq!(store.members_of(&[]).await.expect("members_of"), Vec::new());
    // Both at once, as every use case on a conversation reads them.
    let bobs = store
        .membership(group.id, bob.id)
        .await
        .expect("membership");
    assert_eq!(
        store
            .conversation_and_membership(group.id, bob.id)
            .await
            .expect("conversation_and_membership"),
        Some((group.clone(), bobs))
    );
    assert_eq!(
        store
            .conversation_and_membership(group.id, dave.id)
            .await
            .expect("conversation_and_membership"),
        Some((group.clone(), None))
    );
    assert_eq!(
        store
            .conversation_and_membership(ConversationId(group.id.0 + 1_000), ada.id)
            .await
            .expect("conversation_and_membership"),
        None
    );
    assert_eq!(
        sorted(store.member_ids(group.id, 100).await.expect("member_ids")),
        sorted(vec![ada.id, bob.id, carol.id])
    );
    assert_eq!(
        store
            .member_ids(group.id, 2)
            .await
            .expect("member_ids")
            .len(),
        2,
        "limit"
    );

    // Join order: someone added later comes last.
    store
        .add_members(group.id, &[dave.id], false, at(9))
        .await
        .expect("add_members");
    let ids = store.member_ids(group.id, 100).await.expect("member_ids");
    assert_eq!(ids.len(), 4);
    assert_eq!(ids.last(), Some(&dave.id), "in join order: {ids:?}");
    assert_eq!(
        store
            .conversation(ConversationId(i64::MAX))
            .await
            .expect("conversation"),
        None
    );
}

/// A channel handle is unique within its org, and free in every other org.
pub async fn channel_handles_are_unique_per_org(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let zed = user(store, "globex", "zed").await;
    let general = channel(store, &ada, "general", "General", false).await;
    assert_eq!(general.kind, ConversationKind::Channel);
    assert_eq!(general.handle.as_deref(), Some("general"));

    let taken = store
        .create_conversation(NewConversation {
            org_id: ada.org_id,
            kind: ConversationKind::Channel,
            name: Some("General again"),
            handle: Some("general"),
            topic: None,
            private: true,
            created_by: ada.id,
            members: &[ada.id],
            now: at(1),
        })
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict("handle"))),
        "a taken handle: {taken:?}"
    );

    let elsewhere = channel(store, &zed, "general", "Globex general", false).await;
    assert_ne!(elsewhere.id, general.id);

    let found = store
        .channel_by_handle(ada.org_id, "general")
        .await
        .expect("channel_by_handle");
    assert_eq!(found, Some(general.clone()));
    let found = store
        .channel_by_handle(zed.org_id, "general")
        .await
        .expect("channel_by_handle");
    assert_eq!(found.map(|c| c.id), Some(elsewhere.id));
    let missing = store
        .channel_by_handle(ada.org_id, "random")
        .await
        .expect("channel_by_handle");
    assert_eq!(missing, None);

    let ada_channels = store
        .conversations_of(ada.id)
        .await
        .expect("conversations_of");
    assert_eq!(ada_channels.len(), 1, "the refused channel was not created");
}

/// There is one DM per pair, whichever of the two asks.
pub async fn direct_message_is_one_per_pair(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;

    let created = store
        .direct_message(ada.org_id, ada.id, bob.id, at(3))
        .await
        .expect("direct_message");
    let DirectMessage::Created(dm, events) = created else {
        panic!("the first ask creates the DM: {created:?}");
    };
    assert_eq!(dm.kind, ConversationKind::Dm);
    assert_eq!(dm.org_id, ada.org_id);
    assert_eq!(dm.member_count, 2);
    assert_eq!(dm.handle, None);
    assert_eq!(
        sorted(store.member_ids(dm.id, 10).await.expect("member_ids")),
        sorted(vec![ada.id, bob.id])
    );
    assert!(
        events
            .iter()
            .any(|e| e.conversation_id == dm.id
                && matches!(e.kind, EventKind::ConversationCreated(_))),
        "{events:?}"
    );

    for (a, b) in [(bob.id, ada.id), (ada.id, bob.id)] {
        let again = store
            .direct_message(ada.org_id, a, b, at(4))
            .await
            .expect("direct_message");
        match again {
            DirectMessage::Existing(existing) => assert_eq!(existing.id, dm.id),
            DirectMessage::Created(..) => panic!("a second DM for the same pair: {again:?}"),
        }
    }

    let other = store
        .direct_message(ada.org_id, carol.id, ada.id, at(5))
        .await
        .expect("direct_message");
    let DirectMessage::Created(other, _) = other else {
        panic!("another pair, another DM: {other:?}");
    };
    assert_ne!(other.id, dm.id);
}

/// Adding members skips those already in, with one `member.joined` per person actually added.
pub async fn add_members_skips_existing_members(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let dave = user(store, "acme", "dave").await;
    let group = group(store, &ada, &[&bob]).await;

    let events = store
        .add_members(
            group.id,
            &[bob.id, carol.id, ada.id, dave.id],
            false,
            at(10),
        )
        .await
        .expect("add_members");
    let joined: Vec<UserId> = events
        .iter()
        .map(|e| {
            assert_eq!(e.conversation_id, group.id);
            assert_eq!(e.audience, Audience::Members);
            assert_eq!(e.at, at(10));
            match e.kind {
                EventKind::MemberJoined { user_id } => user_id,
                ref other => panic!("not a member.joined: {other:?}"),
            }
        })
        .collect();
    assert_eq!(sorted(joined), sorted(vec![carol.id, dave.id]));
    assert!(
        events[0].cursor < events[1].cursor,
        "each event has its own cursor"
    );

    let conversation = store
        .conversation(group.id)
        .await
        .expect("conversation")
        .expect("the group");
    assert_eq!(conversation.member_count, 4);
    let carol_membership = store
        .membership(group.id, carol.id)
        .await
        .expect("membership")
        .expect("carol is a member");
    assert_eq!(carol_membership.joined_at, at(10));

    let before = store.latest_cursor().await.expect("latest_cursor");
    let again = store
        .add_members(group.id, &[carol.id, dave.id], false, at(11))
        .await
        .expect("add_members");
    assert!(again.is_empty(), "nobody new: {again:?}");
    assert_eq!(store.latest_cursor().await.expect("latest_cursor"), before);
    let conversation = store
        .conversation(group.id)
        .await
        .expect("conversation")
        .expect("the group");
    assert_eq!(conversation.member_count, 4);
}

/// Removing a member announces `member.left`; removing a non-member changes nothing.
pub async fn remove_member_only_removes_members(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let group = group(store, &ada, &[&bob]).await;

    let left = store
        .remove_member(group.id, bob.id, false, false)
        .await
        .expect("remove_member")
        .expect("bob was a member");
    assert_eq!(left.conversation_id, group.id);
    assert_eq!(
        left.kind,
        EventKind::MemberLeft {
            user_id: bob.id,
            removed: false,
        }
    );
    assert_eq!(left.audience, Audience::Members);
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        left.cursor
    );

    assert_eq!(
        store
            .membership(group.id, bob.id)
            .await
            .expect("membership"),
        None
    );
    assert_eq!(
        store.member_ids(group.id, 10).await.expect("member_ids"),
        vec![ada.id]
    );
    let conversation = store
        .conversation(group.id)
        .await
        .expect("conversation")
        .expect("the group");
    assert_eq!(conversation.member_count, 1);
    assert!(
        store
            .conversations_of(bob.id)
            .await
            .expect("conversations_of")
            .is_empty()
    );

    let twice = store
        .remove_member(group.id, bob.id, false, false)
        .await
        .expect("remove_member");
    assert_eq!(twice, None);
    let stranger = store
        .remove_member(group.id, carol.id, false, false)
        .await
        .expect("remove_member");
    assert_eq!(stranger, None);
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        left.cursor
    );
    let conversation = store
        .conversation(group.id)
        .await
        .expect("conversation")
        .expect("the group");
    assert_eq!(conversation.member_count, 1, "unchanged by no-op removals");
}

/// The conversation list is the user's own conversations, the most recently active first.
pub async fn conversations_of_orders_by_recent_activity(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let first = group_at(store, &ada, &[&bob], "first", at(1)).await;
    let second = group_at(store, &ada, &[], "second", at(2)).await;
    let third = group_at(store, &ada, &[&bob], "third", at(3)).await;
    let _not_ada = group_at(store, &bob, &[], "bob alone", at(4)).await;

    let order = move |user_id: UserId| async move {
        let summaries = store
            .conversations_of(user_id)
            .await
            .expect("conversations_of");
        for summary in &summaries {
            assert_eq!(summary.membership.user_id, user_id);
            assert_eq!(summary.membership.conversation_id, summary.conversation.id);
        }
        summaries
            .iter()
            .map(|s| s.conversation.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(order(ada.id).await, vec![third.id, second.id, first.id]);

    send_at(store, first.id, &bob, "bump", at(10)).await;
    assert_eq!(order(ada.id).await, vec![first.id, third.id, second.id]);
    send_at(store, second.id, &ada, "bump", at(20)).await;
    assert_eq!(order(ada.id).await, vec![second.id, first.id, third.id]);
    assert_eq!(order(bob.id).await.len(), 3, "bob's own conversations only");
}

/// Unread counts leave out one's own, deleted and hidden messages and everything up to the read mark; the
/// last message is the newest one the user can see.
pub async fn conversations_of_counts_unread_and_shows_last_message(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let group = group(store, &ada, &[&bob, &carol]).await;
    let quiet = group_at(store, &ada, &[], "quiet", at(0)).await;

    let summary = move |user_id: UserId, conversation_id: ConversationId| async move {
        store
            .conversations_of(user_id)
            .await
            .expect("conversations_of")
            .into_iter()
            .find(|s| s.conversation.id == conversation_id)
            .expect("the conversation is listed")
    };
    let empty = summary(ada.id, quiet.id).await;
    assert_eq!(empty.unread_count, 0);
    assert_eq!(empty.last_message, None);

    let m1 = send_at(store, group.id, &bob, "one", at(10)).await;
    let m2 = send_at(store, group.id, &bob, "two", at(11)).await;
    let m3 = send_at(store, group.id, &bob, "three", at(12)).await;
    let m4 = send_at(store, group.id, &ada, "four (ada's own)", at(13)).await;
    let m5 = send_at(store, group.id, &carol, "five", at(14)).await;

    let seen = summary(ada.id, group.id).await;
    assert_eq!(seen.unread_count, 4, "m1, m2, m3, m5: not ada's own m4");
    assert_eq!(seen.last_message.as_ref().map(|m| m.id), Some(m5.id));
    assert_eq!(seen.last_message, Some(m5.clone()));
    assert_eq!(summary(bob.id, group.id).await.unread_count, 2, "m4 and m5");

    store
        .hide_message(group.id, m2.id, ada.id)
        .await
        .expect("hide_message");
    assert_eq!(
        summary(ada.id, group.id).await.unread_count,
        3,
        "m2 is hidden"
    );
    assert_eq!(
        summary(bob.id, group.id).await.unread_count,
        2,
        "hidden for ada only"
    );

    store
        .erase_message(group.id, m3.id, false)
        .await
        .expect("erase_message");
    assert_eq!(
        summary(ada.id, group.id).await.unread_count,
        2,
        "m3 is deleted"
    );

    store
        .advance_read(group.id, ada.id, m1.id, Audience::Members)
        .await
        .expect("advance_read");
    let seen = summary(ada.id, group.id).await;
    assert_eq!(seen.unread_count, 1, "only m5 is after the mark");
    assert_eq!(seen.membership.last_read, Some(m1.id));

    store
        .advance_read(group.id, ada.id, m5.id, Audience::Members)
        .await
        .expect("advance_read");
    assert_eq!(
        summary(ada.id, group.id).await.unread_count,
        0,
        "m5 itself is read"
    );

    store
        .hide_message(group.id, m5.id, ada.id)
        .await
        .expect("hide_message");
    let seen = summary(ada.id, group.id).await;
    assert_eq!(
        seen.last_message.map(|m| m.id),
        Some(m4.id),
        "the newest message ada can still see"
    );
    let seen = summary(bob.id, group.id).await;
    assert_eq!(seen.last_message.map(|m| m.id), Some(m5.id));
}

/// The directory: public channels of the org, filtered by name or handle.
pub async fn public_channels_lists_open_channels_of_the_org(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let zed = user(store, "globex", "zed").await;
    let general = channel(store, &ada, "general", "General", false).await;
    let random = channel(store, &ada, "random", "Random chat", false).await;
    let _secret = channel(store, &ada, "secret", "Secret plans", true).await;
    let _group = group_at(store, &ada, &[], "General group", at(0)).await;
    let _elsewhere = channel(store, &zed, "general-globex", "General", false).await;

    let org_id = ada.org_id;
    let directory = move |query: &'static str, limit: u32| async move {
        let found = store
            .public_channels(org_id, query, limit)
            .await
            .unwrap_or_else(|e| panic!("public_channels({query:?}): {e:?}"));
        for channel in &found {
            assert!(channel.is_public_channel(), "{channel:?}");
            assert_eq!(channel.org_id, org_id);
        }
        sorted(found.into_iter().map(|c| c.id).collect::<Vec<_>>())
    };
    assert_eq!(
        directory("", 100).await,
        sorted(vec![general.id, random.id])
    );
    assert_eq!(
        directory("gener", 100).await,
        vec![general.id],
        "by name or handle"
    );
    assert_eq!(
        directory("chat", 100).await,
        vec![random.id],
        "by a word of the name"
    );
    assert_eq!(
        directory("ando", 100).await,
        vec![random.id],
        "contains, not only prefix"
    );
    assert!(
        directory("secret", 100).await.is_empty(),
        "private channels are not listed"
    );
    assert!(
        directory("group", 100).await.is_empty(),
        "groups are not channels"
    );
    assert!(directory("%", 100).await.is_empty(), "`%` is plain text");
    assert!(directory("_", 100).await.is_empty(), "`_` is plain text");
    assert_eq!(directory("", 1).await.len(), 1, "limit");
}

/// A membership patch changes what it names and keeps the rest.
pub async fn update_membership_patches_only_given_fields(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;

    let patch = |muted: Option<bool>, notify_always: Option<bool>| MembershipPatch {
        muted,
        notify_always,
    };
    let (group_id, ada_id) = (group.id, ada.id);
    let update = move |muted, notify_always| async move {
        store
            .update_membership(group_id, ada_id, patch(muted, notify_always))
            .await
            .expect("update_membership")
    };
    let member = update(Some(true), None).await;
    assert!(member.muted);
    assert!(!member.notify_always);
    let member = update(None, Some(true)).await;
    assert!(member.muted, "None keeps muted");
    assert!(member.notify_always);
    let member = update(None, None).await;
    assert!(
        member.muted && member.notify_always,
        "an empty patch changes nothing"
    );
    let member = update(Some(false), None).await;
    assert!(!member.muted);
    assert!(member.notify_always, "None keeps notify_always");
    assert_eq!(member.user_id, ada.id);
    assert_eq!(member.conversation_id, group.id);
    assert_eq!(
        store
            .membership(group.id, ada.id)
            .await
            .expect("membership"),
        Some(member)
    );

    let bob_member = store
        .membership(group.id, bob.id)
        .await
        .expect("membership")
        .expect("bob is a member");
    assert!(
        !bob_member.muted && !bob_member.notify_always,
        "ada's patches are ada's"
    );

    let carol = user(store, "acme", "carol").await;
    let outsider = store
        .update_membership(group.id, carol.id, patch(Some(true), None))
        .await;
    assert!(
        matches!(outsider, Err(StoreError::NotFound(_))),
        "not a member: {outsider:?}"
    );
}

/// Asserts that `events` are `conversation.created` for `conversation`, then one `member.joined` per member
/// of `members` in that order, all for every member, at `now`, at increasing cursors after `before`.
fn assert_created_then_joined(
    events: &[Event],
    conversation: &Conversation,
    members: &[UserId],
    before: Cursor,
    now: Millis,
) {
    assert_eq!(events.len(), 1 + members.len(), "{events:?}");
    assert_eq!(
        events[0].kind,
        EventKind::ConversationCreated(conversation.clone()),
        "the creation first: {events:?}"
    );
    let joined: Vec<EventKind> = events[1..].iter().map(|e| e.kind.clone()).collect();
    let expected: Vec<EventKind> = members
        .iter()
        .map(|user_id| EventKind::MemberJoined { user_id: *user_id })
        .collect();
    assert_eq!(joined, expected, "then each member's joining, in order");
    for event in events {
        assert_eq!(event.conversation_id, conversation.id, "{event:?}");
        assert_eq!(event.audience, Audience::Members, "{event:?}");
        assert_eq!(
            event.at, now,
            "committed at the time of the write: {event:?}"
        );
    }
    assert!(events[0].cursor > before, "after {before}: {events:?}");
    for pair in events.windows(2) {
        assert!(
            pair[0].cursor < pair[1].cursor,
            "cursors increase: {events:?}"
        );
    }
}

/// Creating a group, a channel or a DM announces `conversation.created`, then one `member.joined` per first
/// member (in the order given; low id then high id for a DM), all for every member, in one go: the log holds
/// them as announced, and each member replays them. A DM that already exists announces nothing.
pub async fn creation_announces_created_then_each_member_joined(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let dave = user(store, "acme", "dave").await;

    // A group whose members are not given in id order.
    let before = store.latest_cursor().await.expect("latest_cursor");
    let members = [carol.id, ada.id, bob.id];
    let (group, events) = store
        .create_conversation(NewConversation {
            org_id: ada.org_id,
            kind: ConversationKind::Group,
            name: Some("Out of order"),
            handle: None,
            topic: None,
            private: false,
            created_by: ada.id,
            members: &members,
            now: at(7),
        })
        .await
        .expect("create_conversation");
    assert_created_then_joined(&events, &group, &members, before, at(7));
    let last = events.last().map(|e| e.cursor).expect("events");
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        last,
        "nothing else was written"
    );
    for member in members {
        assert_eq!(
            lines(&replay(store, member, before, 100).await),
            lines(&events),
            "each member replays the creation as announced"
        );
    }
    assert!(
        replay(store, dave.id, before, 100).await.is_empty(),
        "dave is not in it"
    );

    // A channel with its creator alone.
    let before = store.latest_cursor().await.expect("latest_cursor");
    let (channel, events) = store
        .create_conversation(NewConversation {
            org_id: dave.org_id,
            kind: ConversationKind::Channel,
            name: Some("Dave's"),
            handle: Some("dave"),
            topic: None,
            private: true,
            created_by: dave.id,
            members: &[dave.id],
            now: at(8),
        })
        .await
        .expect("create_conversation");
    assert_created_then_joined(&events, &channel, &[dave.id], before, at(8));
    assert_eq!(
        lines(&replay(store, dave.id, before, 100).await),
        lines(&events)
    );

    // A DM, asked for by the higher id: low id joins first all the same.
    let (low, high) = if bob.id < carol.id {
        (bob.id, carol.id)
    } else {
        (carol.id, bob.id)
    };
    let before = store.latest_cursor().await.expect("latest_cursor");
    let created = store
        .direct_message(bob.org_id, high, low, at(9))
        .await
        .expect("direct_message");
    let DirectMessage::Created(dm, events) = created else {
        panic!("the first ask creates the DM: {created:?}");
    };
    assert_created_then_joined(&events, &dm, &[low, high], before, at(9));
    for member in [low, high] {
        assert_eq!(
            lines(&replay(store, member, before, 100).await),
            lines(&events)
        );
    }
    let cursor = store.latest_cursor().await.expect("latest_cursor");
    let again = store
        .direct_message(bob.org_id, low, high, at(10))
        .await
        .expect("direct_message");
    assert!(
        matches!(again, DirectMessage::Existing(ref existing) if existing.id == dm.id),
        "{again:?}"
    );
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        cursor,
        "an existing DM announces nothing"
    );

    // A refused creation announces nothing either.
    let taken = store
        .create_conversation(NewConversation {
            org_id: dave.org_id,
            kind: ConversationKind::Channel,
            name: Some("Dave's again"),
            handle: Some("dave"),
            topic: None,
            private: false,
            created_by: ada.id,
            members: &[ada.id, bob.id],
            now: at(11),
        })
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict("handle"))),
        "{taken:?}"
    );
    assert_eq!(store.latest_cursor().await.expect("latest_cursor"), cursor);
}

/// The ids of a user's conversations: exactly those they are a member of now, whatever kind, however they
/// got in.
pub async fn member_conversations_snapshot_lists_the_users_conversations(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let ids_of = move |user_id: UserId| async move {
        let (ids, cursor) = store
            .member_conversations_snapshot(user_id)
            .await
            .expect("member_conversations_snapshot");
        let latest = store.latest_cursor().await.expect("latest_cursor");
        assert_eq!(cursor, latest, "the snapshot's cursor is the newest event");
        let distinct: BTreeSet<ConversationId> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len(), "each conversation once: {ids:?}");
        sorted(ids)
    };
    assert!(ids_of(ada.id).await.is_empty(), "a new user is in nothing");

    let with_bob = group(store, &ada, &[&bob]).await;
    let alone = group_at(store, &ada, &[], "alone", at(1)).await;
    let bobs = group_at(store, &bob, &[], "bob's", at(2)).await;
    let general = channel(store, &bob, "general", "General", false).await;
    let DirectMessage::Created(dm, _) = store
        .direct_message(ada.org_id, carol.id, ada.id, at(3))
        .await
        .expect("direct_message")
    else {
        panic!("a new DM");
    };
    assert_eq!(
        ids_of(ada.id).await,
        sorted(vec![with_bob.id, alone.id, dm.id])
    );
    assert_eq!(
        ids_of(bob.id).await,
        sorted(vec![with_bob.id, bobs.id, general.id])
    );
    assert_eq!(ids_of(carol.id).await, vec![dm.id]);

    store
        .add_members(general.id, &[ada.id, carol.id], false, at(4))
        .await
        .expect("add_members");
    store
        .remove_member(with_bob.id, ada.id, false, false)
        .await
        .expect("remove_member")
        .expect("ada was a member");
    assert_eq!(
        ids_of(ada.id).await,
        sorted(vec![alone.id, general.id, dm.id]),
        "joined general, left the group with bob"
    );
    assert_eq!(
        ids_of(bob.id).await,
        sorted(vec![with_bob.id, bobs.id, general.id]),
        "ada's leaving is not bob's"
    );
    assert_eq!(ids_of(carol.id).await, sorted(vec![dm.id, general.id]));
}
