//! Retention: which conversations keep messages for a limited time, the purge of what is older, and the
//! purge job's last run per organization.

use parley_core::model::{Audience, Event, EventKind, Millis};
use parley_core::store::{
    PurgeBatch, PurgeRunRecord, RetentionRecords, RetentionTarget, StoreResult,
};
use parley_core::{ConversationId, MessageId, OrgId};
use rusqlite::{Connection, OptionalExtension, params};

use super::connection::backend;
use super::rows::{one, run};
use super::{SqliteStore, events};

/// A conversation's retention: its own where its org allows one, else its org's.
const EFFECTIVE_DAYS: &str = "CASE WHEN o.channel_retention AND c.retention_days IS NOT NULL
                                   THEN c.retention_days ELSE o.retention_days END";

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Pages of the search index one merge step writes at most: a step took up to 82 ms over an index of a
/// million messages (measured), so the writes queued behind it wait no longer.
const MERGE_STEP_PAGES: i64 = 500;
/// Merge steps a run takes at most (a million messages took 14).
const MAX_MERGE_STEPS: u32 = 100_000;

/// Whether FTS5 deletes rewrite the index's pages at once (secure-delete) or only mark the words deleted.
/// Rewriting cost a purge nine tenths of its time (2,300 deletions a second against 20,000, measured over a
/// million messages): the purge marks, and the run merges the index at its end (`merge_step`), which drops
/// the marked words. Search never finds a marked message meanwhile. Set in the purge's own write, so every
/// other write (an erase for everyone) rewrites as before.
fn search_secure_delete(c: &Connection, on: bool) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', ?1)",
        [i64::from(on)],
    )
    .map_err(backend)?;
    Ok(())
}

/// One step of merging the whole search index into one segment (FTS5's incremental optimize), which drops
/// the words of deleted messages for good; answers whether there was work to do.
fn merge_step(c: &Connection) -> StoreResult<bool> {
    let before = c.total_changes();
    run(
        c,
        "INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ?1)",
        [-MERGE_STEP_PAGES],
    )
    .map_err(backend)?;
    Ok(c.total_changes() - before >= 2)
}

fn id_list(ids: &[i64]) -> String {
    let listed: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", listed.join(","))
}

fn purge(
    c: &Connection,
    conversation_id: ConversationId,
    before: Millis,
    after: Option<MessageId>,
    limit: u32,
) -> StoreResult<PurgeBatch> {
    // The oldest messages after `after`, up to the first one at or after the cutoff.
    let oldest: Vec<(i64, i64, bool)> = c
        .prepare_cached(
            "SELECT id, created_at, thread_root_id IS NULL AND reply_count > 0 FROM messages
             WHERE conversation_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )
        .and_then(|mut s| {
            s.query_map(
                params![conversation_id.0, after.map_or(0, |m| m.0), limit],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?
            .collect()
        })
        .map_err(backend)?;
    let expired: Vec<&(i64, i64, bool)> = oldest.iter().take_while(|m| m.1 < before.0).collect();
    let Some(&&(through, _, _)) = expired.last() else {
        return Ok(PurgeBatch::default());
    };
    // A thread whose replies go on after this batch keeps its first message, as a tombstone.
    let mut kept = Vec::new();
    for &&(root, _, _) in expired.iter().filter(|m| m.2) {
        let goes_on = one(
            c,
            "SELECT EXISTS (SELECT 1 FROM messages WHERE thread_root_id = ?1 AND id > ?2)",
            params![root, through],
            |r| r.get::<_, bool>(0),
        )
        .map_err(backend)?;
        if goes_on {
            kept.push(root);
        }
    }
    let all: Vec<i64> = expired.iter().map(|m| m.0).collect();
    let gone: Vec<i64> = all
        .iter()
        .copied()
        .filter(|id| !kept.contains(id))
        .collect();
    let all = id_list(&all);
    // Threads that lose replies here and stay: their reply count is counted again at the end.
    let mut recount: Vec<i64> = c
        .prepare_cached(
            "SELECT DISTINCT thread_root_id FROM messages
             WHERE id IN (SELECT value FROM json_each(?1)) AND thread_root_id IS NOT NULL",
        )
        .and_then(|mut s| s.query_map([&all], |r| r.get(0))?.collect())
        .map_err(backend)?;
    recount.extend(&kept);
    let (gone, kept, recount) = (id_list(&gone), id_list(&kept), id_list(&recount));
    search_secure_delete(c, false)?;
    let newly_erased = one(
        c,
        "SELECT count(*) FROM messages WHERE id IN (SELECT value FROM json_each(?1)) AND deleted = 0",
        [&kept],
        |r| r.get::<_, i64>(0).map(count),
    )
    .map_err(backend)?;
    // Text first: the trigger takes the words out of the search index.
    run(
        c,
        "UPDATE messages SET text = NULL, deleted = 1, mention_ids = NULL, mention_channel = 0,
                             mention_here = 0
         WHERE id IN (SELECT value FROM json_each(?1)) AND text IS NOT NULL",
        [&all],
    )
    .map_err(backend)?;
    for sql in [
        "DELETE FROM reactions WHERE message_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM message_edits WHERE message_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM mentions WHERE message_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM push_deliveries WHERE message_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM notify_pending WHERE message_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM hidden_messages WHERE message_id IN (SELECT value FROM json_each(?1))",
    ] {
        run(c, sql, [&all]).map_err(backend)?;
    }
    run(
        c,
        "DELETE FROM pins WHERE conversation_id = ?1 AND message_id IN (SELECT value FROM json_each(?2))",
        params![conversation_id.0, &all],
    )
    .map_err(backend)?;
    // The collector deletes their objects after the commit.
    let files = run(
        c,
        "UPDATE files SET state = 3 WHERE message_id IN (SELECT value FROM json_each(?1)) AND state = 2",
        [&all],
    )
    .map_err(backend)?;
    run(
        c,
        "DELETE FROM thread_follows WHERE root_id IN (SELECT value FROM json_each(?1))",
        [&gone],
    )
    .map_err(backend)?;
    let deleted = run(
        c,
        "DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?1))",
        [&gone],
    )
    .map_err(backend)?;
    run(
        c,
        "UPDATE messages SET reply_count = (SELECT count(*) FROM messages r WHERE r.thread_root_id = messages.id)
         WHERE id IN (SELECT value FROM json_each(?1))",
        [&recount],
    )
    .map_err(backend)?;
    search_secure_delete(c, true)?;
    Ok(PurgeBatch {
        through: Some(MessageId(through)),
        messages: deleted as u64 + newly_erased,
        files: files as u64,
        more: expired.len() == oldest.len() && oldest.len() == limit as usize,
    })
}

fn end_purge(
    c: &Connection,
    conversation_id: ConversationId,
    through: MessageId,
    now: Millis,
) -> StoreResult<Event> {
    // Appended first, so the newest event stays whatever goes (cursors never start over).
    let purged = EventKind::ConversationPurged { through };
    let event = events::append(c, conversation_id, purged, Audience::Members, now)?;
    run(
        c,
        "DELETE FROM events
         WHERE conversation_id = ?1 AND message_id IS NOT NULL AND message_id <= ?2
           AND kind <> 'read.updated'
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = events.message_id)
           AND cursor < ?3",
        params![conversation_id.0, through.0, event.cursor.0],
    )
    .map_err(backend)?;
    Ok(event)
}

fn run_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<PurgeRunRecord> {
    Ok(PurgeRunRecord {
        org_id: OrgId(r.get(0)?),
        started_at: Millis(r.get(1)?),
        finished_at: r.get::<_, Option<i64>>(2)?.map(Millis),
        messages: count(r.get(3)?),
        files: count(r.get(4)?),
        conversations: count(r.get(5)?),
    })
}

#[async_trait::async_trait]
impl RetentionRecords for SqliteStore {
    async fn retention_orgs(&self, after: Option<OrgId>, limit: u32) -> StoreResult<Vec<OrgId>> {
        let after = after.map_or(0, |o| o.0);
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT id FROM orgs o
                     WHERE id > ?1 AND (retention_days > 0 OR (channel_retention AND EXISTS (
                         SELECT 1 FROM conversations c WHERE c.org_id = o.id AND c.retention_days > 0)))
                     ORDER BY id LIMIT ?2",
                )
                .and_then(|mut s| {
                    s.query_map(params![after, limit], |r| Ok(OrgId(r.get(0)?)))?
                        .collect()
                })
                .map_err(backend)
            })
            .await
    }

    async fn retention_targets(
        &self,
        org_id: OrgId,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<RetentionTarget>> {
        let after = after.map_or(0, |c| c.0);
        self.db
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT id, days FROM (
                         SELECT c.id, {EFFECTIVE_DAYS} AS days FROM conversations c
                         JOIN orgs o ON o.id = c.org_id WHERE c.org_id = ?1 AND c.id > ?2)
                     WHERE days > 0 ORDER BY id LIMIT ?3"
                ))
                .and_then(|mut s| {
                    s.query_map(params![org_id.0, after, limit], |r| {
                        Ok(RetentionTarget {
                            conversation_id: ConversationId(r.get(0)?),
                            org_id,
                            retention_days: r.get(1)?,
                        })
                    })?
                    .collect()
                })
                .map_err(backend)
            })
            .await
    }

    async fn purge_messages(
        &self,
        conversation_id: ConversationId,
        before: Millis,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<PurgeBatch> {
        self.db
            .write(move |c| purge(c, conversation_id, before, after, limit))
            .await
    }

    async fn end_purge(
        &self,
        conversation_id: ConversationId,
        through: MessageId,
        now: Millis,
    ) -> StoreResult<Event> {
        self.db
            .write(move |c| end_purge(c, conversation_id, through, now))
            .await
    }

    async fn record_purge_run(&self, r: PurgeRunRecord) -> StoreResult<()> {
        if r.finished_at.is_some() && r.messages > 0 {
            // The purged words leave the search index, a step per write so that other writes go between.
            for _ in 0..MAX_MERGE_STEPS {
                if !self.db.write(merge_step).await? {
                    break;
                }
            }
            // The purged text must not stay in the write-ahead log either: emptied once a run is over
            // (once per batch, it waited on readers at every batch and slowed the purge tenfold). Before
            // the run is recorded as finished, so that whoever sees it finished finds the text nowhere.
            self.db.empty_log().await;
        }
        self.db
            .write(move |c| {
                run(
                    c,
                    "INSERT INTO purge_runs (org_id, started_at, finished_at, messages, files, conversations)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (org_id) DO UPDATE SET started_at = excluded.started_at,
                         finished_at = excluded.finished_at, messages = excluded.messages,
                         files = excluded.files, conversations = excluded.conversations",
                    params![
                        r.org_id.0,
                        r.started_at.0,
                        r.finished_at.map(|m| m.0),
                        stored(r.messages),
                        stored(r.files),
                        stored(r.conversations)
                    ],
                )
                .map(|_| ())
                .map_err(backend)
            })
            .await
    }

    async fn last_purge_run(&self, org_id: OrgId) -> StoreResult<Option<PurgeRunRecord>> {
        self.db
            .lookup(|c| {
                one(
                    c,
                    "SELECT org_id, started_at, finished_at, messages, files, conversations
                     FROM purge_runs WHERE org_id = ?1",
                    [org_id.0],
                    run_record,
                )
                .optional()
                .map_err(backend)
            })
            .await
    }

    async fn channels_with_own_retention(&self, org_id: OrgId) -> StoreResult<u64> {
        self.db
            .lookup(|c| {
                one(
                    c,
                    "SELECT count(*) FROM conversations WHERE org_id = ?1 AND retention_days IS NOT NULL",
                    [org_id.0],
                    |r| r.get::<_, i64>(0).map(count),
                )
                .map_err(backend)
            })
            .await
    }
}
