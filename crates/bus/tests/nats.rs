//! `NatsBus` against a real NATS server: `NATS_URL` (default `nats://127.0.0.1:4222`). Without one, each test
//! says so and passes, unless `REQUIRE_SERVICES=1`, when it fails. Each test has its own subject prefix, so
//! they run side by side on one server. The last tests run a `nats-server` of their own: to kill it, or to
//! make it ask for credentials.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use parley_bus::{ClientCertificate, NatsAuth, NatsBus, NatsSettings};
use parley_core::bus::{Bus, Delivery, Ended, Inbox, Node, ProfileCopy, Signal, Topic};
use parley_core::model::{Audience, Event, EventKind, Millis, Profile};
use parley_core::proto::v1::Role;
use parley_core::{ConversationId, Cursor, MessageId, OrgId, UserId};
use parley_testkit::nats::NatsCluster;

const WAIT: Duration = Duration::from_secs(10);

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn required() -> bool {
    std::env::var("REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("test.{test}.{}-{nanos}", std::process::id())
}

fn settings(url: &str, prefix: &str, id: &str) -> NatsSettings {
    let mut settings = NatsSettings::new(
        url,
        Node {
            id: id.to_owned(),
            url: format!("http://{id}.example"),
        },
    );
    settings.prefix = prefix.to_owned();
    settings
}

async fn connect(settings: NatsSettings) -> NatsBus {
    NatsBus::connect(settings).await.expect("connect")
}

/// The first node of a test, or `None` (the test then passes) when there is no server and none is required.
async fn first_node(settings: NatsSettings) -> Option<NatsBus> {
    match NatsBus::connect(settings).await {
        Ok(bus) => Some(bus),
        Err(error) if !required() => {
            let error = &error as &dyn std::error::Error;
            println!("skipped: no NATS server at {} ({error:?})", nats_url());
            None
        }
        Err(error) => panic!("NATS is required at {}: {error:?}", nats_url()),
    }
}

/// Two nodes on a prefix of their own, or `None` (skip) without a NATS server.
async fn two_nodes(label: &str) -> Option<(NatsBus, NatsBus)> {
    let (prefix, url) = (unique_prefix(label), nats_url());
    let a = first_node(settings(&url, &prefix, "a")).await?;
    let b = connect(settings(&url, &prefix, "b")).await;
    Some((a, b))
}

async fn next(inbox: &mut Inbox) -> Delivery {
    tokio::time::timeout(WAIT, inbox.deliveries.next())
        .await
        .expect("a delivery in time")
        .expect("the inbox is open")
}

async fn next_signal(inbox: &mut Inbox) -> Signal {
    match next(inbox).await {
        Delivery::Signal(signal) => (*signal).clone(),
        Delivery::Lagged => panic!("lagged"),
    }
}

/// Nothing arrives for a moment (used only to show that something did not come).
async fn nothing_for(inbox: &mut Inbox, duration: Duration) {
    if let Ok(delivery) = tokio::time::timeout(duration, inbox.deliveries.next()).await {
        panic!("unexpected {delivery:?}");
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn typing(conversation: i64, user: i64) -> Signal {
    Signal::Typing {
        conversation_id: ConversationId(conversation),
        user_id: UserId(user),
    }
}

fn conversation(id: i64) -> Topic {
    Topic::Conversation(ConversationId(id))
}

fn deleted(cursor: i64, conversation: i64) -> Event {
    Event {
        cursor: Cursor(cursor),
        conversation_id: ConversationId(conversation),
        kind: EventKind::MessageDeleted {
            message_id: MessageId(cursor),
            removed_by_moderator: false,
        },
        audience: Audience::Members,
        at: Millis(cursor),
    }
}

fn cursor_of(signal: &Signal) -> Cursor {
    match signal {
        Signal::Event(event) => event.cursor,
        other => panic!("not an event: {other:?}"),
    }
}

#[tokio::test]
async fn signals_cross_nodes_on_followed_topics_only() {
    let Some((a, b)) = two_nodes("cross").await else {
        return;
    };
    let mut inbox = b.inbox().await.expect("inbox");
    inbox.topics.follow(conversation(1)).await.expect("follow");
    inbox
        .topics
        .follow(conversation(1))
        .await
        .expect("a second follow");
    // One publisher's signals arrive in its order: had the first come, it would come first.
    a.publish(conversation(2), Arc::new(typing(2, 9)))
        .await
        .expect("publish");
    a.publish(conversation(1), Arc::new(typing(1, 9)))
        .await
        .expect("publish");
    assert_eq!(next_signal(&mut inbox).await, typing(1, 9));

    let ann = UserId(5);
    let revoked = Signal::Revoked {
        user_id: ann,
        sessions: Ended::One([7; 32]),
    };
    let presence = Signal::Presence {
        user_id: ann,
        online: true,
        last_seen: None,
    };
    inbox.topics.follow(Topic::User(ann)).await.expect("follow");
    inbox
        .topics
        .follow(Topic::Presence(ann))
        .await
        .expect("follow");
    let renamed = Signal::UserUpdated {
        profile: Profile {
            id: ann,
            org_id: OrgId(1),
            org_handle: "acme".into(),
            username: "ann".into(),
            name: "Ann \u{1F600} \"Lovelace\"".into(),
            role: Role::Admin,
            deactivated: true,
            avatar_version: Some(i64::MAX),
        },
        to: ProfileCopy::Watchers,
    };
    a.publish(Topic::User(ann), Arc::new(revoked.clone()))
        .await
        .expect("publish");
    a.publish(Topic::Presence(ann), Arc::new(presence.clone()))
        .await
        .expect("publish");
    a.publish(Topic::Presence(ann), Arc::new(renamed.clone()))
        .await
        .expect("publish");
    assert_eq!(next_signal(&mut inbox).await, revoked);
    assert_eq!(next_signal(&mut inbox).await, presence);
    assert_eq!(next_signal(&mut inbox).await, renamed);

    inbox
        .topics
        .unfollow(conversation(1))
        .await
        .expect("unfollow");
    inbox.topics.follow(conversation(3)).await.expect("follow");
    a.publish(conversation(1), Arc::new(typing(1, 8)))
        .await
        .expect("publish");
    a.publish(conversation(3), Arc::new(typing(3, 8)))
        .await
        .expect("publish");
    assert_eq!(next_signal(&mut inbox).await, typing(3, 8));

    // A node hears its own signals through NATS too, once.
    let mut own = a.inbox().await.expect("inbox");
    own.topics.follow(conversation(3)).await.expect("follow");
    a.publish(conversation(3), Arc::new(typing(3, 7)))
        .await
        .expect("publish");
    assert_eq!(next_signal(&mut own).await, typing(3, 7));
    assert_eq!(next_signal(&mut inbox).await, typing(3, 7));
    nothing_for(&mut own, Duration::from_millis(200)).await;
    assert!(a.ping().await.is_ok());
}

/// Which ids of conversations and users a receiver follows.
type Wanted = fn(i64) -> bool;

/// Like the store's lock: two nodes take turns, each waiting for the other's commit to be published.
#[tokio::test]
async fn commits_from_two_nodes_reach_every_inbox_in_cursor_order() {
    const CONVERSATIONS: i64 = 30;
    const USERS: i64 = 6;
    const COMMITS: usize = 400;
    let (prefix, url) = (unique_prefix("order"), nats_url());
    let Some(a) = first_node(settings(&url, &prefix, "a")).await else {
        return;
    };
    let b = connect(settings(&url, &prefix, "b")).await;
    let c = connect(settings(&url, &prefix, "c")).await;

    // Each receiver follows conversation 0 (the last commit's), plus its own subset.
    let mut receivers: Vec<(Inbox, HashSet<Topic>)> = Vec::new();
    let subsets: [(&NatsBus, Wanted); 4] = [
        (&a, |n| n % 2 == 0),
        (&b, |n| n % 3 == 0),
        (&c, |n| n % 5 < 2),
        (&c, |n| n > 20),
    ];
    for (bus, wanted) in subsets {
        let inbox = bus.inbox().await.expect("inbox");
        let mut topics = HashSet::from([conversation(0)]);
        topics.extend((1..CONVERSATIONS).filter(|&n| wanted(n)).map(conversation));
        topics.extend(
            (1..USERS)
                .filter(|&n| wanted(n))
                .map(|n| Topic::User(UserId(n))),
        );
        for topic in &topics {
            inbox.topics.follow(*topic).await.expect("follow");
        }
        receivers.push((inbox, topics));
    }

    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        i64::try_from(seed % bound).expect("small")
    };
    let mut cursor = 0;
    let mut published = Vec::new();
    for n in 0..=COMMITS {
        let after = Cursor(cursor);
        let mut events = Vec::new();
        let count = if n == COMMITS { 1 } else { 1 + random(4) };
        for _ in 0..count {
            cursor += 1;
            let conversation_id = if n == COMMITS {
                0
            } else {
                random(CONVERSATIONS as u64)
            };
            let mut event = deleted(cursor, conversation_id);
            match random(4) {
                // On the conversation's topic and the joiner's.
                0 => {
                    event.kind = EventKind::MemberJoined {
                        user_id: UserId(random(USERS as u64)),
                    }
                }
                // On one user's topic only.
                1 if n != COMMITS => event.audience = Audience::User(UserId(random(USERS as u64))),
                _ => {}
            }
            events.push(event);
        }
        let publisher = if n % 2 == 0 { &a } else { &b };
        publisher
            .publish_commit(after, &events)
            .await
            .expect("publish commit");
        published.extend(events);
    }

    for (inbox, topics) in &mut receivers {
        let expected: Vec<Cursor> = published
            .iter()
            .filter(|event| event.topics().iter().any(|t| topics.contains(t)))
            .map(|event| event.cursor)
            .collect();
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let signal = next_signal(inbox).await;
            got.push(cursor_of(&signal));
            if got.last() == expected.last() {
                break;
            }
        }
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn a_missing_marker_lags_within_seconds_and_delivery_resumes() {
    let Some((a, b)) = two_nodes("gap").await else {
        return;
    };
    let mut inbox = b.inbox().await.expect("inbox");
    inbox.topics.follow(conversation(1)).await.expect("follow");
    a.publish_commit(Cursor(0), &[deleted(1, 1)])
        .await
        .expect("commit");
    assert_eq!(cursor_of(&next_signal(&mut inbox).await), Cursor(1));
    // The commits up to 5 never come.
    let started = std::time::Instant::now();
    a.publish_commit(Cursor(5), &[deleted(6, 1)])
        .await
        .expect("commit");
    // Ephemeral signals are not held behind the gap.
    a.publish(conversation(1), Arc::new(typing(1, 3)))
        .await
        .expect("publish");
    assert_eq!(next_signal(&mut inbox).await, typing(1, 3));
    assert!(matches!(next(&mut inbox).await, Delivery::Lagged));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1_900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // The next commit comes after the hole: the consumer catches up from the store once more, from after
    // it; and then the order goes on.
    a.publish_commit(Cursor(6), &[deleted(7, 1)])
        .await
        .expect("commit");
    assert!(matches!(next(&mut inbox).await, Delivery::Lagged));
    a.publish_commit(Cursor(7), &[deleted(8, 1), deleted(9, 1)])
        .await
        .expect("commit");
    for cursor in 8..=9 {
        assert_eq!(cursor_of(&next_signal(&mut inbox).await), Cursor(cursor));
    }
}

fn quick(mut settings: NatsSettings) -> NatsSettings {
    settings.heartbeat = Duration::from_millis(100);
    settings.node_ttl = Duration::from_millis(1_000);
    settings
}

#[tokio::test]
async fn presence_is_shared_and_a_dead_node_takes_its_users_offline() {
    let prefix = unique_prefix("presence");
    let url = nats_url();
    let Some(a) = first_node(quick(settings(&url, &prefix, "a"))).await else {
        return;
    };
    let b = connect(quick(settings(&url, &prefix, "b"))).await;
    let (ann, bob) = (UserId(1), UserId(2));
    eventually("b sees both nodes", || async {
        ids(&b).await == ["a", "b"]
    })
    .await;
    let nodes = a.nodes().await.expect("nodes");
    assert_eq!(nodes[0].url, "http://a.example");

    a.set_online(ann, true).await.expect("online");
    a.set_online(ann, true).await.expect("a second connection");
    eventually("ann online as seen from b", || async {
        b.online(&[ann, bob]).await.expect("online") == [true, false]
    })
    .await;
    a.set_online(ann, false).await.expect("one connection left");
    a.set_online(ann, false).await.expect("offline");
    eventually("ann offline as seen from b", || async {
        b.online(&[ann]).await.expect("online") == [false]
    })
    .await;

    let mut inbox = b.inbox().await.expect("inbox");
    inbox
        .topics
        .follow(Topic::Presence(bob))
        .await
        .expect("follow");
    a.set_online(bob, true).await.expect("online");
    eventually("bob online as seen from b", || async {
        b.online(&[bob]).await.expect("online") == [true]
    })
    .await;
    let crashed = std::time::Instant::now();
    a.abort();
    eventually("bob offline once a is dead", || async {
        b.online(&[bob]).await.expect("online") == [false]
    })
    .await;
    let took = crashed.elapsed();
    assert!(took < Duration::from_millis(1_600), "{took:?}");
    match next_signal(&mut inbox).await {
        Signal::Presence {
            user_id,
            online: false,
            last_seen: Some(_),
        } => assert_eq!(user_id, bob),
        other => panic!("{other:?}"),
    }
    assert_eq!(ids(&b).await, ["b"]);
}

#[tokio::test]
async fn a_late_node_learns_who_is_online_from_a_snapshot() {
    let prefix = unique_prefix("snapshot");
    let url = nats_url();
    let Some(a) = first_node(quick(settings(&url, &prefix, "a"))).await else {
        return;
    };
    // More than two pages.
    let users: Vec<UserId> = (1..=20_000).map(UserId).collect();
    for &user in &users {
        a.set_online(user, true).await.expect("online");
    }
    let b = connect(quick(settings(&url, &prefix, "b"))).await;
    eventually("b knows everyone a has", || async {
        b.online(&users)
            .await
            .expect("online")
            .iter()
            .all(|&online| online)
    })
    .await;
    a.set_online(UserId(7), false).await.expect("offline");
    eventually("and the changes after", || async {
        b.online(&[UserId(7), UserId(8)]).await.expect("online") == [false, true]
    })
    .await;
}

async fn ids(bus: &NatsBus) -> Vec<String> {
    let nodes = bus.nodes().await.expect("nodes");
    nodes.into_iter().map(|node| node.id).collect()
}

#[tokio::test]
async fn a_node_that_leaves_is_dropped_at_once() {
    let prefix = unique_prefix("leave");
    let url = nats_url();
    // The default time to live (10 s) is far longer than this test waits.
    let Some(a) = first_node(settings(&url, &prefix, "a")).await else {
        return;
    };
    let b = connect(settings(&url, &prefix, "b")).await;
    let c = connect(settings(&url, &prefix, "c")).await;
    eventually("a sees all three", || async {
        ids(&a).await == ["a", "b", "c"]
    })
    .await;
    b.set_online(UserId(4), true).await.expect("online");
    eventually("a sees b's user", || async {
        a.online(&[UserId(4)]).await.expect("online") == [true]
    })
    .await;
    let started = std::time::Instant::now();
    b.close().await;
    assert!(b.ping().await.is_err());
    eventually("a drops b", || async { ids(&a).await == ["a", "c"] }).await;
    assert_eq!(a.online(&[UserId(4)]).await.expect("online"), [false]);
    drop(c);
    eventually("a drops c", || async { ids(&a).await == ["a"] }).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A `nats-server` of the test's own, on a free port, so that it can be killed and started again.
struct OwnServer {
    port: u16,
    process: Option<tokio::process::Child>,
}

const NATS_SERVER: &str = "/usr/sbin/nats-server";

impl OwnServer {
    async fn start(port: u16) -> OwnServer {
        OwnServer::start_with(port, &[]).await
    }

    /// With a configuration file of `text`, in a directory of its own for `test` (which the caller removes).
    async fn start_with_config(test: &str, text: &str) -> (OwnServer, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(unique_prefix(test));
        std::fs::create_dir_all(&dir).expect("dir");
        let config = dir.join("nats.conf");
        std::fs::write(&config, text).expect("write the config");
        let flags = ["-c", &config.display().to_string()];
        (OwnServer::start_with(free_port(), &flags).await, dir)
    }

    /// With more of nats-server's flags (credentials, say).
    async fn start_with(port: u16, flags: &[&str]) -> OwnServer {
        let process = tokio::process::Command::new(NATS_SERVER)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(flags)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start nats-server");
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        OwnServer {
            port,
            process: Some(process),
        }
    }

    async fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await.expect("kill nats-server");
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Has the server read its configuration file again (SIGHUP).
    fn reload(&self) {
        let pid = self.process.as_ref().and_then(|p| p.id()).expect("running");
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success());
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Takes deliveries until one matching each of `wanted` has come (in any order); Lagged counts as one, and
/// copies of `tolerated` are passed over.
async fn expect_all(inbox: &mut Inbox, mut wanted: Vec<Option<Signal>>, tolerated: &Signal) {
    while !wanted.is_empty() {
        let got = match next(inbox).await {
            Delivery::Lagged => None,
            Delivery::Signal(signal) if *signal == *tolerated => continue,
            Delivery::Signal(signal) => Some((*signal).clone()),
        };
        let Some(index) = wanted.iter().position(|w| *w == got) else {
            panic!("unexpected {got:?}, waiting for {wanted:?}");
        };
        wanted.remove(index);
    }
}

#[tokio::test]
async fn a_node_keeps_serving_its_own_users_while_nats_is_away() {
    if !own_servers_available() {
        return;
    }
    let mut server = OwnServer::start(free_port()).await;
    let prefix = unique_prefix("outage");
    let a = connect(settings(&server.url(), &prefix, "a")).await;
    let b = connect(settings(&server.url(), &prefix, "b")).await;
    let mut a_inbox = a.inbox().await.expect("inbox");
    let mut b_inbox = b.inbox().await.expect("inbox");
    for inbox in [&a_inbox, &b_inbox] {
        inbox.topics.follow(conversation(1)).await.expect("follow");
    }
    b.publish(conversation(1), Arc::new(typing(1, 2)))
        .await
        .expect("publish");
    assert_eq!(next_signal(&mut a_inbox).await, typing(1, 2));
    assert_eq!(next_signal(&mut b_inbox).await, typing(1, 2));
    a.publish_commit(Cursor(0), &[deleted(1, 1)])
        .await
        .expect("commit");
    assert_eq!(cursor_of(&next_signal(&mut a_inbox).await), Cursor(1));
    assert_eq!(cursor_of(&next_signal(&mut b_inbox).await), Cursor(1));

    server.kill().await;
    assert!(matches!(next(&mut a_inbox).await, Delivery::Lagged));
    assert!(matches!(next(&mut b_inbox).await, Delivery::Lagged));
    assert!(a.ping().await.is_err());
    // Its own users still hear each other, events in order with their markers.
    a.publish(conversation(1), Arc::new(typing(1, 3)))
        .await
        .expect("a local publish succeeds");
    assert_eq!(next_signal(&mut a_inbox).await, typing(1, 3));
    let commit = a
        .publish_commit(Cursor(1), &[deleted(2, 1), deleted(3, 1)])
        .await;
    assert!(commit.is_err(), "the cluster did not get the commit");
    assert_eq!(cursor_of(&next_signal(&mut a_inbox).await), Cursor(2));
    assert_eq!(cursor_of(&next_signal(&mut a_inbox).await), Cursor(3));
    // Another node committed 4 to 9 meanwhile, unseen here: this node's next commit must not skip them,
    // so it waits, and the inbox lags (its consumer reads the store) instead.
    let commit = a.publish_commit(Cursor(9), &[deleted(10, 1)]).await;
    assert!(commit.is_err());
    assert!(matches!(next(&mut a_inbox).await, Delivery::Lagged));
    nothing_for(&mut b_inbox, Duration::from_millis(200)).await;

    let _server = OwnServer::start(server.port).await;
    eventually("both reconnect", || async {
        a.ping().await.is_ok() && b.ping().await.is_ok()
    })
    .await;
    b.publish(conversation(1), Arc::new(typing(1, 4)))
        .await
        .expect("publish");
    // The typing signal published while away may also come now, if async-nats had buffered it as the
    // connection fell; signals are idempotent, so a second copy is allowed.
    let buffered = typing(1, 3);
    expect_all(&mut a_inbox, vec![None, Some(typing(1, 4))], &buffered).await;
    expect_all(&mut b_inbox, vec![None, Some(typing(1, 4))], &buffered).await;
    // The first commit after follows on from neither inbox's last event: both catch up once more, from
    // after it, and then it is in order again.
    a.publish_commit(Cursor(10), &[deleted(11, 1)])
        .await
        .expect("commit");
    assert!(matches!(next(&mut a_inbox).await, Delivery::Lagged));
    assert!(matches!(next(&mut b_inbox).await, Delivery::Lagged));
    a.publish_commit(Cursor(11), &[deleted(12, 1)])
        .await
        .expect("commit");
    assert_eq!(cursor_of(&next_signal(&mut a_inbox).await), Cursor(12));
    assert_eq!(cursor_of(&next_signal(&mut b_inbox).await), Cursor(12));
}

/// Whether this machine has a nats-server of its own to start (the test passes with a note if not, unless
/// services are required).
fn own_servers_available() -> bool {
    if std::path::Path::new(NATS_SERVER).exists() {
        return true;
    }
    assert!(!required(), "{NATS_SERVER} is required");
    println!("skipped: no {NATS_SERVER}");
    false
}

/// A commit of `a` reaches an inbox of `b` that follows its conversation: both feeds are up (logged in,
/// secured). Answers the inbox.
async fn a_commit_reaches_b(a: &NatsBus, b: &NatsBus) -> Inbox {
    let mut b_inbox = b.inbox().await.expect("inbox");
    b_inbox
        .topics
        .follow(conversation(1))
        .await
        .expect("follow");
    a.publish_commit(Cursor(0), &[deleted(1, 1)])
        .await
        .expect("commit");
    assert_eq!(cursor_of(&next_signal(&mut b_inbox).await), Cursor(1));
    b_inbox
}

/// Two nodes with `auth` on `server` exchange a commit over their feeds (so both connections logged in);
/// a node with `wrong` credentials, or none, cannot connect.
async fn credentials_work_on_both_connections(server: &OwnServer, auth: NatsAuth, wrong: NatsAuth) {
    let prefix = unique_prefix("auth");
    let with = |id: &str, auth: &NatsAuth| {
        let mut settings = settings(&server.url(), &prefix, id);
        settings.auth = auth.clone();
        settings
    };
    let a = connect(with("a", &auth)).await;
    let b = connect(with("b", &auth)).await;
    a_commit_reaches_b(&a, &b).await;
    for refused in [wrong, NatsAuth::None] {
        let started = std::time::Instant::now();
        let result = NatsBus::connect(with("c", &refused)).await;
        assert!(result.is_err(), "{refused:?} connected");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn a_server_that_wants_a_user_and_password_takes_the_nodes_that_have_them() {
    if !own_servers_available() {
        return;
    }
    let flags = ["--user", "parley", "--pass", "the cluster's password"];
    let server = OwnServer::start_with(free_port(), &flags).await;
    let auth = NatsAuth::UserPassword {
        user: "parley".into(),
        password: "the cluster's password".into(),
    };
    let wrong = NatsAuth::UserPassword {
        user: "parley".into(),
        password: "a guess".into(),
    };
    credentials_work_on_both_connections(&server, auth, wrong).await;
}

#[tokio::test]
async fn a_server_that_wants_a_token_takes_the_nodes_that_have_it() {
    if !own_servers_available() {
        return;
    }
    let server = OwnServer::start_with(free_port(), &["--auth", "s3cr3t-t0ken"]).await;
    let auth = NatsAuth::Token("s3cr3t-t0ken".into());
    let wrong = NatsAuth::Token("another".into());
    credentials_work_on_both_connections(&server, auth, wrong).await;
}

/// Two nats-servers clustered on loopback (a route between them), as a NATS cluster of two.
async fn clustered_pair() -> (OwnServer, OwnServer) {
    let routes = [free_port(), free_port()];
    let route_urls = routes.map(|port| format!("nats://127.0.0.1:{port}"));
    let joined = route_urls.join(",");
    let mut servers = Vec::new();
    for route in &route_urls {
        let flags = [
            "--cluster_name",
            "parley-test",
            "--cluster",
            route,
            "--routes",
            &joined,
        ];
        servers.push(OwnServer::start_with(free_port(), &flags).await);
    }
    let second = servers.pop().expect("two servers");
    let first = servers.pop().expect("two servers");
    (first, second)
}

/// `from` publishes typing signals until one reaches `inbox` (the servers of a cluster share a subscription a
/// moment after one of them took it); a lag on the way is passed over.
async fn reaches(from: &NatsBus, inbox: &mut Inbox, user: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        from.publish(conversation(1), Arc::new(typing(1, user)))
            .await
            .expect("publish");
        let heard = tokio::time::timeout(Duration::from_millis(100), async {
            loop {
                match inbox.deliveries.next().await {
                    Some(Delivery::Signal(signal)) if *signal == typing(1, user) => return true,
                    Some(_) => {}
                    None => return false,
                }
            }
        })
        .await;
        if heard == Ok(true) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "typing {user} never came"
        );
    }
}

/// Takes deliveries until the event with `cursor` (a lag or earlier events on the way are passed over).
async fn until_cursor(inbox: &mut Inbox, cursor: Cursor) {
    loop {
        if let Delivery::Signal(signal) = next(inbox).await
            && matches!(&*signal, Signal::Event(event) if event.cursor == cursor)
        {
            return;
        }
    }
}

#[tokio::test]
async fn nodes_given_every_server_of_a_nats_cluster_fail_over_when_one_dies() {
    if !own_servers_available() {
        return;
    }
    let (mut first, second) = clustered_pair().await;
    let urls = format!("{},{}", first.url(), second.url());
    let prefix = unique_prefix("failover");
    let a = connect(settings(&urls, &prefix, "a")).await;
    let b = connect(settings(&urls, &prefix, "b")).await;
    let mut a_inbox = a.inbox().await.expect("inbox");
    let mut b_inbox = b.inbox().await.expect("inbox");
    for inbox in [&a_inbox, &b_inbox] {
        inbox.topics.follow(conversation(1)).await.expect("follow");
    }
    reaches(&b, &mut a_inbox, 1).await;

    first.kill().await;
    let killed = std::time::Instant::now();
    eventually("both nodes are on the second server", || async {
        a.ping().await.is_ok() && b.ping().await.is_ok()
    })
    .await;
    let back = killed.elapsed();
    println!("both nodes back {back:?} after their server died");
    assert!(back < Duration::from_secs(3), "{back:?}");
    // Live signals and commits flow again, through the second server.
    reaches(&b, &mut a_inbox, 2).await;
    reaches(&a, &mut b_inbox, 3).await;
    a.publish_commit(Cursor(0), &[deleted(1, 1)])
        .await
        .expect("commit");
    a.publish_commit(Cursor(1), &[deleted(2, 1)])
        .await
        .expect("commit");
    until_cursor(&mut b_inbox, Cursor(2)).await;
    drop(second);
}

/// Lags that come within `window` (the link going down, or the feed refusing what it follows).
async fn lags_within(inbox: &mut Inbox, window: Duration) -> usize {
    let mut lags = 0;
    let _ = tokio::time::timeout(window, async {
        while let Some(delivery) = inbox.deliveries.next().await {
            if matches!(delivery, Delivery::Lagged) {
                lags += 1;
            }
        }
    })
    .await;
    lags
}

#[tokio::test]
async fn a_server_that_knows_a_users_nkey_takes_the_nodes_that_have_its_seed() {
    if !own_servers_available() {
        return;
    }
    let user = nkeys::KeyPair::new_user();
    let text = format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
        user.public_key()
    );
    let (server, dir) = OwnServer::start_with_config("nkey", &text).await;
    let auth = NatsAuth::NKey(user.seed().expect("seed"));
    let stranger = NatsAuth::NKey(nkeys::KeyPair::new_user().seed().expect("seed"));
    credentials_work_on_both_connections(&server, auth, stranger).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A JWT as NATS's decentralized authentication has them (version 2): `claims` about `subject`, signed by
/// `issuer`.
fn nats_jwt(issuer: &nkeys::KeyPair, subject: &str, nats: serde_json::Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "jti": unique_prefix("jti").replace(['.', '-'], ""),
        "iat": now,
        "iss": issuer.public_key(),
        "name": subject,
        "sub": subject,
        "nats": nats,
    });
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = issuer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A credentials file for a new user of `account`, as `nsc` writes one.
fn creds_of_a_user_of(account: &nkeys::KeyPair) -> String {
    let user = nkeys::KeyPair::new_user();
    let claims = serde_json::json!({
        "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2,
    });
    let jwt = nats_jwt(account, &user.public_key(), claims);
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().expect("seed")
    )
}

#[tokio::test]
async fn a_server_in_operator_mode_takes_the_nodes_with_credentials_its_account_signed() {
    if !own_servers_available() {
        return;
    }
    // An operator, an account it signed (the only one the server knows), and a stranger account.
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let stranger = nkeys::KeyPair::new_account();
    let operator_jwt = nats_jwt(
        &operator,
        &operator.public_key(),
        serde_json::json!({"type": "operator", "version": 2}),
    );
    let unlimited = serde_json::json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true,
        "conn": -1, "leaf": -1,
    });
    let account_claims = serde_json::json!({
        "limits": unlimited, "default_permissions": {"pub": {}, "sub": {}},
        "type": "account", "version": 2,
    });
    let account_jwt = nats_jwt(&operator, &account.public_key(), account_claims);
    let text = format!(
        "operator: {operator_jwt}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {account_jwt}\n}}\n",
        account.public_key()
    );
    let (server, dir) = OwnServer::start_with_config("creds", &text).await;
    let auth = NatsAuth::from_creds(&creds_of_a_user_of(&account)).expect("credentials");
    let wrong = NatsAuth::from_creds(&creds_of_a_user_of(&stranger)).expect("credentials");
    credentials_work_on_both_connections(&server, auth, wrong).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_login_the_server_stops_taking_makes_one_lag_not_one_per_attempt() {
    if !own_servers_available() {
        return;
    }
    let dir = std::env::temp_dir().join(unique_prefix("rotation"));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("nats.conf");
    let login = |password: &str| {
        let text = format!("authorization {{ user: parley, password: \"{password}\" }}\n");
        std::fs::write(&config, text).expect("write the config");
    };
    login("first");
    let server = OwnServer::start_with(free_port(), &["-c", &config.display().to_string()]).await;
    let mut settings = settings(&server.url(), &unique_prefix("rotation"), "a");
    settings.auth = NatsAuth::UserPassword {
        user: "parley".into(),
        password: "first".into(),
    };
    let a = connect(settings).await;
    let mut inbox = a.inbox().await.expect("inbox");
    inbox.topics.follow(conversation(1)).await.expect("follow");
    reaches(&a, &mut inbox, 1).await;

    // The servers move to another password: the node's connections close and every attempt is refused.
    login("second");
    server.reload();
    eventually("the node is refused", || async { a.ping().await.is_err() }).await;
    let lags = lags_within(&mut inbox, Duration::from_secs(4)).await;
    assert!(lags <= 1, "{lags} lags while the login was refused");
    // Back to the node's password: it reconnects by itself.
    login("first");
    server.reload();
    eventually("the node is back", || async { a.ping().await.is_ok() }).await;
    reaches(&a, &mut inbox, 2).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CA, a certificate it signed for `localhost` and 127.0.0.1 and one it signed for a client, made with the
/// machine's `openssl` in `dir`: `ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`. False
/// (the test then passes with a note) without openssl, unless services are required.
fn certificates(dir: &std::path::Path) -> bool {
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
    };
    if run(&["version"]).is_err() {
        assert!(!required(), "openssl is required");
        println!("skipped: no openssl");
        return false;
    }
    let openssl = |args: &[&str]| {
        let status = run(args).expect("run openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=parley test CA",
    ];
    openssl(&[&["req", "-x509"], &key[..], &ca[..]].concat());
    // `name.key` and `name.pem`, a certificate the CA signs for `subject` with `extensions`.
    let issue = |name: &str, subject: &str, extensions: &str| {
        let (key_file, request, extension_file, certificate) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
            format!("{name}.pem"),
        );
        let names = ["-keyout", &key_file, "-out", &request, "-subj", subject];
        openssl(&[&["req"], &key[..], &names[..]].concat());
        std::fs::write(dir.join(&extension_file), extensions).expect("write the extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &certificate,
            "-days",
            "1",
            "-extfile",
            &extension_file,
        ]);
    };
    issue(
        "server",
        "/CN=localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    issue(
        "client",
        "/CN=parley node",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    true
}

/// A directory of its own for `test` holding `certificates`, or `None` (the test then passes) without
/// nats-server or openssl, unless services are required.
fn with_certificates(test: &str) -> Option<std::path::PathBuf> {
    if !own_servers_available() {
        return None;
    }
    let dir = std::env::temp_dir().join(unique_prefix(test));
    std::fs::create_dir_all(&dir).expect("dir");
    certificates(&dir).then_some(dir)
}

#[tokio::test]
async fn a_server_that_verifies_client_certificates_takes_the_nodes_that_present_one() {
    let Some(dir) = with_certificates("mtls") else {
        return;
    };
    let path = |file: &str| dir.join(file).display().to_string();
    let flags = [
        "--tlsverify",
        "--tlscert",
        &path("server.pem"),
        "--tlskey",
        &path("server.key"),
        "--tlscacert",
        &path("ca.pem"),
    ];
    let server = OwnServer::start_with(free_port(), &flags).await;
    let prefix = unique_prefix("mtls");
    let node = |id: &str, identity: Option<ClientCertificate>| {
        let mut settings = settings(&server.url(), &prefix, id);
        settings.tls_ca = Some(dir.join("ca.pem"));
        settings.tls_identity = identity;
        settings
    };
    let identity = ClientCertificate {
        certificate: dir.join("client.pem"),
        key: dir.join("client.key"),
    };
    // Both connections present the certificate: a commit crosses the feeds.
    let a = connect(node("a", Some(identity.clone()))).await;
    let b = connect(node("b", Some(identity.clone()))).await;
    a_commit_reaches_b(&a, &b).await;
    // Without one, or with the server's own in its place (not for clients), the server refuses the node.
    let started = std::time::Instant::now();
    assert!(NatsBus::connect(node("c", None)).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    let wrong = ClientCertificate {
        certificate: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    assert!(NatsBus::connect(node("d", Some(wrong))).await.is_err());
    // A key that is not the certificate's is refused at once.
    let mismatched = ClientCertificate {
        certificate: dir.join("client.pem"),
        key: dir.join("server.key"),
    };
    assert!(NatsBus::connect(node("e", Some(mismatched))).await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_server_that_wants_tls_takes_the_nodes_that_trust_its_ca() {
    let Some(dir) = with_certificates("tls") else {
        return;
    };
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    let flags = [
        "--tls",
        "--tlscert",
        &cert.display().to_string(),
        "--tlskey",
        &key.display().to_string(),
    ];
    let server = OwnServer::start_with(free_port(), &flags).await;
    let prefix = unique_prefix("tls");
    let node = |url: String, id: &str, ca: bool| {
        let mut settings = settings(&url, &prefix, id);
        settings.tls_ca = ca.then(|| dir.join("ca.pem"));
        settings
    };
    // Given as tls://, and as nats:// (the server's INFO asks for TLS): both connections are secured.
    let a = connect(node(format!("tls://localhost:{}", server.port), "a", true)).await;
    let b = connect(node(server.url(), "b", true)).await;
    let mut b_inbox = a_commit_reaches_b(&a, &b).await;
    reaches(&b, &mut b_inbox, 1).await;
    // Without the CA, the server's certificate is not trusted.
    let started = std::time::Instant::now();
    let untrusting =
        NatsBus::connect(node(format!("tls://localhost:{}", server.port), "c", false)).await;
    assert!(untrusting.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    // Given as nats://, without the CA: the server asks for TLS and is not trusted either.
    assert!(
        NatsBus::connect(node(server.url(), "c", false))
            .await
            .is_err()
    );
    // A CA file that is not one is refused at once.
    let mut broken = node(server.url(), "d", false);
    broken.tls_ca = Some(dir.join("server.csr"));
    assert!(NatsBus::connect(broken).await.is_err());
    // With a CA file, a server that does not offer TLS is not spoken to in the clear (a stripped INFO).
    let plain = OwnServer::start(free_port()).await;
    let mut downgraded = settings(&plain.url(), &prefix, "e");
    downgraded.tls_ca = Some(dir.join("ca.pem"));
    let started = std::time::Instant::now();
    assert!(NatsBus::connect(downgraded).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unreachable_server_fails_to_connect_within_seconds() {
    let started = std::time::Instant::now();
    let url = format!("nats://127.0.0.1:{}", free_port());
    let result = NatsBus::connect(settings(&url, "parley", "a")).await;
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// On three NATS servers 20 ms apart, each node on a different one: an inbox of `a` that has just followed
/// a conversation hears the commits that `b` and `c` publish on it at once, through the other servers. Without
/// the probe a follow waits for (`probe.rs`), the other servers did not know of the subscription yet and
/// most of these events never came, while their markers did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_hears_commits_published_at_once_through_the_other_servers_of_a_cluster() {
    const CYCLES: i64 = 20;
    let dir = tempfile::tempdir().expect("a directory");
    let Some(servers) = NatsCluster::start(dir.path(), 3, Duration::from_millis(20)).await else {
        return;
    };
    let prefix = unique_prefix("probe");
    let a = connect(settings(&servers.urls_from(0), &prefix, "a")).await;
    let b = connect(settings(&servers.urls_from(1), &prefix, "b")).await;
    let c = connect(settings(&servers.urls_from(2), &prefix, "c")).await;
    // At once: a follow waits until `a` has heard every live node.
    // A first commit starts the inbox's order, so that the later ones may come from two servers in any order.
    let mut inbox = a_commit_reaches_b(&a, &a).await;
    let mut last = 1;
    for cycle in 0..CYCLES {
        let conversation_id = 100 + cycle;
        inbox
            .topics
            .follow(conversation(conversation_id))
            .await
            .expect("follow");
        for from in [&b, &c] {
            from.publish_commit(Cursor(last), &[deleted(last + 1, conversation_id)])
                .await
                .expect("commit");
            last += 1;
        }
        for cursor in [last - 1, last] {
            match next(&mut inbox).await {
                Delivery::Signal(signal) => assert_eq!(
                    cursor_of(&signal),
                    Cursor(cursor),
                    "cycle {cycle}: an event went missing"
                ),
                Delivery::Lagged => panic!("cycle {cycle}: lagged"),
            }
        }
    }
}

/// A node that dies without leaving is still counted live for three heartbeats and answers no probe: a
/// follow then fails (its connections catch up). The probes go on, and once one succeeds (the dead node is no
/// longer counted) the inbox lags, so that its connections catch up past anything missed in between.
#[tokio::test]
async fn after_a_failed_probe_the_probes_go_on_and_the_inbox_lags_once_one_succeeds() {
    let prefix = unique_prefix("settle");
    let quick = |id: &str| {
        let mut settings = settings(&nats_url(), &prefix, id);
        settings.heartbeat = Duration::from_millis(100);
        settings.node_ttl = Duration::from_secs(1);
        settings
    };
    let Some(a) = first_node(quick("a")).await else {
        return;
    };
    let b = connect(quick("b")).await;
    let mut inbox = a_commit_reaches_b(&b, &a).await;
    b.abort();
    let followed = inbox.topics.follow(conversation(2)).await;
    assert!(followed.is_err(), "a dead node answered a probe");
    match next(&mut inbox).await {
        Delivery::Lagged => {}
        Delivery::Signal(signal) => panic!("a signal instead of the lag: {signal:?}"),
    }
    // Settled: the next follow succeeds at once.
    inbox.topics.follow(conversation(3)).await.expect("follow");
}
