//! Exports: an administrator's of the whole organization, and a person's of their own messages, as JSON
//! lines streamed as they are read.

use std::collections::BTreeMap;

use parley_client::Client;
use parley_proto::v1::{AuditKind, ExportLine};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::features::{on_both_stores, raw_json, say};
use crate::{channel, dm};

/// The lines of an export, each parsed, and how many of each type.
async fn export(
    client: &Client,
    segments: &[&str],
) -> (Vec<ExportLine>, BTreeMap<&'static str, usize>) {
    let answer = raw_json(client, Method::GET, segments, "").await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/x-ndjson"));
    let text = String::from_utf8(answer.body).expect("UTF-8");
    let lines: Vec<ExportLine> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("an export line"))
        .collect();
    let mut counts = BTreeMap::new();
    for line in &lines {
        let kind = match line {
            ExportLine::Organization { .. } => "organization",
            ExportLine::Person { .. } => "person",
            ExportLine::Conversation { .. } => "conversation",
            ExportLine::Message { .. } => "message",
            ExportLine::File { .. } => "file",
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    (lines, counts)
}

on_both_stores!(
    an_organization_and_a_person_export_what_they_hold,
    an_organization_and_a_person_export_what_they_hold_on_postgres,
    exports
);

async fn exports(server: &TestServer) {
    let ann = server.user_in("Ann", Some("exporter")).await;
    let bob = server.user_in("Bob", Some("exporter")).await;
    let eve = server.user_in("Eve", Some("other-co")).await;
    let talk = dm(&ann.client, bob.id).await;
    let room = channel(&ann.client, "room", false).await;
    bob.client.join(room).await.expect("join");
    let root = say(&ann.client, room, "a thread starts").await;
    let reply = parley_proto::v1::SendMessageRequest {
        thread_root_id: Some(root.id),
        ..crate::features::draft("a reply in it")
    };
    bob.client.send_draft(room, &reply).await.expect("reply");
    for text in ["one", "two", "three"] {
        say(&bob.client, talk, text).await;
    }
    let gone = say(&ann.client, talk, "deleted soon").await;
    ann.client
        .delete_message(talk, gone.id, parley_client::DeleteFor::Everyone)
        .await
        .expect("delete");
    let picture = crate::files::upload(&ann.client, "p.png", &crate::files::png(4, 4)).await;
    crate::files::attach(&ann.client, room, &[picture.id], "a picture")
        .await
        .expect("send");
    say(
        &eve.client,
        crate::group(&eve.client, "notes", &[]).await,
        "elsewhere",
    )
    .await;

    let (lines, counts) = export(&ann.client, &["v1", "admin", "export"]).await;
    assert!(matches!(&lines[0], ExportLine::Organization { org, .. } if org == "exporter"));
    assert_eq!(counts.get("person"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("conversation"), Some(&2), "{counts:?}");
    assert_eq!(
        counts.get("message"),
        Some(&7),
        "every message, the reply and the tombstone too"
    );
    assert_eq!(counts.get("file"), Some(&1));
    let texts: Vec<&str> = lines
        .iter()
        .filter_map(|l| match l {
            ExportLine::Message { message } => message.text.as_deref(),
            _ => None,
        })
        .collect();
    assert!(
        texts.contains(&"a reply in it") && !texts.contains(&"deleted soon"),
        "{texts:?}"
    );
    assert!(
        !texts.contains(&"elsewhere"),
        "nothing of another organization"
    );
    let room_members = lines.iter().find_map(|l| match l {
        ExportLine::Conversation {
            conversation,
            members,
        } if conversation.id == room => Some(members.clone()),
        _ => None,
    });
    assert_eq!(room_members, Some(vec![ann.id, bob.id]));

    let refused = raw_json(&bob.client, Method::GET, &["v1", "admin", "export"], "").await;
    assert_eq!(refused.status, 403, "a member exports no organization");

    let (own, counts) = export(&bob.client, &["v1", "users", "me", "export"]).await;
    assert_eq!(
        counts.get("message"),
        Some(&4),
        "Bob's three words and his reply: {counts:?}"
    );
    assert_eq!(counts.len(), 1, "nothing but his messages");
    assert!(
        own.iter()
            .all(|l| matches!(l, ExportLine::Message { message } if message.author_id == bob.id))
    );
    let (theirs, _) = export(&eve.client, &["v1", "admin", "export"]).await;
    assert!(theirs.iter().all(|l| match l {
        ExportLine::Person { person } => person.user.id == eve.id,
        ExportLine::Message { message } => message.author_id == eve.id,
        _ => true,
    }));

    let log = ann
        .client
        .audit(&[("kind", "exported")])
        .await
        .expect("audit");
    let exports: Vec<_> = log
        .entries
        .iter()
        .map(|e| (e.kind, e.outcome, e.actor_id))
        .collect();
    assert_eq!(
        exports.len(),
        3,
        "Ann's, Bob's refused one, and Bob's own: {exports:?}"
    );
    assert!(
        exports
            .iter()
            .all(|(kind, _, _)| *kind == AuditKind::Exported)
    );
}
