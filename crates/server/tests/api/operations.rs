//! Health, readiness, metrics, the gateway address, and the real binary: configuration and clean shutdown.

use std::process::Command;

use parley_client::Client;
use parley_testkit::TestServer;

use crate::dm;
use crate::process::Process;

#[tokio::test]
async fn health_readiness_and_gateway() {
    let server = TestServer::spawn().await;
    let client = server.client();
    assert_eq!(client.text(&["healthz"]).await.expect("healthz"), "ok");
    assert_eq!(client.text(&["readyz"]).await.expect("readyz"), "ready");
    let ann = server.user("Ann").await;
    let gateway = ann.client.gateway().await.expect("gateway");
    assert_eq!(
        gateway.url,
        format!("{}/v1/ws", server.url.replacen("http", "ws", 1))
    );
}

#[tokio::test]
async fn metrics_count_requests_latency_and_messages() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    ann.client
        .send_message(id, "counted", None)
        .await
        .expect("send");
    let _ = ann
        .client
        .conversation(parley_proto::ConversationId(999_999))
        .await;
    let text = server.client().text(&["metrics"]).await.expect("metrics");
    let route =
        r#"route="/v1/conversations/{conversation_id}/messages",method="POST",status="201""#;
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_requests_total{") && l.contains(route)),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/conversations/{conversation_id}",method="GET",status="404""#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "latency histogram: {text}"
    );
    let stored = text
        .lines()
        .find(|l| l.starts_with("parley_messages_stored_total"))
        .expect("messages stored");
    let count: f64 = stored
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(count >= 1.0, "{stored}");
}

#[tokio::test]
async fn the_binary_reads_flags_environment_and_file_and_stops_cleanly_on_sigterm() {
    let data = tempfile::tempdir().expect("temporary directory");
    let config_file = data.path().join("parley.toml");
    let file_dir = data.path().join("from-file");
    std::fs::write(
        &config_file,
        format!(
            "data_dir = {:?}\nopen_signup = false\n",
            file_dir.display().to_string()
        ),
    )
    .expect("write config");
    let config_path = config_file.display().to_string();
    // The listen address comes from the environment, the rest from the file.
    let (process, url) = Process::start(
        &["serve", "--config", &config_path],
        &[("PARLEY_LISTEN", "127.0.0.1:0"), ("RUST_LOG", "info")],
    );
    let client = Client::new(&url).expect("client");
    assert_eq!(client.text(&["healthz"]).await.expect("healthz"), "ok");
    let request = parley_proto::v1::SignupRequest {
        name: "Ann".into(),
        email: "ann@example.org".into(),
        password: parley_testkit::PASSWORD.into(),
        username: "ann".into(),
        org: Some("closedco".into()),
        invite: None,
    };
    let refused = client
        .signup(&request)
        .await
        .expect_err("open_signup = false from the file");
    assert_eq!(refused.status(), Some(403));
    // The operator opens an organization for the first people, on the running server's store.
    let admin = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "admin",
            "--config",
            &config_path,
            "open-signup",
            "--org",
            "closedco",
            "--open",
        ])
        .output()
        .expect("parley admin");
    assert!(admin.status.success(), "{admin:?}");
    let session = client.signup(&request).await.expect("sign up");
    assert!(
        file_dir.join("parley.db").exists(),
        "data_dir from the file"
    );

    let status = process.terminate();
    assert!(status.success(), "exit 0 on SIGTERM, got {status:?}");

    // Everything acknowledged before the stop is there after a restart.
    let (process, url) = Process::start(
        &["serve", "--config", &config_path, "--listen", "127.0.0.1:0"],
        &[],
    );
    let me = Client::new(&url)
        .expect("client")
        .with_token(session.token)
        .me()
        .await
        .expect("session survived");
    assert_eq!(me.username, "ann");
    assert!(process.terminate().success());
}

/// Every connection is a file: started with a low soft limit, the server raises it to the hard one and says
/// so.
#[tokio::test]
async fn the_binary_raises_its_open_files_limit_to_the_hard_one() {
    let hard = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .expect("ulimit -Hn");
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_owned();
    let data = tempfile::tempdir().expect("temporary directory");
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "ulimit -Sn 256 && exec \"$0\" serve --listen 127.0.0.1:0 --log-json",
        ])
        .arg(env!("CARGO_BIN_EXE_parley"))
        .env("PARLEY_DATA_DIR", data.path());
    let mut process = Process::launch(command);
    let logged = process.wait_for("open files limit");
    process.listening();
    let log: serde_json::Value = serde_json::from_str(&logged).expect("JSON log line");
    let limit = log["fields"]["limit"].to_string();
    if hard == "unlimited" {
        assert!(limit.parse::<u64>().is_ok_and(|n| n > 256), "{limit}");
    } else {
        assert_eq!(limit, hard);
    }
    assert!(process.terminate().success());
}

#[tokio::test]
async fn a_server_that_cannot_start_says_why() {
    let output = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "mysql://nowhere",
        ])
        .env("PARLEY_DATA_DIR", tempfile::tempdir().expect("dir").path())
        .output()
        .expect("run parley");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unsupported store URL"), "{stderr}");
}

/// A NATS bus (plain or TLS) makes a node part of a cluster, whose nodes must share their store: with the
/// embedded one it refuses to start, saying so, rather than mixing every node's own cursors on one bus.
#[tokio::test]
async fn a_cluster_node_needs_a_shared_store() {
    for bus in ["nats://127.0.0.1:4222", "tls://127.0.0.1:4222"] {
        let output = Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(["serve", "--listen", "127.0.0.1:0", "--bus", bus])
            .env("PARLEY_DATA_DIR", tempfile::tempdir().expect("dir").path())
            .output()
            .expect("run parley");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("must share one PostgreSQL store"),
            "{bus}: {stderr}"
        );
    }
}

/// NATS credentials are a user with a password, a token, an NKey or a credentials file: half of one, or two
/// kinds, is refused at start with the reason, before anything is opened; an empty variable counts as not
/// set.
#[tokio::test]
async fn half_of_a_nats_login_is_refused_at_start() {
    let halves: [&[(&str, &str)]; 6] = [
        &[("PARLEY_NATS_USER", "parley")],
        &[("PARLEY_NATS_PASSWORD", "secret")],
        &[
            ("PARLEY_NATS_USER", "parley"),
            ("PARLEY_NATS_PASSWORD", ""),
            ("PARLEY_NATS_TOKEN", ""),
        ],
        &[
            ("PARLEY_NATS_USER", "parley"),
            ("PARLEY_NATS_PASSWORD", "secret"),
            ("PARLEY_NATS_TOKEN", "t"),
        ],
        &[
            ("PARLEY_NATS_TOKEN", "t"),
            ("PARLEY_NATS_NKEY", "/nonexistent/seed.nk"),
        ],
        &[
            ("PARLEY_NATS_NKEY", "/nonexistent/seed.nk"),
            ("PARLEY_NATS_CREDS", "/nonexistent/user.creds"),
        ],
    ];
    for half in halves {
        let stderr = refused_at_start(half).await;
        assert!(stderr.contains("NATS credentials are"), "{stderr}");
        assert!(
            !stderr.contains("secret"),
            "the password is in the log: {stderr}"
        );
    }
}

/// Read replicas and shards are PostgreSQL's: given with the embedded store, the server says so and does not
/// start, rather than ignore them; a shard's replica must name one of the shards.
#[tokio::test]
async fn replicas_or_shards_without_postgres_are_refused_at_start() {
    let url = "postgres://postgres@127.0.0.1:1/nothing";
    let stderr = refused_at_start(&[("PARLEY_STORE_REPLICAS", url)]).await;
    assert!(
        stderr.contains("read replicas (store_replicas)"),
        "{stderr}"
    );
    let stderr = refused_at_start(&[("PARLEY_STORE_SHARDS", url)]).await;
    assert!(stderr.contains("shards (store_shards)"), "{stderr}");
    // A shard's replica names a shard there is: 1 for the first of store_shards, and there is none here.
    for entry in [format!("1={url}"), url.to_owned(), format!("x={url}")] {
        let stderr = refused_at_start(&[("PARLEY_STORE_SHARD_REPLICAS", &entry)]).await;
        assert!(stderr.contains("store_shard_replicas entry 1"), "{stderr}");
    }
}

/// Starts `parley serve` (on the embedded store) with the variables `env`, and answers what it wrote to
/// stderr once it exited; fails if it did not, or did not fail.
async fn refused_at_start(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PARLEY_DATA_DIR", dir.path())
        .env_remove("PARLEY_BUS")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    // A node that wrongly starts would serve forever: the wait is bounded.
    let output = tokio::time::timeout(std::time::Duration::from_secs(20), command.output())
        .await
        .unwrap_or_else(|_| panic!("{env:?} started"))
        .expect("run parley");
    assert!(!output.status.success(), "{env:?} started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A NATS credentials file that cannot be read or holds no user JWT and seed, and a client certificate
/// without its key, are refused at start with the reason.
#[tokio::test]
async fn nats_files_that_cannot_serve_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let garbage = dir.path().join("garbage.creds");
    std::fs::write(&garbage, "nothing like a JWT\n").expect("write");
    let missing = dir.path().join("missing.creds");
    let (garbage, missing) = (garbage.display().to_string(), missing.display().to_string());
    let cases = [
        (
            "PARLEY_NATS_CREDS",
            &missing,
            "cannot read the NATS credentials file",
        ),
        ("PARLEY_NATS_CREDS", &garbage, "not a NATS credentials file"),
        ("PARLEY_NATS_CERT", &garbage, "goes with its private key"),
        ("PARLEY_NATS_KEY", &garbage, "goes with its private key"),
    ];
    for (variable, path, reason) in cases {
        let stderr = refused_at_start(&[(variable, path)]).await;
        assert!(stderr.contains(reason), "{stderr}");
    }
}
