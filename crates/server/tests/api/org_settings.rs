//! An organization's settings: who may sign up without an invitation, the channels new members join, and
//! who may create channels, make invitations and use `@channel`; and a change reaching open sockets.

use std::time::Duration;

use parley_client::{Client, Incoming, Socket};
use parley_proto::v1::{
    Allowed, AuditKind, AuditOutcome, ChannelMentions, CreateInviteRequest, Mentions, OrgSettings,
    OrgSettingsPatch, ServerFrame, ServerMessage, SignupPolicy, SignupRequest,
};
use parley_testkit::{PASSWORD, TestServer};
use reqwest::Method;

use crate::features::{draft, on_both_stores, raw_json};
use crate::realtime::connect;
use crate::{assert_api_error, channel, conversation_request};

fn signup(username: &str, email: &str, org: &str) -> SignupRequest {
    SignupRequest {
        name: username.to_owned(),
        email: email.to_owned(),
        password: PASSWORD.into(),
        username: username.to_owned(),
        org: Some(org.to_owned()),
        invite: None,
    }
}

async fn signed_up(client: &Client, request: &SignupRequest) -> Client {
    let session = client.signup(request).await.expect("sign up");
    client.with_token(session.token)
}

on_both_stores!(
    settings_decide_who_joins_and_who_may_do_what,
    settings_decide_who_joins_and_who_may_do_what_on_postgres,
    settings
);

async fn settings(server: &TestServer) {
    let client = server.client();
    let ann = signed_up(&client, &signup("ann", "ann@acme.example", "acme")).await;
    let defaults = ann.org_settings().await.expect("settings");
    assert_eq!(
        (
            defaults.signup,
            defaults.channel_creation,
            defaults.invitations,
            defaults.channel_mentions
        ),
        (
            SignupPolicy::InviteOnly,
            Allowed::Everyone,
            Allowed::Everyone,
            ChannelMentions::Everyone
        )
    );
    assert_api_error(
        client
            .signup(&signup("mal", "mal@acme.example", "acme"))
            .await,
        403,
        "invite_required",
    );

    // People of the company's domain sign up on their own, and land in the default channels.
    let general = channel(&ann, "general", false).await;
    let secret = channel(&ann, "secret", true).await;
    let by_domain = OrgSettingsPatch {
        signup: Some(SignupPolicy::EmailDomains),
        email_domains: Some(vec!["ACME.example".into(), "acme.example".into()]),
        default_channels: Some(vec![general]),
        ..OrgSettingsPatch::default()
    };
    let set = ann.update_org_settings(&by_domain).await.expect("settings");
    assert_eq!(set.email_domains, vec!["acme.example".to_owned()]);
    let bob = signed_up(&client, &signup("bob", "Bob@Acme.Example", "acme")).await;
    let joined = bob.conversations().await.expect("conversations");
    assert_eq!(
        joined.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![general]
    );
    assert_api_error(
        client
            .signup(&signup("mal", "mal@evil.example", "acme"))
            .await,
        403,
        "invite_required",
    );

    // Members read the settings; only administrators change them.
    assert_eq!(
        bob.org_settings().await.expect("read").default_channels,
        vec![general]
    );
    assert_api_error(bob.update_org_settings(&by_domain).await, 403, "not_admin");
    for (patch, code) in [
        (
            OrgSettingsPatch {
                email_domains: Some(vec!["not a domain".into()]),
                ..OrgSettingsPatch::default()
            },
            "invalid_domain",
        ),
        (
            OrgSettingsPatch {
                default_channels: Some(vec![secret]),
                ..OrgSettingsPatch::default()
            },
            "invalid_channel",
        ),
        (
            OrgSettingsPatch {
                email_domains: Some((0..51).map(|i| format!("d{i}.example")).collect()),
                ..OrgSettingsPatch::default()
            },
            "too_many_domains",
        ),
        (OrgSettingsPatch::default(), "invalid_input"),
        (
            OrgSettingsPatch {
                signup: Some(SignupPolicy::EmailDomains),
                email_domains: Some(Vec::new()),
                ..OrgSettingsPatch::default()
            },
            "invalid_domain",
        ),
    ] {
        assert_api_error(ann.update_org_settings(&patch).await, 400, code);
    }

    // Who may create channels, invite, and use @channel.
    let restricted = OrgSettingsPatch {
        channel_creation: Some(Allowed::Admins),
        invitations: Some(Allowed::Admins),
        channel_mentions: Some(ChannelMentions::Moderators),
        ..OrgSettingsPatch::default()
    };
    let bobs_invite = bob
        .create_invite(&CreateInviteRequest::default())
        .await
        .expect("members invite, for now")
        .token
        .expect("its token");
    ann.update_org_settings(&restricted)
        .await
        .expect("restrict");
    assert_api_error(client.lookup_invite(&bobs_invite).await, 404, "not_found");
    let request = parley_proto::v1::CreateConversationRequest {
        name: Some("Bob's".into()),
        handle: Some("bobs".into()),
        ..conversation_request(parley_proto::v1::ConversationKind::Channel, &[])
    };
    assert_api_error(
        bob.create_conversation(&request).await,
        403,
        "channel_creation_restricted",
    );
    assert_api_error(
        bob.create_invite(&CreateInviteRequest::default()).await,
        403,
        "invitations_restricted",
    );
    ann.create_invite(&CreateInviteRequest::default())
        .await
        .expect("admins invite");
    let everyone = parley_proto::v1::SendMessageRequest {
        mentions: Some(Mentions {
            user_ids: Vec::new(),
            channel: true,
            here: false,
        }),
        ..draft("@channel lunch?")
    };
    assert_api_error(
        bob.send_draft(general, &everyone).await,
        403,
        "channel_mention_restricted",
    );
    bob.send_draft(general, &draft("lunch?"))
        .await
        .expect("plain words are fine");
    ann.send_draft(general, &everyone)
        .await
        .expect("the channel's owner may");

    // Open: anyone signs up.
    let open = OrgSettingsPatch {
        signup: Some(SignupPolicy::Open),
        ..OrgSettingsPatch::default()
    };
    ann.update_org_settings(&open).await.expect("open");
    signed_up(&client, &signup("cy", "cy@anywhere.example", "acme")).await;

    let log = ann
        .audit(&[("kind", "settings_changed")])
        .await
        .expect("audit");
    let outcomes: Vec<_> = log.entries.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == AuditOutcome::Done)
            .count(),
        3,
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&AuditOutcome::Refused),
        "Bob's try is there"
    );
    let invites = ann
        .audit(&[("kind", "invite_created")])
        .await
        .expect("audit");
    let invites: Vec<_> = invites
        .entries
        .iter()
        .map(|e| (e.kind, e.outcome))
        .collect();
    assert_eq!(
        invites,
        vec![
            (AuditKind::InviteCreated, AuditOutcome::Done),
            (AuditKind::InviteCreated, AuditOutcome::Refused),
            (AuditKind::InviteCreated, AuditOutcome::Done),
        ],
        "Ann's, Bob's refused one, and Bob's before the change, newest first"
    );
}

/// Settings bodies the contract does not allow are refused.
#[tokio::test]
async fn settings_refuse_the_malformed() {
    let server = TestServer::spawn().await;
    let ann = server.user_in("Ann", Some("strict-settings")).await;
    for body in [
        r#"{"signup":"everyone"}"#,
        r#"{"signup":{"open":null}}"#,
        r#"{"email_domains":"acme.example"}"#,
        r#"{"default_channels":[1]}"#,
        r#"{"channel_creation":"members"}"#,
        r#"{"extra":true}"#,
        "[]",
    ] {
        let answer = raw_json(&ann.client, Method::PATCH, &["v1", "org", "settings"], body).await;
        assert_eq!(answer.status, 400, "{body}");
    }
}

/// The next `org.updated` on `socket`, skipping whatever else comes.
async fn next_org_update(socket: &mut Socket) -> OrgSettings {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Incoming::Message(ServerMessage::Frame(ServerFrame::OrgUpdated {
                    settings,
                })))) => return settings,
                Some(Ok(_)) => continue,
                other => panic!("expected org.updated, got {other:?}"),
            }
        }
    })
    .await;
    found.expect("org.updated comes")
}

/// A change of the settings reaches every open socket of the organization (the administrator's own
/// included) as `org.updated`, with the settings as members read them; another organization's sockets hear
/// nothing of it. The node follows the organization while any of its members is connected, and again after
/// the last one left and one came back.
#[tokio::test]
async fn a_change_reaches_the_organizations_open_sockets_only() {
    let server = TestServer::spawn().await;
    let ann = server.user_in("Ann", Some("live-settings")).await;
    let bob = server.user_in("Bob", Some("live-settings")).await;
    let eve = server.user_in("Eve", Some("live-settings-other")).await;
    let mut anns = connect(&ann).await;
    let mut bobs_laptop = connect(&bob).await;
    let mut bobs_phone = connect(&bob).await;
    let mut eves = connect(&eve).await;

    let restricted = OrgSettingsPatch {
        channel_creation: Some(Allowed::Admins),
        invitations: Some(Allowed::Admins),
        channel_mentions: Some(ChannelMentions::Moderators),
        ..OrgSettingsPatch::default()
    };
    let answered = ann
        .client
        .update_org_settings(&restricted)
        .await
        .expect("restrict");
    assert_eq!(
        (
            answered.channel_creation,
            answered.invitations,
            answered.channel_mentions
        ),
        (
            Allowed::Admins,
            Allowed::Admins,
            ChannelMentions::Moderators
        )
    );
    assert_eq!(bob.client.org_settings().await.expect("read"), answered);
    for socket in [&mut anns, &mut bobs_laptop, &mut bobs_phone] {
        assert_eq!(next_org_update(socket).await, answered);
    }

    // Eve's organization changes after Ann's, through the same bus: the first `org.updated` Eve's socket
    // gets is her own organization's.
    let opened = OrgSettingsPatch {
        signup: Some(SignupPolicy::Open),
        ..OrgSettingsPatch::default()
    };
    let eves_settings = eve.client.update_org_settings(&opened).await.expect("open");
    assert_eq!(eves_settings.channel_creation, Allowed::Everyone);
    assert_eq!(next_org_update(&mut eves).await, eves_settings);

    // Everyone of the organization leaves; one device comes back and still hears a change.
    anns.close().await;
    bobs_laptop.close().await;
    bobs_phone.close().await;
    let mut bobs_tablet = connect(&bob).await;
    let everyone = OrgSettingsPatch {
        channel_creation: Some(Allowed::Everyone),
        ..OrgSettingsPatch::default()
    };
    let answered = ann
        .client
        .update_org_settings(&everyone)
        .await
        .expect("everyone again");
    assert_eq!(next_org_update(&mut bobs_tablet).await, answered);
    assert_eq!(answered.channel_creation, Allowed::Everyone);
    assert_eq!(answered.invitations, Allowed::Admins);
}
