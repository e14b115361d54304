//! Building blocks the scenarios share: conversations, many sockets at once, and a receiver's loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use parley_client::proto::v1::{ConversationKind, CreateConversationRequest};
use parley_client::{RawIncoming, Socket};
use parley_proto::ConversationId;

use crate::inbox::{Inbox, Ledger};
use crate::peek::Peek;
use crate::report::{Latencies, Output, Progress};
use crate::{Result, User};

/// The server takes at most this many members in one create or invite.
const MEMBERS_PER_REQUEST: usize = 1_000;

/// A public channel owned by `owner` with `members`, added a thousand at a time.
pub async fn channel(owner: &User, members: &[User], handle: &str) -> Result<ConversationId> {
    let first = &members[..members.len().min(MEMBERS_PER_REQUEST)];
    let request = CreateConversationRequest {
        kind: ConversationKind::Channel,
        members: first.iter().map(|u| u.id).collect(),
        name: Some(format!("Bench {handle}")),
        handle: Some(handle.to_owned()),
        topic: None,
        private: Some(false),
    };
    let id = owner.client.create_conversation(&request).await?.value.id;
    let rest = members.get(MEMBERS_PER_REQUEST..).unwrap_or_default();
    invite(owner, id, rest).await?;
    Ok(id)
}

/// Adds `members` to conversation `id`, a thousand at a time; those already in are skipped by the server.
/// The channel `handle` with every one of `members`, kept between runs (its handle names its size), since
/// adding 100,000 members takes a while: made if missing, and only missing members added.
pub async fn kept_channel(owner: &User, members: &[User], handle: &str) -> Result<ConversationId> {
    match owner.client.join_by_handle(handle).await {
        Ok(existing) if existing.member_count as usize > members.len() => Ok(existing.id),
        Ok(existing) => {
            // Left half-filled by an interrupted run: inviting skips who is already in.
            invite(owner, existing.id, members).await?;
            Ok(existing.id)
        }
        Err(error) if error.status() == Some(404) => channel(owner, members, handle).await,
        Err(error) => Err(error.into()),
    }
}

pub async fn invite(owner: &User, id: ConversationId, members: &[User]) -> Result<()> {
    for chunk in members.chunks(MEMBERS_PER_REQUEST) {
        let ids: Vec<_> = chunk.iter().map(|u| u.id).collect();
        owner.client.invite(id, &ids).await?;
    }
    Ok(())
}

/// A group of `owner` and `members` (fewer than a thousand).
pub async fn group(owner: &User, members: &[User], name: &str) -> Result<ConversationId> {
    let request = CreateConversationRequest {
        kind: ConversationKind::Group,
        members: members.iter().map(|u| u.id).collect(),
        name: Some(name.to_owned()),
        handle: None,
        topic: None,
        private: None,
    };
    Ok(owner.client.create_conversation(&request).await?.value.id)
}

/// The DM of `a` and `b` (the existing one if they have one).
pub async fn dm(a: &User, b: &User) -> Result<ConversationId> {
    let request = CreateConversationRequest {
        kind: ConversationKind::Dm,
        members: vec![b.id],
        name: None,
        handle: None,
        topic: None,
        private: None,
    };
    Ok(a.client.create_conversation(&request).await?.value.id)
}

/// Runs `make` for each item with at most `concurrency` in flight, in order; the first error wins.
pub async fn bounded<T, F, Fut, R>(items: Vec<T>, concurrency: usize, make: F) -> Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R>>,
{
    let results: Vec<Result<R>> = stream::iter(items)
        .map(make)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Opens a socket per user (hello to ready), `concurrency` at a time, recording each one's time in `latencies`
/// and counting it in `done`. A failed connect stays in the result, so the caller decides what it means.
pub async fn connect_all(
    users: &[User],
    concurrency: usize,
    latencies: &Latencies,
    done: &Arc<AtomicU64>,
) -> Vec<Result<Socket>> {
    stream::iter(users)
        .map(|user| async move {
            let started = Instant::now();
            let socket = user.client.connect(None).await?;
            latencies.record(started.elapsed());
            done.fetch_add(1, Ordering::Relaxed);
            Ok(socket)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// The sockets, or the first connect error.
pub fn all_connected(sockets: Vec<Result<Socket>>) -> Result<Vec<Socket>> {
    sockets.into_iter().collect()
}

/// A socket for each user, `concurrency` connects at a time, with a progress line; any failure fails it.
pub async fn connect_everyone(
    output: Output,
    users: &[User],
    concurrency: usize,
) -> Result<Vec<Socket>> {
    let connecting = Progress::start(output, "connect", "sockets", Some(users.len() as u64));
    let sockets = connect_all(users, concurrency, &Latencies::new(), &connecting.counter()).await;
    connecting.finish();
    all_connected(sockets)
}

/// Reads `socket` into `inbox` until everything the ledger's senders got accepted has arrived, `patience`
/// after the last sender finished (or from now, if they all have), or the socket closed (noted in
/// `inbox.failure`, and what did not arrive counts as lost). Counts each new message in `delivered`.
pub async fn receive(
    mut socket: Socket,
    mut inbox: Inbox,
    ledger: Arc<Ledger>,
    delivered: Arc<AtomicU64>,
    patience: Duration,
) -> Inbox {
    let mut all_done = ledger.watch();
    let mut drain_until = None;
    loop {
        if *all_done.borrow_and_update() {
            if inbox.complete(&ledger) {
                break;
            }
            let deadline =
                *drain_until.get_or_insert_with(|| tokio::time::Instant::now() + patience);
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        let deadline = drain_until.unwrap_or_else(|| tokio::time::Instant::now() + patience);
        tokio::select! {
            next = socket.next_raw() => match next {
                Some(Ok(RawIncoming::Text(text))) => {
                    if inbox.take(&Peek::of(&text)) {
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(RawIncoming::Closed { code, reason })) => {
                    inbox.failure = Some(format!("closed by the server: {code} {reason}"));
                    return inbox;
                }
                Some(Err(error)) => {
                    inbox.failure = Some(error.to_string());
                    return inbox;
                }
                None => {
                    inbox.failure = Some("connection lost".to_owned());
                    return inbox;
                }
            },
            _ = all_done.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
    socket.close().await;
    inbox
}
