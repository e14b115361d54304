//! Retention: an organization's policy and a channel's own, and the purge that deletes older messages
//! everywhere they live (text, edits, search, reactions, mentions, pins, threads, attachments), visible in
//! its status and the audit log.

use std::time::Duration;

use parley_client::{Client, Incoming, Page};
use parley_proto::v1::{
    AuditKind, EditMessageRequest, Event, OrgSettingsPatch, RetentionStatus, SendMessageRequest,
    ServerMessage,
};
use parley_proto::{ConversationId, Cursor, MessageId};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::features::{draft, naming, on_both_stores, raw_json, say};
use crate::files::{attach, upload};
use crate::{assert_api_error, channel, dm};

/// Days every message sent before the policy is set is moved back.
const AGE_DAYS: i64 = 40;

fn keep_for(days: u32) -> OrgSettingsPatch {
    OrgSettingsPatch {
        retention_days: Some(days),
        ..OrgSettingsPatch::default()
    }
}

/// Starts a purge and waits for its end.
async fn purge(admin: &Client) -> RetentionStatus {
    admin.run_purge().await.expect("purge starts");
    for _ in 0..200 {
        let status = admin.retention_status().await.expect("status");
        if status
            .last_run
            .as_ref()
            .is_some_and(|r| r.finished_at.is_some())
        {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the purge did not end");
}

async fn everything(client: &Client, id: ConversationId) -> Vec<(MessageId, Option<String>)> {
    let page = Page {
        limit: Some(100),
        ..Page::default()
    };
    let messages = client.history(id, page).await.expect("history");
    messages.into_iter().map(|m| (m.id, m.text)).collect()
}

/// Every durable event a device resuming from the first cursor gets, as JSON.
async fn replay_from_start(client: &Client) -> Vec<String> {
    let mut socket = client.connect(Some(Cursor(0))).await.expect("connect");
    let mut events = Vec::new();
    while let Ok(Some(Ok(incoming))) =
        tokio::time::timeout(Duration::from_millis(700), socket.next()).await
    {
        if let Incoming::Message(ServerMessage::Event(frame)) = incoming {
            events.push(serde_json::to_string(&frame).expect("an event serializes"));
        }
    }
    events
}

/// Every file under `dir`, however deep.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk_files(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

on_both_stores!(
    the_purge_deletes_old_messages_everywhere_they_live,
    the_purge_deletes_old_messages_everywhere_they_live_on_postgres,
    purge_everywhere
);

async fn purge_everywhere(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let general = channel(&ann.client, "general", false).await;
    bob.client.join(general).await.expect("join");
    let with_bob = dm(&ann.client, bob.id).await;

    // What will be old: an edited message, a pinned one with a reaction, a mention, a file, two threads
    // (one whose replies are all old, one that goes on), and a DM.
    let edited = say(&ann.client, general, "zanzibar first draft").await;
    let edit = EditMessageRequest {
        text: "zanzibar final".into(),
        mentions: None,
    };
    ann.client
        .edit_message(general, edited.id, &edit)
        .await
        .expect("edit");
    let pinned = say(&ann.client, general, "the quarterly plan").await;
    ann.client.pin(general, pinned.id).await.expect("pin");
    bob.client
        .react(general, pinned.id, "👍")
        .await
        .expect("react");
    let mentioning = SendMessageRequest {
        mentions: Some(naming(&[bob.id])),
        ..draft("@Bob have a look")
    };
    ann.client
        .send_draft(general, &mentioning)
        .await
        .expect("mention");
    let file = upload(&ann.client, "notes.txt", b"old notes").await;
    let with_file = attach(&ann.client, general, &[file.id], "the notes")
        .await
        .expect("attach");
    let closed = say(&ann.client, general, "closed thread").await;
    let going_on = say(&ann.client, general, "thread that goes on").await;
    for root in [closed.id, going_on.id] {
        let reply = SendMessageRequest {
            thread_root_id: Some(root),
            ..draft("an old reply")
        };
        bob.client.send_draft(general, &reply).await.expect("reply");
    }
    let old_dm = say(&bob.client, with_bob, "zanzibar in private").await;
    let last_old = say(&ann.client, general, "the last old one").await;
    server
        .backdate_messages(general, last_old.id.0, AGE_DAYS)
        .await;
    server
        .backdate_messages(with_bob, old_dm.id.0, AGE_DAYS)
        .await;

    // What stays: new messages, and a new reply that keeps its thread's first message as a tombstone.
    let new_reply = SendMessageRequest {
        thread_root_id: Some(going_on.id),
        ..draft("a new reply")
    };
    let new_reply = bob
        .client
        .send_draft(general, &new_reply)
        .await
        .expect("reply")
        .value
        .message;
    let fresh = say(&ann.client, general, "zanzibar today").await;

    // Until a policy is set, nothing goes.
    let status = purge(&ann.client).await;
    assert_eq!(status.retention_days, 0);
    assert_eq!(status.last_run.map(|r| r.messages_removed), Some(0));
    assert_eq!(everything(&ann.client, general).await.len(), 8);

    let mut open_page = bob.client.connect(None).await.expect("connect");
    let set = ann
        .client
        .update_org_settings(&keep_for(30))
        .await
        .expect("policy");
    assert_eq!(set.retention_days, 30);
    let status = purge(&ann.client).await;
    // An open page hears of it, once per conversation, with the newest message removed.
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let incoming = tokio::time::timeout(Duration::from_secs(10), open_page.next())
            .await
            .expect("the purge is told to open sockets")
            .expect("the socket stays open")
            .expect("a frame");
        if let Incoming::Message(ServerMessage::Event(frame)) = incoming
            && let Event::ConversationPurged {
                conversation_id,
                through,
            } = frame.event
        {
            heard.push((conversation_id, through));
        }
    }
    heard.sort();
    let mut expected = vec![(general, last_old.id), (with_bob, old_dm.id)];
    expected.sort();
    assert_eq!(heard, expected);
    let run = status.last_run.expect("a run");
    // 7 of the channel's main history (the first of the thread that goes on, erased to a tombstone,
    // counts), 2 old replies, the DM's one.
    assert_eq!(
        (run.messages_removed, run.files_removed, run.conversations),
        (10, 1, 2)
    );

    let left = everything(&bob.client, general).await;
    assert_eq!(
        left,
        vec![(going_on.id, None), (fresh.id, fresh.text.clone())],
        "only the tombstone of the thread that goes on, and today's message"
    );
    let thread = bob
        .client
        .thread(general, going_on.id, Page::default())
        .await
        .expect("thread");
    assert_eq!(
        thread.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![new_reply.id]
    );
    assert_api_error(
        bob.client.thread(general, closed.id, Page::default()).await,
        404,
        "not_found",
    );
    assert!(
        everything(&bob.client, with_bob).await.is_empty(),
        "the DM is empty"
    );
    let found = ann.client.search("zanzibar", None).await.expect("search");
    assert_eq!(
        found.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![fresh.id],
        "the search index forgot the purged text"
    );
    assert_api_error(
        ann.client.message_edits(general, edited.id).await,
        404,
        "not_found",
    );
    assert!(ann.client.pins(general).await.expect("pins").is_empty());
    assert!(
        bob.client
            .mentions(None, None)
            .await
            .expect("mentions")
            .is_empty()
    );
    assert_eq!(with_file.attachments.len(), 1);
    assert_api_error(ann.client.file(file.id).await, 404, "not_found");
    let left = walk_files(&server.config.data_dir.join("objects"));
    assert!(
        left.is_empty(),
        "the collector deleted the object: {left:?}"
    );
    if server.config.store.is_none() {
        // The embedded store's files hold the purged words nowhere: not in the search index (merged at
        // the run's end), the tables, or the write-ahead log.
        for path in walk_files(&server.config.data_dir) {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let found = bytes.windows(b"quarterly".len()).any(|w| w == b"quarterly");
            assert!(!found, "{} still holds a purged word", path.display());
        }
    }

    // The run is in the audit log, by whoever asked for it.
    let audit = ann
        .client
        .audit(&[("kind", "purged")])
        .await
        .expect("audit");
    let entry = audit.entries.first().expect("a purged entry");
    assert_eq!(
        (entry.kind, entry.actor_id),
        (AuditKind::Purged, Some(ann.id))
    );
    assert!(
        entry
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("10 messages and 1 files")),
        "{entry:?}"
    );

    // A device resuming from the start of the log hears nothing of the purged messages.
    let replayed = replay_from_start(&bob.client).await;
    let about = |id: MessageId| {
        [
            format!("\"message_id\":\"{id}\""),
            format!("\"message\":{{\"id\":\"{id}\""),
        ]
    };
    for purged in [pinned.id, edited.id, closed.id, last_old.id] {
        assert!(
            replayed
                .iter()
                .all(|event| about(purged).iter().all(|a| !event.contains(a))),
            "an event about {purged} is left: {replayed:?}"
        );
    }
    assert!(
        replayed
            .iter()
            .any(|event| event.contains(&about(fresh.id)[1])),
        "{replayed:?}"
    );
    // In their place, the purge: a device that was away drops what it still shows.
    let purged = format!(
        "\"type\":\"conversation.purged\",\"conversation_id\":\"{general}\",\"through\":\"{}\"",
        last_old.id
    );
    assert!(
        replayed.iter().any(|event| event.contains(&purged)),
        "{replayed:?}"
    );

    // A second run finds nothing more.
    let again = purge(&ann.client).await.last_run.expect("a run");
    assert_eq!(again.messages_removed, 0);
}

on_both_stores!(
    a_channel_keeps_messages_for_its_own_time_where_allowed,
    a_channel_keeps_messages_for_its_own_time_where_allowed_on_postgres,
    channel_retention
);

async fn channel_retention(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let records = channel(&ann.client, "records", false).await;
    let chatter = channel(&ann.client, "chatter", false).await;
    bob.client.join(records).await.expect("join");
    let with_bob = dm(&ann.client, bob.id).await;

    // Not while the organization does not allow it.
    assert_api_error(
        ann.client.set_channel_retention(records, Some(0)).await,
        403,
        "channel_retention_off",
    );
    let allow = OrgSettingsPatch {
        retention_days: Some(30),
        channel_retention: Some(true),
        ..OrgSettingsPatch::default()
    };
    ann.client.update_org_settings(&allow).await.expect("allow");

    // Only the channel's owners and administrators; only channels; within range.
    assert_api_error(
        bob.client.set_channel_retention(records, Some(0)).await,
        403,
        "not_moderator",
    );
    assert_api_error(
        ann.client.set_channel_retention(with_bob, Some(0)).await,
        400,
        "not_a_channel",
    );
    assert_api_error(
        ann.client
            .set_channel_retention(records, Some(36_501))
            .await,
        400,
        "invalid_retention",
    );
    let path = ["v1", "conversations", &records.to_string(), "retention"];
    for hostile in [
        r#"{"retention_days": -1}"#,
        r#"{"retention_days": "30"}"#,
        r#"{"retention_days": 1e3}"#,
        r#"{"days": 3}"#,
        "[]",
    ] {
        let answer = raw_json(&ann.client, Method::PUT, &path, hostile).await;
        assert_eq!(answer.status, 400, "{hostile}: {answer:?}");
    }

    let kept = ann
        .client
        .set_channel_retention(records, Some(0))
        .await
        .expect("keep for ever");
    assert_eq!(kept.retention_days, Some(0));
    let seen = bob.client.conversation(records).await.expect("show");
    assert_eq!(seen.retention_days, Some(0));
    ann.client
        .set_channel_retention(chatter, Some(7))
        .await
        .expect("a week");

    let record = say(&ann.client, records, "signed contract").await;
    let chat = say(&ann.client, chatter, "lunch?").await;
    let recent_chat = say(&ann.client, chatter, "lunch again?").await;
    server
        .backdate_messages(records, record.id.0, AGE_DAYS)
        .await;
    server.backdate_messages(chatter, chat.id.0, 10).await;
    let status = purge(&ann.client).await;
    assert_eq!(status.channels_with_own_retention, 2);
    assert_eq!(
        status
            .last_run
            .map(|r| (r.messages_removed, r.conversations)),
        Some((1, 1))
    );
    assert_eq!(
        everything(&ann.client, records).await.len(),
        1,
        "kept for ever"
    );
    assert_eq!(
        everything(&ann.client, chatter).await,
        vec![(recent_chat.id, recent_chat.text.clone())],
        "ten days is past the channel's week, not the org's month"
    );

    // Back to the organization's policy; and once channels may no longer choose, theirs no longer counts.
    let back = ann
        .client
        .set_channel_retention(records, None)
        .await
        .expect("follow the org");
    assert_eq!(back.retention_days, None);
    ann.client
        .set_channel_retention(records, Some(0))
        .await
        .expect("for ever again");
    let disallow = OrgSettingsPatch {
        channel_retention: Some(false),
        ..OrgSettingsPatch::default()
    };
    ann.client
        .update_org_settings(&disallow)
        .await
        .expect("disallow");
    let status = purge(&ann.client).await;
    assert_eq!(status.channels_with_own_retention, 0);
    assert_eq!(status.last_run.map(|r| r.messages_removed), Some(1));
    assert!(everything(&ann.client, records).await.is_empty());
}

#[tokio::test]
async fn only_administrators_see_and_run_the_purge() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    assert_api_error(bob.client.retention_status().await, 403, "not_admin");
    assert_api_error(bob.client.run_purge().await, 403, "not_admin");
    assert_api_error(
        bob.client.update_org_settings(&keep_for(1)).await,
        403,
        "not_admin",
    );
    assert_api_error(
        ann.client.update_org_settings(&keep_for(36_501)).await,
        400,
        "invalid_retention",
    );
    for hostile in [
        r#"{"retention_days": -5}"#,
        r#"{"retention_days": 99999999999}"#,
        r#"{"channel_retention": "yes"}"#,
    ] {
        let answer = raw_json(
            &ann.client,
            Method::PATCH,
            &["v1", "org", "settings"],
            hostile,
        )
        .await;
        assert_eq!(answer.status, 400, "{hostile}: {answer:?}");
    }
    let status = ann.client.retention_status().await.expect("status");
    assert_eq!((status.retention_days, status.last_run), (0, None));

    // A refused attempt is in the audit log.
    let refused = ann
        .client
        .audit(&[("kind", "purged"), ("actor", &bob.id.to_string())])
        .await
        .expect("audit");
    assert!(!refused.entries.is_empty());
    let logged_out = bob.client.with_token("not a token");
    assert_api_error(logged_out.retention_status().await, 401, "unauthenticated");
}
