//! Moving an organization to another shard while it is in use (`parley admin move-org`, issue 20): two
//! shards as two databases of a PostgreSQL server of the test's own (`wal_level = logical`), and a node on
//! them (one: nodes of a cluster share an S3 store, which these tests need not start). Senders keep sending in the moving organization and in another, a receiver keeps resuming, and
//! the move copies, holds, switches and cleans up underneath: nothing acknowledged is lost or doubled,
//! and the receiver gets every message once.

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parley_client::{Backoff, Client, Session};
use parley_proto::ConversationId;
use parley_proto::v1::{Event, LoginRequest, ServerMessage};
use parley_testkit::replication::PgPair;
use parley_testkit::{PASSWORD, TestServer, TestUser};

use crate::crashes::whole_history;
use crate::group;

/// How far apart a shard's ids are (`parley_core::store::ID_STEP`).
const STEP: i64 = 1024;

/// Two shards (databases `shard0` and `shard1` of one server) and a node on them.
struct Shards {
    pg: PgPair,
    urls: [String; 2],
    node: TestServer,
}

async fn two_shards() -> Option<Shards> {
    let pg = PgPair::start_primary().await?;
    pg.on_primary("CREATE DATABASE shard0").await;
    pg.on_primary("CREATE DATABASE shard1").await;
    let urls = [pg.urls_of("shard0").0, pg.urls_of("shard1").0];
    let (first, second) = (urls[0].clone(), urls[1].clone());
    let node = TestServer::spawn_with(move |config| {
        config.store = Some(first);
        config.store_shards = vec![second];
    })
    .await;
    Some(Shards { pg, urls, node })
}

impl Shards {
    /// `parley admin move-org` with `args`, on these shards.
    async fn admin(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_parley"))
            .args([
                "admin",
                "--store",
                &self.urls[0],
                "--store-shard",
                &self.urls[1],
            ])
            .arg("move-org")
            .args(args)
            .output()
            .await
            .expect("parley admin move-org")
    }

    async fn count(&self, shard: usize, sql: &str) -> i64 {
        self.pg.count_in(&format!("shard{shard}"), sql).await
    }

    fn through(&self, user: &TestUser) -> Client {
        self.node
            .client()
            .with_token(user.client.token().unwrap_or_default())
    }
}

fn succeeded(output: &Output) -> String {
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    said
}

fn failed(output: &Output, why: &str) {
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains(why), "{said}");
}

/// Sends `prefix N` into `id` through `client` until `stop`, each retried with its nonce until it is
/// acknowledged (a send refused during the hold is tried again); answers the texts acknowledged.
fn keep_sending(
    client: Client,
    id: ConversationId,
    prefix: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut sent = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Acquire) {
            let text = format!("{prefix} {n}");
            loop {
                match client.send_message(id, &text, Some(&text)).await {
                    Ok(_) => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            sent.push(text);
            n += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sent
    })
}

/// A resuming session of `client`'s, and the texts of the messages it hears.
async fn listen(
    client: Client,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(200));
    let mut session = Session::start(client, None, backoff)
        .await
        .expect("a session");
    let (heard, texts) = tokio::sync::mpsc::unbounded_channel();
    let listening = tokio::spawn(async move {
        while let Ok(message) = session.next().await {
            if let ServerMessage::Event(frame) = message
                && let Event::MessageCreated { message, .. } = frame.event
            {
                let _ = heard.send(message.text.unwrap_or_default());
            }
        }
    });
    (listening, texts)
}

/// Waits until `heard` brought as many messages as `sent`, and then a moment more: each of `sent` once.
async fn heard_once(mut heard: tokio::sync::mpsc::UnboundedReceiver<String>, sent: &[String]) {
    let mut texts = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while texts.len() < sent.len() {
            texts.push(heard.recv().await.expect("still listening"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("heard {} of {}", texts.len(), sent.len()));
    // Any copy that comes late.
    while let Ok(Some(text)) = tokio::time::timeout(Duration::from_millis(300), heard.recv()).await
    {
        texts.push(text);
    }
    let counts = counted(&texts);
    assert!(counts.values().all(|n| *n == 1), "doubled: {counts:?}");
    assert_eq!(counts, counted(sent));
}

/// Every text in `id`'s history, oldest first.
async fn history(client: &Client, id: ConversationId) -> Vec<String> {
    whole_history(client, id)
        .await
        .into_iter()
        .filter_map(|message| message.text)
        .collect()
}

fn counted(texts: &[String]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for text in texts {
        *counts.entry(text.as_str()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_organization_moves_under_load_and_loses_nothing() {
    let Some(shards) = two_shards().await else {
        return;
    };
    let first = &shards.node;
    let ada = first.user_in("Ada", Some("acme")).await;
    let bob = first.user_in("Bob", Some("acme")).await;
    let carl = first.user_in("Carl", Some("globex")).await;
    let dana = first.user_in("Dana", Some("globex")).await;
    let acme = ada.client.me().await.expect("me").org_id;
    assert_eq!(acme.0.rem_euclid(STEP), 0, "acme starts on the first shard");
    let planning = group(&ada.client, "planning", &[bob.id]).await;
    let sales = group(&carl.client, "sales", &[dana.id]).await;
    ada.client
        .send_message(planning, "the zebra plan", None)
        .await
        .expect("send");

    // Bob and Dana listen, resuming whenever they are told to reconnect.
    let (bob_listens, bob_heard) = listen(shards.through(&bob)).await;
    let (dana_listens, dana_heard) = listen(shards.through(&dana)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let acme_sender = keep_sending(shards.through(&ada), planning, "acme", Arc::clone(&stop));
    let globex_sender = keep_sending(shards.through(&carl), sales, "globex", Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let said = succeeded(&shards.admin(&["acme", "--to", "1"]).await);
    assert!(said.contains("moved acme to shard 1"), "{said}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Release);
    let mut acme_sent = acme_sender.await.expect("sender");
    let globex_sent = globex_sender.await.expect("sender");
    assert!(acme_sent.len() > 10, "{}", acme_sent.len());

    // Everything acknowledged is there once, in the order it was sent, and found where it is now.
    let found = shards
        .through(&bob)
        .search("zebra", None)
        .await
        .expect("search");
    assert_eq!(found.len(), 1, "{found:?}");
    acme_sent.insert(0, "the zebra plan".to_owned());
    assert_eq!(history(&shards.through(&bob), planning).await, acme_sent);
    assert_eq!(history(&shards.through(&dana), sales).await, globex_sent);
    // Each listener heard each message of their conversation once.
    heard_once(bob_heard, &acme_sent[1..]).await;
    heard_once(dana_heard, &globex_sent).await;
    bob_listens.abort();
    dana_listens.abort();

    // Acme lives on the second shard now: what it makes there says so, and logins find it.
    let after = shards
        .through(&ada)
        .send_message(planning, "after the move", None)
        .await
        .expect("send after the move");
    assert_eq!(after.value.id.0.rem_euclid(STEP), 1);
    assert!(after.value.id.0 > planning.0);
    let again = first
        .client()
        .login(&LoginRequest {
            login: format!("{}@example.org", ada.username),
            password: PASSWORD.to_owned(),
            org: None,
        })
        .await
        .expect("login by email");
    assert_eq!(again.user_id, ada.id);
    // The first shard kept nothing of it, nor of the move.
    let acme_id = acme.0;
    assert_eq!(
        shards
            .count(
                0,
                &format!("SELECT count(*) FROM users WHERE org_id = {acme_id}")
            )
            .await,
        0
    );
    assert_eq!(
        shards
            .count(
                0,
                &format!(
                    "SELECT count(*) FROM messages WHERE conversation_id = {}",
                    planning.0
                )
            )
            .await,
        0
    );
    assert_eq!(
        shards.count(0, "SELECT count(*) FROM pg_publication").await,
        0
    );
    assert_eq!(
        shards
            .count(
                0,
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'org_move_guard'"
            )
            .await,
        0
    );
    assert_eq!(
        shards
            .count(1, "SELECT count(*) FROM pg_subscription")
            .await,
        0
    );

    // Moving it where it is, or somewhere that is not, or something that is not, is refused.
    failed(
        &shards.admin(&["acme", "--to", "1"]).await,
        "is on shard 1 already",
    );
    failed(
        &shards.admin(&["acme", "--to", "7"]).await,
        "there is no shard 7",
    );
    failed(
        &shards.admin(&["nobody", "--to", "0"]).await,
        "no organization",
    );
    failed(&shards.admin(&["acme", "--to", "x"]).await, "invalid value");
    drop(shards.pg);
}

/// A move is stopped after its copy started, undone (the target has nothing of the organization and the
/// source is as it was), started and stopped again, and resumed to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_stops_resumes_and_undoes() {
    let Some(shards) = two_shards().await else {
        return;
    };
    let first = &shards.node;
    let ada = first.user_in("Ada", Some("acme")).await;
    let bob = first.user_in("Bob", Some("acme")).await;
    let planning = group(&ada.client, "planning", &[bob.id]).await;
    for n in 0..20 {
        ada.client
            .send_message(planning, &format!("before {n}"), None)
            .await
            .expect("send");
    }

    succeeded(&shards.admin(&["acme", "--to", "1", "--stop"]).await);
    assert_eq!(
        shards
            .count(1, "SELECT count(*) FROM pg_subscription")
            .await,
        1
    );
    // Stopped, the organization goes on where it is.
    ada.client
        .send_message(planning, "while stopped", None)
        .await
        .expect("send while stopped");

    succeeded(&shards.admin(&["acme", "--to", "1", "--undo"]).await);
    assert_eq!(
        shards
            .count(1, "SELECT count(*) FROM pg_subscription")
            .await,
        0
    );
    assert_eq!(shards.count(1, "SELECT count(*) FROM messages").await, 0);
    assert_eq!(shards.count(1, "SELECT count(*) FROM users").await, 0);
    assert_eq!(
        shards
            .count(0, "SELECT count(*) FROM pg_replication_slots")
            .await,
        0
    );
    assert_eq!(shards.count(0, "SELECT count(*) FROM org_moves").await, 0);
    assert_eq!(
        shards
            .count(
                0,
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'org_move_guard'"
            )
            .await,
        0
    );
    ada.client
        .send_message(planning, "after the undo", None)
        .await
        .expect("send after the undo");

    succeeded(&shards.admin(&["acme", "--to", "1", "--stop"]).await);
    ada.client
        .send_message(planning, "stopped again", None)
        .await
        .expect("send");
    let said = succeeded(&shards.admin(&["acme", "--to", "1"]).await);
    assert!(said.contains("moved acme to shard 1"), "{said}");
    failed(
        &shards.admin(&["acme", "--to", "1", "--undo"]).await,
        "is on shard 1 already",
    );

    let texts = history(&ada.client, planning).await;
    assert_eq!(texts.len(), 23, "{texts:?}");
    assert_eq!(texts.last().map(String::as_str), Some("stopped again"));
    assert_eq!(shards.count(0, "SELECT count(*) FROM messages").await, 0);
    drop(shards.pg);
}
