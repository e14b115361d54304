//! Roles, deactivation, a person's sessions and password, and the audit log.

use parley_core::model::{Conversation, Message, Millis, User};
use parley_core::proto::v1::{
    Allowed, AuditKind, AuditOutcome, ChannelMentions, Role, SignupPolicy,
};
use parley_core::store::{
    AdminRecords, AuditEntry, AuditFilter, AuditRecord, OrgSettingsRecord, SessionRecord,
    StoreError, StoreResult,
};
use parley_core::{AuditId, ConversationId, MessageId, OrgId, UserId};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::SqliteStore;
use super::accounts::delete_sessions_of;
use super::connection::backend;
use super::rows::{
    self, CONVERSATION_COLUMNS, MESSAGE_COLUMNS, USER_COLUMNS, USERS, like_escape, one, run,
};

pub(super) fn append(c: &Connection, r: &AuditRecord) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO audit_log (org_id, at, kind, outcome, actor_id, target_user_id,
                                target_conversation_id, address, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            r.org_id.0,
            r.at.0,
            r.kind.as_str(),
            r.outcome.as_str(),
            r.actor_id.map(|id| id.0),
            r.target_user_id.map(|id| id.0),
            r.target_conversation_id.map(|id| id.0),
            r.address,
            r.detail
        ],
    )
    .map_err(backend)?;
    Ok(())
}

fn people(
    c: &Connection,
    org_id: OrgId,
    query: &str,
    after: Option<UserId>,
    limit: u32,
) -> StoreResult<Vec<User>> {
    let pattern = format!("{}%", like_escape(query));
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM {USERS} WHERE u.org_id = ?1 AND u.id > ?2
             AND (?3 = '%' OR u.username LIKE ?3 ESCAPE '\\' OR u.name_folded LIKE ?3 ESCAPE '\\'
                  OR u.email LIKE ?3 ESCAPE '\\')
             ORDER BY u.id LIMIT ?4"
        ))
        .map_err(backend)?;
    statement
        .query_map(
            params![org_id.0, after.map_or(0, |id| id.0), pattern, limit],
            rows::user,
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)
}

fn audit_entries(
    c: &Connection,
    org_id: OrgId,
    filter: &AuditFilter,
    limit: u32,
) -> StoreResult<Vec<AuditEntry>> {
    let mut sql = String::from(
        "SELECT id, org_id, at, kind, outcome, actor_id, target_user_id, target_conversation_id,
                address, detail
         FROM audit_log WHERE org_id = ?",
    );
    let mut values = vec![Value::Integer(org_id.0)];
    let mut and = |clause: &str, value: Value| {
        sql.push_str(" AND ");
        sql.push_str(clause);
        values.push(value);
    };
    if let Some(since) = filter.since {
        and("at >= ?", Value::Integer(since.0));
    }
    if let Some(until) = filter.until {
        and("at < ?", Value::Integer(until.0));
    }
    if let Some(actor) = filter.actor_id {
        and("actor_id = ?", Value::Integer(actor.0));
    }
    if let Some(kind) = filter.kind {
        and("kind = ?", Value::Text(kind.as_str().to_owned()));
    }
    if let Some(before) = filter.before {
        and("id < ?", Value::Integer(before.0));
    }
    let oldest_first = filter.after.is_some();
    if let Some(after) = filter.after {
        and("id > ?", Value::Integer(after.0));
    }
    sql.push_str(if oldest_first {
        " ORDER BY id LIMIT ?"
    } else {
        " ORDER BY id DESC LIMIT ?"
    });
    values.push(Value::Integer(i64::from(limit)));
    let mut statement = c.prepare_cached(&sql).map_err(backend)?;
    statement
        .query_map(params_from_iter(values), |row| {
            let kind: String = row.get(3)?;
            let outcome: String = row.get(4)?;
            Ok(AuditEntry {
                id: AuditId(row.get(0)?),
                record: AuditRecord {
                    org_id: OrgId(row.get(1)?),
                    at: Millis(row.get(2)?),
                    kind: AuditKind::parse(&kind).unwrap_or(AuditKind::SettingsChanged),
                    outcome: AuditOutcome::parse(&outcome).unwrap_or(AuditOutcome::Done),
                    actor_id: row.get::<_, Option<i64>>(5)?.map(UserId),
                    target_user_id: row.get::<_, Option<i64>>(6)?.map(UserId),
                    target_conversation_id: row.get::<_, Option<i64>>(7)?.map(ConversationId),
                    address: row.get(8)?,
                    detail: row.get(9)?,
                },
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)
}

const SETTINGS_COLUMNS: &str = "id, open_signup, signup, email_domains, channel_creation, invitations, channel_mentions, \
     retention_days, channel_retention";

fn settings_where(
    c: &Connection,
    condition: &str,
    param: &dyn rusqlite::ToSql,
) -> StoreResult<Option<OrgSettingsRecord>> {
    let found = one(
        c,
        &format!("SELECT {SETTINGS_COLUMNS} FROM orgs WHERE {condition}"),
        [param],
        |row| {
            let signup: Option<String> = row.get(2)?;
            let domains: String = row.get(3)?;
            let (creation, invitations, mentions): (String, String, String) =
                (row.get(4)?, row.get(5)?, row.get(6)?);
            Ok(OrgSettingsRecord {
                org_id: OrgId(row.get(0)?),
                open_signup: row.get(1)?,
                signup: signup.as_deref().and_then(SignupPolicy::parse),
                email_domains: domains.split_whitespace().map(str::to_owned).collect(),
                default_channels: Vec::new(),
                channel_creation: Allowed::parse(&creation).unwrap_or(Allowed::Everyone),
                invitations: Allowed::parse(&invitations).unwrap_or(Allowed::Everyone),
                channel_mentions: ChannelMentions::parse(&mentions)
                    .unwrap_or(ChannelMentions::Everyone),
                retention_days: row.get(7)?,
                channel_retention: row.get(8)?,
            })
        },
    )
    .optional()
    .map_err(backend)?;
    let Some(mut settings) = found else {
        return Ok(None);
    };
    let mut statement = c
        .prepare_cached(
            "SELECT conversation_id FROM org_default_channels WHERE org_id = ?1
             ORDER BY conversation_id",
        )
        .map_err(backend)?;
    settings.default_channels = statement
        .query_map([settings.org_id.0], |row| Ok(ConversationId(row.get(0)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(Some(settings))
}

fn set_settings(
    c: &Connection,
    s: &OrgSettingsRecord,
    audit: &AuditRecord,
) -> StoreResult<OrgSettingsRecord> {
    let open_signup = match s.signup {
        Some(policy) => policy == SignupPolicy::Open,
        None => s.open_signup,
    };
    run(
        c,
        "UPDATE orgs SET open_signup = ?2, signup = ?3, email_domains = ?4, channel_creation = ?5,
                         invitations = ?6, channel_mentions = ?7, retention_days = ?8,
                         channel_retention = ?9
         WHERE id = ?1",
        params![
            s.org_id.0,
            open_signup,
            s.signup.map(SignupPolicy::as_str),
            s.email_domains.join(" "),
            s.channel_creation.as_str(),
            s.invitations.as_str(),
            s.channel_mentions.as_str(),
            s.retention_days,
            s.channel_retention
        ],
    )
    .map_err(backend)?;
    run(
        c,
        "DELETE FROM org_default_channels WHERE org_id = ?1",
        [s.org_id.0],
    )
    .map_err(backend)?;
    for channel in &s.default_channels {
        run(
            c,
            "INSERT OR IGNORE INTO org_default_channels (org_id, conversation_id) VALUES (?1, ?2)",
            params![s.org_id.0, channel.0],
        )
        .map_err(backend)?;
    }
    if s.invitations == Allowed::Admins {
        run(
            c,
            "DELETE FROM invites WHERE org_id = ?1 AND created_by IN
                 (SELECT id FROM users WHERE org_id = ?1 AND role NOT IN ('owner', 'admin'))",
            [s.org_id.0],
        )
        .map_err(backend)?;
    }
    append(c, audit)?;
    settings_where(c, "id = ?1", &s.org_id.0)?.ok_or(StoreError::NotFound("organization"))
}

fn sessions_of(c: &Connection, user_id: UserId) -> StoreResult<Vec<SessionRecord>> {
    let mut statement = c
        .prepare_cached(
            "SELECT token_hash, device, created_at, last_used_at FROM sessions
             WHERE user_id = ?1 ORDER BY last_used_at DESC LIMIT 200",
        )
        .map_err(backend)?;
    statement
        .query_map([user_id.0], |row| {
            let hash: Vec<u8> = row.get(0)?;
            Ok(SessionRecord {
                token_hash: hash.try_into().unwrap_or([0; 32]),
                device: row.get(1)?,
                created_at: Millis(row.get(2)?),
                last_used: Millis(row.get(3)?),
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)
}

/// Whether `user_id` is the last active owner of their org.
fn last_owner(c: &Connection, user_id: UserId) -> StoreResult<bool> {
    let others: i64 = one(
        c,
        "SELECT count(*) FROM users o JOIN users u ON u.org_id = o.org_id
         WHERE u.id = ?1 AND u.role = 'owner' AND u.deactivated_at IS NULL
           AND o.id != u.id AND o.role = 'owner' AND o.deactivated_at IS NULL",
        [user_id.0],
        |row| row.get(0),
    )
    .map_err(backend)?;
    let is_owner: Option<i64> = one(
        c,
        "SELECT 1 FROM users WHERE id = ?1 AND role = 'owner' AND deactivated_at IS NULL",
        [user_id.0],
        |row| row.get(0),
    )
    .optional()
    .map_err(backend)?;
    Ok(is_owner.is_some() && others == 0)
}

fn set_role(c: &Connection, user_id: UserId, role: Role, audit: &AuditRecord) -> StoreResult<User> {
    if role != Role::Owner && last_owner(c, user_id)? {
        return Err(StoreError::Conflict("last_owner"));
    }
    run(
        c,
        "UPDATE users SET role = ?2 WHERE id = ?1",
        params![user_id.0, role.as_str()],
    )
    .map_err(backend)?;
    append(c, audit)?;
    rows::user_by_id(c, user_id)?.ok_or(StoreError::NotFound("user"))
}

fn set_deactivated(
    c: &Connection,
    user_id: UserId,
    at: Option<Millis>,
    audit: &AuditRecord,
) -> StoreResult<User> {
    if at.is_some() {
        if last_owner(c, user_id)? {
            return Err(StoreError::Conflict("last_owner"));
        }
        delete_sessions_of(c, user_id)?;
        // An invitation outlives no maker.
        run(c, "DELETE FROM invites WHERE created_by = ?1", [user_id.0]).map_err(backend)?;
    }
    run(
        c,
        "UPDATE users SET deactivated_at = ?2 WHERE id = ?1",
        params![user_id.0, at.map(|t| t.0)],
    )
    .map_err(backend)?;
    append(c, audit)?;
    rows::user_by_id(c, user_id)?.ok_or(StoreError::NotFound("user"))
}

fn set_password(
    c: &Connection,
    user_id: UserId,
    password_hash: &str,
    keep: [u8; 32],
    audit: &AuditRecord,
) -> StoreResult<()> {
    run(
        c,
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user_id.0, password_hash],
    )
    .map_err(backend)?;
    super::accounts::delete_other_sessions(c, user_id, keep)?;
    append(c, audit)
}

#[async_trait::async_trait]
impl AdminRecords for SqliteStore {
    async fn append_audit(&self, record: AuditRecord) -> StoreResult<()> {
        self.db.write(move |c| append(c, &record)).await
    }

    async fn people(
        &self,
        org_id: OrgId,
        query: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let query = query.to_owned();
        self.db
            .read(move |c| people(c, org_id, &query, after, limit))
            .await
    }

    async fn audit_entries(
        &self,
        org_id: OrgId,
        filter: &AuditFilter,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let filter = filter.clone();
        self.db
            .read(move |c| audit_entries(c, org_id, &filter, limit))
            .await
    }

    async fn org_settings(&self, org_id: OrgId) -> StoreResult<Option<OrgSettingsRecord>> {
        self.db
            .lookup(|c| settings_where(c, "id = ?1", &org_id.0))
            .await
    }

    async fn org_settings_by_handle(&self, handle: &str) -> StoreResult<Option<OrgSettingsRecord>> {
        self.db
            .lookup(|c| settings_where(c, "handle = ?1", &handle))
            .await
    }

    async fn set_org_settings(
        &self,
        settings: OrgSettingsRecord,
        audit: AuditRecord,
    ) -> StoreResult<OrgSettingsRecord> {
        self.db
            .write(move |c| set_settings(c, &settings, &audit))
            .await
    }

    async fn org_conversations(
        &self,
        org_id: OrgId,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        let after = after.map_or(0, |id| id.0);
        self.db
            .read(move |c| {
                let mut statement = c
                    .prepare_cached(&format!(
                        "SELECT {CONVERSATION_COLUMNS} FROM conversations c
                         WHERE c.org_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3"
                    ))
                    .map_err(backend)?;
                statement
                    .query_map(params![org_id.0, after, limit], rows::conversation)
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .map_err(backend)
            })
            .await
    }

    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let after = after.map_or(0, |id| id.0);
        self.db
            .read(move |c| {
                let found = c
                    .prepare_cached(&format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages m
                         WHERE m.conversation_id = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_map(params![conversation_id.0, after, limit], rows::message)
                            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    })
                    .map_err(backend)?;
                rows::with_reactions(c, found)
            })
            .await
    }

    async fn sessions_of(&self, user_id: UserId) -> StoreResult<Vec<SessionRecord>> {
        self.db.lookup(|c| sessions_of(c, user_id)).await
    }

    async fn set_role(&self, user_id: UserId, role: Role, audit: AuditRecord) -> StoreResult<User> {
        self.db
            .write(move |c| set_role(c, user_id, role, &audit))
            .await
    }

    async fn set_deactivated(
        &self,
        user_id: UserId,
        at: Option<Millis>,
        audit: AuditRecord,
    ) -> StoreResult<User> {
        self.db
            .write(move |c| set_deactivated(c, user_id, at, &audit))
            .await
    }

    async fn set_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        keep: [u8; 32],
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let password_hash = password_hash.to_owned();
        self.db
            .write(move |c| set_password(c, user_id, &password_hash, keep, &audit))
            .await
    }
}
