//! Organizations, users, sessions and contacts.

use parley_core::model::{Credentials, Millis, Session, User};
use parley_core::store::{OrgPolicy, StoreError, StoreResult};
use parley_core::{OrgId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::connection::backend;
use super::rows::{self, USER_COLUMN_COUNT, USER_COLUMNS, USERS, like_escape, one, run};
use crate::inputs::NewUser;

/// Checks the email first (server-wide, so its answer says nothing of the org), then the invitation or the
/// org, then the username within the org.
pub(crate) fn create_user(c: &Connection, new: &NewUser) -> StoreResult<User> {
    let exists = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> StoreResult<bool> {
        one(c, sql, p, |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(backend)
    };
    if exists("SELECT 1 FROM users WHERE email = ?1", &[&new.email])? {
        return Err(StoreError::Conflict("email"));
    }
    let (org_id, invite) = match new.org_policy {
        OrgPolicy::Invited { token_hash } => {
            let (invite, org_id) = usable_invite(c, token_hash, new.now)?;
            (org_id, Some(invite))
        }
        policy => (org_to_join(c, &new.org_handle, policy, new.now)?, None),
    };
    if exists(
        "SELECT 1 FROM users WHERE org_id = ?1 AND username = ?2",
        &[&org_id, &new.username],
    )? {
        return Err(StoreError::Conflict("username"));
    }
    let id = insert_user(
        c,
        OrgId(org_id),
        &new.username,
        &new.email,
        &new.name,
        &new.password_hash,
        new.now,
    )?;
    if let Some(invite) = invite {
        run(
            c,
            "UPDATE invites SET uses = uses + 1 WHERE id = ?1",
            [invite],
        )
        .map_err(backend)?;
    }
    rows::user_by_id(c, id)?.ok_or(StoreError::NotFound("user"))
}

/// Inserts an account, checked already, into its organization: the first person of an organization owns it.
pub(super) fn insert_user(
    c: &Connection,
    org_id: OrgId,
    username: &str,
    email: &str,
    name: &str,
    password_hash: &str,
    now: Millis,
) -> StoreResult<UserId> {
    run(
        c,
        "INSERT INTO users (org_id, username, email, name, name_folded, password_hash, created_at, role)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                 CASE WHEN EXISTS (SELECT 1 FROM users WHERE org_id = ?1) THEN 'member' ELSE 'owner' END)",
        params![
            org_id.0,
            username,
            email,
            name,
            name.to_lowercase(),
            password_hash,
            now.0
        ],
    )
    .map_err(backend)?;
    Ok(UserId(c.last_insert_rowid()))
}

/// The id of the org a sign-up without invitation joins under `policy`, created if the policy allows it.
fn org_to_join(c: &Connection, handle: &str, policy: OrgPolicy, now: Millis) -> StoreResult<i64> {
    let found: Option<(i64, bool)> = one(
        c,
        "SELECT id, open_signup FROM orgs WHERE handle = ?1",
        [handle],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
    .map_err(backend)?;
    match (found, policy) {
        (Some((id, _)), OrgPolicy::JoinOrCreate) => Ok(id),
        (Some((id, true)), OrgPolicy::CreateOrJoinOpen | OrgPolicy::JoinOpen) => Ok(id),
        (None, OrgPolicy::JoinOrCreate | OrgPolicy::CreateOrJoinOpen) => {
            run(
                c,
                "INSERT INTO orgs (handle, created_at) VALUES (?1, ?2)",
                params![handle, now.0],
            )
            .map_err(backend)?;
            Ok(c.last_insert_rowid())
        }
        _ => Err(StoreError::NotFound("organization")),
    }
}

/// The invitation with this token hash and its org, if it is still usable at `now`.
fn usable_invite(c: &Connection, token_hash: [u8; 32], now: Millis) -> StoreResult<(i64, i64)> {
    one(
        c,
        "SELECT id, org_id FROM invites WHERE token_hash = ?1 AND uses < max_uses AND expires_at > ?2",
        params![&token_hash[..], now.0],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
    .map_err(backend)?
    .ok_or(StoreError::NotFound("invite"))
}

pub(crate) fn create_session(
    c: &Connection,
    user_id: UserId,
    token_hash: [u8; 32],
    device: Option<&str>,
    now: Millis,
) -> StoreResult<()> {
    // Only for an active account: a login that checked the password just before a deactivation commits
    // gets no session.
    let created = run(
        c,
        "INSERT INTO sessions (token_hash, user_id, created_at, last_used_at, device)
         SELECT ?1, ?2, ?3, ?3, ?4 WHERE EXISTS
             (SELECT 1 FROM users WHERE id = ?2 AND deactivated_at IS NULL)",
        params![&token_hash[..], user_id.0, now.0, device],
    )
    .map_err(backend)?;
    if created == 0 {
        return Err(StoreError::NotFound("user"));
    }
    Ok(())
}

pub(crate) fn add_contact(
    c: &Connection,
    owner: UserId,
    contact: UserId,
    now: Millis,
) -> StoreResult<()> {
    run(
        c,
        "INSERT OR IGNORE INTO contacts (owner_id, contact_id, created_at) VALUES (?1, ?2, ?3)",
        params![owner.0, contact.0, now.0],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn credentials_by_email(
    c: &Connection,
    email: &str,
) -> StoreResult<Option<Credentials>> {
    one(
        c,
        "SELECT id, password_hash, org_id, deactivated_at IS NOT NULL FROM users WHERE email = ?1",
        [email],
        credentials,
    )
    .optional()
    .map_err(backend)
}

pub(crate) fn credentials_by_username(
    c: &Connection,
    org_handle: &str,
    username: &str,
) -> StoreResult<Option<Credentials>> {
    one(
        c,
        "SELECT u.id, u.password_hash, u.org_id, u.deactivated_at IS NOT NULL
         FROM users u JOIN orgs o ON o.id = u.org_id
         WHERE o.handle = ?1 AND u.username = ?2",
        [org_handle, username],
        credentials,
    )
    .optional()
    .map_err(backend)
}

fn credentials(row: &rusqlite::Row<'_>) -> rusqlite::Result<Credentials> {
    Ok(Credentials {
        user_id: UserId(row.get(0)?),
        password_hash: row.get(1)?,
        org_id: OrgId(row.get(2)?),
        deactivated: row.get(3)?,
    })
}

pub(crate) fn session(c: &Connection, token_hash: [u8; 32]) -> StoreResult<Option<Session>> {
    let times = USER_COLUMN_COUNT;
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, s.created_at, s.last_used_at FROM {USERS}
         JOIN sessions s ON s.user_id = u.id WHERE s.token_hash = ?1 AND u.deactivated_at IS NULL"
    ))
    .and_then(|mut s| {
        s.query_row([&token_hash[..]], |row| {
            Ok(Session {
                user: rows::user(row)?,
                created_at: Millis(row.get(times)?),
                last_used: Millis(row.get(times + 1)?),
            })
        })
        .optional()
    })
    .map_err(backend)
}

pub(crate) fn search_users(
    c: &Connection,
    org_id: OrgId,
    prefix: &str,
    limit: u32,
) -> StoreResult<Vec<User>> {
    let pattern = format!("{}%", like_escape(&prefix.to_lowercase()));
    let word_pattern = format!("% {pattern}");
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM {USERS} WHERE u.org_id = ?1 AND u.deactivated_at IS NULL
             AND (u.username LIKE ?2 ESCAPE '\\' OR u.name_folded LIKE ?2 ESCAPE '\\' OR u.name_folded LIKE ?3 ESCAPE '\\')
             ORDER BY u.username LIMIT ?4"
        ))
        .map_err(backend)?;
    let users = statement
        .query_map(params![org_id.0, pattern, word_pattern, limit], rows::user)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(users)
}

pub(crate) fn contacts(c: &Connection, owner: UserId) -> StoreResult<Vec<User>> {
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM {USERS} JOIN contacts k ON k.contact_id = u.id WHERE k.owner_id = ?1 ORDER BY u.name, u.id"
        ))
        .map_err(backend)?;
    let users = statement
        .query_map([owner.0], rows::user)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(users)
}

pub(crate) fn rename_user(c: &Connection, id: UserId, name: &str) -> StoreResult<User> {
    run(
        c,
        "UPDATE users SET name = ?2, name_folded = ?3 WHERE id = ?1",
        params![id.0, name, name.to_lowercase()],
    )
    .map_err(backend)?;
    rows::user_by_id(c, id)?.ok_or(StoreError::NotFound("user"))
}

pub(crate) fn bump_avatar(c: &Connection, id: UserId) -> StoreResult<User> {
    run(
        c,
        "UPDATE users SET avatar_version = coalesce(avatar_version, 0) + 1 WHERE id = ?1",
        [id.0],
    )
    .map_err(backend)?;
    rows::user_by_id(c, id)?.ok_or(StoreError::NotFound("user"))
}

pub(crate) fn touch_last_seen(c: &Connection, id: UserId, now: Millis) -> StoreResult<()> {
    run(
        c,
        "UPDATE users SET last_seen = max(coalesce(last_seen, 0), ?2) WHERE id = ?1",
        params![id.0, now.0],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn touch_session(c: &Connection, token_hash: [u8; 32], now: Millis) -> StoreResult<()> {
    run(
        c,
        "UPDATE sessions SET last_used_at = max(last_used_at, ?2) WHERE token_hash = ?1",
        params![&token_hash[..], now.0],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn set_org_open_signup(
    c: &Connection,
    handle: &str,
    open: bool,
    now: Millis,
) -> StoreResult<()> {
    run(
        c,
        "INSERT INTO orgs (handle, open_signup, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (handle) DO UPDATE SET open_signup = excluded.open_signup, signup = NULL",
        params![handle, open, now.0],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn delete_sessions_of(c: &Connection, user_id: UserId) -> StoreResult<u64> {
    forget_subscriptions(
        c,
        "SELECT token_hash FROM sessions WHERE user_id = ?1",
        [user_id.0],
    )?;
    let deleted =
        run(c, "DELETE FROM sessions WHERE user_id = ?1", [user_id.0]).map_err(backend)?;
    Ok(deleted as u64)
}

/// Ends every session of a user but `keep`, with their push subscriptions.
pub(crate) fn delete_other_sessions(
    c: &Connection,
    user_id: UserId,
    keep: [u8; 32],
) -> StoreResult<u64> {
    forget_subscriptions(
        c,
        "SELECT token_hash FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
        params![user_id.0, &keep[..]],
    )?;
    let deleted = run(
        c,
        "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
        params![user_id.0, &keep[..]],
    )
    .map_err(backend)?;
    Ok(deleted as u64)
}

pub(crate) fn prune_sessions(
    c: &Connection,
    idle_before: Millis,
    created_before: Millis,
) -> StoreResult<u64> {
    forget_subscriptions(
        c,
        "SELECT token_hash FROM sessions WHERE last_used_at < ?1 OR created_at < ?2",
        params![idle_before.0, created_before.0],
    )?;
    let deleted = run(
        c,
        "DELETE FROM sessions WHERE last_used_at < ?1 OR created_at < ?2",
        params![idle_before.0, created_before.0],
    )
    .map_err(backend)?;
    Ok(deleted as u64)
}

pub(crate) fn delete_session(c: &Connection, token_hash: [u8; 32]) -> StoreResult<()> {
    forget_subscriptions(c, "SELECT ?1", [&token_hash[..]])?;
    run(
        c,
        "DELETE FROM sessions WHERE token_hash = ?1",
        [&token_hash[..]],
    )
    .map_err(backend)?;
    Ok(())
}

/// Deletes the push subscriptions of the sessions `sessions` selects (their token hashes), and their
/// deliveries: a subscription ends with its session.
fn forget_subscriptions<P: rusqlite::Params + Copy>(
    c: &Connection,
    sessions: &str,
    params: P,
) -> StoreResult<()> {
    run(
        c,
        &format!(
            "DELETE FROM push_deliveries WHERE subscription_id IN
             (SELECT id FROM push_subscriptions WHERE session_hash IN ({sessions}))"
        ),
        params,
    )
    .map_err(backend)?;
    run(
        c,
        &format!("DELETE FROM push_subscriptions WHERE session_hash IN ({sessions})"),
        params,
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn remove_contact(c: &Connection, owner: UserId, contact: UserId) -> StoreResult<()> {
    run(
        c,
        "DELETE FROM contacts WHERE owner_id = ?1 AND contact_id = ?2",
        params![owner.0, contact.0],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn users_by_ids(c: &Connection, ids: &[UserId]) -> StoreResult<Vec<User>> {
    let ids: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
    let mut statement = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM {USERS} WHERE u.id IN (SELECT value FROM json_each(?1)) ORDER BY u.id"
        ))
        .map_err(backend)?;
    let users = statement
        .query_map([format!("[{}]", ids.join(","))], rows::user)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(users)
}
