//! Single sign-on through a real OpenID provider (npm's oidc-provider, run by the testkit): an
//! administrator sets it up, people sign in (an account made at the first sign-in, an existing one taken
//! over only by a verified email where allowed), the provider's key rotation is followed, and forged or
//! replayed callbacks, another issuer's or client's codes, a wrong nonce, a wrong PKCE challenge and an
//! expired ID token are refused. An organization that requires it refuses passwords (but its owners').

use parley_client::Client;
use parley_proto::v1::{
    AuditKind, AuditOutcome, LoginRequest, Role, SignupRequest, SsoCallback, SsoSettingsUpdate,
};
use parley_testkit::oidc_provider::{Callback, OidcAccount, OidcClient, OidcConfig, OidcProvider};
use parley_testkit::{PASSWORD, TestServer, TestUser};
use reqwest::Method;
use url::Url;

use crate::assert_api_error;
use crate::features::{on_postgres_with, on_shards_with, raw_json};

const CLIENT_ID: &str = "parley";
const SECRET: &str = "parley-secret";

fn allow_local_providers(config: &mut parley_server::Config) {
    config.sso_allow_http = true;
    config.sso_allow_private = true;
}

fn settings(provider: &OidcProvider) -> SsoSettingsUpdate {
    SsoSettingsUpdate {
        issuer: provider.issuer().to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some(SECRET.to_owned()),
        display_name: "Test IdP".to_owned(),
        link_by_email: false,
        required: false,
    }
}

/// A provider that knows Parley (at `server`'s redirect URI) and `accounts`.
async fn provider_for(server: &TestServer, accounts: Vec<OidcAccount>) -> Option<OidcProvider> {
    let client = OidcClient {
        client_id: CLIENT_ID.to_owned(),
        client_secret: SECRET.to_owned(),
        redirect_uris: vec![format!("{}/v1/auth/sso/callback/default", server.url)],
    };
    OidcProvider::start(&OidcConfig {
        clients: vec![client],
        accounts,
        ..OidcConfig::default()
    })
    .await
}

/// What the provider's redirect carried, to finish with `flow_key`.
fn finishing(callback: &Callback, flow_key: &str) -> SsoCallback {
    let org = callback.url.path().rsplit('/').next().unwrap_or_default();
    SsoCallback {
        org: org.to_owned(),
        state: callback.param("state").expect("a state"),
        code: callback.param("code").expect("a code"),
        iss: callback.param("iss"),
        flow_key: flow_key.to_owned(),
    }
}

/// Begins a sign-in at Parley, signs in at the provider as `username`, and answers the callback and the
/// flow key, not yet finished.
async fn begin(
    server: &TestServer,
    provider: &OidcProvider,
    username: &str,
) -> (SsoCallback, String) {
    let start = server
        .client()
        .sso_start(None)
        .await
        .expect("a sign-in starts");
    let callback = provider
        .sign_in(&start.authorization_url, username)
        .await
        .expect("the provider signs in");
    (finishing(&callback, &start.flow_key), start.flow_key)
}

/// A whole sign-in as `username`: a client with the session it got.
async fn sign_in(server: &TestServer, provider: &OidcProvider, username: &str) -> Client {
    let (callback, _) = begin(server, provider, username).await;
    let auth = server
        .client()
        .sso_finish(&callback)
        .await
        .expect("the sign-in finishes");
    server.client().with_token(auth.token)
}

/// The authorization URL of a new sign-in with one query parameter replaced, and the flow key.
async fn tampered_start(server: &TestServer, name: &str, value: &str) -> (String, String) {
    let start = server
        .client()
        .sso_start(None)
        .await
        .expect("a sign-in starts");
    let mut url = Url::parse(&start.authorization_url).expect("a URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    (url.into(), start.flow_key)
}

#[tokio::test]
async fn people_sign_in_through_the_organizations_provider_and_forgeries_are_refused() {
    let server = TestServer::spawn_with(allow_local_providers).await;
    single_sign_on(&server).await;
}

#[tokio::test]
async fn people_sign_in_through_the_organizations_provider_and_forgeries_are_refused_on_postgres() {
    let Some(postgres) = on_postgres_with(allow_local_providers).await else {
        return;
    };
    single_sign_on(&postgres.server).await;
}

/// The same on a server of two shards, the organization on the second: every step of a sign-in (the
/// provider's button, the start, the finish, the account made) is routed by the organization it names.
#[tokio::test]
async fn people_sign_in_through_the_organizations_provider_on_a_second_shard() {
    let Some(sharded) = on_shards_with(allow_local_providers).await else {
        return;
    };
    single_sign_on(&sharded.server).await;
    let someone = sharded.server.user("Someone").await;
    let org = someone.client.me().await.expect("me").org_id;
    assert_eq!(
        org.0 % 1024,
        1,
        "the organization lives on the second shard"
    );
}

async fn single_sign_on(server: &TestServer) {
    let owner = server.user("Owner").await;
    let member = server.user("Member").await;
    // Accounts that exist before their people ever sign in through the provider.
    let carol = server.user("Carol").await;
    let dave = server.user("Dave").await;
    let admin = server.user("Admin").await;
    owner
        .client
        .set_role(admin.id, Role::Admin)
        .await
        .expect("an administrator");
    let unverified = OidcAccount {
        email_verified: false,
        ..OidcAccount::new("dave")
    };
    let accounts = vec![
        OidcAccount::new("ada"),
        OidcAccount::new("grace"),
        OidcAccount {
            email: carol.email.clone(),
            ..OidcAccount::new("carol")
        },
        OidcAccount {
            email: dave.email.clone(),
            ..unverified
        },
        OidcAccount {
            email: admin.email.clone(),
            ..OidcAccount::new("boss")
        },
    ];
    let Some(provider) = provider_for(server, accounts).await else {
        return;
    };

    // Nothing is offered before an administrator sets it up, and only administrators may.
    assert_api_error(
        server.client().sso_provider(None).await,
        404,
        "sso_not_configured",
    );
    assert_api_error(
        server.client().sso_start(None).await,
        404,
        "sso_not_configured",
    );
    assert_api_error(owner.client.sso_settings().await, 404, "sso_not_configured");
    assert_api_error(
        member.client.set_sso_settings(&settings(&provider)).await,
        403,
        "not_owner",
    );
    // An administrator may not choose who signs in as whom: that is an owner's.
    assert_api_error(
        admin.client.set_sso_settings(&settings(&provider)).await,
        403,
        "not_owner",
    );
    set_up_badly(server, &owner, &provider).await;
    let set = owner
        .client
        .set_sso_settings(&settings(&provider))
        .await
        .expect("an owner sets up single sign-on");
    assert_eq!(
        set.redirect_uri,
        format!("{}/v1/auth/sso/callback/default", server.url)
    );
    let shown = owner.client.sso_settings().await.expect("settings");
    assert_eq!(shown, set);
    assert!(
        !serde_json::to_string(&shown)
            .expect("JSON")
            .contains(SECRET),
        "the secret is never shown"
    );
    let offered = server.client().sso_provider(None).await.expect("offered");
    assert_eq!(
        (offered.display_name.as_str(), offered.required),
        ("Test IdP", false)
    );

    // The first sign-in makes an account; the next one finds it.
    let ada = sign_in(server, &provider, "ada").await;
    let me = ada.me().await.expect("signed in");
    assert_eq!((me.username.as_str(), me.name.as_str()), ("ada", "ada"));
    let again = sign_in(server, &provider, "ada")
        .await
        .me()
        .await
        .expect("signed in");
    assert_eq!(again.id, me.id);

    // A flow finishes once, with its own key, from the provider it went to.
    let (callback, flow_key) = begin(server, &provider, "grace").await;
    let stolen = SsoCallback {
        flow_key: "someone-elses-key".to_owned(),
        ..callback.clone()
    };
    assert_api_error(
        server.client().sso_finish(&stolen).await,
        400,
        "invalid_sso_state",
    );
    let unknown = SsoCallback {
        state: "forged".to_owned(),
        ..callback.clone()
    };
    assert_api_error(
        server.client().sso_finish(&unknown).await,
        400,
        "invalid_sso_state",
    );
    server
        .client()
        .sso_finish(&callback)
        .await
        .expect("its own key finishes it");
    assert_api_error(
        server.client().sso_finish(&callback).await,
        400,
        "invalid_sso_state",
    );
    assert_eq!(flow_key, callback.flow_key);

    // Back at another organization's callback: a mix-up, refused before any code is redeemed.
    let (callback, _) = begin(server, &provider, "grace").await;
    let mixed_up = SsoCallback {
        org: "another-org".to_owned(),
        ..callback
    };
    assert_api_error(
        server.client().sso_finish(&mixed_up).await,
        400,
        "invalid_sso_state",
    );

    // A code the provider never issued, another issuer in the callback.
    let (callback, _) = begin(server, &provider, "grace").await;
    let forged = SsoCallback {
        code: "forged-code".to_owned(),
        ..callback
    };
    assert_api_error(server.client().sso_finish(&forged).await, 401, "sso_failed");
    let (callback, _) = begin(server, &provider, "grace").await;
    let elsewhere = SsoCallback {
        iss: Some("https://idp.example".to_owned()),
        ..callback
    };
    assert_api_error(
        server.client().sso_finish(&elsewhere).await,
        401,
        "sso_failed",
    );

    // A nonce or a PKCE challenge changed on the way to the provider.
    for (name, value) in [
        ("nonce", "another-nonce"),
        ("code_challenge", "A".repeat(43).as_str()),
    ] {
        let (url, flow_key) = tampered_start(server, name, value).await;
        let callback = provider
            .sign_in(&url, "grace")
            .await
            .expect("signed in at the provider");
        let result = server
            .client()
            .sso_finish(&finishing(&callback, &flow_key))
            .await;
        assert_api_error(result, 401, "sso_failed");
    }

    // A code issued to another client of the provider, slipped into Parley's flow.
    let other = OidcClient {
        client_id: "other".to_owned(),
        client_secret: "other-secret".to_owned(),
        redirect_uris: vec![format!("{}/v1/auth/sso/callback/default", server.url)],
    };
    provider.add_client(&other).await;
    let (url, flow_key) = tampered_start(server, "client_id", "other").await;
    let callback = provider
        .sign_in(&url, "grace")
        .await
        .expect("signed in at the provider");
    let result = server
        .client()
        .sso_finish(&finishing(&callback, &flow_key))
        .await;
    assert_api_error(result, 401, "sso_failed");

    // A code from another provider (another issuer), with its `iss` or without.
    let Some(impostor) = provider_for(server, vec![OidcAccount::new("ada")]).await else {
        return;
    };
    // The stored secret is never sent to another provider: a new issuer needs its own.
    let moved = SsoSettingsUpdate {
        issuer: impostor.issuer().to_owned(),
        client_secret: None,
        ..settings(&provider)
    };
    assert_api_error(
        owner.client.set_sso_settings(&moved).await,
        400,
        "invalid_sso_settings",
    );
    for keep_iss in [true, false] {
        let start = server
            .client()
            .sso_start(None)
            .await
            .expect("a sign-in starts");
        let parley = Url::parse(&start.authorization_url).expect("a URL");
        let mut url = Url::parse(&format!("{}/auth", impostor.issuer())).expect("a URL");
        url.set_query(parley.query());
        let callback = impostor
            .sign_in(url.as_str(), "ada")
            .await
            .expect("signed in there");
        let mut finish = finishing(&callback, &start.flow_key);
        if !keep_iss {
            finish.iss = None;
        }
        assert_api_error(server.client().sso_finish(&finish).await, 401, "sso_failed");
    }

    // An expired ID token; then keys rotated by the provider, which the server fetches anew.
    provider.issue_expired_id_tokens(true).await;
    let (callback, _) = begin(server, &provider, "grace").await;
    assert_api_error(
        server.client().sso_finish(&callback).await,
        401,
        "sso_failed",
    );
    provider.issue_expired_id_tokens(false).await;
    provider.rotate_keys(false).await;
    sign_in(server, &provider, "grace")
        .await
        .me()
        .await
        .expect("signed in after a rotation");

    // An existing account is taken over only by a verified email, and only where allowed.
    let (callback, _) = begin(server, &provider, "carol").await;
    assert_api_error(
        server.client().sso_finish(&callback).await,
        409,
        "sso_account_exists",
    );
    let linking = SsoSettingsUpdate {
        link_by_email: true,
        client_secret: None,
        ..settings(&provider)
    };
    owner
        .client
        .set_sso_settings(&linking)
        .await
        .expect("linking allowed");
    let linked = sign_in(server, &provider, "carol")
        .await
        .me()
        .await
        .expect("signed in");
    assert_eq!(linked.id, carol.id);
    // Whoever signed up with that email before is out: sessions ended, password dropped.
    assert_api_error(carol.client.me().await, 401, "unauthenticated");
    let carol_login = LoginRequest {
        login: carol.username.clone(),
        password: PASSWORD.to_owned(),
        org: None,
    };
    assert_api_error(
        server.client().login(&carol_login).await,
        401,
        "unauthenticated",
    );
    for unlinkable in ["dave", "boss"] {
        // An unverified email, and an administrator's.
        let (callback, _) = begin(server, &provider, unlinkable).await;
        assert_api_error(
            server.client().sso_finish(&callback).await,
            409,
            "sso_account_exists",
        );
    }

    // A deactivated account signs in no more.
    owner.client.deactivate(me.id).await.expect("deactivated");
    let (callback, _) = begin(server, &provider, "ada").await;
    assert_api_error(
        server.client().sso_finish(&callback).await,
        403,
        "account_deactivated",
    );

    // Required: members' passwords are refused (owners' are not), and so are password sign-ups.
    let required = SsoSettingsUpdate {
        required: true,
        client_secret: None,
        ..settings(&provider)
    };
    owner
        .client
        .set_sso_settings(&required)
        .await
        .expect("required");
    let login = |user: &TestUser| LoginRequest {
        login: user.username.clone(),
        password: PASSWORD.to_owned(),
        org: None,
    };
    assert_api_error(
        server.client().login(&login(&member)).await,
        403,
        "sso_required",
    );
    server
        .client()
        .login(&login(&owner))
        .await
        .expect("an owner's password still works");
    let signup = SignupRequest {
        name: "Newcomer".to_owned(),
        email: "newcomer@example.org".to_owned(),
        password: PASSWORD.to_owned(),
        username: "newcomer".to_owned(),
        org: None,
        invite: None,
    };
    assert_api_error(server.client().signup(&signup).await, 403, "sso_required");

    // Everything above is in the audit log, refusals too.
    let log = owner
        .client
        .audit(&[("kind", "sso_login")])
        .await
        .expect("the log");
    let done = log
        .entries
        .iter()
        .filter(|e| e.outcome == AuditOutcome::Done)
        .count();
    let refused = log
        .entries
        .iter()
        .filter(|e| e.outcome == AuditOutcome::Refused)
        .count();
    assert!(done >= 5 && refused >= 10, "{done} done, {refused} refused");
    let settings_log = owner
        .client
        .audit(&[("kind", "settings_changed")])
        .await
        .expect("log");
    assert!(
        settings_log
            .entries
            .iter()
            .any(|e| e.outcome == AuditOutcome::Refused)
    );
    assert!(
        settings_log
            .entries
            .iter()
            .all(|e| e.kind == AuditKind::SettingsChanged)
    );

    // Removed: nothing is offered, passwords work again.
    owner.client.remove_sso_settings().await.expect("removed");
    assert_api_error(
        owner.client.remove_sso_settings().await,
        404,
        "sso_not_configured",
    );
    assert_api_error(
        server.client().sso_provider(None).await,
        404,
        "sso_not_configured",
    );
    server
        .client()
        .login(&login(&member))
        .await
        .expect("passwords work again");
}

/// Settings that cannot work are refused before anything is stored.
async fn set_up_badly(server: &TestServer, owner: &TestUser, provider: &OidcProvider) {
    let good = settings(provider);
    let cases = [
        SsoSettingsUpdate {
            issuer: "ftp://idp.example".to_owned(),
            ..good.clone()
        },
        SsoSettingsUpdate {
            issuer: format!("{}/{}", provider.issuer(), "x".repeat(3000)),
            ..good.clone()
        },
        SsoSettingsUpdate {
            client_id: " ".to_owned(),
            ..good.clone()
        },
        SsoSettingsUpdate {
            client_secret: None,
            ..good.clone()
        },
        SsoSettingsUpdate {
            client_secret: Some("s".repeat(5000)),
            ..good.clone()
        },
        SsoSettingsUpdate {
            display_name: "\u{0}".to_owned(),
            ..good.clone()
        },
    ];
    for case in cases {
        let result = owner.client.set_sso_settings(&case).await;
        assert_api_error(result, 400, "invalid_sso_settings");
    }
    // Not an OpenID provider: Parley itself.
    let not_a_provider = SsoSettingsUpdate {
        issuer: server.url.clone(),
        ..good
    };
    let result = owner.client.set_sso_settings(&not_a_provider).await;
    assert_api_error(result, 422, "sso_discovery_failed");
    let unknown_field = raw_json(
        &owner.client,
        Method::PUT,
        &["v1", "admin", "sso"],
        r#"{"issuer":1}"#,
    )
    .await;
    assert_eq!(unknown_field.status, 400);
    assert_api_error(owner.client.sso_settings().await, 404, "sso_not_configured");
}

/// The provider's redirect goes on to the web client with what it carried, and nothing else; hostile
/// starts and finishes are refused.
#[tokio::test]
async fn the_callback_hands_over_to_the_web_client_and_bad_input_is_refused() {
    let server = TestServer::spawn().await;
    let client = server.client();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let answer = http
        .get(format!(
            "{}/v1/auth/sso/callback/acme?code=c%26x&state=s&iss=http%3A%2F%2Fidp&extra=dropped",
            server.url
        ))
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().expect("text");
    assert_eq!(
        location,
        "/?sso=callback&org=acme&code=c%26x&state=s&iss=http%3A%2F%2Fidp"
    );

    assert_api_error(
        client.sso_provider(Some("Not A Handle")).await,
        400,
        "invalid_handle",
    );
    assert_api_error(
        client.sso_provider(Some("nobody-here")).await,
        404,
        "sso_not_configured",
    );
    assert_api_error(
        client.sso_start(Some("nobody-here")).await,
        404,
        "sso_not_configured",
    );
    let oversized = SsoCallback {
        org: "default".to_owned(),
        state: "s".repeat(5000),
        code: "c".to_owned(),
        iss: None,
        flow_key: "k".to_owned(),
    };
    assert_api_error(
        client.sso_finish(&oversized).await,
        400,
        "invalid_sso_state",
    );
    let empty = SsoCallback {
        state: String::new(),
        ..oversized
    };
    assert_api_error(client.sso_finish(&empty).await, 400, "invalid_sso_state");
    for body in [
        r#"{"state":"s"}"#,
        r#"{"state":"s","code":"c","flow_key":"k","x":1}"#,
        "[]",
    ] {
        let answer = raw_json(
            &client,
            Method::POST,
            &["v1", "auth", "sso", "callback"],
            body,
        )
        .await;
        assert_eq!(answer.status, 400, "{body}");
    }
    // A member is no administrator of single sign-on.
    let owner = server.user("Owner").await;
    let member = server.user("Member").await;
    assert_api_error(member.client.sso_settings().await, 403, "not_admin");
    assert_api_error(member.client.remove_sso_settings().await, 403, "not_owner");
    // Without `sso_allow_http`, a plain-http provider is refused.
    let http_issuer = SsoSettingsUpdate {
        issuer: "http://idp.example".to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some(SECRET.to_owned()),
        display_name: "IdP".to_owned(),
        link_by_email: false,
        required: false,
    };
    assert_api_error(
        owner.client.set_sso_settings(&http_issuer).await,
        400,
        "invalid_sso_settings",
    );
    let loopback = SsoSettingsUpdate {
        issuer: "https://127.0.0.1:9".to_owned(),
        ..http_issuer
    };
    assert_api_error(
        owner.client.set_sso_settings(&loopback).await,
        400,
        "invalid_sso_settings",
    );
}
