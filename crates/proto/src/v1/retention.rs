//! Retention: how long an organization keeps messages, a channel's own policy where the organization
//! allows one, and what the purge job did.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A channel's own retention, set by its owners or the organization's administrators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRetention {
    /// Days a message is kept: 0 for ever, or 1 to 36,500; null (or absent) to follow the organization's
    /// policy again.
    #[serde(default)]
    pub retention_days: Option<u32>,
}

/// One run of the purge job over an organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PurgeRun {
    #[schema(format = DateTime)]
    pub started_at: String,
    /// Absent while it runs (or if the node running it stopped before it ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Messages deleted (thread replies included).
    pub messages_removed: u64,
    /// Attachments whose files were deleted with their messages.
    pub files_removed: u64,
    /// Conversations it removed messages from.
    pub conversations: u64,
}

/// The organization's retention policy and the purge job's last run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionStatus {
    /// 0: messages are kept for ever.
    pub retention_days: u32,
    pub channel_retention: bool,
    /// Channels with a retention of their own (while `channel_retention` allows it).
    pub channels_with_own_retention: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<PurgeRun>,
}
