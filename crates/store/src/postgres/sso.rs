//! Single sign-on: organizations' providers, sign-ins under way, and identities' accounts.

use deadpool_postgres::GenericClient;
use parley_core::model::{Millis, User};
use parley_core::store::{
    AuditRecord, NewSsoUser, SsoConfigRecord, SsoFlowRecord, SsoRecords, StoreError, StoreResult,
};
use parley_core::{OrgId, UserId};
use tokio_postgres::Row;

use super::PgStore;
use super::admin::append;
use super::sql::{self, get, row, run};
use crate::inputs;

const CONFIG_COLUMNS: &str =
    "s.org_id, s.issuer, s.client_id, s.client_secret, s.display_name, s.link_by_email, s.required";

fn config(r: &Row) -> StoreResult<SsoConfigRecord> {
    Ok(SsoConfigRecord {
        org_id: OrgId(get(r, 0)?),
        issuer: get(r, 1)?,
        client_id: get(r, 2)?,
        client_secret: get(r, 3)?,
        display_name: get(r, 4)?,
        link_by_email: get(r, 5)?,
        required: get(r, 6)?,
    })
}

fn hash(r: &Row, index: usize) -> StoreResult<[u8; 32]> {
    let bytes: Vec<u8> = get(r, index)?;
    bytes
        .try_into()
        .map_err(|_| sql::vanished("a hash of 32 bytes"))
}

async fn identity_taken(
    c: &impl GenericClient,
    org_id: OrgId,
    issuer: &str,
    subject: &str,
) -> StoreResult<bool> {
    Ok(row(
        c,
        "SELECT 1 FROM sso_identities WHERE org_id = $1 AND issuer = $2 AND subject = $3",
        &[&org_id.0, &issuer, &subject],
    )
    .await?
    .is_some())
}

async fn insert_identity(
    c: &impl GenericClient,
    org_id: OrgId,
    issuer: &str,
    subject: &str,
    user_id: UserId,
    now: Millis,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO sso_identities (org_id, issuer, subject, user_id, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[&org_id.0, &issuer, &subject, &user_id.0, &now.0],
    )
    .await?;
    Ok(())
}

/// Checks everything before it writes, so a refusal leaves the batch's transaction fit to commit. The
/// writer's turn keeps every other node's writes out between the checks and the inserts.
/// The identity first: a second sign-in of the same person racing the first finds its account made.
async fn create_user(c: &impl GenericClient, new: &inputs::NewSsoUser) -> StoreResult<User> {
    if identity_taken(c, new.org_id, &new.issuer, &new.subject).await? {
        return Err(StoreError::Conflict("identity"));
    }
    let found = row(
        c,
        "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1),
                EXISTS (SELECT 1 FROM orgs WHERE id = $2),
                EXISTS (SELECT 1 FROM users WHERE org_id = $2 AND username = $3)",
        &[&new.email, &new.org_id.0, &new.username],
    )
    .await?
    .ok_or(sql::vanished("checks"))?;
    if get::<bool>(&found, 0)? {
        return Err(StoreError::Conflict("email"));
    }
    if !get::<bool>(&found, 1)? {
        return Err(StoreError::NotFound("organization"));
    }
    if get::<bool>(&found, 2)? {
        return Err(StoreError::Conflict("username"));
    }
    let inserted = row(
        c,
        "INSERT INTO users (org_id, username, email, name, name_folded, password_hash, created_at, role)
         VALUES ($1, $2, $3, $4, $5, $6, $7,
                 CASE WHEN EXISTS (SELECT 1 FROM users WHERE org_id = $1) THEN 'member' ELSE 'owner' END)
         RETURNING id",
        &[
            &new.org_id.0,
            &new.username,
            &new.email,
            &new.name,
            &new.name.to_lowercase(),
            &new.password_hash,
            &new.now.0,
        ],
    )
    .await?
    .ok_or(sql::vanished("user"))?;
    let id = UserId(get(&inserted, 0)?);
    insert_identity(c, new.org_id, &new.issuer, &new.subject, id, new.now).await?;
    sql::user_by_id(c, id).await?.ok_or(sql::vanished("user"))
}

async fn set_config(
    c: &impl GenericClient,
    org_id: OrgId,
    config: Option<&SsoConfigRecord>,
    audit: &AuditRecord,
) -> StoreResult<()> {
    match config {
        Some(s) => {
            run(
                c,
                "INSERT INTO sso_configs (org_id, issuer, client_id, client_secret, display_name,
                                          link_by_email, required)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (org_id) DO UPDATE SET issuer = excluded.issuer,
                     client_id = excluded.client_id, client_secret = excluded.client_secret,
                     display_name = excluded.display_name, link_by_email = excluded.link_by_email,
                     required = excluded.required",
                &[
                    &org_id.0,
                    &s.issuer,
                    &s.client_id,
                    &s.client_secret,
                    &s.display_name,
                    &s.link_by_email,
                    &s.required,
                ],
            )
            .await?
        }
        None => run(c, "DELETE FROM sso_configs WHERE org_id = $1", &[&org_id.0]).await?,
    };
    append(c, audit).await
}

#[async_trait::async_trait]
impl SsoRecords for PgStore {
    async fn create_sso_flow(
        &self,
        flow: SsoFlowRecord,
        expired_before: Millis,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let flow = flow.clone();
                Box::pin(async move {
                    run(
                        c,
                        "DELETE FROM sso_flows WHERE created_at < $1",
                        &[&expired_before.0],
                    )
                    .await?;
                    run(
                        c,
                        "INSERT INTO sso_flows (state_hash, flow_key_hash, org_id, issuer, nonce,
                                                pkce_verifier, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[
                            &&flow.state_hash[..],
                            &&flow.flow_key_hash[..],
                            &flow.org_id.0,
                            &flow.issuer,
                            &flow.nonce,
                            &flow.pkce_verifier,
                            &flow.created_at.0,
                        ],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn create_sso_user(&self, new: NewSsoUser<'_>) -> StoreResult<User> {
        let new = inputs::NewSsoUser::from(new);
        self.db
            .write(move |c| {
                let new = new.clone();
                Box::pin(async move { create_user(c, &new).await })
            })
            .await
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
                let (issuer, subject) = (issuer.clone(), subject.clone());
                Box::pin(async move {
                    if identity_taken(c, org_id, &issuer, &subject).await? {
                        return Err(StoreError::Conflict("identity"));
                    }
                    insert_identity(c, org_id, &issuer, &subject, user_id, now).await
                })
            })
            .await
    }

    async fn sso_config(&self, org_id: OrgId) -> StoreResult<Option<SsoConfigRecord>> {
        let c = self.db.read().await?;
        let sql = format!("SELECT {CONFIG_COLUMNS} FROM sso_configs s WHERE s.org_id = $1");
        row(&c, &sql, &[&org_id.0])
            .await?
            .as_ref()
            .map(config)
            .transpose()
    }

    async fn sso_config_by_handle(&self, org: &str) -> StoreResult<Option<SsoConfigRecord>> {
        let c = self.db.read().await?;
        let sql = format!(
            "SELECT {CONFIG_COLUMNS} FROM sso_configs s JOIN orgs o ON o.id = s.org_id
             WHERE o.handle = $1"
        );
        row(&c, &sql, &[&org])
            .await?
            .as_ref()
            .map(config)
            .transpose()
    }

    async fn sso_identity(
        &self,
        org_id: OrgId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<UserId>> {
        let c = self.db.read().await?;
        row(
            &c,
            "SELECT user_id FROM sso_identities WHERE org_id = $1 AND issuer = $2 AND subject = $3",
            &[&org_id.0, &issuer, &subject],
        )
        .await?
        .map(|r| Ok(UserId(get(&r, 0)?)))
        .transpose()
    }

    async fn sso_identity_of(
        &self,
        org_id: OrgId,
        issuer: &str,
        user_id: UserId,
    ) -> StoreResult<bool> {
        let c = self.db.read().await?;
        Ok(row(
            &c,
            "SELECT 1 FROM sso_identities WHERE org_id = $1 AND issuer = $2 AND user_id = $3",
            &[&org_id.0, &issuer, &user_id.0],
        )
        .await?
        .is_some())
    }

    async fn set_sso_config(
        &self,
        org_id: OrgId,
        config: Option<SsoConfigRecord>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let (config, audit) = (config.clone(), audit.clone());
                Box::pin(async move { set_config(c, org_id, config.as_ref(), &audit).await })
            })
            .await
    }

    async fn take_sso_flow(
        &self,
        state_hash: [u8; 32],
        flow_key_hash: [u8; 32],
    ) -> StoreResult<Option<SsoFlowRecord>> {
        self.db
            .write(move |c| {
                Box::pin(async move {
                    row(
                        c,
                        "DELETE FROM sso_flows WHERE state_hash = $1 AND flow_key_hash = $2
                         RETURNING state_hash, flow_key_hash, org_id, issuer, nonce, pkce_verifier,
                                   created_at",
                        &[&&state_hash[..], &&flow_key_hash[..]],
                    )
                    .await?
                    .map(|r| {
                        Ok(SsoFlowRecord {
                            state_hash: hash(&r, 0)?,
                            flow_key_hash: hash(&r, 1)?,
                            org_id: OrgId(get(&r, 2)?),
                            issuer: get(&r, 3)?,
                            nonce: get(&r, 4)?,
                            pkce_verifier: get(&r, 5)?,
                            created_at: Millis(get(&r, 6)?),
                        })
                    })
                    .transpose()
                })
            })
            .await
    }
}
