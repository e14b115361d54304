//! Who may join an organization: an invitation made by a member, or the organization being open to sign-up.
//! Knowing an organization's handle is not enough, and a server whose sign-up is closed does not say which
//! handles exist.

use std::process::Command;

use parley_client::Client;
use parley_proto::InviteId;
use parley_proto::v1::{CreateInviteRequest, SignupRequest};
use parley_testkit::{PASSWORD, TestServer};

use crate::assert_api_error;

fn signup(username: &str, org: Option<&str>, invite: Option<&str>) -> SignupRequest {
    SignupRequest {
        name: format!("{username} Example"),
        email: format!("{username}@example.org"),
        password: PASSWORD.into(),
        username: username.into(),
        org: org.map(str::to_owned),
        invite: invite.map(str::to_owned),
    }
}

async fn signed_up(client: &Client, request: &SignupRequest) -> Client {
    let session = client.signup(request).await.expect("sign up");
    client.with_token(session.token)
}

#[tokio::test]
async fn an_existing_org_is_joined_with_an_invitation_not_with_its_handle() {
    let server = TestServer::spawn().await;
    let client = server.client();
    let ann = signed_up(&client, &signup("ann", Some("acme"), None)).await;
    assert_eq!(
        ann.me().await.expect("me").org,
        "acme",
        "a new org is created"
    );

    assert_api_error(
        client.signup(&signup("mal", Some("acme"), None)).await,
        403,
        "invite_required",
    );

    let invite = ann
        .create_invite(&CreateInviteRequest {
            max_uses: Some(2),
            expires_in_hours: Some(24),
        })
        .await
        .expect("an invitation");
    let token = invite.token.clone().expect("the token, once");
    let url = invite.url.clone().expect("a link");
    assert!(url.ends_with(&format!("/#invite={token}")), "{url}");
    assert_eq!(
        (invite.org.as_str(), invite.max_uses, invite.uses),
        ("acme", 2, 0)
    );
    let preview = client.lookup_invite(&token).await.expect("lookup");
    assert_eq!(preview.org, "acme");

    let bob = signed_up(&client, &signup("bob", None, Some(&token))).await;
    assert_eq!(bob.me().await.expect("me").org, "acme");
    assert_api_error(
        client
            .signup(&signup("cat", Some("otherco"), Some(&token)))
            .await,
        400,
        "invite_org_mismatch",
    );
    let cat = signed_up(&client, &signup("cat", Some("acme"), Some(&token))).await;
    assert_eq!(cat.me().await.expect("me").org, "acme");
    assert_api_error(
        client.signup(&signup("dan", None, Some(&token))).await,
        403,
        "invalid_invite",
    );
    assert_api_error(client.lookup_invite(&token).await, 404, "not_found");
    let people = bob.search_users("ann").await.expect("search");
    assert_eq!(people.len(), 1, "bob sees his colleagues");

    let listed = ann.invites().await.expect("invites");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].uses), (invite.id, 2));
    assert!(listed[0].token.is_none(), "the token is shown once");
}

#[tokio::test]
async fn invitations_are_withdrawn_by_their_maker_only_and_checked() {
    let server = TestServer::spawn().await;
    let client = server.client();
    let ann = signed_up(&client, &signup("ann", Some("acme"), None)).await;
    let eve = signed_up(&client, &signup("eve", Some("evilco"), None)).await;
    let invite = ann
        .create_invite(&CreateInviteRequest::default())
        .await
        .expect("an invitation");
    assert_eq!(invite.max_uses, 1, "one use unless asked");
    let token = invite.token.clone().expect("token");

    assert_api_error(eve.revoke_invite(invite.id).await, 404, "not_found");
    assert!(eve.invites().await.expect("invites").is_empty());
    assert_api_error(
        client.create_invite(&CreateInviteRequest::default()).await,
        401,
        "unauthenticated",
    );
    assert_api_error(client.invites().await, 401, "unauthenticated");
    assert_api_error(
        client.revoke_invite(invite.id).await,
        401,
        "unauthenticated",
    );
    assert_api_error(
        ann.revoke_invite(InviteId(i64::MAX)).await,
        404,
        "not_found",
    );
    for (max_uses, hours, code) in [
        (Some(0), None, "invalid_max_uses"),
        (Some(1_001), None, "invalid_max_uses"),
        (None, Some(0), "invalid_expiry"),
        (None, Some(721), "invalid_expiry"),
    ] {
        let request = CreateInviteRequest {
            max_uses,
            expires_in_hours: hours,
        };
        assert_api_error(ann.create_invite(&request).await, 400, code);
    }
    for garbage in ["", "x", &"A".repeat(43), &"A".repeat(5_000)] {
        assert_api_error(client.lookup_invite(garbage).await, 404, "not_found");
        assert_api_error(
            client.signup(&signup("gus", None, Some(garbage))).await,
            403,
            "invalid_invite",
        );
    }

    ann.revoke_invite(invite.id).await.expect("withdrawn");
    assert_api_error(
        client.signup(&signup("bob", None, Some(&token))).await,
        403,
        "invalid_invite",
    );
    assert!(ann.invites().await.expect("invites").is_empty());
}

/// With the server's sign-up closed, an existing organization and an absent one answer alike, the default
/// organization included; the operator opens one for the first people with `parley admin`, and members
/// invite the rest.
#[tokio::test]
async fn a_closed_server_lets_in_the_invited_only_and_reveals_no_handle() {
    let data = tempfile::tempdir().expect("temporary directory");
    let admin = |task: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_parley"))
            .arg("admin")
            .arg("--data-dir")
            .arg(data.path())
            .args(task)
            .output()
            .expect("parley admin");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(
        admin(&["open-signup", "--org", "acme", "--open"]).trim(),
        "acme is open to sign-up"
    );
    let server = TestServer::spawn_in(data.path(), |config| config.open_signup = false).await;
    let client = server.client();
    let ann = signed_up(&client, &signup("ann", Some("acme"), None)).await;
    // Closed again while the server runs, on the same store.
    admin(&["open-signup", "--org", "acme", "--close"]);

    let refusals = [Some("acme"), Some("nowhere"), None].map(|org| {
        let client = client.clone();
        async move { client.signup(&signup("mal", org, None)).await }
    });
    let mut bodies = Vec::new();
    for refusal in refusals {
        match refusal.await {
            Err(parley_client::Error::Api {
                status,
                code,
                message,
                ..
            }) => bodies.push((status, code, message)),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(bodies[0].0, 403);
    assert_eq!(bodies[0].1, "invite_required");
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "existing, absent and default orgs answer alike: {bodies:?}"
    );
    // With an email that is taken too, they still answer alike (the email is checked first).
    for org in ["acme", "nowhere"] {
        let taken = SignupRequest {
            email: "ann@example.org".into(),
            ..signup("mal", Some(org), None)
        };
        assert_api_error(client.signup(&taken).await, 409, "email_taken");
    }

    let token = ann
        .create_invite(&CreateInviteRequest::default())
        .await
        .expect("an invitation")
        .token
        .expect("token");
    let bob = signed_up(&client, &signup("bob", None, Some(&token))).await;
    assert_eq!(bob.me().await.expect("me").org, "acme");
}

/// An organization's owners and administrators list and withdraw every invitation of their organization,
/// whoever made it (audited); a member may not list them all (refused, audited) nor withdraw another's, and
/// an administrator of another organization sees none of them.
#[tokio::test]
async fn administrators_list_and_withdraw_everyones_invitations() {
    let server = TestServer::spawn().await;
    let owner = server.user_in("Owner", Some("acme")).await;
    let member = server.user_in("Member", Some("acme")).await;
    let other = server.user_in("Other", Some("otherco")).await;
    let by_member = member
        .client
        .create_invite(&CreateInviteRequest::default())
        .await
        .expect("a member's invitation");
    let by_owner = owner
        .client
        .create_invite(&CreateInviteRequest::default())
        .await
        .expect("the owner's invitation");

    let all = owner.client.org_invites().await.expect("every invitation");
    let ids: Vec<InviteId> = all.iter().map(|i| i.id).collect();
    assert!(
        ids.contains(&by_member.id) && ids.contains(&by_owner.id),
        "{ids:?}"
    );
    assert!(all.iter().all(|i| i.token.is_none()), "no tokens in a list");
    let mine = member.client.invites().await.expect("own invitations");
    assert_eq!(
        mine.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![by_member.id]
    );
    assert_api_error(member.client.org_invites().await, 403, "not_admin");
    assert_api_error(
        member.client.revoke_invite(by_owner.id).await,
        404,
        "not_found",
    );
    assert!(
        other
            .client
            .org_invites()
            .await
            .expect("their own org's")
            .is_empty()
    );
    assert_api_error(
        other.client.revoke_invite(by_member.id).await,
        404,
        "not_found",
    );

    owner
        .client
        .revoke_invite(by_member.id)
        .await
        .expect("an owner withdraws a member's invitation");
    assert!(member.client.invites().await.expect("own").is_empty());
    let log = owner
        .client
        .audit(&[("kind", "invite_deleted")])
        .await
        .expect("the log");
    assert!(
        log.entries
            .iter()
            .any(|e| e.target_user_id == Some(member.id))
    );
    let refused = owner
        .client
        .audit(&[("kind", "invites_read")])
        .await
        .expect("the log");
    assert!(
        refused.entries.iter().any(|e| e.actor_id == Some(member.id)
            && e.outcome == parley_proto::v1::AuditOutcome::Refused)
    );
}
