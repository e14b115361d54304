//! Moving an organization to another shard while it is in use (`parley admin move-org`), with PostgreSQL's
//! own logical replication: nothing here copies a row itself.
//!
//! 1. **Prepare** (on the source): `org_move_guard` triggers on every table of organizations' rows fill the
//!    `org_id` of each row written from then on; the organization's rows written before get theirs; the
//!    tables' replica identity becomes `FULL` (a row filter may only read what an update or delete
//!    publishes); a publication names each table with a row filter on the organization, and a replication
//!    slot is made for it. Every sequence of the target jumps far past the source's, so nothing the target
//!    takes from now on sorts below a copied id or cursor, and nothing copied sorts above the target's own
//!    (which its writer, notifier and search indexer walk).
//! 2. **Copy** (on the target): a subscription copies the rows, then follows every change. It can be
//!    stopped (`stop`: the subscription is disabled, the source keeps the WAL for it) and resumed (running
//!    the move again), or undone (`undo`) before the switch.
//! 3. **Switch**: the directory holds the organization (routers everywhere wait with its requests); the
//!    source freezes it (`org_moves.frozen`, which waits for the writes that passed the guard and refuses
//!    every later one); once the target has the frozen row, it has every write before it, and every table
//!    is compared (rows and a digest of their text). Then the subscription goes, the directory names the
//!    target and releases the organization, and every node, told on `parley_directory`, closes the
//!    organization's sockets on the source so they resume on the target.
//! 4. **Finish**: after the nodes had time to hear it, the source deletes the organization's rows.

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
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("no organization {0:?} in the directory")]
    NoSuchOrg(String),
    #[error("there is no shard {0} (the configuration has {1})")]
    NoSuchShard(ShardNumber, usize),
    #[error("organization {0:?} is on shard {1} already")]
    AlreadyThere(String, ShardNumber),
    #[error("organization {0:?} is being moved to shard {1}: finish or undo that move first")]
    MovingElsewhere(String, i32),
    #[error(
        "the source's wal_level is {0}: logical replication needs wal_level = logical (a restart)"
    )]
    NotLogical(String),
    #[error("the target already has rows of organization {0:?} that no move of it is copying")]
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
        "table {0} differs between the source and the target after the hold; nothing was switched"
    )]
    Differs(&'static str),
    #[error("the move has switched already: move the organization back instead")]
    Switched,
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
            progress("switched before: deleting the organization's rows from the source");
            finish(&source, &target, &placed).await?;
            return Ok(Moved {
                rows: 0,
                copied_in: Duration::ZERO,
                held_for: Duration::ZERO,
            });
        }
        progress("preparing the source and the target");
        prepare(&source, &target, &placed, &self.shards[placed.from]).await?;
        progress("copying (the organization is in use meanwhile)");
        wait_for_copy(&target, &placed).await?;
        let copied_in = started.elapsed();
        progress("holding the organization's requests for the switch");
        let held = Instant::now();
        let rows = match switch(&directory, &source, &target, &placed).await {
            Ok(rows) => rows,
            Err(error) => {
                release(&directory, &source, &placed).await?;
                return Err(error);
            }
        };
        let held_for = held.elapsed();
        progress("switched: deleting the organization's rows from the source");
        tokio::time::sleep(FORGET_AFTER).await;
        finish(&source, &target, &placed).await?;
        Ok(Moved {
            rows,
            copied_in,
            held_for,
        })
    }

    /// Stops the copy of a move (preparing it first if no move of the organization is under way: a move
    /// to start later); running the move again resumes it.
    pub async fn stop(&self) -> Result<(), MoveError> {
        let directory = connect(&self.shards[0]).await?;
        let placed = self.placed(&directory).await?;
        if placed.switched {
            return Err(MoveError::Switched);
        }
        let source = connect(&self.shards[placed.from]).await?;
        let target = connect(&self.shards[placed.to]).await?;
        prepare(&source, &target, &placed, &self.shards[placed.from]).await?;
        target
            .batch_execute(&format!("ALTER SUBSCRIPTION {} DISABLE", placed.name))
            .await?;
        Ok(())
    }

    /// Undoes a move that has not switched: the copy and the copied rows go, and the source is as before.
    pub async fn undo(&self) -> Result<(), MoveError> {
        let directory = connect(&self.shards[0]).await?;
        let placed = self.placed(&directory).await?;
        if placed.switched {
            return Err(MoveError::Switched);
        }
        let source = connect(&self.shards[placed.from]).await?;
        let target = connect(&self.shards[placed.to]).await?;
        unsubscribe(&target, &placed.name).await?;
        delete_rows(&target, placed.org).await?;
        target
            .execute("DELETE FROM org_moves WHERE org_id = $1", &[&placed.org])
            .await?;
        unpublish(&source, &placed.name).await?;
        source
            .execute("DELETE FROM org_moves WHERE org_id = $1", &[&placed.org])
            .await?;
        unguard(&source).await?;
        announce(&directory, placed.org, "held = FALSE").await
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
        let from: i32 = found.try_get(1)?;
        let to = usize::from(self.to);
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        if to >= self.shards.len() || from >= self.shards.len() {
            return Err(MoveError::NoSuchShard(
                self.to
                    .max(ShardNumber::try_from(from).unwrap_or(ShardNumber::MAX)),
                self.shards.len(),
            ));
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
            let target: i32 = moving.try_get(0)?;
            if usize::try_from(target).ok() != Some(to) {
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

async fn connect(url: &str) -> Result<Client, MoveError> {
    let (client, connection) = url
        .parse::<tokio_postgres::Config>()?
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
    Ok(client)
}

/// Everything on the source and the target up to a running subscription; what a stopped or interrupted
/// move made already is kept (a stopped subscription is enabled again).
async fn prepare(
    source: &Client,
    target: &Client,
    placed: &Placed,
    source_url: &str,
) -> Result<(), MoveError> {
    let wal_level: String = source.query_one("SHOW wal_level", &[]).await?.try_get(0)?;
    if wal_level != "logical" {
        return Err(MoveError::NotLogical(wal_level));
    }
    let name = &placed.name;
    let org = placed.org;
    if subscribed(target, name).await? {
        target
            .batch_execute(&format!("ALTER SUBSCRIPTION {name} ENABLE"))
            .await?;
        return Ok(());
    }
    let there = target
        .query_opt("SELECT 1 FROM orgs WHERE id = $1", &[&org])
        .await?;
    if there.is_some() {
        return Err(MoveError::TargetHasIt(name.clone()));
    }
    let target_shard = i32::try_from(placed.to).unwrap_or(i32::MAX);
    source
        .execute(
            "INSERT INTO org_moves (org_id, target) VALUES ($1, $2) ON CONFLICT (org_id) DO NOTHING",
            &[&org, &target_shard],
        )
        .await?;
    // The guard first: once it is on a table (which waits for the writes under way there), every row
    // written gets its organization, so the fill below misses none.
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
            "message_id" => "SELECT id FROM messages WHERE org_id = $1",
            _ => "SELECT id FROM users WHERE org_id = $1",
        };
        source
            .execute(
                &format!(
                    "UPDATE {table} SET org_id = $1
                     WHERE org_id IS DISTINCT FROM $1 AND {via} IN ({owner})"
                ),
                &[&org],
            )
            .await?;
    }
    let mut filtered = Vec::with_capacity(TABLES.len() + 1);
    for (table, via) in TABLES {
        source
            .batch_execute(&format!("ALTER TABLE {table} REPLICA IDENTITY FULL"))
            .await?;
        let column = if *via == "orgs" { "id" } else { "org_id" };
        filtered.push(format!("{table} WHERE ({column} = {org})"));
    }
    filtered.push(format!("org_moves WHERE (org_id = {org})"));
    jump_sequences(source, target, placed.to, JUMP).await?;
    let published = source
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[name])
        .await?;
    if published.is_none() {
        source
            .batch_execute(&format!(
                "CREATE PUBLICATION {name} FOR TABLE {}",
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
    let conninfo = source_url.replace('\'', "''");
    target
        .batch_execute(&format!(
            "CREATE SUBSCRIPTION {name} CONNECTION '{conninfo}' PUBLICATION {name}
             WITH (create_slot = false, slot_name = '{name}', copy_data = true)"
        ))
        .await?;
    Ok(())
}

/// Whether the target has the move's subscription.
async fn subscribed(target: &Client, name: &str) -> Result<bool, MoveError> {
    Ok(target
        .query_opt("SELECT 1 FROM pg_subscription WHERE subname = $1", &[&name])
        .await?
        .is_some())
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
    let newest = source
        .query(
            "SELECT sequencename, coalesce(last_value, 0) FROM pg_sequences
             WHERE schemaname = current_schema()",
            &[],
        )
        .await?;
    for sequence in newest {
        let name: String = sequence.try_get(0)?;
        let last: i64 = sequence.try_get(1)?;
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        target
            .execute(
                "SELECT setval($1::text::regclass, ($2::bigint + $3::bigint) / $4::bigint * $4 + $5::bigint, false)
                 FROM pg_sequences
                 WHERE schemaname = current_schema() AND sequencename = $6::text
                   AND coalesce(last_value, 0) < $2 + $3",
                &[&quoted, &last, &by, &ID_STEP, &residue, &name],
            )
            .await?;
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
) -> Result<u64, MoveError> {
    let org = placed.org;
    announce(directory, org, "held = TRUE").await?;
    source
        .execute(
            "UPDATE org_moves SET frozen = TRUE WHERE org_id = $1",
            &[&org],
        )
        .await?;
    let deadline = Instant::now() + CATCH_UP_PATIENCE;
    loop {
        let frozen = target
            .query_opt("SELECT frozen FROM org_moves WHERE org_id = $1", &[&org])
            .await?;
        if let Some(frozen) = frozen
            && frozen.try_get::<_, bool>(0)?
        {
            break;
        }
        if Instant::now() > deadline {
            return Err(MoveError::TargetBehind(CATCH_UP_PATIENCE));
        }
        tokio::time::sleep(POLL).await;
    }
    let mut rows = 0;
    for (table, via) in TABLES {
        let column = if *via == "orgs" { "id" } else { "org_id" };
        let digest = format!(
            "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '')
             FROM {table} t WHERE {column} = $1"
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&org];
        let (there, here) = tokio::try_join!(
            source.query_one(&digest, &params),
            target.query_one(&digest, &params)
        )?;
        let count: i64 = there.try_get(0)?;
        if count != here.try_get::<_, i64>(0)?
            || there.try_get::<_, String>(1)? != here.try_get::<_, String>(1)?
        {
            return Err(MoveError::Differs(table));
        }
        rows += u64::try_from(count).unwrap_or(0);
    }
    unsubscribe(target, &placed.name).await?;
    // Nothing the target takes may sort below what it was given.
    jump_sequences(source, target, placed.to, ID_STEP).await?;
    // Messages the source's indexer had not reached: below the target's mark, its indexer never will.
    target
        .execute(
            "INSERT INTO message_search (message_id, search, org_id)
             SELECT id, to_tsvector('simple', text), org_id FROM messages m
             WHERE m.org_id = $1 AND m.text IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM message_search s WHERE s.message_id = m.id)
             ON CONFLICT (message_id) DO NOTHING",
            &[&org],
        )
        .await?;
    let to = i32::try_from(placed.to).unwrap_or(i32::MAX);
    announce(directory, org, &format!("held = FALSE, shard = {to}")).await?;
    Ok(rows)
}

/// Lets a held organization go on where it is, after a switch that failed.
async fn release(directory: &Client, source: &Client, placed: &Placed) -> Result<(), MoveError> {
    source
        .execute(
            "UPDATE org_moves SET frozen = FALSE WHERE org_id = $1",
            &[&placed.org],
        )
        .await?;
    announce(directory, placed.org, "held = FALSE").await
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

/// Drops the subscription (and leaves its slot to `unpublish`, on the source).
async fn unsubscribe(target: &Client, name: &str) -> Result<(), MoveError> {
    if subscribed(target, name).await? {
        target
            .batch_execute(&format!(
                "ALTER SUBSCRIPTION {name} DISABLE;
                 ALTER SUBSCRIPTION {name} SET (slot_name = NONE);
                 DROP SUBSCRIPTION {name};"
            ))
            .await?;
    }
    Ok(())
}

/// Drops the move's slot and publication on the source.
async fn unpublish(source: &Client, name: &str) -> Result<(), MoveError> {
    // The subscription's worker may take a moment to let go of the slot.
    let deadline = Instant::now() + CATCH_UP_PATIENCE;
    loop {
        let slot = source
            .query_opt(
                "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
                &[&name],
            )
            .await?;
        match slot {
            None => break,
            Some(slot) if !slot.try_get::<_, bool>(0)? || Instant::now() > deadline => {
                source
                    .execute("SELECT pg_drop_replication_slot($1)", &[&name])
                    .await?;
                break;
            }
            Some(_) => tokio::time::sleep(POLL * 10).await,
        }
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
        let column = if *via == "orgs" { "id" } else { "org_id" };
        sql.push_str(&format!(" DELETE FROM {table} WHERE {column} = {org};"));
    }
    sql.push_str(" COMMIT;");
    db.batch_execute(&sql).await?;
    Ok(())
}

/// Takes the guard triggers off and gives the tables their usual replica identity once no move runs from
/// this shard.
async fn unguard(source: &Client) -> Result<(), MoveError> {
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

/// After the switch: the source's copy of the organization goes, and the move's traces on both sides.
async fn finish(source: &Client, target: &Client, placed: &Placed) -> Result<(), MoveError> {
    unpublish(source, &placed.name).await?;
    delete_rows(source, placed.org).await?;
    source
        .execute("DELETE FROM org_moves WHERE org_id = $1", &[&placed.org])
        .await?;
    unguard(source).await?;
    target
        .execute("DELETE FROM org_moves WHERE org_id = $1", &[&placed.org])
        .await?;
    Ok(())
}
