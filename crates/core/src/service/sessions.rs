//! Sessions: the bearer tokens that prove a caller, how long they live, and ending them.
//!
//! A session ends when its user logs out (this one, or all of them), when it has not been used for
//! `idle`, or when it is older than `lifetime`, whichever comes first. Sockets opened with it close with it:
//! at once on a logout (the bus tells every node), and otherwise at their next check, within
//! `SESSION_RECHECK`, which also catches a logout whose signal the bus lost.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parley_proto::v1::{AuditKind, AuthResponse, SessionInfo, SessionList};
use sha2::{Digest, Sha256};

use super::audit::by;
use super::{Caller, Parley};
use crate::bus::{Ended, Signal, Topic};
use crate::model::{Millis, Session};
use crate::store::AuditRecord;
use crate::wire::rfc3339;
use crate::{Error, OrgId, SessionId, UserId};

/// How long sessions live.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Unused this long, a session ends.
    pub idle: Duration,
    /// This long after it began, a session ends however much it is used.
    pub lifetime: Duration,
}

impl SessionLimits {
    /// How stale a session's last use may get before it is written again: a write on every request would
    /// cost a commit per request, and the idle limit needs no finer a clock than this.
    fn touch_every(&self) -> Duration {
        self.idle / 16
    }
}

/// How often an open socket reads its session again: a logout whose signal the bus lost (lag, NATS away, a
/// publish that failed) closes its sockets within this. A read per socket every five minutes.
const SESSION_RECHECK: Duration = Duration::from_secs(5 * 60);

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A fresh secret: 256 random bits, base64url (43 characters). Only its SHA-256 is stored.
pub(super) fn new_token() -> Result<(String, [u8; 32]), Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| Error::Hashing(e.to_string()))?;
    let token = URL_SAFE_NO_PAD.encode(secret);
    let hash = token_hash(&token);
    Ok((token, hash))
}

pub(super) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The length of an encoded secret.
const TOKEN_CHARS: usize = 43;

/// A fresh token that names its organization, `{org}.{secret}`, and its hash: a session's, an
/// invitation's. A cluster whose organizations live on several shards reads the organization to know where
/// the token is kept (`token_org`); changing it changes the hash, so it proves nothing by itself.
fn new_org_token(org: OrgId) -> Result<(String, [u8; 32]), Error> {
    let (secret, _) = new_token()?;
    let token = format!("{org}.{secret}");
    let hash = token_hash(&token);
    Ok((token, hash))
}

impl Parley {
    /// A fresh token for organization `org`'s use: on a shard of several, one that names it
    /// (`new_org_token`); else the secret alone, which every version of Parley takes.
    pub(super) fn new_token_of(&self, org: OrgId) -> Result<(String, [u8; 32]), Error> {
        if self.shard.is_some() {
            new_org_token(org)
        } else {
            new_token()
        }
    }
}

/// The organization a token names; `None` for a token made before tokens named theirs, or no token.
pub fn token_org(token: &str) -> Option<OrgId> {
    let (org, secret) = token.split_once('.')?;
    if secret.len() != TOKEN_CHARS || org.is_empty() || org.len() > 19 {
        return None;
    }
    if !org.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    org.parse().ok().map(OrgId)
}

/// Whether `token` has a token's shape (a secret, with or without its organization): anything else is
/// refused before touching the store.
pub(super) fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_CHARS || token_org(token).is_some()
}

/// The most of a device's description (its `User-Agent`) a session keeps.
pub const MAX_DEVICE_CHARS: usize = 200;

/// What a session keeps of the `User-Agent` it was made with: its first `MAX_DEVICE_CHARS` characters,
/// without control characters; nothing for a blank one.
pub fn device_name(user_agent: &str) -> Option<String> {
    let device: String = user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DEVICE_CHARS)
        .collect();
    let device = device.trim();
    (!device.is_empty()).then(|| device.to_owned())
}

/// A session's public id, as its owner lists and ends it: the first 63 bits of its token's hash (which
/// reveals nothing of the token, and is unique among one user's sessions but for a 2^-60 chance).
fn session_id(token_hash: &[u8; 32]) -> SessionId {
    let mut first = [0u8; 8];
    first.copy_from_slice(&token_hash[..8]);
    SessionId(i64::from_be_bytes(first) & i64::MAX)
}

impl Parley {
    pub(super) async fn start_session(
        &self,
        user_id: UserId,
        org_id: OrgId,
        device: Option<&str>,
    ) -> Result<AuthResponse, Error> {
        let (token, hash) = self.new_token_of(org_id)?;
        let now = Millis::now();
        self.store
            .create_session(user_id, hash, device, now)
            .await?;
        self.store.touch_last_seen(user_id, now).await?;
        Ok(AuthResponse { user_id, token })
    }

    /// The caller's sessions, most recently used first, marking the one asking.
    pub async fn sessions(&self, caller: &Caller) -> Result<SessionList, Error> {
        let sessions = self.store.sessions_of(caller.user.id).await?;
        Ok(SessionList {
            sessions: sessions
                .iter()
                .map(|s| SessionInfo {
                    id: session_id(&s.token_hash),
                    device: s.device.clone(),
                    created_at: rfc3339(s.created_at),
                    last_used_at: rfc3339(s.last_used),
                    current: s.token_hash == caller.token_hash,
                })
                .collect(),
        })
    }

    /// Ends one of the caller's sessions (this one too: that is a logout), closing its sockets on every node.
    pub async fn end_session(&self, caller: &Caller, id: SessionId) -> Result<(), Error> {
        let sessions = self.store.sessions_of(caller.user.id).await?;
        let session = sessions
            .iter()
            .find(|s| session_id(&s.token_hash) == id)
            .ok_or(Error::NotFound("session"))?;
        self.store.delete_session(session.token_hash).await?;
        self.revoked(caller.user.id, Ended::One(session.token_hash))
            .await?;
        let record = AuditRecord {
            target_user_id: Some(caller.user.id),
            detail: session.device.clone(),
            ..by(caller, AuditKind::SessionEnded)
        };
        self.audit(record).await;
        Ok(())
    }

    /// The caller a token proves, if its session is live. A session whose last use is older than
    /// `touch_every` is marked used now.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, Error> {
        if !well_formed(token) {
            return Err(Error::Unauthenticated);
        }
        let token_hash = token_hash(token);
        let session = self.live_session(token_hash).await?;
        Ok(Caller {
            user: session.user,
            token_hash,
            session_began: session.created_at,
        })
    }

    /// For a long-lived connection: whether the caller's session is still live (not logged out, not past
    /// its lifetime), marking it used, so an open socket keeps its session from going idle.
    pub async fn keep_session(&self, caller: &Caller) -> Result<(), Error> {
        self.live_session(caller.token_hash).await.map(|_| ())
    }

    /// When a long-lived connection should next call `keep_session`: often enough to keep its session
    /// from going idle, and no later than the session's end.
    pub fn next_session_check(&self, caller: &Caller) -> Millis {
        let every = millis(
            self.settings
                .session_limits
                .touch_every()
                .min(SESSION_RECHECK),
        );
        Millis(Millis::now().0.saturating_add(every)).min(self.session_ends(caller))
    }

    /// When the caller's session ends however it is used: a connection must close by then.
    pub fn session_ends(&self, caller: &Caller) -> Millis {
        Millis(
            caller
                .session_began
                .0
                .saturating_add(millis(self.settings.session_limits.lifetime)),
        )
    }

    pub(super) async fn live_session(&self, token_hash: [u8; 32]) -> Result<Session, Error> {
        let session = self
            .store
            .session(token_hash)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let limits = self.settings.session_limits;
        let now = Millis::now();
        let idle_for = now.0.saturating_sub(session.last_used.0);
        let age = now.0.saturating_sub(session.created_at.0);
        if idle_for >= millis(limits.idle) || age >= millis(limits.lifetime) {
            // Gone for good; the janitor would drop it later anyway.
            let _ = self.store.delete_session(token_hash).await;
            return Err(Error::Unauthenticated);
        }
        if idle_for >= millis(limits.touch_every()) {
            self.store.touch_session(token_hash, now).await?;
        }
        Ok(session)
    }

    /// Revokes the caller's token at once: the next request with it is unauthenticated. Its sockets are told
    /// to close even if the store failed (or timed out, and the delete commits later): the client retries
    /// the logout, and a socket closed for nothing only reconnects.
    pub async fn logout(&self, caller: &Caller) -> Result<(), Error> {
        let deleted = self.store.delete_session(caller.token_hash).await;
        self.revoked(caller.user.id, Ended::One(caller.token_hash))
            .await?;
        deleted.map_err(Error::from)
    }

    /// Revokes every session of the caller's, this one included ("log out everywhere"), telling their
    /// sockets as `logout` does.
    pub async fn logout_everywhere(&self, caller: &Caller) -> Result<(), Error> {
        let deleted = self.store.delete_sessions_of(caller.user.id).await;
        self.revoked(caller.user.id, Ended::All).await?;
        deleted.map(drop).map_err(Error::from)
    }

    /// Tells every node that sockets opened with these sessions must close.
    pub(super) async fn revoked(&self, user_id: UserId, sessions: Ended) -> Result<(), Error> {
        let revoked = Signal::Revoked { user_id, sessions };
        self.bus
            .publish(Topic::User(user_id), Arc::new(revoked))
            .await?;
        Ok(())
    }

    /// As `revoked`, after a change that is committed already: a publish the bus failed is logged, not
    /// answered (a retry would find nothing left to do), and the sockets close at their next session check.
    pub(super) async fn revoked_or_logged(&self, user_id: UserId, sessions: Ended) {
        if let Err(error) = self.revoked(user_id, sessions).await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(%user_id, error, "revocation not announced");
        }
    }

    /// Forgets sessions past their idle limit or lifetime; returns how many went.
    pub async fn prune_sessions(&self) -> Result<u64, Error> {
        let limits = self.settings.session_limits;
        let now = Millis::now().0;
        let idle_before = Millis(now.saturating_sub(millis(limits.idle)));
        let created_before = Millis(now.saturating_sub(millis(limits.lifetime)));
        Ok(self
            .store
            .prune_sessions(idle_before, created_before)
            .await?)
    }
}
