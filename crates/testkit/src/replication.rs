//! A PostgreSQL primary and a streaming replica of it, for tests of read replicas and of failover: two
//! database clusters of their own, the primary made with `initdb` and the replica copied from it with
//! `pg_basebackup`, on free ports in a temporary directory, run by the machine's PostgreSQL server binaries
//! (as the `postgres` user when the tests run as root, since PostgreSQL refuses to). Dropping the pair
//! stops both.
//!
//! The binaries are found in `PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin` (Debian's layout),
//! else `pg_config --bindir`. Without them `PgPair::start` answers `None` and the test is skipped, unless
//! `REQUIRE_SERVICES=1` (as in CI) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Output;

use tokio::process::Command;

use crate::cluster::connect;
use crate::ports::free_port;
use crate::required;

/// How the primary waits for the replica when it commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// It does not: a commit is acknowledged once the primary has it (PostgreSQL's default).
    Asynchronous,
    /// A commit is acknowledged once the replica has it on disk too (`synchronous_standby_names`), so a
    /// promoted replica has every acknowledged write.
    Synchronous,
}

pub struct PgPair {
    pub primary_port: u16,
    pub replica_port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Whether commands run as the `postgres` user (the tests run as root).
    as_postgres: bool,
}

impl PgPair {
    /// Starts a primary and a replica streaming from it, or answers `None` without PostgreSQL's server
    /// binaries (see the module's doc).
    pub async fn start(replication: Replication) -> Option<PgPair> {
        let mut pair = Self::start_primary().await?;
        pair.make_replica().await;
        pair.start_on_a_free_port("replica").await;
        if replication == Replication::Synchronous {
            pair.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
                .await;
            // Two statements: ALTER SYSTEM cannot run in the transaction a batch of them makes.
            pair.on_primary("ALTER SYSTEM SET synchronous_standby_names = '*'")
                .await;
            pair.on_primary("SELECT pg_reload_conf()").await;
            pair.wait_for("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")
                .await;
        }
        Some(pair)
    }

    /// Starts the primary alone (it has `wal_level = logical`, for tests of logical replication), or
    /// answers `None` as `start` does.
    pub async fn start_primary() -> Option<PgPair> {
        let Some(bin) = bindir().await else {
            assert!(
                !required(),
                "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are required"
            );
            eprintln!("skipped: no PostgreSQL server binaries (PG_BINDIR)");
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let as_postgres = is_root().await;
        if as_postgres {
            must(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path()),
                "chown the pair's directory",
            )
            .await;
        }
        let mut pair = PgPair {
            primary_port: free_port(),
            replica_port: free_port(),
            bin,
            dir,
            as_postgres,
        };
        pair.make_primary().await;
        pair.start_on_a_free_port("primary").await;
        Some(pair)
    }

    /// The primary's URL (its `postgres` database).
    pub fn primary_url(&self) -> String {
        url(self.primary_port, "postgres")
    }

    /// The replica's URL.
    pub fn replica_url(&self) -> String {
        url(self.replica_port, "postgres")
    }

    /// The URLs of another database of the pair, on the primary and on the replica.
    pub fn urls_of(&self, database: &str) -> (String, String) {
        (
            url(self.primary_port, database),
            url(self.replica_port, database),
        )
    }

    /// One URL naming both servers that connects to whichever accepts writes
    /// (`target_session_attrs=read-write`): where a store follows a promotion.
    pub fn failover_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
            self.primary_port, self.replica_port
        )
    }

    /// The count `sql` (a `SELECT count(*)`) answers in `database` on the primary.
    pub async fn count_in(&self, database: &str, sql: &str) -> i64 {
        let client = connect(&url(self.primary_port, database))
            .await
            .expect("connect to the primary");
        client.query_one(sql, &[]).await.expect(sql).get(0)
    }

    /// Runs `sql` on the primary.
    pub async fn on_primary(&self, sql: &str) {
        run_sql(&self.primary_url(), sql).await;
    }

    /// Runs `sql` on the replica.
    pub async fn on_replica(&self, sql: &str) {
        run_sql(&self.replica_url(), sql).await;
    }

    /// Stops applying what the primary sends (the replica still receives it): the replica falls behind.
    pub async fn pause_replay(&self) {
        self.on_replica("SELECT pg_wal_replay_pause()").await;
    }

    pub async fn resume_replay(&self) {
        self.on_replica("SELECT pg_wal_replay_resume()").await;
    }

    /// Makes the replica apply each commit `millis` after the primary made it (`recovery_min_apply_delay`):
    /// a replica that is always a little behind.
    pub async fn delay_replay(&self, millis: u32) {
        self.on_replica(&format!(
            "ALTER SYSTEM SET recovery_min_apply_delay = '{millis}ms'"
        ))
        .await;
        self.on_replica("SELECT pg_reload_conf()").await;
    }

    /// Stops the replica at once, as a crash would.
    pub async fn kill_replica(&self) {
        self.stop_server("replica").await;
    }

    /// Starts the replica again after `kill_replica`.
    pub async fn restart_replica(&self) {
        self.start_server("replica").await;
    }

    /// Stops the primary at once, as a crash would: nothing is flushed or sent after.
    pub async fn kill_primary(&self) {
        self.stop_server("primary").await;
    }

    /// Makes the replica the primary (`pg_ctl promote`) and waits until it accepts writes.
    pub async fn promote_replica(&self) {
        let data = self.data("replica");
        self.pg("pg_ctl", &["-D", &data, "-w", "-t", "30", "promote"])
            .await;
    }

    fn data(&self, which: &str) -> String {
        self.dir.path().join(which).display().to_string()
    }

    async fn make_primary(&self) {
        let data = self.data("primary");
        self.pg(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        )
        .await;
        let settings = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             wal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\n\
             fsync = off\nshared_buffers = '32MB'\n",
            self.primary_port,
            self.dir.path().display()
        );
        append(&Path::new(&data).join("postgresql.conf"), &settings);
        append(
            &Path::new(&data).join("pg_hba.conf"),
            "host replication all 127.0.0.1/32 trust\n",
        );
    }

    async fn make_replica(&self) {
        let data = self.data("replica");
        let port = self.primary_port.to_string();
        self.pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        )
        .await;
        append(
            &Path::new(&data).join("postgresql.conf"),
            &format!("port = {}\n", self.replica_port),
        );
    }

    async fn start_server(&self, which: &str) {
        assert!(self.try_start(which).await, "{}", self.failed_start(which));
    }

    /// Starts `which`, on another port each time its port was taken meanwhile (by a server another test
    /// started: every test picks from the same range).
    async fn start_on_a_free_port(&mut self, which: &str) {
        for _ in 0..3 {
            if self.try_start(which).await {
                return;
            }
            let log = std::fs::read_to_string(self.log(which)).unwrap_or_default();
            assert!(
                log.contains("could not bind"),
                "{}",
                self.failed_start(which)
            );
            let port = free_port();
            if which == "primary" {
                self.primary_port = port;
            } else {
                self.replica_port = port;
            }
            append(
                &Path::new(&self.data(which)).join("postgresql.conf"),
                &format!("port = {port}\n"),
            );
        }
        panic!("{}", self.failed_start(which));
    }

    async fn try_start(&self, which: &str) -> bool {
        let (data, log) = (self.data(which), self.log(which));
        let started = self
            .try_pg(
                "pg_ctl",
                &["-D", &data, "-l", &log, "-w", "-t", "30", "start"],
            )
            .await;
        started.status.success()
    }

    fn log(&self, which: &str) -> String {
        let log = self.dir.path().join(format!("{which}.log"));
        log.display().to_string()
    }

    fn failed_start(&self, which: &str) -> String {
        let log = std::fs::read_to_string(self.log(which)).unwrap_or_default();
        format!("the {which} PostgreSQL did not start:\n{log}")
    }

    async fn stop_server(&self, which: &str) {
        let data = self.data(which);
        self.pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .await;
    }

    /// Waits until `count`, a query of the primary answering a count, answers more than zero: the replica
    /// streams, or streams synchronously.
    async fn wait_for(&self, count: &str) {
        let client = connect(&self.primary_url())
            .await
            .expect("connect to the primary");
        for _ in 0..300 {
            let found = client.query_one(count, &[]).await.expect("count");
            if found.get::<_, i64>(0) > 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("not within 6 s: {count}");
    }

    /// Runs the server binary `program` with `args`, as `postgres` when the tests are root; panics with its
    /// output if it fails.
    async fn pg(&self, program: &str, args: &[&str]) {
        must(&mut self.command(program, args), program).await;
    }

    /// The same, answering how it went.
    async fn try_pg(&self, program: &str, args: &[&str]) -> Output {
        let output = self.command(program, args).output().await;
        output.expect("run a PostgreSQL command")
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let binary = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(binary);
            command
        } else {
            Command::new(binary)
        };
        command.args(args).current_dir(self.dir.path());
        command
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        for which in ["replica", "primary"] {
            let data = self.data(which);
            let binary = self.bin.join("pg_ctl");
            let mut command = if self.as_postgres {
                let mut command = std::process::Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(binary);
                command
            } else {
                std::process::Command::new(binary)
            };
            let _ = command
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

fn url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
}

async fn run_sql(url: &str, sql: &str) {
    let client = connect(url).await.expect("connect to PostgreSQL");
    client.batch_execute(sql).await.expect("run the statement");
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open a PostgreSQL configuration file");
    file.write_all(text.as_bytes())
        .expect("write a PostgreSQL configuration file");
}

async fn must(command: &mut Command, what: &str) -> Output {
    let output = command.output().await.expect("run a PostgreSQL command");
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

async fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().await;
    output.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Where `initdb`, `pg_ctl` and `pg_basebackup` are (see the module's doc).
async fn bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    if let Some((_, bin)) = newest {
        return Some(bin);
    }
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .await
        .ok()?;
    let dir = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}
