//! Retention through the SDK: a channel's own, the organization's status, and a purge on demand.

use parley_proto::ConversationId;
use parley_proto::v1::{ChannelRetention, Conversation, RetentionStatus};
use reqwest::Method;

use crate::{Client, Result};

impl Client {
    /// Gives a channel a retention of its own in days (0: for ever), or `None` to follow the
    /// organization's again.
    pub async fn set_channel_retention(
        &self,
        id: ConversationId,
        retention_days: Option<u32>,
    ) -> Result<Conversation> {
        let id = id.to_string();
        let builder = self.request(Method::PUT, &["v1", "conversations", &id, "retention"]);
        Self::json(builder.json(&ChannelRetention { retention_days })).await
    }

    pub async fn retention_status(&self) -> Result<RetentionStatus> {
        Self::json(self.request(Method::GET, &["v1", "admin", "retention"])).await
    }

    /// Starts a purge of the organization; answers the status as it started.
    pub async fn run_purge(&self) -> Result<RetentionStatus> {
        Self::json(self.request(Method::POST, &["v1", "admin", "retention", "run"])).await
    }
}
