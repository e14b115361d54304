//! Roles, deactivation, a person's sessions and password, and the audit log.

use parley_core::AuditId;
use parley_core::proto::v1::{AuditKind, AuditOutcome, Role};
use parley_core::store::{AuditFilter, AuditRecord, Store, StoreError};

use super::notify::{subscribe, webhook};
use super::{at, token, user};

fn record(org: &parley_core::model::User, kind: AuditKind, offset: i64) -> AuditRecord {
    AuditRecord {
        org_id: org.org_id,
        at: at(offset),
        kind,
        outcome: AuditOutcome::Done,
        actor_id: Some(org.id),
        target_user_id: None,
        target_conversation_id: None,
        address: Some("192.0.2.1".into()),
        detail: Some("why".into()),
    }
}

pub async fn the_first_person_of_an_org_owns_it_and_it_keeps_an_owner(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let eve = user(store, "evil", "eve").await;
    assert_eq!(
        (ada.role, bob.role, eve.role),
        (Role::Owner, Role::Member, Role::Owner)
    );
    let audit = record(&ada, AuditKind::RoleChanged, 1);
    assert!(matches!(
        store.set_role(ada.id, Role::Admin, audit.clone()).await,
        Err(StoreError::Conflict("last_owner"))
    ));
    assert!(matches!(
        store
            .set_deactivated(ada.id, Some(at(1)), audit.clone())
            .await,
        Err(StoreError::Conflict("last_owner"))
    ));
    let refused = store
        .audit_entries(ada.org_id, &AuditFilter::default(), 10)
        .await
        .expect("audit_entries");
    assert!(refused.is_empty(), "a refused change writes nothing");

    let bob = store
        .set_role(bob.id, Role::Owner, audit.clone())
        .await
        .expect("set_role");
    assert_eq!(bob.role, Role::Owner);
    let ada = store
        .set_role(ada.id, Role::Guest, audit.clone())
        .await
        .expect("another owner is left");
    assert_eq!(ada.role, Role::Guest);
    assert_eq!(
        store.user(ada.id).await.expect("user").map(|u| u.role),
        Some(Role::Guest)
    );
    // A deactivated owner owns nothing: Bob is the last active one.
    let eve_too = store
        .set_role(eve.id, Role::Owner, record(&eve, AuditKind::RoleChanged, 2))
        .await
        .expect("eve stays owner");
    assert_eq!(eve_too.role, Role::Owner);
    let entries = store
        .audit_entries(bob.org_id, &AuditFilter::default(), 10)
        .await
        .expect("audit_entries");
    assert_eq!(entries.len(), 2, "one entry per change, in its org only");
}

pub async fn deactivation_ends_sessions_and_subscriptions_and_hides_the_person(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    for (who, seed) in [(&bob, 1), (&bob, 2), (&ada, 3)] {
        store
            .create_session(
                who.id,
                token(seed),
                Some("Firefox on Linux"),
                at(seed.into()),
            )
            .await
            .expect("create_session");
    }
    subscribe(store, webhook(bob.id, 1, "https://hooks.example/1")).await;
    let audit = AuditRecord {
        target_user_id: Some(bob.id),
        ..record(&ada, AuditKind::UserDeactivated, 5)
    };
    let bob = store
        .set_deactivated(bob.id, Some(at(5)), audit.clone())
        .await
        .expect("set_deactivated");
    assert_eq!(bob.deactivated_at, Some(at(5)));
    assert!(
        store
            .sessions_of(bob.id)
            .await
            .expect("sessions")
            .is_empty()
    );
    assert!(store.session(token(1)).await.expect("session").is_none());
    assert!(
        store
            .subscriptions_of(bob.id)
            .await
            .expect("subscriptions_of")
            .is_empty()
    );
    assert!(store.session(token(3)).await.expect("session").is_some());
    let found = store
        .search_users(ada.org_id, "bob", 10)
        .await
        .expect("search");
    assert!(found.is_empty(), "a deactivated person is not found");
    let credentials = store
        .credentials_by_email(&bob.email)
        .await
        .expect("credentials")
        .expect("still there");
    assert!(credentials.deactivated);
    assert_eq!(credentials.org_id, bob.org_id);
    let people = store
        .people(ada.org_id, "", None, 10)
        .await
        .expect("people");
    assert_eq!(
        people.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![ada.id, bob.id]
    );

    let bob = store
        .set_deactivated(bob.id, None, audit)
        .await
        .expect("reactivate");
    assert_eq!(bob.deactivated_at, None);
    assert_eq!(
        store
            .search_users(ada.org_id, "bob", 10)
            .await
            .expect("search")
            .len(),
        1
    );
}

pub async fn people_are_paged_and_searched(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let cy = user(store, "acme", "cy").await;
    user(store, "other", "bobby").await;
    let page = |query: &'static str, after, limit| async move {
        store
            .people(ada.org_id, query, after, limit)
            .await
            .expect("people")
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(page("", None, 2).await, vec![ada.id, bob.id]);
    assert_eq!(page("", Some(bob.id), 2).await, vec![cy.id]);
    assert_eq!(page("bo", None, 10).await, vec![bob.id]);
    assert_eq!(page("cy@", None, 10).await, vec![cy.id], "by email too");
    assert_eq!(
        page("%", None, 10).await,
        Vec::new(),
        "wildcards are literal"
    );
}

pub async fn sessions_are_listed_and_a_password_change_keeps_one(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    for (seed, device) in [(1, Some("Phone")), (2, None), (3, Some("Desk"))] {
        store
            .create_session(ada.id, token(seed), device, at(seed.into()))
            .await
            .expect("create_session");
    }
    store.touch_session(token(1), at(10)).await.expect("touch");
    let sessions = store.sessions_of(ada.id).await.expect("sessions_of");
    assert_eq!(
        sessions
            .iter()
            .map(|s| (s.token_hash, s.device.as_deref(), s.last_used))
            .collect::<Vec<_>>(),
        vec![
            (token(1), Some("Phone"), at(10)),
            (token(3), Some("Desk"), at(3)),
            (token(2), None, at(2)),
        ]
    );
    store
        .set_password(
            ada.id,
            "$argon2id$new",
            token(3),
            record(&ada, AuditKind::PasswordChanged, 11),
        )
        .await
        .expect("set_password");
    let left = store.sessions_of(ada.id).await.expect("sessions_of");
    assert_eq!(
        left.iter().map(|s| s.token_hash).collect::<Vec<_>>(),
        vec![token(3)]
    );
    let credentials = store
        .credentials_by_email(&ada.email)
        .await
        .expect("credentials")
        .expect("found");
    assert_eq!(credentials.password_hash, "$argon2id$new");
}

pub async fn the_audit_log_is_filtered_and_paged_both_ways(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let eve = user(store, "evil", "eve").await;
    let kinds = [
        AuditKind::Login,
        AuditKind::RoleChanged,
        AuditKind::Login,
        AuditKind::LoginFailed,
        AuditKind::UserDeactivated,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let actor = if i % 2 == 0 { &ada } else { &bob };
        let mut entry = record(actor, kind, i as i64 * 10);
        if kind == AuditKind::LoginFailed {
            entry.outcome = AuditOutcome::Refused;
            entry.actor_id = None;
        }
        store.append_audit(entry).await.expect("append_audit");
    }
    store
        .append_audit(record(&eve, AuditKind::Login, 0))
        .await
        .expect("append_audit");
    let read = |filter: AuditFilter, limit| async move {
        store
            .audit_entries(ada.org_id, &filter, limit)
            .await
            .expect("audit_entries")
    };
    let all = read(AuditFilter::default(), 10).await;
    assert_eq!(all.len(), 5, "the other org's entry is not here");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[1].record.kind, AuditKind::LoginFailed);
    assert_eq!(all[1].record.outcome, AuditOutcome::Refused);
    assert_eq!(all[1].record.actor_id, None);
    assert_eq!(all[0].record.address.as_deref(), Some("192.0.2.1"));
    assert_eq!(all[0].record.detail.as_deref(), Some("why"));

    let logins = AuditFilter {
        kind: Some(AuditKind::Login),
        ..AuditFilter::default()
    };
    assert_eq!(read(logins, 10).await.len(), 2);
    let by_bob = AuditFilter {
        actor_id: Some(bob.id),
        ..AuditFilter::default()
    };
    assert_eq!(
        read(by_bob, 10).await.len(),
        1,
        "Bob's failed login has no actor"
    );
    let window = AuditFilter {
        since: Some(at(10)),
        until: Some(at(30)),
        ..AuditFilter::default()
    };
    let in_window: Vec<i64> = read(window, 10)
        .await
        .iter()
        .map(|e| e.record.at.0 - at(0).0)
        .collect();
    assert_eq!(in_window, vec![20, 10]);

    let first = read(AuditFilter::default(), 2).await;
    let next = AuditFilter {
        before: first.last().map(|e| e.id),
        ..AuditFilter::default()
    };
    let second = read(next, 2).await;
    assert_eq!(second[0].id, all[2].id);
    let oldest_first = AuditFilter {
        after: Some(AuditId(0)),
        ..AuditFilter::default()
    };
    let export = read(oldest_first, 3).await;
    assert!(export.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert_eq!(export[0].id, all[4].id);
}
