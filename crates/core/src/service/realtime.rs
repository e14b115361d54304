//! The use cases behind the WebSocket: resuming from a cursor, the conversations and people a connection
//! follows, typing, and presence. The gateway calls these; it decides nothing itself.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;
use parley_proto::v1::{Role, UserPresence};

use super::rate_limits::KeyedLimiter;
use super::{Caller, Parley};
use crate::bus::{Ended, Signal, Topic};
use crate::model::{self, Event, Millis};
use crate::wire::rfc3339;
use crate::{ConversationId, Cursor, Error, UserId};

/// What `resettle` reads again for a user's connections after the bus lagged.
#[derive(Clone, Debug)]
pub struct Resettled {
    pub conversations: Vec<ConversationId>,
    pub as_of: Cursor,
    pub role: Role,
    /// The organization's settings now, as the signal that announces them.
    pub settings: Signal,
}

/// Most users one `presence_sub` may name.
const MAX_PRESENCE_SUB: usize = 1_000;

/// What a replay does about events older than the log keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pruned {
    /// The client was away: it may have missed them, so it must reload (`Replay::Resync`).
    Resync,
    /// The client has been connected all along and heard them live; replay what is kept.
    Skip,
}

/// What a reconnecting client gets.
#[derive(Clone, Debug)]
pub enum Replay {
    /// The events it missed (up to the limit asked for), oldest first.
    Events(Vec<Event>),
    /// Its cursor is older than the log keeps (or was never issued here): reload through REST.
    Resync,
}

/// At most one typing signal per user per conversation in this period; more are dropped, not refused, since
/// a client cannot do anything useful about it.
pub(super) fn typing_limiter() -> KeyedLimiter<(UserId, ConversationId)> {
    let quota = Quota::with_period(Duration::from_secs(2))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN));
    KeyedLimiter::new(quota)
}

impl Caller {
    /// Whether this caller came in with one of the sessions that `ended`.
    pub fn session_ended(&self, ended: &Ended) -> bool {
        ended.includes(&self.token_hash)
    }
}

impl Parley {
    /// The newest cursor: where a client that must resync continues from.
    pub async fn current_cursor(&self) -> Result<Cursor, Error> {
        Ok(self.store.latest_cursor().await?)
    }

    /// What the caller missed after `after`, at most `limit` events; call again from the last one for more.
    /// `pruned` says what to do when events after `after` may have been pruned.
    pub async fn replay(
        &self,
        caller: &Caller,
        after: Cursor,
        limit: u32,
        pruned: Pruned,
    ) -> Result<Replay, Error> {
        let latest = self.store.latest_cursor().await?;
        let oldest = self.store.oldest_cursor().await?;
        // A cursor ahead of the log was not issued by this deployment; one below the oldest kept event may
        // have missed pruned events.
        if after > latest {
            return Ok(Replay::Resync);
        }
        // Nothing happened since (every fresh connection starts so): no need to read the log.
        if after == latest {
            return Ok(Replay::Events(Vec::new()));
        }
        let after = match pruned {
            _ if after.0 + self.store.cursor_step() >= oldest.0 => after,
            Pruned::Resync => return Ok(Replay::Resync),
            Pruned::Skip => Cursor(oldest.0 - 1),
        };
        Ok(Replay::Events(
            self.store
                .events_after(caller.user.id, after, limit)
                .await?,
        ))
    }

    /// The conversations whose events the caller's connections receive, exact as of the returned cursor.
    pub async fn conversations_snapshot(
        &self,
        caller: &Caller,
    ) -> Result<(Vec<ConversationId>, Cursor), Error> {
        Ok(self
            .store
            .member_conversations_snapshot(caller.user.id)
            .await?)
    }

    /// What the caller's connections must learn again when the bus dropped signals for their node: their
    /// conversations (exact as of a cursor, as `conversations_snapshot`), the user's organization role now,
    /// and the organization's settings as an `OrgUpdated` to pass on, since a lost `user.updated` or
    /// `org.updated` is never replayed.
    pub async fn resettle(&self, caller: &Caller) -> Result<Resettled, Error> {
        let (conversations, as_of) = self.conversations_snapshot(caller).await?;
        let now = self
            .store
            .user(caller.user.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let settings = self.org_settings(caller).await?;
        Ok(Resettled {
            conversations,
            as_of,
            role: now.role,
            settings: Signal::OrgUpdated {
                org_id: caller.user.org_id,
                settings,
            },
        })
    }

    /// The people whose presence the caller's connections follow from the start: their contacts.
    pub async fn contact_ids(&self, caller: &Caller) -> Result<Vec<UserId>, Error> {
        Ok(self
            .store
            .contacts(caller.user.id)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect())
    }

    /// Tells the conversation's connected members that the caller is typing. Never stored.
    pub async fn typing(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
    ) -> Result<(), Error> {
        self.writable_conversation(caller, conversation_id).await?;
        if self
            .typing_limiter
            .check(&(caller.user.id, conversation_id))
            .is_err()
        {
            return Ok(());
        }
        let signal = Signal::Typing {
            conversation_id,
            user_id: caller.user.id,
        };
        self.bus
            .publish(Topic::Conversation(conversation_id), Arc::new(signal))
            .await?;
        Ok(())
    }

    /// Which of these users the caller may follow the presence of: those of their own org (anyone else is
    /// left out, as if unknown). One lookup, whatever the number.
    pub async fn presence_targets(
        &self,
        caller: &Caller,
        user_ids: &[UserId],
    ) -> Result<Vec<UserId>, Error> {
        Ok(self
            .visible_users(caller, user_ids)
            .await?
            .iter()
            .map(|u| u.id)
            .collect())
    }

    /// Where these people of the caller's org are now; ids of anyone else are left out, as if unknown.
    pub async fn presence(
        &self,
        caller: &Caller,
        user_ids: &[UserId],
    ) -> Result<Vec<UserPresence>, Error> {
        let visible = self.visible_users(caller, user_ids).await?;
        let ids: Vec<UserId> = visible.iter().map(|u| u.id).collect();
        let online = self.bus.online(&ids).await?;
        Ok(visible
            .iter()
            .zip(online)
            .map(|(user, online)| UserPresence {
                user_id: user.id,
                online,
                last_seen: user.last_seen.map(rfc3339),
            })
            .collect())
    }

    async fn visible_users(
        &self,
        caller: &Caller,
        user_ids: &[UserId],
    ) -> Result<Vec<model::User>, Error> {
        if user_ids.len() > MAX_PRESENCE_SUB {
            let message = format!("at most {MAX_PRESENCE_SUB} users at once");
            return Err(Error::invalid("too_many_users", message));
        }
        let distinct: Vec<UserId> = user_ids
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let users = self.store.users(&distinct).await?;
        Ok(users
            .into_iter()
            .filter(|u| u.org_id == caller.user.org_id)
            .collect())
    }

    /// The user's first connection opened: they are online.
    pub async fn came_online(&self, user_id: UserId) -> Result<(), Error> {
        self.bus.set_online(user_id, true).await?;
        let signal = Signal::Presence {
            user_id,
            online: true,
            last_seen: None,
        };
        self.bus
            .publish(Topic::Presence(user_id), Arc::new(signal))
            .await?;
        Ok(())
    }

    /// The user's last connection closed (and stayed closed through the grace period): they are offline.
    pub async fn went_offline(&self, user_id: UserId) -> Result<(), Error> {
        let now = Millis::now();
        self.store.touch_last_seen(user_id, now).await?;
        self.bus.set_online(user_id, false).await?;
        let signal = Signal::Presence {
            user_id,
            online: false,
            last_seen: Some(now),
        };
        self.bus
            .publish(Topic::Presence(user_id), Arc::new(signal))
            .await?;
        Ok(())
    }

    /// Forgets events older than the retention period; returns how many went.
    pub async fn prune_events(&self) -> Result<u64, Error> {
        let retention =
            i64::try_from(self.settings.event_retention.as_millis()).unwrap_or(i64::MAX);
        let before = Millis(Millis::now().0.saturating_sub(retention));
        Ok(self.store.prune_events(before).await?)
    }
}
