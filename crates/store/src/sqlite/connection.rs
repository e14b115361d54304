//! The SQLite connections: one writer thread that batches every write into shared transactions (group
//! commit), and a small pool of read connections used from blocking threads.
//!
//! Why one writer: SQLite allows one writer at a time anyway, and the cost of a durable commit is the fsync.
//! Queuing writes to a single thread lets every write that arrives while a commit is in flight share the next
//! one, so throughput grows with concurrency while each caller still waits for its own data to be durable.
//!
//! Derived data that need not be current at once (the search index) is brought up to date by the writer's
//! `Deferred` work, in a later transaction than the writes it follows: at most `DEFERRED_LAG` after them, in
//! whatever batch is committing then (or on its own if none comes), and at once for a reader that asks
//! (`Connections::catch_up_deferred`). Under load it runs once for many batches instead of in each commit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_core::Cursor;
use parley_core::model::Event;
use parley_core::store::{Commit, CommitFeed, Queued, StoreError, StoreResult};
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
/// Longest the deferred work (the search index) stays behind a commit, unless a reader asks for it sooner.
const DEFERRED_LAG: Duration = Duration::from_millis(250);

/// A write waiting in the writer's queue: run into the batch's transaction, then told how the batch ended.
trait Pending: Send {
    /// Runs the write; false if it failed (and may have left some of its changes in the transaction).
    fn run(&mut self, connection: &Connection, isolation: Isolation) -> bool;
    /// Answers the caller once the batch is over, announcing what it committed.
    fn complete(self: Box<Self>, commit: Result<(), &str>, feed: &mut Feed);
    /// Whether the batch must run the deferred work before it commits.
    fn wants_deferred(&self) -> bool {
        false
    }
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

/// Work that brings derived data up to date with everything committed before it; see the module's doc.
pub(crate) type Deferred = fn(&Connection) -> rusqlite::Result<()>;

/// A reader's request to have the deferred work done: it rides the next batch, which answers once committed.
struct RunDeferred {
    done: oneshot::Sender<StoreResult<()>>,
}

impl Pending for RunDeferred {
    fn run(&mut self, _: &Connection, _: Isolation) -> bool {
        true
    }

    fn complete(self: Box<Self>, commit: Result<(), &str>, _: &mut Feed) {
        let answer = commit.map_err(|e| backend(CommitFailed(e.to_owned())));
        let _ = self.done.send(answer);
    }

    fn wants_deferred(&self) -> bool {
        true
    }
}

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
    jobs: std_mpsc::Sender<Box<dyn Pending>>,
    /// Set by the writer before a commit that leaves the deferred work behind; cleared once it has run.
    deferred_behind: Arc<AtomicBool>,
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
    /// runs `deferred` as the module's doc says (and once at start, for what a crash left behind).
    pub(crate) fn open(
        path: &Path,
        migrate: impl FnOnce(&Connection) -> StoreResult<()>,
        deferred: Deferred,
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
        let (jobs, queue) = std_mpsc::channel();
        let deferred_behind = Arc::new(AtomicBool::new(true));
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
            deferred,
            deferred_due: Some(Instant::now()),
            deferred_behind: Arc::clone(&deferred_behind),
            restart_wanted,
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writes.run(queue))
            .map_err(backend)?;
        Ok(Arc::new(Connections {
            jobs,
            deferred_behind,
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
        self.queue(work).await
    }

    /// Like `write`, but the write is queued now, when this is called: the writer takes its queue in order,
    /// so writes queued one after the other commit in that order, and the future answers once it is durable.
    pub(crate) fn queue<T: Announces + Send + 'static>(
        &self,
        work: impl Fn(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> Queued<T> {
        let (done, answer) = oneshot::channel::<StoreResult<T>>();
        let write = Write {
            work,
            result: None,
            done,
        };
        let queued = self.jobs.send(Box::new(write));
        Box::pin(async move {
            queued.map_err(|_| backend(WriterGone))?;
            answer.await.map_err(|_| backend(WriterGone))?
        })
    }

    /// Has the deferred work (the search index) catch up with every write committed so far, at once if it is
    /// behind: what a reader of its data calls first, so a search finds a message as soon as its send answered.
    pub(crate) async fn catch_up_deferred(&self) -> StoreResult<()> {
        if !self.deferred_behind.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(RunDeferred { done }))
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
    deferred: Deferred,
    /// When the deferred work must run: `DEFERRED_LAG` after the first commit since it last ran.
    deferred_due: Option<Instant>,
    /// Shared with readers: whether something committed (or about to) is not yet covered by the deferred work.
    deferred_behind: Arc<AtomicBool>,
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
    fn run(mut self, queue: std_mpsc::Receiver<Box<dyn Pending>>) {
        let mut batch: Vec<Box<dyn Pending>> = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = match self.deferred_due {
                None => queue
                    .recv()
                    .map_err(|_| std_mpsc::RecvTimeoutError::Disconnected),
                Some(due) => queue.recv_timeout(due.saturating_duration_since(Instant::now())),
            };
            let first = match first {
                Ok(write) => write,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    self.run_deferred_alone();
                    continue;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                    if self.deferred_due.is_some() {
                        self.run_deferred_alone();
                    }
                    return;
                }
            };
            batch.push(first);
            batch.extend(queue.try_iter().take(MAX_BATCH - 1));
            metrics::histogram!("parley_store_batch_writes").record(batch.len() as f64);
            let started = Instant::now();
            let with_deferred = self.deferred_due.is_some_and(|due| started >= due)
                || batch.iter().any(|write| write.wants_deferred());
            if !with_deferred {
                // Before the commit, not after: a reader that sees what it commits must find it behind.
                self.deferred_behind.store(true, Ordering::SeqCst);
            }
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
                .and_then(|()| match with_deferred {
                    true => (self.deferred)(connection),
                    false => Ok(()),
                })
                .and_then(|()| connection.execute_batch("COMMIT"));
            metrics::histogram!("parley_store_batch_seconds")
                .record(started.elapsed().as_secs_f64());
            match &outcome {
                Ok(()) => self.committed(with_deferred),
                Err(error) => {
                    // Leave no transaction half open for the next batch; this fails harmlessly if none is.
                    let _ = connection.execute_batch("ROLLBACK");
                    tracing::error!(%error, "write batch failed");
                }
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

    /// Notes a commit, before its writers are answered: if it ran the deferred work, nothing is behind;
    /// else (`deferred_behind` was set before it) the work is due `DEFERRED_LAG` after the first such commit.
    fn committed(&mut self, with_deferred: bool) {
        if with_deferred {
            self.deferred_due = None;
            self.deferred_behind.store(false, Ordering::SeqCst);
        } else if self.deferred_due.is_none() {
            self.deferred_due = Some(Instant::now() + DEFERRED_LAG);
        }
    }

    /// Runs the deferred work in a transaction of its own, when it is due and no write came to carry it.
    fn run_deferred_alone(&mut self) {
        let connection = &self.connection;
        let outcome = connection
            .execute_batch("BEGIN IMMEDIATE")
            .and_then(|()| (self.deferred)(connection))
            .and_then(|()| connection.execute_batch("COMMIT"));
        match outcome {
            Ok(()) => self.committed(true),
            Err(error) => {
                let _ = connection.execute_batch("ROLLBACK");
                tracing::error!(%error, "deferred work failed; it is tried again");
                self.deferred_due = Some(Instant::now() + DEFERRED_LAG);
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
