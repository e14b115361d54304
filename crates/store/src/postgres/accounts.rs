//! Organizations, users, sessions and contacts.

use deadpool_postgres::GenericClient;
use parley_core::model::{Credentials, Millis, User};
use parley_core::store::{OrgPolicy, StoreError, StoreResult};
use parley_core::{OrgId, UserId};

use super::sql::{self, USER_COLUMNS, get, row, rows, run, run_unique};
use crate::inputs::NewUser;
use crate::like::like_escape;

pub(crate) async fn create_user(c: &impl GenericClient, new: NewUser) -> StoreResult<User> {
    let org = row(
        c,
        "SELECT id FROM orgs WHERE handle = $1",
        &[&new.org_handle],
    )
    .await?;
    let org_id: i64 = match (org, new.org_policy) {
        (Some(org), _) => get(&org, 0)?,
        (None, OrgPolicy::JoinOrCreate) => {
            let created = row(
                c,
                "INSERT INTO orgs (handle, created_at) VALUES ($1, $2) RETURNING id",
                &[&new.org_handle, &new.now.0],
            )
            .await?
            .ok_or(StoreError::NotFound("organization"))?;
            get(&created, 0)?
        }
        (None, OrgPolicy::JoinOnly) => return Err(StoreError::NotFound("organization")),
    };
    if row(c, "SELECT 1 FROM users WHERE email = $1", &[&new.email])
        .await?
        .is_some()
    {
        return Err(StoreError::Conflict("email"));
    }
    let taken = row(
        c,
        "SELECT 1 FROM users WHERE org_id = $1 AND username = $2",
        &[&org_id, &new.username],
    )
    .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict("username"));
    }
    let inserted = row(
        c,
        "INSERT INTO users (org_id, username, email, name, name_folded, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[
            &org_id,
            &new.username,
            &new.email,
            &new.name,
            &new.name.to_lowercase(),
            &new.password_hash,
            &new.now.0,
        ],
    )
    .await?
    .ok_or(StoreError::NotFound("user"))?;
    let id = UserId(get(&inserted, 0)?);
    sql::user_by_id(c, id)
        .await?
        .ok_or(StoreError::NotFound("user"))
}

pub(crate) async fn create_session(
    c: &impl GenericClient,
    user_id: UserId,
    token_hash: [u8; 32],
    now: Millis,
) -> StoreResult<()> {
    run_unique(
        c,
        "session",
        "INSERT INTO sessions (token_hash, user_id, created_at) VALUES ($1, $2, $3)",
        &[&&token_hash[..], &user_id.0, &now.0],
    )
    .await?;
    Ok(())
}

pub(crate) async fn add_contact(
    c: &impl GenericClient,
    owner: UserId,
    contact: UserId,
    now: Millis,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO contacts (owner_id, contact_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&owner.0, &contact.0, &now.0],
    )
    .await?;
    Ok(())
}

fn credentials(found: Option<tokio_postgres::Row>) -> StoreResult<Option<Credentials>> {
    found
        .map(|r| {
            Ok(Credentials {
                user_id: UserId(get(&r, 0)?),
                password_hash: get(&r, 1)?,
            })
        })
        .transpose()
}

pub(crate) async fn credentials_by_email(
    c: &impl GenericClient,
    email: &str,
) -> StoreResult<Option<Credentials>> {
    credentials(
        row(
            c,
            "SELECT id, password_hash FROM users WHERE email = $1",
            &[&email],
        )
        .await?,
    )
}

pub(crate) async fn credentials_by_username(
    c: &impl GenericClient,
    org_handle: &str,
    username: &str,
) -> StoreResult<Option<Credentials>> {
    credentials(
        row(
            c,
            "SELECT u.id, u.password_hash FROM users u JOIN orgs o ON o.id = u.org_id
             WHERE o.handle = $1 AND u.username = $2",
            &[&org_handle, &username],
        )
        .await?,
    )
}

pub(crate) async fn session_user(
    c: &impl GenericClient,
    token_hash: [u8; 32],
) -> StoreResult<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} JOIN sessions s ON s.user_id = u.id WHERE s.token_hash = $1"
    );
    row(c, &sql, &[&&token_hash[..]])
        .await?
        .as_ref()
        .map(sql::user)
        .transpose()
}

fn users(found: &[tokio_postgres::Row]) -> StoreResult<Vec<User>> {
    found.iter().map(sql::user).collect()
}

pub(crate) async fn search_users(
    c: &impl GenericClient,
    org_id: OrgId,
    prefix: &str,
    limit: u32,
) -> StoreResult<Vec<User>> {
    let pattern = format!("{}%", like_escape(&prefix.to_lowercase()));
    let word_pattern = format!("% {pattern}");
    let sql = format!(
        "SELECT {USER_COLUMNS} WHERE u.org_id = $1
         AND (u.username LIKE $2 OR u.name_folded LIKE $2 OR u.name_folded LIKE $3)
         ORDER BY u.username LIMIT $4"
    );
    users(
        &rows(
            c,
            &sql,
            &[&org_id.0, &pattern, &word_pattern, &i64::from(limit)],
        )
        .await?,
    )
}

pub(crate) async fn contacts(c: &impl GenericClient, owner: UserId) -> StoreResult<Vec<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} JOIN contacts k ON k.contact_id = u.id WHERE k.owner_id = $1 ORDER BY u.name, u.id"
    );
    users(&rows(c, &sql, &[&owner.0]).await?)
}

pub(crate) async fn users_by_ids(c: &impl GenericClient, ids: &[UserId]) -> StoreResult<Vec<User>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let sql = format!("SELECT {USER_COLUMNS} WHERE u.id = ANY($1) ORDER BY u.id");
    users(&rows(c, &sql, &[&ids]).await?)
}

pub(crate) async fn rename_user(
    c: &impl GenericClient,
    id: UserId,
    name: String,
) -> StoreResult<User> {
    run(
        c,
        "UPDATE users SET name = $2, name_folded = $3 WHERE id = $1",
        &[&id.0, &name, &name.to_lowercase()],
    )
    .await?;
    sql::user_by_id(c, id)
        .await?
        .ok_or(StoreError::NotFound("user"))
}

pub(crate) async fn bump_avatar(c: &impl GenericClient, id: UserId) -> StoreResult<User> {
    run(
        c,
        "UPDATE users SET avatar_version = coalesce(avatar_version, 0) + 1 WHERE id = $1",
        &[&id.0],
    )
    .await?;
    sql::user_by_id(c, id)
        .await?
        .ok_or(StoreError::NotFound("user"))
}

pub(crate) async fn touch_last_seen(
    c: &impl GenericClient,
    id: UserId,
    now: Millis,
) -> StoreResult<()> {
    run(
        c,
        "UPDATE users SET last_seen = greatest(coalesce(last_seen, 0), $2) WHERE id = $1",
        &[&id.0, &now.0],
    )
    .await?;
    Ok(())
}

pub(crate) async fn delete_session(
    c: &impl GenericClient,
    token_hash: [u8; 32],
) -> StoreResult<()> {
    run(
        c,
        "DELETE FROM sessions WHERE token_hash = $1",
        &[&&token_hash[..]],
    )
    .await?;
    Ok(())
}

pub(crate) async fn remove_contact(
    c: &impl GenericClient,
    owner: UserId,
    contact: UserId,
) -> StoreResult<()> {
    run(
        c,
        "DELETE FROM contacts WHERE owner_id = $1 AND contact_id = $2",
        &[&owner.0, &contact.0],
    )
    .await?;
    Ok(())
}
