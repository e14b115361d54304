//! The notifier's records (`NotifyRecords`): subscriptions, shards held by nodes, the log it follows, and
//! pending notifications and deliveries, fenced by the shards a node holds.

use parley_core::model::{Audience, Message, Millis};
use parley_core::proto::v1::{ConversationKind, Mentions};
use parley_core::store::{
    Decided, LogEntry, NewDelivery, NewMessage, NewPushSubscription, Outcome, Pending,
    PushSubscription, PushTarget, QuietHours, SHARDS, Sent, Store, StoreError, shard_of,
};
use parley_core::{ConversationId, Cursor, MessageId, OrgId, SubscriptionId, UserId};

use super::{at, channel, group, send, token, user};

fn all_shards() -> Vec<u16> {
    (0..SHARDS).collect()
}

fn web_push(user_id: UserId, session: u8, endpoint: &str, keys: &str) -> NewPushSubscription {
    NewPushSubscription {
        user_id,
        session_hash: token(session),
        target: PushTarget::WebPush {
            endpoint: endpoint.to_owned(),
            p256dh: format!("{keys}-p256dh"),
            auth: format!("{keys}-auth"),
        },
        now: at(0),
    }
}

pub fn webhook(user_id: UserId, session: u8, url: &str) -> NewPushSubscription {
    NewPushSubscription {
        user_id,
        session_hash: token(session),
        target: PushTarget::Webhook {
            url: url.to_owned(),
            secret: "the-secret".to_owned(),
        },
        now: at(0),
    }
}

pub async fn subscribe(store: &dyn Store, new: NewPushSubscription) -> PushSubscription {
    store
        .add_subscription(new, 20)
        .await
        .expect("add_subscription")
}

fn pending(user_id: UserId, message: &Message, due_at: Millis) -> Pending {
    Pending {
        user_id,
        conversation_id: message.conversation_id,
        message_id: message.id,
        thread_root_id: message.thread_root_id,
        sent_at: message.created_at,
        due_at,
        read: false,
    }
}

fn delivery(
    user_id: UserId,
    conversation_id: ConversationId,
    message: Option<MessageId>,
) -> NewDelivery {
    let id = match message {
        Some(m) => format!("m{}-u{}", m.0, user_id.0),
        None => format!("clear-{}-{}", user_id.0, conversation_id.0),
    };
    NewDelivery {
        user_id,
        conversation_id,
        message_id: message,
        notification_id: id.clone(),
        payload: format!("{{\"id\":\"{id}\"}}"),
        topic: format!("parley-c{}", conversation_id.0),
        urgency: if message.is_some() { "high" } else { "normal" },
        sent_at: at(0),
    }
}

/// Holds every shard for `node` until `at(1_000_000)`.
async fn hold_all(store: &dyn Store, node: &str) -> Vec<(u16, Cursor)> {
    store
        .hold_shards(node, at(0), at(1_000_000), SHARDS as usize)
        .await
        .expect("hold_shards")
}

async fn send_mentioning(
    store: &dyn Store,
    conversation_id: ConversationId,
    author: UserId,
    mentions: &Mentions,
) -> Message {
    let sent = store
        .queue_message(NewMessage {
            conversation_id,
            author_id: author,
            text: "hello",
            nonce: None,
            mentions,
            thread_root_id: None,
            also_to_conversation: false,
            quote: None,
            attachments: &[],
            now: at(5),
        })
        .await
        .expect("queue_message");
    match sent {
        Sent::Stored(message, _) => message,
        Sent::Duplicate(message) => panic!("not a duplicate: {message:?}"),
    }
}

pub async fn subscriptions_are_replaced_limited_and_owned(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;

    let first = subscribe(store, web_push(ada.id, 1, "https://push.example/a", "one")).await;
    assert_eq!(first.user_id, ada.id);
    assert_eq!(first.session_hash, token(1));
    // The same browser subscribing again (from another session, with new keys) replaces it.
    let mut again = web_push(ada.id, 2, "https://push.example/a", "two");
    again.now = at(7);
    let replaced = subscribe(store, again).await;
    assert_eq!(
        replaced.id, first.id,
        "a replaced subscription keeps its id"
    );
    assert_eq!(replaced.session_hash, token(2));
    assert_eq!(replaced.created_at, at(7));
    assert_eq!(
        replaced.target,
        PushTarget::WebPush {
            endpoint: "https://push.example/a".to_owned(),
            p256dh: "two-p256dh".to_owned(),
            auth: "two-auth".to_owned(),
        }
    );
    let hook = store
        .add_subscription(webhook(ada.id, 1, "https://hooks.example/ada"), 2)
        .await
        .expect("a second subscription is within a limit of two");
    assert_eq!(
        hook.target,
        PushTarget::Webhook {
            url: "https://hooks.example/ada".to_owned(),
            secret: "the-secret".to_owned(),
        }
    );
    let refused = store
        .add_subscription(web_push(ada.id, 1, "https://push.example/b", "three"), 2)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict("subscriptions"))),
        "a third is past the limit: {refused:?}"
    );
    // Replacing one at the limit is no new one.
    store
        .add_subscription(web_push(ada.id, 1, "https://push.example/a", "four"), 2)
        .await
        .expect("a replacement at the limit");
    // Another user's limit is their own, and the same endpoint is theirs separately.
    let bobs = subscribe(store, web_push(bob.id, 3, "https://push.example/a", "bob")).await;
    assert_ne!(bobs.id, first.id);

    let ids = |list: Vec<PushSubscription>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .subscriptions_of(ada.id)
            .await
            .expect("subscriptions_of")),
        vec![first.id, hook.id]
    );
    assert!(
        !store
            .delete_subscription(bob.id, first.id)
            .await
            .expect("delete_subscription"),
        "another user's subscription is not deleted"
    );
    assert!(
        !store
            .delete_subscription(ada.id, SubscriptionId(first.id.0 + 1_000))
            .await
            .expect("delete_subscription")
    );
    assert!(
        store
            .delete_subscription(ada.id, first.id)
            .await
            .expect("delete_subscription")
    );
    assert_eq!(
        ids(store
            .subscriptions_of(ada.id)
            .await
            .expect("subscriptions_of")),
        vec![hook.id]
    );
    assert_eq!(
        ids(store
            .subscriptions_of(bob.id)
            .await
            .expect("subscriptions_of")),
        vec![bobs.id]
    );
}

pub async fn quiet_hours_and_previews_are_kept(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    assert_eq!(store.quiet_hours(ada.id).await.expect("quiet_hours"), None);
    let hours = QuietHours {
        start: 22 * 60,
        end: 7 * 60 + 30,
        time_zone: "Europe/Paris".to_owned(),
    };
    store
        .set_quiet_hours(ada.id, Some(hours.clone()))
        .await
        .expect("set_quiet_hours");
    assert_eq!(
        store.quiet_hours(ada.id).await.expect("quiet_hours"),
        Some(hours)
    );
    store
        .set_quiet_hours(ada.id, None)
        .await
        .expect("set_quiet_hours");
    assert_eq!(store.quiet_hours(ada.id).await.expect("quiet_hours"), None);

    assert!(
        store
            .push_previews(ada.org_id)
            .await
            .expect("push_previews")
    );
    store
        .set_push_previews(&ada.org_handle, false)
        .await
        .expect("set_push_previews");
    assert!(
        !store
            .push_previews(ada.org_id)
            .await
            .expect("push_previews")
    );
    assert!(
        store
            .push_previews(OrgId(ada.org_id.0 + 1_000))
            .await
            .expect("push_previews"),
        "an unknown organization previews"
    );
}

pub async fn shards_are_shared_and_taken_over_after_the_lease(store: &dyn Store) {
    let shards = |held: &[(u16, Cursor)]| held.iter().map(|&(s, _)| s).collect::<Vec<_>>();
    let half = usize::from(SHARDS / 2);
    let (now, until) = (at(0), at(10_000));

    let a = store
        .hold_shards("node-a", now, until, SHARDS as usize)
        .await
        .expect("hold_shards");
    assert_eq!(shards(&a), all_shards(), "a lone node takes every shard");
    assert!(a.iter().all(|&(_, cursor)| cursor == Cursor(0)));
    let b = store
        .hold_shards("node-b", now, until, half)
        .await
        .expect("hold_shards");
    assert_eq!(shards(&b), Vec::<u16>::new(), "held shards are not taken");
    // The first node lets go of those beyond its fair share, the highest first; the second takes them.
    let a = store
        .hold_shards("node-a", at(1), until, half)
        .await
        .expect("hold_shards");
    assert_eq!(shards(&a), (0..SHARDS / 2).collect::<Vec<_>>());
    let b = store
        .hold_shards("node-b", at(1), until, half)
        .await
        .expect("hold_shards");
    assert_eq!(shards(&b), (SHARDS / 2..SHARDS).collect::<Vec<_>>());
    // Renewing keeps them, and asking for more finds none free.
    let a = store
        .hold_shards("node-a", at(2), at(20_000), SHARDS as usize)
        .await
        .expect("hold_shards");
    assert_eq!(shards(&a), (0..SHARDS / 2).collect::<Vec<_>>());

    // Node b stops renewing: once its lease lapses, a takes its shards.
    let a = store
        .hold_shards("node-a", at(15_000), at(30_000), SHARDS as usize)
        .await
        .expect("hold_shards");
    assert_eq!(shards(&a), all_shards(), "lapsed shards are taken over");
    let b = store
        .hold_shards("node-b", at(15_000), at(30_000), half)
        .await
        .expect("hold_shards");
    assert_eq!(
        shards(&b),
        Vec::<u16>::new(),
        "a node that lost its shards holds none"
    );
    // A node that stopped as it should (want 0) lets go at once.
    let a = store
        .hold_shards("node-a", at(16_000), at(30_000), 0)
        .await
        .expect("hold_shards");
    assert_eq!(a, Vec::new());
    let b = store
        .hold_shards("node-b", at(16_000), at(30_000), SHARDS as usize)
        .await
        .expect("hold_shards");
    assert_eq!(shards(&b), all_shards());
}

pub async fn log_after_lists_sends_and_reads(store: &dyn Store) {
    let (entries, upto) = store.log_after(Cursor(0), 100).await.expect("log_after");
    assert_eq!((entries, upto), (Vec::new(), Cursor(0)));

    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let start = store.latest_cursor().await.expect("latest_cursor");
    let (entries, upto) = store.log_after(Cursor(0), 100).await.expect("log_after");
    assert_eq!(entries, Vec::new(), "creation and joins are not acted on");
    assert_eq!(upto, start, "the scan covered the whole log");

    // Nobody has a subscription: a send concerns nobody, but the scan covers it.
    send(store, group.id, &bob, "zero").await;
    let start = store.latest_cursor().await.expect("latest_cursor");
    let (entries, upto) = store.log_after(Cursor(0), 100).await.expect("log_after");
    assert_eq!((entries, upto), (Vec::new(), start));

    subscribe(store, web_push(ada.id, 1, "https://push.example/ada", "k")).await;
    let first = send(store, group.id, &bob, "one").await;
    // Only Ada, its author, has a subscription: nobody else to tell.
    let second = send(store, group.id, &ada, "two").await;
    store
        .advance_read(group.id, ada.id, first.id, Audience::Members)
        .await
        .expect("advance_read");
    let quiet = store.latest_cursor().await.expect("latest_cursor");
    // Ada's read, with no notification showing: nothing to clear, so not listed.
    let (entries, _) = store.log_after(start, 100).await.expect("log_after");
    assert!(
        matches!(entries[..], [LogEntry::Sent { message_id, .. }] if message_id == first.id),
        "Bob's send only: {entries:?}"
    );
    let shards = all_shards();
    hold_all(store, "node-a").await;
    let shown = Decided {
        deliveries: vec![delivery(ada.id, group.id, Some(first.id))],
        ..Decided::default()
    };
    assert!(
        store
            .dispatch("node-a", &shards, &shown, at(1))
            .await
            .expect("dispatch")
    );
    // A notification shows now: her reads are acted on (judged as the log is read).
    store
        .advance_read(group.id, ada.id, second.id, Audience::Members)
        .await
        .expect("advance_read");
    let end = store.latest_cursor().await.expect("latest_cursor");

    let (entries, upto) = store.log_after(quiet, 100).await.expect("log_after");
    assert_eq!(upto, end);
    let [
        LogEntry::Read {
            cursor,
            user_id,
            conversation_id,
            message_id,
        },
    ] = entries[..]
    else {
        panic!("Ada's second read: {entries:?}");
    };
    assert!(quiet < cursor && cursor <= end);
    assert_eq!(
        (user_id, conversation_id, message_id),
        (ada.id, group.id, second.id)
    );

    // Stopped at the limit: it covered up to its last entry.
    let (entries, upto) = store.log_after(start, 1).await.expect("log_after");
    assert!(matches!(entries[..], [LogEntry::Sent { .. }]));
    let c1 = upto;
    assert!(start < c1 && c1 < quiet);
    let (entries, upto) = store.log_after(c1, 5).await.expect("log_after");
    assert_eq!(entries.len(), 2, "both reads: {entries:?}");
    assert_eq!(upto, end);
    let (entries, upto) = store.log_after(end, 2).await.expect("log_after");
    assert_eq!((entries, upto), (Vec::new(), end));
}

pub async fn sent_message_names_who_might_be_told(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let cy = user(store, "acme", "cy").await;
    let dee = user(store, "acme", "dee").await;
    // Eve has no subscription: never a candidate, whatever the message.
    let eve = user(store, "acme", "eve").await;
    for (n, who) in [&ada, &bob, &cy, &dee].into_iter().enumerate() {
        subscribe(
            store,
            web_push(who.id, 1, &format!("https://push.example/{n}"), "k"),
        )
        .await;
    }
    let talk = channel(store, &ada, "talk", "Talk", false).await;
    store
        .add_members(talk.id, &[bob.id, cy.id, dee.id, eve.id], false, at(1))
        .await
        .expect("add_members");
    store
        .update_membership(
            talk.id,
            dee.id,
            parley_core::proto::v1::MembershipPatch {
                muted: Some(true),
                notify_always: Some(true),
            },
        )
        .await
        .expect("update_membership");
    let candidates = |message: &parley_core::store::SentMessage| {
        message
            .candidates
            .iter()
            .map(|c| c.user_id)
            .collect::<Vec<_>>()
    };

    // In a channel: the mentioned and those who asked for everything.
    let mention = Mentions {
        user_ids: vec![bob.id],
        ..Default::default()
    };
    let message = send_mentioning(store, talk.id, ada.id, &mention).await;
    let sent = store
        .sent_message(message.id, &all_shards())
        .await
        .expect("sent_message")
        .expect("the message is there");
    assert_eq!(sent.message_id, message.id);
    assert_eq!(sent.conversation_id, talk.id);
    assert_eq!(sent.org_id, ada.org_id);
    assert_eq!(sent.kind, ConversationKind::Channel);
    assert_eq!(sent.author_id, ada.id);
    assert_eq!(sent.created_at, at(5));
    assert_eq!(sent.mentioned, vec![bob.id]);
    assert!(!sent.mention_channel && !sent.mention_here);
    assert_eq!(sent.thread_root_id, None);
    assert_eq!(candidates(&sent), vec![bob.id, dee.id]);
    let dee_is = sent.candidates[1];
    assert!(dee_is.muted && dee_is.notify_always && !dee_is.read && !dee_is.follows_thread);
    // Only the users of the shards asked for.
    let sent = store
        .sent_message(message.id, &[shard_of(dee.id)])
        .await
        .expect("sent_message")
        .expect("the message is there");
    assert_eq!(candidates(&sent), vec![dee.id]);

    // @channel: every member with a subscription, the author included (the rules leave them out).
    let everyone = Mentions {
        channel: true,
        ..Default::default()
    };
    let message = send_mentioning(store, talk.id, bob.id, &everyone).await;
    store
        .advance_read(talk.id, cy.id, message.id, Audience::Members)
        .await
        .expect("advance_read");
    let sent = store
        .sent_message(message.id, &all_shards())
        .await
        .expect("sent_message")
        .expect("the message is there");
    assert!(sent.mention_channel);
    assert_eq!(candidates(&sent), vec![ada.id, bob.id, cy.id, dee.id]);
    let cy_is = sent.candidates.iter().find(|c| c.user_id == cy.id);
    assert!(cy_is.is_some_and(|c| c.read), "cy read up to it");

    // A group: every member.
    let group = group(store, &ada, &[&bob]).await;
    let message = send(store, group.id, &ada, "hi").await;
    let sent = store
        .sent_message(message.id, &all_shards())
        .await
        .expect("sent_message")
        .expect("the message is there");
    assert_eq!(sent.kind, ConversationKind::Group);
    assert_eq!(candidates(&sent), vec![ada.id, bob.id]);

    store
        .erase_message(group.id, message.id, false)
        .await
        .expect("erase_message");
    assert!(
        store
            .sent_message(message.id, &all_shards())
            .await
            .expect("sent_message")
            .is_none(),
        "an erased message is gone"
    );
    assert!(
        store
            .sent_message(MessageId(message.id.0 + 1_000), &all_shards())
            .await
            .expect("sent_message")
            .is_none()
    );
}

pub async fn decide_records_pending_and_is_fenced(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let web = subscribe(store, web_push(ada.id, 1, "https://push.example/a", "k")).await;
    let hook = subscribe(store, webhook(ada.id, 1, "https://hooks.example/a")).await;
    let m1 = send(store, group.id, &bob, "one").await;
    let m2 = send(store, group.id, &bob, "two").await;
    let shards = all_shards();
    hold_all(store, "node-a").await;

    let end = store.latest_cursor().await.expect("latest_cursor");
    let decided = store
        .decide(
            "node-a",
            &shards,
            end,
            &[pending(ada.id, &m1, at(100)), pending(ada.id, &m2, at(200))],
            &[],
            &[],
            at(10),
        )
        .await
        .expect("decide");
    assert!(decided);
    let held = hold_all(store, "node-a").await;
    assert!(held.iter().all(|&(_, cursor)| cursor == end), "{held:?}");
    // Recording the same again changes nothing.
    assert!(
        store
            .decide(
                "node-a",
                &shards,
                end,
                &[pending(ada.id, &m1, at(999))],
                &[],
                &[],
                at(10)
            )
            .await
            .expect("decide")
    );

    // Nothing before the first is due; then the conversation's later one goes with it.
    assert!(
        store
            .due(&shards, at(99), 10)
            .await
            .expect("due")
            .is_empty()
    );
    let due = store.due(&shards, at(150), 10).await.expect("due");
    assert_eq!(
        due,
        vec![pending(ada.id, &m1, at(100)), pending(ada.id, &m2, at(200))]
    );
    // The limit counts conversations, not notifications.
    assert_eq!(
        store.due(&shards, at(1_000), 1).await.expect("due").len(),
        2
    );
    let others: Vec<u16> = shards
        .iter()
        .copied()
        .filter(|&s| s != shard_of(ada.id))
        .collect();
    assert_eq!(
        store.due(&others, at(1_000), 10).await.expect("due"),
        vec![]
    );

    // A read drops what it covers, and a clear goes to every subscription of the reader.
    assert!(
        store
            .decide(
                "node-a",
                &shards,
                end,
                &[],
                &[(ada.id, group.id, m1.id)],
                &[delivery(ada.id, group.id, None)],
                at(20),
            )
            .await
            .expect("decide")
    );
    let due = store.due(&shards, at(1_000), 10).await.expect("due");
    assert_eq!(due, vec![pending(ada.id, &m2, at(200))]);
    let deliveries = store
        .deliveries_due(&shards, at(20), 10)
        .await
        .expect("deliveries_due");
    let clear = format!("clear-{}-{}", ada.id.0, group.id.0);
    assert_eq!(
        deliveries
            .iter()
            .map(|d| (
                d.subscription.id,
                d.notification_id.as_str(),
                d.attempts,
                d.first_at
            ))
            .collect::<Vec<_>>(),
        vec![
            (web.id, clear.as_str(), 0, at(20)),
            (hook.id, clear.as_str(), 0, at(20))
        ]
    );
    assert_eq!(deliveries[1].subscription, hook);
    assert_eq!(deliveries[0].urgency, "normal");

    // Node b takes the shards over once a's lease lapses: a's writes are refused and change nothing.
    let taken = store
        .hold_shards("node-b", at(2_000_000), at(3_000_000), SHARDS as usize)
        .await
        .expect("hold_shards");
    assert_eq!(taken.len(), usize::from(SHARDS));
    let m3 = send(store, group.id, &bob, "three").await;
    let later = store.latest_cursor().await.expect("latest_cursor");
    let refused = store
        .decide(
            "node-a",
            &shards,
            later,
            &[pending(ada.id, &m3, at(300))],
            &[(ada.id, group.id, m2.id)],
            &[delivery(ada.id, group.id, None)],
            at(2_000_001),
        )
        .await
        .expect("decide");
    assert!(!refused, "a node that lost its shards is fenced off");
    let due = store.due(&shards, at(1_000), 10).await.expect("due");
    assert_eq!(due, vec![pending(ada.id, &m2, at(200))]);
    assert_eq!(
        store
            .deliveries_due(&shards, at(2_000_001), 10)
            .await
            .expect("deliveries_due")
            .len(),
        2
    );
    let held = store
        .hold_shards("node-b", at(2_000_001), at(3_000_000), SHARDS as usize)
        .await
        .expect("hold_shards");
    assert!(held.iter().all(|&(_, cursor)| cursor == end), "{held:?}");
    // Holding some of the shards is not enough either.
    let dispatch = store
        .dispatch(
            "node-a",
            &[shard_of(ada.id)],
            &Decided {
                done: vec![(ada.id, m2.id)],
                ..Default::default()
            },
            at(2_000_002),
        )
        .await
        .expect("dispatch");
    assert!(!dispatch);
    assert_eq!(
        store.due(&shards, at(1_000), 10).await.expect("due").len(),
        1
    );
    // The new holder moves on.
    assert!(
        store
            .decide("node-b", &shards, later, &[], &[], &[], at(2_000_002))
            .await
            .expect("decide")
    );
}

pub async fn dispatch_queues_deliveries_that_settle(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let web = subscribe(store, web_push(ada.id, 1, "https://push.example/a", "k")).await;
    let hook = subscribe(store, webhook(ada.id, 1, "https://hooks.example/a")).await;
    let m1 = send(store, group.id, &bob, "one").await;
    let m2 = send(store, group.id, &bob, "two").await;
    let m3 = send(store, group.id, &bob, "three").await;
    let shards = all_shards();
    let end = store.latest_cursor().await.expect("latest_cursor");
    hold_all(store, "node-a").await;
    let all = [
        pending(ada.id, &m1, at(100)),
        pending(ada.id, &m2, at(100)),
        pending(ada.id, &m3, at(100)),
        pending(bob.id, &m3, at(100)),
    ];
    assert!(
        store
            .decide("node-a", &shards, end, &all, &[], &[], at(10))
            .await
            .expect("decide")
    );
    // Reads are taken as they are when due is asked.
    store
        .advance_read(group.id, ada.id, m1.id, Audience::Members)
        .await
        .expect("advance_read");
    let due = store.due(&shards, at(100), 10).await.expect("due");
    let read: Vec<(UserId, MessageId, bool)> = due
        .iter()
        .map(|p| (p.user_id, p.message_id, p.read))
        .collect();
    assert_eq!(
        read,
        vec![
            (ada.id, m1.id, true),
            (ada.id, m2.id, false),
            (ada.id, m3.id, false),
            (bob.id, m3.id, false),
        ]
    );
    assert!(!store.shown(ada.id, group.id).await.expect("shown"));

    let decided = Decided {
        done: vec![(ada.id, m1.id), (ada.id, m2.id), (bob.id, m3.id)],
        held: vec![(ada.id, m3.id, at(5_000))],
        deliveries: vec![delivery(ada.id, group.id, Some(m2.id))],
    };
    assert!(
        store
            .dispatch("node-a", &shards, &decided, at(100))
            .await
            .expect("dispatch")
    );
    assert!(store.shown(ada.id, group.id).await.expect("shown"));
    assert!(!store.shown(bob.id, group.id).await.expect("shown"));
    assert_eq!(
        store.due(&shards, at(4_999), 10).await.expect("due"),
        vec![]
    );
    let held = store.due(&shards, at(5_000), 10).await.expect("due");
    assert_eq!(
        held.iter()
            .map(|p| (p.message_id, p.due_at))
            .collect::<Vec<_>>(),
        vec![(m3.id, at(5_000))]
    );

    let deliveries = store
        .deliveries_due(&shards, at(100), 10)
        .await
        .expect("deliveries_due");
    assert_eq!(deliveries.len(), 2, "one per subscription: {deliveries:?}");
    assert_eq!(deliveries[0].subscription, web);
    assert_eq!(deliveries[1].subscription, hook);
    let first = &deliveries[0];
    let expected = delivery(ada.id, group.id, Some(m2.id));
    assert_eq!(first.notification_id, expected.notification_id);
    assert_eq!(first.payload, expected.payload);
    assert_eq!(first.topic, expected.topic);
    assert_eq!(first.urgency, "high");
    assert_eq!(
        (first.sent_at, first.first_at, first.attempts),
        (at(0), at(100), 0)
    );
    assert_eq!(
        store
            .deliveries_due(&shards, at(99), 10)
            .await
            .expect("deliveries_due")
            .len(),
        0
    );
    assert_eq!(
        store
            .deliveries_due(&[shard_of(bob.id)], at(100), 10)
            .await
            .expect("deliveries_due")
            .len(),
        0
    );

    // Retried: not due until its time, one attempt more.
    store
        .settle(first, &Outcome::Retry { at: at(400) }, at(101))
        .await
        .expect("settle");
    let due = store
        .deliveries_due(&shards, at(399), 10)
        .await
        .expect("deliveries_due");
    assert_eq!(
        due.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![deliveries[1].id]
    );
    let due = store
        .deliveries_due(&shards, at(400), 10)
        .await
        .expect("deliveries_due");
    assert_eq!(
        due.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![deliveries[1].id, first.id]
    );
    assert_eq!(due[1].attempts, 1);
    // Delivered: forgotten.
    store
        .settle(&due[0], &Outcome::Delivered, at(401))
        .await
        .expect("settle");
    // Failed: forgotten too (and recorded for the operator).
    let reason = "refused".to_owned();
    store
        .settle(&due[1], &Outcome::Failed { reason }, at(402))
        .await
        .expect("settle");
    assert_eq!(
        store
            .deliveries_due(&shards, at(10_000), 10)
            .await
            .expect("deliveries_due")
            .len(),
        0
    );
    assert_eq!(
        store
            .subscriptions_of(ada.id)
            .await
            .expect("subscriptions_of")
            .len(),
        2
    );

    // Gone: the subscription goes, with every delivery queued for it.
    let m4 = send(store, group.id, &bob, "four").await;
    let decided = Decided {
        deliveries: vec![
            delivery(ada.id, group.id, Some(m3.id)),
            delivery(ada.id, group.id, Some(m4.id)),
        ],
        ..Default::default()
    };
    assert!(
        store
            .dispatch("node-a", &shards, &decided, at(500))
            .await
            .expect("dispatch")
    );
    let due = store
        .deliveries_due(&shards, at(500), 10)
        .await
        .expect("deliveries_due");
    assert_eq!(due.len(), 4);
    let to_web = due
        .iter()
        .find(|d| d.subscription.id == web.id)
        .expect("one to web");
    store
        .settle(to_web, &Outcome::Gone, at(501))
        .await
        .expect("settle");
    let due = store
        .deliveries_due(&shards, at(500), 10)
        .await
        .expect("deliveries_due");
    assert_eq!(
        due.iter().map(|d| d.subscription.id).collect::<Vec<_>>(),
        vec![hook.id, hook.id]
    );
    assert_eq!(
        store
            .subscriptions_of(ada.id)
            .await
            .expect("subscriptions_of"),
        vec![hook]
    );
}

pub async fn ending_sessions_removes_their_subscriptions(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    for (user, seed, created) in [(&ada, 1, 0), (&ada, 2, 0), (&ada, 3, 500), (&bob, 4, 500)] {
        store
            .create_session(user.id, token(seed), None, at(created))
            .await
            .expect("create_session");
    }
    let one = subscribe(store, web_push(ada.id, 1, "https://push.example/1", "k")).await;
    let two = subscribe(store, web_push(ada.id, 2, "https://push.example/2", "k")).await;
    let three = subscribe(store, webhook(ada.id, 3, "https://hooks.example/3")).await;
    let bobs = subscribe(store, webhook(bob.id, 4, "https://hooks.example/4")).await;
    let message = send(store, group.id, &bob, "hi").await;
    let shards = all_shards();
    hold_all(store, "node-a").await;
    let decided = Decided {
        deliveries: vec![
            delivery(ada.id, group.id, Some(message.id)),
            delivery(bob.id, group.id, None),
        ],
        ..Default::default()
    };
    assert!(
        store
            .dispatch("node-a", &shards, &decided, at(10))
            .await
            .expect("dispatch")
    );
    let subscriptions_due = async || {
        let mut ids: Vec<SubscriptionId> = store
            .deliveries_due(&shards, at(10), 100)
            .await
            .expect("deliveries_due")
            .into_iter()
            .map(|d| d.subscription.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        subscriptions_due().await,
        vec![one.id, two.id, three.id, bobs.id]
    );

    store
        .delete_session(token(1))
        .await
        .expect("delete_session");
    let ids = async |user: UserId| {
        store
            .subscriptions_of(user)
            .await
            .expect("subscriptions_of")
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(ada.id).await, vec![two.id, three.id]);
    assert_eq!(subscriptions_due().await, vec![two.id, three.id, bobs.id]);

    // Sessions created before at(100): ada's second.
    let pruned = store
        .prune_sessions(at(-1), at(100))
        .await
        .expect("prune_sessions");
    assert_eq!(pruned, 1);
    assert_eq!(ids(ada.id).await, vec![three.id]);
    assert_eq!(subscriptions_due().await, vec![three.id, bobs.id]);

    let ended = store
        .delete_sessions_of(ada.id)
        .await
        .expect("delete_sessions_of");
    assert_eq!(ended, 1);
    assert_eq!(ids(ada.id).await, Vec::new());
    assert_eq!(ids(bob.id).await, vec![bobs.id]);
    assert_eq!(subscriptions_due().await, vec![bobs.id]);
}

pub async fn erasing_a_message_drops_its_notifications(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    subscribe(store, web_push(ada.id, 1, "https://push.example/a", "k")).await;
    let kept = send(store, group.id, &bob, "kept").await;
    let erased = send(store, group.id, &bob, "secret").await;
    let shards = all_shards();
    let end = store.latest_cursor().await.expect("latest_cursor");
    hold_all(store, "node-a").await;
    let waiting = [
        pending(ada.id, &kept, at(100)),
        pending(ada.id, &erased, at(100)),
    ];
    assert!(
        store
            .decide("node-a", &shards, end, &waiting, &[], &[], at(10))
            .await
            .expect("decide")
    );
    let decided = Decided {
        deliveries: vec![
            delivery(ada.id, group.id, Some(kept.id)),
            delivery(ada.id, group.id, Some(erased.id)),
        ],
        ..Default::default()
    };
    assert!(
        store
            .dispatch("node-a", &shards, &decided, at(10))
            .await
            .expect("dispatch")
    );
    assert_eq!(
        store
            .deliveries_due(&shards, at(10), 10)
            .await
            .expect("deliveries_due")
            .len(),
        2
    );

    store
        .erase_message(group.id, erased.id, false)
        .await
        .expect("erase_message");
    let due = store.due(&shards, at(100), 10).await.expect("due");
    assert_eq!(
        due.iter().map(|p| p.message_id).collect::<Vec<_>>(),
        vec![kept.id]
    );
    let deliveries = store
        .deliveries_due(&shards, at(10), 10)
        .await
        .expect("deliveries_due");
    assert_eq!(
        deliveries
            .iter()
            .map(|d| d.notification_id.clone())
            .collect::<Vec<_>>(),
        vec![delivery(ada.id, group.id, Some(kept.id)).notification_id]
    );
}

pub async fn badge_counts_unread_conversations_and_mentions(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    assert_eq!(store.badge(ada.id).await.expect("badge"), 0);
    let one = group(store, &ada, &[&bob]).await;
    let two = group(store, &bob, &[&ada]).await;
    let talk = channel(store, &bob, "talk", "Talk", false).await;
    store
        .add_members(talk.id, &[ada.id], false, at(1))
        .await
        .expect("add_members");

    // Two unread messages in one group count once; her own message counts for nothing.
    send(store, one.id, &bob, "a").await;
    let last = send(store, one.id, &bob, "b").await;
    send(store, two.id, &ada, "mine").await;
    assert_eq!(store.badge(ada.id).await.expect("badge"), 1);
    // A channel message counts only when it mentions her (or everyone).
    send(store, talk.id, &bob, "chatter").await;
    assert_eq!(store.badge(ada.id).await.expect("badge"), 1);
    let mention = Mentions {
        user_ids: vec![ada.id],
        ..Default::default()
    };
    send_mentioning(store, talk.id, bob.id, &mention).await;
    let everyone = Mentions {
        here: true,
        ..Default::default()
    };
    let here = send_mentioning(store, talk.id, bob.id, &everyone).await;
    assert_eq!(store.badge(ada.id).await.expect("badge"), 3);
    store
        .advance_read(one.id, ada.id, last.id, Audience::Members)
        .await
        .expect("advance_read");
    store
        .advance_read(talk.id, ada.id, here.id, Audience::Members)
        .await
        .expect("advance_read");
    assert_eq!(store.badge(ada.id).await.expect("badge"), 0);
    assert_eq!(
        store.badge(bob.id).await.expect("badge"),
        1,
        "ada wrote in two"
    );
}

pub async fn wrote_since_finds_the_users_own_messages(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let other = super::group_at(store, &ada, &[&bob], "Other", at(0)).await;
    let first = send(store, group.id, &bob, "one").await;
    assert!(
        !store
            .wrote_since(ada.id, group.id, first.id)
            .await
            .expect("wrote_since")
    );
    send(store, other.id, &ada, "elsewhere").await;
    assert!(
        !store
            .wrote_since(ada.id, group.id, first.id)
            .await
            .expect("wrote_since")
    );
    let reply = send(store, group.id, &ada, "here").await;
    assert!(
        store
            .wrote_since(ada.id, group.id, first.id)
            .await
            .expect("wrote_since")
    );
    assert!(
        !store
            .wrote_since(ada.id, group.id, reply.id)
            .await
            .expect("wrote_since")
    );
    assert!(
        !store
            .wrote_since(bob.id, group.id, first.id)
            .await
            .expect("wrote_since")
    );
}

/// Moves every shard's cursor to `cursor`, as a notifier that has read the log that far.
pub async fn notifier_has_read_up_to(store: &dyn Store, cursor: Cursor) {
    hold_all(store, "reader").await;
    let moved = store
        .decide("reader", &all_shards(), cursor, &[], &[], &[], at(0))
        .await
        .expect("decide");
    assert!(moved, "the reader holds every shard");
}

pub async fn pruning_spares_what_the_notifier_has_yet_to_read(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let group = group(store, &ada, &[]).await;
    let first = super::send_event(store, group.id, &ada, "one", at(10))
        .await
        .1;
    let second = super::send_event(store, group.id, &ada, "two", at(20))
        .await
        .1;
    let third = super::send_event(store, group.id, &ada, "three", at(30))
        .await
        .1;
    assert_eq!(
        store.prune_events(at(1_000)).await.expect("prune_events"),
        0,
        "the notifier has read none of it"
    );
    // One shard behind the others holds the log back for all.
    notifier_has_read_up_to(store, second.cursor).await;
    let behind = [shard_of(ada.id)];
    assert!(
        store
            .decide("reader", &behind, first.cursor, &[], &[], &[], at(0))
            .await
            .expect("decide")
    );
    store.prune_events(at(1_000)).await.expect("prune_events");
    assert_eq!(
        store.oldest_cursor().await.expect("oldest_cursor"),
        second.cursor,
        "what the slowest shard has yet to read stays"
    );
    notifier_has_read_up_to(store, second.cursor).await;
    store.prune_events(at(1_000)).await.expect("prune_events");
    assert_eq!(
        store.oldest_cursor().await.expect("oldest_cursor"),
        third.cursor
    );
}

/// Nodes claiming at the same moment never hold the same shard.
pub async fn concurrent_claims_never_share_a_shard(store: std::sync::Arc<dyn Store>) {
    let claims: Vec<_> = (0..4)
        .map(|node| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                let name = format!("node-{node}");
                let mut held = Vec::new();
                for round in 0..10 {
                    held = store
                        .hold_shards(&name, at(round), at(1_000_000), usize::from(SHARDS / 4))
                        .await
                        .expect("hold_shards");
                }
                held
            })
        })
        .collect();
    let mut taken = Vec::new();
    for claim in claims {
        taken.extend(claim.await.expect("a claim").into_iter().map(|(s, _)| s));
    }
    let count = taken.len();
    taken.sort_unstable();
    taken.dedup();
    assert_eq!(taken.len(), count, "a shard held twice");
    assert_eq!(
        taken,
        all_shards(),
        "four nodes asking for a quarter each take all"
    );
}
