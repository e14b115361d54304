//! Sending, history, reactions, deletes, read checkpoints, receipts and search.

use parley_client::{DeleteFor, Page};
use parley_proto::MessageId;
use parley_testkit::TestServer;

use crate::{assert_api_error, channel, dm, group};

#[tokio::test]
async fn send_and_read_history_in_pages_oldest_first() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut sent = Vec::new();
    for n in 0..120 {
        let created = ann
            .client
            .send_message(id, &format!("message {n}"), None)
            .await
            .expect("send");
        assert!(created.new);
        sent.push(created.value.id);
    }
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "ids only grow");

    let newest = bob
        .client
        .history(id, Page::default())
        .await
        .expect("history");
    assert_eq!(newest.len(), 50, "default page");
    assert_eq!(newest.last().map(|m| m.id), sent.last().copied());
    assert!(newest.windows(2).all(|w| w[0].id < w[1].id), "oldest first");

    let before = bob
        .client
        .history(
            id,
            Page {
                before: Some(newest[0].id),
                limit: Some(200),
                ..Page::default()
            },
        )
        .await;
    let before = before.expect("older page");
    assert_eq!(before.len(), 70);
    assert_eq!(before[0].id, sent[0]);
    let after = bob
        .client
        .history(
            id,
            Page {
                after: Some(sent[9]),
                limit: Some(5),
                ..Page::default()
            },
        )
        .await;
    assert_eq!(
        after
            .expect("after")
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        sent[10..15].to_vec()
    );
    let between = Page {
        after: Some(sent[0]),
        before: Some(sent[3]),
        ..Page::default()
    };
    let between = bob.client.history(id, between).await.expect("between");
    assert_eq!(
        between.iter().map(|m| m.id).collect::<Vec<_>>(),
        sent[1..3].to_vec()
    );

    for limit in [0, 201] {
        let page = Page {
            limit: Some(limit),
            ..Page::default()
        };
        assert_api_error(bob.client.history(id, page).await, 400, "invalid_limit");
    }
}

#[tokio::test]
async fn text_rules_count_characters_and_refuse_control_characters() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let longest = "🙂".repeat(10_000);
    let stored = ann
        .client
        .send_message(id, &longest, None)
        .await
        .expect("10,000 characters")
        .value;
    assert_eq!(stored.text.as_deref(), Some(longest.as_str()));
    ann.client
        .send_message(id, "tab\tand\nnewline", None)
        .await
        .expect("tab and newline are fine");
    let unicode = "Grüße, 世界! مرحبا";
    let back = ann
        .client
        .send_message(id, unicode, None)
        .await
        .expect("send")
        .value;
    assert_eq!(back.text.as_deref(), Some(unicode));
    for bad in [
        String::new(),
        "   ".to_owned(),
        "a".repeat(10_001),
        "bell\u{7}".to_owned(),
        "nul\u{0}".to_owned(),
        "esc\u{1b}[31m".to_owned(),
    ] {
        assert_api_error(
            ann.client.send_message(id, &bad, None).await,
            400,
            "invalid_text",
        );
    }
    let long_nonce = "n".repeat(65);
    assert_api_error(
        ann.client.send_message(id, "hi", Some(&long_nonce)).await,
        400,
        "invalid_nonce",
    );
    assert_eq!(
        bob.client
            .history(id, Page::default())
            .await
            .expect("history")
            .len(),
        3,
        "nothing bad was stored"
    );
}

#[tokio::test]
async fn a_retried_nonce_never_makes_a_second_message() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let first = ann
        .client
        .send_message(id, "once", Some("nonce-1"))
        .await
        .expect("send");
    assert!(first.new);
    let retry = ann
        .client
        .send_message(id, "once", Some("nonce-1"))
        .await
        .expect("retry");
    assert!(!retry.new, "200 with the same message");
    assert_eq!(retry.value, first.value);
    // Concurrent retries too.
    let retries = (0..20).map(|_| ann.client.send_message(id, "racing", Some("nonce-2")));
    let answers = futures_util::future::join_all(retries).await;
    let ids: std::collections::BTreeSet<MessageId> = answers
        .into_iter()
        .map(|a| a.expect("send").value.id)
        .collect();
    assert_eq!(ids.len(), 1);
    // Another author may use the same nonce.
    assert!(
        bob.client
            .send_message(id, "mine", Some("nonce-1"))
            .await
            .expect("send")
            .new
    );
    assert_eq!(
        ann.client
            .history(id, Page::default())
            .await
            .expect("history")
            .len(),
        3
    );
}

#[tokio::test]
async fn reactions_any_emoji_like_by_default_name() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let id = dm(&ann.client, bob.id).await;
    let message = ann
        .client
        .send_message(id, "react to me", None)
        .await
        .expect("send")
        .value;
    ann.client
        .react(id, message.id, "like")
        .await
        .expect("like");
    bob.client
        .react(id, message.id, "like")
        .await
        .expect("like");
    bob.client
        .react(id, message.id, "👍🏽")
        .await
        .expect("skin-toned emoji");
    bob.client
        .react(id, message.id, "👍🏽")
        .await
        .expect("twice is fine");
    let shown = &ann
        .client
        .history(id, Page::default())
        .await
        .expect("history")[0];
    let likes = shown
        .reactions
        .iter()
        .find(|r| r.emoji == "like")
        .expect("likes");
    assert_eq!(likes.user_ids, vec![ann.id, bob.id]);
    assert!(
        shown
            .reactions
            .iter()
            .any(|r| r.emoji == "👍🏽" && r.user_ids == vec![bob.id])
    );

    bob.client
        .unreact(id, message.id, "like")
        .await
        .expect("unlike");
    let shown = &ann
        .client
        .history(id, Page::default())
        .await
        .expect("history")[0];
    assert_eq!(
        shown
            .reactions
            .iter()
            .find(|r| r.emoji == "like")
            .map(|r| r.user_ids.clone()),
        Some(vec![ann.id])
    );

    assert_api_error(
        ann.client.react(id, message.id, &"x".repeat(33)).await,
        400,
        "invalid_emoji",
    );
    assert_api_error(
        ann.client.react(id, message.id, "two words").await,
        400,
        "invalid_emoji",
    );
    assert_api_error(
        ann.client.react(id, MessageId(999_999), "like").await,
        404,
        "not_found",
    );
    assert_api_error(
        carol.client.react(id, message.id, "like").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn delete_for_me_hides_only_from_me() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let message = ann
        .client
        .send_message(id, "hide me", None)
        .await
        .expect("send")
        .value;
    bob.client
        .delete_message(id, message.id, DeleteFor::Me)
        .await
        .expect("anyone may delete for themselves");
    assert!(
        bob.client
            .history(id, Page::default())
            .await
            .expect("history")
            .is_empty()
    );
    assert_eq!(
        ann.client
            .history(id, Page::default())
            .await
            .expect("history")
            .len(),
        1
    );
    assert!(
        bob.client
            .search("hide", None)
            .await
            .expect("search")
            .is_empty()
    );
}

#[tokio::test]
async fn delete_for_everyone_is_the_senders_and_erases_the_text() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let message = ann
        .client
        .send_message(id, "a secret to erase", None)
        .await
        .expect("send")
        .value;
    bob.client
        .react(id, message.id, "like")
        .await
        .expect("react");
    let refused = bob
        .client
        .delete_message(id, message.id, DeleteFor::Everyone)
        .await;
    assert_api_error(refused, 403, "forbidden");
    ann.client
        .delete_message(id, message.id, DeleteFor::Everyone)
        .await
        .expect("sender deletes");
    ann.client
        .delete_message(id, message.id, DeleteFor::Everyone)
        .await
        .expect("again is fine");
    for client in [&ann.client, &bob.client] {
        let history = client.history(id, Page::default()).await.expect("history");
        assert_eq!(history.len(), 1, "a tombstone stays");
        assert!(history[0].deleted && history[0].text.is_none() && history[0].reactions.is_empty());
        assert!(
            client
                .search("secret", None)
                .await
                .expect("search")
                .is_empty(),
            "gone from the index"
        );
    }
    let path = ["v1", "conversations", &id.to_string(), "messages"].map(str::to_owned);
    let raw = ann
        .client
        .raw(
            reqwest::Method::GET,
            &path.each_ref().map(String::as_str),
            None,
            Vec::new(),
        )
        .await;
    let body = String::from_utf8(raw.expect("raw").body).expect("utf-8");
    assert!(
        !body.contains("secret") && body.contains("\"deleted\":true"),
        "{body}"
    );
    assert_api_error(
        ann.client.react(id, message.id, "like").await,
        400,
        "message_deleted",
    );
}

#[tokio::test]
async fn read_checkpoints_only_move_forward_and_show_as_receipts() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let id = group(&ann.client, "Readers", &[bob.id]).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            ann.client
                .send_message(id, &format!("m{n}"), None)
                .await
                .expect("send")
                .value
                .id,
        );
    }
    let unread = |list: Vec<parley_proto::v1::Conversation>| {
        list.iter()
            .find(|c| c.id == id)
            .and_then(|c| c.unread_count)
    };
    assert_eq!(
        unread(bob.client.conversations().await.expect("list")),
        Some(3)
    );
    bob.client.mark_read(id, ids[1]).await.expect("read");
    assert_eq!(
        unread(bob.client.conversations().await.expect("list")),
        Some(1)
    );
    bob.client
        .mark_read(id, ids[0])
        .await
        .expect("an older id is accepted");
    let receipts = ann.client.receipts(id).await.expect("receipts");
    assert!(
        receipts
            .iter()
            .any(|r| r.user_id == bob.id && r.message_id == ids[1]),
        "never moves back: {receipts:?}"
    );
    assert!(
        receipts.iter().all(|r| r.user_id != ann.id),
        "Ann has marked nothing"
    );
    assert_api_error(
        bob.client.mark_read(id, MessageId(999_999)).await,
        404,
        "not_found",
    );
    assert_api_error(carol.client.mark_read(id, ids[2]).await, 404, "not_found");
    assert_api_error(carol.client.receipts(id).await, 404, "not_found");
}

#[tokio::test]
async fn search_covers_only_conversations_you_are_in() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let stranger = server.user_in("Eve", Some("otherco")).await;
    let ours = dm(&ann.client, bob.id).await;
    let theirs = dm(&bob.client, carol.id).await;
    let public = channel(&bob.client, "public-talk", false).await;
    ann.client
        .send_message(ours, "the quarterly report is ready", None)
        .await
        .expect("send");
    carol
        .client
        .send_message(theirs, "the quarterly report is late", None)
        .await
        .expect("send");
    bob.client
        .send_message(public, "quarterly numbers in the channel", None)
        .await
        .expect("send");
    let other_dm = dm(
        &stranger.client,
        server.user_in("Fay", Some("otherco")).await.id,
    )
    .await;
    stranger
        .client
        .send_message(other_dm, "quarterly report of another org", None)
        .await
        .expect("send");

    let found = ann
        .client
        .search("quarterly report", None)
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|m| m.conversation_id).collect::<Vec<_>>(),
        vec![ours]
    );
    assert_eq!(
        bob.client
            .search("quarterly", None)
            .await
            .expect("search")
            .len(),
        3
    );
    assert_eq!(
        bob.client
            .search("quarterly", Some(theirs))
            .await
            .expect("search")
            .len(),
        1
    );
    assert_eq!(
        ann.client
            .search("quart", None)
            .await
            .expect("prefix")
            .len(),
        1
    );
    assert_api_error(
        ann.client.search("quarterly", Some(theirs)).await,
        404,
        "not_found",
    );
    for hostile in [
        "\"",
        "report*",
        "NEAR(a b)",
        "a OR b",
        "-report",
        "text:report",
        "(((",
        "'; DROP TABLE messages; --",
    ] {
        ann.client
            .search(hostile, None)
            .await
            .expect("search syntax is plain text");
    }
    assert_api_error(ann.client.search("", None).await, 400, "invalid_query");
    assert_api_error(
        ann.client.search(&"q".repeat(257), None).await,
        400,
        "invalid_query",
    );
}
