//! Read replicas and failover on a real PostgreSQL primary with a real streaming replica (issue 20):
//! reads go to the replica only once it has replayed what the reader needs, so a client always sees its
//! own writes, whichever node it wrote through; a lagging or dead replica leaves reads to the primary;
//! and promoting the replica under load loses no acknowledged message.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parley_client::proto::v1::{EditMessageRequest, Event, Mentions, SendMessageRequest};
use parley_client::{Client, Page};
use parley_proto::{ConversationId, MessageId};
use parley_testkit::cluster::Schema;
use parley_testkit::replication::{PgPair, Replication};
use parley_testkit::{TestServer, TestUser};

use crate::crashes::whole_history;
use crate::features::draft;
use crate::realtime::next_event;
use crate::{assert_api_error, dm, group};

/// A server on the pair's primary (at `store`) that reads from its replica.
async fn reading_from_the_replica(pair: &PgPair, store: String) -> TestServer {
    let replica = pair.replica_url();
    TestServer::spawn_with(|config| {
        config.store = Some(store);
        config.store_replicas = vec![replica];
    })
    .await
}

/// A pair, a server reading from its replica (on the primary's URL, or the failover URL with
/// `Replication::Synchronous`), Ann and Bob, and their DM; `None` without PostgreSQL's server binaries.
async fn a_dm_on_a_pair(
    replication: Replication,
) -> Option<(PgPair, TestServer, TestUser, TestUser, ConversationId)> {
    let pair = PgPair::start(replication).await?;
    let store = match replication {
        Replication::Asynchronous => pair.primary_url(),
        Replication::Synchronous => pair.failover_url(),
    };
    let server = reading_from_the_replica(&pair, store).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    Some((pair, server, ann, bob, id))
}

/// Reads sent so far (by every server of this test process) to the replica and to the primary.
async fn routed(server: &TestServer) -> (u64, u64) {
    let metrics = server.client().text(&["metrics"]).await.expect("metrics");
    let count = |to: &str| {
        let label = format!("parley_store_routed_reads_total{{to=\"{to}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&label))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (count("replica"), count("primary"))
}

/// The newest message of `id` as `client` reads it.
async fn newest(client: &Client, id: ConversationId) -> (MessageId, Option<String>) {
    let page = Page {
        limit: Some(1),
        ..Page::default()
    };
    let history = client.history(id, page).await.expect("history");
    let last = history.last().expect("a message");
    (last.id, last.text.clone())
}

/// `user`'s client, through `server`.
fn through(user: &TestUser, server: &TestServer) -> Client {
    let token = user.client.token().expect("a logged-in user");
    server.client().with_token(token)
}

/// Reads `id`'s history through `client` until a read is routed to the replica; panics after 5 s.
async fn until_the_replica_answers(server: &TestServer, client: &Client, id: ConversationId) {
    let (before, _) = routed(server).await;
    for _ in 0..100 {
        client.history(id, Page::default()).await.expect("history");
        if routed(server).await.0 > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no read reached the replica within 5 s");
}

/// A shard after the first reads from its own replica (`store_shard_replicas`): here the pair is shard 1,
/// and the tests' PostgreSQL, without a replica, shard 0. An organization on shard 1 reads its own writes
/// at once, its reads reaching the replica once it has caught up.
#[tokio::test]
async fn a_shard_reads_from_its_own_replica() {
    let Some(pair) = PgPair::start(Replication::Asynchronous).await else {
        return;
    };
    let Some(first) = Schema::create().await else {
        return;
    };
    pair.delay_replay(100).await;
    let server = TestServer::spawn_with(|config| {
        config.store = Some(first.store_url());
        config.store_shards = vec![pair.primary_url()];
        config.store_shard_replicas = vec![format!("1={}", pair.replica_url())];
    })
    .await;
    server.user_in("Placeholder", Some("on-the-first")).await;
    let ann = server.user_in("Ann", Some("on-the-second")).await;
    let bob = server.user_in("Bob", Some("on-the-second")).await;
    let org = ann.client.me().await.expect("me").org_id;
    assert_eq!(org.0 % 1024, 1, "the organization lives on the pair");
    let id = dm(&ann.client, bob.id).await;
    for n in 0..10 {
        let text = format!("message {n}");
        let sent = ann
            .client
            .send_message(id, &text, None)
            .await
            .expect("send");
        assert_eq!(newest(&bob.client, id).await, (sent.value.id, Some(text)));
    }
    until_the_replica_answers(&server, &bob.client, id).await;
}

#[tokio::test]
async fn a_client_that_writes_through_one_node_and_reads_through_another_at_once_sees_its_write() {
    let Some(pair) = PgPair::start(Replication::Asynchronous).await else {
        return;
    };
    // Always a little behind: a read that went to the replica without waiting for it would miss the
    // write it follows.
    pair.delay_replay(200).await;
    let one = reading_from_the_replica(&pair, pair.primary_url()).await;
    let two = reading_from_the_replica(&pair, pair.primary_url()).await;
    let ann = one.user("Ann").await;
    let bob = one.user("Bob").await;
    let (ann_two, bob_two) = (through(&ann, &two), through(&bob, &two));
    let id = dm(&ann.client, bob.id).await;

    for n in 0..40 {
        // A send through one node, read back through the other at once, by its author and by the other
        // member; then an edit through the second node, read back through the first.
        let text = format!("message {n}");
        let sent = ann
            .client
            .send_message(id, &text, None)
            .await
            .expect("send");
        assert_eq!(
            newest(&ann_two, id).await,
            (sent.value.id, Some(text.clone()))
        );
        assert_eq!(newest(&bob_two, id).await.0, sent.value.id);
        let edited = format!("message {n}, edited");
        let edit = EditMessageRequest {
            text: edited.clone(),
            mentions: None,
        };
        ann_two
            .edit_message(id, sent.value.id, &edit)
            .await
            .expect("edit");
        assert_eq!(newest(&bob.client, id).await, (sent.value.id, Some(edited)));

        // A conversation made through one node is in the list read through the other.
        if n % 10 == 0 {
            let made = group(&bob_two, &format!("group {n}"), &[ann.id]).await;
            let listed = ann.client.conversations().await.expect("conversations");
            assert!(listed.iter().any(|c| c.id == made), "group {n} listed");
        }
    }

    // The replica does take reads once it has replayed what they need.
    until_the_replica_answers(&one, &bob.client, id).await;
    let history = bob
        .client
        .history(id, Page::default())
        .await
        .expect("history");
    assert_eq!(history.len(), 40, "every message, read from the replica");
}

#[tokio::test]
async fn while_the_replica_lags_every_read_it_takes_goes_to_the_primary_and_sees_every_write() {
    let Some((pair, server, ann, bob, id)) = a_dm_on_a_pair(Replication::Asynchronous).await else {
        return;
    };
    let first = ann
        .client
        .send_message(id, "before", None)
        .await
        .expect("send");
    until_the_replica_answers(&server, &bob.client, id).await;
    let bobs = bob.client.connect(None).await.expect("connect");
    let cursor = bobs.ready_cursor;
    bobs.drop_without_close();

    // The replica receives the primary's WAL but applies none of it; every read below follows a write it
    // has not applied, so a replica answering any of them would answer without that write.
    pair.pause_replay().await;
    let (to_replica, _) = routed(&server).await;

    // History, after a send and after an edit.
    let text = "while the replica lags";
    let sent = ann.client.send_message(id, text, None).await.expect("send");
    assert_eq!(
        newest(&bob.client, id).await,
        (sent.value.id, Some(text.to_owned()))
    );
    let edit = EditMessageRequest {
        text: "while the replica lags, edited".to_owned(),
        mentions: None,
    };
    ann.client
        .edit_message(id, sent.value.id, &edit)
        .await
        .expect("edit");
    let versions = bob
        .client
        .message_edits(id, sent.value.id)
        .await
        .expect("edits");
    assert_eq!(
        versions.first().map(|v| v.text.as_str()),
        Some(text),
        "edit history"
    );

    // A thread, its replies, and the threads I follow.
    let reply = SendMessageRequest {
        thread_root_id: Some(first.value.id),
        ..draft("a reply")
    };
    let replied = bob.client.send_draft(id, &reply).await.expect("reply");
    let thread = ann.client.thread(id, first.value.id, Page::default()).await;
    assert_eq!(
        thread.expect("thread").last().map(|m| m.id),
        Some(replied.value.message.id)
    );
    let threads = ann.client.threads().await.expect("threads");
    assert!(
        threads.iter().any(|t| t.root.id == first.value.id),
        "followed thread"
    );

    // Mentions and pins.
    let mention = SendMessageRequest {
        mentions: Some(Mentions {
            user_ids: vec![bob.id],
            channel: false,
            here: false,
        }),
        ..draft("@Bob look")
    };
    let mentioned = ann.client.send_draft(id, &mention).await.expect("mention");
    let mentions = bob.client.mentions(None, None).await.expect("mentions");
    assert_eq!(
        mentions.first().map(|m| m.id),
        Some(mentioned.value.message.id)
    );
    ann.client.pin(id, first.value.id).await.expect("pin");
    let pins = bob.client.pins(id).await.expect("pins");
    assert_eq!(pins.first().map(|p| p.message.id), Some(first.value.id));

    // Conversation lists, the channel directory and the people directory.
    let made = group(&ann.client, "made while the replica lags", &[bob.id]).await;
    let listed = bob.client.conversations().await.expect("conversations");
    assert!(listed.iter().any(|c| c.id == made), "new group listed");
    let handle = "lagging";
    let channel = crate::channel(&ann.client, handle, false).await;
    let found = bob.client.channels(handle).await.expect("channels");
    assert!(
        found.iter().any(|c| c.id == channel),
        "new channel in the directory"
    );
    let zed = server.user("Zed").await;
    let people = ann
        .client
        .search_users(&zed.username)
        .await
        .expect("people");
    assert!(people.iter().any(|u| u.id == zed.id), "new person found");

    // Search: the indexer enters a message a moment after its commit.
    let word = "quetzalcoatl";
    ann.client.send_message(id, word, None).await.expect("send");
    let mut searched = Vec::new();
    for _ in 0..100 {
        searched = bob.client.search(word, None).await.expect("search");
        if !searched.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(searched.len(), 1, "search finds the new message");

    // A socket that connects after being added to a group is in it, and one that resumes gets everything.
    let mut fresh = bob.client.connect(None).await.expect("connect");
    let heard = ann
        .client
        .send_message(made, "to the new group", None)
        .await
        .expect("send");
    let frame = next_event(&mut fresh).await;
    assert!(
        matches!(&frame.event, Event::MessageCreated { message, .. } if message.id == heard.value.id),
        "{frame:?}"
    );
    let mut resumed = bob.client.connect(Some(cursor)).await.expect("resume");
    let mut replayed = Vec::new();
    while replayed.last() != Some(&heard.value.id) {
        if let Event::MessageCreated { message, .. } = next_event(&mut resumed).await.event {
            replayed.push(message.id);
        }
    }
    assert!(
        replayed.contains(&sent.value.id),
        "the catch-up has the sends"
    );

    let (now_replica, _) = routed(&server).await;
    assert_eq!(
        now_replica, to_replica,
        "no read reached a replica that lags"
    );

    // Caught up again, the replica takes reads back and has everything.
    pair.resume_replay().await;
    until_the_replica_answers(&server, &bob.client, id).await;
    let history = bob
        .client
        .history(id, Page::default())
        .await
        .expect("history");
    assert_eq!(
        history.len(),
        4,
        "before, the edited send, the mention and the search word"
    );
}

#[tokio::test]
async fn a_replica_that_is_down_leaves_reads_to_the_primary_until_it_is_back() {
    let Some((pair, server, ann, bob, id)) = a_dm_on_a_pair(Replication::Asynchronous).await else {
        return;
    };
    ann.client
        .send_message(id, "before", None)
        .await
        .expect("send");
    until_the_replica_answers(&server, &bob.client, id).await;

    pair.kill_replica().await;
    for n in 0..10 {
        let text = format!("while the replica is down {n}");
        let sent = ann
            .client
            .send_message(id, &text, None)
            .await
            .expect("send");
        assert_eq!(newest(&bob.client, id).await, (sent.value.id, Some(text)));
        let listed = bob.client.conversations().await.expect("conversations");
        assert!(listed.iter().any(|c| c.id == id));
    }

    pair.restart_replica().await;
    until_the_replica_answers(&server, &bob.client, id).await;
}

#[tokio::test]
async fn a_socket_resuming_through_a_replica_misses_no_event() {
    let Some((pair, server, ann, bob, id)) = a_dm_on_a_pair(Replication::Asynchronous).await else {
        return;
    };
    pair.delay_replay(200).await;
    for round in 0..5 {
        let socket = bob.client.connect(None).await.expect("connect");
        let cursor = socket.ready_cursor;
        socket.drop_without_close();
        let mut sent = Vec::new();
        for n in 0..20 {
            let text = format!("round {round} message {n}");
            let message = ann.client.send_message(id, &text, None).await;
            sent.push(message.expect("send").value.id);
        }
        // Resumed at once: the catch-up reads every event committed before it, replica or not.
        let mut resumed = bob.client.connect(Some(cursor)).await.expect("resume");
        for expected in &sent {
            let frame = next_event(&mut resumed).await;
            assert!(
                matches!(&frame.event, Event::MessageCreated { message, .. } if message.id == *expected),
                "round {round}: {frame:?}"
            );
        }
        resumed.close().await;
    }
    until_the_replica_answers(&server, &bob.client, id).await;
}

#[tokio::test]
async fn replicas_need_a_postgres_store() {
    let data = tempfile::tempdir().expect("a directory");
    let config = parley_server::Config {
        data_dir: data.path().to_path_buf(),
        store_replicas: vec!["postgres://postgres@127.0.0.1:1/none".to_owned()],
        ..parley_server::Config::default()
    };
    let opened = parley_server::AppState::open(&config).await;
    let error = opened.err().expect("refused").to_string();
    assert!(error.contains("store = postgres://"), "{error}");
}

#[tokio::test]
async fn promoting_the_replica_under_load_loses_no_acknowledged_message() {
    // One URL naming both servers, which connects to whichever takes writes: the store follows the
    // promotion without a restart.
    let Some((pair, _server, ann, bob, id)) = a_dm_on_a_pair(Replication::Synchronous).await else {
        return;
    };
    // A socket open through the failover, read all along so it never falls behind.
    let mut watching = bob.client.connect(None).await.expect("connect");
    let watcher = tokio::spawn(async move {
        loop {
            let frame = next_event(&mut watching).await;
            if matches!(&frame.event, Event::MessageCreated { message, .. }
                if message.text.as_deref() == Some("live after"))
            {
                return;
            }
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|n| {
            let sender = ann.client.clone();
            tokio::spawn(crate::crashes::sender(sender, id, n, Arc::clone(&stop)))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    pair.kill_primary().await;
    // With the primary gone and the replica not yet promoted, writes are refused, and say so.
    assert_api_error(
        ann.client.send_message(id, "refused", None).await,
        503,
        "unavailable",
    );
    // And so are reads: no node can tell whether the replica has every acknowledged write.
    assert_api_error(
        bob.client.history(id, Page::default()).await,
        503,
        "unavailable",
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    pair.promote_replica().await;
    // Writes go on once the store has found the new primary.
    let resumed = tokio::time::timeout(Duration::from_secs(30), async {
        while ann
            .client
            .send_message(id, "after", Some("after"))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    resumed.await.expect("writes go on after the promotion");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = BTreeMap::new();
    for sender in senders {
        acknowledged.extend(sender.await.expect("a sender"));
    }
    assert!(acknowledged.len() > 20, "load ran: {}", acknowledged.len());

    // Every acknowledged message is on the new primary, once.
    let mut stored = BTreeMap::new();
    for message in whole_history(&ann.client, id).await {
        let text = message.text.clone().unwrap_or_default();
        assert!(stored.insert(text, message.id).is_none(), "stored once");
    }
    for (nonce, message_id) in &acknowledged {
        assert_eq!(
            stored.get(nonce),
            Some(message_id),
            "{nonce} was acknowledged"
        );
    }

    // The socket opened before the failover was kept and hears what is sent after it.
    ann.client
        .send_message(id, "live after", None)
        .await
        .expect("send");
    tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("the socket hears the send")
        .expect("the socket stayed open");
}

#[tokio::test]
async fn a_replica_url_naming_another_database_takes_no_reads() {
    let Some(pair) = PgPair::start(Replication::Asynchronous).await else {
        return;
    };
    // Another Parley's database on the same servers: the same tables, none of this server's rows.
    pair.on_primary("CREATE DATABASE other").await;
    let (other, replica_of_other) = pair.urls_of("other");
    let migrated = parley_store::PgStore::open(&other).await;
    drop(migrated.expect("the other database"));
    let store = pair.primary_url();
    let server = TestServer::spawn_with(|config| {
        config.store = Some(store);
        config.store_replicas = vec![replica_of_other];
    })
    .await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let sent = ann
        .client
        .send_message(id, "here", None)
        .await
        .expect("send");
    for _ in 0..20 {
        assert_eq!(newest(&bob.client, id).await.0, sent.value.id);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(routed(&server).await.0, 0, "the other database answered");
}
