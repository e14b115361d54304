//! Moderating a channel: its owners and moderators (and the organization's administrators) rename it,
//! change its topic and privacy, archive it, name moderators, remove members and delete others' messages;
//! each change is a durable event open sockets see and a replay carries, and each change and refusal is
//! audited.

use parley_client::DeleteFor;
use parley_proto::v1::{
    AuditKind, AuditOutcome, ChannelRole, ConversationKind, ConversationPatch, Event,
};
use parley_testkit::TestServer;
use reqwest::Method;

use crate::features::{on_both_stores, raw_json, say};
use crate::realtime::next_event;
use crate::{assert_api_error, channel, group};

on_both_stores!(
    moderators_run_their_channel,
    moderators_run_their_channel_on_postgres,
    moderation
);

async fn moderation(server: &TestServer) {
    let ann = server.user_in("Ann", Some("mods")).await; // the org's owner
    let bob = server.user_in("Bob", Some("mods")).await;
    let cy = server.user_in("Cy", Some("mods")).await;
    let dan = server.user_in("Dan", Some("mods")).await;
    let eve = server.user_in("Eve", Some("elsewhere")).await;
    let team = channel(&bob.client, "team", false).await;
    for member in [&cy, &dan] {
        member.client.join(team).await.expect("join");
    }
    let mut cys = cy.client.connect(None).await.expect("connect");
    let mut dans = dan.client.connect(None).await.expect("connect");
    let cursor = cys.ready_cursor;
    let rename = ConversationPatch {
        name: Some("The Team".into()),
        topic: Some("shipping".into()),
        private: None,
    };

    // A member does not moderate; the creator owns the channel.
    assert_api_error(
        cy.client.update_conversation(team, &rename).await,
        403,
        "not_moderator",
    );
    assert_api_error(
        eve.client.update_conversation(team, &rename).await,
        404,
        "not_found",
    );
    let renamed = bob
        .client
        .update_conversation(team, &rename)
        .await
        .expect("rename");
    assert_eq!(renamed.name.as_deref(), Some("The Team"));
    match next_event(&mut cys).await.event {
        Event::ConversationUpdated { conversation } => {
            assert_eq!(conversation.topic.as_deref(), Some("shipping"));
        }
        other => panic!("{other:?}"),
    }
    let cleared = ConversationPatch {
        topic: Some(String::new()),
        ..ConversationPatch::default()
    };
    let no_topic = bob
        .client
        .update_conversation(team, &cleared)
        .await
        .expect("clear topic");
    assert_eq!(
        (no_topic.name.as_deref(), no_topic.topic),
        (Some("The Team"), None)
    );
    next_event(&mut cys).await;
    assert_api_error(
        bob.client
            .update_conversation(team, &ConversationPatch::default())
            .await,
        400,
        "invalid_input",
    );

    // The owner names a moderator; a moderator names nobody.
    let cy_mod = bob
        .client
        .set_channel_role(team, cy.id, ChannelRole::Moderator)
        .await
        .expect("make Cy a moderator");
    assert_eq!(cy_mod.role, ChannelRole::Moderator);
    assert!(matches!(
        next_event(&mut dans).await.event,
        Event::ConversationUpdated { .. }
    ));
    next_event(&mut dans).await;
    match next_event(&mut dans).await.event {
        Event::MemberRoleChanged { user_id, role, .. } => {
            assert_eq!((user_id, role), (cy.id, ChannelRole::Moderator));
        }
        other => panic!("{other:?}"),
    }
    let roles = dan.client.channel_roles(team).await.expect("roles");
    let roles: Vec<_> = roles.iter().map(|r| (r.user_id, r.role)).collect();
    assert_eq!(
        roles,
        vec![
            (bob.id, ChannelRole::Owner),
            (cy.id, ChannelRole::Moderator)
        ]
    );
    assert_api_error(
        cy.client
            .set_channel_role(team, dan.id, ChannelRole::Moderator)
            .await,
        403,
        "not_moderator",
    );
    assert_api_error(
        bob.client
            .set_channel_role(team, eve.id, ChannelRole::Moderator)
            .await,
        404,
        "not_found",
    );

    // A moderator deletes someone else's message; the tombstone says so.
    let words = say(&bob.client, team, "something to take back").await;
    assert_api_error(
        dan.client
            .delete_message(team, words.id, DeleteFor::Everyone)
            .await,
        403,
        "forbidden",
    );
    cy.client
        .delete_message(team, words.id, DeleteFor::Everyone)
        .await
        .expect("a moderator removes it");
    let history = dan
        .client
        .history(team, Default::default())
        .await
        .expect("history");
    let tombstone = history
        .iter()
        .find(|m| m.id == words.id)
        .expect("tombstone");
    assert!(tombstone.deleted && tombstone.removed_by_moderator && tombstone.text.is_none());

    // A moderator removes plain members only.
    assert_api_error(
        cy.client.remove_member(team, bob.id).await,
        403,
        "not_moderator",
    );
    cy.client
        .remove_member(team, dan.id)
        .await
        .expect("remove Dan");
    let removed = loop {
        if let Event::MemberLeft {
            user_id, removed, ..
        } = next_event(&mut dans).await.event
        {
            break (user_id, removed);
        }
    };
    assert_eq!(removed, (dan.id, true));
    assert_api_error(
        dan.client.send_message(team, "hello?", None).await,
        403,
        "forbidden",
    );
    assert_api_error(
        cy.client.remove_member(team, dan.id).await,
        404,
        "not_found",
    );

    // The org's owner, not a member, archives it: read-only and out of the directory, until brought back.
    let archived = ann.client.archive(team, true).await.expect("archive");
    assert!(archived.archived);
    assert_api_error(
        bob.client.send_message(team, "anyone?", None).await,
        409,
        "archived",
    );
    assert_api_error(dan.client.join(team).await, 409, "archived");
    assert_api_error(
        bob.client.update_conversation(team, &rename).await,
        409,
        "archived",
    );
    let refusals = ann
        .client
        .audit(&[("kind", "channel_updated")])
        .await
        .expect("the log");
    assert!(
        refusals.entries.iter().any(|e| e.actor_id == Some(bob.id)
            && e.outcome == parley_proto::v1::AuditOutcome::Refused
            && e.detail.as_deref().is_some_and(|d| d.contains("archived"))),
        "a moderator's change refused on an archived channel is audited"
    );
    assert!(
        dan.client
            .channels("team")
            .await
            .expect("directory")
            .is_empty()
    );
    bob.client
        .history(team, Default::default())
        .await
        .expect("still readable");
    let back = cy.client.archive(team, false).await.expect("bring back");
    assert!(!back.archived);
    say(&bob.client, team, "we are back").await;

    // Privacy; groups are not moderated.
    let private = ConversationPatch {
        private: Some(true),
        ..ConversationPatch::default()
    };
    assert!(
        bob.client
            .update_conversation(team, &private)
            .await
            .expect("private")
            .private
    );
    assert!(
        dan.client
            .channels("team")
            .await
            .expect("directory")
            .is_empty()
    );
    assert_api_error(dan.client.conversation(team).await, 404, "not_found");
    let chat = group(&bob.client, "chat", &[cy.id]).await;
    assert_api_error(
        bob.client.update_conversation(chat, &rename).await,
        400,
        "not_a_channel",
    );
    assert_api_error(bob.client.archive(chat, true).await, 400, "not_a_channel");

    // A replay carries the same events as the live sockets saw.
    let mut replay = cy.client.connect(Some(cursor)).await.expect("resume");
    let mut seen = Vec::new();
    while seen.len() < 8 {
        match next_event(&mut replay).await.event {
            Event::ConversationUpdated { .. } => seen.push("updated"),
            Event::MemberRoleChanged { role, .. } => seen.push(role.as_str()),
            Event::MessageDeleted {
                removed_by_moderator: true,
                ..
            } => seen.push("removed message"),
            Event::MemberLeft { removed: true, .. } => seen.push("removed member"),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "updated",
            "updated",
            "moderator",
            "removed message",
            "removed member",
            "updated",
            "updated",
            "updated"
        ]
    );

    let audit = ann.client.audit(&[("limit", "200")]).await.expect("audit");
    let kinds: Vec<_> = audit.entries.iter().map(|e| (e.kind, e.outcome)).collect();
    for expected in [
        (AuditKind::ChannelUpdated, AuditOutcome::Done),
        (AuditKind::ChannelUpdated, AuditOutcome::Refused),
        (AuditKind::ChannelRoleChanged, AuditOutcome::Done),
        (AuditKind::ChannelRoleChanged, AuditOutcome::Refused),
        (AuditKind::MessageRemoved, AuditOutcome::Done),
        (AuditKind::MessageRemoved, AuditOutcome::Refused),
        (AuditKind::MemberRemoved, AuditOutcome::Done),
        (AuditKind::MemberRemoved, AuditOutcome::Refused),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
    }
    let removal = audit
        .entries
        .iter()
        .find(|e| e.kind == AuditKind::MemberRemoved && e.outcome == AuditOutcome::Done)
        .expect("the removal");
    assert_eq!(
        (
            removal.actor_id,
            removal.target_user_id,
            removal.target_conversation_id
        ),
        (Some(cy.id), Some(dan.id), Some(team))
    );
}

/// Malformed moderation bodies and ids are refused before anything changes.
#[tokio::test]
async fn moderation_refuses_the_malformed() {
    let server = TestServer::spawn().await;
    let bob = server.user("Bob").await;
    let team = channel(&bob.client, "strict-team", false).await;
    let id = team.to_string();
    for body in [
        r#"{"name":""}"#,
        r#"{"name":"   "}"#,
        r#"{"topic":"a\u0000b"}"#,
        r#"{"private":"yes"}"#,
        r#"{"archived":true}"#,
        r#"[{"name":"x"}]"#,
        &format!(r#"{{"name":"{}"}}"#, "n".repeat(101)),
        &format!(r#"{{"topic":"{}"}}"#, "t".repeat(501)),
    ] {
        let answer = raw_json(
            &bob.client,
            Method::PATCH,
            &["v1", "conversations", &id],
            body,
        )
        .await;
        assert_eq!(answer.status, 400, "{body}");
    }
    let user = bob.id.to_string();
    for body in [r#"{"role":"admin"}"#, r#"{"role":null}"#, "{}"] {
        let segments = ["v1", "conversations", &id, "members", &user, "role"];
        let answer = raw_json(&bob.client, Method::PUT, &segments, body).await;
        assert_eq!(answer.status, 400, "{body}");
    }
    let conversation = bob.client.conversation(team).await.expect("unchanged");
    assert_eq!(conversation.name.as_deref(), Some("Channel strict-team"));
    assert_eq!(conversation.kind, ConversationKind::Channel);
    assert_eq!(
        conversation.membership.map(|m| m.role),
        Some(ChannelRole::Owner),
        "the creator owns it"
    );
}
