//! Sign-up, login, logout, tokens, organizations and rate limits.

use parley_proto::v1::{LoginRequest, SignupRequest};
use parley_testkit::{PASSWORD, TestServer};

use crate::assert_api_error;

fn signup(username: &str, org: Option<&str>) -> SignupRequest {
    SignupRequest {
        name: "Ann Example".into(),
        email: format!("{username}@example.org"),
        password: PASSWORD.into(),
        username: username.into(),
        org: org.map(str::to_owned),
        invite: None,
    }
}

fn signup_as(username: &str, email: &str, org: Option<&str>) -> SignupRequest {
    SignupRequest {
        email: email.into(),
        ..signup(username, org)
    }
}

fn login(login: &str, password: &str) -> LoginRequest {
    LoginRequest {
        login: login.into(),
        password: password.into(),
        org: None,
    }
}

#[tokio::test]
async fn sign_up_then_log_in_by_email_or_username_then_log_out() {
    let server = TestServer::spawn().await;
    let client = server.client();
    let created = client.signup(&signup("ann", None)).await.expect("sign up");
    let me = client.with_token(&created.token).me().await.expect("me");
    assert_eq!(
        (me.id, me.username.as_str(), me.org.as_str()),
        (created.user_id, "ann", "default")
    );

    let by_email = client
        .login(&login("ANN@example.org", PASSWORD))
        .await
        .expect("login by email");
    let by_username = client
        .login(&login("ann", PASSWORD))
        .await
        .expect("login by username");
    assert_eq!(by_email.user_id, created.user_id);
    assert_ne!(
        by_email.token, by_username.token,
        "each login is its own session"
    );
    assert_eq!(by_email.token.len(), 43, "256 random bits, base64url");

    let session = client.with_token(&by_email.token);
    session.logout().await.expect("logout");
    assert_api_error(session.me().await, 401, "unauthenticated");
    // Other sessions of the same user live on.
    client
        .with_token(&by_username.token)
        .me()
        .await
        .expect("other session still valid");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let server = TestServer::spawn().await;
    let client = server.client();
    client.signup(&signup("bob", None)).await.expect("sign up");
    let wrong_password = client
        .login(&login("bob", "not the password"))
        .await
        .expect_err("refused");
    let unknown = client
        .login(&login("nobody", "not the password"))
        .await
        .expect_err("refused");
    let unknown_email = client
        .login(&login("nobody@example.org", PASSWORD))
        .await
        .expect_err("refused");
    for error in [&wrong_password, &unknown, &unknown_email] {
        assert_eq!(
            (error.status(), error.code()),
            (Some(401), Some("unauthenticated"))
        );
    }
    assert_eq!(wrong_password.to_string(), unknown.to_string());
}

#[tokio::test]
async fn sign_up_validates_and_refuses_taken_names() {
    let server = TestServer::spawn().await;
    let client = server.client();
    client
        .signup(&signup("carol", None))
        .await
        .expect("sign up");
    assert_api_error(
        client.signup(&signup("carol", None)).await,
        409,
        "email_taken",
    );
    let same_username = SignupRequest {
        email: "other@example.org".into(),
        ..signup("carol", None)
    };
    assert_api_error(client.signup(&same_username).await, 409, "username_taken");
    // Usernames are unique per org only.
    let elsewhere = SignupRequest {
        email: "carol@acme.example".into(),
        ..signup("carol", Some("acme"))
    };
    client
        .signup(&elsewhere)
        .await
        .expect("same username in another org");

    let cases = [
        (
            SignupRequest {
                username: "A".into(),
                ..signup("x1", None)
            },
            "invalid_handle",
        ),
        (
            SignupRequest {
                username: "has space".into(),
                ..signup("x2", None)
            },
            "invalid_handle",
        ),
        (
            SignupRequest {
                username: "a".repeat(33),
                ..signup("x3", None)
            },
            "invalid_handle",
        ),
        (
            SignupRequest {
                email: "not-an-email".into(),
                ..signup("x4", None)
            },
            "invalid_email",
        ),
        (
            SignupRequest {
                password: "short".into(),
                ..signup("x5", None)
            },
            "invalid_password",
        ),
        (
            SignupRequest {
                name: "n".repeat(101),
                ..signup("x6", None)
            },
            "invalid_name",
        ),
        (
            SignupRequest {
                name: "   ".into(),
                ..signup("x7", None)
            },
            "invalid_name",
        ),
        (
            SignupRequest {
                org: Some("Bad Org!".into()),
                ..signup("x8", None)
            },
            "invalid_handle",
        ),
    ];
    for (request, code) in cases {
        assert_api_error(client.signup(&request).await, 400, code);
    }
    client
        .signup(&SignupRequest {
            name: "n".repeat(100),
            ..signup("x9", None)
        })
        .await
        .expect("100 chars is fine");
}

#[tokio::test]
async fn username_login_takes_an_org() {
    let server = TestServer::spawn().await;
    let client = server.client();
    let acme = client
        .signup(&signup("fay", Some("acme")))
        .await
        .expect("sign up");
    assert_api_error(
        client.login(&login("fay", PASSWORD)).await,
        401,
        "unauthenticated",
    );
    let request = LoginRequest {
        org: Some("acme".into()),
        ..login("fay", PASSWORD)
    };
    assert_eq!(
        client.login(&request).await.expect("login").user_id,
        acme.user_id
    );
}

/// A 429 with a `Retry-After` of at least a second.
#[track_caller]
fn assert_rate_limited<T: std::fmt::Debug>(result: parley_client::Result<T>) {
    match result {
        Err(parley_client::Error::Api {
            status: 429,
            code,
            retry_after: Some(secs),
            ..
        }) => {
            assert_eq!(code, "rate_limited");
            assert!(secs >= 1);
        }
        other => panic!("expected 429 with Retry-After, got {other:?}"),
    }
}

fn from(server: &TestServer, last: u8) -> parley_client::Client {
    server
        .client()
        .with_source_ip(std::net::IpAddr::from([127, 0, 0, last]))
        .expect("a client from another address")
}

/// Guessing at someone's password locks out the guesser's address, not the owner: the account's limit
/// applies only to addresses that have been failing, and it is keyed on the account the login resolves to,
/// not on the string typed (so every `gus` of every organization is not locked at once, and the email
/// and the username of one account share one count).
#[tokio::test]
async fn a_lockout_holds_the_guesser_out_but_not_the_owner() {
    let server = TestServer::spawn_with(|config| {
        config.login_attempts_per_account = 3;
        config.login_attempts_per_address = 100;
    })
    .await;
    let owner = from(&server, 1);
    owner.signup(&signup("gus", None)).await.expect("sign up");
    owner
        .signup(&signup_as("gus", "gus@other.example.org", Some("otherco")))
        .await
        .expect("another gus elsewhere");
    let guesser = from(&server, 66);
    for attempt in [
        login("gus", "wrong password"),
        login("gus@example.org", "nope nope"),
        login("gus", "again wrong"),
    ] {
        assert_api_error(guesser.login(&attempt).await, 401, "unauthenticated");
    }
    // The guesser is held back, even with the right password: guessing cannot outrun the limit.
    assert_rate_limited(guesser.login(&login("gus", PASSWORD)).await);
    assert_rate_limited(guesser.login(&login("gus@example.org", PASSWORD)).await);
    // The owner, at an address that has not been failing, gets in at once.
    owner
        .login(&login("gus", PASSWORD))
        .await
        .expect("the owner logs in");
    // The other organization's gus is another account.
    let other = LoginRequest {
        org: Some("otherco".into()),
        ..login("gus", PASSWORD)
    };
    guesser
        .login(&other)
        .await
        .expect("another account called gus");
}

#[tokio::test]
async fn login_attempts_are_limited_per_address() {
    let server = TestServer::spawn_with(|config| config.login_attempts_per_address = 3).await;
    let client = from(&server, 1);
    client.signup(&signup("gus", None)).await.expect("sign up");
    for _ in 0..3 {
        client.login(&login("gus", PASSWORD)).await.expect("login");
    }
    assert_rate_limited(client.login(&login("gus", PASSWORD)).await);
    from(&server, 2)
        .login(&login("gus", PASSWORD))
        .await
        .expect("another address has its own allowance");
}

/// Each sign-up costs an Argon2 hash (and may create an organization): they are limited per address and for
/// everyone together, and only a sign-up that would be hashed counts.
#[tokio::test]
async fn sign_ups_are_limited_per_address_and_for_everyone() {
    let server = TestServer::spawn_with(|config| {
        config.signups_per_address_per_hour = 2;
        config.signups_per_minute = 3;
    })
    .await;
    let first = from(&server, 1);
    let mut invalid = signup("x", None);
    invalid.password = "short".into();
    for _ in 0..5 {
        assert_api_error(first.signup(&invalid).await, 400, "invalid_handle");
    }
    first.signup(&signup("ann", None)).await.expect("first");
    first.signup(&signup("bob", None)).await.expect("second");
    assert_rate_limited(first.signup(&signup("cat", None)).await);
    let second = from(&server, 2);
    second
        .signup(&signup("dan", None))
        .await
        .expect("another address");
    assert_rate_limited(second.signup(&signup("eve", None)).await);
    // Logins are not sign-ups.
    let ann = first.login(&login("ann", PASSWORD)).await.expect("login");
    // Everyone's budget spent by others does not shut out someone a member invited.
    let token = first
        .with_token(ann.token)
        .create_invite(&parley_proto::v1::CreateInviteRequest::default())
        .await
        .expect("an invitation")
        .token;
    from(&server, 3)
        .signup(&SignupRequest {
            invite: token,
            ..signup("fay", None)
        })
        .await
        .expect("an invited sign-up");
}

#[tokio::test]
async fn garbage_tokens_are_unauthenticated() {
    let server = TestServer::spawn().await;
    let client = server.client();
    assert_api_error(client.me().await, 401, "unauthenticated");
    for token in [
        "",
        "x",
        &"a".repeat(43),
        &"a".repeat(5000),
        "Ro5fMQXw5V3U6QBnuJ9a9Rq_xrlgNEtwPM-yVPpBnLE",
    ] {
        assert_api_error(client.with_token(token).me().await, 401, "unauthenticated");
    }
    let raw = client
        .raw(
            reqwest::Method::GET,
            &["v1", "users", "me"],
            None,
            Vec::new(),
        )
        .await
        .expect("raw");
    assert_eq!(raw.status, 401);
    assert_eq!(
        raw.error().expect("error shape").error.code,
        "unauthenticated"
    );
}

/// The scheme's name is case-insensitive (RFC 9110): `bearer` and `BEARER` work like `Bearer`.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let token = ann.client.token().expect("token").to_owned();
    let http = reqwest::Client::new();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let answer = http
            .get(format!("{}/v1/users/me", server.url))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status(), 200, "{scheme}");
    }
    for wrong in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        token.clone(),
    ] {
        let answer = http
            .get(format!("{}/v1/users/me", server.url))
            .header("Authorization", wrong.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status(), 401, "{wrong}");
    }
}
