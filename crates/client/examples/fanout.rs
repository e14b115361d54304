//! Delivery latency of one channel's messages to its connected members, through real sockets.
//!
//! `cargo run --release -p parley-client --example fanout -- URL MEMBERS MESSAGES RATE`
//! (defaults: http://127.0.0.1:8080, 500, 200, 20). It signs up MEMBERS fresh users, puts them all in a new
//! channel, connects one socket each, then sends MESSAGES messages at RATE per second (open loop: each is
//! scheduled, not sent after the previous answer). Latency is from a message's scheduled send time to its
//! arrival on each socket, on this process's clock. The full load generator is `parley-bench` (a later issue).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_client::proto::v1::{
    ConversationKind, CreateConversationRequest, Event, ServerMessage, SignupRequest,
};
use parley_client::{Client, Incoming};
use tokio::sync::Semaphore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let members: usize = args.next().map_or(Ok(500), |a| a.parse())?;
    let messages: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let rate: f64 = args.next().map_or(Ok(20.0), |a| a.parse())?;

    let anonymous = Client::new(&url)?;
    let run = std::process::id();
    let signups = Arc::new(Semaphore::new(8));
    let mut pending = Vec::new();
    for n in 0..members {
        let (anonymous, signups) = (anonymous.clone(), Arc::clone(&signups));
        pending.push(tokio::spawn(async move {
            let _permit = signups.acquire().await;
            let request = SignupRequest {
                name: format!("Fan {n}"),
                email: format!("fan{run}x{n}@example.org"),
                password: "fan-out password".to_owned(),
                username: format!("fan{run}x{n}"),
                org: None,
            };
            anonymous
                .signup(&request)
                .await
                .map(|s| (s.user_id, anonymous.with_token(s.token)))
        }));
    }
    let mut users = Vec::new();
    for signup in pending {
        users.push(signup.await??);
    }
    let request = CreateConversationRequest {
        kind: ConversationKind::Channel,
        members: users.iter().skip(1).map(|(id, _)| *id).collect(),
        name: Some("Fan-out".to_owned()),
        handle: Some(format!("fanout-{run}")),
        topic: None,
        private: Some(false),
    };
    let sender = users[0].1.clone();
    let channel = sender.create_conversation(&request).await?.value.id;
    let mut sockets = Vec::new();
    for (_, client) in &users {
        sockets.push(client.connect(None).await?);
    }
    println!("{members} members connected; sending {messages} messages at {rate}/s");

    let start = Instant::now();
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(messages);
                let mut seen = HashSet::new();
                let mut duplicates = 0usize;
                while seen.len() < messages {
                    let next = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
                    let Ok(Some(Ok(Incoming::Message(ServerMessage::Event(frame))))) = next else {
                        match next {
                            Ok(Some(Ok(_))) => continue,
                            _ => break,
                        }
                    };
                    let Event::MessageCreated { message, .. } = frame.event else {
                        continue;
                    };
                    let Some(n) = message
                        .text
                        .as_deref()
                        .and_then(|t| t.split(' ').next()?.parse::<u64>().ok())
                    else {
                        continue;
                    };
                    if !seen.insert(n) {
                        duplicates += 1;
                        continue;
                    }
                    let scheduled = Duration::from_secs_f64(n as f64 / rate);
                    latencies.push(start.elapsed().saturating_sub(scheduled));
                }
                (latencies, duplicates)
            })
        })
        .collect();
    for n in 0..messages {
        let scheduled = start + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(scheduled.into()).await;
        let sender = sender.clone();
        tokio::spawn(async move {
            let text = format!(
                "{n} fan-out message of about two hundred bytes: {}",
                "x".repeat(150)
            );
            let _ = sender.send_message(channel, &text, None).await;
        });
    }
    let mut latencies = Vec::new();
    let mut duplicates = 0;
    for receiver in receivers {
        let (mut mine, dup) = receiver.await?;
        latencies.append(&mut mine);
        duplicates += dup;
    }
    latencies.sort();
    let expected = members * messages;
    let at = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{} of {expected} deliveries ({} lost, {duplicates} duplicated): p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
        latencies.len(),
        expected - latencies.len(),
        at(0.50),
        at(0.99),
        at(0.999),
        latencies.last().copied().unwrap_or_default(),
    );
    Ok(())
}
