//! Moderating a channel through the SDK: its settings, archiving, its owners and moderators, removing
//! members.

use parley_proto::v1::{
    ChannelRole, ChannelRoleChange, Conversation, ConversationPatch, MemberRole, MemberRoleList,
};
use parley_proto::{ConversationId, UserId};
use reqwest::Method;

use crate::{Client, Result};

impl Client {
    pub async fn update_conversation(
        &self,
        id: ConversationId,
        patch: &ConversationPatch,
    ) -> Result<Conversation> {
        let id = id.to_string();
        Self::json(
            self.request(Method::PATCH, &["v1", "conversations", &id])
                .json(patch),
        )
        .await
    }

    /// Archives a channel (`true`) or brings it back.
    pub async fn archive(&self, id: ConversationId, archived: bool) -> Result<Conversation> {
        let id = id.to_string();
        let what = if archived { "archive" } else { "unarchive" };
        Self::json(self.request(Method::POST, &["v1", "conversations", &id, what])).await
    }

    /// A channel's owners and moderators.
    pub async fn channel_roles(&self, id: ConversationId) -> Result<Vec<MemberRole>> {
        let id = id.to_string();
        let list: MemberRoleList =
            Self::json(self.request(Method::GET, &["v1", "conversations", &id, "roles"])).await?;
        Ok(list.roles)
    }

    pub async fn set_channel_role(
        &self,
        id: ConversationId,
        user_id: UserId,
        role: ChannelRole,
    ) -> Result<MemberRole> {
        let (id, user) = (id.to_string(), user_id.to_string());
        let segments = ["v1", "conversations", &id, "members", &user, "role"];
        let builder = self.request(Method::PUT, &segments);
        Self::json(builder.json(&ChannelRoleChange { role })).await
    }

    /// Removes a member from a channel, as its moderator.
    pub async fn remove_member(&self, id: ConversationId, user_id: UserId) -> Result<()> {
        let (id, user) = (id.to_string(), user_id.to_string());
        let segments = ["v1", "conversations", &id, "members", &user];
        Self::empty(self.request(Method::DELETE, &segments)).await
    }
}
