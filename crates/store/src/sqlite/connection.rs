//! The SQLite connections: one writer thread that batches every write into shared transactions (group
//! commit), and a small pool of read connections used from blocking threads.
//!
//! Why one writer: SQLite allows one writer at a time anyway, and the cost of a durable commit is the fsync.
//! Queuing writes to a single thread lets every write that arrives while a commit is in flight share the next
//! one, so throughput grows with concurrency while each caller still waits for its own data to be durable.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_core::Cursor;
use parley_core::model::Event;
use parley_core::store::{Commit, CommitFeed, StoreError, StoreResult};
use rusqlite::Connection;

use crate::announces::Announces;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most writes one transaction takes; bounds the latency a batch adds to its first caller.
const MAX_BATCH: usize = 512;
/// Read connections. Reads run on blocking threads; WAL lets them proceed while the writer commits.
const READERS: usize = 4;
/// How often the checkpointer copies committed pages from the WAL into the database file. Often, so each
/// copy and its fsync are small: every second, the fsync of a second's worth of pages held up the commits
/// behind it (one-to-one sends at p99 100 ms instead of 7 ms).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL frames past which the log should start over (16 MiB at 4 KiB pages).
const RESTART_AFTER_FRAMES: i64 = 4096;

/// A write waiting in the writer's queue: run into the batch's transaction, then told how the batch ended.
trait Pending: Send {
    /// Runs the write; false if it failed (and may have left some of its changes in the transaction).
    fn run(&mut self, connection: &Connection, isolation: Isolation) -> bool;
    /// Answers the caller once the batch is over, announcing what it committed.
    fn complete(self: Box<Self>, commit: Result<(), &str>, feed: &mut Feed);
}

/// The sending end of the commit feed, and the newest cursor it announced.
pub(crate) struct Feed {
    sender: mpsc::UnboundedSender<Commit>,
    last: Cursor,
}

impl Feed {
    /// Announces one write's events. A send fails only once the feed was taken and dropped (the server is
    /// stopping); a feed never taken keeps its events, which only store tests do.
    fn announce(&mut self, events: Vec<Event>) {
        let Some(newest) = events.last().map(|e| e.cursor) else {
            return;
        };
        let after = std::mem::replace(&mut self.last, newest);
        let _ = self.sender.send(Commit {
            after,
            events,
            published: None,
        });
    }
}

/// Work done once per batch, after its writes and before its commit.
pub(crate) type BeforeCommit = fn(&Connection) -> rusqlite::Result<()>;

/// How a write runs inside its batch's transaction.
#[derive(Clone, Copy)]
enum Isolation {
    /// Straight into the transaction. The fast path: a savepoint per write would cost two statements, and
    /// FTS5 writes its pending index data to disk at every savepoint (measured: 21% of the writer thread,
    /// one index segment per message).
    Shared,
    /// In a savepoint of its own, so a write that fails rolls back only its own changes.
    Savepoint,
}

/// One write, its result once run, and the caller waiting for it.
struct Write<T, F> {
    work: F,
    result: Option<StoreResult<T>>,
    done: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Pending for Write<T, F>
where
    T: Announces + Send,
    F: Fn(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, connection: &Connection, isolation: Isolation) -> bool {
        let result = match isolation {
            Isolation::Shared => (self.work)(connection),
            Isolation::Savepoint => in_savepoint(connection, &self.work),
        };
        let succeeded = result.is_ok();
        self.result = Some(result);
        succeeded
    }

    fn complete(self: Box<Self>, commit: Result<(), &str>, feed: &mut Feed) {
        let answer = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(backend(CommitFailed("the write did not run".into()))),
            (Err(e), _) => Err(backend(CommitFailed(e.to_owned()))),
        };
        if let Ok(written) = &answer {
            feed.announce(written.announced());
        }
        // The caller may have gone away (request cancelled); the write stands either way.
        let _ = self.done.send(answer);
    }
}

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
    // free pages. Savepoint journals stay in memory (in a temporary file, they were 13,000 writes a second
    // under load). Checkpoints are the checkpointer's (`checkpoint_loop`), never a commit's.
    connection.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;
         PRAGMA wal_autocheckpoint = 0;",
    )?;
    // Every statement Parley runs fits, so none is parsed twice.
    connection.set_prepared_statement_cache_capacity(128);
    Ok(connection)
}

pub(crate) struct Connections {
    jobs: mpsc::UnboundedSender<Box<dyn Pending>>,
    /// Asks the checkpointer to empty the log, and answers whether it could; dropped with the store, which
    /// stops the checkpointer.
    checkpointer: std_mpsc::Sender<oneshot::Sender<bool>>,
    /// Handed out once, to whoever relays committed events to the bus.
    commit_feed: Mutex<Option<CommitFeed>>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    read_permits: Semaphore,
}

impl Connections {
    /// Opens the database, applies `migrate` on the writer connection, and starts the writer thread, which
    /// runs `before_commit` at the end of every batch, in its transaction.
    pub(crate) fn open(
        path: &Path,
        migrate: impl FnOnce(&Connection) -> StoreResult<()>,
        before_commit: BeforeCommit,
    ) -> StoreResult<Arc<Self>> {
        let writer = open(path).map_err(backend)?;
        migrate(&writer)?;
        let newest = writer
            .query_row("SELECT coalesce(max(cursor), 0) FROM events", [], |row| {
                row.get(0)
            })
            .map(Cursor)
            .map_err(backend)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(open(path).map_err(backend)?);
        }
        let (jobs, queue) = mpsc::unbounded_channel();
        let (committed, commit_feed) = mpsc::unbounded_channel();
        let restart_wanted = Arc::new(AtomicBool::new(false));
        let checkpoints = open(path).map_err(backend)?;
        // The checkpointer never waits for a lock: a truncation it cannot make at once it tries again.
        checkpoints.busy_timeout(Duration::ZERO).map_err(backend)?;
        let (checkpointer, requests) = std_mpsc::channel();
        let restart = Arc::clone(&restart_wanted);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoints, requests, restart))
            .map_err(backend)?;
        let writes = WriteLoop {
            connection: writer,
            feed: Feed {
                sender: committed,
                last: newest,
            },
            before_commit,
            restart_wanted,
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writes.run(queue))
            .map_err(backend)?;
        Ok(Arc::new(Connections {
            jobs,
            checkpointer,
            commit_feed: Mutex::new(Some(commit_feed)),
            path: path.to_owned(),
            readers: Mutex::new(readers),
            read_permits: Semaphore::new(READERS),
        }))
    }

    /// Runs `work` in the next write batch and answers once that batch is durable. If `work` fails, none of
    /// its changes are committed and the rest of the batch commits. `work` may run twice (see `WriteLoop::run`),
    /// so it must depend only on what it captured and the database.
    pub(crate) async fn write<T: Announces + Send + 'static>(
        &self,
        work: impl Fn(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (done, answer) = oneshot::channel::<StoreResult<T>>();
        let write = Write {
            work,
            result: None,
            done,
        };
        self.jobs
            .send(Box::new(write))
            .map_err(|_| backend(WriterGone))?;
        answer.await.map_err(|_| backend(WriterGone))?
    }

    /// Like `write`, for a write that erases text: once it committed something (its events say so), the
    /// checkpointer copies the whole log into the database file and empties it before this answers, so the
    /// erased text is in neither file (`secure_delete` zeroes it in the database's pages; the log held every
    /// version of them). The writer goes on meanwhile. Should readers keep the log from emptying within
    /// `TRUNCATE_PATIENCE`, this answers anyway and the checkpointer empties it as soon as it can.
    pub(crate) async fn erase<T: Announces + Send + 'static>(
        &self,
        work: impl Fn(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let erased = self.write(work).await?;
        if !erased.announced().is_empty() {
            self.empty_log().await;
        }
        Ok(erased)
    }

    /// Has the checkpointer copy the whole log into the database file and empty it, after a write that
    /// erased text (see `erase`).
    pub(crate) async fn empty_log(&self) {
        let (done, emptied) = oneshot::channel();
        let asked = self.checkpointer.send(done).is_ok();
        if !asked || !emptied.await.unwrap_or(false) {
            tracing::warn!(
                "the log could not be emptied at once after an erase; the checkpointer goes on"
            );
        }
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
    work: impl Fn(&Connection) -> StoreResult<T>,
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

/// The writer thread's state.
struct WriteLoop {
    connection: Connection,
    feed: Feed,
    before_commit: BeforeCommit,
    /// Set by the checkpointer when the log has grown long; see `checkpoint_loop`.
    restart_wanted: Arc<AtomicBool>,
}

impl WriteLoop {
    /// Takes every queued write (up to `MAX_BATCH`), runs them in one transaction, commits once, then
    /// answers each. Ends when every sender is gone, after finishing what was queued.
    ///
    /// Writes run straight into the transaction first. Almost all succeed; if one fails, it may have left
    /// part of its changes behind, so the batch is rolled back and run again with each write in its own
    /// savepoint.
    fn run(mut self, mut queue: mpsc::UnboundedReceiver<Box<dyn Pending>>) {
        let mut batch: Vec<Box<dyn Pending>> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = queue.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(write) => batch.push(write),
                    Err(_) => break,
                }
            }
            metrics::histogram!("parley_store_batch_writes").record(batch.len() as f64);
            let started = std::time::Instant::now();
            let connection = &self.connection;
            let outcome = run_batch(connection, &mut batch, Isolation::Shared).and_then(|all_ok| {
                if all_ok {
                    return Ok(());
                }
                metrics::counter!("parley_store_batch_reruns_total").increment(1);
                connection.execute_batch("ROLLBACK")?;
                run_batch(connection, &mut batch, Isolation::Savepoint).map(|_| ())
            });
            let outcome = outcome
                .and_then(|()| (self.before_commit)(connection))
                .and_then(|()| connection.execute_batch("COMMIT"));
            metrics::histogram!("parley_store_batch_seconds")
                .record(started.elapsed().as_secs_f64());
            if let Err(error) = &outcome {
                // Leave no transaction half open for the next batch; this fails harmlessly if none is.
                let _ = connection.execute_batch("ROLLBACK");
                tracing::error!(%error, "write batch failed");
            }
            let failure = outcome.err().map(|e| e.to_string());
            for write in batch.drain(..) {
                write.complete(failure.as_deref().map_or(Ok(()), Err), &mut self.feed);
            }
            if self.restart_wanted.swap(false, Ordering::Relaxed) {
                // The checkpointer has copied all but the last few commits; copying those too lets the
                // next transaction start the log over.
                if let Err(error) = checkpoint(&self.connection) {
                    tracing::warn!(%error, "checkpoint failed");
                }
            }
        }
    }
}

/// How long `truncate_log` keeps trying: it needs a moment with no write in progress and every reader on
/// the newest snapshot, and readers finish in milliseconds.
const TRUNCATE_PATIENCE: Duration = Duration::from_secs(1);

/// Copies the whole WAL into the database file and truncates it to nothing; false if it could not finish
/// within `TRUNCATE_PATIENCE` (another checkpoint, or a reader still on an older snapshot).
fn truncate_log(connection: &Connection) -> rusqlite::Result<bool> {
    let deadline = std::time::Instant::now() + TRUNCATE_PATIENCE;
    loop {
        let busy: i64 =
            connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy == 0 {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Copies what it can of the WAL into the database file without waiting for readers or the writer, and
/// answers how many frames the log holds.
fn checkpoint(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

/// The checkpointer thread: every `CHECKPOINT_EVERY` it copies committed pages into the database file, on
/// its own connection, beside the writer, and when an erase asks, it empties the log (`truncate_log`). A checkpoint on the writer's thread (SQLite's automatic one) held
/// up every write behind it for tens of milliseconds.
///
/// Copying beside the writer never catches up with it under steady load, and the log only starts over once
/// a checkpoint has copied all of it, so when the log is long the checkpointer asks the writer to copy the
/// few commits since, right after its next commit: a short pause instead of a long one. Ends when the store
/// is dropped.
fn checkpoint_loop(
    connection: Connection,
    requests: std_mpsc::Receiver<oneshot::Sender<bool>>,
    restart_wanted: Arc<AtomicBool>,
) {
    // Asked to empty the log and not yet able to: tried again at every turn until it is.
    let mut truncation_due = false;
    loop {
        let mut waiting = Vec::new();
        match requests.recv_timeout(CHECKPOINT_EVERY) {
            Ok(asked) => waiting.push(asked),
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        waiting.extend(requests.try_iter());
        if truncation_due || !waiting.is_empty() {
            let emptied = truncate_log(&connection).unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot empty the log after an erase");
                false
            });
            truncation_due = !emptied;
            for asked in waiting {
                let _ = asked.send(emptied);
            }
            continue;
        }
        match checkpoint(&connection) {
            Ok(frames) if frames >= RESTART_AFTER_FRAMES => {
                restart_wanted.store(true, Ordering::Relaxed)
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "checkpoint failed"),
        }
    }
}

/// Begins a transaction and runs the batch's writes in it. Shared: stops at the first that fails and
/// answers false. Savepoint: runs them all (a failure undid only its own changes) and answers true.
fn run_batch(
    connection: &Connection,
    batch: &mut [Box<dyn Pending>],
    isolation: Isolation,
) -> rusqlite::Result<bool> {
    connection.execute_batch("BEGIN IMMEDIATE")?;
    for write in batch.iter_mut() {
        let succeeded = write.run(connection, isolation);
        // Some errors (a full disk, an I/O error, no memory) make SQLite roll back the whole transaction:
        // the writes after it would each commit on their own, so the batch stops here and fails as a whole.
        if connection.is_autocommit() {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT_ROLLBACK),
                Some("the batch's transaction was rolled back".into()),
            ));
        }
        if !succeeded && matches!(isolation, Isolation::Shared) {
            return Ok(false);
        }
    }
    Ok(true)
}
