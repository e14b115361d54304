//! Organizations on several shards: each a PostgreSQL schema of its own (as a database of its own would
//! be), with the directory in the first. Everything an organization does works on whichever shard it
//! lives on, through any node; ids and cursors say which shard made them; nothing reaches across.

use std::path::Path;
use std::time::Duration;

use parley_client::{Backoff, Client, Session};
use parley_proto::v1::{ConversationKind, Event, LoginRequest, ServerMessage, SignupRequest};
use parley_proto::{ConversationId, Cursor};
use parley_testkit::cluster::{Cluster, Nats, Schema};
use parley_testkit::{PASSWORD, TestServer, TestUser};

use super::{assert_api_error, group};

/// How far apart a shard's ids are (`parley_core::store::ID_STEP`).
const STEP: i64 = 1024;

fn shard_of(id: i64) -> i64 {
    id.rem_euclid(STEP)
}

fn backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_millis(500))
}

/// The text of the next `message.created` on `session`, and its cursor.
async fn next_message(session: &mut Session) -> (String, Cursor) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let ServerMessage::Event(frame) = session.next().await.expect("the session lives")
                && let Event::MessageCreated { message, .. } = &frame.event
            {
                return (message.text.clone().unwrap_or_default(), frame.cursor);
            }
        }
    })
    .await
    .expect("the message comes")
}

fn login(login: &str, org: Option<&str>) -> LoginRequest {
    LoginRequest {
        login: login.to_owned(),
        password: PASSWORD.to_owned(),
        org: org.map(str::to_owned),
    }
}

/// Three organizations land on three shards (each new one on the emptiest), and each works end to end
/// through both nodes: sign-up by invitation, logins by email and by username, a conversation, live
/// delivery across nodes, and a resume from a cursor. No id names another organization's thing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn organizations_live_on_the_emptiest_shard_and_work_there() {
    on_shards(Nats::One).await;
}

/// The same with each node on another server of a NATS cluster, 20 ms apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn organizations_live_on_the_emptiest_shard_and_work_there_on_three_nats_servers() {
    on_shards(Nats::Three {
        delay: Duration::from_millis(20),
    })
    .await;
}

async fn on_shards(nats: Nats) {
    let (Some(second), Some(third)) = (Schema::create().await, Schema::create().await) else {
        return;
    };
    let config = format!(
        "store_shards = [\"{}\", \"{}\"]\n",
        second.store_url(),
        third.store_url()
    );
    let binary = Path::new(env!("CARGO_BIN_EXE_parley"));
    let Some(cluster) = Cluster::start_on(nats, binary, 2, &config).await else {
        return;
    };
    let node = |n: usize, user: &TestUser| {
        Client::new(&cluster.nodes[n].url())
            .expect("node URL")
            .with_token(user.client.token().unwrap_or_default())
    };
    let mut conversations: Vec<(TestUser, ConversationId)> = Vec::new();
    for (shard, org) in ["acme", "globex", "initech"].into_iter().enumerate() {
        let ada = cluster.user_in("Ada", org).await;
        // The second of an organization joins with an invitation (the testkit's), which names its shard.
        let bob = cluster.user_in("Bob", org).await;
        let me = ada.client.me().await.expect("me");
        assert_eq!(shard_of(me.org_id.0), shard as i64, "{org}'s shard");
        assert_eq!(shard_of(ada.id.0), shard as i64);
        assert_eq!(shard_of(bob.id.0), shard as i64);
        assert_eq!(bob.client.me().await.expect("me").org, org);

        let id = group(&ada.client, "planning", &[bob.id]).await;
        assert_eq!(shard_of(id.0), shard as i64);
        let mut session = Session::start_at(
            node(1, &bob),
            &cluster.nodes[1].websocket_url(),
            None,
            backoff(),
        )
        .await
        .expect("a session");
        let sent = node(0, &ada)
            .send_message(id, "live", None)
            .await
            .expect("send");
        assert_eq!(shard_of(sent.value.id.0), shard as i64);
        let (text, cursor) = next_message(&mut session).await;
        assert_eq!(text, "live");
        assert_eq!(shard_of(cursor.0), shard as i64, "cursors are the shard's");
        drop(session);
        for text in ["missed 1", "missed 2"] {
            node(1, &ada)
                .send_message(id, text, None)
                .await
                .expect("send");
        }
        let mut resumed = Session::start_at(
            node(0, &bob),
            &cluster.nodes[0].websocket_url(),
            Some(cursor),
            backoff(),
        )
        .await
        .expect("a resumed session");
        assert_eq!(next_message(&mut resumed).await.0, "missed 1");
        let (text, last) = next_message(&mut resumed).await;
        assert_eq!(text, "missed 2");
        assert!(last > cursor, "cursors grow");

        // Logins find the shard by email, or by username within the organization.
        for (n, request) in [
            (0, login(&ada.email.to_uppercase(), None)),
            (1, login(&ada.username, Some(org))),
        ] {
            let client = Client::new(&cluster.nodes[n].url()).expect("node URL");
            let session = client.login(&request).await.expect("login");
            assert_eq!(session.user_id, ada.id);
            let history = client
                .with_token(session.token)
                .history(id, Default::default())
                .await
                .expect("history");
            assert_eq!(history.len(), 3);
        }
        conversations.push((ada, id));
    }

    // A fourth organization goes to the first shard again: each has one now.
    let dan = cluster.user_in("Dan", "umbrella").await;
    let me = dan.client.me().await.expect("me");
    assert_eq!(shard_of(me.org_id.0), 0);

    // Another organization's conversation is not found, whichever shard it is on.
    let (acme, acme_group) = &conversations[0];
    let (globex, globex_group) = &conversations[1];
    assert_api_error(
        acme.client.history(*globex_group, Default::default()).await,
        404,
        "not_found",
    );
    assert_api_error(
        globex.client.conversation(*acme_group).await,
        404,
        "not_found",
    );
    assert_api_error(dan.client.conversation(*acme_group).await, 404, "not_found");

    // An address belongs to one account, across shards.
    let taken = cluster
        .client()
        .signup(&SignupRequest {
            name: "Copy".to_owned(),
            email: acme.email.clone(),
            password: PASSWORD.to_owned(),
            username: "copy".to_owned(),
            org: Some("globex-two".to_owned()),
            invite: None,
        })
        .await;
    assert_api_error(taken, 409, "email_taken");
    assert_api_error(
        cluster
            .client()
            .login(&login("nobody@example.org", None))
            .await,
        401,
        "unauthenticated",
    );
    let kinds = acme.client.conversations().await.expect("list");
    assert!(kinds.iter().all(|c| c.kind == ConversationKind::Group));
}

/// A store that was not sharded becomes the first shard of two: its accounts log in by email and keep
/// their sessions, and the next new organization goes to the empty shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_store_becomes_the_first_shard() {
    let (Some(first), Some(second)) = (Schema::create().await, Schema::create().await) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a data directory");
    let before = TestServer::spawn_in(dir.path(), |config| {
        config.store = Some(first.store_url());
    })
    .await;
    let ada = before.user("Ada").await;
    let bob = before.user("Bob").await;
    let id = group(&ada.client, "before", &[bob.id]).await;
    ada.client
        .send_message(id, "from before", None)
        .await
        .expect("send");
    let token = ada.client.token().unwrap_or_default().to_owned();
    before.stop().await;

    let after = TestServer::spawn_in(dir.path(), |config| {
        config.store = Some(first.store_url());
        config.store_shards = vec![second.store_url()];
    })
    .await;
    let client = Client::new(&after.url).expect("URL");
    let kept = client.with_token(token);
    let history = kept.history(id, Default::default()).await.expect("history");
    assert_eq!(history.len(), 1);
    let again = client
        .login(&login(&bob.email, None))
        .await
        .expect("login by email");
    assert_eq!(again.user_id, bob.id);
    let newcomer = parley_testkit::sign_up(&client, "Cy", Some("newco")).await;
    let me = newcomer.client.me().await.expect("me");
    assert_eq!(shard_of(me.org_id.0), 1, "the empty shard");
    assert_api_error(newcomer.client.conversation(id).await, 404, "not_found");
    after.stop().await;
}

/// What routes a request (a token's organization, an invitation's, a body's handle or address, a file
/// link's organization) proves nothing by itself: forged, malformed or oversized, it is refused as on one
/// store, never with a 500, and it reaches no other organization's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_malformed_routing_is_refused() {
    let (Some(first), Some(second)) = (Schema::create().await, Schema::create().await) else {
        return;
    };
    let server = TestServer::spawn_with(|config| {
        config.store = Some(first.store_url());
        config.store_shards = vec![second.store_url()];
    })
    .await;
    let client = Client::new(&server.url).expect("URL");
    let ada = parley_testkit::sign_up(&client, "Ada", Some("acme")).await;
    let bob = parley_testkit::sign_up(&client, "Bob", Some("globex")).await;
    let bob_org = bob.client.me().await.expect("me").org_id;
    assert_eq!(shard_of(bob_org.0), 1);
    let token = ada.client.token().unwrap_or_default().to_owned();
    let (_, secret) = token.split_once('.').expect("{org}.{secret}");

    // Ada's secret under Bob's organization, under no organization, under ones that are no number.
    for forged in [
        format!("{bob_org}.{secret}"),
        secret.to_owned(),
        format!("99999999999999999999.{secret}"),
        format!("-1.{secret}"),
        format!("acme.{secret}"),
        format!("{}.{}", bob_org, "A".repeat(5_000)),
    ] {
        assert_api_error(client.with_token(forged).me().await, 401, "unauthenticated");
    }
    for garbage in [
        format!("{bob_org}.{}", "A".repeat(43)),
        "1.".to_owned(),
        "A".repeat(5_000),
    ] {
        assert_api_error(client.lookup_invite(&garbage).await, 404, "not_found");
    }

    // Logins by addresses no account could have are unknown accounts, never a store's error.
    for address in [
        "ada\u{0}@example.org".to_owned(),
        "ada\u{7f}@example.org".to_owned(),
        format!("{}@example.org", "a".repeat(300)),
    ] {
        assert_api_error(
            client.login(&login(&address, None)).await,
            401,
            "unauthenticated",
        );
    }

    // A sign-up is routed by the organization it names, whatever token it carries: it reaches acme's
    // shard, which wants an invitation, and makes no second acme on Bob's.
    let forged = client.with_token(format!("{bob_org}.{}", "A".repeat(43)));
    let eve = SignupRequest {
        name: "Eve".to_owned(),
        email: "eve@example.org".to_owned(),
        password: PASSWORD.to_owned(),
        username: "eve".to_owned(),
        org: Some("acme".to_owned()),
        invite: None,
    };
    assert_api_error(forged.signup(&eve).await, 403, "invite_required");
    let again = forged
        .login(&login(&ada.username, Some("acme")))
        .await
        .expect("login by username");
    assert_eq!(again.user_id, ada.id);
    // The address of a refused sign-up is free again.
    let eve_in_globex = SignupRequest {
        org: Some("globex".to_owned()),
        ..eve
    };
    assert_api_error(client.signup(&eve_in_globex).await, 403, "invite_required");

    // Bodies the router reads to choose a shard get the same answers as anywhere. The server closes the
    // connection of a body it did not read: a client of its own, so no later request rides that connection.
    let oversized = Client::new(&server.url)
        .expect("URL")
        .raw(
            reqwest::Method::POST,
            &["v1", "auth", "login"],
            Some("application/json"),
            vec![b' '; 300 * 1024],
        )
        .await
        .expect("answered");
    assert_eq!(oversized.status, 413);
    for (path, body) in [
        (["v1", "auth", "login"], b"[1,2]".to_vec()),
        (["v1", "auth", "signup"], b"not json".to_vec()),
        (["v1", "auth", "sso"], b"{\"org\": 5}".to_vec()),
    ] {
        let answer = client
            .raw(reqwest::Method::POST, &path, Some("application/json"), body)
            .await
            .expect("answered");
        assert!(
            (400..500).contains(&answer.status),
            "{path:?}: {}",
            answer.status
        );
    }
    assert_api_error(
        client
            .signup(&SignupRequest {
                name: "Bad".to_owned(),
                email: "bad@example.org".to_owned(),
                password: PASSWORD.to_owned(),
                username: "bad".to_owned(),
                org: Some("Not A Handle!".to_owned()),
                invite: None,
            })
            .await,
        400,
        "invalid_handle",
    );

    // A file link names its organization; naming another finds nothing.
    let upload = ada
        .client
        .upload_file("notes.txt", b"hello")
        .await
        .expect("upload");
    let links = ada.client.file_links(&[upload.id]).await.expect("links");
    let url = &links.links[0].url;
    let ada_org = ada.client.me().await.expect("me").org_id;
    assert!(url.contains(&format!("org={ada_org}")), "{url}");
    let elsewhere = url.replace(&format!("org={ada_org}"), &format!("org={bob_org}"));
    assert_eq!(
        client.get_url(&elsewhere).await.expect("answered").status,
        404
    );
    assert_eq!(client.get_url(url).await.expect("answered").status, 200);
    server.stop().await;
}
