//! Single sign-on: a flow is taken once and only with its key; an identity's account is made with it in one
//! transaction, and refused (changing nothing) when its email, username or identity is taken.

use parley_core::proto::v1::{AuditKind, AuditOutcome};
use parley_core::store::{
    AuditRecord, NewSsoUser, SsoConfigRecord, SsoFlowRecord, Store, StoreError,
};

use super::{at, token, user};

const ISSUER: &str = "https://idp.example";

pub async fn flows_finish_once_and_identities_make_one_account(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let org_id = ada.org_id;
    let audit = AuditRecord {
        org_id,
        at: at(0),
        kind: AuditKind::SettingsChanged,
        outcome: AuditOutcome::Done,
        actor_id: Some(ada.id),
        target_user_id: None,
        target_conversation_id: None,
        address: None,
        detail: None,
    };
    let config = SsoConfigRecord {
        org_id,
        issuer: ISSUER.to_owned(),
        client_id: "parley".to_owned(),
        client_secret: "secret".to_owned(),
        display_name: "IdP".to_owned(),
        link_by_email: false,
        required: true,
    };
    store
        .set_sso_config(org_id, Some(config.clone()), audit.clone())
        .await
        .expect("set");
    assert_eq!(
        store.sso_config(org_id).await.expect("read"),
        Some(config.clone())
    );
    assert_eq!(
        store.sso_config_by_handle("acme").await.expect("read"),
        Some(config)
    );
    assert_eq!(
        store.sso_config_by_handle("other").await.expect("read"),
        None
    );

    // A flow is taken only with its own key, once; expired ones go as new ones come.
    let flow = |seed: u8, created: i64| SsoFlowRecord {
        state_hash: token(seed),
        flow_key_hash: token(seed + 100),
        org_id,
        issuer: ISSUER.to_owned(),
        nonce: format!("nonce-{seed}"),
        pkce_verifier: format!("verifier-{seed}"),
        created_at: at(created),
    };
    store
        .create_sso_flow(flow(1, 0), at(-1))
        .await
        .expect("a flow");
    assert_eq!(
        store.take_sso_flow(token(1), token(2)).await.expect("take"),
        None
    );
    assert_eq!(
        store
            .take_sso_flow(token(1), token(101))
            .await
            .expect("take"),
        Some(flow(1, 0))
    );
    assert_eq!(
        store
            .take_sso_flow(token(1), token(101))
            .await
            .expect("take"),
        None
    );
    store
        .create_sso_flow(flow(2, 0), at(-1))
        .await
        .expect("a flow");
    store
        .create_sso_flow(flow(3, 1000), at(500))
        .await
        .expect("a flow");
    assert_eq!(
        store
            .take_sso_flow(token(2), token(102))
            .await
            .expect("take"),
        None,
        "expired flows are deleted"
    );

    // An identity's account, made once; a taken email, username or identity changes nothing.
    let new = |username: &'static str, email: &'static str, subject: &'static str| NewSsoUser {
        org_id,
        issuer: ISSUER,
        subject,
        username,
        email,
        name: "Grace",
        password_hash: "x",
        now: at(0),
    };
    let grace = store
        .create_sso_user(new("grace", "grace@example.org", "sub-grace"))
        .await
        .expect("made");
    assert_eq!(grace.org_id, org_id);
    assert_eq!(
        store
            .sso_identity(org_id, ISSUER, "sub-grace")
            .await
            .expect("read"),
        Some(grace.id)
    );
    // The identity is checked first: the same person's second sign-in, racing the first, finds it.
    for (attempt, field) in [
        (new("grace4", "grace@example.org", "sub-grace"), "identity"),
        (new("grace2", "grace@example.org", "sub-2"), "email"),
        (new("grace", "other@example.org", "sub-3"), "username"),
    ] {
        let (subject, username) = (attempt.subject, attempt.username);
        match store.create_sso_user(attempt).await {
            Err(StoreError::Conflict(f)) => assert_eq!(f, field),
            other => panic!("expected a conflict on {field}, got {other:?}"),
        }
        if subject != "sub-grace" {
            let identity = store.sso_identity(org_id, ISSUER, subject).await;
            assert_eq!(identity.expect("read"), None, "nothing changed");
        }
        if username != "grace" {
            let made = store.credentials_by_username("acme", username).await;
            assert!(made.expect("read").is_none(), "no account {username}");
        }
    }
    assert!(
        store
            .sso_identity_of(org_id, ISSUER, grace.id)
            .await
            .expect("read")
    );
    assert!(
        !store
            .sso_identity_of(org_id, ISSUER, ada.id)
            .await
            .expect("read")
    );

    // Linking: once per identity.
    store
        .link_sso_identity(org_id, ISSUER, "sub-ada", ada.id, at(0))
        .await
        .expect("linked");
    assert!(matches!(
        store
            .link_sso_identity(org_id, ISSUER, "sub-ada", grace.id, at(0))
            .await,
        Err(StoreError::Conflict("identity"))
    ));
    assert_eq!(
        store
            .sso_identity(org_id, ISSUER, "sub-ada")
            .await
            .expect("read"),
        Some(ada.id)
    );

    store
        .set_sso_config(org_id, None, audit)
        .await
        .expect("removed");
    assert_eq!(store.sso_config(org_id).await.expect("read"), None);
}
