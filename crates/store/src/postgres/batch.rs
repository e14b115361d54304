//! A batch's writes, and how they run inside its one transaction (`writer.rs` takes the turn around it):
//! pipelined on the writer's connection, each send to a conversation after the ones queued before it, the
//! plain sends at the head of each conversation's queue in one statement, and, if a statement failed, the
//! whole batch again with a savepoint per write.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use parley_core::model::Event;
use parley_core::store::{Sent, StoreError, StoreResult};
use parley_core::{ConversationId, UserId};
use tokio::sync::oneshot;

use super::messages;
use super::sql::backend;
use super::writer::Db;
use crate::announces::Announces;
use crate::inputs::NewMessage;

/// A write waiting in the writer's queue.
#[async_trait]
pub(super) trait Pending: Send {
    /// Runs the write in the open transaction; false if it failed in a way that may have spoiled it
    /// (`spoils_the_batch`).
    async fn run(&mut self, db: &Db, isolation: Isolation) -> bool;
    /// The events it committed, once it ran and succeeded.
    fn announced(&self) -> Vec<Event>;
    /// Answers the caller once the batch is over.
    fn complete(self: Box<Self>, commit: Result<(), &str>);
    /// The conversation whose messages it stores in queue order, if it is a send (`run_all`).
    fn conversation(&self) -> Option<ConversationId>;
    /// The send, if it is one with nothing but text, which may share a statement with others (`run_all`).
    fn plain(&mut self) -> Option<&mut PlainSend> {
        None
    }
}

/// How a write runs inside its batch's transaction.
#[derive(Clone, Copy)]
pub(super) enum Isolation {
    /// Straight into the transaction: the fast path, one round trip fewer each way than a savepoint.
    Shared,
    /// In a savepoint of its own, so a write that fails rolls back only its own changes. A failed statement
    /// aborts a PostgreSQL transaction, so a batch in which a statement failed is run again this way.
    Savepoint,
}

type Work<T> = dyn for<'c> Fn(&'c Db) -> BoxFuture<'c, StoreResult<T>> + Send + Sync;

/// What a write answers its caller, once its batch is over.
struct Answer<T> {
    result: Option<StoreResult<T>>,
    done: oneshot::Sender<StoreResult<T>>,
}

impl<T: Announces> Answer<T> {
    fn new(done: oneshot::Sender<StoreResult<T>>) -> Self {
        Answer { result: None, done }
    }

    /// Keeps the result of a run (a rerun replaces it); false if it spoiled the batch.
    fn settle(&mut self, result: StoreResult<T>) -> bool {
        let intact = !result.as_ref().is_err_and(spoils_the_batch);
        self.result = Some(result);
        intact
    }

    fn announced(&self) -> Vec<Event> {
        match &self.result {
            Some(Ok(written)) => written.announced(),
            _ => Vec::new(),
        }
    }

    fn complete(self, commit: Result<(), &str>) {
        let answer = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(backend(Failed("the write did not run".into()))),
            (Err(e), _) => Err(backend(Failed(e.to_owned()))),
        };
        // The caller may have gone away (request cancelled); the write stands either way.
        let _ = self.done.send(answer);
    }
}

/// Any write: what it does is `work`.
pub(super) struct Write<T> {
    work: Box<Work<T>>,
    conversation: Option<ConversationId>,
    answer: Answer<T>,
}

impl<T: Announces> Write<T> {
    pub(super) fn new(
        work: Box<Work<T>>,
        conversation: Option<ConversationId>,
        done: oneshot::Sender<StoreResult<T>>,
    ) -> Self {
        Write {
            work,
            conversation,
            answer: Answer::new(done),
        }
    }
}

#[async_trait]
impl<T: Announces + Send + Sync + 'static> Pending for Write<T> {
    async fn run(&mut self, db: &Db, isolation: Isolation) -> bool {
        let result = match isolation {
            Isolation::Shared => (self.work)(db).await,
            Isolation::Savepoint => in_savepoint(db, (self.work)(db)).await,
        };
        self.answer.settle(result)
    }

    fn announced(&self) -> Vec<Event> {
        self.answer.announced()
    }

    fn complete(self: Box<Self>, commit: Result<(), &str>) {
        self.answer.complete(commit);
    }

    fn conversation(&self) -> Option<ConversationId> {
        self.conversation
    }
}

/// A send with nothing but text (`NewMessage::extras` is `None`): most sends. The ones at the head of
/// their conversations' queues in a batch share one statement (`messages::create_many`).
pub(super) struct PlainSend {
    new: NewMessage,
    answer: Answer<Sent>,
}

impl PlainSend {
    pub(super) fn new(new: NewMessage, done: oneshot::Sender<StoreResult<Sent>>) -> Self {
        PlainSend {
            new,
            answer: Answer::new(done),
        }
    }
}

#[async_trait]
impl Pending for PlainSend {
    async fn run(&mut self, db: &Db, isolation: Isolation) -> bool {
        let result = match isolation {
            Isolation::Shared => messages::create(db, &self.new).await,
            Isolation::Savepoint => in_savepoint(db, messages::create(db, &self.new)).await,
        };
        self.answer.settle(result)
    }

    fn announced(&self) -> Vec<Event> {
        self.answer.announced()
    }

    fn complete(self: Box<Self>, commit: Result<(), &str>) {
        self.answer.complete(commit);
    }

    fn conversation(&self) -> Option<ConversationId> {
        Some(self.new.conversation_id)
    }

    fn plain(&mut self) -> Option<&mut PlainSend> {
        Some(self)
    }
}

/// Whether a failed write may have left the batch's transaction unfit to commit. Writes refuse (`Conflict`,
/// `NotFound`) only from statements that changed nothing, before changing anything: an expected outcome,
/// such as a taken email, so it commits with the batch and costs no rerun inside the turn. Only a backend
/// failure (a failed statement aborts the transaction; a write may have stopped halfway) reruns the batch.
/// So no SQL error may ever be answered as a refusal.
fn spoils_the_batch(error: &StoreError) -> bool {
    match error {
        StoreError::Conflict(_) | StoreError::NotFound(_) => false,
        StoreError::Backend(_) => true,
    }
}

/// Runs `work` (a future, so it starts only once awaited) in a savepoint.
async fn in_savepoint<T>(db: &Db, work: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    db.batch_execute("SAVEPOINT job").await.map_err(backend)?;
    let result = work.await;
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    db.batch_execute(end).await.map_err(backend)?;
    result
}

#[derive(Debug, thiserror::Error)]
#[error("the write batch failed: {0}")]
struct Failed(String);

type Chain<'b> = Vec<&'b mut Box<dyn Pending>>;

/// Runs the batch's writes. Shared: all at once, pipelined on the one connection (each statement is sent
/// without waiting for the answer to the one before), except that the sends to one conversation run one
/// after the other in queue order: a write whose statement is not yet prepared on this connection sends it
/// a round trip later, so a send queued after it could otherwise take the smaller id. The plain sends at
/// the head of each conversation's queue go first, all in one statement, and the rest of those queues after
/// it. Answers whether the transaction is still fit to commit (no write failed with a backend error). A
/// write of several statements may see its statements interleaved with other writes', so a write checks a
/// unique key in the statement that writes it (`ON CONFLICT DO NOTHING`, or a check in the same statement)
/// and answers what that statement returned (`UPDATE ... RETURNING`), never a later read, which may see a
/// sibling's change. Savepoint: one write after the other, each in its own savepoint (a failure undoes
/// only its own changes); answers true.
///
/// Pipelining is what makes a batch fast: one round trip at a time, 500 sends took ~165 ms.
pub(super) async fn run_all(db: &Db, batch: &mut [Box<dyn Pending>], isolation: Isolation) -> bool {
    match isolation {
        Isolation::Shared => {
            let mut heads = Vec::new();
            let (mut after_heads, mut apart) = (Vec::new(), Vec::new());
            for mut chain in chains(batch) {
                let head = plain_head(&mut chain);
                let rest = chain.split_off(head);
                if chain.is_empty() {
                    apart.push(rest);
                } else {
                    heads.extend(chain.into_iter().filter_map(|write| write.plain()));
                    after_heads.push(rest);
                }
            }
            let first = async {
                // After a failure the transaction is aborted: the rest waits for the rerun.
                run_shared(db, heads).await
                    && all_intact(after_heads.into_iter().map(|chain| run_chain(db, chain))).await
            };
            let (first, apart) = futures_util::join!(
                first,
                all_intact(apart.into_iter().map(|c| run_chain(db, c)))
            );
            first && apart
        }
        Isolation::Savepoint => {
            for write in batch.iter_mut() {
                write.run(db, isolation).await;
            }
            true
        }
    }
}

/// The batch's writes as chains to run one after the other: a chain per conversation for its sends, in
/// queue order, and one for each other write.
fn chains(batch: &mut [Box<dyn Pending>]) -> Vec<Chain<'_>> {
    let mut chains: Vec<Chain<'_>> = Vec::with_capacity(batch.len());
    let mut chain_of: HashMap<ConversationId, usize> = HashMap::new();
    for write in batch.iter_mut() {
        let Some(conversation) = write.conversation() else {
            chains.push(vec![write]);
            continue;
        };
        match chain_of.entry(conversation) {
            Entry::Occupied(chain) => chains[*chain.get()].push(write),
            Entry::Vacant(free) => {
                free.insert(chains.len());
                chains.push(vec![write]);
            }
        }
    }
    chains
}

/// How many writes at the head of a conversation's chain are plain sends that may share a statement: up to
/// the first that is not, or that repeats an earlier one's author and nonce (the shared statement finds
/// only messages stored before it).
fn plain_head(chain: &mut Chain<'_>) -> usize {
    let mut seen: Vec<(UserId, Option<String>)> = Vec::new();
    for (at, write) in chain.iter_mut().enumerate() {
        let Some(send) = write.plain() else {
            return at;
        };
        let key = (send.new.author_id, send.new.nonce.clone());
        if key.1.is_some() && seen.contains(&key) {
            return at;
        }
        seen.push(key);
    }
    chain.len()
}

async fn run_chain(db: &Db, chain: Chain<'_>) -> bool {
    let mut intact = true;
    for write in chain {
        intact &= write.run(db, Isolation::Shared).await;
    }
    intact
}

async fn all_intact(runs: impl Iterator<Item = impl Future<Output = bool>>) -> bool {
    futures_util::future::join_all(runs)
        .await
        .into_iter()
        .all(|intact| intact)
}

/// Stores the plain sends in one statement; a single one takes its own statement, as it would alone.
async fn run_shared(db: &Db, mut sends: Vec<&mut PlainSend>) -> bool {
    if let [send] = sends.as_mut_slice() {
        return send.run(db, Isolation::Shared).await;
    }
    if sends.is_empty() {
        return true;
    }
    let news: Vec<&NewMessage> = sends.iter().map(|send| &send.new).collect();
    match messages::create_many(db, &news).await {
        Ok(stored) => sends
            .into_iter()
            .zip(stored)
            .fold(true, |intact, (send, sent)| {
                send.answer.settle(sent) && intact
            }),
        Err(error) => {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "the batch's shared send statement failed; the batch runs again a write at a time"
            );
            let failure = error.to_string();
            for send in sends {
                send.answer.settle(Err(backend(Failed(failure.clone()))));
            }
            false
        }
    }
}
