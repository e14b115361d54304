//! Invitations into organizations.

use parley_core::model::{Invite, Millis};
use parley_core::store::{NewInvite, StoreResult};
use parley_core::{InviteId, OrgId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::connection::backend;
use super::rows::{one, run};

const INVITE_COLUMNS: &str = "i.id, i.org_id, o.handle, i.created_by, i.created_at, i.expires_at, i.max_uses, \
     i.uses FROM invites i JOIN orgs o ON o.id = i.org_id";

fn invite(row: &Row<'_>) -> rusqlite::Result<Invite> {
    Ok(Invite {
        id: InviteId(row.get(0)?),
        org_id: OrgId(row.get(1)?),
        org_handle: row.get(2)?,
        created_by: UserId(row.get(3)?),
        created_at: Millis(row.get(4)?),
        expires_at: Millis(row.get(5)?),
        max_uses: row.get(6)?,
        uses: row.get(7)?,
    })
}

pub(crate) fn create(c: &Connection, new: &NewInvite) -> StoreResult<Invite> {
    run(
        c,
        "INSERT INTO invites (org_id, token_hash, created_by, created_at, expires_at, max_uses)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            new.org_id.0,
            &new.token_hash[..],
            new.created_by.0,
            new.now.0,
            new.expires_at.0,
            new.max_uses
        ],
    )
    .map_err(backend)?;
    by_id(c, InviteId(c.last_insert_rowid()))?
        .ok_or(parley_core::store::StoreError::NotFound("invite"))
}

pub(crate) fn by_token(c: &Connection, token_hash: [u8; 32]) -> StoreResult<Option<Invite>> {
    one(
        c,
        &format!("SELECT {INVITE_COLUMNS} WHERE i.token_hash = ?1"),
        [&token_hash[..]],
        invite,
    )
    .optional()
    .map_err(backend)
}

pub(crate) fn by_id(c: &Connection, id: InviteId) -> StoreResult<Option<Invite>> {
    one(
        c,
        &format!("SELECT {INVITE_COLUMNS} WHERE i.id = ?1"),
        [id.0],
        invite,
    )
    .optional()
    .map_err(backend)
}

pub(crate) fn of_org(
    c: &Connection,
    org_id: OrgId,
    created_by: Option<UserId>,
    limit: u32,
) -> StoreResult<Vec<Invite>> {
    c.prepare_cached(&format!(
        "SELECT {INVITE_COLUMNS} WHERE i.org_id = ?1 AND (?2 IS NULL OR i.created_by = ?2)
         ORDER BY i.id DESC LIMIT ?3"
    ))
    .and_then(|mut s| {
        s.query_map(params![org_id.0, created_by.map(|u| u.0), limit], invite)?
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(backend)
}

pub(crate) fn delete(c: &Connection, id: InviteId) -> StoreResult<()> {
    run(c, "DELETE FROM invites WHERE id = ?1", [id.0]).map_err(backend)?;
    Ok(())
}
