//! What the notifier keeps: subscriptions, shards and their cursors, pending notifications and deliveries.
//!
//! None of these writes makes an event, so none goes through the writer or takes the cluster's turn (which
//! would make every node's sends wait on the notifier): each runs on a pooled connection in a short
//! transaction of its own. The writes of `decide` and `dispatch` are fenced: they lock the shards' rows and
//! change nothing unless the node still holds every one of them.

use deadpool_postgres::{GenericClient, Transaction};
use parley_core::model::Millis;
use parley_core::proto::v1::ConversationKind;
use parley_core::store::{
    Candidate, Decided, Delivery, LogEntry, NewDelivery, NewPushSubscription, NotifyRecords,
    Outcome, Pending, PushSubscription, PushTarget, QuietHours, SHARDS, SentMessage, StoreError,
    StoreResult, shard_of,
};
use parley_core::{ConversationId, Cursor, MessageId, OrgId, SubscriptionId, UserId};
use tokio_postgres::Row;

use super::PgStore;
use super::shard_ids::made_here;
use super::sql::{self, backend, get, row, rows, run};

const SUBSCRIPTION_COLUMNS: &str =
    "s.id, s.user_id, s.session_hash, s.kind, s.endpoint, s.p256dh, s.auth, s.secret, s.created_at";
/// How many columns `SUBSCRIPTION_COLUMNS` has: where the columns after them start.
const SUBSCRIPTION_COLUMN_COUNT: usize = 9;

const WEB_PUSH: i16 = 0;
const WEBHOOK: i16 = 1;

fn subscription_at(row: &Row, start: usize) -> StoreResult<PushSubscription> {
    let hash: Vec<u8> = get(row, start + 2)?;
    let kind: i16 = get(row, start + 3)?;
    let endpoint: String = get(row, start + 4)?;
    let text = |index| -> StoreResult<String> {
        Ok(get::<Option<String>>(row, start + index)?.unwrap_or_default())
    };
    let target = if kind == WEBHOOK {
        PushTarget::Webhook {
            url: endpoint,
            secret: text(7)?,
        }
    } else {
        PushTarget::WebPush {
            endpoint,
            p256dh: text(5)?,
            auth: text(6)?,
        }
    };
    Ok(PushSubscription {
        id: SubscriptionId(get(row, start)?),
        user_id: UserId(get(row, start + 1)?),
        session_hash: hash.try_into().unwrap_or([0; 32]),
        target,
        created_at: Millis(get(row, start + 8)?),
    })
}

/// Shards as the `smallint` columns hold them, each once.
/// Cursors one `log_after` scans at most.
const SCAN: i64 = 20_000;

fn shard_numbers(shards: &[u16]) -> Vec<i16> {
    let mut numbers: Vec<i16> = shards
        .iter()
        .filter(|&&shard| shard < SHARDS)
        .map(|&shard| shard as i16)
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

fn shard_number(user: UserId) -> i16 {
    shard_of(user) as i16
}

fn count(found: Option<Row>) -> StoreResult<i64> {
    match &found {
        Some(r) => get(r, 0),
        None => Ok(0),
    }
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

/// Locks the node's rows of `shards`; whether it still holds every one of them.
async fn holds(t: &Transaction<'_>, node: &str, shards: &[u16], now: Millis) -> StoreResult<bool> {
    let numbers = shard_numbers(shards);
    let held = rows(
        t,
        "SELECT shard FROM notify_shards WHERE shard = ANY($1) AND owner = $2 AND lease_until > $3
         ORDER BY shard FOR UPDATE",
        &[&numbers, &node, &now.0],
    )
    .await?;
    Ok(held.len() == numbers.len() && shards.iter().all(|&shard| shard < SHARDS))
}

/// Queues one delivery per subscription of each delivery's user, in the order given. A delivery of a
/// message erased meanwhile is not queued: its payload may carry a preview of the text.
async fn queue_deliveries(
    t: &Transaction<'_>,
    deliveries: &[NewDelivery],
    now: Millis,
) -> StoreResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let users: Vec<i64> = deliveries.iter().map(|d| d.user_id.0).collect();
    let shards: Vec<i16> = deliveries.iter().map(|d| shard_number(d.user_id)).collect();
    let conversations: Vec<i64> = deliveries.iter().map(|d| d.conversation_id.0).collect();
    let messages: Vec<Option<i64>> = deliveries
        .iter()
        .map(|d| d.message_id.map(|m| m.0))
        .collect();
    let ids: Vec<&str> = deliveries
        .iter()
        .map(|d| d.notification_id.as_str())
        .collect();
    let payloads: Vec<&str> = deliveries.iter().map(|d| d.payload.as_str()).collect();
    let topics: Vec<&str> = deliveries.iter().map(|d| d.topic.as_str()).collect();
    let urgencies: Vec<&str> = deliveries.iter().map(|d| d.urgency).collect();
    let sent: Vec<i64> = deliveries.iter().map(|d| d.sent_at.0).collect();
    run(
        t,
        "INSERT INTO push_deliveries (subscription_id, user_id, shard, conversation_id, message_id,
             notification_id, payload, topic, urgency, sent_at, first_at, next_at, attempts)
         SELECT s.id, d.user_id, d.shard, d.conversation_id, d.message_id, d.notification_id, d.payload,
             d.topic, d.urgency, d.sent_at, $10, $10, 0
         FROM UNNEST($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::bigint[]) WITH ORDINALITY
             AS d (user_id, shard, conversation_id, message_id, notification_id, payload, topic, urgency,
                   sent_at, position)
         JOIN push_subscriptions s ON s.user_id = d.user_id
         WHERE d.message_id IS NULL
            OR EXISTS (SELECT 1 FROM messages m WHERE m.id = d.message_id AND NOT m.deleted)
         ORDER BY d.position, s.id",
        &[
            &users,
            &shards,
            &conversations,
            &messages,
            &ids,
            &payloads,
            &topics,
            &urgencies,
            &sent,
            &now.0,
        ],
    )
    .await?;
    Ok(())
}

impl PgStore {
    /// Runs `work` in a transaction of its own on a pooled connection, committed if it succeeds.
    async fn notifier_transaction<T>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut c = self.db.read().await?;
        let t = c.transaction().await.map_err(backend)?;
        let result = work(&t).await?;
        t.commit().await.map_err(backend)?;
        Ok(result)
    }
}

#[async_trait::async_trait]
impl NotifyRecords for PgStore {
    async fn add_subscription(
        &self,
        new: NewPushSubscription,
        max_per_user: u32,
    ) -> StoreResult<PushSubscription> {
        let (kind, endpoint, p256dh, auth, secret) = match &new.target {
            PushTarget::WebPush {
                endpoint,
                p256dh,
                auth,
            } => (WEB_PUSH, endpoint, Some(p256dh), Some(auth), None),
            PushTarget::Webhook { url, secret } => (WEBHOOK, url, None, None, Some(secret)),
        };
        let (user, hash) = (new.user_id.0, new.session_hash.to_vec());
        self.notifier_transaction(async |t| {
            // One add at a time per user, so two devices subscribing together cannot pass the limit.
            run(
                t,
                "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
                &[&user],
            )
            .await?;
            let found = row(
                t,
                "SELECT count(*), coalesce(bool_or(endpoint = $2), FALSE) FROM push_subscriptions
                 WHERE user_id = $1",
                &[&user, endpoint],
            )
            .await?
            .ok_or_else(|| sql::vanished("subscription count"))?;
            let (existing, replaces): (i64, bool) = (get(&found, 0)?, get(&found, 1)?);
            if !replaces && existing >= i64::from(max_per_user) {
                return Err(StoreError::Conflict("subscriptions"));
            }
            let sql = format!(
                "INSERT INTO push_subscriptions AS s
                     (user_id, session_hash, kind, endpoint, p256dh, auth, secret, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (user_id, endpoint) DO UPDATE SET session_hash = excluded.session_hash,
                     kind = excluded.kind, p256dh = excluded.p256dh, auth = excluded.auth,
                     secret = excluded.secret, created_at = excluded.created_at
                 RETURNING {SUBSCRIPTION_COLUMNS}"
            );
            let params: sql::Params<'_> = &[
                &user, &hash, &kind, endpoint, &p256dh, &auth, &secret, &new.now.0,
            ];
            let made = row(t, &sql, params)
                .await?
                .ok_or_else(|| sql::vanished("subscription"))?;
            subscription_at(&made, 0)
        })
        .await
    }

    async fn subscriptions_of(&self, user: UserId) -> StoreResult<Vec<PushSubscription>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions s WHERE s.user_id = $1 ORDER BY s.id"
        );
        rows(&self.db.read().await?, &sql, &[&user.0])
            .await?
            .iter()
            .map(|r| subscription_at(r, 0))
            .collect()
    }

    async fn delete_subscription(&self, user: UserId, id: SubscriptionId) -> StoreResult<bool> {
        let deleted = row(
            &self.db.read().await?,
            "WITH gone AS (DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2 RETURNING id),
             deliveries AS (DELETE FROM push_deliveries WHERE subscription_id IN (SELECT id FROM gone))
             SELECT count(*) FROM gone",
            &[&id.0, &user.0],
        )
        .await?;
        Ok(count(deleted)? > 0)
    }

    async fn quiet_hours(&self, user: UserId) -> StoreResult<Option<QuietHours>> {
        let found = row(
            &self.db.read().await?,
            "SELECT quiet_start, quiet_end, quiet_time_zone FROM users WHERE id = $1",
            &[&user.0],
        )
        .await?;
        let Some(found) = found else {
            return Ok(None);
        };
        let (start, end, time_zone) = (
            get::<Option<i16>>(&found, 0)?,
            get::<Option<i16>>(&found, 1)?,
            get::<Option<String>>(&found, 2)?,
        );
        Ok(match (start, end, time_zone) {
            (Some(start), Some(end), Some(time_zone)) => Some(QuietHours {
                start: u16::try_from(start).unwrap_or(0),
                end: u16::try_from(end).unwrap_or(0),
                time_zone,
            }),
            _ => None,
        })
    }

    async fn set_quiet_hours(&self, user: UserId, hours: Option<QuietHours>) -> StoreResult<()> {
        let minutes = |m: u16| i16::try_from(m).unwrap_or(i16::MAX);
        let (start, end, time_zone) = match &hours {
            Some(h) => (
                Some(minutes(h.start)),
                Some(minutes(h.end)),
                Some(h.time_zone.as_str()),
            ),
            None => (None, None, None),
        };
        run(
            &self.db.read().await?,
            "UPDATE users SET quiet_start = $2, quiet_end = $3, quiet_time_zone = $4 WHERE id = $1",
            &[&user.0, &start, &end, &time_zone],
        )
        .await?;
        Ok(())
    }

    async fn push_previews(&self, org: OrgId) -> StoreResult<bool> {
        let found = row(
            &self.db.read().await?,
            "SELECT push_previews FROM orgs WHERE id = $1",
            &[&org.0],
        )
        .await?;
        match found {
            Some(r) => get(&r, 0),
            None => Ok(true),
        }
    }

    async fn set_push_previews(&self, org_handle: &str, on: bool) -> StoreResult<bool> {
        let changed = run(
            &self.db.read().await?,
            "UPDATE orgs SET push_previews = $2 WHERE handle = $1",
            &[&org_handle, &on],
        )
        .await?;
        Ok(changed > 0)
    }

    async fn hold_shards(
        &self,
        node: &str,
        now: Millis,
        until: Millis,
        want: usize,
    ) -> StoreResult<Vec<(u16, Cursor)>> {
        let want = i64::try_from(want).unwrap_or(i64::MAX);
        self.notifier_transaction(async |t| {
            // Locked in shard order, as `decide` and `dispatch` lock them.
            let owned = rows(
                t,
                "SELECT shard FROM notify_shards WHERE owner = $1 ORDER BY shard FOR UPDATE",
                &[&node],
            )
            .await?;
            let owned = i64::try_from(owned.len()).unwrap_or(i64::MAX);
            run(
                t,
                "UPDATE notify_shards SET lease_until = $2 WHERE owner = $1",
                &[&node, &until.0],
            )
            .await?;
            if owned < want {
                // Rows another node is renewing right now are skipped, not waited for.
                run(
                    t,
                    "UPDATE notify_shards SET owner = $1, lease_until = $3
                     WHERE shard IN (
                         SELECT shard FROM notify_shards
                         WHERE (owner IS NULL OR lease_until < $2) AND owner IS DISTINCT FROM $1
                         ORDER BY shard LIMIT $4 FOR UPDATE SKIP LOCKED
                     )",
                    &[&node, &now.0, &until.0, &(want - owned)],
                )
                .await?;
            } else if owned > want {
                run(
                    t,
                    "UPDATE notify_shards SET owner = NULL, lease_until = 0
                     WHERE shard IN (
                         SELECT shard FROM notify_shards WHERE owner = $1 ORDER BY shard DESC LIMIT $2
                     )",
                    &[&node, &(owned - want)],
                )
                .await?;
            }
            rows(
                t,
                "SELECT shard, cursor FROM notify_shards WHERE owner = $1 ORDER BY shard",
                &[&node],
            )
            .await?
            .iter()
            .map(|r| {
                let shard: i16 = get(r, 0)?;
                Ok((u16::try_from(shard).unwrap_or(0), Cursor(get(r, 1)?)))
            })
            .collect()
        })
        .await
    }

    async fn log_after(&self, after: Cursor, limit: u32) -> StoreResult<(Vec<LogEntry>, Cursor)> {
        if limit == 0 {
            return Ok((Vec::new(), after));
        }
        let c = self.db.read().await?;
        // Only this shard's events: those a move copied in were looked at on the shard that took them.
        let here = made_here("cursor", self.shard);
        // The end first: every event up to it is committed (cursors are taken in the turn, in commit
        // order), so the scan below sees no gap, whatever commits while it runs.
        let end = count(
            row(
                &c,
                &format!("SELECT coalesce(max(cursor), 0) FROM events WHERE {here}"),
                &[],
            )
            .await?,
        )?;
        // At most `SCAN` events' worth of cursors at once from the first event after `after`, so one scan
        // stays short however far behind it is; on a shard, cursors are `cursor_step` apart and may jump.
        let first = count(
            row(
                &c,
                &format!(
                    "SELECT coalesce(min(cursor), 0) FROM events WHERE cursor > $1 AND {here}"
                ),
                &[&after.0],
            )
            .await?,
        )?;
        let upto = Cursor(end.min(first.saturating_add(SCAN.saturating_mul(self.id_step))));
        let found = rows(
            &c,
            &format!(
                "SELECT cursor, kind, conversation_id, user_id, message_id FROM events
             WHERE cursor > $1 AND cursor <= $2 AND {here} AND (
                 (kind = 'message.created' AND EXISTS (
                     SELECT 1 FROM members m JOIN push_subscriptions s ON s.user_id = m.user_id
                     WHERE m.conversation_id = events.conversation_id AND m.user_id <> events.user_id))
                 OR (kind = 'read.updated' AND EXISTS (
                     SELECT 1 FROM push_shown p
                     WHERE p.user_id = events.user_id AND p.conversation_id = events.conversation_id)))
             ORDER BY cursor LIMIT $3"
            ),
            &[&after.0, &upto.0, &self::limit(limit)],
        )
        .await?;
        let mut entries = Vec::with_capacity(found.len());
        for r in &found {
            let cursor = Cursor(get(r, 0)?);
            let kind: &str = get(r, 1)?;
            let message_id = MessageId(get::<Option<i64>>(r, 4)?.unwrap_or(0));
            entries.push(if kind == "message.created" {
                LogEntry::Sent { cursor, message_id }
            } else {
                LogEntry::Read {
                    cursor,
                    user_id: UserId(get::<Option<i64>>(r, 3)?.unwrap_or(0)),
                    conversation_id: ConversationId(get(r, 2)?),
                    message_id,
                }
            });
        }
        let covered = match entries.last() {
            Some(LogEntry::Sent { cursor, .. } | LogEntry::Read { cursor, .. })
                if entries.len() == limit as usize =>
            {
                *cursor
            }
            _ => upto.max(after),
        };
        Ok((entries, covered))
    }

    async fn sent_message(
        &self,
        id: MessageId,
        shards: &[u16],
    ) -> StoreResult<Option<SentMessage>> {
        let c = self.db.read().await?;
        let found = row(
            &c,
            "SELECT m.conversation_id, c.org_id, c.kind, m.author_id, m.created_at, m.mention_ids,
                 m.mention_channel, m.mention_here, m.thread_root_id, m.also_to_conversation
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.id = $1 AND NOT m.deleted",
            &[&id.0],
        )
        .await?;
        let Some(found) = found else {
            return Ok(None);
        };
        let kind = match get::<&str>(&found, 2)? {
            "dm" => ConversationKind::Dm,
            "group" => ConversationKind::Group,
            _ => ConversationKind::Channel,
        };
        let mentioned: Vec<i64> = get::<Option<Vec<i64>>>(&found, 5)?.unwrap_or_default();
        let (mention_channel, mention_here): (bool, bool) = (get(&found, 6)?, get(&found, 7)?);
        let thread_root_id: Option<i64> = get(&found, 8)?;
        let conversation_id = ConversationId(get(&found, 0)?);
        let everyone = kind != ConversationKind::Channel || mention_channel || mention_here;
        let candidates = rows(
            &c,
            "SELECT mb.user_id, mb.muted, mb.notify_always,
                 CASE WHEN $4::bigint IS NULL THEN coalesce(mb.last_read, 0) >= $3
                      ELSE coalesce(f.last_read, 0) >= $3 END,
                 coalesce(f.following, FALSE)
             FROM members mb
             LEFT JOIN thread_follows f ON f.user_id = mb.user_id AND f.root_id = $4
             WHERE mb.conversation_id = $1
               -- `shard_of`: from ID_BASE (2^40), ids are ID_STEP (1,024) apart.
               AND (CASE WHEN mb.user_id >= 1099511627776 THEN mb.user_id / 1024 ELSE mb.user_id END
                    % 16)::smallint = ANY($2)
               AND ($5 OR mb.user_id = ANY($6) OR mb.notify_always OR coalesce(f.following, FALSE))
               AND EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = mb.user_id)
             ORDER BY mb.user_id",
            &[
                &conversation_id.0,
                &shard_numbers(shards),
                &id.0,
                &thread_root_id,
                &everyone,
                &mentioned,
            ],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Candidate {
                user_id: UserId(get(r, 0)?),
                muted: get(r, 1)?,
                notify_always: get(r, 2)?,
                read: get(r, 3)?,
                follows_thread: get(r, 4)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(SentMessage {
            message_id: id,
            conversation_id,
            org_id: OrgId(get(&found, 1)?),
            kind,
            author_id: UserId(get(&found, 3)?),
            created_at: Millis(get(&found, 4)?),
            mentioned: mentioned.into_iter().map(UserId).collect(),
            mention_channel,
            mention_here,
            thread_root_id: thread_root_id.map(MessageId),
            also_to_conversation: get(&found, 9)?,
            candidates,
        }))
    }

    async fn shown(&self, user: UserId, conversation: ConversationId) -> StoreResult<bool> {
        let found = row(
            &self.db.read().await?,
            "SELECT EXISTS (SELECT 1 FROM push_shown WHERE user_id = $1 AND conversation_id = $2)",
            &[&user.0, &conversation.0],
        )
        .await?;
        match found {
            Some(r) => get(&r, 0),
            None => Ok(false),
        }
    }

    async fn decide(
        &self,
        node: &str,
        shards: &[u16],
        cursor: Cursor,
        pending: &[Pending],
        reads: &[(UserId, ConversationId, MessageId)],
        clears: &[NewDelivery],
        now: Millis,
    ) -> StoreResult<bool> {
        self.notifier_transaction(async |t| {
            if !holds(t, node, shards, now).await? {
                return Ok(false);
            }
            if !pending.is_empty() {
                let users: Vec<i64> = pending.iter().map(|p| p.user_id.0).collect();
                let messages: Vec<i64> = pending.iter().map(|p| p.message_id.0).collect();
                let conversations: Vec<i64> = pending.iter().map(|p| p.conversation_id.0).collect();
                let roots: Vec<Option<i64>> =
                    pending.iter().map(|p| p.thread_root_id.map(|r| r.0)).collect();
                let user_shards: Vec<i16> = pending.iter().map(|p| shard_number(p.user_id)).collect();
                let sent: Vec<i64> = pending.iter().map(|p| p.sent_at.0).collect();
                let due: Vec<i64> = pending.iter().map(|p| p.due_at.0).collect();
                run(
                    t,
                    "INSERT INTO notify_pending
                         (user_id, message_id, conversation_id, thread_root_id, shard, sent_at, due_at)
                     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                          $5::smallint[], $6::bigint[], $7::bigint[])
                     ON CONFLICT DO NOTHING",
                    &[&users, &messages, &conversations, &roots, &user_shards, &sent, &due],
                )
                .await?;
            }
            if !reads.is_empty() {
                let users: Vec<i64> = reads.iter().map(|r| r.0.0).collect();
                let conversations: Vec<i64> = reads.iter().map(|r| r.1.0).collect();
                let messages: Vec<i64> = reads.iter().map(|r| r.2.0).collect();
                run(
                    t,
                    "DELETE FROM notify_pending p
                     USING UNNEST($1::bigint[], $2::bigint[], $3::bigint[])
                         AS r (user_id, conversation_id, message_id)
                     WHERE p.user_id = r.user_id AND p.conversation_id = r.conversation_id
                       AND p.message_id <= r.message_id",
                    &[&users, &conversations, &messages],
                )
                .await?;
            }
            if !clears.is_empty() {
                queue_deliveries(t, clears, now).await?;
                let users: Vec<i64> = clears.iter().map(|d| d.user_id.0).collect();
                let conversations: Vec<i64> = clears.iter().map(|d| d.conversation_id.0).collect();
                run(
                    t,
                    "DELETE FROM push_shown s
                     USING UNNEST($1::bigint[], $2::bigint[]) AS c (user_id, conversation_id)
                     WHERE s.user_id = c.user_id AND s.conversation_id = c.conversation_id",
                    &[&users, &conversations],
                )
                .await?;
            }
            run(
                t,
                "UPDATE notify_shards SET cursor = $1 WHERE shard = ANY($2) AND owner = $3",
                &[&cursor.0, &shard_numbers(shards), &node],
            )
            .await?;
            Ok(true)
        })
        .await
    }

    async fn due(&self, shards: &[u16], now: Millis, limit: u32) -> StoreResult<Vec<Pending>> {
        let found = rows(
            &self.db.read().await?,
            "SELECT p.user_id, p.conversation_id, p.message_id, p.thread_root_id, p.sent_at, p.due_at,
                 CASE WHEN mb.user_id IS NULL THEN TRUE
                      WHEN p.thread_root_id IS NOT NULL THEN coalesce(f.last_read, 0) >= p.message_id
                      ELSE coalesce(mb.last_read, 0) >= p.message_id END
             FROM (SELECT user_id, conversation_id, min(due_at) AS first_due FROM notify_pending
                   WHERE shard = ANY($1) AND due_at <= $2
                   GROUP BY user_id, conversation_id ORDER BY first_due, user_id, conversation_id
                   LIMIT $3) AS d
             JOIN notify_pending p ON p.user_id = d.user_id AND p.conversation_id = d.conversation_id
             LEFT JOIN members mb ON mb.conversation_id = p.conversation_id AND mb.user_id = p.user_id
             LEFT JOIN thread_follows f ON f.user_id = p.user_id AND f.root_id = p.thread_root_id
             ORDER BY d.first_due, p.user_id, p.conversation_id, p.message_id",
            &[&shard_numbers(shards), &now.0, &self::limit(limit)],
        )
        .await?;
        found
            .iter()
            .map(|r| {
                Ok(Pending {
                    user_id: UserId(get(r, 0)?),
                    conversation_id: ConversationId(get(r, 1)?),
                    message_id: MessageId(get(r, 2)?),
                    thread_root_id: get::<Option<i64>>(r, 3)?.map(MessageId),
                    sent_at: Millis(get(r, 4)?),
                    due_at: Millis(get(r, 5)?),
                    read: get(r, 6)?,
                })
            })
            .collect()
    }

    async fn dispatch(
        &self,
        node: &str,
        shards: &[u16],
        decided: &Decided,
        now: Millis,
    ) -> StoreResult<bool> {
        self.notifier_transaction(async |t| {
            if !holds(t, node, shards, now).await? {
                return Ok(false);
            }
            if !decided.done.is_empty() {
                let users: Vec<i64> = decided.done.iter().map(|d| d.0.0).collect();
                let messages: Vec<i64> = decided.done.iter().map(|d| d.1.0).collect();
                run(
                    t,
                    "DELETE FROM notify_pending p
                     USING UNNEST($1::bigint[], $2::bigint[]) AS d (user_id, message_id)
                     WHERE p.user_id = d.user_id AND p.message_id = d.message_id",
                    &[&users, &messages],
                )
                .await?;
            }
            if !decided.held.is_empty() {
                let users: Vec<i64> = decided.held.iter().map(|h| h.0.0).collect();
                let messages: Vec<i64> = decided.held.iter().map(|h| h.1.0).collect();
                let until: Vec<i64> = decided.held.iter().map(|h| h.2.0).collect();
                run(
                    t,
                    "UPDATE notify_pending p SET due_at = h.due_at
                     FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS h (user_id, message_id, due_at)
                     WHERE p.user_id = h.user_id AND p.message_id = h.message_id",
                    &[&users, &messages, &until],
                )
                .await?;
            }
            if !decided.deliveries.is_empty() {
                queue_deliveries(t, &decided.deliveries, now).await?;
                let shown: Vec<&NewDelivery> = decided
                    .deliveries
                    .iter()
                    .filter(|d| d.message_id.is_some())
                    .collect();
                let users: Vec<i64> = shown.iter().map(|d| d.user_id.0).collect();
                let conversations: Vec<i64> = shown.iter().map(|d| d.conversation_id.0).collect();
                run(
                    t,
                    "INSERT INTO push_shown (user_id, conversation_id)
                     SELECT DISTINCT * FROM UNNEST($1::bigint[], $2::bigint[])
                     ON CONFLICT DO NOTHING",
                    &[&users, &conversations],
                )
                .await?;
            }
            Ok(true)
        })
        .await
    }

    async fn deliveries_due(
        &self,
        shards: &[u16],
        now: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS}, d.id, d.notification_id, d.payload, d.topic, d.urgency,
                 d.sent_at, d.first_at, d.attempts
             FROM push_deliveries d JOIN push_subscriptions s ON s.id = d.subscription_id
             WHERE d.shard = ANY($1) AND d.next_at <= $2
             ORDER BY d.next_at, d.id LIMIT $3"
        );
        let found = rows(
            &self.db.read().await?,
            &sql,
            &[&shard_numbers(shards), &now.0, &self::limit(limit)],
        )
        .await?;
        let at = SUBSCRIPTION_COLUMN_COUNT;
        found
            .iter()
            .map(|r| {
                Ok(Delivery {
                    id: get(r, at)?,
                    subscription: subscription_at(r, 0)?,
                    notification_id: get(r, at + 1)?,
                    payload: get(r, at + 2)?,
                    topic: get(r, at + 3)?,
                    urgency: get(r, at + 4)?,
                    sent_at: Millis(get(r, at + 5)?),
                    first_at: Millis(get(r, at + 6)?),
                    attempts: u32::try_from(get::<i32>(r, at + 7)?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn settle(&self, delivery: &Delivery, outcome: &Outcome, now: Millis) -> StoreResult<()> {
        let c = self.db.read().await?;
        let id = delivery.id;
        match outcome {
            Outcome::Delivered => {
                run(&c, "DELETE FROM push_deliveries WHERE id = $1", &[&id]).await?;
            }
            Outcome::Gone => {
                run(
                    &c,
                    "WITH gone AS (DELETE FROM push_subscriptions WHERE id = $1)
                     DELETE FROM push_deliveries WHERE subscription_id = $1",
                    &[&delivery.subscription.id.0],
                )
                .await?;
            }
            Outcome::Retry { at } => {
                run(
                    &c,
                    "UPDATE push_deliveries SET attempts = attempts + 1, next_at = $2 WHERE id = $1",
                    &[&id, &at.0],
                )
                .await?;
            }
            Outcome::Failed { reason } => {
                let attempts =
                    i32::try_from(delivery.attempts.saturating_add(1)).unwrap_or(i32::MAX);
                run(
                    &c,
                    "WITH gone AS (DELETE FROM push_deliveries WHERE id = $1)
                     INSERT INTO push_failures
                         (subscription_id, user_id, notification_id, reason, attempts, failed_at)
                     VALUES ($2, $3, $4, $5, $6, $7)",
                    &[
                        &id,
                        &delivery.subscription.id.0,
                        &delivery.subscription.user_id.0,
                        &delivery.notification_id,
                        reason,
                        &attempts,
                        &now.0,
                    ],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn badge(&self, user: UserId) -> StoreResult<u32> {
        // As `conversations_of` counts `unread_count` (for direct and group conversations: whether any)
        // and `unread_mentions` (for channels), in one query.
        let found = row(
            &self.db.read().await?,
            "SELECT
               (SELECT count(*) FROM members mb JOIN conversations c ON c.id = mb.conversation_id
                WHERE mb.user_id = $1 AND c.kind IN ('dm', 'group')
                  AND EXISTS (
                      SELECT 1 FROM messages m
                      WHERE m.conversation_id = mb.conversation_id AND m.id > coalesce(mb.last_read, 0)
                        AND m.author_id <> $1 AND NOT m.deleted
                        AND (m.thread_root_id IS NULL OR m.also_to_conversation)
                        AND NOT EXISTS (SELECT 1 FROM hidden_messages h
                                        WHERE h.user_id = $1 AND h.message_id = m.id)))
             + (SELECT count(*) FROM members mb
                JOIN conversations c ON c.id = mb.conversation_id AND c.kind = 'channel'
                CROSS JOIN LATERAL (
                    SELECT x.message_id FROM mentions x
                    WHERE x.user_id = $1 AND x.conversation_id = mb.conversation_id
                    UNION
                    SELECT a.id FROM messages a
                    WHERE a.conversation_id = mb.conversation_id AND (a.mention_channel OR a.mention_here)
                ) AS mentioned (id)
                JOIN messages m ON m.id = mentioned.id
                WHERE mb.user_id = $1 AND m.author_id <> $1 AND NOT m.deleted
                  AND NOT EXISTS (SELECT 1 FROM hidden_messages h
                                  WHERE h.user_id = $1 AND h.message_id = m.id)
                  AND CASE WHEN m.thread_root_id IS NULL OR m.also_to_conversation
                           THEN m.id > coalesce(mb.last_read, 0)
                           ELSE m.id > coalesce((SELECT f.last_read FROM thread_follows f
                                                 WHERE f.user_id = $1 AND f.root_id = m.thread_root_id), 0)
                      END)",
            &[&user.0],
        )
        .await?;
        Ok(u32::try_from(count(found)?).unwrap_or(u32::MAX))
    }

    async fn wrote_since(
        &self,
        user: UserId,
        conversation: ConversationId,
        after: MessageId,
    ) -> StoreResult<bool> {
        let found = row(
            &self.db.read().await?,
            "SELECT EXISTS (SELECT 1 FROM messages
                            WHERE conversation_id = $2 AND author_id = $1 AND id > $3)",
            &[&user.0, &conversation.0, &after.0],
        )
        .await?;
        match found {
            Some(r) => get(&r, 0),
            None => Ok(false),
        }
    }
}
