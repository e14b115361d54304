//! Roles, deactivation, a person's sessions and password, and the audit log.

use deadpool_postgres::GenericClient;
use parley_core::model::{Millis, User};
use parley_core::proto::v1::{AuditKind, AuditOutcome, Role};
use parley_core::store::{
    AdminRecords, AuditEntry, AuditFilter, AuditRecord, SessionRecord, StoreError, StoreResult,
};
use parley_core::{AuditId, ConversationId, OrgId, UserId};

use super::PgStore;
use super::accounts::{delete_other_sessions, delete_sessions_of};
use super::sql::{self, USER_COLUMNS, USERS, get, row, rows, run};
use crate::like::like_escape;

async fn append(c: &impl GenericClient, r: &AuditRecord) -> StoreResult<()> {
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

/// Refuses with `Conflict("last_owner")`, before changing anything, when `user_id` is the last active
/// owner of their org.
async fn unless_last_owner(c: &impl GenericClient, user_id: UserId) -> StoreResult<()> {
    let last = row(
        c,
        "SELECT 1 FROM users u
         WHERE u.id = $1 AND u.role = 'owner' AND u.deactivated_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM users o WHERE o.org_id = u.org_id AND o.id != u.id
                           AND o.role = 'owner' AND o.deactivated_at IS NULL)",
        &[&user_id.0],
    )
    .await?;
    match last {
        Some(_) => Err(StoreError::Conflict("last_owner")),
        None => Ok(()),
    }
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

    async fn sessions_of(&self, user_id: UserId) -> StoreResult<Vec<SessionRecord>> {
        let found = rows(
            &self.db.read().await?,
            "SELECT token_hash, device, created_at, last_used_at FROM sessions
             WHERE user_id = $1 ORDER BY last_used_at DESC",
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
                    if role != Role::Owner {
                        unless_last_owner(c, user_id).await?;
                    }
                    run(
                        c,
                        "UPDATE users SET role = $2 WHERE id = $1",
                        &[&user_id.0, &role.as_str()],
                    )
                    .await?;
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
                    if at.is_some() {
                        unless_last_owner(c, user_id).await?;
                        delete_sessions_of(c, user_id).await?;
                    }
                    run(
                        c,
                        "UPDATE users SET deactivated_at = $2 WHERE id = $1",
                        &[&user_id.0, &at.map(|t| t.0)],
                    )
                    .await?;
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
