//! Roles, deactivation, a person's sessions and password, and the audit log.

use deadpool_postgres::GenericClient;
use parley_core::model::{Conversation, Message, Millis, User};
use parley_core::proto::v1::{
    Allowed, AuditKind, AuditOutcome, ChannelMentions, Role, SignupPolicy,
};
use parley_core::store::{
    AdminRecords, AuditEntry, AuditFilter, AuditRecord, OrgSettingsRecord, SessionRecord,
    StoreError, StoreResult,
};
use parley_core::{AuditId, ConversationId, MessageId, OrgId, UserId};

use super::PgStore;
use super::accounts::{delete_other_sessions, delete_sessions_of};
use super::sql::{
    self, CONVERSATION_COLUMNS, MESSAGE_COLUMNS, USER_COLUMNS, USERS, get, row, rows, run,
};
use crate::like::like_escape;

pub(super) async fn append(c: &impl GenericClient, r: &AuditRecord) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO audit_log (org_id, at, kind, outcome, actor_id, target_user_id,
                                target_conversation_id, address, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &r.org_id.0,
            &r.at.0,
            &r.kind.as_str(),
            &r.outcome.as_str(),
            &r.actor_id.map(|id| id.0),
            &r.target_user_id.map(|id| id.0),
            &r.target_conversation_id.map(|id| id.0),
            &r.address,
            &r.detail,
        ],
    )
    .await?;
    Ok(())
}

fn entry(r: &tokio_postgres::Row) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: AuditId(get(r, 0)?),
        record: AuditRecord {
            org_id: OrgId(get(r, 1)?),
            at: Millis(get(r, 2)?),
            kind: AuditKind::parse(get(r, 3)?).unwrap_or(AuditKind::SettingsChanged),
            outcome: AuditOutcome::parse(get(r, 4)?).unwrap_or(AuditOutcome::Done),
            actor_id: get::<Option<i64>>(r, 5)?.map(UserId),
            target_user_id: get::<Option<i64>>(r, 6)?.map(UserId),
            target_conversation_id: get::<Option<i64>>(r, 7)?.map(ConversationId),
            address: get(r, 8)?,
            detail: get(r, 9)?,
        },
    })
}

const SETTINGS_COLUMNS: &str = "id, open_signup, signup, email_domains, channel_creation, invitations, channel_mentions, \
     retention_days, channel_retention";

async fn settings_where(
    c: &impl GenericClient,
    condition: &str,
    param: &(dyn tokio_postgres::types::ToSql + Sync),
) -> StoreResult<Option<OrgSettingsRecord>> {
    let sql = format!("SELECT {SETTINGS_COLUMNS} FROM orgs WHERE {condition}");
    let Some(r) = row(c, &sql, &[param]).await? else {
        return Ok(None);
    };
    let org_id = OrgId(get(&r, 0)?);
    let channels = rows(
        c,
        "SELECT conversation_id FROM org_default_channels WHERE org_id = $1 ORDER BY conversation_id",
        &[&org_id.0],
    )
    .await?
    .iter()
    .map(|r| Ok(ConversationId(get(r, 0)?)))
    .collect::<StoreResult<Vec<_>>>()?;
    let domains: &str = get(&r, 3)?;
    Ok(Some(OrgSettingsRecord {
        org_id,
        open_signup: get(&r, 1)?,
        signup: get::<Option<&str>>(&r, 2)?.and_then(SignupPolicy::parse),
        email_domains: domains.split_whitespace().map(str::to_owned).collect(),
        default_channels: channels,
        channel_creation: Allowed::parse(get(&r, 4)?).unwrap_or(Allowed::Everyone),
        invitations: Allowed::parse(get(&r, 5)?).unwrap_or(Allowed::Everyone),
        channel_mentions: ChannelMentions::parse(get(&r, 6)?).unwrap_or(ChannelMentions::Everyone),
        retention_days: u32::try_from(get::<i32>(&r, 7)?).unwrap_or(0),
        channel_retention: get(&r, 8)?,
    }))
}

/// Changes a user by `set` unless that would leave their org without an active owner (`keep` says whether the
/// change keeps them one), in one statement: the writes of a batch interleave on its connection, so a check
/// read before the update could pass for two owners demoting each other. `Conflict("last_owner")` when the
/// guard held it back; nothing is changed then.
async fn guarded_update(
    c: &impl GenericClient,
    user_id: UserId,
    set: &str,
    value: &(dyn tokio_postgres::types::ToSql + Sync),
    keeps_owner: bool,
) -> StoreResult<()> {
    let sql = format!(
        "UPDATE users u SET {set}
         WHERE u.id = $1 AND ($3 OR NOT (u.role = 'owner' AND u.deactivated_at IS NULL)
              OR EXISTS (SELECT 1 FROM users o WHERE o.org_id = u.org_id AND o.id != u.id
                         AND o.role = 'owner' AND o.deactivated_at IS NULL))"
    );
    let changed = run(c, &sql, &[&user_id.0, value, &keeps_owner]).await?;
    if changed == 0 {
        return match sql::user_by_id(c, user_id).await? {
            Some(_) => Err(StoreError::Conflict("last_owner")),
            None => Err(StoreError::NotFound("user")),
        };
    }
    Ok(())
}

#[async_trait::async_trait]
impl AdminRecords for PgStore {
    async fn append_audit(&self, record: AuditRecord) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let record = record.clone();
                Box::pin(async move { append(c, &record).await })
            })
            .await
    }

    async fn people(
        &self,
        org_id: OrgId,
        query: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let pattern = format!("{}%", like_escape(query));
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM {USERS} WHERE u.org_id = $1 AND u.id > $2
             AND ($3 = '%' OR u.username LIKE $3 OR u.name_folded LIKE $3 OR u.email LIKE $3)
             ORDER BY u.id LIMIT $4"
        );
        let after = after.map_or(0, |id| id.0);
        let found = rows(
            &self.db.read().await?,
            &sql,
            &[&org_id.0, &after, &pattern, &i64::from(limit)],
        )
        .await?;
        found.iter().map(sql::user).collect()
    }

    async fn audit_entries(
        &self,
        org_id: OrgId,
        filter: &AuditFilter,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let order = if filter.after.is_some() { "" } else { " DESC" };
        let sql = format!(
            "SELECT id, org_id, at, kind, outcome, actor_id, target_user_id, target_conversation_id,
                    address, detail
             FROM audit_log
             WHERE org_id = $1 AND ($2::bigint IS NULL OR at >= $2) AND ($3::bigint IS NULL OR at < $3)
               AND ($4::bigint IS NULL OR actor_id = $4) AND ($5::text IS NULL OR kind = $5)
               AND id < $6 AND id > $7
             ORDER BY id{order} LIMIT $8"
        );
        let found = rows(
            &self.db.read().await?,
            &sql,
            &[
                &org_id.0,
                &filter.since.map(|t| t.0),
                &filter.until.map(|t| t.0),
                &filter.actor_id.map(|id| id.0),
                &filter.kind.map(AuditKind::as_str),
                &filter.before.map_or(i64::MAX, |id| id.0),
                &filter.after.map_or(0, |id| id.0),
                &i64::from(limit),
            ],
        )
        .await?;
        found.iter().map(entry).collect()
    }

    async fn org_settings(&self, org_id: OrgId) -> StoreResult<Option<OrgSettingsRecord>> {
        settings_where(&self.db.read().await?, "id = $1", &org_id.0).await
    }

    async fn org_settings_by_handle(&self, handle: &str) -> StoreResult<Option<OrgSettingsRecord>> {
        settings_where(&self.db.read().await?, "handle = $1", &handle).await
    }

    async fn set_org_settings(
        &self,
        settings: OrgSettingsRecord,
        audit: AuditRecord,
    ) -> StoreResult<OrgSettingsRecord> {
        self.db
            .write(move |c| {
                let (s, audit) = (settings.clone(), audit.clone());
                Box::pin(async move {
                    let open_signup = match s.signup {
                        Some(policy) => policy == SignupPolicy::Open,
                        None => s.open_signup,
                    };
                    run(
                        c,
                        "UPDATE orgs SET open_signup = $2, signup = $3, email_domains = $4,
                             channel_creation = $5, invitations = $6, channel_mentions = $7,
                             retention_days = $8, channel_retention = $9
                         WHERE id = $1",
                        &[
                            &s.org_id.0,
                            &open_signup,
                            &s.signup.map(SignupPolicy::as_str),
                            &s.email_domains.join(" "),
                            &s.channel_creation.as_str(),
                            &s.invitations.as_str(),
                            &s.channel_mentions.as_str(),
                            &i32::try_from(s.retention_days).unwrap_or(i32::MAX),
                            &s.channel_retention,
                        ],
                    )
                    .await?;
                    run(
                        c,
                        "DELETE FROM org_default_channels WHERE org_id = $1",
                        &[&s.org_id.0],
                    )
                    .await?;
                    let channels: Vec<i64> = s.default_channels.iter().map(|c| c.0).collect();
                    run(
                        c,
                        "INSERT INTO org_default_channels (org_id, conversation_id)
                         SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
                        &[&s.org_id.0, &channels],
                    )
                    .await?;
                    if s.invitations == Allowed::Admins {
                        run(
                            c,
                            "DELETE FROM invites WHERE org_id = $1 AND created_by IN
                                 (SELECT id FROM users WHERE org_id = $1 AND role NOT IN ('owner', 'admin'))",
                            &[&s.org_id.0],
                        )
                        .await?;
                    }
                    append(c, &audit).await?;
                    settings_where(c, "id = $1", &s.org_id.0)
                        .await?
                        .ok_or(sql::vanished("organization"))
                })
            })
            .await
    }

    async fn org_conversations(
        &self,
        org_id: OrgId,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c
             WHERE c.org_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3"
        );
        let after = after.map_or(0, |id| id.0);
        let found = rows(
            &self.db.read().await?,
            &sql,
            &[&org_id.0, &after, &i64::from(limit)],
        )
        .await?;
        found.iter().map(sql::conversation).collect()
    }

    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m
             WHERE m.conversation_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"
        );
        let after = after.map_or(0, |id| id.0);
        let db = self.db.read().await?;
        let found = rows(&db, &sql, &[&conversation_id.0, &after, &i64::from(limit)]).await?;
        sql::with_reactions(&db, sql::messages(&found)?).await
    }

    async fn sessions_of(&self, user_id: UserId) -> StoreResult<Vec<SessionRecord>> {
        let found = rows(
            &self.db.read().await?,
            "SELECT token_hash, device, created_at, last_used_at FROM sessions
             WHERE user_id = $1 ORDER BY last_used_at DESC LIMIT 200",
            &[&user_id.0],
        )
        .await?;
        found
            .iter()
            .map(|r| {
                let hash: Vec<u8> = get(r, 0)?;
                Ok(SessionRecord {
                    token_hash: hash.try_into().unwrap_or([0; 32]),
                    device: get(r, 1)?,
                    created_at: Millis(get(r, 2)?),
                    last_used: Millis(get(r, 3)?),
                })
            })
            .collect()
    }

    async fn set_role(&self, user_id: UserId, role: Role, audit: AuditRecord) -> StoreResult<User> {
        self.db
            .write(move |c| {
                let audit = audit.clone();
                Box::pin(async move {
                    let keeps_owner = role == Role::Owner;
                    guarded_update(c, user_id, "role = $2", &role.as_str(), keeps_owner).await?;
                    append(c, &audit).await?;
                    sql::user_by_id(c, user_id)
                        .await?
                        .ok_or(sql::vanished("user"))
                })
            })
            .await
    }

    async fn set_deactivated(
        &self,
        user_id: UserId,
        at: Option<Millis>,
        audit: AuditRecord,
    ) -> StoreResult<User> {
        self.db
            .write(move |c| {
                let audit = audit.clone();
                Box::pin(async move {
                    let at_millis = at.map(|t| t.0);
                    guarded_update(c, user_id, "deactivated_at = $2", &at_millis, at.is_none())
                        .await?;
                    if at.is_some() {
                        delete_sessions_of(c, user_id).await?;
                        // An invitation outlives no maker.
                        run(
                            c,
                            "DELETE FROM invites WHERE created_by = $1",
                            &[&user_id.0],
                        )
                        .await?;
                    }
                    append(c, &audit).await?;
                    sql::user_by_id(c, user_id)
                        .await?
                        .ok_or(sql::vanished("user"))
                })
            })
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
            .write(move |c| {
                let (audit, password_hash) = (audit.clone(), password_hash.clone());
                Box::pin(async move {
                    run(
                        c,
                        "UPDATE users SET password_hash = $2 WHERE id = $1",
                        &[&user_id.0, &password_hash],
                    )
                    .await?;
                    delete_other_sessions(c, user_id, keep).await?;
                    append(c, &audit).await
                })
            })
            .await
    }
}
