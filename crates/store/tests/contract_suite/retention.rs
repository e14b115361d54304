//! Retention: which conversations keep messages for a limited time, and the purge in batches.

use parley_core::model::{EventKind, Message, User};
use parley_core::store::{NewMessage, PurgeBatch, PurgeRunRecord, RetentionTarget, Sent, Store};
use parley_core::{Cursor, MessageId};

use super::{at, channel, send_at, user};

async fn reply(store: &dyn Store, root: &Message, author: &User, now: i64) -> Message {
    let sent = store
        .queue_message(NewMessage {
            conversation_id: root.conversation_id,
            author_id: author.id,
            text: "a reply",
            mentions: &Default::default(),
            thread_root_id: Some(root.id),
            also_to_conversation: false,
            quote: None,
            attachments: &[],
            nonce: None,
            now: at(now),
        })
        .await
        .expect("reply");
    match sent {
        Sent::Stored(message, _) => message,
        Sent::Duplicate(message) => panic!("a duplicate: {message:?}"),
    }
}

/// The `through` of every `conversation.purged` the user may replay.
async fn purge_events(store: &dyn Store, user: &User) -> Vec<MessageId> {
    let events = store
        .events_after(user.id, Cursor(0), 1_000)
        .await
        .expect("events");
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ConversationPurged { through } => Some(through),
            _ => None,
        })
        .collect()
}

pub async fn the_purge_goes_in_batches_and_keeps_threads_that_go_on(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let room = channel(store, &ada, "room", "Room", false).await;
    assert!(
        store
            .retention_targets(ada.org_id, None, 10)
            .await
            .expect("targets")
            .is_empty(),
        "kept for ever until a policy says otherwise"
    );
    let mut settings = store
        .org_settings(ada.org_id)
        .await
        .expect("settings")
        .expect("an org");
    settings.retention_days = 30;
    let audit = parley_core::store::AuditRecord {
        org_id: ada.org_id,
        at: at(0),
        kind: parley_core::proto::v1::AuditKind::SettingsChanged,
        outcome: parley_core::proto::v1::AuditOutcome::Done,
        actor_id: Some(ada.id),
        target_user_id: None,
        target_conversation_id: None,
        address: None,
        detail: None,
    };
    store
        .set_org_settings(settings, audit)
        .await
        .expect("set settings");
    assert_eq!(
        store.retention_orgs(None, 10).await.expect("orgs"),
        vec![ada.org_id]
    );
    assert_eq!(
        store
            .retention_targets(ada.org_id, None, 10)
            .await
            .expect("targets"),
        vec![RetentionTarget {
            conversation_id: room.id,
            org_id: ada.org_id,
            retention_days: 30
        }]
    );

    let first = send_at(store, room.id, &ada, "one", at(1)).await;
    let root = send_at(store, room.id, &ada, "a thread", at(2)).await;
    let old_reply = reply(store, &root, &ada, 3).await;
    let third = send_at(store, room.id, &ada, "three", at(4)).await;
    let new_reply = reply(store, &root, &ada, 100).await;
    let new = send_at(store, room.id, &ada, "new", at(101)).await;

    // Two at a time: the first batch says there may be more.
    let batch = store
        .purge_messages(room.id, at(50), None, 2)
        .await
        .expect("purge");
    assert_eq!(
        batch,
        PurgeBatch {
            through: Some(root.id),
            messages: 2,
            files: 0,
            more: true
        }
    );
    let batch = store
        .purge_messages(room.id, at(50), batch.through, 2)
        .await
        .expect("purge");
    assert_eq!((batch.through, batch.messages), (Some(third.id), 2));
    let batch = store
        .purge_messages(room.id, at(50), batch.through, 2)
        .await
        .expect("purge");
    assert_eq!(batch, PurgeBatch::default(), "nothing older is left");

    // The purge's end forgets the log's events about what it deleted and says what went, durably.
    let ended = store
        .end_purge(room.id, third.id, at(60))
        .await
        .expect("end purge");
    assert_eq!(
        (ended.conversation_id, &ended.kind),
        (
            room.id,
            &EventKind::ConversationPurged { through: third.id }
        )
    );
    let logged = purge_events(store, &ada).await;
    assert_eq!(logged, vec![third.id], "one purge event");
    let about_purged = store
        .events_after(ada.id, Cursor(0), 1_000)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| matches!(&e.kind, EventKind::MessageCreated(m) if m.id == first.id || m.id == third.id))
        .count();
    assert_eq!(about_purged, 0, "no event about a deleted message is left");

    for gone in [&first, &old_reply, &third] {
        let found = store.message(room.id, gone.id).await.expect("message");
        assert!(
            found.is_none(),
            "{} is gone",
            gone.text.as_deref().unwrap_or("")
        );
    }
    let tombstone = store
        .message(room.id, root.id)
        .await
        .expect("message")
        .expect("the thread's first message stays, for the reply that goes on");
    assert!(tombstone.deleted && tombstone.text.is_none());
    assert_eq!(tombstone.thread.map(|t| t.reply_count), Some(1));
    for kept in [&new_reply, &new] {
        assert!(
            store
                .message(room.id, kept.id)
                .await
                .expect("message")
                .is_some()
        );
    }

    // Once the thread's last reply goes, so does its first message.
    let batch = store
        .purge_messages(room.id, at(1_000), None, 10)
        .await
        .expect("purge");
    assert_eq!((batch.messages, batch.more), (3, false));
    assert!(
        store
            .message(room.id, root.id)
            .await
            .expect("message")
            .is_none()
    );
    store
        .end_purge(room.id, new.id, at(1_000))
        .await
        .expect("end purge");
    assert_eq!(
        purge_events(store, &ada).await,
        vec![new.id],
        "a later purge's event replaces the earlier one's"
    );

    let run = PurgeRunRecord {
        org_id: ada.org_id,
        started_at: at(5),
        finished_at: Some(at(6)),
        messages: 7,
        files: 0,
        conversations: 1,
    };
    store.record_purge_run(run).await.expect("record");
    let later = PurgeRunRecord {
        started_at: at(7),
        finished_at: None,
        ..run
    };
    store.record_purge_run(later).await.expect("record");
    assert_eq!(
        store.last_purge_run(ada.org_id).await.expect("run"),
        Some(later),
        "the last run replaces the one before"
    );
}
