//! The records of running an organization: roles, deactivation, a person's sessions and password, and the
//! audit log. Every change an administrator makes is written with its audit entry in one transaction, so
//! the log never misses a change nor records one that did not happen.

use async_trait::async_trait;
use parley_proto::v1::{Allowed, AuditKind, AuditOutcome, ChannelMentions, Role, SignupPolicy};

use super::StoreResult;
use crate::model::{Conversation, Message, Millis, User};
use crate::{AuditId, ConversationId, MessageId, OrgId, UserId};

/// What an audit entry says, before the store numbers it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub org_id: OrgId,
    pub at: Millis,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    /// `None` for the server's operator, or for an account that does not exist.
    pub actor_id: Option<UserId>,
    pub target_user_id: Option<UserId>,
    pub target_conversation_id: Option<ConversationId>,
    pub address: Option<String>,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub id: AuditId,
    pub record: AuditRecord,
}

/// Which entries of an org's audit log to read: all of these that are given must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    /// At or after.
    pub since: Option<Millis>,
    /// Before.
    pub until: Option<Millis>,
    pub actor_id: Option<UserId>,
    pub kind: Option<AuditKind>,
    /// Entries with a smaller id: the next page, newest first.
    pub before: Option<AuditId>,
    /// Entries with a greater id: the next page, oldest first (an export).
    pub after: Option<AuditId>,
}

/// One of a user's sessions, as its owner lists them.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    pub token_hash: [u8; 32],
    pub device: Option<String>,
    pub created_at: Millis,
    pub last_used: Millis,
}

/// An organization's settings as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OrgSettingsRecord {
    pub org_id: OrgId,
    /// Whether it is open to sign-up by its own flag (`parley admin open-signup`).
    pub open_signup: bool,
    /// What an administrator chose; `None` before any did.
    pub signup: Option<SignupPolicy>,
    pub email_domains: Vec<String>,
    pub default_channels: Vec<ConversationId>,
    pub channel_creation: Allowed,
    pub invitations: Allowed,
    pub channel_mentions: ChannelMentions,
    /// Days messages are kept; 0 for ever.
    pub retention_days: u32,
    /// Whether channels may have a retention of their own.
    pub channel_retention: bool,
}

#[async_trait]
pub trait AdminRecords: Send + Sync + 'static {
    // ---- create ----

    async fn append_audit(&self, record: AuditRecord) -> StoreResult<()>;

    // ---- read ----

    /// An org's people, deactivated ones included, by id after `after`, whose username, name or email
    /// starts with `query` (everyone for an empty one), at most `limit`.
    async fn people(
        &self,
        org_id: OrgId,
        query: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    /// An org's audit entries that pass `filter`: newest first, or oldest first after `filter.after`.
    async fn audit_entries(
        &self,
        org_id: OrgId,
        filter: &AuditFilter,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    async fn org_settings(&self, org_id: OrgId) -> StoreResult<Option<OrgSettingsRecord>>;
    async fn org_settings_by_handle(&self, handle: &str) -> StoreResult<Option<OrgSettingsRecord>>;
    /// An org's conversations of every kind, by id after `after`, at most `limit`: what an export walks.
    async fn org_conversations(
        &self,
        org_id: OrgId,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>>;
    /// Every message of a conversation (replies in threads and tombstones too), by id after `after`, at
    /// most `limit`, with their reactions and attachments.
    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// A user's sessions, most recently used first, at most 200.
    async fn sessions_of(&self, user_id: UserId) -> StoreResult<Vec<SessionRecord>>;

    // ---- update ----

    /// Replaces an organization's settings (its default channels too; `open_signup` follows `signup`
    /// when one is chosen; invitations made by others than administrators go when they become theirs
    /// alone), writing `audit` with them.
    async fn set_org_settings(
        &self,
        settings: OrgSettingsRecord,
        audit: AuditRecord,
    ) -> StoreResult<OrgSettingsRecord>;

    /// Gives a user a role, writing `audit` with it. `Conflict("last_owner")` when that would leave their
    /// org without an active owner (and nothing is written).
    async fn set_role(&self, user_id: UserId, role: Role, audit: AuditRecord) -> StoreResult<User>;
    /// Deactivates a user (`at`: their sessions end, their push subscriptions and the invitations they made go
    /// with them) or
    /// reactivates them (`None`), writing `audit` with it. `Conflict("last_owner")` when deactivating the
    /// last active owner.
    async fn set_deactivated(
        &self,
        user_id: UserId,
        at: Option<Millis>,
        audit: AuditRecord,
    ) -> StoreResult<User>;
    /// Replaces a user's password hash and ends every session of theirs but `keep`, writing `audit` with it.
    async fn set_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        keep: [u8; 32],
        audit: AuditRecord,
    ) -> StoreResult<()>;
}
