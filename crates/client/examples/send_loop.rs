//! A simple concurrent send loop through the SDK: how many durable sends per second a server takes.
//!
//! `cargo run --release -p parley-client --example send_loop -- URL CONCURRENCY SECONDS`
//! (defaults: http://127.0.0.1:8080, 64, 10). It signs up two fresh users, opens a DM between them, and has
//! CONCURRENCY tasks each send one message at a time (waiting for each 201, i.e. for durability) for SECONDS.
//! The full load generator is `parley-bench` (a later issue); this is the baseline.

use std::time::{Duration, Instant};

use parley_client::Client;
use parley_client::proto::v1::{ConversationKind, CreateConversationRequest, SignupRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let concurrency: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(10), |a| a.parse())?;

    let anonymous = Client::new(&url)?;
    let run = std::process::id();
    let mut users = Vec::new();
    for name in ["loadann", "loadbob"] {
        let request = SignupRequest {
            name: name.to_owned(),
            email: format!("{name}{run}@example.org"),
            password: "load test password".to_owned(),
            username: format!("{name}{run}"),
            org: None,
        };
        let session = anonymous.signup(&request).await?;
        users.push((session.user_id, anonymous.with_token(session.token)));
    }
    let request = CreateConversationRequest {
        kind: ConversationKind::Dm,
        members: vec![users[1].0],
        name: None,
        handle: None,
        topic: None,
        private: None,
    };
    let conversation = users[0].1.create_conversation(&request).await?.value.id;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let client = users[task % 2].1.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let text = format!(
                        "load message {task}-{n}: the quick brown fox jumps over the lazy dog"
                    );
                    client
                        .send_message(conversation, &text, Some(&format!("{run}-{task}-{n}")))
                        .await?;
                    latencies.push(started.elapsed());
                    n += 1;
                }
                Ok::<_, parley_client::Error>(latencies)
            })
        })
        .collect();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{} durable sends in {elapsed:.1} s with {concurrency} concurrent senders: {:.0} sends/s, p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    Ok(())
}
