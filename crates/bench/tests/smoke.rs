//! Every scenario at tiny sizes against a real server, so the tool never rots. Behaviour only (counts, no
//! loss, no duplicates), never timings.

use parley_bench::peek::Peek;
use parley_bench::procfs::Probe;
use parley_bench::scenarios::{
    bigchannel, catchup, connect, fanout, files, history, idle, ingest, pairs, storm,
};
use parley_bench::server_metrics::DeliveryHistogram;
use parley_bench::tag::Tag;
use parley_bench::{Accounts, Bench, Output, Report};
use parley_testkit::TestServer;

fn assert_nothing_lost(report: &Report) {
    assert_eq!(report.lost, Some(0), "{}", report.table());
    assert_eq!(report.duplicated, Some(0), "{}", report.table());
    assert_eq!(report.expected, report.delivered, "{}", report.table());
    assert_eq!(report.errors, 0, "{}", report.table());
}

#[test]
fn a_tag_survives_its_text() {
    let tag = Tag {
        run_id: 0xabc,
        sender: 7,
        seq: 42,
        scheduled: std::time::Duration::from_micros(1_500_000),
    };
    let text = tag.text(200);
    assert_eq!(text.len(), 200);
    assert_eq!(Tag::parse(&text, 0xabc), Some(tag));
    assert_eq!(Tag::parse(&text, 0xabd), None);
    assert_eq!(Tag::parse("hello", 0xabc), None);
}

#[test]
fn the_servers_histogram_is_read_over_a_run() {
    let before = DeliveryHistogram::parse(
        "# TYPE parley_ws_delivery_seconds histogram\n\
         parley_ws_delivery_seconds_bucket{le=\"0.001\"} 10\n\
         parley_ws_delivery_seconds_bucket{le=\"0.01\"} 10\n\
         parley_ws_delivery_seconds_bucket{le=\"+Inf\"} 10\n\
         parley_ws_delivery_seconds_sum 0.005\n\
         parley_ws_delivery_seconds_count 10\n",
    );
    let after = DeliveryHistogram::parse(
        "parley_ws_delivery_seconds_bucket{le=\"0.001\"} 10\n\
         parley_ws_delivery_seconds_bucket{le=\"0.01\"} 110\n\
         parley_ws_delivery_seconds_bucket{le=\"+Inf\"} 110\n\
         parley_ws_delivery_seconds_sum 0.505\n\
         other_metric 7\n",
    );
    let run = after.since(&before).expect("100 deliveries in the run");
    assert_eq!(run.count, 100);
    assert!((run.mean_ms - 5.0).abs() < 1e-9, "{run:?}");
    // All 100 fell between 1 and 10 ms: the median is interpolated halfway.
    assert!((run.p50_ms - 5.5).abs() < 1e-9, "{run:?}");
    assert!(run.p99_ms > 9.0 && run.p99_ms <= 10.0, "{run:?}");
    assert!(after.since(&after).is_none(), "nothing new, nothing to say");
    assert!(DeliveryHistogram::parse("").since(&before).is_none());
}

#[test]
fn a_peek_reads_what_the_bench_needs_from_any_frame() {
    let created = r#"{"cursor":"41","type":"message.created","conversation_id":"7","message":{"id":"9","conversation_id":"7","author_id":"3","text":"pb abc 1 2 3 \"quoted\"","nonce":null,"created_at":"2026-12-01T00:00:00Z","deleted":false,"reactions":[]}}"#;
    let peek = Peek::of(created);
    assert_eq!(peek.kind, "message.created");
    assert_eq!(peek.cursor.map(|c| c.0), Some(41));
    assert_eq!(
        peek.created_text().as_deref(),
        Some("pb abc 1 2 3 \"quoted\"")
    );

    let ack = r#"{"type":"ack","ref":"1","message":{"id":"9","text":"pb abc 1 2 3"}}"#;
    let peek = Peek::of(ack);
    assert_eq!(peek.kind, "ack");
    assert_eq!(peek.created_text(), None, "an ack is not a delivery");
    assert_eq!(peek.acked_text().as_deref(), Some("pb abc 1 2 3"));

    // An error's `message` is a string, not a message.
    let error =
        r#"{"type":"error","ref":"2","code":"rate_limited","message":"too many ops; slow down"}"#;
    let peek = Peek::of(error);
    assert_eq!(peek.kind, "error");
    assert_eq!(peek.code.as_deref(), Some("rate_limited"));

    let deleted =
        r#"{"cursor":"42","type":"message.deleted","conversation_id":"7","message_id":"9"}"#;
    let peek = Peek::of(deleted);
    assert_eq!(peek.cursor.map(|c| c.0), Some(42));
    assert_eq!(peek.created_text(), None);
    assert_eq!(peek.acked_text(), None);
    assert_eq!(Peek::of("not json").kind, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_at_tiny_sizes() {
    let server = TestServer::spawn().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let accounts_file = dir.path().join("accounts.json");
    // The test server runs in this process, so it is the process to sample.
    let probe = Probe::new(vec![std::process::id()]);
    let mut bench = Bench::new(
        server.client(),
        Accounts::load(&accounts_file, 4).expect("no accounts yet"),
        probe.clone(),
        Output::Quiet,
    );

    let report = fanout::run(
        &mut bench,
        &fanout::Fanout {
            members: 4,
            rate: 10.0,
            seconds: 1.0,
            size: 200,
            connect_concurrency: 4,
            via: fanout::Via::Rest,
        },
    )
    .await
    .expect("fanout runs");
    assert_nothing_lost(&report);
    assert_eq!((report.sent, report.scheduled), (10, Some(10)));
    assert_eq!(report.delivered, Some(40));
    assert!(report.latency.is_some_and(|l| l.count == 40));
    assert!(
        report.server_delivery.is_some_and(|d| d.count == 40),
        "the server's histogram counted the same 40 deliveries: {:?}",
        report.server_delivery
    );
    assert!(report.server.is_some_and(|s| s.rss_after_kib > 0));
    assert!(report.server_cpu_us_per_delivery.is_some());
    assert!(report.messages_per_second.is_some_and(|m| m > 0.0));
    assert!(report.json_line().starts_with("{\"scenario\":\"fanout\""));

    // A second bench reads the accounts the first one wrote, and signs up only the missing ones.
    let mut bench = Bench::new(
        server.client(),
        Accounts::load(&accounts_file, 4).expect("accounts file"),
        probe.clone(),
        Output::Quiet,
    );
    assert_eq!(bench.accounts.list.len(), 5);

    // Fan-out again (a new bench, so a new channel), over the sender's one socket: every op acked, and
    // each ack's latency recorded.
    let report = fanout::run(
        &mut bench,
        &fanout::Fanout {
            members: 3,
            rate: 20.0,
            seconds: 0.5,
            size: 200,
            connect_concurrency: 4,
            via: fanout::Via::Socket,
        },
    )
    .await
    .expect("fanout over a socket runs");
    assert_nothing_lost(&report);
    assert_eq!((report.sent, report.scheduled), (10, Some(10)));
    assert_eq!(report.delivered, Some(30));
    assert!(
        report.extra.contains_key("ack_p99_ms"),
        "{}",
        report.table()
    );
    assert!(!report.extra.contains_key("sender_failed"));

    let report = pairs::run(
        &mut bench,
        &pairs::Pairs {
            users: 4,
            rate: 5.0,
            seconds: 1.0,
            size: 100,
            connect_concurrency: 4,
        },
    )
    .await
    .expect("pairs runs");
    assert_nothing_lost(&report);
    assert_eq!((report.sent, report.scheduled), (20, Some(20)));
    assert_eq!(report.delivered, Some(20));

    let report = ingest::run(
        &mut bench,
        &ingest::Ingest {
            senders: 2,
            seconds: 0.5,
            size: 100,
            connect_concurrency: 4,
        },
    )
    .await
    .expect("ingest runs");
    assert_eq!(report.errors, 0);
    assert!(report.sent > 0);
    assert_eq!(report.latency.map(|l| l.count), Some(report.sent));

    let report = catchup::run(
        &mut bench,
        &catchup::Catchup {
            conversations: 3,
            messages: 20,
            repeats: 2,
            send_concurrency: 4,
            size: 100,
        },
    )
    .await
    .expect("catchup runs");
    assert_nothing_lost(&report);
    assert_eq!(report.delivered, Some(40));
    assert_eq!(report.latency.map(|l| l.count), Some(2));

    let report = history::run(
        &mut bench,
        &history::History {
            conversations: 2,
            messages: 5,
            limit: 3,
            concurrency: 2,
            seconds: 0.3,
            writes_per_second: 20,
            size: 50,
            primary_pid: None,
            replica_pid: None,
        },
    )
    .await
    .expect("history runs");
    assert_eq!(report.errors, 0, "{}", report.table());
    assert!(report.sent > 0, "writes ran beside the reads");
    assert!(
        report.latency.is_some_and(|l| l.count > 0),
        "{}",
        report.table()
    );

    let report = connect::run(
        &mut bench,
        &connect::Connect {
            sockets: 6,
            concurrency: 3,
        },
    )
    .await
    .expect("connect runs");
    assert_eq!((report.sent, report.errors), (6, 0));
    assert_eq!(report.latency.map(|l| l.count), Some(6));

    let report = idle::run(
        &mut bench,
        &idle::Idle {
            sockets: 6,
            seconds: 1.0,
            concurrency: 3,
        },
    )
    .await
    .expect("idle runs");
    assert_eq!((report.sent, report.errors), (6, 0));
    assert!(report.extra.contains_key("rss_per_connection_kib"));
    assert_eq!(bench.accounts.list.len(), 6);

    // Two groups (of ten and of two) miss 5 messages each, then all 12 users come back at once.
    let report = storm::run(
        &mut bench,
        &storm::Storm {
            users: 12,
            behind: 5,
            concurrency: None,
            send_concurrency: 2,
            size: 100,
        },
    )
    .await
    .expect("storm runs");
    assert_nothing_lost(&report);
    assert_eq!(report.sent, 10);
    assert_eq!(report.delivered, Some(12 * 5));
    assert_eq!(report.extra.get("users_caught_up"), Some(&12.0));
    assert_eq!(report.latency.map(|l| l.count), Some(12));

    // Two uploads of 1 MiB at once (one part each on the local store), checked by the server's SHA-256, then
    // each downloaded by the other member of a DM and checked byte by byte.
    let report = files::run(
        &mut bench,
        &files::Files {
            clients: 2,
            megabytes: 1,
            setup_concurrency: 2,
        },
    )
    .await
    .expect("files runs");
    assert_eq!((report.sent, report.errors), (2, 0), "{}", report.table());
    assert_eq!(report.latency.map(|l| l.count), Some(2));
    assert_eq!(report.extra.get("downloads_verified"), Some(&2.0));
    assert_eq!(report.extra.get("download_redirects"), Some(&0.0));
    assert_eq!(report.extra.get("cleanup_failures"), Some(&0.0));
    assert!(
        report
            .extra
            .get("upload_rss_peak_mib")
            .is_some_and(|&mib| mib > 0.0)
    );
    assert!(report.json_line().starts_with("{\"scenario\":\"files\""));

    // The channel outlives a run: the second one (a new bench, as each command is) finds it by its handle
    // and adds no one.
    for _ in 0..2 {
        let mut bench = Bench::new(
            server.client(),
            Accounts::load(&accounts_file, 4).expect("accounts file"),
            probe.clone(),
            Output::Quiet,
        );
        let report = bigchannel::run(
            &mut bench,
            &bigchannel::BigChannel {
                members: 8,
                connected: 3,
                rate: 10.0,
                seconds: 0.5,
                size: 100,
                connect_concurrency: 3,
            },
        )
        .await
        .expect("bigchannel runs");
        assert_nothing_lost(&report);
        assert_eq!(report.sent, 5);
        assert_eq!(report.delivered, Some(3 * 5));
    }
    let owner = server.client().with_token(&bench.accounts.list[0].token);
    let channels = owner.channels("").await.expect("channels");
    let big: Vec<_> = channels
        .iter()
        .filter(|c| c.handle.as_deref().is_some_and(|h| h.ends_with("-big-8")))
        .collect();
    assert_eq!(big.len(), 1, "one channel kept: {channels:?}");
    assert_eq!(big[0].member_count, 9);
}

/// The files scenario generates each file as it sends it and checks downloads against the same generator
/// without keeping them: the two must agree on every byte, and a byte out of place must show.
#[test]
fn a_generated_file_is_checked_byte_by_byte() {
    let content = files::Content {
        block: files::filler_block().into(),
        tag: 0xabc,
        size: 600 * 1024 + 3,
    };
    let whole: Vec<u8> = content.bytes().flatten().collect();
    assert_eq!(whole.len() as u64, content.size);
    assert!(content.matches(0, &whole));
    // Any window, across the chunk boundaries (every 256 KiB) and their stamps.
    for (start, end) in [
        (0, 1),
        (10, 300_000),
        (262_140, 262_200),
        (524_288, whole.len()),
    ] {
        assert!(
            content.matches(start as u64, &whole[start..end]),
            "{start}..{end}"
        );
    }
    let mut corrupt = whole.clone();
    corrupt[400_000] ^= 1;
    assert!(!content.matches(0, &corrupt));
    // The same bytes at another offset, or past the end, are not the file.
    assert!(!content.matches(262_144, &whole[..1000]));
    assert!(!content.matches(1, &whole));
    let other = files::Content {
        tag: 0xabd,
        ..content.clone()
    };
    assert!(!other.matches(0, &whole), "another client's file differs");
    assert_ne!(other.sha256(), content.sha256());

    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&whole)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(content.sha256(), hex);
}

/// Past --sockets-per-process, idle and connect run as several processes of the real binary, each from its
/// own source address with its share of the users, and the totals add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_one_process_is_split_over_several() {
    let server = TestServer::spawn().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let accounts = dir.path().join("accounts.json");
    let url = server.client().base_url().to_string();
    let run = |scenario: &'static [&'static str]| {
        let (url, accounts) = (url.clone(), accounts.clone());
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley-bench"))
                .args(["--url", &url, "--quiet", "--sockets-per-process", "2"])
                .arg("--accounts")
                .arg(&accounts)
                .arg("--server-pid")
                .arg(std::process::id().to_string())
                .args(scenario)
                .output()
                .await
                .expect("parley-bench runs");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(output.status.success(), "{stdout}");
            let json = stdout
                .lines()
                .find(|line| line.starts_with('{'))
                .expect("a JSON line");
            serde_json::from_str::<serde_json::Value>(json).expect("JSON")
        }
    };

    let idle = run(&["idle", "--sockets", "5", "--seconds", "0.5"]).await;
    assert_eq!(idle["sent"], 5, "{idle}");
    assert_eq!(idle["errors"], 0, "{idle}");
    assert_eq!(idle["extra"]["processes"], 3.0, "{idle}");
    assert!(
        idle["extra"]["rss_per_connection_kib"].is_number(),
        "{idle}"
    );

    let connect = run(&["connect", "--sockets", "5"]).await;
    assert_eq!(connect["sent"], 5, "{connect}");
    assert_eq!(connect["errors"], 0, "{connect}");
    assert_eq!(connect["extra"]["processes"], 3.0, "{connect}");
    assert_eq!(connect["latency"]["count"], 5, "{connect}");
}
