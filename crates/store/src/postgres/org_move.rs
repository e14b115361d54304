//! Moving an organization to another shard while it is in use (`parley admin move-org`), with PostgreSQL's
//! own logical replication: nothing here copies a row itself.
//!
//! 1. **Prepare** (on the source): `org_move_guard` triggers on every table of organizations' rows fill the
//!    `org_id` of each row written from then on; the organization's rows written before get theirs, a batch
//!    at a time; the tables' replica identity becomes `FULL` (a row filter may only read what an update or
//!    delete publishes); a publication names each table with a row filter on the organization, and a
//!    replication slot is made for it. Both sides index `org_id` where it is set. Every sequence of the
//!    target jumps far past the source's, so nothing the target takes from now on sorts below a copied id
//!    or cursor. The target's writer, notifier and search indexer walk only the ids their shard took
//!    (`shard_ids::made_here`): what is copied in was walked on its own shard.
//! 2. **Copy** (on the target): a subscription copies the rows, then follows every change. It can be
//!    stopped (`stop`: the subscription is disabled, the source keeps the WAL for it) and resumed (running
//!    the move again), or undone (`undo`) before the switch.
//! 3. **Switch**: the directory holds the organization (routers everywhere wait with its requests, for at
//!    most `HOLD_LEASE`); the source freezes it (`org_moves.frozen_until`, for as long, which waits for the
//!    writes that passed the guard and refuses every later one); once the target has the freeze, it has every write
//!    before it, and every table's rows of the organization are counted on both sides. Then the directory names the
//!    target and releases the organization: every node, told on `parley_directory`, closes the
//!    organization's sockets on the source so they resume on the target. Anything failing before that
//!    releases the organization where it was, and the move can be run again.
//! 4. **Finish**: the subscription, slot and publication go, and after the nodes had time to hear of the
//!    switch, the source deletes the organization's rows. Interrupted, the move finishes when run again.

use std::time::{Duration, Instant};

use parley_core::store::{ID_STEP, ShardNumber};
use tokio_postgres::{Client, NoTls};

use super::directory::CHANGES_CHANNEL;

/// Every table of an organization's rows, and what names a row's organization (`org_move_guard`'s
/// argument): its own `org_id`, its own `id` (the organization), or the column of the row it belongs to.
/// In the order the prepare fills them: a message's organization is read from the message.
const TABLES: &[(&str, &str)] = &[
    ("orgs", "orgs"),
    ("users", "org"),
    ("conversations", "org"),
    ("invites", "org"),
    ("files", "org"),
    ("audit_log", "org"),
    ("org_default_channels", "org"),
    ("purge_runs", "org"),
    ("sso_configs", "org"),
    ("sso_flows", "org"),
    ("sso_identities", "org"),
    ("messages", "conversation_id"),
    ("members", "conversation_id"),
    ("events", "conversation_id"),
    ("mentions", "conversation_id"),
    ("pins", "conversation_id"),
    ("thread_follows", "conversation_id"),
    ("notify_pending", "conversation_id"),
    ("push_shown", "conversation_id"),
    ("reactions", "message_id"),
    ("message_edits", "message_id"),
    ("message_search", "message_id"),
    ("hidden_messages", "message_id"),
    ("sessions", "user_id"),
    ("push_subscriptions", "user_id"),
    ("push_deliveries", "user_id"),
    ("push_failures", "user_id"),
    ("contacts", "owner_id"),
];

/// How far the target's sequences jump past the source's: more ids than the source could take during a
/// copy (2^32 of each).
const JUMP: i64 = ID_STEP << 32;

/// How long the switch waits for the target to have every write of the frozen organization before it
/// gives up and lets the organization go on where it is.
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(30);

/// How long the copy may take before the move gives up waiting (it goes on; running the move again waits
/// again).
const COPY_PATIENCE: Duration = Duration::from_secs(3600);

/// How long the source keeps a moved organization's rows (frozen, so untouched) after the switch: time for
/// every node to hear of it and stop sending it there.
const FORGET_AFTER: Duration = Duration::from_secs(2);

/// How often the move looks again at what it waits for.
const POLL: Duration = Duration::from_millis(5);

/// How long the switch waits between holding the organization and freezing it: every node hears of the
/// hold, and the requests they had let through before finish, rather than be refused by the freeze.
const HOLD_SETTLES: Duration = Duration::from_millis(100);

/// Longest a move's hold lasts: a move that died holds its organization's requests no longer.
const HOLD_LEASE: Duration = Duration::from_secs(60);

/// How long a move's statement waits for a lock (its DDL, its freeze) before it fails, rather than stall
/// every write queued behind it.
const LOCK_PATIENCE: &str = "5s";

/// How many times a finishing move tries to take its guard off before it gives up (the next move takes it
/// off).
const UNGUARD_TRIES: u32 = 10;

/// Rows of a table that one statement of the prepare gives their `org_id`: each holds their locks briefly.
const FILL_BATCH: i64 = 5_000;

/// The advisory lock a source takes while it adds or removes the guard (keyed by its database and schema):
/// a move that finishes does not take away the guard of one that starts.
const GUARD_LOCK: &str =
    "hashtextextended('parley org moves ' || current_database() || '.' || current_schema(), 0)";

/// The SQLSTATE `org_move_guard` refuses a write of a frozen organization with.
const FROZEN: &str = "PMV01";

/// Whether `error` is the refusal of a write of an organization frozen for its move's switch: the write is
/// tried again later (by then on the organization's new shard).
pub(crate) fn frozen(error: &tokio_postgres::Error) -> bool {
    error.code().map(tokio_postgres::error::SqlState::code) == Some(FROZEN)
}

/// Where the directory and each shard are: `shards[0]` holds the directory.
pub struct OrgMove {
    pub handle: String,
    pub to: ShardNumber,
    pub shards: Vec<String>,
}

/// What a move took.
#[derive(Debug)]
pub struct Moved {
    pub rows: u64,
    /// From the start until the copy had caught up.
    pub copied_in: Duration,
    /// How long the organization's requests were held.
    pub held_for: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[error("a shard's URL is not a PostgreSQL URL")]
    BadUrl,
    #[error("no organization {0:?} in the directory")]
    NoSuchOrg(String),
    #[error("there is no shard {0} (the configuration has {1})")]
    NoSuchShard(ShardNumber, usize),
    #[error("organization {0:?} is on shard {1} already")]
    AlreadyThere(String, ShardNumber),
    #[error("organization {0:?} is being moved to shard {1}: finish or undo that move first")]
    MovingElsewhere(String, ShardNumber),
    #[error(
        "the source's wal_level is {0}: logical replication needs wal_level = logical (a restart)"
    )]
    NotLogical(String),
    #[error(
        "the target already has rows of organization {0:?} that no move of it is copying (a move that \
         failed at its switch): undo it (--undo), then move again"
    )]
    TargetHasIt(String),
    #[error(
        "the copy did not catch up within {0:?}; it goes on: run the move again to wait for it"
    )]
    CopyTooSlow(Duration),
    #[error(
        "the target did not catch up within {0:?} of the hold; the organization goes on where it is"
    )]
    TargetBehind(Duration),
    #[error(
        "table {0} has not as many rows of the organization on the target as on the source after the \
         hold; nothing was switched"
    )]
    Differs(&'static str),
    #[error("the move has switched already: move the organization back instead")]
    Switched,
    #[error(
        "the organization works on its new shard, but the clean-up of the old one failed: run the move \
         again to finish it"
    )]
    Unfinished(#[source] Box<MoveError>),
}

/// Where the organization is and which database is which.
struct Placed {
    org: i64,
    from: usize,
    to: usize,
    name: String,
    /// The directory names the target already: the move has yet to finish.
    switched: bool,
}

impl OrgMove {
    /// Moves the organization: prepares (unless a stopped or interrupted move of it did), waits for the
    /// copy, switches, and deletes its rows from the source. `progress` is told each step.
    pub async fn run(&self, progress: &(dyn Fn(&str) + Sync)) -> Result<Moved, MoveError> {
        let started = Instant::now();
        let directory = connect(&self.shards[0]).await?;
        let placed = self.placed(&directory).await?;
        let source = connect(&self.shards[placed.from]).await?;
        let target = connect(&self.shards[placed.to]).await?;
        if placed.switched {
            progress("switched before: finishing");
            finish(&source, &target, &placed)
                .await
                .map_err(|error| MoveError::Unfinished(Box::new(error)))?;
            return Ok(Moved {
                rows: 0,
                copied_in: Duration::ZERO,
                held_for: Duration::ZERO,
            });
        }
        progress("preparing the source and the target");
        prepare(&source, &target, &placed, self).await?;
        progress(&format!(
            "prepared in {} ms; copying (the organization is in use meanwhile)",
            started.elapsed().as_millis()
        ));
        wait_for_copy(&target, &placed).await?;
        let copied_in = started.elapsed();
        progress("holding the organization's requests for the switch");
        let held = Instant::now();
        let rows = match switch(&directory, &source, &target, &placed, progress).await {
            Ok(rows) => rows,
            Err(error) => {
                release(&directory, &source, &placed).await?;
                return Err(error);
            }
        };
        let held_for = held.elapsed();
        progress("switched: deleting the organization's rows from the source");
        finish(&source, &target, &placed)
            .await
            .map_err(|error| MoveError::Unfinished(Box::new(error)))?;
        Ok(Moved {
            rows,
            copied_in,
            held_for,
        })
    }

    /// Stops the copy of a move (preparing it first if no move of the organization is under way: a move
    /// to start later); running the move again resumes it. A hold left by a move that died is released.
    pub async fn stop(&self) -> Result<(), MoveError> {
        let (directory, placed, source, target) = self.unswitched().await?;
        release(&directory, &source, &placed).await?;
        prepare(&source, &target, &placed, self).await?;
        target
            .batch_execute(&format!("ALTER SUBSCRIPTION {} DISABLE", placed.name))
            .await?;
        Ok(())
    }

    /// Undoes a move that has not switched: the copy and the copied rows go, and the source is as before.
    pub async fn undo(&self) -> Result<(), MoveError> {
        let (directory, placed, source, target) = self.unswitched().await?;
        let subscription = unsubscribe(&target, &placed.name).await?;
        delete_rows(&target, placed.org).await?;
        target
            .execute("DELETE FROM org_moves WHERE org_id = $1", &[&placed.org])
            .await?;
        unpublish(&source, &placed.name, subscription).await?;
        source
            .execute("DELETE FROM org_moves WHERE org_id = $1", &[&placed.org])
            .await?;
        unguard(&source).await?;
        announce(&directory, placed.org, "held_until = NULL").await
    }

    /// Connections to the directory, the source and the target of a move that has not switched.
    async fn unswitched(&self) -> Result<(Client, Placed, Client, Client), MoveError> {
        let directory = connect(&self.shards[0]).await?;
        let placed = self.placed(&directory).await?;
        if placed.switched {
            return Err(MoveError::Switched);
        }
        let source = connect(&self.shards[placed.from]).await?;
        let target = connect(&self.shards[placed.to]).await?;
        Ok((directory, placed, source, target))
    }

    /// The organization's id and shard, and the shard it goes to: a move under way (an `org_moves` row on
    /// its shard) must be going there.
    async fn placed(&self, directory: &Client) -> Result<Placed, MoveError> {
        let found = directory
            .query_opt(
                "SELECT org_id, shard FROM directory_orgs WHERE handle = $1 AND org_id IS NOT NULL",
                &[&self.handle],
            )
            .await?
            .ok_or_else(|| MoveError::NoSuchOrg(self.handle.clone()))?;
        let org: i64 = found.try_get(0)?;
        let from = usize::try_from(found.try_get::<_, i32>(1)?).unwrap_or(usize::MAX);
        let to = usize::from(self.to);
        if to >= self.shards.len() {
            return Err(MoveError::NoSuchShard(self.to, self.shards.len()));
        }
        if from >= self.shards.len() {
            let from = ShardNumber::try_from(from).unwrap_or(ShardNumber::MAX);
            return Err(MoveError::NoSuchShard(from, self.shards.len()));
        }
        if from == to {
            // Unless this is a move that switched and has yet to finish: its source still has its row.
            for (other, url) in self.shards.iter().enumerate() {
                if other == to {
                    continue;
                }
                let shard = connect(url).await?;
                let moving = shard
                    .query_opt("SELECT 1 FROM org_moves WHERE org_id = $1", &[&org])
                    .await?;
                if moving.is_some() {
                    return Ok(Placed {
                        org,
                        from: other,
                        to,
                        name: name(org),
                        switched: true,
                    });
                }
            }
            return Err(MoveError::AlreadyThere(self.handle.clone(), self.to));
        }
        let source = connect(&self.shards[from]).await?;
        let moving = source
            .query_opt("SELECT target FROM org_moves WHERE org_id = $1", &[&org])
            .await?;
        if let Some(moving) = moving {
            let target = moving.try_get::<_, i32>(0)?;
            if usize::try_from(target).ok() != Some(to) {
                let target = ShardNumber::try_from(target).unwrap_or(ShardNumber::MAX);
                return Err(MoveError::MovingElsewhere(self.handle.clone(), target));
            }
        }
        Ok(Placed {
            org,
            from,
            to,
            name: name(org),
            switched: false,
        })
    }
}

/// The publication, slot and subscription of a move of organization `org`.
fn name(org: i64) -> String {
    format!("parley_move_{org}")
}

/// The column that names a row's organization in a table of `TABLES`.
fn org_column(via: &str) -> &'static str {
    if via == "orgs" { "id" } else { "org_id" }
}

async fn connect(url: &str) -> Result<Client, MoveError> {
    let (client, connection) = super::pool::config(url)
        .map_err(|_| MoveError::BadUrl)?
        .connect(NoTls)
        .await?;
    // Lives as long as the client: it ends when the client is dropped.
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "a move's connection failed"
            );
        }
    });
    client
        .batch_execute(&format!("SET lock_timeout = '{LOCK_PATIENCE}'"))
        .await?;
    Ok(client)
}

/// Everything on the source and the target up to a running subscription; what a stopped or interrupted
/// move made already is kept (a stopped subscription is enabled again).
async fn prepare(
    source: &Client,
    target: &Client,
    placed: &Placed,
    mover: &OrgMove,
) -> Result<(), MoveError> {
    let wal_level: String = source.query_one("SHOW wal_level", &[]).await?.try_get(0)?;
    if wal_level != "logical" {
        return Err(MoveError::NotLogical(wal_level));
    }
    let name = &placed.name;
    let org = placed.org;
    if subscribed(target, name).await?.is_some() {
        target
            .batch_execute(&format!("ALTER SUBSCRIPTION {name} ENABLE"))
            .await?;
        return Ok(());
    }
    let there = target
        .query_opt("SELECT 1 FROM orgs WHERE id = $1", &[&org])
        .await?;
    if there.is_some() {
        return Err(MoveError::TargetHasIt(mover.handle.clone()));
    }
    let target_shard = i32::try_from(placed.to).unwrap_or(i32::MAX);
    source
        .execute(&format!("SELECT pg_advisory_lock({GUARD_LOCK})"), &[])
        .await?;
    let guarded = guard(source, org, target_shard).await;
    source
        .execute(&format!("SELECT pg_advisory_unlock({GUARD_LOCK})"), &[])
        .await?;
    guarded?;
    for (table, via) in TABLES {
        // The organization itself is found by its primary key.
        if *via != "orgs" {
            index_org(source, table).await?;
            index_org(target, table).await?;
        }
    }
    let filtered: Vec<String> = TABLES
        .iter()
        .map(|(table, via)| format!("{table} WHERE ({} = {org})", org_column(via)))
        .chain([format!("org_moves WHERE (org_id = {org})")])
        .collect();
    jump_sequences(source, target, placed.to, JUMP).await?;
    let published = source
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[name])
        .await?;
    if published.is_none() {
        source
            .batch_execute(&format!(
                // Never a TRUNCATE: it would empty the target's whole table, every organization's.
                "CREATE PUBLICATION {name} FOR TABLE {} WITH (publish = 'insert, update, delete')",
                filtered.join(", ")
            ))
            .await?;
    }
    let slot = source
        .query_opt(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[name],
        )
        .await?;
    if slot.is_none() {
        // Made here rather than by the subscription: a subscription to a database of its own server cluster
        // cannot make its slot.
        source
            .execute(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
                &[name],
            )
            .await?;
    }
    let conninfo = mover.shards[placed.from].replace('\'', "''");
    target
        .batch_execute(&format!(
            "CREATE SUBSCRIPTION {name} CONNECTION '{conninfo}' PUBLICATION {name}
             WITH (create_slot = false, slot_name = '{name}', copy_data = true)"
        ))
        .await?;
    Ok(())
}

/// Records the move on the source, puts the guard on every table (which waits for the writes under way
/// there: from then on every row written gets its organization), gives the organization's rows written
/// before theirs, a batch at a time, and makes each table publish whole rows. The caller holds the guard
/// lock.
async fn guard(source: &Client, org: i64, target: i32) -> Result<(), MoveError> {
    source
        .execute(
            "INSERT INTO org_moves (org_id, target) VALUES ($1, $2) ON CONFLICT (org_id) DO NOTHING",
            &[&org, &target],
        )
        .await?;
    source
        .batch_execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS org_move_fill (n BIGSERIAL PRIMARY KEY, row_id TID NOT NULL);
             TRUNCATE org_move_fill RESTART IDENTITY",
        )
        .await?;
    for (table, via) in TABLES {
        source
            .batch_execute(&format!(
                "CREATE OR REPLACE TRIGGER org_move_guard BEFORE INSERT OR UPDATE OR DELETE ON {table}
                 FOR EACH ROW EXECUTE FUNCTION org_move_guard('{via}')"
            ))
            .await?;
    }
    for (table, via) in TABLES {
        let owner = match *via {
            "orgs" | "org" => continue,
            "conversation_id" => "SELECT id FROM conversations WHERE org_id = $1",
            "message_id" => {
                "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id
                 WHERE c.org_id = $1"
            }
            _ => "SELECT id FROM users WHERE org_id = $1",
        };
        // The rows to fill are listed once, then filled a batch at a time: each statement holds its rows'
        // locks briefly, and none walks the rows filled before it. A row updated meanwhile got its
        // organization from the guard (its listed version is gone, and matches nothing).
        let listed = source
            .execute(
                &format!(
                    "INSERT INTO org_move_fill (row_id)
                     SELECT ctid FROM {table} WHERE org_id IS NULL AND {via} IN ({owner})"
                ),
                &[&org],
            )
            .await?;
        let listed = i64::try_from(listed).unwrap_or(i64::MAX);
        let fill = format!(
            "UPDATE {table} SET org_id = $1 WHERE ctid = ANY(ARRAY(
                 SELECT row_id FROM org_move_fill WHERE n > $2 AND n <= $2 + $3))"
        );
        let mut done = 0;
        while done < listed {
            source.execute(&fill, &[&org, &done, &FILL_BATCH]).await?;
            done += FILL_BATCH;
        }
        source
            .batch_execute("TRUNCATE org_move_fill RESTART IDENTITY")
            .await?;
    }
    for (table, _) in TABLES {
        source
            .batch_execute(&format!("ALTER TABLE {table} REPLICA IDENTITY FULL"))
            .await?;
    }
    Ok(())
}

/// Indexes `table`'s rows that name an organization (those of moves), without blocking its writes; an
/// index a build left invalid (it failed half-way) is built again.
async fn index_org(db: &Client, table: &str) -> Result<(), MoveError> {
    let index = format!("{table}_by_moving_org");
    let valid = db
        .query_opt(
            "SELECT i.indisvalid FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relname = $1 AND n.nspname = current_schema()",
            &[&index],
        )
        .await?;
    match valid {
        Some(valid) if valid.try_get::<_, bool>(0)? => return Ok(()),
        Some(_) => {
            db.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {index}"))
                .await?;
        }
        None => {}
    }
    // A concurrent build waits for every transaction older than it, which no lock timeout should cut.
    db.batch_execute("SET lock_timeout = 0").await?;
    let built = db
        .batch_execute(&format!(
            "CREATE INDEX CONCURRENTLY {index} ON {table} (org_id) WHERE org_id IS NOT NULL"
        ))
        .await;
    db.batch_execute(&format!("SET lock_timeout = '{LOCK_PATIENCE}'"))
        .await?;
    built?;
    Ok(())
}

/// The oid of the move's subscription on the target, if it has it.
async fn subscribed(target: &Client, name: &str) -> Result<Option<u32>, MoveError> {
    let found = target
        .query_opt(
            "SELECT oid FROM pg_subscription WHERE subname = $1",
            &[&name],
        )
        .await?;
    Ok(found.map(|found| found.try_get(0)).transpose()?)
}

/// Makes every sequence of the target hand out values at least `by` past the source's newest, keeping the
/// target's shard's residue (`shard_ids.rs`); one already that far is left.
async fn jump_sequences(
    source: &Client,
    target: &Client,
    to: usize,
    by: i64,
) -> Result<(), MoveError> {
    let residue = i64::try_from(to).unwrap_or(0);
    let sequences = source
        .query(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()",
            &[],
        )
        .await?;
    for sequence in sequences {
        let name: String = sequence.try_get(0)?;
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        // Each sequence's own row: `pg_sequences` has no value for one set but not yet taken from.
        let newest = format!("SELECT last_value FROM {quoted}");
        let there: i64 = source.query_one(&newest, &[]).await?.try_get(0)?;
        let here: i64 = target.query_one(&newest, &[]).await?.try_get(0)?;
        let past = there.saturating_add(by);
        if here < past {
            // The first value of the target's residue above `past`: never below what the target had.
            let next = (past / ID_STEP + 1) * ID_STEP + residue;
            target
                .execute(
                    "SELECT setval($1::text::regclass, $2::bigint, false)",
                    &[&quoted, &next],
                )
                .await?;
        }
    }
    Ok(())
}

/// Waits until the subscription has copied every table and follows the source.
async fn wait_for_copy(target: &Client, placed: &Placed) -> Result<(), MoveError> {
    let deadline = Instant::now() + COPY_PATIENCE;
    let expected = i64::try_from(TABLES.len() + 1).unwrap_or(i64::MAX);
    loop {
        let state = target
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE r.srsubstate = 'r')
                 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
                 WHERE s.subname = $1",
                &[&placed.name],
            )
            .await?;
        let (tables, ready): (i64, i64) = (state.try_get(0)?, state.try_get(1)?);
        if tables == expected && ready == expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(MoveError::CopyTooSlow(COPY_PATIENCE));
        }
        tokio::time::sleep(POLL * 20).await;
    }
}

/// Holds and freezes the organization, waits for the target to have everything, compares, and switches
/// the directory. Answers how many rows moved. On an error nothing is switched (the caller releases).
async fn switch(
    directory: &Client,
    source: &Client,
    target: &Client,
    placed: &Placed,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<u64, MoveError> {
    let held = Instant::now();
    let org = placed.org;
    let lease = i64::try_from(HOLD_LEASE.as_millis()).unwrap_or(i64::MAX);
    announce(
        directory,
        org,
        &format!("held_until = (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT + {lease}"),
    )
    .await?;
    tokio::time::sleep(HOLD_SETTLES).await;
    let frozen: i64 = source
        .query_one(
            &format!(
                "UPDATE org_moves
                 SET frozen_until = (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT + {lease}
                 WHERE org_id = $1 RETURNING frozen_until"
            ),
            &[&org],
        )
        .await?
        .try_get(0)?;
    let deadline = Instant::now() + CATCH_UP_PATIENCE;
    loop {
        let there = target
            .query_opt(
                "SELECT 1 FROM org_moves WHERE org_id = $1 AND frozen_until = $2",
                &[&org, &frozen],
            )
            .await?;
        if there.is_some() {
            break;
        }
        if Instant::now() > deadline {
            return Err(MoveError::TargetBehind(CATCH_UP_PATIENCE));
        }
        tokio::time::sleep(POLL).await;
    }
    progress(&format!(
        "the target has every write, {} ms into the hold",
        held.elapsed().as_millis()
    ));
    let mut rows = 0;
    for (table, via) in TABLES {
        // Counted on the index of `org_id`, while requests wait: logical replication carries each row whole,
        // so what is there is what the source has (a digest of every row's text doubled the hold).
        let counted = format!(
            "SELECT count(*) FROM {table} WHERE {} = $1",
            org_column(via)
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&org];
        let (there, here) = tokio::try_join!(
            source.query_one(&counted, &params),
            target.query_one(&counted, &params)
        )?;
        let count: i64 = there.try_get(0)?;
        if count != here.try_get::<_, i64>(0)? {
            return Err(MoveError::Differs(table));
        }
        rows += u64::try_from(count).unwrap_or(0);
    }
    progress(&format!(
        "{rows} rows alike on both sides, {} ms into the hold",
        held.elapsed().as_millis()
    ));
    // Nothing the target takes may sort below what it was given.
    jump_sequences(source, target, placed.to, ID_STEP).await?;
    let to = i32::try_from(placed.to).unwrap_or(i32::MAX);
    announce(directory, org, &format!("held_until = NULL, shard = {to}")).await?;
    Ok(rows)
}

/// Lets a held or frozen organization go on where it is, unless the directory names the target already
/// (a switch whose answer was lost): then the source stays frozen until the move finishes.
async fn release(directory: &Client, source: &Client, placed: &Placed) -> Result<(), MoveError> {
    let to = i32::try_from(placed.to).unwrap_or(i32::MAX);
    let switched = directory
        .query_opt(
            "SELECT 1 FROM directory_orgs WHERE org_id = $1 AND shard = $2",
            &[&placed.org, &to],
        )
        .await?;
    if switched.is_none() {
        source
            .execute(
                "UPDATE org_moves SET frozen_until = NULL WHERE org_id = $1",
                &[&placed.org],
            )
            .await?;
    }
    announce(directory, placed.org, "held_until = NULL").await
}

/// Changes the organization's directory entry (`set`, an SQL assignment of constants) and announces it
/// to every node, in one transaction: a node hears it once it is so.
async fn announce(directory: &Client, org: i64, set: &str) -> Result<(), MoveError> {
    directory
        .execute(
            &format!(
                "WITH changed AS (
                     UPDATE directory_orgs SET {set} WHERE org_id = $1 RETURNING org_id, handle
                 )
                 SELECT pg_notify('{CHANGES_CHANNEL}', org_id || ' ' || handle) FROM changed"
            ),
            &[&org],
        )
        .await?;
    Ok(())
}

/// Drops the subscription, leaving its slots to `unpublish` on the source; answers its oid if there was
/// one.
async fn unsubscribe(target: &Client, name: &str) -> Result<Option<u32>, MoveError> {
    let subscription = subscribed(target, name).await?;
    if subscription.is_some() {
        target
            .batch_execute(&format!(
                "ALTER SUBSCRIPTION {name} DISABLE;
                 ALTER SUBSCRIPTION {name} SET (slot_name = NONE);
                 DROP SUBSCRIPTION {name};"
            ))
            .await?;
    }
    Ok(subscription)
}

/// Drops the move's slot, the table-copy slots of its subscription (oid `subscription`; a copy stopped
/// half-way leaves them), and its publication on the source.
async fn unpublish(
    source: &Client,
    name: &str,
    subscription: Option<u32>,
) -> Result<(), MoveError> {
    let copies = subscription.map(|oid| format!("pg\\_{oid}\\_sync\\_%"));
    // The subscription's workers may take a moment to let go of the slots.
    let deadline = Instant::now() + CATCH_UP_PATIENCE;
    loop {
        let slots = source
            .query(
                "SELECT slot_name, active FROM pg_replication_slots
                 WHERE slot_name = $1 OR slot_name LIKE $2",
                &[&name, &copies],
            )
            .await?;
        let mut waiting = false;
        for slot in &slots {
            let (slot, active): (String, bool) = (slot.try_get(0)?, slot.try_get(1)?);
            if !active || Instant::now() > deadline {
                source
                    .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
                    .await?;
            } else {
                waiting = true;
            }
        }
        if !waiting {
            break;
        }
        tokio::time::sleep(POLL * 10).await;
    }
    source
        .batch_execute(&format!("DROP PUBLICATION IF EXISTS {name}"))
        .await?;
    Ok(())
}

/// Deletes every row of organization `org` (whose rows all name it), without the checks and triggers a
/// row-by-row delete would run: the whole organization goes at once.
async fn delete_rows(db: &Client, org: i64) -> Result<(), MoveError> {
    let mut sql = String::from("BEGIN; SET LOCAL session_replication_role = replica;");
    for (table, via) in TABLES {
        sql.push_str(&format!(
            " DELETE FROM {table} WHERE {} = {org};",
            org_column(via)
        ));
    }
    sql.push_str(" COMMIT;");
    db.batch_execute(&sql).await?;
    Ok(())
}

/// Takes the guard triggers off and gives the tables their usual replica identity once no move runs from
/// this shard.
async fn unguard(source: &Client) -> Result<(), MoveError> {
    source
        .execute(&format!("SELECT pg_advisory_lock({GUARD_LOCK})"), &[])
        .await?;
    let unguarded = async {
        let moving = source
            .query_opt("SELECT 1 FROM org_moves LIMIT 1", &[])
            .await?;
        if moving.is_some() {
            return Ok(());
        }
        for (table, _) in TABLES {
            source
                .batch_execute(&format!(
                    "DROP TRIGGER IF EXISTS org_move_guard ON {table};
                     ALTER TABLE {table} REPLICA IDENTITY DEFAULT;"
                ))
                .await?;
        }
        Ok(())
    }
    .await;
    source
        .execute(&format!("SELECT pg_advisory_unlock({GUARD_LOCK})"), &[])
        .await?;
    unguarded
}

/// After the switch: the copy goes, and once every node had time to hear of the switch, the source's rows
/// of the organization and the move's traces on both sides.
async fn finish(source: &Client, target: &Client, placed: &Placed) -> Result<(), MoveError> {
    // Messages the source's indexer had not reached when the organization froze: the target's indexer
    // passes copied ones by. Until they are in, a search there misses them (out of the hold, though).
    target
        .execute(
            "INSERT INTO message_search (message_id, search, org_id)
             SELECT id, to_tsvector('simple', text), org_id FROM messages m
             WHERE m.org_id = $1 AND m.text IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM message_search s WHERE s.message_id = m.id)
             ON CONFLICT (message_id) DO NOTHING",
            &[&placed.org],
        )
        .await?;
    let subscription = unsubscribe(target, &placed.name).await?;
    target
        .execute("DELETE FROM org_moves WHERE org_id = $1", &[&placed.org])
        .await?;
    unpublish(source, &placed.name, subscription).await?;
    tokio::time::sleep(FORGET_AFTER).await;
    delete_rows(source, placed.org).await?;
    source
        .execute("DELETE FROM org_moves WHERE org_id = $1", &[&placed.org])
        .await?;
    // Taking the guard off needs each table to itself for a moment: under load, it may take a few tries.
    let mut tries = 1;
    loop {
        match unguard(source).await {
            Err(error) if tries < UNGUARD_TRIES => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "cannot take the move's guard off yet; trying again"
                );
                tries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            unguarded => return unguarded,
        }
    }
}
