//! Retention: which conversations keep messages for a limited time, the purge of what is older, and the
//! purge job's last run per organization.

use deadpool_postgres::GenericClient;
use parley_core::model::{Audience, Event, EventKind, Millis};
use parley_core::store::{
    PurgeBatch, PurgeRunRecord, RetentionRecords, RetentionTarget, StoreResult,
};
use parley_core::{ConversationId, MessageId, OrgId};
use tokio_postgres::Row;

use super::sql::{get, row, rows, run};
use super::{PgStore, events};

/// A conversation's retention: its own where its org allows one, else its org's.
const EFFECTIVE_DAYS: &str = "CASE WHEN o.channel_retention AND c.retention_days IS NOT NULL
                                   THEN c.retention_days ELSE o.retention_days END";

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn purge(
    c: &impl GenericClient,
    conversation_id: ConversationId,
    before: Millis,
    after: Option<MessageId>,
    limit: u32,
) -> StoreResult<PurgeBatch> {
    // The oldest messages after `after`, up to the first one at or after the cutoff.
    let oldest = rows(
        c,
        "SELECT id, created_at, thread_root_id IS NULL AND reply_count > 0 FROM messages
         WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        &[
            &conversation_id.0,
            &after.map_or(0, |m| m.0),
            &i64::from(limit),
        ],
    )
    .await?;
    let mut expired: Vec<(i64, bool)> = Vec::new();
    for r in &oldest {
        if get::<i64>(r, 1)? >= before.0 {
            break;
        }
        expired.push((get(r, 0)?, get(r, 2)?));
    }
    let Some(&(through, _)) = expired.last() else {
        return Ok(PurgeBatch::default());
    };
    let all: Vec<i64> = expired.iter().map(|m| m.0).collect();
    let roots: Vec<i64> = expired.iter().filter(|m| m.1).map(|m| m.0).collect();
    // A thread whose replies go on after this batch keeps its first message, as a tombstone.
    let kept: Vec<i64> = rows(
        c,
        "SELECT DISTINCT thread_root_id FROM messages WHERE thread_root_id = ANY($1) AND id > $2",
        &[&roots, &through],
    )
    .await?
    .iter()
    .map(|r| get(r, 0))
    .collect::<StoreResult<_>>()?;
    let gone: Vec<i64> = all
        .iter()
        .copied()
        .filter(|id| !kept.contains(id))
        .collect();
    // Threads that lose replies here and stay: their reply count is counted again at the end.
    let mut recount: Vec<i64> = rows(
        c,
        "SELECT DISTINCT thread_root_id FROM messages WHERE id = ANY($1) AND thread_root_id IS NOT NULL",
        &[&all],
    )
    .await?
    .iter()
    .map(|r| get(r, 0))
    .collect::<StoreResult<_>>()?;
    recount.extend(&kept);
    let erased = run(
        c,
        "UPDATE messages SET text = NULL, deleted = TRUE, mention_ids = NULL, mention_channel = FALSE,
                             mention_here = FALSE
         WHERE id = ANY($1) AND NOT deleted",
        &[&kept],
    )
    .await?;
    for sql in [
        "DELETE FROM reactions WHERE message_id = ANY($1)",
        "DELETE FROM message_edits WHERE message_id = ANY($1)",
        "DELETE FROM mentions WHERE message_id = ANY($1)",
        "DELETE FROM push_deliveries WHERE message_id = ANY($1)",
        "DELETE FROM notify_pending WHERE message_id = ANY($1)",
        "DELETE FROM hidden_messages WHERE message_id = ANY($1)",
    ] {
        run(c, sql, &[&all]).await?;
    }
    run(
        c,
        "DELETE FROM pins WHERE conversation_id = $1 AND message_id = ANY($2)",
        &[&conversation_id.0, &all],
    )
    .await?;
    // The collector deletes their objects after the commit.
    let files = run(
        c,
        "UPDATE files SET state = 3 WHERE message_id = ANY($1) AND state = 2",
        &[&all],
    )
    .await?;
    run(
        c,
        "DELETE FROM thread_follows WHERE root_id = ANY($1)",
        &[&gone],
    )
    .await?;
    // Deleting the row deletes its search entry (the foreign key's cascade).
    let deleted = run(c, "DELETE FROM messages WHERE id = ANY($1)", &[&gone]).await?;
    run(
        c,
        "UPDATE messages m SET reply_count = (SELECT count(*) FROM messages r WHERE r.thread_root_id = m.id)
         WHERE m.id = ANY($1)",
        &[&recount],
    )
    .await?;
    Ok(PurgeBatch {
        through: Some(MessageId(through)),
        messages: deleted + erased,
        files,
        more: expired.len() == oldest.len() && oldest.len() == limit as usize,
    })
}

fn run_record(r: &Row) -> StoreResult<PurgeRunRecord> {
    Ok(PurgeRunRecord {
        org_id: OrgId(get(r, 0)?),
        started_at: Millis(get(r, 1)?),
        finished_at: get::<Option<i64>>(r, 2)?.map(Millis),
        messages: count(get(r, 3)?),
        files: count(get(r, 4)?),
        conversations: count(get(r, 5)?),
    })
}

#[async_trait::async_trait]
impl RetentionRecords for PgStore {
    async fn retention_orgs(&self, after: Option<OrgId>, limit: u32) -> StoreResult<Vec<OrgId>> {
        let c = self.db.read().await?;
        rows(
            &c,
            "SELECT id FROM orgs o
             WHERE id > $1 AND (retention_days > 0 OR (channel_retention AND EXISTS (
                 SELECT 1 FROM conversations c WHERE c.org_id = o.id AND c.retention_days > 0)))
             ORDER BY id LIMIT $2",
            &[&after.map_or(0, |o| o.0), &i64::from(limit)],
        )
        .await?
        .iter()
        .map(|r| Ok(OrgId(get(r, 0)?)))
        .collect()
    }

    async fn retention_targets(
        &self,
        org_id: OrgId,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<RetentionTarget>> {
        let c = self.db.read().await?;
        let sql = format!(
            "SELECT id, days FROM (
                 SELECT c.id, {EFFECTIVE_DAYS} AS days FROM conversations c
                 JOIN orgs o ON o.id = c.org_id WHERE c.org_id = $1 AND c.id > $2) targets
             WHERE days > 0 ORDER BY id LIMIT $3"
        );
        rows(
            &c,
            &sql,
            &[&org_id.0, &after.map_or(0, |c| c.0), &i64::from(limit)],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(RetentionTarget {
                conversation_id: ConversationId(get(r, 0)?),
                org_id,
                retention_days: u32::try_from(get::<i32>(r, 1)?).unwrap_or(0),
            })
        })
        .collect()
    }

    async fn purge_messages(
        &self,
        conversation_id: ConversationId,
        before: Millis,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<PurgeBatch> {
        self.db
            .write(move |c| Box::pin(purge(c, conversation_id, before, after, limit)))
            .await
    }

    async fn end_purge(
        &self,
        conversation_id: ConversationId,
        through: MessageId,
        now: Millis,
    ) -> StoreResult<Event> {
        self.db
            .write(move |c| {
                Box::pin(async move {
                    // Appended first, so the newest event stays whatever goes.
                    let purged = EventKind::ConversationPurged { through };
                    let event =
                        events::append(c, conversation_id, purged, Audience::Members, now).await?;
                    run(
                        c,
                        "DELETE FROM events
                         WHERE conversation_id = $1 AND message_id IS NOT NULL AND message_id <= $2
                           AND kind <> 'read.updated'
                           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = events.message_id)
                           AND cursor < $3",
                        &[&conversation_id.0, &through.0, &event.cursor.0],
                    )
                    .await?;
                    Ok(event)
                })
            })
            .await
    }

    async fn record_purge_run(&self, r: PurgeRunRecord) -> StoreResult<()> {
        self.db
            .write(move |c| {
                Box::pin(async move {
                    run(
                        c,
                        "INSERT INTO purge_runs (org_id, started_at, finished_at, messages, files,
                                                 conversations)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (org_id) DO UPDATE SET started_at = excluded.started_at,
                             finished_at = excluded.finished_at, messages = excluded.messages,
                             files = excluded.files, conversations = excluded.conversations",
                        &[
                            &r.org_id.0,
                            &r.started_at.0,
                            &r.finished_at.map(|m| m.0),
                            &stored(r.messages),
                            &stored(r.files),
                            &stored(r.conversations),
                        ],
                    )
                    .await
                    .map(|_| ())
                })
            })
            .await
    }

    async fn last_purge_run(&self, org_id: OrgId) -> StoreResult<Option<PurgeRunRecord>> {
        let c = self.db.read().await?;
        row(
            &c,
            "SELECT org_id, started_at, finished_at, messages, files, conversations
             FROM purge_runs WHERE org_id = $1",
            &[&org_id.0],
        )
        .await?
        .as_ref()
        .map(run_record)
        .transpose()
    }

    async fn channels_with_own_retention(&self, org_id: OrgId) -> StoreResult<u64> {
        let c = self.db.read().await?;
        let found = row(
            &c,
            "SELECT count(*) FROM conversations WHERE org_id = $1 AND retention_days IS NOT NULL",
            &[&org_id.0],
        )
        .await?;
        match found {
            Some(r) => Ok(count(get(&r, 0)?)),
            None => Ok(0),
        }
    }
}
