//! Mentions: whom a message names (members only; the rest dropped and said so), `@channel` and `@here`,
//! the unread mentions in the conversation list, the list of messages that mention me, mentions changed by
//! an edit, and names that may not be mentioned at all.

use parley_client::proto::v1::{
    ClientOp, Conversation, EditMessageRequest, Event, Mentions, Message, SendMessageRequest,
    ServerFrame,
};
use parley_client::{Client, DeleteFor, Page};
use parley_proto::{ConversationId, MessageId, UserId};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::bad_input::assert_error;
use crate::features::on_both_stores;
use crate::features::{
    draft, heard_nothing_before_a_marker, naming, raw_json, revoked_session_of, say,
};
use crate::realtime::{connect, next_event, next_reply, reply_and_event};
use crate::{assert_api_error, channel, dm};

fn mentioning(text: &str, mentions: Mentions) -> SendMessageRequest {
    SendMessageRequest {
        mentions: Some(mentions),
        ..draft(text)
    }
}

fn everyone(channel: bool, here: bool) -> Mentions {
    Mentions {
        user_ids: Vec::new(),
        channel,
        here,
    }
}

async fn send(client: &Client, id: ConversationId, request: &SendMessageRequest) -> Message {
    client
        .send_draft(id, request)
        .await
        .expect("send")
        .value
        .message
}

/// (unread messages, unread mentions) of a conversation in the list.
async fn unread(client: &Client, id: ConversationId) -> (Option<u64>, Option<u64>) {
    let list: Vec<Conversation> = client.conversations().await.expect("list");
    let shown = list.iter().find(|c| c.id == id).expect("listed");
    (shown.unread_count, shown.unread_mentions)
}

async fn mentions_of(
    client: &Client,
    before: Option<MessageId>,
    limit: Option<u32>,
) -> Vec<MessageId> {
    let found = client.mentions(before, limit).await.expect("mentions");
    found.iter().map(|m| m.id).collect()
}

on_both_stores!(
    mentions_reach_members_and_count_until_read,
    mentions_reach_members_and_count_until_read_on_postgres,
    mentions_count_until_read
);

async fn mentions_count_until_read(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let dave = server.user("Dave").await;
    let id = channel(&ann.client, "news", false).await;
    bob.client.join(id).await.expect("join");
    carol.client.join(id).await.expect("join");
    let mut bobs = connect(&bob).await;
    let before = bobs.ready_cursor;

    // Dave is of the org but not in the channel: dropped, and the sender is told.
    let sent = ann
        .client
        .send_draft(
            id,
            &mentioning("@bob @dave look", naming(&[bob.id, dave.id])),
        )
        .await
        .expect("send");
    assert!(sent.new);
    assert_eq!(sent.value.dropped_mentions, vec![dave.id]);
    let by_name = sent.value.message;
    assert_eq!(by_name.mentions, naming(&[bob.id]));
    let live = next_event(&mut bobs).await;
    assert!(
        matches!(&live.event, Event::MessageCreated { message, .. } if *message == by_name),
        "{live:?}"
    );
    let at_channel = send(
        &ann.client,
        id,
        &mentioning("@channel lunch", everyone(true, false)),
    )
    .await;
    assert_eq!(at_channel.mentions, everyone(true, false));
    let at_here = send(
        &carol.client,
        id,
        &mentioning("@here anyone?", everyone(false, true)),
    )
    .await;
    let bobs_own = send(
        &bob.client,
        id,
        &mentioning("@channel from bob", everyone(true, false)),
    )
    .await;
    let in_a_thread = SendMessageRequest {
        thread_root_id: Some(by_name.id),
        ..mentioning("@bob in the thread", naming(&[bob.id]))
    };
    let in_a_thread = send(&ann.client, id, &in_a_thread).await;
    let plain = say(&ann.client, id, "nobody in particular").await;

    // Bob: four unread in the main history (the reply is in its thread, his own is his); four mentions,
    // the reply's too, which counts against his checkpoint in its thread (064dc44). Carol: the two
    // @channel are hers too; her own @here is not.
    assert_eq!(unread(&bob.client, id).await, (Some(4), Some(4)));
    assert_eq!(unread(&carol.client, id).await, (Some(4), Some(2)));
    assert_eq!(unread(&ann.client, id).await, (Some(2), Some(2)));
    // The list of mentions: newest first, replies in threads too, never one's own, in pages.
    assert_eq!(
        mentions_of(&bob.client, None, None).await,
        vec![in_a_thread.id, at_here.id, at_channel.id, by_name.id]
    );
    assert_eq!(
        mentions_of(&bob.client, None, Some(2)).await,
        vec![in_a_thread.id, at_here.id]
    );
    assert_eq!(
        mentions_of(&bob.client, Some(at_here.id), Some(2)).await,
        vec![at_channel.id, by_name.id]
    );
    assert!(
        mentions_of(&bob.client, Some(by_name.id), None)
            .await
            .is_empty()
    );
    assert_eq!(
        mentions_of(&carol.client, None, None).await,
        vec![bobs_own.id, at_channel.id]
    );
    assert!(
        mentions_of(&dave.client, None, None).await.is_empty(),
        "dropped, and not in the channel"
    );

    // Reading clears them: the conversation's, then the thread's.
    bob.client.mark_read(id, plain.id).await.expect("read");
    assert_eq!(unread(&bob.client, id).await, (Some(0), Some(1)));
    bob.client
        .mark_thread_read(id, by_name.id, in_a_thread.id)
        .await
        .expect("read the thread");
    assert_eq!(unread(&bob.client, id).await, (Some(0), Some(0)));
    assert_eq!(
        mentions_of(&bob.client, None, None).await.len(),
        4,
        "read mentions stay in the list"
    );

    // An edit may add a mention, keep them (no `mentions`), or take them away (empty).
    let later = say(&ann.client, id, "a later thought").await;
    assert_eq!(unread(&bob.client, id).await, (Some(1), Some(0)));
    let add = EditMessageRequest {
        text: "a later thought, @bob @dave".into(),
        mentions: Some(naming(&[bob.id, dave.id])),
    };
    let edited = ann
        .client
        .edit_message(id, later.id, &add)
        .await
        .expect("edit");
    assert_eq!(
        edited.dropped_mentions,
        vec![dave.id],
        "an edit tells of the non-member it dropped"
    );
    let edited = edited.message;
    assert_eq!(edited.mentions, naming(&[bob.id]));
    assert_eq!(unread(&bob.client, id).await, (Some(1), Some(1)));
    assert_eq!(
        mentions_of(&bob.client, None, Some(1)).await,
        vec![later.id]
    );
    let keep = EditMessageRequest {
        text: "a later thought, @bob!".into(),
        mentions: None,
    };
    let kept = ann
        .client
        .edit_message(id, later.id, &keep)
        .await
        .expect("edit")
        .message;
    assert_eq!(kept.mentions, naming(&[bob.id]));
    assert_eq!(unread(&bob.client, id).await, (Some(1), Some(1)));
    let remove = EditMessageRequest {
        text: "a later thought".into(),
        mentions: Some(Mentions::default()),
    };
    let removed = ann
        .client
        .edit_message(id, later.id, &remove)
        .await
        .expect("edit")
        .message;
    assert!(removed.mentions.is_empty());
    assert_eq!(unread(&bob.client, id).await, (Some(1), Some(0)));
    assert_eq!(
        mentions_of(&bob.client, None, Some(1)).await,
        vec![in_a_thread.id]
    );
    // An erased message mentions nobody any more.
    ann.client
        .delete_message(id, by_name.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    assert_eq!(
        mentions_of(&bob.client, None, None).await,
        vec![in_a_thread.id, at_here.id, at_channel.id]
    );

    // Over the socket: the ack says who was dropped.
    let mut carols = connect(&carol).await;
    carols
        .send(&ClientOp::Send {
            reference: Some("m1".into()),
            conversation_id: id,
            text: "@ann @dave over the socket".into(),
            nonce: None,
            mentions: Some(naming(&[ann.id, dave.id])),
            thread_root_id: None,
            also_to_conversation: None,
            quote: None,
            attachments: Vec::new(),
        })
        .await
        .expect("send op");
    let (ack, _) = reply_and_event(&mut carols).await;
    let ServerFrame::Ack {
        reference,
        message: over_the_socket,
        dropped_mentions,
    } = ack
    else {
        panic!("expected an ack, got {ack:?}")
    };
    assert_eq!(reference.as_deref(), Some("m1"));
    assert_eq!(dropped_mentions, vec![dave.id]);
    assert_eq!(over_the_socket.mentions, naming(&[ann.id]));

    // Bob was away: the messages replay with whom they mention.
    bobs.drop_without_close();
    let mut resumed = bob.client.connect(Some(before)).await.expect("resume");
    let replayed = next_event(&mut resumed).await;
    assert_eq!(replayed.cursor, live.cursor);
    let replayed = next_event(&mut resumed).await;
    assert!(
        matches!(&replayed.event, Event::MessageCreated { message, .. }
            if message.id == at_channel.id && message.mentions == everyone(true, false)),
        "{replayed:?}"
    );

    // Leaving takes the channel's mentions out of the list.
    bob.client.leave(id).await.expect("leave");
    assert!(mentions_of(&bob.client, None, None).await.is_empty());
}

#[tokio::test]
async fn only_users_of_your_org_may_be_mentioned_and_a_refused_send_stores_nothing() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let eve = server.user_in("Eve", Some("otherco")).await;
    let id = dm(&ann.client, bob.id).await;
    let mut bobs = connect(&bob).await;

    let refused = [
        (naming(&[eve.id]), "unknown_user"),
        (naming(&[bob.id, eve.id]), "unknown_user"),
        (naming(&[UserId(999_999)]), "unknown_user"),
        (naming(&[bob.id; 51]), "invalid_mentions"),
    ];
    for (mentions, code) in refused {
        assert_api_error(
            ann.client
                .send_draft(id, &mentioning("refused mention", mentions))
                .await,
            400,
            code,
        );
    }
    let (c, b) = (id.to_string(), bob.id.to_string());
    let messages = ["v1", "conversations", &c, "messages"];
    for body in [
        format!(
            r#"{{"text":"refused mention","mentions":{{"user_ids":["{b}"],"everyone":true}}}}"#
        ),
        r#"{"text":"refused mention","mentions":{"user_ids":"all"}}"#.to_owned(),
        r#"{"text":"refused mention","mentions":{"user_ids":["abc"]}}"#.to_owned(),
        r#"{"text":"refused mention","mentions":{"channel":"yes"}}"#.to_owned(),
        r#"{"text":"refused mention","mentions":["1"]}"#.to_owned(),
    ] {
        let response = raw_json(&ann.client, Method::POST, &messages, &body).await;
        assert_error(&response, 400, "invalid_input");
    }
    bobs.send(&ClientOp::Send {
        reference: Some("eve".into()),
        conversation_id: id,
        text: "refused mention".into(),
        nonce: None,
        mentions: Some(naming(&[eve.id])),
        thread_root_id: None,
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
            (Some("eve"), "unknown_user")
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(
        ann.client
            .history(id, Page::default())
            .await
            .expect("history")
            .is_empty(),
        "nothing was stored"
    );
    assert!(
        eve.client
            .mentions(None, None)
            .await
            .expect("mentions")
            .is_empty()
    );
    heard_nothing_before_a_marker(&mut bobs, &ann.client, id).await;

    // Fifty names is the most; the same name twice is one mention.
    let many = send(
        &ann.client,
        id,
        &mentioning("@bob x50", naming(&[bob.id; 50])),
    )
    .await;
    assert_eq!(many.mentions, naming(&[bob.id]));
    // Carol is of the org but not in the DM: dropped, never told of it.
    let sent = ann
        .client
        .send_draft(
            id,
            &mentioning("@carol is not here", naming(&[carol.id, bob.id])),
        )
        .await
        .expect("send");
    assert_eq!(sent.value.dropped_mentions, vec![carol.id]);
    assert_eq!(sent.value.message.mentions, naming(&[bob.id]));
    assert!(
        carol
            .client
            .mentions(None, None)
            .await
            .expect("mentions")
            .is_empty()
    );
    assert!(
        carol
            .client
            .conversations()
            .await
            .expect("list")
            .iter()
            .all(|x| x.id != id)
    );

    // The list's query, and who may not ask.
    for limit in [0, 201] {
        assert_api_error(
            bob.client.mentions(None, Some(limit)).await,
            400,
            "invalid_limit",
        );
    }
    for query in ["before=abc", "limit=many", "surprise=1", "before=-1"] {
        let url = format!("{}v1/mentions?{query}", bob.client.base_url());
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
    let revoked = revoked_session_of(&server, &bob).await;
    for nobody in [&server.client(), &revoked] {
        assert_api_error(nobody.mentions(None, None).await, 401, "unauthenticated");
    }
}
