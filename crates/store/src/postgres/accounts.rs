//! Organizations, users, sessions and contacts.

use deadpool_postgres::GenericClient;
use parley_core::model::{Credentials, Millis, Session, User};
use parley_core::store::{OrgPolicy, StoreError, StoreResult};
use parley_core::{OrgId, UserId};

use super::sql::{self, USER_COLUMN_COUNT, USER_COLUMNS, USERS, get, row, rows, run};
use crate::inputs::NewUser;
use crate::like::like_escape;

/// Signs a user up in one statement, which checks, in the same snapshot as it writes, what the SQLite store
/// checks one query at a time: the email (`Conflict`), then the invitation (`NotFound("invite")` when it is
/// unknown, expired or used up) or the org (`NotFound("organization")` when it may not be joined and not be
/// created), then the username (`Conflict`). A refused sign-up changes nothing (not even the org it would have
/// created, or the invitation's count), so it leaves the batch's transaction fit to commit the writes beside
/// it. Two sign-ups racing in one batch cannot fail either: statements on one connection run one after the
/// other, so the second sees the first (and the invitation's use the first took).
pub(crate) async fn create_user(c: &impl GenericClient, new: NewUser) -> StoreResult<User> {
    let may_create_org = matches!(
        new.org_policy,
        OrgPolicy::JoinOrCreate | OrgPolicy::CreateOrJoinOpen
    );
    let joins_closed_orgs = matches!(new.org_policy, OrgPolicy::JoinOrCreate);
    let invite = match new.org_policy {
        OrgPolicy::Invited { token_hash } => Some(token_hash.to_vec()),
        _ => None,
    };
    let outcome = row(
        c,
        "WITH invited AS (
             SELECT id, org_id FROM invites WHERE token_hash = $10 AND uses < max_uses AND expires_at > $7
         ), found AS (
             SELECT id, open_signup OR $9::BOOLEAN AS admitted FROM orgs
             WHERE $10::BYTEA IS NULL AND handle = $1
             UNION ALL
             SELECT org_id, true FROM invited
         ), taken AS (
             SELECT CASE
                 WHEN EXISTS (SELECT 1 FROM users WHERE email = $3) THEN 'email'
                 WHEN EXISTS (SELECT 1 FROM users
                              WHERE org_id = (SELECT id FROM found WHERE admitted) AND username = $2)
                     THEN 'username'
             END AS field
         ), created AS (
             INSERT INTO orgs (handle, created_at)
             SELECT $1, $7 FROM taken
             WHERE $8::BOOLEAN AND taken.field IS NULL AND NOT EXISTS (SELECT 1 FROM found)
             ON CONFLICT DO NOTHING
             RETURNING id
         ), org AS (
             SELECT id FROM found WHERE admitted UNION ALL SELECT id FROM created
         ), inserted AS (
             INSERT INTO users (org_id, username, email, name, name_folded, password_hash, created_at, role)
             SELECT org.id, $2, $3, $4, $5, $6, $7,
                    CASE WHEN EXISTS (SELECT 1 FROM users WHERE org_id = org.id) THEN 'member' ELSE 'owner' END
             FROM org, taken WHERE taken.field IS NULL
             ON CONFLICT DO NOTHING
             RETURNING id
         ), used AS (
             UPDATE invites SET uses = uses + 1
             WHERE id = (SELECT id FROM invited) AND EXISTS (SELECT 1 FROM inserted)
             RETURNING id
         )
         SELECT EXISTS (SELECT 1 FROM found), EXISTS (SELECT 1 FROM found WHERE admitted),
                (SELECT field FROM taken), (SELECT id FROM inserted)",
        &[
            &new.org_handle,
            &new.username,
            &new.email,
            &new.name,
            &new.name.to_lowercase(),
            &new.password_hash,
            &new.now.0,
            &may_create_org,
            &joins_closed_orgs,
            &invite,
        ],
    )
    .await?
    .ok_or(sql::vanished("user"))?;
    let org_found: bool = get(&outcome, 0)?;
    let admitted: bool = get(&outcome, 1)?;
    let taken = get::<Option<&str>>(&outcome, 2)?;
    // The email first: it is unique server-wide, so its answer says nothing of the org.
    if taken == Some("email") {
        return Err(StoreError::Conflict("email"));
    }
    if invite.is_some() && !org_found {
        return Err(StoreError::NotFound("invite"));
    }
    if (org_found && !admitted) || (!org_found && !may_create_org) {
        return Err(StoreError::NotFound("organization"));
    }
    if taken.is_some() {
        return Err(StoreError::Conflict("username"));
    }
    // Every check passed, so only a row the statement's snapshot could not see stopped the insert: the
    // turn rules that out, and a backend failure has the writer undo whatever the statement did.
    let id = UserId(get::<Option<i64>>(&outcome, 3)?.ok_or(sql::vanished("user"))?);
    sql::user_by_id(c, id).await?.ok_or(sql::vanished("user"))
}

pub(crate) async fn create_session(
    c: &impl GenericClient,
    user_id: UserId,
    token_hash: [u8; 32],
    device: Option<&str>,
    now: Millis,
) -> StoreResult<()> {
    // A taken token changes nothing here, instead of aborting the batch's transaction. Only for an active
    // account: a login that checked the password just before a deactivation commits gets no session.
    let inserted = run(
        c,
        "INSERT INTO sessions (token_hash, user_id, created_at, last_used_at, device)
         SELECT $1, $2, $3, $3, $4 WHERE EXISTS
             (SELECT 1 FROM users WHERE id = $2 AND deactivated_at IS NULL)
         ON CONFLICT DO NOTHING",
        &[&&token_hash[..], &user_id.0, &now.0, &device],
    )
    .await?;
    if inserted == 0 {
        let active = row(
            c,
            "SELECT 1 FROM users WHERE id = $1 AND deactivated_at IS NULL",
            &[&user_id.0],
        )
        .await?;
        return Err(match active {
            Some(_) => StoreError::Conflict("session"),
            None => StoreError::NotFound("user"),
        });
    }
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
                org_id: OrgId(get(&r, 2)?),
                deactivated: get(&r, 3)?,
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
            "SELECT id, password_hash, org_id, deactivated_at IS NOT NULL FROM users WHERE email = $1",
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
            "SELECT u.id, u.password_hash, u.org_id, u.deactivated_at IS NOT NULL FROM users u JOIN orgs o ON o.id = u.org_id
             WHERE o.handle = $1 AND u.username = $2",
            &[&org_handle, &username],
        )
        .await?,
    )
}

pub(crate) async fn session(
    c: &impl GenericClient,
    token_hash: [u8; 32],
) -> StoreResult<Option<Session>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, s.created_at, s.last_used_at FROM {USERS}
         JOIN sessions s ON s.user_id = u.id WHERE s.token_hash = $1 AND u.deactivated_at IS NULL"
    );
    let Some(found) = row(c, &sql, &[&&token_hash[..]]).await? else {
        return Ok(None);
    };
    Ok(Some(Session {
        user: sql::user(&found)?,
        created_at: Millis(get(&found, USER_COLUMN_COUNT)?),
        last_used: Millis(get(&found, USER_COLUMN_COUNT + 1)?),
    }))
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
        "SELECT {USER_COLUMNS} FROM {USERS} WHERE u.org_id = $1 AND u.deactivated_at IS NULL
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
        "SELECT {USER_COLUMNS} FROM {USERS} JOIN contacts k ON k.contact_id = u.id WHERE k.owner_id = $1 ORDER BY u.name, u.id"
    );
    users(&rows(c, &sql, &[&owner.0]).await?)
}

pub(crate) async fn users_by_ids(c: &impl GenericClient, ids: &[UserId]) -> StoreResult<Vec<User>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let sql = format!("SELECT {USER_COLUMNS} FROM {USERS} WHERE u.id = ANY($1) ORDER BY u.id");
    users(&rows(c, &sql, &[&ids]).await?)
}

/// Renames the user and answers the row as this statement left it: a follow-up read, pipelined beside the
/// batch's other writes, could see another rename of the same user.
pub(crate) async fn rename_user(
    c: &impl GenericClient,
    id: UserId,
    name: String,
) -> StoreResult<User> {
    let sql = format!(
        "UPDATE users u SET name = $2, name_folded = $3 FROM orgs o
         WHERE u.id = $1 AND o.id = u.org_id RETURNING {USER_COLUMNS}"
    );
    row(c, &sql, &[&id.0, &name, &name.to_lowercase()])
        .await?
        .as_ref()
        .map(sql::user)
        .transpose()?
        .ok_or(StoreError::NotFound("user"))
}

/// Answers the version this statement set, not one a later bump in the same batch set.
pub(crate) async fn bump_avatar(c: &impl GenericClient, id: UserId) -> StoreResult<User> {
    let sql = format!(
        "UPDATE users u SET avatar_version = coalesce(u.avatar_version, 0) + 1 FROM orgs o
         WHERE u.id = $1 AND o.id = u.org_id RETURNING {USER_COLUMNS}"
    );
    row(c, &sql, &[&id.0])
        .await?
        .as_ref()
        .map(sql::user)
        .transpose()?
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

pub(crate) async fn touch_session(
    c: &impl GenericClient,
    token_hash: [u8; 32],
    now: Millis,
) -> StoreResult<()> {
    run(
        c,
        "UPDATE sessions SET last_used_at = greatest(last_used_at, $2) WHERE token_hash = $1",
        &[&&token_hash[..], &now.0],
    )
    .await?;
    Ok(())
}

pub(crate) async fn set_org_open_signup(
    c: &impl GenericClient,
    handle: &str,
    open: bool,
    now: Millis,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO orgs (handle, open_signup, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (handle) DO UPDATE SET open_signup = excluded.open_signup, signup = NULL",
        &[&handle, &open, &now.0],
    )
    .await?;
    Ok(())
}

/// Deletes the sessions `deleting` (a `DELETE … RETURNING token_hash`) picks, with the push subscriptions
/// they made and those subscriptions' deliveries, in one statement; returns how many sessions it deleted.
async fn delete_sessions_where(
    c: &impl GenericClient,
    deleting: &str,
    params: sql::Params<'_>,
) -> StoreResult<u64> {
    let sql = format!(
        "WITH ended AS ({deleting}),
         subscriptions AS (
             DELETE FROM push_subscriptions WHERE session_hash IN (SELECT token_hash FROM ended)
             RETURNING id
         ),
         deliveries AS (
             DELETE FROM push_deliveries WHERE subscription_id IN (SELECT id FROM subscriptions)
         )
         SELECT count(*) FROM ended"
    );
    let found = row(c, &sql, params)
        .await?
        .ok_or_else(|| sql::vanished("sessions"))?;
    let deleted: i64 = get(&found, 0)?;
    Ok(u64::try_from(deleted).unwrap_or(0))
}

pub(crate) async fn delete_sessions_of(
    c: &impl GenericClient,
    user_id: UserId,
) -> StoreResult<u64> {
    delete_sessions_where(
        c,
        "DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash",
        &[&user_id.0],
    )
    .await
}

/// Ends every session of a user but `keep`, with their push subscriptions.
pub(crate) async fn delete_other_sessions(
    c: &impl GenericClient,
    user_id: UserId,
    keep: [u8; 32],
) -> StoreResult<u64> {
    delete_sessions_where(
        c,
        "DELETE FROM sessions WHERE user_id = $1 AND token_hash != $2 RETURNING token_hash",
        &[&user_id.0, &&keep[..]],
    )
    .await
}

pub(crate) async fn prune_sessions(
    c: &impl GenericClient,
    idle_before: Millis,
    created_before: Millis,
) -> StoreResult<u64> {
    delete_sessions_where(
        c,
        "DELETE FROM sessions WHERE last_used_at < $1 OR created_at < $2 RETURNING token_hash",
        &[&idle_before.0, &created_before.0],
    )
    .await
}

pub(crate) async fn delete_session(
    c: &impl GenericClient,
    token_hash: [u8; 32],
) -> StoreResult<()> {
    delete_sessions_where(
        c,
        "DELETE FROM sessions WHERE token_hash = $1 RETURNING token_hash",
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
