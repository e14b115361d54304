//! Invitations into organizations.

use deadpool_postgres::GenericClient;
use parley_core::model::{Invite, Millis};
use parley_core::store::{NewInvite, StoreResult};
use parley_core::{InviteId, OrgId, UserId};
use tokio_postgres::Row;

use super::sql::{self, get, row, rows, run};

const INVITE_COLUMNS: &str = "i.id, i.org_id, o.handle, i.created_by, i.created_at, i.expires_at, i.max_uses, \
     i.uses FROM invites i JOIN orgs o ON o.id = i.org_id";

fn invite(row: &Row) -> StoreResult<Invite> {
    Ok(Invite {
        id: InviteId(get(row, 0)?),
        org_id: OrgId(get(row, 1)?),
        org_handle: get(row, 2)?,
        created_by: UserId(get(row, 3)?),
        created_at: Millis(get(row, 4)?),
        expires_at: Millis(get(row, 5)?),
        max_uses: u32::try_from(get::<i32>(row, 6)?).unwrap_or(0),
        uses: u32::try_from(get::<i32>(row, 7)?).unwrap_or(0),
    })
}

pub(crate) async fn create(c: &impl GenericClient, new: &NewInvite) -> StoreResult<Invite> {
    let max_uses = i32::try_from(new.max_uses).unwrap_or(i32::MAX);
    let created = row(
        c,
        "INSERT INTO invites (org_id, token_hash, created_by, created_at, expires_at, max_uses)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[
            &new.org_id.0,
            &&new.token_hash[..],
            &new.created_by.0,
            &new.now.0,
            &new.expires_at.0,
            &max_uses,
        ],
    )
    .await?
    .ok_or(sql::vanished("invite"))?;
    by_id(c, InviteId(get(&created, 0)?))
        .await?
        .ok_or(sql::vanished("invite"))
}

pub(crate) async fn by_token(
    c: &impl GenericClient,
    token_hash: [u8; 32],
) -> StoreResult<Option<Invite>> {
    let sql = format!("SELECT {INVITE_COLUMNS} WHERE i.token_hash = $1");
    row(c, &sql, &[&&token_hash[..]])
        .await?
        .as_ref()
        .map(invite)
        .transpose()
}

pub(crate) async fn by_id(c: &impl GenericClient, id: InviteId) -> StoreResult<Option<Invite>> {
    let sql = format!("SELECT {INVITE_COLUMNS} WHERE i.id = $1");
    row(c, &sql, &[&id.0])
        .await?
        .as_ref()
        .map(invite)
        .transpose()
}

pub(crate) async fn of_org(
    c: &impl GenericClient,
    org_id: OrgId,
    created_by: Option<UserId>,
    limit: u32,
) -> StoreResult<Vec<Invite>> {
    let sql = format!(
        "SELECT {INVITE_COLUMNS} WHERE i.org_id = $1 AND ($2::BIGINT IS NULL OR i.created_by = $2)
         ORDER BY i.id DESC LIMIT $3"
    );
    rows(
        c,
        &sql,
        &[&org_id.0, &created_by.map(|u| u.0), &i64::from(limit)],
    )
    .await?
    .iter()
    .map(invite)
    .collect()
}

pub(crate) async fn delete(c: &impl GenericClient, id: InviteId) -> StoreResult<()> {
    run(c, "DELETE FROM invites WHERE id = $1", &[&id.0]).await?;
    Ok(())
}
