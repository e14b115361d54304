//! Threads: replies beside the main history with their root's counters, live and on resume, pages of a
//! thread, who follows it and what they have not read, and every root a reply may not have.

use parley_client::proto::v1::{
    ClientOp, Conversation, Event, EventFrame, Message, SendMessageRequest, ServerFrame, ThreadInfo,
};
use parley_client::{Client, DeleteFor, Page};
use parley_proto::{ConversationId, MessageId};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::bad_input::assert_error;
use crate::features::on_both_stores;
use crate::features::{
    draft, heard_nothing_before_a_marker, naming, raw_json, revoked_session_of, say,
};
use crate::realtime::{connect, next_event, next_reply, reply_and_event};
use crate::{assert_api_error, dm, group};

fn reply_to(root_id: MessageId, text: &str) -> SendMessageRequest {
    SendMessageRequest {
        thread_root_id: Some(root_id),
        ..draft(text)
    }
}

async fn reply(
    client: &Client,
    conversation_id: ConversationId,
    request: &SendMessageRequest,
) -> Message {
    let sent = client
        .send_draft(conversation_id, request)
        .await
        .expect("reply");
    assert!(sent.new);
    sent.value.message
}

fn unread(list: &[Conversation], id: ConversationId) -> Option<u64> {
    list.iter()
        .find(|c| c.id == id)
        .and_then(|c| c.unread_count)
}

/// The followed threads as (root, unread replies, checkpoint).
async fn followed(client: &Client) -> Vec<(MessageId, u64, Option<MessageId>)> {
    let threads: Vec<ThreadInfo> = client.threads().await.expect("threads");
    threads
        .iter()
        .map(|t| (t.root.id, t.unread_replies, t.last_read_message_id))
        .collect()
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

on_both_stores!(
    replies_grow_a_thread_beside_the_main_history,
    replies_grow_a_thread_beside_the_main_history_on_postgres,
    a_thread_grows
);

async fn a_thread_grows(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let dan = server.user("Dan").await;
    let id = group(&ann.client, "Friday", &[bob.id, carol.id, dan.id]).await;
    let root = say(&ann.client, id, "plan for friday").await;
    let mut bobs = connect(&bob).await;
    let before_the_thread = bobs.ready_cursor;

    // Four people reply five times; Dan's reply also goes to the conversation.
    let repliers = [
        (&bob, "I can bring snacks"),
        (&carol, "I will book the room"),
        (&bob, "and drinks"),
        (&ann, "thanks, all"),
    ];
    let mut replies = Vec::new();
    let mut live: Vec<EventFrame> = Vec::new();
    for (n, (who, text)) in repliers.into_iter().enumerate() {
        let sent = reply(&who.client, id, &reply_to(root.id, text)).await;
        assert_eq!(
            (
                sent.thread_root_id,
                sent.also_to_conversation,
                sent.text.as_deref()
            ),
            (Some(root.id), false, Some(text))
        );
        let created = next_event(&mut bobs).await;
        assert!(
            matches!(&created.event, Event::MessageCreated { message, .. } if *message == sent),
            "{created:?}"
        );
        let updated = next_event(&mut bobs).await;
        let first_repliers = match n {
            0 => vec![bob.id],
            1 | 2 => vec![bob.id, carol.id],
            _ => vec![bob.id, carol.id, ann.id],
        };
        assert_eq!(
            updated.event,
            Event::ThreadUpdated {
                conversation_id: id,
                root_id: root.id,
                reply_count: u32::try_from(n + 1).expect("small"),
                last_reply_at: Some(sent.created_at.clone()),
                repliers: first_repliers,
            }
        );
        assert!(created.cursor < updated.cursor);
        live.extend([created, updated]);
        replies.push(sent);
    }
    let also = SendMessageRequest {
        also_to_conversation: Some(true),
        ..reply_to(root.id, "count me in")
    };
    let dans = reply(&dan.client, id, &also).await;
    assert_eq!(
        (dans.thread_root_id, dans.also_to_conversation),
        (Some(root.id), true)
    );
    live.push(next_event(&mut bobs).await);
    live.push(next_event(&mut bobs).await);
    replies.push(dans.clone());

    // The root carries the counters: five replies, the last one's time, the first three repliers.
    let shown_root = bob.client.message(id, root.id).await.expect("root");
    assert_eq!(
        (
            shown_root.reply_count,
            shown_root.last_reply_at.as_deref(),
            shown_root.repliers.clone()
        ),
        (
            5,
            Some(dans.created_at.as_str()),
            vec![bob.id, carol.id, ann.id]
        )
    );
    // The main history has the root and the reply sent to it too, nothing else.
    for client in [&ann.client, &bob.client, &carol.client, &dan.client] {
        let history = client.history(id, Page::default()).await.expect("history");
        assert_eq!(history, vec![shown_root.clone(), dans.clone()]);
    }
    // Replies do not count as unread in the conversation; the one sent to it does.
    for (who, expected) in [(&ann, 1), (&bob, 2), (&carol, 2), (&dan, 1)] {
        let list = who.client.conversations().await.expect("list");
        assert_eq!(unread(&list, id), Some(expected), "{}", who.username);
    }
    // A reply has its own permalink.
    assert_eq!(
        carol
            .client
            .message(id, replies[0].id)
            .await
            .expect("permalink"),
        replies[0]
    );

    // The thread in pages, oldest first, like history.
    let all = carol
        .client
        .thread(id, root.id, Page::default())
        .await
        .expect("thread");
    assert_eq!(all, replies);
    let page = |before, after, limit| Page {
        before,
        after,
        limit: Some(limit),
        ..Page::default()
    };
    let newest_two = carol
        .client
        .thread(id, root.id, page(None, None, 2))
        .await
        .expect("page");
    assert_eq!(ids(&newest_two), ids(&replies[3..5]));
    let older = carol
        .client
        .thread(id, root.id, page(Some(replies[3].id), None, 2))
        .await
        .expect("page");
    assert_eq!(ids(&older), ids(&replies[1..3]));
    let newer = carol
        .client
        .thread(id, root.id, page(None, Some(replies[0].id), 3))
        .await
        .expect("page");
    assert_eq!(ids(&newer), ids(&replies[1..4]));
    for limit in [0, 201] {
        assert_api_error(
            carol
                .client
                .thread(id, root.id, page(None, None, limit))
                .await,
            400,
            "invalid_limit",
        );
    }

    // Bob was away for all of it: it replays in the order and at the cursors it had live.
    bobs.drop_without_close();
    let mut resumed = bob
        .client
        .connect(Some(before_the_thread))
        .await
        .expect("resume");
    for expected in &live {
        let replayed = next_event(&mut resumed).await;
        assert_eq!(replayed.cursor, expected.cursor);
        match (&replayed.event, &expected.event) {
            (
                Event::MessageCreated { message: a, .. },
                Event::MessageCreated { message: b, .. },
            ) => {
                assert_eq!(a.id, b.id);
                assert_eq!(a.thread_root_id, Some(root.id));
            }
            (
                Event::ThreadUpdated {
                    conversation_id: a,
                    root_id: b,
                    ..
                },
                Event::ThreadUpdated { .. },
            ) => assert_eq!((*a, *b), (id, root.id)),
            (got, wanted) => panic!("replayed {got:?} where {wanted:?} was live"),
        }
    }

    // A reply over the socket: acked with its root; members hear it and the root's new counters.
    let mut anns = connect(&ann).await;
    anns.send(&ClientOp::Send {
        reference: Some("r1".into()),
        conversation_id: id,
        text: "see you there".into(),
        nonce: None,
        mentions: None,
        thread_root_id: Some(root.id),
        also_to_conversation: None,
        quote: None,
        attachments: Vec::new(),
    })
    .await
    .expect("send op");
    let (ack, _) = reply_and_event(&mut anns).await;
    let ServerFrame::Ack {
        reference,
        message: over_the_socket,
        ..
    } = ack
    else {
        panic!("expected an ack, got {ack:?}")
    };
    assert_eq!(reference.as_deref(), Some("r1"));
    assert_eq!(over_the_socket.thread_root_id, Some(root.id));
    let created = next_event(&mut resumed).await;
    assert!(
        matches!(&created.event, Event::MessageCreated { message, .. } if *message == over_the_socket)
    );
    let updated = next_event(&mut resumed).await;
    assert!(
        matches!(&updated.event, Event::ThreadUpdated { root_id, reply_count: 6, .. } if *root_id == root.id),
        "{updated:?}"
    );

    // Replies racing each other are each counted once.
    let racing = (0..20).map(|n| {
        let client = [&bob, &carol, &dan][n % 3].client.clone();
        let request = reply_to(root.id, &format!("racing reply {n}"));
        async move { client.send_draft(id, &request).await }
    });
    for answer in futures_util::future::join_all(racing).await {
        answer.expect("reply");
    }
    let shown = ann.client.message(id, root.id).await.expect("root");
    assert_eq!(
        (shown.reply_count, shown.repliers.clone()),
        (26, vec![bob.id, carol.id, ann.id])
    );
    let whole = Page {
        limit: Some(200),
        ..Page::default()
    };
    let thread = ann.client.thread(id, root.id, whole).await.expect("thread");
    assert_eq!(thread.len(), 26);
    // The first replies of a thread, racing: each replier is among its first repliers.
    let fresh = say(&ann.client, id, "who is first?").await;
    let racing = [&bob, &carol, &dan].map(|who| {
        let client = who.client.clone();
        let request = reply_to(fresh.id, "me");
        async move { client.send_draft(id, &request).await }
    });
    for answer in futures_util::future::join_all(racing).await {
        answer.expect("reply");
    }
    let shown = ann.client.message(id, fresh.id).await.expect("root");
    let mut repliers = shown.repliers.clone();
    repliers.sort();
    let mut expected = vec![bob.id, carol.id, dan.id];
    expected.sort();
    assert_eq!(
        (shown.reply_count, repliers),
        (3, expected),
        "{:?}",
        shown.repliers
    );
}

#[tokio::test]
async fn a_root_is_a_message_of_the_same_conversation_that_is_no_reply() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let eve = server.user_in("Eve", Some("otherco")).await;
    let id = dm(&ann.client, bob.id).await;
    let root = say(&ann.client, id, "the root").await;
    let first = reply(&bob.client, id, &reply_to(root.id, "the only reply")).await;
    let gone = say(&ann.client, id, "soon deleted").await;
    ann.client
        .delete_message(id, gone.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    let elsewhere = dm(&ann.client, carol.id).await;
    let foreign_root = say(&ann.client, elsewhere, "a root somewhere else").await;
    let mut bobs = connect(&bob).await;

    let refused = [
        (
            reply_to(first.id, "a reply to a reply"),
            400,
            "invalid_thread_root",
        ),
        (
            reply_to(foreign_root.id, "across conversations"),
            404,
            "not_found",
        ),
        (reply_to(MessageId(999_999), "to nothing"), 404, "not_found"),
        (
            reply_to(gone.id, "to a deleted root"),
            400,
            "message_deleted",
        ),
        (
            SendMessageRequest {
                also_to_conversation: Some(true),
                ..draft("also, but to no thread")
            },
            400,
            "invalid_input",
        ),
    ];
    for (request, status, code) in &refused {
        assert_api_error(ann.client.send_draft(id, request).await, *status, code);
    }
    let (c, r) = (id.to_string(), root.id.to_string());
    let messages = ["v1", "conversations", &c, "messages"];
    for body in [
        r#"{"text":"x","thread_root_id":"abc"}"#.to_owned(),
        r#"{"text":"x","thread_root_id":-1}"#.to_owned(),
        format!(r#"{{"text":"x","thread_root_id":"{r}","also_to_conversation":"yes"}}"#),
    ] {
        let response = raw_json(&ann.client, Method::POST, &messages, &body).await;
        assert_error(&response, 400, "invalid_input");
    }
    bobs.send(&ClientOp::Send {
        reference: Some("deep".into()),
        conversation_id: id,
        text: "a reply to a reply".into(),
        nonce: None,
        mentions: None,
        thread_root_id: Some(first.id),
        also_to_conversation: None,
        quote: None,
        attachments: Vec::new(),
    })
    .await
    .expect("op");
    match next_reply(&mut bobs).await {
        ServerFrame::Error {
            reference, code, ..
        } => assert_eq!(
            (reference.as_deref(), code.as_str()),
            (Some("deep"), "invalid_thread_root")
        ),
        other => panic!("expected an error, got {other:?}"),
    }

    // A reply is no thread: it has no page, nobody follows it, nobody reads in it.
    assert_api_error(
        ann.client.thread(id, first.id, Page::default()).await,
        400,
        "invalid_thread_root",
    );
    assert_api_error(
        ann.client.follow_thread(id, first.id).await,
        400,
        "invalid_thread_root",
    );
    assert_api_error(
        ann.client.mark_thread_read(id, first.id, first.id).await,
        400,
        "invalid_thread_root",
    );
    assert_api_error(
        ann.client
            .thread(id, MessageId(999_999), Page::default())
            .await,
        404,
        "not_found",
    );
    assert_api_error(
        ann.client
            .thread(id, foreign_root.id, Page::default())
            .await,
        404,
        "not_found",
    );

    // Who may not look at, follow or read a thread.
    let revoked = revoked_session_of(&server, &bob).await;
    for nobody in [&server.client(), &revoked] {
        assert_api_error(
            nobody.thread(id, root.id, Page::default()).await,
            401,
            "unauthenticated",
        );
        assert_api_error(
            nobody.follow_thread(id, root.id).await,
            401,
            "unauthenticated",
        );
        assert_api_error(
            nobody.unfollow_thread(id, root.id).await,
            401,
            "unauthenticated",
        );
        assert_api_error(
            nobody.mark_thread_read(id, root.id, first.id).await,
            401,
            "unauthenticated",
        );
        assert_api_error(nobody.threads().await, 401, "unauthenticated");
    }
    for outsider in [&carol.client, &eve.client] {
        assert_api_error(
            outsider.thread(id, root.id, Page::default()).await,
            404,
            "not_found",
        );
        assert_api_error(outsider.follow_thread(id, root.id).await, 404, "not_found");
        assert_api_error(
            outsider.mark_thread_read(id, root.id, first.id).await,
            404,
            "not_found",
        );
        assert_api_error(
            outsider
                .send_draft(id, &reply_to(root.id, "let me in"))
                .await,
            404,
            "not_found",
        );
        assert!(outsider.threads().await.expect("threads").is_empty());
    }
    for (bad_c, bad_r) in [("abc", r.as_str()), (c.as_str(), "abc"), (c.as_str(), "-1")] {
        let root_path = ["v1", "conversations", bad_c, "messages", bad_r];
        for (method, tail) in [(Method::GET, "thread"), (Method::PUT, "follow")] {
            let path = [&root_path[..], &[tail]].concat();
            let response = ann
                .client
                .raw(method, &path, None, Vec::new())
                .await
                .expect("request");
            assert_error(&response, 400, "invalid_id");
        }
    }

    // Nothing was half-written: one reply, counted once; nothing heard.
    let shown = ann.client.message(id, root.id).await.expect("root");
    assert_eq!(
        (shown.reply_count, shown.repliers.clone()),
        (1, vec![bob.id])
    );
    assert_eq!(
        ann.client
            .thread(id, root.id, Page::default())
            .await
            .expect("thread"),
        vec![first.clone()]
    );
    assert_eq!(
        ids(&ann
            .client
            .history(id, Page::default())
            .await
            .expect("history")),
        vec![root.id, gone.id]
    );
    let foreign = ann
        .client
        .message(elsewhere, foreign_root.id)
        .await
        .expect("root");
    assert_eq!(foreign.reply_count, 0);
    heard_nothing_before_a_marker(&mut bobs, &ann.client, id).await;
}

#[tokio::test]
async fn followers_list_their_threads_with_what_they_have_not_read() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let dan = server.user("Dan").await;
    let id = group(&ann.client, "Threads", &[bob.id, carol.id, dan.id]).await;
    let first_root = say(&ann.client, id, "first topic").await;
    let second_root = say(&bob.client, id, "second topic").await;
    for who in [&ann, &bob, &carol, &dan] {
        assert!(followed(&who.client).await.is_empty(), "no replies yet");
    }

    // The root's author and the replier follow; someone a reply mentions does too.
    let b1 = reply(&bob.client, id, &reply_to(first_root.id, "one")).await;
    assert_eq!(followed(&ann.client).await, vec![(first_root.id, 1, None)]);
    assert_eq!(
        followed(&bob.client).await,
        vec![(first_root.id, 0, None)],
        "their own replies are not unread"
    );
    assert!(followed(&carol.client).await.is_empty());
    let mentioning_carol = SendMessageRequest {
        mentions: Some(naming(&[carol.id])),
        ..reply_to(first_root.id, "two, @carol")
    };
    let b2 = reply(&bob.client, id, &mentioning_carol).await;
    assert_eq!(
        followed(&carol.client).await,
        vec![(first_root.id, 2, None)]
    );
    assert!(followed(&dan.client).await.is_empty());
    // Anyone may follow by asking.
    dan.client
        .follow_thread(id, first_root.id)
        .await
        .expect("follow");
    dan.client
        .follow_thread(id, first_root.id)
        .await
        .expect("twice is fine");
    assert_eq!(followed(&dan.client).await, vec![(first_root.id, 2, None)]);

    // Newest activity first.
    let c1 = reply(&carol.client, id, &reply_to(second_root.id, "elsewhere")).await;
    assert_eq!(
        followed(&carol.client).await,
        vec![(second_root.id, 0, None), (first_root.id, 2, None)]
    );
    assert_eq!(
        followed(&bob.client).await,
        vec![(second_root.id, 1, None), (first_root.id, 0, None)]
    );
    let threads = bob.client.threads().await.expect("threads");
    assert_eq!(threads[0].conversation_id, id);
    assert_eq!(
        (threads[0].root.reply_count, threads[0].root.text.as_deref()),
        (1, Some("second topic"))
    );

    // Reading moves the checkpoint forward only.
    ann.client
        .mark_thread_read(id, first_root.id, b1.id)
        .await
        .expect("read");
    assert_eq!(
        followed(&ann.client).await,
        vec![(first_root.id, 1, Some(b1.id))]
    );
    ann.client
        .mark_thread_read(id, first_root.id, b2.id)
        .await
        .expect("read");
    ann.client
        .mark_thread_read(id, first_root.id, b1.id)
        .await
        .expect("an older reply is accepted");
    assert_eq!(
        followed(&ann.client).await,
        vec![(first_root.id, 0, Some(b2.id))]
    );
    for not_in_this_thread in [first_root.id, second_root.id, c1.id] {
        assert_api_error(
            ann.client
                .mark_thread_read(id, first_root.id, not_in_this_thread)
                .await,
            400,
            "invalid_input",
        );
    }
    assert_api_error(
        ann.client
            .mark_thread_read(id, first_root.id, MessageId(999_999))
            .await,
        404,
        "not_found",
    );
    let (c, r) = (id.to_string(), first_root.id.to_string());
    let read_path = ["v1", "conversations", &c, "messages", &r, "thread", "read"];
    for body in [
        "{}".to_owned(),
        r#"{"message_id":"abc"}"#.to_owned(),
        format!(r#"{{"message_id":"{}","surprise":1}}"#, b2.id),
    ] {
        let response = raw_json(&ann.client, Method::POST, &read_path, &body).await;
        assert_error(&response, 400, "invalid_input");
    }
    assert_eq!(
        followed(&ann.client).await,
        vec![(first_root.id, 0, Some(b2.id))],
        "refused reads moved nothing"
    );

    // Unfollowed, a thread is gone from the list, and replies of others do not bring it back...
    ann.client
        .unfollow_thread(id, first_root.id)
        .await
        .expect("unfollow");
    ann.client
        .unfollow_thread(id, first_root.id)
        .await
        .expect("twice is fine");
    assert!(followed(&ann.client).await.is_empty());
    reply(&dan.client, id, &reply_to(first_root.id, "three")).await;
    assert!(
        followed(&ann.client).await.is_empty(),
        "the root's author stays away"
    );
    // ...until you reply in it...
    reply(&ann.client, id, &reply_to(first_root.id, "I am back")).await;
    assert_eq!(
        followed(&ann.client).await,
        vec![(first_root.id, 1, Some(b2.id))],
        "Dan's reply is unread, her own is not"
    );
    // ...or a reply mentions you.
    carol
        .client
        .unfollow_thread(id, first_root.id)
        .await
        .expect("unfollow");
    assert_eq!(
        followed(&carol.client).await,
        vec![(second_root.id, 0, None)]
    );
    let mentioning_carol_again = SendMessageRequest {
        mentions: Some(naming(&[carol.id])),
        ..reply_to(first_root.id, "@carol, look")
    };
    reply(&bob.client, id, &mentioning_carol_again).await;
    assert_eq!(
        followed(&carol.client).await,
        vec![(first_root.id, 5, None), (second_root.id, 0, None)]
    );

    // Threads of a conversation you left are not yours to list.
    dan.client.leave(id).await.expect("leave");
    assert!(followed(&dan.client).await.is_empty());
    assert_api_error(
        dan.client.follow_thread(id, first_root.id).await,
        404,
        "not_found",
    );
}
