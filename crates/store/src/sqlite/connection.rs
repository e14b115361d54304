//! The SQLite connections: one writer thread that batches every write into shared transactions (group
//! commit), and a small pool of read connections used from blocking threads.
//!
//! Why one writer: SQLite allows one writer at a time anyway, and the cost of a durable commit is the fsync.
//! Queuing writes to a single thread lets every write that arrives while a commit is in flight share the next
//! one, so throughput grows with concurrency while each caller still waits for its own data to be durable.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use parley_core::model::{Conversation, Event, Member, User};
use parley_core::store::{CommitFeed, DirectMessage, Sent, StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most writes one transaction takes; bounds the latency a batch adds to its first caller.
const MAX_BATCH: usize = 512;
/// Read connections. Reads run on blocking threads; WAL lets them proceed while the writer commits.
const READERS: usize = 4;

/// Called once the batch a write belonged to has committed, or failed, with the commit feed to announce to.
type Completion =
    Box<dyn FnOnce(Result<(), &rusqlite::Error>, &mpsc::UnboundedSender<Vec<Event>>) + Send>;
/// A write: run inside the batch's transaction (`Some`), or told that the batch could not start (`None`).
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("the transaction could not commit: {0}")]
struct CommitFailed(String);

#[derive(Debug, thiserror::Error)]
#[error("the store's writer has stopped")]
struct WriterGone;

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    // WAL + synchronous=FULL: a commit is on disk (the WAL fsynced) before it returns, so an acknowledged
    // write survives a crash or power loss. secure_delete overwrites erased text instead of leaving it in
    // free pages.
    connection.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    // Every statement Parley runs fits, so none is parsed twice.
    connection.set_prepared_statement_cache_capacity(128);
    Ok(connection)
}

/// What a write committed that clients must hear about. The writer thread hands these to the commit feed
/// right after each commit, in commit order, before answering the callers.
pub(crate) trait Announces {
    fn announced(&self) -> Vec<Event>;
}

/// Writes that change nothing a client is told about.
macro_rules! announces_nothing {
    ($($t:ty),*) => {$(
        impl Announces for $t {
            fn announced(&self) -> Vec<Event> {
                Vec::new()
            }
        }
    )*};
}

announces_nothing!((), u64, User, Member);

impl Announces for Option<Event> {
    fn announced(&self) -> Vec<Event> {
        self.iter().cloned().collect()
    }
}

impl Announces for Vec<Event> {
    fn announced(&self) -> Vec<Event> {
        self.clone()
    }
}

impl Announces for (Conversation, Vec<Event>) {
    fn announced(&self) -> Vec<Event> {
        self.1.clone()
    }
}

impl Announces for Sent {
    fn announced(&self) -> Vec<Event> {
        match self {
            Sent::Stored(_, event) => vec![event.clone()],
            Sent::Duplicate(_) => Vec::new(),
        }
    }
}

impl Announces for DirectMessage {
    fn announced(&self) -> Vec<Event> {
        match self {
            DirectMessage::Created(_, events) => events.clone(),
            DirectMessage::Existing(_) => Vec::new(),
        }
    }
}

pub(crate) struct Connections {
    jobs: mpsc::UnboundedSender<Job>,
    /// Handed out once, to whoever relays committed events to the bus.
    commit_feed: Mutex<Option<CommitFeed>>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    read_permits: Semaphore,
}

impl Connections {
    /// Opens the database, applies `migrate` on the writer connection, and starts the writer thread.
    pub(crate) fn open(
        path: &Path,
        migrate: impl FnOnce(&Connection) -> StoreResult<()>,
    ) -> StoreResult<Arc<Self>> {
        let writer = open(path).map_err(backend)?;
        migrate(&writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(open(path).map_err(backend)?);
        }
        let (jobs, queue) = mpsc::unbounded_channel();
        let (committed, commit_feed) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer, queue, committed))
            .map_err(backend)?;
        Ok(Arc::new(Connections {
            jobs,
            commit_feed: Mutex::new(Some(commit_feed)),
            path: path.to_owned(),
            readers: Mutex::new(readers),
            read_permits: Semaphore::new(READERS),
        }))
    }

    /// Runs `work` in the next write batch and answers once that batch is durable. `work` runs inside a
    /// savepoint: if it fails, only its own changes are rolled back and the rest of the batch commits.
    pub(crate) async fn write<T: Announces + Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (done, answer) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |connection| {
            let result = match connection {
                Some(connection) => in_savepoint(connection, work),
                None => Err(backend(CommitFailed("the batch could not begin".into()))),
            };
            Box::new(
                move |commit: Result<(), &rusqlite::Error>,
                      feed: &mpsc::UnboundedSender<Vec<Event>>| {
                    let answer = match commit {
                        Ok(()) => result,
                        Err(e) => Err(backend(CommitFailed(e.to_string()))),
                    };
                    if let Ok(written) = &answer {
                        let events = written.announced();
                        // A send fails only once the feed was taken and dropped (the server is stopping); a feed
                        // never taken keeps its events, which only store tests do.
                        if !events.is_empty() {
                            let _ = feed.send(events);
                        }
                    }
                    // The caller may have gone away (request cancelled); the write stands either way.
                    let _ = done.send(answer);
                },
            )
        });
        self.jobs.send(job).map_err(|_| backend(WriterGone))?;
        answer.await.map_err(|_| backend(WriterGone))?
    }

    pub(crate) fn take_commit_feed(&self) -> Option<CommitFeed> {
        self.commit_feed.lock().ok()?.take()
    }

    /// Runs a point lookup (a row or a few, by index) right here, on the calling task's thread. It takes a
    /// few microseconds from SQLite's page cache, less than handing it to a blocking thread and back, which
    /// a profile of the send path showed as its largest cost (thread wake-ups). Anything that may scan
    /// (history pages, search, lists) goes through `read` instead.
    pub(crate) async fn lookup<T>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let _permit = self.read_permits.acquire().await.map_err(backend)?;
        let connection = self.checkout()?;
        let result = work(&connection);
        self.checkin(connection);
        result
    }

    /// Runs `work` on a read connection, on a blocking thread.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let _permit = self.read_permits.acquire().await.map_err(backend)?;
        let connection = self.checkout()?;
        let (connection, result) = tokio::task::spawn_blocking(move || {
            let result = work(&connection);
            (connection, result)
        })
        .await
        .map_err(backend)?;
        self.checkin(connection);
        result
    }

    /// A read connection from the pool (a new one if the pool lost one to a panicked read). The lock only
    /// guards a pop or push, never an await.
    fn checkout(&self) -> StoreResult<Connection> {
        let pooled = self.readers.lock().map_err(|_| backend(WriterGone))?.pop();
        match pooled {
            Some(connection) => Ok(connection),
            None => open(&self.path).map_err(backend),
        }
    }

    fn checkin(&self, connection: Connection) {
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(connection);
        }
    }
}

fn in_savepoint<T>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    let cached = |sql: &str| {
        connection
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
    };
    cached("SAVEPOINT job").map_err(backend)?;
    let result = work(connection);
    match result {
        Ok(_) => cached("RELEASE job").map_err(backend)?,
        Err(_) => {
            cached("ROLLBACK TO job").map_err(backend)?;
            cached("RELEASE job").map_err(backend)?
        }
    };
    result
}

/// The writer thread: take every queued write (up to `MAX_BATCH`), run them in one transaction, commit once,
/// then answer each. Ends when every sender is gone, after finishing what was queued.
fn write_loop(
    connection: Connection,
    mut queue: mpsc::UnboundedReceiver<Job>,
    committed: mpsc::UnboundedSender<Vec<Event>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let began = connection.execute_batch("BEGIN IMMEDIATE");
        let open = began.is_ok().then_some(&connection);
        let completions: Vec<Completion> = batch.drain(..).map(|job| job(open)).collect();
        let outcome = began.and_then(|()| connection.execute_batch("COMMIT"));
        if outcome.is_err() {
            // Leave no transaction half open for the next batch; this fails harmlessly if none is.
            let _ = connection.execute_batch("ROLLBACK");
            tracing::error!(error = ?outcome, "write batch failed");
        }
        for complete in completions {
            complete(outcome.as_ref().map(|_| ()), &committed);
        }
    }
}
