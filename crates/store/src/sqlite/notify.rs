//! The notifier's records on SQLite: subscriptions, shards and their cursors, pending notifications and
//! deliveries. Writes go through the single writer like every other; on one node it holds every shard.

use parley_core::model::Millis;
use parley_core::proto::v1::ConversationKind;
use parley_core::store::{
    Candidate, Decided, Delivery, LogEntry, NewDelivery, NewPushSubscription, NotifyRecords,
    Outcome, Pending, PushSubscription, PushTarget, QuietHours, SentMessage, StoreError,
    StoreResult, shard_of,
};
use parley_core::{ConversationId, Cursor, MessageId, OrgId, SubscriptionId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::connection::backend;
use super::rows::{self, one, run};

/// Cursors one `log_after` scans at most, so one scan stays short however far behind it is.
const SCAN: i64 = 20_000;

const SUBSCRIPTION_COLUMNS: &str =
    "s.id, s.user_id, s.session_hash, s.kind, s.endpoint, s.p256dh, s.auth, s.secret, s.created_at";

fn subscription(row: &Row<'_>) -> rusqlite::Result<PushSubscription> {
    let hash: Vec<u8> = row.get(2)?;
    let kind: i64 = row.get(3)?;
    let endpoint: String = row.get(4)?;
    let target = if kind == 0 {
        PushTarget::WebPush {
            endpoint,
            p256dh: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
            auth: row.get::<_, Option<String>>(6)?.unwrap_or_default(),
        }
    } else {
        PushTarget::Webhook {
            url: endpoint,
            secret: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
        }
    };
    Ok(PushSubscription {
        id: SubscriptionId(row.get(0)?),
        user_id: UserId(row.get(1)?),
        session_hash: hash.try_into().unwrap_or([0; 32]),
        target,
        created_at: Millis(row.get(8)?),
    })
}

fn add_subscription(
    c: &Connection,
    new: &NewPushSubscription,
    max_per_user: u32,
) -> StoreResult<PushSubscription> {
    let (kind, p256dh, auth, secret) = match &new.target {
        PushTarget::WebPush { p256dh, auth, .. } => (0, Some(p256dh), Some(auth), None),
        PushTarget::Webhook { secret, .. } => (1, None, None, Some(secret)),
    };
    let endpoint = new.target.endpoint();
    let (count, exists): (i64, bool) = one(
        c,
        "SELECT count(*), coalesce(max(endpoint = ?2), 0) FROM push_subscriptions WHERE user_id = ?1",
        params![new.user_id.0, endpoint],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .map_err(backend)?;
    if !exists && count >= i64::from(max_per_user) {
        return Err(StoreError::Conflict("subscriptions"));
    }
    one(
        c,
        &format!(
            "INSERT INTO push_subscriptions
                 (user_id, session_hash, kind, endpoint, p256dh, auth, secret, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (user_id, endpoint) DO UPDATE SET session_hash = excluded.session_hash,
                 kind = excluded.kind, p256dh = excluded.p256dh, auth = excluded.auth,
                 secret = excluded.secret, created_at = excluded.created_at
             RETURNING {}",
            SUBSCRIPTION_COLUMNS.replace("s.", "")
        ),
        params![
            new.user_id.0,
            &new.session_hash[..],
            kind,
            endpoint,
            p256dh,
            auth,
            secret,
            new.now.0
        ],
        subscription,
    )
    .map_err(backend)
}

/// Whether `node` holds every one of `shards` at `now`: the fence of every notifier write.
fn holds(c: &Connection, node: &str, shards: &[u16], now: Millis) -> StoreResult<bool> {
    let held: i64 = one(
        c,
        &format!(
            "SELECT count(*) FROM notify_shards WHERE owner = ?1 AND lease_until > ?2 AND shard IN ({})",
            list(shards)
        ),
        params![node, now.0],
        |row| row.get(0),
    )
    .map_err(backend)?;
    Ok(usize::try_from(held).unwrap_or(0) == shards.len())
}

/// Shard numbers as an SQL list: they are ours (0 to 15), never a client's.
fn list(shards: &[u16]) -> String {
    let numbers: Vec<String> = shards.iter().map(u16::to_string).collect();
    if numbers.is_empty() {
        "NULL".to_owned()
    } else {
        numbers.join(",")
    }
}

fn hold_shards(
    c: &Connection,
    node: &str,
    now: Millis,
    until: Millis,
    want: usize,
) -> StoreResult<Vec<(u16, Cursor)>> {
    run(
        c,
        "UPDATE notify_shards SET lease_until = ?2 WHERE owner = ?1 AND lease_until > ?3",
        params![node, until.0, now.0],
    )
    .map_err(backend)?;
    let mut owned = owned_shards(c, node, now)?;
    if owned.len() < want {
        let free: Vec<i64> = c
            .prepare_cached(
                "SELECT shard FROM notify_shards WHERE owner IS NULL OR lease_until <= ?1
                 ORDER BY shard LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![now.0, (want - owned.len()) as i64], |row| {
                    row.get(0)
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(backend)?;
        for shard in free {
            run(
                c,
                "UPDATE notify_shards SET owner = ?1, lease_until = ?2 WHERE shard = ?3",
                params![node, until.0, shard],
            )
            .map_err(backend)?;
        }
    }
    owned = owned_shards(c, node, now)?;
    while owned.len() > want {
        if let Some((shard, _)) = owned.pop() {
            run(
                c,
                "UPDATE notify_shards SET owner = NULL, lease_until = 0 WHERE shard = ?1",
                [i64::from(shard)],
            )
            .map_err(backend)?;
        }
    }
    Ok(owned)
}

fn owned_shards(c: &Connection, node: &str, now: Millis) -> StoreResult<Vec<(u16, Cursor)>> {
    c.prepare_cached(
        "SELECT shard, cursor FROM notify_shards WHERE owner = ?1 AND lease_until > ?2 ORDER BY shard",
    )
    .and_then(|mut s| {
        s.query_map(params![node, now.0], |row| {
            Ok((
                u16::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                Cursor(row.get(1)?),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()
    })
    .map_err(backend)
}

fn log_after(c: &Connection, after: Cursor, limit: u32) -> StoreResult<(Vec<LogEntry>, Cursor)> {
    let end: i64 = one(
        c,
        "SELECT coalesce(max(cursor), 0) FROM events",
        [],
        |row| row.get(0),
    )
    .map_err(backend)?;
    let upto = end.min(after.0.saturating_add(SCAN));
    let entries = c
        .prepare_cached(
            "SELECT cursor, kind, conversation_id, user_id, message_id FROM events
             WHERE cursor > ?1 AND cursor <= ?2 AND (
                 (kind = 'message.created' AND EXISTS (
                     SELECT 1 FROM members m JOIN push_subscriptions s ON s.user_id = m.user_id
                     WHERE m.conversation_id = events.conversation_id AND m.user_id <> events.user_id))
                 OR (kind = 'read.updated' AND EXISTS (
                     SELECT 1 FROM push_shown p
                     WHERE p.user_id = events.user_id AND p.conversation_id = events.conversation_id)))
             ORDER BY cursor LIMIT ?3",
        )
        .and_then(|mut s| {
            s.query_map(params![after.0, upto, limit], |row| {
                let cursor = Cursor(row.get(0)?);
                let kind: String = row.get(1)?;
                let message_id = MessageId(row.get::<_, Option<i64>>(4)?.unwrap_or(0));
                Ok(if kind == "message.created" {
                    LogEntry::Sent { cursor, message_id }
                } else {
                    LogEntry::Read {
                        cursor,
                        user_id: UserId(row.get::<_, Option<i64>>(3)?.unwrap_or(0)),
                        conversation_id: ConversationId(row.get(2)?),
                        message_id,
                    }
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)?;
    let scanned = match entries.last() {
        Some(last) if entries.len() == limit as usize => entry_cursor(last),
        _ => Cursor(upto.max(after.0)),
    };
    Ok((entries, scanned))
}

fn entry_cursor(entry: &LogEntry) -> Cursor {
    match entry {
        LogEntry::Sent { cursor, .. } | LogEntry::Read { cursor, .. } => *cursor,
    }
}

fn sent_message(c: &Connection, id: MessageId, shards: &[u16]) -> StoreResult<Option<SentMessage>> {
    let found = one(
        c,
        "SELECT m.conversation_id, c.org_id, c.kind, m.author_id, m.created_at, m.mention_ids,
                m.mention_channel, m.mention_here, m.thread_root_id, m.also_to_conversation
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.id = ?1 AND m.deleted = 0",
        [id.0],
        |row| {
            let kind: String = row.get(2)?;
            let mention_ids: Option<String> = row.get(5)?;
            Ok(SentMessage {
                message_id: id,
                conversation_id: ConversationId(row.get(0)?),
                org_id: OrgId(row.get(1)?),
                kind: match kind.as_str() {
                    "dm" => ConversationKind::Dm,
                    "group" => ConversationKind::Group,
                    _ => ConversationKind::Channel,
                },
                author_id: UserId(row.get(3)?),
                created_at: Millis(row.get(4)?),
                mentioned: rows::ids(mention_ids.as_deref()),
                mention_channel: row.get(6)?,
                mention_here: row.get(7)?,
                thread_root_id: row.get::<_, Option<i64>>(8)?.map(MessageId),
                also_to_conversation: row.get(9)?,
                candidates: Vec::new(),
            })
        },
    )
    .optional()
    .map_err(backend)?;
    let Some(mut message) = found else {
        return Ok(None);
    };
    let everyone = message.kind != ConversationKind::Channel
        || message.mention_channel
        || message.mention_here;
    let mentioned: Vec<String> = message.mentioned.iter().map(|u| u.0.to_string()).collect();
    let root = message.thread_root_id.map_or(0, |r| r.0);
    let sql = format!(
        "SELECT m.user_id, m.muted, m.notify_always,
                CASE WHEN ?2 = 0 THEN coalesce(m.last_read, 0) >= ?1
                     ELSE coalesce(f.last_read, 0) >= ?1 END,
                coalesce(f.following, 0)
         FROM members m
         LEFT JOIN thread_follows f ON f.user_id = m.user_id AND f.root_id = ?2
         WHERE m.conversation_id = ?3
           -- `shard_of`: from ID_BASE (2^40), ids are ID_STEP (1,024) apart.
           AND ((CASE WHEN m.user_id >= 1099511627776 THEN m.user_id / 1024 ELSE m.user_id END) % 16)
               IN ({shards})
           AND (?4 OR m.notify_always = 1 OR coalesce(f.following, 0) = 1 OR m.user_id IN ({mentioned}))
           AND EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = m.user_id)",
        shards = list(shards),
        mentioned = if mentioned.is_empty() {
            "NULL".to_owned()
        } else {
            mentioned.join(",")
        },
    );
    message.candidates = c
        .prepare(&sql)
        .and_then(|mut s| {
            s.query_map(
                params![id.0, root, message.conversation_id.0, everyone],
                |row| {
                    Ok(Candidate {
                        user_id: UserId(row.get(0)?),
                        muted: row.get(1)?,
                        notify_always: row.get(2)?,
                        read: row.get(3)?,
                        follows_thread: row.get(4)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)?;
    Ok(Some(message))
}

/// Queues `delivery` for every subscription of its user.
fn queue(c: &Connection, delivery: &NewDelivery, now: Millis) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO push_deliveries (subscription_id, user_id, shard, conversation_id, message_id,
             notification_id, payload, topic, urgency, sent_at, first_at, next_at)
         SELECT id, user_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10
         FROM push_subscriptions WHERE user_id = ?1 ORDER BY id",
        params![
            delivery.user_id.0,
            shard_of(delivery.user_id),
            delivery.conversation_id.0,
            delivery.message_id.map(|m| m.0),
            delivery.notification_id,
            delivery.payload,
            delivery.topic,
            delivery.urgency,
            delivery.sent_at.0,
            now.0
        ],
    )
    .map_err(backend)?;
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "the trait's one transaction")]
fn decide(
    c: &Connection,
    node: &str,
    shards: &[u16],
    cursor: Cursor,
    pending: &[Pending],
    reads: &[(UserId, ConversationId, MessageId)],
    clears: &[NewDelivery],
    now: Millis,
) -> StoreResult<bool> {
    if !holds(c, node, shards, now)? {
        return Ok(false);
    }
    for p in pending {
        run(
            c,
            "INSERT INTO notify_pending (user_id, message_id, conversation_id, thread_root_id, shard,
                 sent_at, due_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            params![
                p.user_id.0,
                p.message_id.0,
                p.conversation_id.0,
                p.thread_root_id.map(|r| r.0),
                shard_of(p.user_id),
                p.sent_at.0,
                p.due_at.0
            ],
        )
        .map_err(backend)?;
    }
    for (user, conversation, message) in reads {
        run(
            c,
            "DELETE FROM notify_pending WHERE user_id = ?1 AND conversation_id = ?2 AND message_id <= ?3",
            params![user.0, conversation.0, message.0],
        )
        .map_err(backend)?;
    }
    for clear in clears {
        queue(c, clear, now)?;
        run(
            c,
            "DELETE FROM push_shown WHERE user_id = ?1 AND conversation_id = ?2",
            params![clear.user_id.0, clear.conversation_id.0],
        )
        .map_err(backend)?;
    }
    run(
        c,
        &format!(
            "UPDATE notify_shards SET cursor = ?1 WHERE owner = ?2 AND shard IN ({})",
            list(shards)
        ),
        params![cursor.0, node],
    )
    .map_err(backend)?;
    Ok(true)
}

fn due(c: &Connection, shards: &[u16], now: Millis, limit: u32) -> StoreResult<Vec<Pending>> {
    let sql = format!(
        "SELECT p.user_id, p.conversation_id, p.message_id, p.thread_root_id, p.sent_at, p.due_at,
                CASE WHEN m.user_id IS NULL THEN 1
                     WHEN p.thread_root_id IS NULL THEN coalesce(m.last_read, 0) >= p.message_id
                     ELSE coalesce((SELECT f.last_read FROM thread_follows f
                                    WHERE f.user_id = p.user_id AND f.root_id = p.thread_root_id), 0)
                          >= p.message_id END
         FROM (SELECT user_id, conversation_id, min(due_at) AS first_due FROM notify_pending
               WHERE shard IN ({}) AND due_at <= ?1
               GROUP BY user_id, conversation_id ORDER BY first_due, user_id, conversation_id
               LIMIT ?2) AS d
         JOIN notify_pending p ON p.user_id = d.user_id AND p.conversation_id = d.conversation_id
         LEFT JOIN members m ON m.conversation_id = p.conversation_id AND m.user_id = p.user_id
         ORDER BY d.first_due, p.user_id, p.conversation_id, p.message_id",
        list(shards)
    );
    c.prepare(&sql)
        .and_then(|mut s| {
            s.query_map(params![now.0, limit], |row| {
                Ok(Pending {
                    user_id: UserId(row.get(0)?),
                    conversation_id: ConversationId(row.get(1)?),
                    message_id: MessageId(row.get(2)?),
                    thread_root_id: row.get::<_, Option<i64>>(3)?.map(MessageId),
                    sent_at: Millis(row.get(4)?),
                    due_at: Millis(row.get(5)?),
                    read: row.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)
}

fn dispatch(
    c: &Connection,
    node: &str,
    shards: &[u16],
    decided: &Decided,
    now: Millis,
) -> StoreResult<bool> {
    if !holds(c, node, shards, now)? {
        return Ok(false);
    }
    for (user, message) in &decided.done {
        run(
            c,
            "DELETE FROM notify_pending WHERE user_id = ?1 AND message_id = ?2",
            params![user.0, message.0],
        )
        .map_err(backend)?;
    }
    for (user, message, until) in &decided.held {
        run(
            c,
            "UPDATE notify_pending SET due_at = ?3 WHERE user_id = ?1 AND message_id = ?2",
            params![user.0, message.0, until.0],
        )
        .map_err(backend)?;
    }
    for delivery in &decided.deliveries {
        queue(c, delivery, now)?;
        run(
            c,
            "INSERT INTO push_shown (user_id, conversation_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![delivery.user_id.0, delivery.conversation_id.0],
        )
        .map_err(backend)?;
    }
    Ok(true)
}

fn deliveries_due(
    c: &Connection,
    shards: &[u16],
    now: Millis,
    limit: u32,
) -> StoreResult<Vec<Delivery>> {
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS}, d.id, d.notification_id, d.payload, d.topic, d.urgency,
                d.sent_at, d.first_at, d.attempts
         FROM push_deliveries d JOIN push_subscriptions s ON s.id = d.subscription_id
         WHERE d.shard IN ({}) AND d.next_at <= ?1 ORDER BY d.next_at, d.id LIMIT ?2",
        list(shards)
    );
    c.prepare(&sql)
        .and_then(|mut s| {
            s.query_map(params![now.0, limit], |row| {
                Ok(Delivery {
                    subscription: subscription(row)?,
                    id: row.get(9)?,
                    notification_id: row.get(10)?,
                    payload: row.get(11)?,
                    topic: row.get(12)?,
                    urgency: row.get(13)?,
                    sent_at: Millis(row.get(14)?),
                    first_at: Millis(row.get(15)?),
                    attempts: u32::try_from(row.get::<_, i64>(16)?).unwrap_or(u32::MAX),
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)
}

fn settle(c: &Connection, delivery: &Delivery, outcome: &Outcome, now: Millis) -> StoreResult<()> {
    let id = delivery.id;
    match outcome {
        Outcome::Delivered => {
            run(c, "DELETE FROM push_deliveries WHERE id = ?1", [id]).map_err(backend)?;
        }
        Outcome::Gone => {
            let subscription = delivery.subscription.id.0;
            run(
                c,
                "DELETE FROM push_deliveries WHERE subscription_id = ?1",
                [subscription],
            )
            .map_err(backend)?;
            run(
                c,
                "DELETE FROM push_subscriptions WHERE id = ?1",
                [subscription],
            )
            .map_err(backend)?;
        }
        Outcome::Retry { at } => {
            run(
                c,
                "UPDATE push_deliveries SET attempts = attempts + 1, next_at = ?2 WHERE id = ?1",
                params![id, at.0],
            )
            .map_err(backend)?;
        }
        Outcome::Failed { reason } => {
            run(
                c,
                "INSERT INTO push_failures (subscription_id, user_id, notification_id, reason, attempts,
                     failed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    delivery.subscription.id.0,
                    delivery.subscription.user_id.0,
                    delivery.notification_id,
                    reason,
                    i64::from(delivery.attempts) + 1,
                    now.0
                ],
            )
            .map_err(backend)?;
            run(c, "DELETE FROM push_deliveries WHERE id = ?1", [id]).map_err(backend)?;
        }
    }
    Ok(())
}

fn badge(c: &Connection, user: UserId) -> StoreResult<u32> {
    let memberships = c
        .prepare_cached(&format!(
            "SELECT c.kind, {} FROM members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = ?1",
            rows::MEMBER_COLUMNS
        ))
        .and_then(|mut s| {
            s.query_map([user.0], |row| {
                Ok((row.get::<_, String>(0)?, rows::member_at(row, 1)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)?;
    let mut badge = 0u64;
    for (kind, member) in memberships {
        if kind == "channel" {
            badge += super::mentions::unread(c, &member)?;
        } else if super::messages::unread_count(c, &member)? > 0 {
            badge += 1;
        }
    }
    Ok(u32::try_from(badge).unwrap_or(u32::MAX))
}

#[async_trait::async_trait]
impl NotifyRecords for SqliteStore {
    async fn add_subscription(
        &self,
        new: NewPushSubscription,
        max_per_user: u32,
    ) -> StoreResult<PushSubscription> {
        self.db
            .write(move |c| add_subscription(c, &new, max_per_user))
            .await
    }

    async fn subscriptions_of(&self, user: UserId) -> StoreResult<Vec<PushSubscription>> {
        self.db
            .lookup(|c| {
                c.prepare_cached(&format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions s WHERE s.user_id = ?1
                     ORDER BY s.id"
                ))
                .and_then(|mut s| {
                    s.query_map([user.0], subscription)?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(backend)
            })
            .await
    }

    async fn delete_subscription(&self, user: UserId, id: SubscriptionId) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                let deleted = run(
                    c,
                    "DELETE FROM push_subscriptions WHERE id = ?1 AND user_id = ?2",
                    params![id.0, user.0],
                )
                .map_err(backend)?;
                run(
                    c,
                    "DELETE FROM push_deliveries WHERE subscription_id = ?1 AND ?2",
                    params![id.0, deleted > 0],
                )
                .map_err(backend)?;
                Ok(deleted > 0)
            })
            .await
    }

    async fn quiet_hours(&self, user: UserId) -> StoreResult<Option<QuietHours>> {
        self.db
            .lookup(|c| {
                one(
                    c,
                    "SELECT quiet_start, quiet_end, quiet_time_zone FROM users WHERE id = ?1",
                    [user.0],
                    |row| {
                        let start: Option<i64> = row.get(0)?;
                        let end: Option<i64> = row.get(1)?;
                        let zone: Option<String> = row.get(2)?;
                        Ok(match (start, end, zone) {
                            (Some(start), Some(end), Some(time_zone)) => Some(QuietHours {
                                start: u16::try_from(start).unwrap_or(0),
                                end: u16::try_from(end).unwrap_or(0),
                                time_zone,
                            }),
                            _ => None,
                        })
                    },
                )
                .optional()
                .map(Option::flatten)
                .map_err(backend)
            })
            .await
    }

    async fn set_quiet_hours(&self, user: UserId, hours: Option<QuietHours>) -> StoreResult<()> {
        self.db
            .write(move |c| {
                run(
                    c,
                    "UPDATE users SET quiet_start = ?2, quiet_end = ?3, quiet_time_zone = ?4 WHERE id = ?1",
                    params![
                        user.0,
                        hours.as_ref().map(|h| h.start),
                        hours.as_ref().map(|h| h.end),
                        hours.as_ref().map(|h| h.time_zone.clone())
                    ],
                )
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn push_previews(&self, org: OrgId) -> StoreResult<bool> {
        self.db
            .lookup(|c| {
                one(
                    c,
                    "SELECT push_previews FROM orgs WHERE id = ?1",
                    [org.0],
                    |row| row.get(0),
                )
                .optional()
                .map(|on| on.unwrap_or(true))
                .map_err(backend)
            })
            .await
    }

    async fn set_push_previews(&self, org_handle: &str, on: bool) -> StoreResult<bool> {
        let org_handle = org_handle.to_owned();
        self.db
            .write(move |c| {
                let changed = run(
                    c,
                    "UPDATE orgs SET push_previews = ?2 WHERE handle = ?1",
                    params![org_handle, on],
                )
                .map_err(backend)?;
                Ok(changed > 0)
            })
            .await
    }

    async fn hold_shards(
        &self,
        node: &str,
        now: Millis,
        until: Millis,
        want: usize,
    ) -> StoreResult<Vec<(u16, Cursor)>> {
        let node = node.to_owned();
        self.db
            .write(move |c| hold_shards(c, &node, now, until, want))
            .await
    }

    async fn log_after(&self, after: Cursor, limit: u32) -> StoreResult<(Vec<LogEntry>, Cursor)> {
        self.db.read(move |c| log_after(c, after, limit)).await
    }

    async fn sent_message(
        &self,
        id: MessageId,
        shards: &[u16],
    ) -> StoreResult<Option<SentMessage>> {
        let shards = shards.to_vec();
        self.db.read(move |c| sent_message(c, id, &shards)).await
    }

    async fn shown(&self, user: UserId, conversation: ConversationId) -> StoreResult<bool> {
        self.db
            .lookup(|c| {
                one(
                    c,
                    "SELECT EXISTS (SELECT 1 FROM push_shown WHERE user_id = ?1 AND conversation_id = ?2)",
                    params![user.0, conversation.0],
                    |row| row.get(0),
                )
                .map_err(backend)
            })
            .await
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
        let (node, shards) = (node.to_owned(), shards.to_vec());
        let (pending, reads, clears) = (pending.to_vec(), reads.to_vec(), clears.to_vec());
        self.db
            .write(move |c| decide(c, &node, &shards, cursor, &pending, &reads, &clears, now))
            .await
    }

    async fn due(&self, shards: &[u16], now: Millis, limit: u32) -> StoreResult<Vec<Pending>> {
        let shards = shards.to_vec();
        self.db.read(move |c| due(c, &shards, now, limit)).await
    }

    async fn dispatch(
        &self,
        node: &str,
        shards: &[u16],
        decided: &Decided,
        now: Millis,
    ) -> StoreResult<bool> {
        let (node, shards, decided) = (node.to_owned(), shards.to_vec(), decided.clone());
        self.db
            .write(move |c| dispatch(c, &node, &shards, &decided, now))
            .await
    }

    async fn deliveries_due(
        &self,
        shards: &[u16],
        now: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let shards = shards.to_vec();
        self.db
            .read(move |c| deliveries_due(c, &shards, now, limit))
            .await
    }

    async fn settle(&self, delivery: &Delivery, outcome: &Outcome, now: Millis) -> StoreResult<()> {
        let (delivery, outcome) = (delivery.clone(), outcome.clone());
        self.db
            .write(move |c| settle(c, &delivery, &outcome, now))
            .await
    }

    async fn badge(&self, user: UserId) -> StoreResult<u32> {
        self.db.read(move |c| badge(c, user)).await
    }

    async fn wrote_since(
        &self,
        user: UserId,
        conversation: ConversationId,
        after: MessageId,
    ) -> StoreResult<bool> {
        self.db
            .lookup(|c| {
                one(
                    c,
                    "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = ?1 AND id > ?2
                                    AND author_id = ?3)",
                    params![conversation.0, after.0, user.0],
                    |row| row.get(0),
                )
                .map_err(backend)
            })
            .await
    }
}
