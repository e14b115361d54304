//! Editing a message: the author's new text over REST and the socket, seen live and on resume, its earlier
//! versions, search that follows the text, an erase that takes every version, and everything an edit may
//! not do leaving the message exactly as it was.

use parley_client::proto::v1::{ClientOp, EditMessageRequest, Event, ServerFrame};
use parley_client::{DeleteFor, Page};
use parley_proto::{MessageId, UserId};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::bad_input::assert_error;
use crate::features::on_both_stores;
use crate::features::{heard_nothing_before_a_marker, naming, raw_json, revoked_session_of, say};
use crate::realtime::{connect, error_replies, next_event, next_reply, reply_and_event};
use crate::{assert_api_error, channel, dm, group};

fn edit(text: &str) -> EditMessageRequest {
    EditMessageRequest {
        text: text.to_owned(),
        mentions: None,
    }
}

fn edit_op(
    reference: &str,
    conversation_id: parley_proto::ConversationId,
    message_id: MessageId,
    text: &str,
) -> ClientOp {
    ClientOp::Edit {
        reference: Some(reference.to_owned()),
        conversation_id,
        message_id,
        text: text.to_owned(),
        mentions: None,
    }
}

on_both_stores!(
    an_edit_is_seen_live_replayed_on_resume_and_kept_as_a_version,
    an_edit_is_seen_live_replayed_on_resume_and_kept_as_a_version_on_postgres,
    edited_live_and_on_resume
);

async fn edited_live_and_on_resume(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let id = group(&ann.client, "Planning", &[bob.id, carol.id]).await;
    let original = say(&ann.client, id, "the meeting is at noon").await;
    assert_eq!(original.edited_at, None);
    let mut bobs = connect(&bob).await;
    let before_the_edits = bobs.ready_cursor;

    let edited = ann
        .client
        .edit_message(id, original.id, &edit("the meeting is at three"))
        .await
        .expect("the author edits")
        .message;
    assert_eq!(
        (edited.id, edited.text.as_deref(), edited.author_id),
        (original.id, Some("the meeting is at three"), ann.id)
    );
    assert_eq!(
        edited.created_at, original.created_at,
        "still sent when it was"
    );
    assert!(edited.edited_at.is_some(), "{edited:?}");
    let live = next_event(&mut bobs).await;
    assert!(live.cursor > before_the_edits);
    assert_eq!(
        live.event,
        Event::MessageUpdated {
            conversation_id: id,
            message: edited.clone(),
        }
    );
    for client in [&ann.client, &bob.client, &carol.client] {
        assert_eq!(
            client.message(id, original.id).await.expect("permalink"),
            edited
        );
        assert_eq!(
            client.history(id, Page::default()).await.expect("history"),
            vec![edited.clone()],
            "an edit is no new message"
        );
    }
    let versions = carol
        .client
        .message_edits(id, original.id)
        .await
        .expect("any member reads the earlier versions");
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(
        (versions[0].text.as_str(), versions[0].written_at.as_str()),
        ("the meeting is at noon", original.created_at.as_str())
    );

    // The same edit over the socket: the author's device gets the ack and the event, the others the event.
    let mut anns = connect(&ann).await;
    anns.send(&edit_op("e1", id, original.id, "the meeting is at four"))
        .await
        .expect("edit op");
    let (ack, event) = reply_and_event(&mut anns).await;
    let ServerFrame::Ack {
        reference,
        message: again,
        dropped_mentions,
    } = ack
    else {
        panic!("expected an ack, got {ack:?}")
    };
    assert_eq!(reference.as_deref(), Some("e1"));
    assert_eq!(again.text.as_deref(), Some("the meeting is at four"));
    assert!(dropped_mentions.is_empty());
    assert_eq!(
        event.event,
        Event::MessageUpdated {
            conversation_id: id,
            message: again.clone(),
        }
    );
    let live_again = next_event(&mut bobs).await;
    assert_eq!(live_again, event, "the same event, at the same cursor");
    let versions = bob
        .client
        .message_edits(id, original.id)
        .await
        .expect("edits");
    let versions: Vec<(&str, &str)> = versions
        .iter()
        .map(|v| (v.text.as_str(), v.written_at.as_str()))
        .collect();
    assert_eq!(
        versions,
        vec![
            ("the meeting is at noon", original.created_at.as_str()),
            (
                "the meeting is at three",
                edited.edited_at.as_deref().expect("edited_at")
            ),
        ],
        "oldest first, each with when it was written"
    );

    // Search knows only the current text.
    for client in [&ann.client, &bob.client] {
        for gone in ["noon", "three"] {
            assert!(
                client.search(gone, None).await.expect("search").is_empty(),
                "{gone} was edited away"
            );
        }
        let found = client.search("four", None).await.expect("search");
        assert_eq!(
            found.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![original.id]
        );
    }

    // Bob was away for both edits: they replay, at the cursors they had live, with the message as it is.
    bobs.drop_without_close();
    let mut resumed = bob
        .client
        .connect(Some(before_the_edits))
        .await
        .expect("resume");
    for cursor in [live.cursor, live_again.cursor] {
        let replayed = next_event(&mut resumed).await;
        assert_eq!(replayed.cursor, cursor);
        assert!(
            matches!(&replayed.event, Event::MessageUpdated { conversation_id, message }
                if *conversation_id == id && message.id == original.id
                    && message.text.as_deref() == Some("the meeting is at four")),
            "{replayed:?}"
        );
    }
    heard_nothing_before_a_marker(&mut resumed, &ann.client, id).await;

    // Edits racing each other lose nothing: every text but the last becomes a version, each once.
    let racing = (0..10).map(|n| {
        let (client, text) = (ann.client.clone(), format!("racing edit {n}"));
        async move { client.edit_message(id, original.id, &edit(&text)).await }
    });
    for answer in futures_util::future::join_all(racing).await {
        answer.expect("edit");
    }
    let now = bob
        .client
        .message(id, original.id)
        .await
        .expect("permalink");
    let versions = bob
        .client
        .message_edits(id, original.id)
        .await
        .expect("edits");
    let mut texts: Vec<String> = versions.into_iter().map(|v| v.text).collect();
    assert_eq!(texts.len(), 12, "{texts:?}");
    assert_eq!(
        &texts[..3],
        [
            "the meeting is at noon",
            "the meeting is at three",
            "the meeting is at four"
        ]
    );
    texts.extend(now.text);
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 13, "each text once: {texts:?}");
}

#[tokio::test]
async fn only_the_author_may_edit_and_a_refused_edit_changes_nothing() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let eve = server.user_in("Eve", Some("otherco")).await;
    let id = dm(&ann.client, bob.id).await;
    let message = say(&ann.client, id, "exactly as written").await;
    let bobs_message = say(&bob.client, id, "bob's own words").await;
    let elsewhere = dm(&ann.client, carol.id).await;
    let mut bobs = connect(&bob).await;
    let mut anns = connect(&ann).await;

    // Who may not.
    let rewrite = edit("rewritten");
    assert_api_error(
        bob.client.edit_message(id, message.id, &rewrite).await,
        403,
        "forbidden",
    );
    assert_api_error(
        ann.client.edit_message(id, bobs_message.id, &rewrite).await,
        403,
        "forbidden",
    );
    for outsider in [&carol.client, &eve.client] {
        assert_api_error(
            outsider.edit_message(id, message.id, &rewrite).await,
            404,
            "not_found",
        );
    }
    let revoked = revoked_session_of(&server, &ann).await;
    for nobody in [&server.client(), &revoked] {
        assert_api_error(
            nobody.edit_message(id, message.id, &rewrite).await,
            401,
            "unauthenticated",
        );
        assert_api_error(
            nobody.message_edits(id, message.id).await,
            401,
            "unauthenticated",
        );
    }
    for outsider in [&carol.client, &eve.client] {
        assert_api_error(
            outsider.message_edits(id, message.id).await,
            404,
            "not_found",
        );
    }

    // Where it is not.
    assert_api_error(
        ann.client
            .edit_message(elsewhere, message.id, &rewrite)
            .await,
        404,
        "not_found",
    );
    assert_api_error(
        ann.client
            .edit_message(id, MessageId(999_999), &rewrite)
            .await,
        404,
        "not_found",
    );
    assert_api_error(
        ann.client.message_edits(id, MessageId(999_999)).await,
        404,
        "not_found",
    );

    // What it may not say: the rules of a send.
    for bad in [
        String::new(),
        "   ".to_owned(),
        "a".repeat(10_001),
        "bell\u{7}".to_owned(),
        "esc\u{1b}[31m".to_owned(),
    ] {
        assert_api_error(
            ann.client.edit_message(id, message.id, &edit(&bad)).await,
            400,
            "invalid_text",
        );
    }
    let mentions_eve = EditMessageRequest {
        text: "hello @eve".into(),
        mentions: Some(naming(&[eve.id])),
    };
    assert_api_error(
        ann.client.edit_message(id, message.id, &mentions_eve).await,
        400,
        "unknown_user",
    );
    let mentions_nobody = EditMessageRequest {
        text: "hello @nobody".into(),
        mentions: Some(naming(&[UserId(999_999)])),
    };
    assert_api_error(
        ann.client
            .edit_message(id, message.id, &mentions_nobody)
            .await,
        400,
        "unknown_user",
    );
    let mentions_too_many = EditMessageRequest {
        text: "hello everyone".into(),
        mentions: Some(naming(&[bob.id; 51])),
    };
    assert_api_error(
        ann.client
            .edit_message(id, message.id, &mentions_too_many)
            .await,
        400,
        "invalid_mentions",
    );

    // Bodies and paths no SDK would send.
    let (c, m) = (id.to_string(), message.id.to_string());
    let path = ["v1", "conversations", &c, "messages", &m];
    for body in [
        r#"{"text":"rewritten","surprise":1}"#,
        "{}",
        r#"{"text":5}"#,
        r#"{"text":null}"#,
        r#"["rewritten"]"#,
        r#"{"text":"rewritten","mentions":{"user_ids":[],"everyone":true}}"#,
        r#"{"text":"rewritten","mentions":{"user_ids":"all"}}"#,
        r#"{"text":"rewritten""#,
    ] {
        let response = raw_json(&ann.client, Method::PATCH, &path, body).await;
        assert_error(&response, 400, "invalid_input");
    }
    let not_json = ann
        .client
        .raw(
            Method::PATCH,
            &path,
            Some("text/plain"),
            b"rewritten".to_vec(),
        )
        .await
        .expect("request");
    assert_error(&not_json, 415, "unsupported_media_type");
    for (bad_c, bad_m) in [
        ("abc", m.as_str()),
        (c.as_str(), "abc"),
        (c.as_str(), "-1"),
        (c.as_str(), "1.5"),
        (c.as_str(), "99999999999999999999999"),
    ] {
        let bad_path = ["v1", "conversations", bad_c, "messages", bad_m];
        let response = raw_json(
            &ann.client,
            Method::PATCH,
            &bad_path,
            r#"{"text":"rewritten"}"#,
        )
        .await;
        assert_error(&response, 400, "invalid_id");
        let response = ann
            .client
            .raw(
                Method::GET,
                &[&bad_path[..], &["edits"]].concat(),
                None,
                Vec::new(),
            )
            .await
            .expect("request");
        assert_error(&response, 400, "invalid_id");
    }

    // And over the socket: an error with the op's ref, never a change.
    bobs.send(&edit_op("b1", id, message.id, "rewritten"))
        .await
        .expect("op");
    match next_reply(&mut bobs).await {
        ServerFrame::Error {
            reference, code, ..
        } => assert_eq!(
            (reference.as_deref(), code.as_str()),
            (Some("b1"), "forbidden")
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    let too_long = "a".repeat(10_001);
    let surprise = format!(
        r#"{{"op":"edit","ref":"a2","conversation_id":"{id}","message_id":"{m}","text":"rewritten","surprise":1}}"#
    );
    let not_an_id = format!(
        r#"{{"op":"edit","ref":"a3","conversation_id":"{id}","message_id":"x","text":"rewritten"}}"#
    );
    anns.send(&edit_op("a1", id, message.id, &too_long))
        .await
        .expect("op");
    anns.send_text(surprise).await.expect("op");
    anns.send_text(not_an_id).await.expect("op");
    anns.send(&edit_op("a4", id, MessageId(999_999), "rewritten"))
        .await
        .expect("op");
    let expected = [
        ("a1".to_owned(), "invalid_text".to_owned()),
        ("a2".to_owned(), "invalid_op".to_owned()),
        ("a3".to_owned(), "invalid_op".to_owned()),
        ("a4".to_owned(), "not_found".to_owned()),
    ];
    assert_eq!(error_replies(&mut anns, 4).await, expected);

    // Nothing of it happened: the same text, no edited_at, no versions, nothing heard, nothing indexed.
    for client in [&ann.client, &bob.client] {
        assert_eq!(
            client.message(id, message.id).await.expect("permalink"),
            message
        );
        assert_eq!(
            client
                .message(id, bobs_message.id)
                .await
                .expect("permalink"),
            bobs_message
        );
        assert!(
            client
                .message_edits(id, message.id)
                .await
                .expect("edits")
                .is_empty()
        );
        assert!(
            client
                .search("rewritten", None)
                .await
                .expect("search")
                .is_empty()
        );
    }
    heard_nothing_before_a_marker(&mut bobs, &ann.client, id).await;

    // The longest text a send takes, an edit takes too.
    let longest = "🙂".repeat(10_000);
    let edited = ann
        .client
        .edit_message(id, message.id, &edit(&longest))
        .await
        .expect("10,000 characters")
        .message;
    assert_eq!(edited.text.as_deref(), Some(longest.as_str()));
}

#[tokio::test]
async fn an_author_who_left_a_channel_may_no_longer_edit_there() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = channel(&ann.client, "town-square", false).await;
    bob.client.join(id).await.expect("join");
    let said = say(&bob.client, id, "I was here").await;
    bob.client.leave(id).await.expect("leave");
    assert_api_error(
        bob.client
            .edit_message(id, said.id, &edit("I was never here"))
            .await,
        403,
        "forbidden",
    );
    assert_eq!(
        ann.client.message(id, said.id).await.expect("permalink"),
        said
    );
}

#[tokio::test]
async fn deleting_for_everyone_erases_every_version() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let message = say(&ann.client, id, "first secret draft").await;
    let bobs = connect(&bob).await;
    let before_the_edits = bobs.ready_cursor;
    bobs.close().await;
    for text in ["second secret draft", "final wording"] {
        ann.client
            .edit_message(id, message.id, &edit(text))
            .await
            .expect("edit");
    }
    assert_eq!(
        bob.client
            .message_edits(id, message.id)
            .await
            .expect("edits")
            .len(),
        2
    );

    ann.client
        .delete_message(id, message.id, DeleteFor::Everyone)
        .await
        .expect("delete for everyone");
    let mut anns = connect(&ann).await;
    anns.send(&edit_op("late", id, message.id, "resurrected"))
        .await
        .expect("op");
    match next_reply(&mut anns).await {
        ServerFrame::Error {
            reference, code, ..
        } => assert_eq!(
            (reference.as_deref(), code.as_str()),
            (Some("late"), "message_deleted")
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    assert_api_error(
        ann.client
            .edit_message(id, message.id, &edit("resurrected"))
            .await,
        400,
        "message_deleted",
    );
    for client in [&ann.client, &bob.client] {
        assert!(
            client
                .message_edits(id, message.id)
                .await
                .expect("edits")
                .is_empty(),
            "no version is left"
        );
        let tombstone = client.message(id, message.id).await.expect("permalink");
        assert!(
            tombstone.deleted && tombstone.text.is_none(),
            "{tombstone:?}"
        );
        for word in [
            "first",
            "secret",
            "draft",
            "final",
            "wording",
            "resurrected",
        ] {
            assert!(
                client.search(word, None).await.expect("search").is_empty(),
                "{word} is gone from the index"
            );
        }
    }
    let (c, m) = (id.to_string(), message.id.to_string());
    for path in [
        vec!["v1", "conversations", &c, "messages", &m, "edits"],
        vec!["v1", "conversations", &c, "messages", &m],
        vec!["v1", "conversations", &c, "messages"],
    ] {
        let body = bob
            .client
            .raw(Method::GET, &path, None, Vec::new())
            .await
            .expect("request")
            .body;
        let body = String::from_utf8(body).expect("utf-8");
        assert!(
            !body.contains("secret") && !body.contains("wording"),
            "{body}"
        );
    }

    // The edits replay, but only as the tombstone: the erased words are in no frame.
    let mut resumed = bob
        .client
        .connect(Some(before_the_edits))
        .await
        .expect("resume");
    loop {
        let replayed = next_event(&mut resumed).await;
        match replayed.event {
            Event::MessageUpdated {
                message: updated, ..
            } => assert!(
                updated.id == message.id && updated.text.is_none(),
                "{updated:?}"
            ),
            Event::MessageDeleted { message_id, .. } => {
                assert_eq!(message_id, message.id);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    heard_nothing_before_a_marker(&mut resumed, &ann.client, id).await;
}
