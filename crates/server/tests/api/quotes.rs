//! Quotes, permalinks and history around a message: a quote must be of a message its sender can see, and
//! whoever reads it asks for that message, which only its conversation's members get; a page of history
//! can open at any message.

use parley_client::proto::v1::{ClientOp, Event, QuoteRef, SendMessageRequest, ServerFrame};
use parley_client::{DeleteFor, Page};
use parley_proto::{ConversationId, MessageId};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::bad_input::assert_error;
use crate::features::on_both_stores;
use crate::features::{draft, heard_nothing_before_a_marker, raw_json, revoked_session_of, say};
use crate::realtime::{connect, next_event, next_reply, reply_and_event};
use crate::{assert_api_error, channel, dm};

fn quoting(
    conversation_id: ConversationId,
    message_id: MessageId,
    text: &str,
) -> SendMessageRequest {
    SendMessageRequest {
        quote: Some(QuoteRef {
            conversation_id,
            message_id,
        }),
        ..draft(text)
    }
}

fn ids(messages: &[parley_client::proto::v1::Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

#[tokio::test]
async fn a_quote_is_of_a_message_its_sender_can_see() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let eve = server.user_in("Eve", Some("otherco")).await;
    let with_bob = dm(&ann.client, bob.id).await;
    let with_carol = dm(&ann.client, carol.id).await;
    let original = say(&bob.client, with_bob, "the original words").await;
    let mut carols = connect(&carol).await;

    // Ann quotes Bob's message to Carol: the quote is a reference, and only members of its conversation
    // may follow it.
    let sent = ann
        .client
        .send_draft(
            with_carol,
            &quoting(with_bob, original.id, "look what Bob said"),
        )
        .await
        .expect("quote");
    assert!(sent.new);
    let quote = sent.value.message;
    assert_eq!(
        quote.quote,
        Some(QuoteRef {
            conversation_id: with_bob,
            message_id: original.id
        })
    );
    let live = next_event(&mut carols).await;
    assert!(
        matches!(&live.event, Event::MessageCreated { message, .. } if *message == quote),
        "{live:?}"
    );
    assert_eq!(
        carol
            .client
            .message(with_carol, quote.id)
            .await
            .expect("permalink"),
        quote
    );
    assert_api_error(
        carol.client.message(with_bob, original.id).await,
        404,
        "not_found",
    );
    assert_eq!(
        ann.client
            .message(with_bob, original.id)
            .await
            .expect("permalink"),
        original
    );

    // A reply in a thread may be quoted too.
    let in_thread = SendMessageRequest {
        thread_root_id: Some(original.id),
        ..draft("a reply worth quoting")
    };
    let reply = bob
        .client
        .send_draft(with_bob, &in_thread)
        .await
        .expect("reply")
        .value
        .message;
    let of_reply = ann
        .client
        .send_draft(with_carol, &quoting(with_bob, reply.id, "and then"))
        .await
        .expect("quote a reply")
        .value
        .message;
    assert_eq!(of_reply.quote.map(|q| q.message_id), Some(reply.id));
    let live = next_event(&mut carols).await;
    assert!(
        matches!(&live.event, Event::MessageCreated { message, .. } if *message == of_reply),
        "{live:?}"
    );

    // What may not be quoted: what you cannot see, what is not there, what was erased.
    let gone = say(&bob.client, with_bob, "soon erased").await;
    bob.client
        .delete_message(with_bob, gone.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    assert_api_error(
        carol
            .client
            .send_draft(
                with_carol,
                &quoting(with_bob, original.id, "I should not see this"),
            )
            .await,
        404,
        "not_found",
    );
    let eves_dm = dm(&eve.client, server.user_in("Fay", Some("otherco")).await.id).await;
    assert_api_error(
        eve.client
            .send_draft(eves_dm, &quoting(with_bob, original.id, "across orgs"))
            .await,
        404,
        "not_found",
    );
    for (conversation_id, message_id) in [
        (with_bob, MessageId(999_999)),
        (with_carol, original.id),
        (ConversationId(999_999), original.id),
    ] {
        assert_api_error(
            ann.client
                .send_draft(with_carol, &quoting(conversation_id, message_id, "nowhere"))
                .await,
            404,
            "not_found",
        );
    }
    assert_api_error(
        ann.client
            .send_draft(with_carol, &quoting(with_bob, gone.id, "erased"))
            .await,
        400,
        "message_deleted",
    );
    let (b, o) = (with_bob.to_string(), original.id.to_string());
    let c = with_carol.to_string();
    let messages = ["v1", "conversations", &c, "messages"];
    for body in [
        format!(
            r#"{{"text":"odd","quote":{{"conversation_id":"{b}","message_id":"{o}","surprise":1}}}}"#
        ),
        format!(r#"{{"text":"odd","quote":{{"conversation_id":"{b}"}}}}"#),
        r#"{"text":"odd","quote":"abc"}"#.to_owned(),
        format!(r#"{{"text":"odd","quote":{{"conversation_id":"{b}","message_id":"x"}}}}"#),
    ] {
        let response = raw_json(&ann.client, Method::POST, &messages, &body).await;
        assert_error(&response, 400, "invalid_input");
    }
    carols
        .send(&ClientOp::Send {
            reference: Some("peek".into()),
            conversation_id: with_carol,
            text: "I should not see this".into(),
            nonce: None,
            mentions: None,
            thread_root_id: None,
            also_to_conversation: None,
            quote: Some(QuoteRef {
                conversation_id: with_bob,
                message_id: original.id,
            }),
            attachments: Vec::new(),
        })
        .await
        .expect("op");
    match next_reply(&mut carols).await {
        ServerFrame::Error {
            reference, code, ..
        } => assert_eq!(
            (reference.as_deref(), code.as_str()),
            (Some("peek"), "not_found")
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    // The refusals stored nothing.
    assert_eq!(
        ids(&ann
            .client
            .history(with_carol, Page::default())
            .await
            .expect("history")),
        vec![quote.id, of_reply.id]
    );
    heard_nothing_before_a_marker(&mut carols, &ann.client, with_carol).await;

    // Over the socket, and after the quoted message is erased: the reference stays, and the message behind
    // it is a tombstone.
    let mut anns = connect(&ann).await;
    anns.send(&ClientOp::Send {
        reference: Some("q".into()),
        conversation_id: with_carol,
        text: "once more".into(),
        nonce: None,
        mentions: None,
        thread_root_id: None,
        also_to_conversation: None,
        quote: Some(QuoteRef {
            conversation_id: with_bob,
            message_id: original.id,
        }),
        attachments: Vec::new(),
    })
    .await
    .expect("op");
    let (ack, _) = reply_and_event(&mut anns).await;
    let ServerFrame::Ack { message, .. } = ack else {
        panic!("expected an ack, got {ack:?}")
    };
    assert_eq!(message.quote, quote.quote);
    bob.client
        .delete_message(with_bob, original.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    assert_eq!(
        carol
            .client
            .message(with_carol, quote.id)
            .await
            .expect("permalink")
            .quote,
        quote.quote
    );
    let behind = ann
        .client
        .message(with_bob, original.id)
        .await
        .expect("permalink");
    assert!(behind.deleted && behind.text.is_none(), "{behind:?}");
}

#[tokio::test]
async fn a_permalink_shows_one_message_to_members_only() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let eve = server.user_in("Eve", Some("otherco")).await;
    let id = dm(&ann.client, bob.id).await;
    let root = say(&ann.client, id, "a root").await;
    let reply = bob
        .client
        .send_draft(
            id,
            &SendMessageRequest {
                thread_root_id: Some(root.id),
                ..draft("a reply")
            },
        )
        .await
        .expect("reply")
        .value
        .message;
    for client in [&ann.client, &bob.client] {
        assert_eq!(client.message(id, reply.id).await.expect("a reply"), reply);
        let shown = client.message(id, root.id).await.expect("the root");
        assert_eq!((shown.id, shown.reply_count), (root.id, 1));
    }

    let revoked = revoked_session_of(&server, &ann).await;
    for nobody in [&server.client(), &revoked] {
        assert_api_error(nobody.message(id, root.id).await, 401, "unauthenticated");
    }
    for outsider in [&carol.client, &eve.client] {
        for message_id in [root.id, reply.id, MessageId(999_999)] {
            assert_api_error(outsider.message(id, message_id).await, 404, "not_found");
        }
    }
    let elsewhere = dm(&ann.client, carol.id).await;
    assert_api_error(
        ann.client.message(elsewhere, root.id).await,
        404,
        "not_found",
    );
    assert_api_error(
        ann.client.message(id, MessageId(999_999)).await,
        404,
        "not_found",
    );
    let (c, m) = (id.to_string(), root.id.to_string());
    for (bad_c, bad_m) in [
        ("abc", m.as_str()),
        (c.as_str(), "abc"),
        (c.as_str(), "-1"),
        (c.as_str(), "99999999999999999999999"),
    ] {
        let response = ann
            .client
            .raw(
                Method::GET,
                &["v1", "conversations", bad_c, "messages", bad_m],
                None,
                Vec::new(),
            )
            .await
            .expect("request");
        assert_error(&response, 400, "invalid_id");
    }

    // A public channel one has not joined is no exception: the permalink is for members.
    let square = channel(&ann.client, "permalink-square", false).await;
    let notice = say(&ann.client, square, "a public notice").await;
    assert_api_error(
        carol.client.message(square, notice.id).await,
        404,
        "not_found",
    );
    carol.client.join(square).await.expect("join");
    assert_eq!(
        carol
            .client
            .message(square, notice.id)
            .await
            .expect("permalink"),
        notice
    );

    // Erased, a permalink shows the tombstone.
    ann.client
        .delete_message(id, root.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    let tombstone = bob.client.message(id, root.id).await.expect("permalink");
    assert!(
        tombstone.deleted && tombstone.text.is_none(),
        "{tombstone:?}"
    );
}

on_both_stores!(
    history_opens_around_a_message,
    history_opens_around_a_message_on_postgres,
    history_around
);

async fn history_around(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut sent = Vec::new();
    let mut replies = Vec::new();
    for n in 0..30 {
        sent.push(say(&ann.client, id, &format!("message {n}")).await.id);
        if n == 15 {
            // A reply stays in its thread, here too.
            let reply = SendMessageRequest {
                thread_root_id: Some(sent[15]),
                ..draft("a reply in the middle")
            };
            replies.push(
                bob.client
                    .send_draft(id, &reply)
                    .await
                    .expect("reply")
                    .value
                    .message
                    .id,
            );
        }
    }
    let around = |message_id, limit| Page {
        around: Some(message_id),
        limit,
        ..Page::default()
    };
    // A permalink to a reply kept in its thread opens the main history at its root.
    let page = bob
        .client
        .history(id, around(replies[0], Some(3)))
        .await
        .expect("around a reply");
    assert_eq!(ids(&page), sent[14..17].to_vec(), "around the reply's root");
    // A message of another conversation, or none, is not found here.
    let elsewhere = dm(&ann.client, server.user("Cy").await.id).await;
    let other = say(&ann.client, elsewhere, "elsewhere").await.id;
    for missing in [other, MessageId(i64::MAX)] {
        let error = bob
            .client
            .history(id, around(missing, Some(3)))
            .await
            .expect_err("not here");
        assert_eq!(error.status(), Some(404), "{error:?}");
    }
    let page = bob
        .client
        .history(id, around(sent[15], Some(5)))
        .await
        .expect("around");
    assert_eq!(ids(&page), sent[13..18].to_vec(), "two before, two after");
    let page = bob
        .client
        .history(id, around(sent[15], Some(1)))
        .await
        .expect("around");
    assert_eq!(ids(&page), vec![sent[15]]);
    let page = bob
        .client
        .history(id, around(sent[15], None))
        .await
        .expect("around");
    assert_eq!(ids(&page), sent, "the default page holds them all");
    for edge in [0, 29] {
        let page = bob
            .client
            .history(id, around(sent[edge], Some(5)))
            .await
            .expect("around");
        let found = ids(&page);
        let start = sent
            .iter()
            .position(|m| Some(m) == found.first())
            .expect("a message of the conversation");
        assert!(found.contains(&sent[edge]), "{found:?}");
        assert!(
            found.len() >= 3 && found.len() <= 5,
            "the message and its neighbours on one side: {found:?}"
        );
        assert_eq!(
            found,
            sent[start..start + found.len()].to_vec(),
            "in order, none left out"
        );
    }

    let (c, m) = (id.to_string(), sent[15].to_string());
    for query in [
        format!("around={m}&before={m}"),
        format!("around={m}&after={m}"),
        format!("around={m}&before={m}&after={}", sent[0]),
        "around=abc".to_owned(),
        "around=".to_owned(),
    ] {
        let url = format!(
            "{}v1/conversations/{c}/messages?{query}",
            bob.client.base_url()
        );
        let response = reqwest::Client::new()
            .get(url)
            .bearer_auth(bob.client.token().expect("token"))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body: parley_client::proto::v1::ErrorBody = response.json().await.expect("error shape");
        assert_eq!(
            (status, body.error.code.as_str()),
            (400, "invalid_query"),
            "{query}"
        );
    }
    for limit in [0, 201] {
        assert_api_error(
            bob.client.history(id, around(sent[15], Some(limit))).await,
            400,
            "invalid_limit",
        );
    }
}
