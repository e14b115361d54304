//! Pins: any member pins and unpins, over REST and the socket; members hear it live and on resume; the
//! list is newest first and holds at most 100; and who and what may not be pinned.

use parley_client::proto::v1::{ClientOp, EditMessageRequest, Event, EventFrame, ServerFrame};
use parley_client::{Client, DeleteFor};
use parley_proto::{ConversationId, MessageId, UserId};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::bad_input::assert_error;
use crate::features::on_both_stores;
use crate::features::{heard_nothing_before_a_marker, revoked_session_of, say};
use crate::realtime::{connect, error_replies, next_event, next_reply, reply_and_event};
use crate::{assert_api_error, channel, dm, group};

/// The pins as (message, pinned by), newest first.
async fn pinned(client: &Client, id: ConversationId) -> Vec<(MessageId, UserId)> {
    let pins = client.pins(id).await.expect("pins");
    pins.iter().map(|p| (p.message.id, p.pinned_by)).collect()
}

/// The next durable event on the socket, which must be `event`.
async fn heard(socket: &mut parley_client::Socket, event: Event) -> EventFrame {
    let frame = next_event(socket).await;
    assert_eq!(frame.event, event);
    frame
}

fn pin_op(reference: &str, conversation_id: ConversationId, message_id: MessageId) -> ClientOp {
    ClientOp::Pin {
        reference: Some(reference.to_owned()),
        conversation_id,
        message_id,
    }
}

on_both_stores!(
    members_pin_and_unpin_and_everyone_hears_it,
    members_pin_and_unpin_and_everyone_hears_it_on_postgres,
    pins_are_heard
);

async fn pins_are_heard(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let id = group(&ann.client, "Pinboard", &[bob.id, carol.id]).await;
    let first = say(&ann.client, id, "the agenda").await;
    let second = say(&bob.client, id, "the minutes").await;
    let mut bobs = connect(&bob).await;
    let before = bobs.ready_cursor;
    let mut live: Vec<EventFrame> = Vec::new();

    // Anyone in the conversation pins anyone's message.
    bob.client.pin(id, first.id).await.expect("pin");
    live.push(
        heard(
            &mut bobs,
            Event::PinAdded {
                conversation_id: id,
                message_id: first.id,
                user_id: bob.id,
            },
        )
        .await,
    );
    let pins = carol.client.pins(id).await.expect("pins");
    assert_eq!(pins.len(), 1);
    assert_eq!(
        (&pins[0].message, pins[0].pinned_by),
        (&first, bob.id),
        "the whole message, and who pinned it"
    );
    assert!(!pins[0].pinned_at.is_empty());
    ann.client.pin(id, second.id).await.expect("pin");
    live.push(
        heard(
            &mut bobs,
            Event::PinAdded {
                conversation_id: id,
                message_id: second.id,
                user_id: ann.id,
            },
        )
        .await,
    );
    assert_eq!(
        pinned(&carol.client, id).await,
        vec![(second.id, ann.id), (first.id, bob.id)],
        "newest pin first"
    );
    bob.client
        .pin(id, first.id)
        .await
        .expect("pinning again changes nothing");
    assert_eq!(
        pinned(&carol.client, id).await,
        vec![(second.id, ann.id), (first.id, bob.id)]
    );

    // Anyone unpins, whoever pinned.
    carol.client.unpin(id, first.id).await.expect("unpin");
    live.push(
        heard(
            &mut bobs,
            Event::PinRemoved {
                conversation_id: id,
                message_id: first.id,
                user_id: carol.id,
            },
        )
        .await,
    );
    carol
        .client
        .unpin(id, first.id)
        .await
        .expect("unpinning again changes nothing");
    assert_eq!(pinned(&ann.client, id).await, vec![(second.id, ann.id)]);
    // A pin shows the message as it is now.
    let edit = EditMessageRequest {
        text: "the minutes, corrected".into(),
        mentions: None,
    };
    bob.client
        .edit_message(id, second.id, &edit)
        .await
        .expect("edit");
    live.push(next_event(&mut bobs).await);
    assert_eq!(
        ann.client.pins(id).await.expect("pins")[0]
            .message
            .text
            .as_deref(),
        Some("the minutes, corrected")
    );

    // Over the socket: `ok`, and the same events.
    let mut anns = connect(&ann).await;
    anns.send(&pin_op("p1", id, first.id)).await.expect("op");
    let (ok, event) = reply_and_event(&mut anns).await;
    assert_eq!(
        ok,
        ServerFrame::Ok {
            reference: Some("p1".into())
        }
    );
    let added = Event::PinAdded {
        conversation_id: id,
        message_id: first.id,
        user_id: ann.id,
    };
    assert_eq!(event.event, added);
    live.push(heard(&mut bobs, added).await);
    anns.send(&ClientOp::Unpin {
        reference: Some("u1".into()),
        conversation_id: id,
        message_id: first.id,
    })
    .await
    .expect("op");
    let (ok, event) = reply_and_event(&mut anns).await;
    assert_eq!(
        ok,
        ServerFrame::Ok {
            reference: Some("u1".into())
        }
    );
    let removed = Event::PinRemoved {
        conversation_id: id,
        message_id: first.id,
        user_id: ann.id,
    };
    assert_eq!(event.event, removed);
    live.push(heard(&mut bobs, removed).await);
    // Pinning and unpinning again was heard by nobody.
    let marker = heard_nothing_before_a_marker(&mut bobs, &ann.client, id).await;

    // Bob was away for all of it: the same events replay, at the same cursors.
    bobs.drop_without_close();
    let mut resumed = bob.client.connect(Some(before)).await.expect("resume");
    for expected in &live {
        let replayed = next_event(&mut resumed).await;
        match &expected.event {
            Event::MessageUpdated { .. } => assert_eq!(replayed.cursor, expected.cursor),
            _ => assert_eq!(&replayed, expected),
        }
    }
    let replayed = next_event(&mut resumed).await;
    assert!(
        matches!(&replayed.event, Event::MessageCreated { message, .. } if message.id == marker.id),
        "{replayed:?}"
    );

    // A message deleted for everyone leaves the pins.
    bob.client
        .delete_message(id, second.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    assert!(pinned(&carol.client, id).await.is_empty());
    assert_api_error(
        carol.client.pin(id, second.id).await,
        400,
        "message_deleted",
    );
    assert_eq!(
        next_event(&mut resumed).await.event,
        Event::MessageDeleted {
            conversation_id: id,
            message_id: second.id,
            removed_by_moderator: false,
        }
    );

    // Pins of one message racing each other pin it once, and are heard once; sends elsewhere keep the
    // store's writer busy meanwhile, so the pins queue up and are written together.
    let elsewhere = dm(&ann.client, carol.id).await;
    let busy = (0..30).map(|n| {
        let client = carol.client.clone();
        async move {
            client
                .send_message(elsewhere, &format!("busy {n}"), None)
                .await
        }
    });
    let racing = (0..20).map(|n| {
        let client = [&ann, &carol][n % 2].client.clone();
        async move { client.pin(id, first.id).await }
    });
    let (sent, pinned_again) = futures_util::future::join(
        futures_util::future::join_all(busy),
        futures_util::future::join_all(racing),
    )
    .await;
    for answer in sent {
        answer.expect("send");
    }
    for answer in pinned_again {
        answer.expect("pin");
    }
    assert_eq!(pinned(&bob.client, id).await.len(), 1);
    let added = next_event(&mut resumed).await;
    assert!(
        matches!(&added.event, Event::PinAdded { message_id, .. } if *message_id == first.id),
        "{added:?}"
    );
    heard_nothing_before_a_marker(&mut resumed, &ann.client, id).await;
}

on_both_stores!(
    a_conversation_holds_at_most_a_hundred_pins,
    a_conversation_holds_at_most_a_hundred_pins_on_postgres,
    at_most_a_hundred_pins
);

async fn at_most_a_hundred_pins(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut sent = Vec::new();
    for n in 0..110 {
        sent.push(say(&ann.client, id, &format!("notice {n}")).await.id);
    }
    for message_id in &sent[..90] {
        bob.client.pin(id, *message_id).await.expect("pin");
    }
    // Twenty pins racing for the last ten places: ten win, ten are refused, never a hundred and one.
    let racing = sent[90..].iter().map(|message_id| {
        let (client, message_id) = (ann.client.clone(), *message_id);
        async move { client.pin(id, message_id).await }
    });
    let answers = futures_util::future::join_all(racing).await;
    let won = answers.iter().filter(|a| a.is_ok()).count();
    for refused in answers.into_iter().filter(Result::is_err) {
        assert_api_error(refused, 409, "too_many_pins");
    }
    assert_eq!(won, 10);
    let pins = pinned(&ann.client, id).await;
    assert_eq!(pins.len(), 100);
    let left_out = *sent[90..]
        .iter()
        .find(|m| pins.iter().all(|(pinned, _)| pinned != *m))
        .expect("one was refused");

    assert_api_error(ann.client.pin(id, left_out).await, 409, "too_many_pins");
    let mut anns = connect(&ann).await;
    anns.send(&pin_op("full", id, left_out)).await.expect("op");
    match next_reply(&mut anns).await {
        ServerFrame::Error {
            reference, code, ..
        } => assert_eq!(
            (reference.as_deref(), code.as_str()),
            (Some("full"), "too_many_pins")
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    ann.client
        .pin(id, sent[89])
        .await
        .expect("one already pinned is no new pin");
    assert_eq!(pinned(&ann.client, id).await, pins, "nothing moved");

    bob.client.unpin(id, sent[0]).await.expect("unpin");
    ann.client
        .pin(id, left_out)
        .await
        .expect("room for one more");
    let pins = pinned(&ann.client, id).await;
    assert_eq!(pins.len(), 100);
    assert_eq!(pins[0], (left_out, ann.id), "the newest pin first");
}

#[tokio::test]
async fn who_and_what_may_not_be_pinned() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let eve = server.user_in("Eve", Some("otherco")).await;
    let id = dm(&ann.client, bob.id).await;
    let message = say(&ann.client, id, "pin me").await;
    ann.client.pin(id, message.id).await.expect("pin");
    let gone = say(&ann.client, id, "soon deleted").await;
    ann.client
        .delete_message(id, gone.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    let elsewhere = dm(&ann.client, carol.id).await;
    let foreign = say(&ann.client, elsewhere, "somewhere else").await;
    let mut bobs = connect(&bob).await;

    let revoked = revoked_session_of(&server, &ann).await;
    for nobody in [&server.client(), &revoked] {
        assert_api_error(nobody.pin(id, message.id).await, 401, "unauthenticated");
        assert_api_error(nobody.unpin(id, message.id).await, 401, "unauthenticated");
        assert_api_error(nobody.pins(id).await, 401, "unauthenticated");
    }
    for outsider in [&carol.client, &eve.client] {
        assert_api_error(outsider.pin(id, message.id).await, 404, "not_found");
        assert_api_error(outsider.unpin(id, message.id).await, 404, "not_found");
        assert_api_error(outsider.pins(id).await, 404, "not_found");
    }
    for missing in [MessageId(999_999), foreign.id] {
        assert_api_error(bob.client.pin(id, missing).await, 404, "not_found");
        assert_api_error(bob.client.unpin(id, missing).await, 404, "not_found");
    }
    assert_api_error(bob.client.pin(id, gone.id).await, 400, "message_deleted");
    let (c, m) = (id.to_string(), message.id.to_string());
    for (bad_c, bad_m) in [("abc", m.as_str()), (c.as_str(), "abc"), (c.as_str(), "-1")] {
        for method in [Method::PUT, Method::DELETE] {
            let path = ["v1", "conversations", bad_c, "messages", bad_m, "pin"];
            let response = bob
                .client
                .raw(method, &path, None, Vec::new())
                .await
                .expect("request");
            assert_error(&response, 400, "invalid_id");
        }
    }
    let response = bob
        .client
        .raw(
            Method::GET,
            &["v1", "conversations", "abc", "pins"],
            None,
            Vec::new(),
        )
        .await
        .expect("request");
    assert_error(&response, 400, "invalid_id");
    bobs.send(&pin_op("dead", id, gone.id)).await.expect("op");
    bobs.send_text(format!(
        r#"{{"op":"pin","ref":"odd","conversation_id":"{c}","message_id":"{m}","surprise":1}}"#
    ))
    .await
    .expect("op");
    bobs.send(&ClientOp::Unpin {
        reference: Some("lost".into()),
        conversation_id: id,
        message_id: MessageId(999_999),
    })
    .await
    .expect("op");
    let expected = [
        ("dead".to_owned(), "message_deleted".to_owned()),
        ("lost".to_owned(), "not_found".to_owned()),
        ("odd".to_owned(), "invalid_op".to_owned()),
    ];
    assert_eq!(error_replies(&mut bobs, 3).await, expected);

    // A public channel you have not joined: you may read it, not pin in it.
    let square = channel(&ann.client, "pinned-square", false).await;
    let notice = say(&ann.client, square, "a notice").await;
    assert_api_error(carol.client.pin(square, notice.id).await, 403, "forbidden");
    assert!(pinned(&ann.client, square).await.is_empty());

    // Nothing changed, and nothing was heard.
    assert_eq!(pinned(&bob.client, id).await, vec![(message.id, ann.id)]);
    heard_nothing_before_a_marker(&mut bobs, &ann.client, id).await;
}
