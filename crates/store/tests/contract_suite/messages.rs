//! Messages: sending (with nonces, also concurrently), history pages, per-user hiding, reactions, read marks,
//! deleting for everyone, and full-text search.

use std::collections::BTreeSet;
use std::sync::Arc;

use parley_core::model::{Audience, EventKind, Message, Page};
use parley_core::proto::v1::Mentions;
use parley_core::store::{NewMessage, NewUser, OrgPolicy, Queued, Sent, Store, StoreError};
use parley_core::{ConversationId, MessageId, UserId};

use super::{at, group, ids, send, send_at, send_event, sorted, user};

/// Sends with a nonce and returns the store's answer.
async fn send_nonce(
    store: &dyn Store,
    conversation_id: ConversationId,
    author_id: UserId,
    text: &str,
    nonce: &str,
) -> Sent {
    queue_nonce(store, conversation_id, author_id, text, nonce)
        .await
        .expect("queue_message")
}

/// Queues a send with a nonce: the store's answer comes once it is durable.
fn queue_nonce(
    store: &dyn Store,
    conversation_id: ConversationId,
    author_id: UserId,
    text: &str,
    nonce: &str,
) -> Queued<Sent> {
    store.queue_message(NewMessage {
        conversation_id,
        author_id,
        text,
        mentions: &Default::default(),
        thread_root_id: None,
        also_to_conversation: false,
        quote: None,
        attachments: &[],
        nonce: Some(nonce),
        now: at(1),
    })
}

/// Reactions as (emoji, sorted user ids), sorted by emoji: the grouping without the order.
fn reactions(message: &Message) -> Vec<(String, Vec<UserId>)> {
    sorted(
        message
            .reactions
            .iter()
            .map(|r| (r.emoji.clone(), sorted(r.user_ids.clone())))
            .collect(),
    )
}

async fn page(
    store: &dyn Store,
    conversation_id: ConversationId,
    viewer: UserId,
    page: Page,
) -> Vec<i64> {
    let messages = store
        .messages(conversation_id, viewer, page)
        .await
        .unwrap_or_else(|e| panic!("messages({page:?}): {e:?}"));
    for pair in messages.windows(2) {
        assert!(pair[0].id < pair[1].id, "oldest first: {page:?}");
    }
    ids(&messages)
}

async fn search_ids(
    store: &dyn Store,
    viewer: UserId,
    query: &str,
    conversation_id: Option<ConversationId>,
) -> Vec<i64> {
    let found = store
        .search_messages(viewer, query, conversation_id, 50)
        .await
        .unwrap_or_else(|e| panic!("search_messages({query:?}): {e:?}"));
    ids(&found)
}

/// A stored message comes back as sent, with a `message.created` event at a new, larger cursor.
pub async fn queue_message_stores_it_with_an_event(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let other = super::group(store, &bob, &[]).await;
    let before = store.latest_cursor().await.expect("latest_cursor");

    let sent = store
        .queue_message(NewMessage {
            conversation_id: group.id,
            author_id: ada.id,
            text: "hello, world",
            mentions: &Default::default(),
            thread_root_id: None,
            also_to_conversation: false,
            quote: None,
            attachments: &[],
            nonce: Some("n-1"),
            now: at(42),
        })
        .await
        .expect("queue_message");
    let Sent::Stored(first, mut events) = sent else {
        panic!("a new nonce is stored: {sent:?}");
    };
    assert_eq!(events.len(), 1, "a plain message commits one event");
    let event = events.remove(0);
    assert_eq!(first.conversation_id, group.id);
    assert_eq!(first.author_id, ada.id);
    assert_eq!(first.text.as_deref(), Some("hello, world"));
    assert_eq!(first.nonce.as_deref(), Some("n-1"));
    assert_eq!(first.created_at, at(42));
    assert!(!first.deleted);
    assert!(first.reactions.is_empty());
    assert_eq!(event.conversation_id, group.id);
    assert_eq!(event.kind, EventKind::MessageCreated(first.clone()));
    assert_eq!(event.audience, Audience::Members);
    assert_eq!(event.at, at(42), "committed at the time of the write");
    assert!(event.cursor > before);
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        event.cursor
    );
    assert_eq!(
        store.message(group.id, first.id).await.expect("message"),
        Some(first.clone())
    );
    assert_eq!(
        store.message(other.id, first.id).await.expect("message"),
        None,
        "a message belongs to its conversation"
    );

    let (second, second_event) = send_event(store, group.id, &bob, "hi ada", at(43)).await;
    assert!(second.id > first.id);
    assert!(second_event.cursor > event.cursor);
    assert_eq!(second.nonce, None);
    assert_eq!(
        page(store, group.id, ada.id, Page::Latest { limit: 10 }).await,
        vec![first.id.0, second.id.0]
    );
}

/// A retried send (same author, conversation and nonce) answers the first message and stores nothing.
pub async fn same_nonce_is_stored_once(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let other = super::group(store, &ada, &[]).await;

    let Sent::Stored(first, _) = send_nonce(store, group.id, ada.id, "once", "n-1").await else {
        panic!("the first send is stored");
    };
    let cursor = store.latest_cursor().await.expect("latest_cursor");

    let retried = send_nonce(store, group.id, ada.id, "once, retried", "n-1").await;
    match retried {
        Sent::Duplicate(message) => assert_eq!(message, first, "the first message, as stored"),
        Sent::Stored(..) => panic!("a retry stored a second message: {retried:?}"),
    }
    assert_eq!(
        store.latest_cursor().await.expect("latest_cursor"),
        cursor,
        "a duplicate has no event"
    );
    assert_eq!(
        page(store, group.id, ada.id, Page::Latest { limit: 10 }).await,
        vec![first.id.0]
    );

    let Sent::Stored(bobs, _) = send_nonce(store, group.id, bob.id, "bob's", "n-1").await else {
        panic!("another author's nonce is theirs");
    };
    assert_ne!(bobs.id, first.id);
    let Sent::Stored(elsewhere, _) = send_nonce(store, other.id, ada.id, "elsewhere", "n-1").await
    else {
        panic!("a nonce is per conversation");
    };
    assert_ne!(elsewhere.id, first.id);

    // Without a nonce, every send is new.
    let plain_1 = send(store, group.id, &ada, "same text").await;
    let plain_2 = send(store, group.id, &ada, "same text").await;
    assert_ne!(plain_1.id, plain_2.id);
    assert_eq!(
        page(store, group.id, ada.id, Page::Latest { limit: 10 }).await,
        vec![first.id.0, bobs.id.0, plain_1.id.0, plain_2.id.0]
    );

    // Erased, the message still holds its nonce: a late retry answers the tombstone.
    store
        .erase_message(group.id, first.id, false)
        .await
        .expect("erase_message");
    match send_nonce(store, group.id, ada.id, "once, retried late", "n-1").await {
        Sent::Duplicate(message) => {
            assert_eq!(message.id, first.id);
            assert!(message.deleted);
            assert_eq!(message.text, None);
        }
        stored @ Sent::Stored(..) => panic!("a late retry stored a new message: {stored:?}"),
    }
}

/// Messages queued one after another, none awaited before the next is queued, are stored in the order
/// queued, whichever answer is awaited first; one whose answer is dropped is stored all the same. Some
/// carry a mention, which a backend may store another way than plain text (another statement, not yet
/// prepared when the plain one is).
pub async fn messages_are_stored_in_the_order_queued(store: &dyn Store) {
    const QUEUED: usize = 40;
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    send(store, group.id, &ada, "a plain message first").await;
    let texts: Vec<String> = (0..QUEUED).map(|i| format!("message {i}")).collect();
    let (mention, none) = (
        Mentions {
            user_ids: vec![bob.id],
            ..Mentions::default()
        },
        Mentions::default(),
    );
    let mut answers = Vec::with_capacity(QUEUED);
    for (i, text) in texts.iter().enumerate() {
        let queued = store.queue_message(NewMessage {
            conversation_id: group.id,
            author_id: if i % 2 == 0 { ada.id } else { bob.id },
            text,
            mentions: if i % 5 == 3 { &mention } else { &none },
            thread_root_id: None,
            also_to_conversation: false,
            quote: None,
            attachments: &[],
            nonce: None,
            now: at(1),
        });
        answers.push(queued);
    }
    // The first answer is let go unread (its message is stored before the second answers); the rest are
    // awaited newest first.
    drop(answers.remove(0));
    let mut ids_answered = Vec::with_capacity(QUEUED);
    while let Some(answer) = answers.pop() {
        match answer.await.expect("queue_message") {
            Sent::Stored(message, _) => ids_answered.push(message.id.0),
            duplicate @ Sent::Duplicate(_) => panic!("no nonce, no duplicate: {duplicate:?}"),
        }
    }
    ids_answered.reverse();
    let history = store
        .messages(group.id, ada.id, Page::Latest { limit: 100 })
        .await
        .expect("messages");
    let stored_texts: Vec<&str> = history.iter().filter_map(|m| m.text.as_deref()).collect();
    assert_eq!(
        stored_texts[1..],
        texts,
        "every message, in the order queued"
    );
    assert_eq!(
        ids(&history)[2..],
        ids_answered[..],
        "each answer names its own message"
    );
}

/// Retries queued at once with other sends, some behind a send of their own conversation and one repeating
/// a nonce queued just before it, each answer the message its nonce stored, and store nothing again.
pub async fn retries_queued_among_other_sends_answer_the_earlier_message(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let (g1, g2, g3) = (
        group(store, &ada, &[]).await,
        group(store, &ada, &[]).await,
        group(store, &ada, &[]).await,
    );
    let Sent::Stored(a, _) = send_nonce(store, g1.id, ada.id, "a", "n-a").await else {
        panic!("stored");
    };
    let Sent::Stored(b, _) = send_nonce(store, g2.id, ada.id, "b", "n-b").await else {
        panic!("stored");
    };
    let queued: Vec<_> = [
        (g1.id, "a, retried", "n-a"),
        (g2.id, "c", "n-c"),
        (g2.id, "b, retried", "n-b"),
        (g3.id, "d", "n-d"),
        (g3.id, "d, retried at once", "n-d"),
        (g1.id, "e", "n-e"),
    ]
    .into_iter()
    .map(|(conversation_id, text, nonce)| queue_nonce(store, conversation_id, ada.id, text, nonce))
    .collect();
    let mut answers = Vec::new();
    for answer in queued {
        answers.push(answer.await.expect("queue_message"));
    }
    let texts: Vec<(bool, Option<&str>)> = answers
        .iter()
        .map(|sent| match sent {
            Sent::Stored(m, _) => (true, m.text.as_deref()),
            Sent::Duplicate(m) => (false, m.text.as_deref()),
        })
        .collect();
    assert_eq!(
        texts,
        [
            (false, Some("a")),
            (true, Some("c")),
            (false, Some("b")),
            (true, Some("d")),
            (false, Some("d")),
            (true, Some("e")),
        ],
        "(stored now, the text answered) for each"
    );
    assert!(matches!(&answers[0], Sent::Duplicate(m) if *m == a));
    assert!(matches!(&answers[2], Sent::Duplicate(m) if *m == b));
    for (conversation, expected) in [
        (g1.id, vec!["a", "e"]),
        (g2.id, vec!["b", "c"]),
        (g3.id, vec!["d"]),
    ] {
        let history = store
            .messages(conversation, ada.id, Page::Latest { limit: 10 })
            .await
            .expect("messages");
        let stored: Vec<&str> = history.iter().filter_map(|m| m.text.as_deref()).collect();
        assert_eq!(stored, expected, "each message once, in the order sent");
    }
}

/// 200 concurrent sends: none is lost, and ids grow in commit (cursor) order.
pub async fn message_ids_grow_in_commit_order_under_concurrency(store: Arc<dyn Store>) {
    const SENDS: usize = 200;
    let mut authors = Vec::new();
    for name in ["ada", "bob", "carol", "dave"] {
        authors.push(user(store.as_ref(), "acme", name).await);
    }
    let others: Vec<_> = authors[1..].iter().collect();
    let group = group(store.as_ref(), &authors[0], &others).await;
    let start = store.latest_cursor().await.expect("latest_cursor");

    let mut tasks = Vec::with_capacity(SENDS);
    for i in 0..SENDS {
        let store = Arc::clone(&store);
        let author_id = authors[i % authors.len()].id;
        tasks.push(tokio::spawn(async move {
            let text = format!("message {i}");
            let nonce = format!("nonce-{i}");
            store
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
                    now: at(i64::try_from(i).unwrap_or(0)),
                })
                .await
        }));
    }
    let mut stored = Vec::with_capacity(SENDS);
    for task in tasks {
        match task.await.expect("task").expect("queue_message") {
            Sent::Stored(message, mut events) => stored.push((message, events.remove(0))),
            duplicate @ Sent::Duplicate(_) => panic!("distinct nonces: {duplicate:?}"),
        }
    }

    let distinct: BTreeSet<MessageId> = stored.iter().map(|(m, _)| m.id).collect();
    assert_eq!(distinct.len(), SENDS, "every send has its own id");
    let cursors: BTreeSet<_> = stored.iter().map(|(_, e)| e.cursor).collect();
    assert_eq!(cursors.len(), SENDS, "every send has its own event");

    stored.sort_by_key(|(_, event)| event.cursor);
    for pair in stored.windows(2) {
        assert!(
            pair[0].0.id < pair[1].0.id,
            "commit order and id order disagree: message {} at cursor {} before message {} at cursor {}",
            pair[0].0.id,
            pair[0].1.cursor,
            pair[1].0.id,
            pair[1].1.cursor
        );
        assert_eq!(pair[0].1.kind, EventKind::MessageCreated(pair[0].0.clone()));
    }

    let history = store
        .messages(
            group.id,
            authors[0].id,
            Page::Latest {
                limit: u32::try_from(SENDS * 2).unwrap_or(u32::MAX),
            },
        )
        .await
        .expect("messages");
    assert_eq!(
        ids(&history),
        stored.iter().map(|(m, _)| m.id.0).collect::<Vec<_>>(),
        "history holds every message, in id order"
    );
    for message in &history {
        let i = message
            .nonce
            .as_deref()
            .and_then(|n| n.strip_prefix("nonce-"))
            .expect("a nonce");
        assert_eq!(
            message.text.as_deref(),
            Some(format!("message {i}").as_str())
        );
    }

    let replay = store
        .events_after(authors[1].id, start, 1_000)
        .await
        .expect("events_after");
    let replayed: Vec<MessageId> = replay
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageCreated(m) => Some(m.id),
            _ => None,
        })
        .collect();
    assert_eq!(
        replayed,
        stored.iter().map(|(m, _)| m.id).collect::<Vec<_>>(),
        "the log replays every message in commit order"
    );
}

/// Concurrent retries of one send store exactly one message.
pub async fn concurrent_retries_store_one_message(store: Arc<dyn Store>) {
    const RETRIES: usize = 20;
    let ada = user(store.as_ref(), "acme", "ada").await;
    let group = group(store.as_ref(), &ada, &[]).await;
    let author_id = ada.id;

    let mut tasks = Vec::with_capacity(RETRIES);
    for _ in 0..RETRIES {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            send_nonce(store.as_ref(), group.id, author_id, "retried", "the-nonce").await
        }));
    }
    let mut stored = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Sent::Stored(message, _) => stored.push(message),
            Sent::Duplicate(message) => duplicates.push(message),
        }
    }
    assert_eq!(stored.len(), 1, "exactly one retry stores: {stored:?}");
    assert!(duplicates.iter().all(|m| m.id == stored[0].id));
    assert_eq!(
        page(
            store.as_ref(),
            group.id,
            ada.id,
            Page::Latest { limit: 100 }
        )
        .await,
        vec![stored[0].id.0]
    );
}

/// History pages: each oldest first, bounds exclusive, limits keeping the messages nearest the bound.
pub async fn messages_pages_have_correct_bounds_and_limits(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let group = group(store, &ada, &[]).await;
    let elsewhere = super::group(store, &ada, &[]).await;
    let mut m = Vec::new();
    for i in 0..10 {
        m.push(
            send_at(store, group.id, &ada, &format!("m{i}"), at(i))
                .await
                .id
                .0,
        );
        // Interleaved messages of another conversation leave gaps in this one's ids.
        send_at(store, elsewhere.id, &ada, "elsewhere", at(i)).await;
    }
    let id = |i: usize| MessageId(m[i]);
    let (group_id, ada_id) = (group.id, ada.id);
    let read = move |page_: Page| page(store, group_id, ada_id, page_);

    assert_eq!(read(Page::Latest { limit: 3 }).await, m[7..10]);
    assert_eq!(read(Page::Latest { limit: 100 }).await, m);
    assert_eq!(
        read(Page::Before {
            id: id(5),
            limit: 3
        })
        .await,
        m[2..5]
    );
    assert_eq!(
        read(Page::Before {
            id: id(1),
            limit: 3
        })
        .await,
        m[0..1]
    );
    assert_eq!(
        read(Page::Before {
            id: id(0),
            limit: 3
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        read(Page::Before {
            id: id(9),
            limit: 100
        })
        .await,
        m[0..9]
    );
    assert_eq!(
        read(Page::After {
            id: id(5),
            limit: 3
        })
        .await,
        m[6..9]
    );
    assert_eq!(
        read(Page::After {
            id: id(7),
            limit: 3
        })
        .await,
        m[8..10]
    );
    assert_eq!(
        read(Page::After {
            id: id(9),
            limit: 3
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        read(Page::After {
            id: MessageId(0),
            limit: 2
        })
        .await,
        m[0..2]
    );
    assert_eq!(
        read(Page::Between {
            after: id(2),
            before: id(7),
            limit: 100
        })
        .await,
        m[3..7]
    );
    assert_eq!(
        read(Page::Between {
            after: id(2),
            before: id(7),
            limit: 2
        })
        .await,
        m[3..5],
        "a limited gap fills from its start"
    );
    assert_eq!(
        read(Page::Between {
            after: id(4),
            before: id(5),
            limit: 10
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        read(Page::Between {
            after: id(6),
            before: id(3),
            limit: 10
        })
        .await,
        Vec::<i64>::new()
    );
}

/// Deleting for oneself hides a message from that user's history and search, and nobody else's.
pub async fn hidden_messages_are_hidden_for_that_viewer_only(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let m1 = send(store, group.id, &bob, "first").await;
    let m2 = send(store, group.id, &bob, "embarrassing").await;
    let m3 = send(store, group.id, &bob, "third").await;

    let hidden = store
        .hide_message(group.id, m2.id, ada.id)
        .await
        .expect("hide_message")
        .expect("hidden now");
    assert_eq!(hidden.conversation_id, group.id);
    assert_eq!(
        hidden.kind,
        EventKind::MessageHidden {
            message_id: m2.id,
            user_id: ada.id
        }
    );
    assert_eq!(
        hidden.audience,
        Audience::User(ada.id),
        "for ada's devices only"
    );
    let again = store
        .hide_message(group.id, m2.id, ada.id)
        .await
        .expect("hide_message");
    assert_eq!(again, None, "already hidden");

    let all = vec![m1.id.0, m2.id.0, m3.id.0];
    let without = vec![m1.id.0, m3.id.0];
    let history = |viewer: UserId, page_: Page| page(store, group.id, viewer, page_);
    assert_eq!(history(ada.id, Page::Latest { limit: 10 }).await, without);
    assert_eq!(history(bob.id, Page::Latest { limit: 10 }).await, all);
    assert_eq!(
        history(
            ada.id,
            Page::Before {
                id: m3.id,
                limit: 10
            }
        )
        .await,
        vec![m1.id.0]
    );
    assert_eq!(
        history(
            ada.id,
            Page::After {
                id: m1.id,
                limit: 10
            }
        )
        .await,
        vec![m3.id.0]
    );
    assert_eq!(
        history(
            ada.id,
            Page::Between {
                after: m1.id,
                before: m3.id,
                limit: 10
            }
        )
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        history(ada.id, Page::Latest { limit: 2 }).await,
        without,
        "a limit counts visible messages"
    );

    assert!(
        search_ids(store, ada.id, "embarrassing", None)
            .await
            .is_empty()
    );
    assert_eq!(
        search_ids(store, bob.id, "embarrassing", None).await,
        vec![m2.id.0]
    );
    let kept = store
        .message(group.id, m2.id)
        .await
        .expect("message")
        .expect("still stored");
    assert_eq!(kept.text.as_deref(), Some("embarrassing"));
    assert!(!kept.deleted);
}

/// Reactions: one per user and emoji, grouped by emoji on the message, removable.
pub async fn reactions_are_grouped_by_emoji(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let message = send(store, group.id, &bob, "react to me").await;
    let untouched = send(store, group.id, &bob, "no reactions").await;
    let (group_id, message_id) = (group.id, message.id);
    let react = move |user_id: UserId, emoji: &'static str| async move {
        store
            .add_reaction(group_id, message_id, user_id, emoji)
            .await
            .expect("add_reaction")
    };

    let added = react(ada.id, "👍").await.expect("a new reaction");
    assert_eq!(added.conversation_id, group.id);
    assert_eq!(added.audience, Audience::Members);
    assert_eq!(
        added.kind,
        EventKind::ReactionAdded {
            message_id: message.id,
            user_id: ada.id,
            emoji: "👍".into()
        }
    );
    let cursor = store.latest_cursor().await.expect("latest_cursor");
    assert_eq!(react(ada.id, "👍").await, None, "the same reaction twice");
    assert_eq!(store.latest_cursor().await.expect("latest_cursor"), cursor);
    react(bob.id, "👍").await.expect("bob's thumbs up");
    react(ada.id, "❤️").await.expect("ada's heart");

    let reread = store
        .message(group.id, message.id)
        .await
        .expect("message")
        .expect("the message");
    assert_eq!(
        reactions(&reread),
        vec![
            ("❤️".to_owned(), vec![ada.id]),
            ("👍".to_owned(), sorted(vec![ada.id, bob.id])),
        ]
    );
    let history = store
        .messages(group.id, ada.id, Page::Latest { limit: 10 })
        .await
        .expect("messages");
    assert_eq!(
        reactions(&history[0]),
        reactions(&reread),
        "pages carry reactions"
    );
    assert_eq!(history[1].id, untouched.id);
    assert!(
        history[1].reactions.is_empty(),
        "only the reacted-to message"
    );

    let removed = store
        .remove_reaction(group.id, message.id, ada.id, "👍")
        .await
        .expect("remove_reaction")
        .expect("it was there");
    assert_eq!(
        removed.kind,
        EventKind::ReactionRemoved {
            message_id: message.id,
            user_id: ada.id,
            emoji: "👍".into()
        }
    );
    let again = store
        .remove_reaction(group.id, message.id, ada.id, "👍")
        .await
        .expect("remove_reaction");
    assert_eq!(again, None, "not there any more");
    store
        .remove_reaction(group.id, message.id, bob.id, "👍")
        .await
        .expect("remove_reaction")
        .expect("bob's was there");
    let reread = store
        .message(group.id, message.id)
        .await
        .expect("message")
        .expect("the message");
    assert_eq!(
        reactions(&reread),
        vec![("❤️".to_owned(), vec![ada.id])],
        "an emoji nobody uses any more is gone"
    );
}

/// The read mark only moves forward; receipts list where each member has read up to.
pub async fn advance_read_only_moves_forward(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;
    let group = group(store, &ada, &[&bob, &carol]).await;
    let m1 = send(store, group.id, &carol, "one").await;
    let m2 = send(store, group.id, &carol, "two").await;
    let m3 = send(store, group.id, &carol, "three").await;
    assert!(store.receipts(group.id).await.expect("receipts").is_empty());

    let read = store
        .advance_read(group.id, ada.id, m2.id, Audience::Members)
        .await
        .expect("advance_read")
        .expect("moved forward");
    assert_eq!(read.conversation_id, group.id);
    assert_eq!(
        read.kind,
        EventKind::ReadUpdated {
            user_id: ada.id,
            message_id: m2.id
        }
    );
    assert_eq!(read.audience, Audience::Members, "as asked");
    for not_forward in [m2.id, m1.id] {
        let moved = store
            .advance_read(group.id, ada.id, not_forward, Audience::Members)
            .await
            .expect("advance_read");
        assert_eq!(moved, None, "to {not_forward} from {}", m2.id);
    }
    let membership = store
        .membership(group.id, ada.id)
        .await
        .expect("membership")
        .expect("ada is a member");
    assert_eq!(membership.last_read, Some(m2.id), "not moved back");

    store
        .advance_read(group.id, ada.id, m3.id, Audience::Members)
        .await
        .expect("advance_read")
        .expect("moved forward");
    store
        .advance_read(group.id, bob.id, m1.id, Audience::Members)
        .await
        .expect("advance_read")
        .expect("moved forward");
    assert_eq!(
        sorted(store.receipts(group.id).await.expect("receipts")),
        sorted(vec![(ada.id, m3.id), (bob.id, m1.id)]),
        "carol has read nothing and is left out"
    );
}

/// Deleting for everyone erases the text, the reactions and the search entry, and keeps a tombstone.
pub async fn erase_message_leaves_a_tombstone(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let group = group(store, &ada, &[&bob]).await;
    let other = super::group(store, &ada, &[]).await;
    let message = send(store, group.id, &ada, "regrettable words").await;
    let kept = send(store, group.id, &ada, "fine words").await;
    store
        .add_reaction(group.id, message.id, bob.id, "😬")
        .await
        .expect("add_reaction");
    assert_eq!(
        search_ids(store, bob.id, "regrettable", None).await,
        vec![message.id.0]
    );

    let wrong_conversation = store
        .erase_message(other.id, message.id, false)
        .await
        .expect("erase_message");
    assert_eq!(
        wrong_conversation, None,
        "not a message of that conversation"
    );

    let deleted = store
        .erase_message(group.id, message.id, false)
        .await
        .expect("erase_message")
        .expect("erased now");
    assert_eq!(deleted.conversation_id, group.id);
    assert_eq!(deleted.audience, Audience::Members);
    assert_eq!(
        deleted.kind,
        EventKind::MessageDeleted {
            message_id: message.id,
            removed_by_moderator: false,
        }
    );
    let again = store
        .erase_message(group.id, message.id, false)
        .await
        .expect("erase_message");
    assert_eq!(again, None, "already erased");

    let tombstone = store
        .message(group.id, message.id)
        .await
        .expect("message")
        .expect("a tombstone stays");
    assert!(tombstone.deleted);
    assert_eq!(tombstone.text, None, "the text is gone");
    assert!(tombstone.reactions.is_empty(), "reactions are gone");
    assert_eq!(tombstone.author_id, ada.id);
    assert_eq!(tombstone.created_at, message.created_at);

    let history = store
        .messages(group.id, bob.id, Page::Latest { limit: 10 })
        .await
        .expect("messages");
    assert_eq!(ids(&history), vec![message.id.0, kept.id.0]);
    assert!(
        history[0].deleted && history[0].text.is_none(),
        "history shows the tombstone"
    );
    assert!(!history[1].deleted);

    for query in ["regrettable", "regret", "words"] {
        let found = search_ids(store, bob.id, query, None).await;
        assert!(!found.contains(&message.id.0), "{query:?} still finds it");
    }
    assert_eq!(
        search_ids(store, bob.id, "words", None).await,
        vec![kept.id.0]
    );
}

/// Search covers the viewer's own conversations only (or one of them), newest first.
pub async fn search_messages_only_in_member_conversations(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let g1 = group(store, &ada, &[]).await;
    let g2 = super::group(store, &ada, &[&bob]).await;
    let g3 = super::group(store, &bob, &[]).await;
    let fox = send(store, g1.id, &ada, "The quick brown fox").await;
    let thinking = send(store, g2.id, &bob, "quick thinking, Ada").await;
    let secret = send(store, g3.id, &bob, "a quick secret").await;
    send(store, g1.id, &ada, "nothing to see").await;

    let search = |viewer: UserId, query: &'static str, in_: Option<ConversationId>| {
        search_ids(store, viewer, query, in_)
    };
    assert_eq!(
        search(ada.id, "quick", None).await,
        vec![thinking.id.0, fox.id.0],
        "ada's conversations, newest first"
    );
    assert_eq!(
        search(ada.id, "QUICK", None).await,
        vec![thinking.id.0, fox.id.0]
    );
    assert_eq!(search(ada.id, "quick", Some(g1.id)).await, vec![fox.id.0]);
    assert!(
        search(ada.id, "quick", Some(g3.id)).await.is_empty(),
        "not ada's conversation, even when named"
    );
    assert!(search(ada.id, "secret", None).await.is_empty());
    assert_eq!(
        search(bob.id, "quick", None).await,
        vec![secret.id.0, thinking.id.0]
    );
    assert_eq!(
        search(ada.id, "brown quick", None).await,
        vec![fox.id.0],
        "all the words"
    );
    assert!(
        search(ada.id, "quick zebra", None).await.is_empty(),
        "all the words"
    );
    assert_eq!(
        search(ada.id, "qui", None).await,
        vec![thinking.id.0, fox.id.0],
        "prefix"
    );
    assert_eq!(
        search(ada.id, "quick bro", None).await,
        vec![fox.id.0],
        "last word as prefix"
    );
    assert!(search(ada.id, "", None).await.is_empty());
    assert!(search(ada.id, "   ", None).await.is_empty());

    let limited = store
        .search_messages(ada.id, "quick", None, 1)
        .await
        .expect("search_messages");
    assert_eq!(ids(&limited), vec![thinking.id.0], "limit keeps the newest");
    assert_eq!(limited[0].text.as_deref(), Some("quick thinking, Ada"));

    store
        .remove_member(g2.id, ada.id, false, false)
        .await
        .expect("remove_member");
    assert_eq!(
        search(ada.id, "quick", None).await,
        vec![fox.id.0],
        "a conversation left is no longer searched"
    );
}

/// The query is the user's words: no character of the backend's query syntax is ever an error.
pub async fn search_messages_takes_query_as_plain_words(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let group = group(store, &ada, &[]).await;
    let quoted = send(store, group.id, &ada, "say \"hello\" to everyone").await;
    let either = send(store, group.id, &ada, "this OR that").await;
    let near = send(store, group.id, &ada, "NEAR(x y) is a function").await;
    let hyphen = send(store, group.id, &ada, "a well-known fact").await;
    let colon = send(store, group.id, &ada, "key:value pairs").await;
    let star = send(store, group.id, &ada, "rated 5*").await;

    for query in [
        "\"",
        "\"\"",
        "\"hello",
        "hello\"",
        "\"hello\"",
        "*",
        "**",
        "5*",
        "OR",
        "this OR",
        "OR that",
        "AND",
        "NOT",
        "NEAR(",
        "NEAR(x",
        "NEAR(x y)",
        "NEAR",
        "-",
        "--",
        "-known",
        "well-",
        ":",
        "key:",
        "text:value",
        "text:",
        "(",
        ")",
        "()",
        "^",
        "^hello",
        "+",
        "{",
        "}",
        "[",
        "]",
        "'",
        "\\",
        "'; DROP TABLE messages; --",
        "hello*world",
        "&",
        "|",
        "!",
        "@@",
        "%",
        "_",
        "a:b:c",
    ] {
        let answer = store.search_messages(ada.id, query, None, 50).await;
        assert!(answer.is_ok(), "{query:?} failed: {answer:?}");
    }

    let search = |query: &'static str| search_ids(store, ada.id, query, None);
    assert_eq!(
        search("\"hello\"").await,
        vec![quoted.id.0],
        "quotes are not syntax"
    );
    assert_eq!(search("hello\"").await, vec![quoted.id.0]);
    assert_eq!(search("OR").await, vec![either.id.0], "OR is a word");
    assert_eq!(search("this OR that").await, vec![either.id.0]);
    assert_eq!(search("NEAR(").await, vec![near.id.0], "NEAR( is a word");
    assert_eq!(search("NEAR(x y)").await, vec![near.id.0]);
    assert_eq!(
        search("well-known").await,
        vec![hyphen.id.0],
        "a hyphen is not NOT"
    );
    assert_eq!(search("-known").await, vec![hyphen.id.0]);
    assert_eq!(
        search("key:value").await,
        vec![colon.id.0],
        "a colon is not a column filter"
    );
    assert_eq!(search("key:").await, vec![colon.id.0]);
    assert_eq!(
        search("rated 5*").await,
        vec![star.id.0],
        "a star is not syntax"
    );
    assert!(
        search("text:value").await.is_empty(),
        "no message has these words"
    );
    // Punctuation alone is no word: it neither errors nor stops the real words from matching.
    assert_eq!(search("hello -").await, vec![quoted.id.0]);
    assert_eq!(search("hello :").await, vec![quoted.id.0]);
}

/// Writes that fail among many that succeed at once (so, very likely, in the same batch): each failure
/// leaves nothing behind, not even the part it wrote before failing, and every other write is stored,
/// searchable, and announced once.
pub async fn failed_writes_leave_the_writes_beside_them(store: Arc<dyn Store>) {
    const SENDS: usize = 120;
    let ada = user(store.as_ref(), "acme", "ada").await;
    let group = group(store.as_ref(), &ada, &[]).await;
    let mut feed = store.take_commit_feed().expect("the commit feed");

    let mut sends = Vec::with_capacity(SENDS);
    let mut refused = Vec::new();
    for i in 0..SENDS {
        let sender = Arc::clone(&store);
        sends.push(tokio::spawn(async move {
            let text = format!("batched{i} kiwi");
            sender
                .queue_message(NewMessage {
                    conversation_id: group.id,
                    author_id: ada.id,
                    text: &text,
                    mentions: &Default::default(),
                    thread_root_id: None,
                    also_to_conversation: false,
                    quote: None,
                    attachments: &[],
                    nonce: None,
                    now: at(1),
                })
                .await
        }));
        if i % 30 == 0 {
            // A new org is written before the taken email fails the sign-up: it must be undone too.
            let signer = Arc::clone(&store);
            refused.push(tokio::spawn(async move {
                signer
                    .create_user(NewUser {
                        org_handle: &format!("lost{i}"),
                        org_policy: OrgPolicy::JoinOrCreate,
                        username: "ada",
                        email: "ada@acme.example",
                        name: "Not Ada",
                        password_hash: "$argon2id$test",
                        now: at(1),
                    })
                    .await
            }));
        }
    }
    let mut stored = BTreeSet::new();
    for send in sends {
        match send.await.expect("task").expect("queue_message") {
            Sent::Stored(message, _) => stored.insert(message.id),
            duplicate @ Sent::Duplicate(_) => panic!("no nonce, no duplicate: {duplicate:?}"),
        };
    }
    for (n, refusal) in refused.into_iter().enumerate() {
        let outcome = refusal.await.expect("task");
        assert!(
            matches!(outcome, Err(StoreError::Conflict("email"))),
            "a taken email: {outcome:?}"
        );
        let joined = store
            .create_user(NewUser {
                org_handle: &format!("lost{}", n * 30),
                org_policy: OrgPolicy::JoinOpen,
                username: "someone",
                email: &format!("someone{n}@lost.example"),
                name: "Someone",
                password_hash: "$argon2id$test",
                now: at(2),
            })
            .await;
        assert!(
            matches!(joined, Err(StoreError::NotFound("organization"))),
            "the org of a refused sign-up was left behind: {joined:?}"
        );
    }

    assert_eq!(stored.len(), SENDS, "every send was stored");
    let history = store
        .messages(group.id, ada.id, Page::Latest { limit: 200 })
        .await
        .expect("messages");
    assert_eq!(
        history.iter().map(|m| m.id).collect::<BTreeSet<_>>(),
        stored
    );
    let found = store
        .search_messages(ada.id, "kiwi", None, 200)
        .await
        .expect("search_messages");
    assert_eq!(found.len(), SENDS, "every stored message is searchable");
    let mut announced = Vec::new();
    while announced.len() < SENDS {
        let commit = feed.recv().await.expect("the feed stays open");
        announced.extend(commit.events.into_iter().filter_map(|e| match e.kind {
            EventKind::MessageCreated(m) => Some(m.id),
            _ => None,
        }));
    }
    assert_eq!(
        announced.iter().copied().collect::<BTreeSet<_>>(),
        stored,
        "each stored message announced once"
    );
    assert_eq!(announced.len(), SENDS);
}
