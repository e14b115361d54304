//! Single sign-on: organizations' providers, sign-ins under way, and identities' accounts.

use parley_core::model::{Millis, User};
use parley_core::store::{
    AuditRecord, NewSsoUser, SsoConfigRecord, SsoFlowRecord, SsoRecords, StoreError, StoreResult,
};
use parley_core::{OrgId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::accounts::insert_user;
use super::admin::append;
use super::connection::backend;
use super::rows::{self, one, run};
use crate::inputs;

const CONFIG_COLUMNS: &str =
    "s.org_id, s.issuer, s.client_id, s.client_secret, s.display_name, s.link_by_email, s.required";

fn config(r: &Row<'_>) -> rusqlite::Result<SsoConfigRecord> {
    Ok(SsoConfigRecord {
        org_id: OrgId(r.get(0)?),
        issuer: r.get(1)?,
        client_id: r.get(2)?,
        client_secret: r.get(3)?,
        display_name: r.get(4)?,
        link_by_email: r.get(5)?,
        required: r.get(6)?,
    })
}

fn hash(r: &Row<'_>, index: usize) -> rusqlite::Result<[u8; 32]> {
    let bytes: Vec<u8> = r.get(index)?;
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Blob,
            "a hash of 32 bytes".into(),
        )
    })
}

fn exists(c: &Connection, sql: &str, p: impl rusqlite::Params) -> StoreResult<bool> {
    one(c, sql, p, |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
        .map_err(backend)
}

fn identity_taken(c: &Connection, org_id: OrgId, issuer: &str, subject: &str) -> StoreResult<bool> {
    exists(
        c,
        "SELECT 1 FROM sso_identities WHERE org_id = ?1 AND issuer = ?2 AND subject = ?3",
        params![org_id.0, issuer, subject],
    )
}

fn insert_identity(
    c: &Connection,
    org_id: OrgId,
    issuer: &str,
    subject: &str,
    user_id: UserId,
    now: Millis,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO sso_identities (org_id, issuer, subject, user_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![org_id.0, issuer, subject, user_id.0, now.0],
    )
    .map_err(backend)?;
    Ok(())
}

/// Checks everything before it writes, so a refusal changes nothing.
/// The identity first: a second sign-in of the same person racing the first finds its account made.
fn create_user(c: &Connection, new: &inputs::NewSsoUser) -> StoreResult<User> {
    if identity_taken(c, new.org_id, &new.issuer, &new.subject)? {
        return Err(StoreError::Conflict("identity"));
    }
    if exists(c, "SELECT 1 FROM users WHERE email = ?1", [&new.email])? {
        return Err(StoreError::Conflict("email"));
    }
    if !exists(c, "SELECT 1 FROM orgs WHERE id = ?1", [new.org_id.0])? {
        return Err(StoreError::NotFound("organization"));
    }
    if exists(
        c,
        "SELECT 1 FROM users WHERE org_id = ?1 AND username = ?2",
        params![new.org_id.0, new.username],
    )? {
        return Err(StoreError::Conflict("username"));
    }
    let id = insert_user(
        c,
        new.org_id,
        &new.username,
        &new.email,
        &new.name,
        &new.password_hash,
        new.now,
    )?;
    insert_identity(c, new.org_id, &new.issuer, &new.subject, id, new.now)?;
    rows::user_by_id(c, id)?.ok_or(StoreError::NotFound("user"))
}

fn set_config(
    c: &Connection,
    org_id: OrgId,
    config: Option<&SsoConfigRecord>,
    audit: &AuditRecord,
) -> StoreResult<()> {
    match config {
        Some(s) => run(
            c,
            "INSERT INTO sso_configs (org_id, issuer, client_id, client_secret, display_name,
                                      link_by_email, required)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (org_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
                 client_secret = excluded.client_secret, display_name = excluded.display_name,
                 link_by_email = excluded.link_by_email, required = excluded.required",
            params![
                org_id.0,
                s.issuer,
                s.client_id,
                s.client_secret,
                s.display_name,
                s.link_by_email,
                s.required
            ],
        ),
        None => run(c, "DELETE FROM sso_configs WHERE org_id = ?1", [org_id.0]),
    }
    .map_err(backend)?;
    append(c, audit)
}

#[async_trait::async_trait]
impl SsoRecords for SqliteStore {
    async fn create_sso_flow(
        &self,
        flow: SsoFlowRecord,
        expired_before: Millis,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                run(
                    c,
                    "DELETE FROM sso_flows WHERE created_at < ?1",
                    [expired_before.0],
                )
                .map_err(backend)?;
                run(
                    c,
                    "INSERT INTO sso_flows (state_hash, flow_key_hash, org_id, issuer, nonce,
                                            pkce_verifier, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        &flow.state_hash[..],
                        &flow.flow_key_hash[..],
                        flow.org_id.0,
                        flow.issuer,
                        flow.nonce,
                        flow.pkce_verifier,
                        flow.created_at.0
                    ],
                )
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn create_sso_user(&self, new: NewSsoUser<'_>) -> StoreResult<User> {
        let new = inputs::NewSsoUser::from(new);
        self.db.write(move |c| create_user(c, &new)).await
    }

    async fn link_sso_identity(
        &self,
        org_id: OrgId,
        issuer: &str,
        subject: &str,
        user_id: UserId,
        now: Millis,
    ) -> StoreResult<()> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.db
            .write(move |c| {
                if identity_taken(c, org_id, &issuer, &subject)? {
                    return Err(StoreError::Conflict("identity"));
                }
                insert_identity(c, org_id, &issuer, &subject, user_id, now)
            })
            .await
    }

    async fn sso_config(&self, org_id: OrgId) -> StoreResult<Option<SsoConfigRecord>> {
        self.db
            .read(move |c| {
                one(
                    c,
                    &format!("SELECT {CONFIG_COLUMNS} FROM sso_configs s WHERE s.org_id = ?1"),
                    [org_id.0],
                    config,
                )
                .optional()
                .map_err(backend)
            })
            .await
    }

    async fn sso_config_by_handle(&self, org: &str) -> StoreResult<Option<SsoConfigRecord>> {
        let org = org.to_owned();
        self.db
            .read(move |c| {
                one(
                    c,
                    &format!(
                        "SELECT {CONFIG_COLUMNS} FROM sso_configs s JOIN orgs o ON o.id = s.org_id
                         WHERE o.handle = ?1"
                    ),
                    [org],
                    config,
                )
                .optional()
                .map_err(backend)
            })
            .await
    }

    async fn sso_identity(
        &self,
        org_id: OrgId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<UserId>> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.db
            .read(move |c| {
                one(
                    c,
                    "SELECT user_id FROM sso_identities WHERE org_id = ?1 AND issuer = ?2 AND subject = ?3",
                    params![org_id.0, issuer, subject],
                    |r| Ok(UserId(r.get(0)?)),
                )
                .optional()
                .map_err(backend)
            })
            .await
    }

    async fn sso_identity_of(
        &self,
        org_id: OrgId,
        issuer: &str,
        user_id: UserId,
    ) -> StoreResult<bool> {
        let issuer = issuer.to_owned();
        self.db
            .read(move |c| {
                exists(
                    c,
                    "SELECT 1 FROM sso_identities WHERE org_id = ?1 AND issuer = ?2 AND user_id = ?3",
                    params![org_id.0, issuer, user_id.0],
                )
            })
            .await
    }

    async fn set_sso_config(
        &self,
        org_id: OrgId,
        config: Option<SsoConfigRecord>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| set_config(c, org_id, config.as_ref(), &audit))
            .await
    }

    async fn take_sso_flow(
        &self,
        state_hash: [u8; 32],
        flow_key_hash: [u8; 32],
    ) -> StoreResult<Option<SsoFlowRecord>> {
        self.db
            .write(move |c| {
                one(
                    c,
                    "DELETE FROM sso_flows WHERE state_hash = ?1 AND flow_key_hash = ?2
                     RETURNING state_hash, flow_key_hash, org_id, issuer, nonce, pkce_verifier, created_at",
                    params![&state_hash[..], &flow_key_hash[..]],
                    |r| {
                        Ok(SsoFlowRecord {
                            state_hash: hash(r, 0)?,
                            flow_key_hash: hash(r, 1)?,
                            org_id: OrgId(r.get(2)?),
                            issuer: r.get(3)?,
                            nonce: r.get(4)?,
                            pkce_verifier: r.get(5)?,
                            created_at: Millis(r.get(6)?),
                        })
                    },
                )
                .optional()
                .map_err(backend)
            })
            .await
    }
}
