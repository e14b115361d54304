//! A cluster on loopback: three `parley` processes on PostgreSQL and NATS (see `parley_testkit::cluster`),
//! users spread over them. Messages cross nodes, and nothing acknowledged is lost or delivered twice when a
//! node is killed, when every node restarts in turn, or when NATS restarts, all under steady traffic.
//!
//! Each test of several nodes runs twice (`on_each_nats!`): on one NATS server, and on three clustered
//! 20 ms apart with each node on a different one, where a subscription reaches the other servers late.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_client::{Backoff, Client, Incoming, Session};
use parley_proto::v1::{Allowed, ClientOp, Event, OrgSettingsPatch, ServerFrame, ServerMessage};
use parley_proto::{ConversationId, UserId};
use parley_testkit::TestServer;
use parley_testkit::TestUser;
use parley_testkit::cluster::{Cluster, Gate, Nats, Schema};

use super::group;
use super::users::PNG;

const NODES: usize = 3;
/// A dead node leaves the others' lists after this (and its users go offline), so the checks below do not
/// wait the default ten seconds.
const CONFIG: &str =
    "node_heartbeat_millis = 300\nnode_ttl_millis = 3000\npresence_grace_millis = 200";
/// How long every acknowledged message may take to reach every member, failures included.
const DELIVERY_PATIENCE: Duration = Duration::from_secs(45);

/// Three NATS servers 20 ms apart each way, as in racks or zones of one region.
const THREE_SERVERS: Nats = Nats::Three {
    delay: Duration::from_millis(20),
};

/// Runs each named test (an `async fn(Nats)`) on one NATS server (`one_server::NAME`) and on three
/// (`three_servers::NAME`).
macro_rules! on_each_nats {
    ($($test:ident),* $(,)?) => {
        mod one_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(parley_testkit::cluster::Nats::One).await;
                }
            )*
        }
        mod three_servers {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(super::THREE_SERVERS).await;
                }
            )*
        }
    };
}

on_each_nats!(
    messages_typing_presence_and_logout_cross_nodes,
    profiles_settings_avatars_and_files_cross_nodes,
    a_node_killed_under_traffic_loses_nothing,
    a_rolling_restart_loses_nothing,
    a_nats_restart_loses_nothing,
    notifications_survive_a_node_killed_under_load,
);

async fn cluster(nats: Nats) -> Option<Cluster> {
    Cluster::start_on(nats, Path::new(env!("CARGO_BIN_EXE_parley")), NODES, CONFIG).await
}

fn backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_millis(500))
}

/// A session that starts on node `n` (as if an earlier balancer had put it there); reconnects go where
/// the gateway says.
async fn session_on(cluster: &Cluster, n: usize, user: &TestUser) -> Session {
    Session::start_at(
        user.client.clone(),
        &cluster.nodes[n].websocket_url(),
        None,
        backoff(),
    )
    .await
    .expect("a session")
}

/// Waits for the next frame that `pick` takes, skipping others.
async fn next_matching<T>(
    session: &mut Session,
    mut pick: impl FnMut(&ServerMessage) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = session.next().await.expect("the session lives");
            if let Some(found) = pick(&message) {
                return found;
            }
        }
    })
    .await
    .expect("the frame comes")
}

/// Follows `user_id`'s presence on `session`; the `presence` reply comes later, among other frames.
async fn presence_sub(session: &mut Session, user_id: UserId) {
    session
        .send(&ClientOp::PresenceSub {
            reference: None,
            user_ids: vec![user_id],
        })
        .await
        .expect("presence_sub");
}

fn message_text(message: &ServerMessage) -> Option<String> {
    match message {
        ServerMessage::Event(frame) => match &frame.event {
            Event::MessageCreated { message, .. } => message.text.clone(),
            _ => None,
        },
        ServerMessage::Frame(_) => None,
    }
}

/// A message sent on one node reaches members on the others, and so do typing, presence, a logout and a
/// deactivation.
async fn messages_typing_presence_and_logout_cross_nodes(nats: Nats) {
    let Some(cluster) = cluster(nats).await else {
        return;
    };
    let ada = cluster.user_in("Ada", "acme").await;
    let bob = cluster.user_in("Bob", "acme").await;
    let cara = cluster.user_in("Cara", "acme").await;
    let group_id = group(&ada.client, "everywhere", &[bob.id, cara.id]).await;
    let mut on = [
        session_on(&cluster, 0, &ada).await,
        session_on(&cluster, 1, &bob).await,
        session_on(&cluster, 2, &cara).await,
    ];

    let on_node = |n: usize, user: &TestUser| {
        let token = user.client.token().unwrap_or_default().to_owned();
        Client::new(&cluster.nodes[n].url())
            .expect("node URL")
            .with_token(token)
    };
    let sent = on_node(0, &ada)
        .send_message(group_id, "hello from node 1", Some("n1"))
        .await
        .expect("send");
    for session in &mut on[1..] {
        let text = next_matching(session, message_text).await;
        assert_eq!(text, "hello from node 1");
    }
    // Nonces are the cluster's: the same retry through node 3 is the same message, stored once.
    let retried = on_node(2, &ada)
        .send_message(group_id, "hello from node 1", Some("n1"))
        .await
        .expect("retry");
    assert!(!retried.new, "a retry is not stored again");
    assert_eq!(retried.value.id, sent.value.id);

    // One org's people share a node, whichever node is asked; other orgs spread over the nodes.
    let mut gateways = std::collections::HashSet::new();
    for (n, user) in [&ada, &bob, &cara].into_iter().enumerate() {
        gateways.insert(on_node(n, user).gateway().await.expect("gateway").url);
    }
    assert_eq!(gateways.len(), 1, "one node for acme: {gateways:?}");
    let node_urls: Vec<String> = cluster.nodes.iter().map(|n| n.websocket_url()).collect();
    let mut used = std::collections::HashSet::new();
    for org in 0..12 {
        let someone = cluster.user_in("Org Member", &format!("org{org}")).await;
        let url = someone.client.gateway().await.expect("gateway").url;
        assert!(node_urls.contains(&url), "{url} is a node");
        used.insert(url);
    }
    assert!(used.len() > 1, "orgs spread over the nodes: {used:?}");

    on[0]
        .send(&ClientOp::Typing {
            reference: None,
            conversation_id: group_id,
        })
        .await
        .expect("typing");
    let typist = next_matching(&mut on[2], |m| match m {
        ServerMessage::Frame(ServerFrame::Typing { user_id, .. }) => Some(*user_id),
        _ => None,
    })
    .await;
    assert_eq!(typist, ada.id);

    // Cara follows Bob's presence from node 3; Bob's only connection is on node 2.
    presence_sub(&mut on[2], bob.id).await;
    let online = next_matching(&mut on[2], |m| match m {
        ServerMessage::Frame(ServerFrame::Presence { users, .. }) => Some(users.clone()),
        _ => None,
    })
    .await;
    assert!(
        online.iter().any(|p| p.user_id == bob.id && p.online),
        "{online:?}"
    );

    // Bob logs out through whichever node the balancer picks: his socket on node 2 closes within a second.
    bob.client.logout().await.expect("logout");
    let closed = closed_within(&mut on[1], Duration::from_secs(1))
        .await
        .expect("the logout closes the socket on another node within a second");
    assert_eq!(closed, 4003, "closed as logged out");
    let offline = next_matching(&mut on[2], |m| match m {
        ServerMessage::Frame(ServerFrame::PresenceUpdated {
            user_id, online, ..
        }) if *user_id == bob.id => Some(*online),
        _ => None,
    })
    .await;
    assert!(!offline, "Bob went offline, and node 3 heard it");

    // Ada, who owns acme, deactivates Cara through node 1: Cara's socket on node 3 closes within a second.
    on_node(0, &ada)
        .deactivate(cara.id)
        .await
        .expect("deactivate");
    let closed = closed_within(&mut on[2], Duration::from_secs(1))
        .await
        .expect("a deactivation closes the socket on another node within a second");
    assert_eq!(closed, 4003);
    assert!(
        on_node(1, &cara).me().await.is_err(),
        "her token is dead on every node"
    );
}

/// The close code of the session's socket, if it closes within `patience`.
async fn closed_within(session: &mut Session, patience: Duration) -> Option<u16> {
    tokio::time::timeout(patience, async {
        loop {
            match session.next().await {
                Err(parley_client::Error::Closed { code, .. }) => return code,
                Ok(_) => continue,
                Err(other) => panic!("{other:?}"),
            }
        }
    })
    .await
    .ok()
}

/// A rename and an avatar reach, on the other node, a contact, a follower by `presence_sub` and the user's
/// other device; and the user's device on the first node. So does a change of the organization's settings.
async fn profiles_settings_avatars_and_files_cross_nodes(nats: Nats) {
    let Some(cluster) = cluster(nats).await else {
        return;
    };
    let ada = cluster.user_in("Ada", "acme").await;
    let bob = cluster.user_in("Bob", "acme").await;
    let cara = cluster.user_in("Cara", "acme").await;
    bob.client.add_contact(ada.id).await.expect("contact");
    let mut adas_laptop = session_on(&cluster, 0, &ada).await;
    let mut adas_phone = session_on(&cluster, 1, &ada).await;
    let mut bobs = session_on(&cluster, 1, &bob).await;
    let mut caras = session_on(&cluster, 1, &cara).await;
    presence_sub(&mut caras, ada.id).await;
    next_matching(&mut caras, |m| match m {
        ServerMessage::Frame(ServerFrame::Presence { .. }) => Some(()),
        _ => None,
    })
    .await;

    let user_update = |m: &ServerMessage| match m {
        ServerMessage::Frame(ServerFrame::UserUpdated { user }) => Some(user.clone()),
        _ => None,
    };
    // One change at a time: the balancer may send each request to another node, and two nodes' publishes
    // reach NATS in no set order.
    let renamed = ada.client.rename("Ada Lovelace").await.expect("rename");
    for session in [&mut adas_laptop, &mut adas_phone, &mut bobs, &mut caras] {
        assert_eq!(next_matching(session, user_update).await, renamed);
    }
    let with_avatar = ada
        .client
        .set_avatar("image/png", PNG.to_vec())
        .await
        .expect("upload");
    for session in [&mut adas_laptop, &mut adas_phone, &mut bobs, &mut caras] {
        assert_eq!(next_matching(session, user_update).await, with_avatar);
    }

    // Avatars and files live in the cluster's object store: put through one node, read through the other.
    let on = |n: usize, user: &TestUser| {
        Client::new(&cluster.nodes[n].url())
            .expect("a node's URL")
            .with_token(user.client.token().expect("a token"))
    };
    for n in 0..3 {
        let (content_type, _) = on(n, &bob).avatar(ada.id).await.expect("the avatar");
        assert!(content_type.starts_with("image/"));
    }

    // A change of the organization's settings made on one node reaches its members' sockets on the others.
    let restricted = OrgSettingsPatch {
        channel_creation: Some(Allowed::Admins),
        ..OrgSettingsPatch::default()
    };
    let settings = on(0, &ada)
        .update_org_settings(&restricted)
        .await
        .expect("settings");
    let org_update = |m: &ServerMessage| match m {
        ServerMessage::Frame(ServerFrame::OrgUpdated { settings }) => Some(settings.clone()),
        _ => None,
    };
    for session in [&mut adas_laptop, &mut adas_phone, &mut bobs, &mut caras] {
        assert_eq!(next_matching(session, org_update).await, settings);
    }
    let id = super::dm(&ada.client, bob.id).await;
    let report = b"quarterly numbers\n".repeat(1000);
    let upload = on(0, &ada)
        .upload_file("report.txt", &report)
        .await
        .expect("upload through node 1");
    super::files::attach(&on(0, &ada), id, &[upload.id], "the report")
        .await
        .expect("send");
    for n in 1..3 {
        let file = on(n, &bob)
            .file(upload.id)
            .await
            .expect("download through another node");
        assert!(file.body == report);
    }
    // A link signed by one node holds on the others.
    let link = on(0, &bob)
        .file_links(&[upload.id])
        .await
        .expect("links")
        .links[0]
        .url
        .replace(&cluster.nodes[0].url(), &cluster.nodes[2].url());
    let through_link = on(2, &bob).get_url(&link).await.expect("the link");
    assert_eq!(through_link.status, 200);
    assert!(through_link.body == report);
}

/// Steady traffic into one group: senders post through the balancer with nonces and retry until
/// acknowledged; each member's session records every message it is shown.
struct Traffic {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    senders: Vec<tokio::task::JoinHandle<()>>,
    receivers: Vec<Receiver>,
}

/// One member's session task, and the texts of the messages it was shown.
struct Receiver {
    user_id: UserId,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Traffic {
    async fn start(cluster: &Cluster, members: &[TestUser], group_id: ConversationId) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let mut receivers = Vec::new();
        for (n, member) in members.iter().enumerate() {
            let mut session = session_on(cluster, n % NODES, member).await;
            let seen = Arc::new(Mutex::new(Vec::new()));
            let (seen_here, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            let task = tokio::spawn(async move {
                loop {
                    match tokio::time::timeout(Duration::from_millis(200), session.next()).await {
                        Ok(Ok(message)) => {
                            if let Some(text) = message_text(&message) {
                                seen_here.lock().expect("lock").push(text);
                            }
                        }
                        Ok(Err(error)) => panic!("a session ended: {error:?}"),
                        Err(_) if stop.load(Ordering::Acquire) => {}
                        Err(_) => {}
                    }
                }
            });
            receivers.push(Receiver {
                user_id: member.id,
                seen,
                task,
            });
        }
        let senders = members
            .iter()
            .take(3)
            .enumerate()
            .map(|(s, member)| {
                let (client, stop, acked) =
                    (member.client.clone(), Arc::clone(&stop), Arc::clone(&acked));
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::Acquire) {
                        let text = format!("sender {s} message {i}");
                        // A request cut by a dying node may or may not have been stored: the same nonce
                        // makes the retry safe either way.
                        while client
                            .send_message(group_id, &text, Some(&text))
                            .await
                            .is_err()
                        {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        acked.lock().expect("lock").push(text);
                        i += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            acked,
            senders,
            receivers,
        }
    }

    /// Stops sending, then checks that every member got every acknowledged message exactly once.
    async fn finish(self, cluster: &Cluster) {
        self.stop.store(true, Ordering::Release);
        for sender in self.senders {
            sender.await.expect("a sender");
        }
        let acked = self.acked.lock().expect("lock").clone();
        assert!(acked.len() > 50, "traffic flowed: {} messages", acked.len());
        let deadline = tokio::time::Instant::now() + DELIVERY_PATIENCE;
        for Receiver {
            user_id,
            seen,
            task,
        } in &self.receivers
        {
            loop {
                let counts = {
                    let seen = seen.lock().expect("lock");
                    let mut counts: HashMap<String, usize> = HashMap::new();
                    for text in seen.iter() {
                        *counts.entry(text.clone()).or_default() += 1;
                    }
                    counts
                };
                let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
                assert!(
                    twice.is_empty(),
                    "user {user_id} got messages twice: {twice:?}"
                );
                let missing: Vec<&String> =
                    acked.iter().filter(|t| !counts.contains_key(*t)).collect();
                if missing.is_empty() {
                    break;
                }
                assert!(
                    !task.is_finished(),
                    "user {user_id}'s session ended early (see its panic above)"
                );
                if tokio::time::Instant::now() > deadline {
                    panic!(
                        "user {user_id} never got {} of {} acknowledged messages, e.g. {:?}\n{}",
                        missing.len(),
                        acked.len(),
                        &missing[..missing.len().min(5)],
                        cluster.logs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            task.abort();
        }
    }
}

async fn group_of_six(cluster: &Cluster) -> (Vec<TestUser>, ConversationId) {
    let mut members = Vec::new();
    for name in ["Ada", "Bob", "Cara", "Dan", "Eve", "Fay"] {
        members.push(cluster.user_in(name, "acme").await);
    }
    let others: Vec<UserId> = members[1..].iter().map(|m| m.id).collect();
    let group_id = group(&members[0].client, "steady", &others).await;
    (members, group_id)
}

/// `kill -9` of a node under steady traffic: its clients reconnect where the gateway sends them, resume,
/// and every member gets every acknowledged message once. Its users show offline elsewhere on their own.
async fn a_node_killed_under_traffic_loses_nothing(nats: Nats) {
    let Some(mut cluster) = cluster(nats).await else {
        return;
    };
    let (members, group_id) = group_of_six(&cluster).await;
    // Gus is only ever on node 2, with a plain socket that does not reconnect; Ada follows him.
    let gus = cluster.user_in("Gus", "acme").await;
    let gus_socket = gus
        .client
        .connect_at(&cluster.nodes[1].websocket_url(), None)
        .await
        .expect("Gus connects to node 2");
    let mut watcher = session_on(&cluster, 0, &members[0]).await;
    presence_sub(&mut watcher, gus.id).await;

    let traffic = Traffic::start(&cluster, &members, group_id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.kill_node(1).await;
    let offline = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let ServerMessage::Frame(ServerFrame::PresenceUpdated {
                user_id,
                online: false,
                ..
            }) = watcher.next().await.expect("the watcher's session")
                && user_id == gus.id
            {
                return;
            }
        }
    })
    .await;
    assert!(
        offline.is_ok(),
        "Gus shows offline within 30 s of his node's death"
    );
    cluster.wait_for_nodes(NODES - 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    traffic.finish(&cluster).await;
    drop(gus_socket);

    // The gateway now sends nobody to the dead node.
    for member in &members {
        let url = member.client.gateway().await.expect("gateway").url;
        assert_ne!(url, cluster.nodes[1].websocket_url());
    }
}

/// Every node restarts in turn (SIGTERM, then started again) under steady traffic: nothing is lost.
async fn a_rolling_restart_loses_nothing(nats: Nats) {
    let Some(mut cluster) = cluster(nats).await else {
        return;
    };
    let (members, group_id) = group_of_six(&cluster).await;
    let traffic = Traffic::start(&cluster, &members, group_id).await;
    for n in 0..NODES {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster.stop_node(n).await;
        cluster.start_node(n).await;
    }
    cluster.wait_for_nodes(NODES).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    traffic.finish(&cluster).await;
}

/// NATS stops and starts again under steady traffic: the nodes keep serving their own users meanwhile,
/// reconnect to it, and every member still gets every acknowledged message once.
async fn a_nats_restart_loses_nothing(nats: Nats) {
    let Some(mut cluster) = cluster(nats).await else {
        return;
    };
    let (members, group_id) = group_of_six(&cluster).await;
    let traffic = Traffic::start(&cluster, &members, group_id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.nats.kill_all().await;
    // Without NATS the store still answers, so sends go on; readiness reports the missing bus.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ready = Client::new(&cluster.nodes[0].url())
        .expect("node URL")
        .text(&["readyz"])
        .await;
    assert!(ready.is_err(), "a node without its bus is not ready");
    cluster.nats.resume_all().await;
    cluster.wait_for_nodes(NODES).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    traffic.finish(&cluster).await;
}

/// One of three NATS servers is killed under steady traffic: the node on it moves to another, and every
/// member still gets every acknowledged message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_server_killed_under_traffic_loses_nothing() {
    let Some(mut cluster) = cluster(THREE_SERVERS).await else {
        return;
    };
    let (members, group_id) = group_of_six(&cluster).await;
    let traffic = Traffic::start(&cluster, &members, group_id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Node 2's own server.
    cluster.nats.servers[1].kill().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = Client::new(&cluster.nodes[1].url())
        .expect("node URL")
        .text(&["readyz"])
        .await;
    assert!(ready.is_ok(), "node 2 is ready again on another server");
    traffic.finish(&cluster).await;
}

/// More connections than a node has store connections, each with a send in flight, when the bus lags and
/// every one of them catches up from the store at once (here: NATS restarts). Each op runs on its own task,
/// so an op waiting for a store connection never sits unpolled behind its connection's catch-up. When it
/// did, the catch-ups and the ops of a few connections held every store connection between them, the
/// node stalled until the pool's 10-second wait ran out, and the catch-ups failed, closing the sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn everyone_catching_up_at_once_does_not_stall_the_sends_in_flight() {
    const SENDERS: usize = 80;
    let config = format!("{CONFIG}\nws_ops_per_second = 1000");
    let Some(mut cluster) =
        Cluster::start(Path::new(env!("CARGO_BIN_EXE_parley")), 1, &config).await
    else {
        return;
    };
    let mut users = Vec::new();
    for n in 0..SENDERS {
        users.push(cluster.user_in(&format!("Sender {n}"), "acme").await);
    }
    let others: Vec<UserId> = users[1..].iter().map(|u| u.id).collect();
    let group_id = group(&users[0].client, "busy", &others).await;
    let stop = Arc::new(AtomicBool::new(false));
    let url = cluster.nodes[0].websocket_url();
    let mut senders = Vec::new();
    for (s, user) in users.iter().enumerate() {
        let mut socket = user.client.connect_at(&url, None).await.expect("connects");
        let stop = Arc::clone(&stop);
        senders.push(tokio::spawn(async move {
            let mut acked = 0u32;
            while !stop.load(Ordering::Acquire) {
                let reference = acked.to_string();
                let op = ClientOp::Send {
                    reference: Some(reference.clone()),
                    conversation_id: group_id,
                    text: format!("sender {s} message {acked}"),
                    nonce: Some(format!("{s}-{acked}")),
                    mentions: None,
                    thread_root_id: None,
                    also_to_conversation: None,
                    quote: None,
                    attachments: Vec::new(),
                };
                socket.send(&op).await.map_err(|e| format!("send: {e}"))?;
                let answered = tokio::time::timeout(Duration::from_secs(30), async {
                    loop {
                        match socket.next().await {
                            Some(Ok(Incoming::Message(ServerMessage::Frame(
                                ServerFrame::Ack {
                                    reference: Some(r), ..
                                },
                            )))) if r == reference => return Ok(()),
                            Some(Ok(Incoming::Message(ServerMessage::Frame(
                                ServerFrame::Error { code, message, .. },
                            )))) => return Err(format!("op failed: {code} {message}")),
                            Some(Ok(Incoming::Closed { code, reason })) => {
                                return Err(format!("closed: {code} {reason}"));
                            }
                            Some(Err(error)) => return Err(format!("socket: {error}")),
                            None => return Err("the socket ended".to_owned()),
                            Some(Ok(_)) => {}
                        }
                    }
                })
                .await
                .map_err(|_| "no answer in 30 s".to_owned())?;
                answered?;
                acked += 1;
            }
            Ok::<u32, String>(acked)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.nats.kill_all().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.nats.resume_all().await;
    cluster.wait_for_nodes(1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Release);
    for (s, sender) in senders.into_iter().enumerate() {
        match sender.await.expect("a sender task") {
            Ok(acked) => assert!(acked > 0, "sender {s} got no ack"),
            Err(failure) => panic!("sender {s}: {failure}\n{}", cluster.logs()),
        }
    }
}

/// `/readyz` follows the store: 503 while PostgreSQL cannot be reached (the network to it cut), and ready
/// again once it can, without a restart; meanwhile requests get the API's error shape, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_follows_the_store() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let mut gate = Gate::open(schema.server()).await;
    let url = schema.store_url_via(gate.port);
    let server = TestServer::spawn_with(|config| config.store = Some(url)).await;
    let client = server.client();
    let ada = server.user("Ada").await;
    assert_eq!(client.text(&["readyz"]).await.expect("ready"), "ready");

    gate.cut().await;
    let refused = tokio::time::timeout(Duration::from_secs(15), client.text(&["readyz"])).await;
    let refused = refused.expect("readiness answers while the store is away");
    assert_eq!(refused.expect_err("not ready").status(), Some(503));
    let me = tokio::time::timeout(Duration::from_secs(15), ada.client.me()).await;
    let error = me
        .expect("a request answers")
        .expect_err("the store is away");
    assert!(
        error.code().is_some(),
        "in the API's error shape: {error:?}"
    );

    gate.reopen().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while client.text(&["readyz"]).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ready again once the store is back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ada.client.me().await.expect("requests work again");
    drop(schema);
}

/// The status of a failed call answered in the API's error shape (`None` if it succeeded or has no shape).
fn status<T>(result: Result<T, parley_client::Error>) -> Option<Option<u16>> {
    result.err().and_then(|e| e.code().map(|_| e.status()))
}

/// On PostgreSQL, which refuses a NUL in text, hostile text is still the client's error (400, 401 or 404 in
/// the API's error shape), never a 500: every field a client can fill reaches the store clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn control_characters_never_reach_postgres() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let url = schema.store_url();
    let server = TestServer::spawn_with(|config| config.store = Some(url)).await;
    let ada = server.user("Ada").await;
    let signup = parley_proto::v1::SignupRequest {
        name: "Nul".to_owned(),
        email: "nul\u{0}@example.org".to_owned(),
        password: parley_testkit::PASSWORD.to_owned(),
        username: "nul".to_owned(),
        org: None,
        invite: None,
    };
    assert_eq!(
        status(server.client().signup(&signup).await),
        Some(Some(400))
    );
    let long = "a".repeat(10_000);
    for (login, org) in [
        ("ada\u{0}", None),
        ("a\u{0}@example.org", None),
        ("ada", Some("acme\u{0}")),
        (long.as_str(), None),
    ] {
        let request = parley_proto::v1::LoginRequest {
            login: login.to_owned(),
            password: parley_testkit::PASSWORD.to_owned(),
            org: org.map(str::to_owned),
        };
        assert_eq!(
            status(server.client().login(&request).await),
            Some(Some(401)),
            "{login:?}"
        );
    }
    assert_eq!(
        status(ada.client.search_users("a\u{0}").await),
        Some(Some(400))
    );
    assert_eq!(status(ada.client.channels("a\u{0}").await), Some(Some(400)));
    assert_eq!(
        status(ada.client.join_by_handle("a\u{0}b").await),
        Some(Some(404))
    );
    drop(server);
    drop(schema);
}

/// Notifications on a cluster: each shard of users is dispatched by one node at a time, and when a node is
/// killed under load another takes its shards over from their cursors. Afterwards each person was told of
/// every message in their DM, and a notification came twice only if it was in flight at the kill.
async fn notifications_survive_a_node_killed_under_load(nats: Nats) {
    use crate::crashes::{sender, whole_history};
    use crate::notifications::{IN_FLIGHT, subscribed_phone, told_of_every_message};
    use parley_testkit::push_service::PushService;

    let Some(push) = PushService::start().await else {
        return;
    };
    let config = format!(
        "{CONFIG}\npush_delay_seconds = 0\npush_allow_http = true\npush_allow_private = true"
    );
    let Some(mut cluster) = Cluster::start_on(
        nats,
        Path::new(env!("CARGO_BIN_EXE_parley")),
        NODES,
        &config,
    )
    .await
    else {
        return;
    };
    let writer = cluster.user_in("Writer", "acme").await;
    let mut away = Vec::new();
    for n in 0..6 {
        let person = cluster.user_in(&format!("Away {n}"), "acme").await;
        let phone = subscribed_phone(&push, &person.client).await;
        away.push((crate::dm(&writer.client, person.id).await, phone));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = away
        .iter()
        .enumerate()
        .map(|(n, (dm, _))| tokio::spawn(sender(writer.client.clone(), *dm, n, Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.kill_node(1).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Release);
    for sender in senders {
        sender.await.expect("a sender");
    }
    let mut doubled = 0;
    for (dm, phone) in &away {
        let messages = whole_history(&writer.client, *dm).await.len();
        assert!(messages > 10, "the load was real: {messages} messages");
        doubled += told_of_every_message(&push, phone, *dm, messages).await;
    }
    assert!(
        doubled <= IN_FLIGHT,
        "{doubled} notifications came twice: more than were in flight at the kill"
    );
}
