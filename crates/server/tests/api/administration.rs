//! Running an organization: roles and who may manage whom, deactivation, a person's own sessions and
//! password, and the audit log that records every change and every refusal.

use std::process::Command;
use std::time::Duration;

use parley_client::{Client, Incoming};
use parley_proto::v1::{
    AuditKind, AuditOutcome, ConversationKind, LoginRequest, Role, ServerFrame, ServerMessage,
};
use parley_testkit::{PASSWORD, TestServer, TestUser};
use reqwest::Method;

use crate::features::{on_both_stores, raw_json};
use crate::sessions::close_code;
use crate::{assert_api_error, channel, conversation_request, group};

async fn login(user: &TestUser, user_agent: &str) -> Client {
    let http = reqwest::Client::new();
    let url = user.client.base_url().join("v1/auth/login").expect("url");
    let answer: serde_json::Value = http
        .post(url)
        .header(reqwest::header::USER_AGENT, user_agent)
        .json(&LoginRequest {
            login: user.email.clone(),
            password: PASSWORD.into(),
            org: None,
        })
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login answer");
    let token = answer["token"].as_str().expect("a token");
    user.client.with_token(token)
}

async fn kinds(admin: &Client, filter: &[(&str, &str)]) -> Vec<(AuditKind, AuditOutcome)> {
    admin
        .audit(filter)
        .await
        .expect("the audit log")
        .entries
        .iter()
        .map(|e| (e.kind, e.outcome))
        .collect()
}

on_both_stores!(
    roles_decide_who_manages_whom,
    roles_decide_who_manages_whom_on_postgres,
    roles
);

/// The first person owns the org; owners manage everyone and administrators members and guests; the org
/// keeps an active owner; every refusal is audited; another org's administrator finds nobody.
async fn roles(server: &TestServer) {
    let ann = server.user_in("Ann", Some("roles")).await;
    let bob = server.user_in("Bob", Some("roles")).await;
    let cy = server.user_in("Cy", Some("roles")).await;
    let eve = server.user_in("Eve", Some("rivals")).await;
    assert_eq!(ann.client.me().await.expect("me").role, Role::Owner);
    assert_eq!(bob.client.me().await.expect("me").role, Role::Member);
    assert_eq!(eve.client.me().await.expect("me").role, Role::Owner);

    assert_api_error(bob.client.people(None, None, None).await, 403, "not_admin");
    assert_api_error(
        bob.client.set_role(cy.id, Role::Guest).await,
        403,
        "not_admin",
    );
    let mut bobs_socket = bob.client.connect(None).await.expect("connect");
    let bob_admin = ann
        .client
        .set_role(bob.id, Role::Admin)
        .await
        .expect("make Bob admin");
    assert_eq!(bob_admin.user.role, Role::Admin);
    // His open socket, authenticated as a member, hears his new role and closes so that he reconnects.
    let mut told = None;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(5), bobs_socket.next()).await {
            Ok(Some(Ok(Incoming::Message(ServerMessage::Frame(ServerFrame::UserUpdated {
                user,
            }))))) => told = Some(user.role),
            Ok(Some(Ok(Incoming::Closed { code, .. }))) => break code,
            Ok(Some(Ok(Incoming::Message(_)))) => {}
            other => panic!("expected user.updated and a close, got {other:?}"),
        }
    };
    assert_eq!((told, code), (Some(Role::Admin), 4006));
    bob.client
        .connect(None)
        .await
        .expect("he reconnects, as an administrator");
    assert_eq!(bob_admin.email, bob.email, "administrators see emails");
    assert_eq!(
        bob.client.user(bob.id).await.expect("profile").role,
        Role::Admin
    );

    let cy_guest = bob
        .client
        .set_role(cy.id, Role::Guest)
        .await
        .expect("admins make guests");
    assert_eq!(cy_guest.user.role, Role::Guest);
    assert_api_error(
        bob.client.set_role(cy.id, Role::Admin).await,
        403,
        "forbidden_role",
    );
    assert_api_error(
        bob.client.set_role(ann.id, Role::Member).await,
        403,
        "forbidden_role",
    );
    assert_api_error(bob.client.deactivate(ann.id).await, 403, "forbidden_role");
    assert_api_error(
        eve.client.set_role(cy.id, Role::Member).await,
        404,
        "not_found",
    );
    assert_api_error(eve.client.deactivate(bob.id).await, 404, "not_found");

    assert_api_error(
        ann.client.set_role(ann.id, Role::Member).await,
        409,
        "last_owner",
    );
    ann.client
        .set_role(bob.id, Role::Owner)
        .await
        .expect("a second owner");
    let ann_now = ann
        .client
        .set_role(ann.id, Role::Admin)
        .await
        .expect("no longer the last");
    assert_eq!(ann_now.user.role, Role::Admin);
    assert_api_error(
        bob.client.set_role(bob.id, Role::Member).await,
        409,
        "last_owner",
    );

    let people = bob.client.people(None, None, None).await.expect("people");
    let listed: Vec<_> = people
        .people
        .iter()
        .map(|p| (p.user.id, p.user.role))
        .collect();
    assert_eq!(
        listed,
        vec![
            (ann.id, Role::Admin),
            (bob.id, Role::Owner),
            (cy.id, Role::Guest)
        ],
        "the org's people only, by id"
    );
    let first = bob
        .client
        .people(None, None, Some(2))
        .await
        .expect("a page");
    let rest = bob
        .client
        .people(None, first.next, Some(2))
        .await
        .expect("the next page");
    assert_eq!(rest.people.len(), 1);
    assert_eq!(rest.next, None);
    let found = bob
        .client
        .people(Some("cy"), None, None)
        .await
        .expect("search");
    assert_eq!(found.people.len(), 1);

    let changes = kinds(&bob.client, &[("kind", "role_changed")]).await;
    let done = changes
        .iter()
        .filter(|(_, o)| *o == AuditOutcome::Done)
        .count();
    let refused = changes
        .iter()
        .filter(|(_, o)| *o == AuditOutcome::Refused)
        .count();
    assert_eq!((done, refused), (4, 5), "{changes:?}");
    let by_member = kinds(
        &bob.client,
        &[("actor", &bob.id.to_string()), ("kind", "people_read")],
    )
    .await;
    assert_eq!(
        by_member,
        vec![(AuditKind::PeopleRead, AuditOutcome::Refused)]
    );
    let deactivations = kinds(&bob.client, &[("kind", "user_deactivated")]).await;
    assert_eq!(
        deactivations,
        vec![(AuditKind::UserDeactivated, AuditOutcome::Refused)]
    );
    // The other org's log holds its administrator's refusals, and nothing of this org.
    let theirs = kinds(&eve.client, &[]).await;
    assert!(
        theirs.contains(&(AuditKind::RoleChanged, AuditOutcome::Refused)),
        "{theirs:?}"
    );
    assert!(
        !theirs.contains(&(AuditKind::RoleChanged, AuditOutcome::Done)),
        "{theirs:?}"
    );
}

on_both_stores!(
    a_deactivated_account_is_locked_out_and_kept,
    a_deactivated_account_is_locked_out_and_kept_on_postgres,
    deactivation
);

/// Deactivation ends every session and socket at once, refuses the password, and hides the person from
/// search and new conversations; their messages stay, shown as theirs. Reactivation lets them back in.
async fn deactivation(server: &TestServer) {
    let ann = server.user_in("Ann", Some("deact")).await;
    let bob = server.user_in("Bob", Some("deact")).await;
    let cy = server.user_in("Cy", Some("deact")).await;
    let phone = login(&bob, "Bob's phone").await;
    let dm = crate::dm(&ann.client, bob.id).await;
    bob.client
        .send_message(dm, "before I go", None)
        .await
        .expect("send");
    let mut desk = bob.client.connect(None).await.expect("connect");
    let mut pocket = phone.connect(None).await.expect("connect");

    assert_api_error(
        ann.client.deactivate(ann.id).await,
        400,
        "cannot_deactivate_yourself",
    );
    let bobs_invite = bob
        .client
        .create_invite(&parley_proto::v1::CreateInviteRequest::default())
        .await
        .expect("an invitation")
        .token
        .expect("its token");
    let person = ann.client.deactivate(bob.id).await.expect("deactivate");
    assert_api_error(
        server.client().lookup_invite(&bobs_invite).await,
        404,
        "not_found",
    );
    assert!(person.user.deactivated);
    assert!(person.deactivated_at.is_some());
    for socket in [&mut desk, &mut pocket] {
        assert_eq!(close_code(socket, Duration::from_secs(5)).await, 4003);
    }
    assert_api_error(bob.client.me().await, 401, "unauthenticated");
    assert_api_error(phone.me().await, 401, "unauthenticated");
    let again = LoginRequest {
        login: bob.email.clone(),
        password: PASSWORD.into(),
        org: None,
    };
    assert_api_error(bob.client.login(&again).await, 403, "account_deactivated");
    let wrong = LoginRequest {
        password: "not the password".into(),
        ..again.clone()
    };
    assert_api_error(bob.client.login(&wrong).await, 401, "unauthenticated");

    assert!(
        cy.client
            .search_users(&bob.username)
            .await
            .expect("search")
            .is_empty()
    );
    assert!(
        cy.client
            .user(bob.id)
            .await
            .expect("still a profile")
            .deactivated
    );
    assert_api_error(
        cy.client
            .create_conversation(&conversation_request(ConversationKind::Dm, &[bob.id]))
            .await,
        409,
        "user_deactivated",
    );
    let history = ann
        .client
        .history(dm, Default::default())
        .await
        .expect("history");
    assert_eq!(
        history.last().map(|m| m.author_id),
        Some(bob.id),
        "their words stay"
    );

    let again_person = ann
        .client
        .deactivate(bob.id)
        .await
        .expect("twice changes nothing");
    assert_eq!(again_person.deactivated_at, person.deactivated_at);
    let back = ann.client.reactivate(bob.id).await.expect("reactivate");
    assert!(!back.user.deactivated);
    bob.client.login(&again).await.expect("back in");
    assert_eq!(
        cy.client
            .search_users(&bob.username)
            .await
            .expect("search")
            .len(),
        1
    );

    let log = kinds(&ann.client, &[]).await;
    for expected in [
        (AuditKind::UserDeactivated, AuditOutcome::Done),
        (AuditKind::UserDeactivated, AuditOutcome::Refused),
        (AuditKind::UserReactivated, AuditOutcome::Done),
        (AuditKind::LoginFailed, AuditOutcome::Refused),
        (AuditKind::Login, AuditOutcome::Done),
    ] {
        assert!(log.contains(&expected), "{expected:?} in {log:?}");
    }
}

on_both_stores!(
    people_see_and_end_their_sessions_and_change_their_password,
    people_see_and_end_their_sessions_and_change_their_password_on_postgres,
    sessions_and_password
);

async fn sessions_and_password(server: &TestServer) {
    let ann = server.user("Ann").await;
    let phone = login(&ann, "Parley for\tAndroid\t").await;
    let laptop = login(&ann, "Firefox on Linux").await;
    let mut phone_socket = phone.connect(None).await.expect("connect");
    let sessions = laptop.sessions().await.expect("sessions");
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s.current).count(), 1);
    let current = sessions.iter().find(|s| s.current).expect("this one");
    assert_eq!(current.device.as_deref(), Some("Firefox on Linux"));
    let on_phone = sessions
        .iter()
        .find(|s| s.device.as_deref() == Some("Parley forAndroid"))
        .expect("control characters are dropped");
    laptop
        .end_session(on_phone.id)
        .await
        .expect("end the phone's");
    assert_eq!(
        close_code(&mut phone_socket, Duration::from_secs(5)).await,
        4003
    );
    assert_api_error(phone.me().await, 401, "unauthenticated");
    assert_api_error(laptop.end_session(on_phone.id).await, 404, "not_found");
    let bob = server.user("Bob").await;
    assert_api_error(bob.client.end_session(current.id).await, 404, "not_found");

    assert_api_error(
        laptop
            .change_password("wrong guess", "a new long password")
            .await,
        403,
        "wrong_password",
    );
    assert_api_error(
        laptop.change_password(PASSWORD, "short").await,
        400,
        "invalid_password",
    );
    let mut first_socket = ann.client.connect(None).await.expect("connect");
    laptop
        .change_password(PASSWORD, "a new long password")
        .await
        .expect("change");
    assert_eq!(
        close_code(&mut first_socket, Duration::from_secs(5)).await,
        4003
    );
    assert_api_error(ann.client.me().await, 401, "unauthenticated");
    laptop
        .me()
        .await
        .expect("the session that changed it stays");
    let old = LoginRequest {
        login: ann.email.clone(),
        password: PASSWORD.into(),
        org: None,
    };
    assert_api_error(ann.client.login(&old).await, 401, "unauthenticated");
    let new = LoginRequest {
        password: "a new long password".into(),
        ..old
    };
    ann.client.login(&new).await.expect("the new password");
    assert_eq!(laptop.sessions().await.expect("sessions").len(), 2);
}

/// Guests see only the conversations they were added to: no directory, no channel of their own, no public
/// channel they were not added to.
#[tokio::test]
async fn guests_see_only_what_they_were_added_to() {
    let server = TestServer::spawn().await;
    let ann = server.user_in("Ann", Some("guests")).await;
    let gus = server.user_in("Gus", Some("guests")).await;
    ann.client
        .set_role(gus.id, Role::Guest)
        .await
        .expect("make Gus a guest");
    let open = channel(&ann.client, "open-talk", false).await;
    let with_gus = group(&ann.client, "with Gus", &[gus.id]).await;

    assert_api_error(gus.client.channels("").await, 403, "guest_forbidden");
    let request = parley_proto::v1::CreateConversationRequest {
        name: Some("Gus's".into()),
        handle: Some("gus-chan".into()),
        ..conversation_request(ConversationKind::Channel, &[])
    };
    assert_api_error(
        gus.client.create_conversation(&request).await,
        403,
        "guest_forbidden",
    );
    assert_api_error(gus.client.join(open).await, 404, "not_found");
    assert_api_error(gus.client.conversation(open).await, 404, "not_found");
    assert_api_error(
        gus.client.join_by_handle("open-talk").await,
        404,
        "not_found",
    );
    gus.client
        .conversation(with_gus)
        .await
        .expect("added: seen");
    crate::dm(&gus.client, ann.id).await;
    ann.client
        .invite(open, &[gus.id])
        .await
        .expect("added to the channel");
    gus.client.conversation(open).await.expect("now a member");
}

/// What a member, a guest or a deactivated account's old token gets from every administration route, and
/// what malformed input gets.
#[tokio::test]
async fn administration_refuses_the_unentitled_and_the_malformed() {
    let server = TestServer::spawn().await;
    let ann = server.user_in("Ann", Some("strict")).await;
    let bob = server.user_in("Bob", Some("strict")).await;
    let gus = server.user_in("Gus", Some("strict")).await;
    let old = server.user_in("Old", Some("strict")).await;
    ann.client
        .set_role(gus.id, Role::Guest)
        .await
        .expect("guest");
    ann.client.deactivate(old.id).await.expect("deactivate");
    let target = ann.id.to_string();
    let routes: [(Method, Vec<&str>, &str); 6] = [
        (Method::GET, vec!["v1", "admin", "people"], ""),
        (
            Method::PUT,
            vec!["v1", "admin", "people", &target, "role"],
            r#"{"role":"guest"}"#,
        ),
        (
            Method::POST,
            vec!["v1", "admin", "people", &target, "deactivate"],
            "",
        ),
        (
            Method::POST,
            vec!["v1", "admin", "people", &target, "reactivate"],
            "",
        ),
        (Method::GET, vec!["v1", "admin", "audit"], ""),
        (Method::GET, vec!["v1", "admin", "audit", "export"], ""),
    ];
    for (method, segments, body) in &routes {
        for (who, status) in [(&bob.client, 403), (&gus.client, 403), (&old.client, 401)] {
            let answer = raw_json(who, method.clone(), segments, body).await;
            assert_eq!(answer.status, status, "{method} {segments:?}");
        }
    }
    let admin = &ann.client;
    for (body, status) in [
        (r#"{"role":"superuser"}"#, 400),
        (r#"{"role":["owner"]}"#, 400),
        (r#"{"role":{"owner":null}}"#, 400),
        (r#"["owner"]"#, 400),
        (r#"{"role":"owner","extra":1}"#, 400),
        ("{}", 400),
    ] {
        let answer = raw_json(
            admin,
            Method::PUT,
            &["v1", "admin", "people", &target, "role"],
            body,
        )
        .await;
        assert_eq!(answer.status, status, "{body}");
    }
    for (segments, status) in [
        (vec!["v1", "admin", "people", "01", "role"], 400),
        (
            vec!["v1", "admin", "people", "9223372036854775807", "role"],
            404,
        ),
    ] {
        let answer = raw_json(admin, Method::PUT, &segments, r#"{"role":"member"}"#).await;
        assert_eq!(answer.status, status, "{segments:?}");
    }
    for query in [
        vec![("since", "yesterday")],
        vec![("until", "2026-13-01T00:00:00Z")],
        vec![("kind", "everything")],
        vec![("limit", "0")],
        vec![("limit", "201")],
        vec![("actor", "-1")],
        vec![("before", "x")],
    ] {
        let answer = admin.audit(&query).await;
        assert!(
            matches!(answer, Err(parley_client::Error::Api { status: 400, .. })),
            "{query:?}: {answer:?}"
        );
    }
    assert_api_error(
        admin.people(Some("a\u{0}b"), None, None).await,
        400,
        "invalid_query",
    );
    assert_api_error(
        admin.people(None, None, Some(0)).await,
        400,
        "invalid_limit",
    );
    assert_api_error(
        admin.people(None, None, Some(201)).await,
        400,
        "invalid_limit",
    );
    // The log has no route that edits or deletes it.
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
        let answer = raw_json(admin, method.clone(), &["v1", "admin", "audit"], "{}").await;
        assert_eq!(answer.status, 405, "{method}");
    }
}

/// The audit log pages, filters by time, actor and kind, and exports as JSON lines (the export is audited).
#[tokio::test]
async fn the_audit_log_pages_filters_and_exports() {
    let server = TestServer::spawn().await;
    let ann = server.user_in("Ann", Some("audited")).await;
    let bob = server.user_in("Bob", Some("audited")).await;
    for _ in 0..3 {
        login(&bob, "curl").await;
    }
    let wrong = LoginRequest {
        login: bob.email.clone(),
        password: "guess".into(),
        org: None,
    };
    assert_api_error(bob.client.login(&wrong).await, 401, "unauthenticated");
    ann.client
        .set_role(bob.id, Role::Admin)
        .await
        .expect("role");

    let page = ann.client.audit(&[("limit", "2")]).await.expect("a page");
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.entries[0].kind, AuditKind::RoleChanged, "newest first");
    assert_eq!(page.entries[0].detail.as_deref(), Some("member to admin"));
    assert_eq!(page.entries[0].target_user_id, Some(bob.id));
    assert_eq!(page.entries[1].kind, AuditKind::LoginFailed);
    assert!(page.entries[1].address.is_some(), "where it came from");
    let before = page.next.expect("more").to_string();
    let rest = ann
        .client
        .audit(&[("before", &before), ("limit", "200")])
        .await
        .expect("rest");
    let logins = rest
        .entries
        .iter()
        .filter(|e| e.kind == AuditKind::Login)
        .count();
    assert_eq!(logins, 3, "three logins by Bob (sign-ups are not logins)");
    let by_bob = kinds(&ann.client, &[("actor", &bob.id.to_string())]).await;
    assert_eq!(by_bob, vec![(AuditKind::Login, AuditOutcome::Done); 3]);
    let future = kinds(&ann.client, &[("since", "2100-01-01T00:00:00Z")]).await;
    assert!(future.is_empty());
    let past = kinds(&ann.client, &[("until", "2000-01-01T00:00:00+02:00")]).await;
    assert!(past.is_empty());

    let export = ann.client.export_audit(&[]).await.expect("export");
    assert_eq!(
        export.len(),
        7,
        "Bob's invitation, three logins, a failed one, a role change, and the export's own"
    );
    assert!(export.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert_eq!(
        export.last().map(|e| e.kind),
        Some(AuditKind::AuditExported)
    );
    let exported = kinds(&ann.client, &[("kind", "audit_exported")]).await;
    assert_eq!(
        exported,
        vec![(AuditKind::AuditExported, AuditOutcome::Done)]
    );
    let only_logins = ann
        .client
        .export_audit(&[("kind", "login")])
        .await
        .expect("export");
    assert_eq!(only_logins.len(), 3);
}

/// The operator gives roles from the server's shell, whatever anyone's role; only the last owner is kept.
#[tokio::test]
async fn the_operator_sets_roles_from_the_shell() {
    let data = tempfile::tempdir().expect("temporary directory");
    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    let ann = server.user_in("Ann", Some("shell")).await;
    let bob = server.user_in("Bob", Some("shell")).await;
    let admin = |task: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_parley"))
            .arg("admin")
            .arg("--data-dir")
            .arg(data.path())
            .args(task)
            .output()
            .expect("parley admin")
    };
    let made = admin(&[
        "set-role",
        "--org",
        "shell",
        "--user",
        &bob.username,
        "owner",
    ]);
    assert!(made.status.success(), "{made:?}");
    assert_eq!(
        String::from_utf8_lossy(&made.stdout).trim(),
        format!("{} of shell is now owner", bob.username)
    );
    assert_eq!(bob.client.me().await.expect("me").role, Role::Owner);
    let demoted = admin(&[
        "set-role",
        "--org",
        "shell",
        "--user",
        &ann.username,
        "member",
    ]);
    assert!(demoted.status.success(), "{demoted:?}");
    let refused = admin(&[
        "set-role",
        "--org",
        "shell",
        "--user",
        &bob.username,
        "guest",
    ]);
    assert!(!refused.status.success(), "the last owner stays");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("active owner"),
        "{refused:?}"
    );
    let unknown = admin(&["set-role", "--org", "shell", "--user", "nobody", "admin"]);
    assert!(!unknown.status.success());
    let bad = admin(&[
        "set-role",
        "--org",
        "shell",
        "--user",
        &ann.username,
        "root",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("owner, admin, member or guest"));
    let log = kinds(&bob.client, &[("kind", "role_changed")]).await;
    assert_eq!(
        log,
        vec![
            (AuditKind::RoleChanged, AuditOutcome::Refused),
            (AuditKind::RoleChanged, AuditOutcome::Done),
            (AuditKind::RoleChanged, AuditOutcome::Done),
        ]
    );
}
