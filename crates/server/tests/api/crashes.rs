//! `kill -9` under load, several times over: every message the server acknowledged is there exactly once
//! afterwards, and every receiver, resuming from its cursor after each crash, gets every event once, in
//! order. The real binary on the embedded store, killed and restarted on the same data directory.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parley_client::proto::v1::{Event, ServerMessage};
use parley_client::{Backoff, Client, Page, Session};
use parley_proto::{ConversationId, Cursor, MessageId};
use parley_testkit::TestUser;

use crate::group;
use crate::process::Process;

/// Senders, each sending one message after another (a retry keeps its nonce), and receivers.
const SENDERS: usize = 4;
const RECEIVERS: usize = 2;
const CRASHES: usize = 3;
/// Load between two crashes.
const BETWEEN_CRASHES: Duration = Duration::from_millis(1_500);

/// The binary on `data`, listening on `port` (the same across restarts, so clients come back to it).
fn start(data: &std::path::Path, port: u16) -> (Process, String) {
    start_with(data, port, "")
}

/// The same, with `extra` (TOML) in its configuration.
fn start_with(data: &std::path::Path, port: u16, extra: &str) -> (Process, String) {
    let config = data.join("parley.toml");
    // Sends are limited per user; this test measures durability, not the limit.
    std::fs::write(
        &config,
        format!(
            "sends_per_second = 1000000\nsends_burst = 1000000\nsignups_per_address_per_hour = 1000000\n{extra}"
        ),
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .args([
            "serve",
            "--log-json",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(&config)
        // Its log goes to a pipe nobody reads after start: little of it.
        .env("RUST_LOG", "warn,parley=info");
    Process::spawn(command)
}

/// Sends message after message, each with its own nonce, retrying a failed send with the same nonce until
/// the server answers, until `stop`; returns what was acknowledged, by nonce.
pub(crate) async fn sender(
    client: Client,
    id: ConversationId,
    name: usize,
    stop: Arc<AtomicBool>,
) -> BTreeMap<String, MessageId> {
    let mut acknowledged = BTreeMap::new();
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        let nonce = format!("s{name}-{n}");
        loop {
            match client.send_message(id, &nonce, Some(&nonce)).await {
                Ok(created) => {
                    acknowledged.insert(nonce.clone(), created.value.id);
                    break;
                }
                // The server is down or restarting: the same nonce again, so a send that did commit is not
                // stored twice.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        n += 1;
    }
    acknowledged
}

/// Takes every event a session yields until `stop` and then until it has seen every message in `wanted`;
/// returns the cursors in arrival order and the messages created.
async fn receiver(
    mut session: Session,
    id: ConversationId,
    stop: Arc<AtomicBool>,
    wanted: tokio::sync::watch::Receiver<Option<BTreeSet<MessageId>>>,
) -> (Vec<Cursor>, Vec<MessageId>) {
    let (mut cursors, mut messages) = (Vec::new(), Vec::new());
    loop {
        if stop.load(Ordering::Acquire)
            && let Some(wanted) = wanted.borrow().as_ref()
        {
            let seen: BTreeSet<MessageId> = messages.iter().copied().collect();
            if wanted.is_subset(&seen) {
                return (cursors, messages);
            }
        }
        let next = tokio::time::timeout(Duration::from_millis(200), session.next()).await;
        match next {
            Err(_) => continue,
            Ok(Err(error)) => panic!("the session ended: {error:?}"),
            Ok(Ok(ServerMessage::Event(frame))) => {
                cursors.push(frame.cursor);
                if let Event::MessageCreated {
                    conversation_id,
                    message,
                } = frame.event
                    && conversation_id == id
                {
                    messages.push(message.id);
                }
            }
            Ok(Ok(ServerMessage::Frame(_))) => {}
        }
    }
}

/// Every message of the conversation, oldest first.
pub(crate) async fn whole_history(
    reader: &Client,
    id: ConversationId,
) -> Vec<parley_client::proto::v1::Message> {
    let mut history = Vec::new();
    let mut before = None;
    loop {
        let page = Page {
            before,
            limit: Some(200),
            ..Page::default()
        };
        let older = reader.history(id, page).await.expect("history");
        let Some(first) = older.first() else {
            break;
        };
        before = Some(first.id);
        history.splice(0..0, older);
    }
    history
}

async fn sign_up(url: &str, name: &str) -> TestUser {
    let client = Client::new(url).expect("a client");
    parley_testkit::sign_up(&client, name, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_and_doubles_nothing() {
    let data = tempfile::tempdir().expect("a data directory");
    let port = parley_testkit::ports::free_port();
    let (mut server, url) = start(data.path(), port);

    let mut people = Vec::new();
    for n in 0..SENDERS + RECEIVERS {
        people.push(sign_up(&url, &format!("Person {n}")).await);
    }
    let others: Vec<_> = people[1..].iter().map(|p| p.id).collect();
    let id = group(&people[0].client, "Crash test", &others).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (wanted, wanted_seen) = tokio::sync::watch::channel(None);
    let mut receivers = Vec::new();
    for person in &people[SENDERS..] {
        let session = Session::start(person.client.clone(), None, Backoff::default())
            .await
            .expect("a session");
        receivers.push(tokio::spawn(receiver(
            session,
            id,
            Arc::clone(&stop),
            wanted_seen.clone(),
        )));
    }
    let senders: Vec<_> = people[..SENDERS]
        .iter()
        .enumerate()
        .map(|(n, person)| tokio::spawn(sender(person.client.clone(), id, n, Arc::clone(&stop))))
        .collect();

    for _ in 0..CRASHES {
        tokio::time::sleep(BETWEEN_CRASHES).await;
        server.kill9();
        server = start(data.path(), port).0;
    }
    tokio::time::sleep(BETWEEN_CRASHES).await;
    stop.store(true, Ordering::Release);
    let mut acknowledged = BTreeMap::new();
    for sender in senders {
        acknowledged.extend(sender.await.expect("a sender"));
    }
    assert!(
        acknowledged.len() > 50,
        "the load was real: {} acknowledged",
        acknowledged.len()
    );

    // Every acknowledged message is in the history exactly once, and nothing else is.
    let history = whole_history(&people[0].client, id).await;
    let ids: Vec<MessageId> = history.iter().map(|m| m.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow");
    let stored: BTreeMap<String, MessageId> = history
        .iter()
        .map(|m| (m.nonce.clone().unwrap_or_default(), m.id))
        .collect();
    assert_eq!(stored.len(), history.len(), "no nonce stored twice");
    for (nonce, id) in &acknowledged {
        assert_eq!(
            stored.get(nonce),
            Some(id),
            "acknowledged {nonce} is stored as answered"
        );
    }
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "only acknowledged messages (each sender waited for its answer)"
    );

    // Every receiver saw each event once, in cursor order, and every message.
    let every: BTreeSet<MessageId> = acknowledged.values().copied().collect();
    wanted.send_replace(Some(every.clone()));
    let started = Instant::now();
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!("{} acknowledged across {CRASHES} kills", acknowledged.len());
    }
    for receiver in receivers {
        let (cursors, messages) = tokio::time::timeout(Duration::from_secs(60), receiver)
            .await
            .expect("the receiver caught up")
            .expect("a receiver");
        assert!(
            cursors.windows(2).all(|w| w[0] < w[1]),
            "each event once, in order"
        );
        let seen: BTreeSet<MessageId> = messages.iter().copied().collect();
        assert_eq!(seen.len(), messages.len(), "no message twice");
        assert_eq!(seen, every, "every message, and none other");
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(server.terminate().success());
}

/// People away, each with a Web Push subscription and a DM that a sender keeps writing in.
const AWAY: usize = 6;
use crate::notifications::IN_FLIGHT;

/// `kill -9` while notifications are being dispatched, three times: afterwards, each person was told of every
/// message in their DM (the counts of the distinct notifications they got add up to their DM's messages),
/// and a notification came twice only if it was in flight at a kill (and then with the same id, which the
/// receiver collapses).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_dispatch_tells_everyone_of_everything_once() {
    use crate::notifications::{subscribed_phone, told_of_every_message};
    use parley_testkit::push_service::PushService;

    let Some(push) = PushService::start().await else {
        return;
    };
    let data = tempfile::tempdir().expect("a data directory");
    let port = parley_testkit::ports::free_port();
    let config = "push_delay_seconds = 0\npush_allow_http = true\npush_allow_private = true\n";
    let (mut server, url) = start_with(data.path(), port, config);

    let writer = sign_up(&url, "Writer").await;
    let mut away = Vec::new();
    for n in 0..AWAY {
        let person = sign_up(&url, &format!("Away {n}")).await;
        let phone = subscribed_phone(&push, &person.client).await;
        let dm = crate::dm(&writer.client, person.id).await;
        away.push((dm, phone));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = away
        .iter()
        .enumerate()
        .map(|(n, (dm, _))| tokio::spawn(sender(writer.client.clone(), *dm, n, Arc::clone(&stop))))
        .collect();
    for _ in 0..CRASHES {
        tokio::time::sleep(BETWEEN_CRASHES).await;
        server.kill9();
        server = start_with(data.path(), port, config).0;
    }
    tokio::time::sleep(BETWEEN_CRASHES).await;
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
        doubled <= CRASHES * IN_FLIGHT,
        "{doubled} notifications came twice: more than were in flight at the kills"
    );
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!("{doubled} notifications sent again after {CRASHES} kills");
    }
    assert!(server.terminate().success());
}
