//! The records of retention: which conversations keep messages for a limited time, the purge that deletes
//! what is older, and the purge job's last run per organization.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{Event, Millis};
use crate::{ConversationId, MessageId, OrgId};

/// A conversation whose messages are kept `retention_days` (never 0): its channel's own retention where
/// its organization allows one, else its organization's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionTarget {
    pub conversation_id: ConversationId,
    pub org_id: OrgId,
    pub retention_days: u32,
}

/// What one purge batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeBatch {
    /// The newest message the batch looked at, for the next batch to start after; `None` when it found
    /// nothing older than the cutoff.
    pub through: Option<MessageId>,
    /// Messages deleted. A thread's first message whose replies are not all deleted is erased instead (its
    /// text and attachments go, the tombstone holds the thread together) and counts here too.
    pub messages: u64,
    /// Attachments marked for deletion (the collector deletes their objects after the commit).
    pub files: u64,
    /// Whether older messages may remain after `through`: false once the batch met a message at or after
    /// the cutoff, or the end.
    pub more: bool,
}

/// The purge job's run over an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurgeRunRecord {
    pub org_id: OrgId,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub messages: u64,
    pub files: u64,
    pub conversations: u64,
}

#[async_trait]
pub trait RetentionRecords: Send + Sync + 'static {
    /// Organizations where some conversation keeps messages for a limited time, by id after `after`.
    async fn retention_orgs(&self, after: Option<OrgId>, limit: u32) -> StoreResult<Vec<OrgId>>;
    /// The org's conversations with a limited retention, by id after `after`, at most `limit`.
    async fn retention_targets(
        &self,
        org_id: OrgId,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<RetentionTarget>>;
    /// Deletes, in one transaction, a conversation's oldest messages created before `before` (at most
    /// `limit`, by id after `after`), with everything they own: earlier versions, the search index's
    /// entries, reactions, mentions, pins, thread follows, pending notifications and pushes, hides, and
    /// their attachments (marked for the collector). It stops at the first message at or after the cutoff.
    async fn purge_messages(
        &self,
        conversation_id: ConversationId,
        before: Millis,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<PurgeBatch>;
    /// Ends a conversation's purge, in one transaction: appends a `conversation.purged` through `through`,
    /// which it returns (open clients drop those messages, and a client that resumes from before the
    /// purge hears of it), and deletes the log's older events about its messages up to `through` that no
    /// longer exist (read positions excepted), an earlier purge's `conversation.purged` among them. The notifier need not read the deleted
    /// events first: there is nothing left to tell of a message that is gone.
    async fn end_purge(
        &self,
        conversation_id: ConversationId,
        through: MessageId,
        now: Millis,
    ) -> StoreResult<Event>;
    /// Records the run, in place of the org's previous one. Once a run that removed messages is over, the
    /// embedded store also merges its search index (which drops the purged words: its purge only marks
    /// them) and empties its write-ahead log, so the purged text is in none of its files.
    async fn record_purge_run(&self, run: PurgeRunRecord) -> StoreResult<()>;
    async fn last_purge_run(&self, org_id: OrgId) -> StoreResult<Option<PurgeRunRecord>>;
    /// How many of the org's channels have a retention of their own.
    async fn channels_with_own_retention(&self, org_id: OrgId) -> StoreResult<u64>;
}
