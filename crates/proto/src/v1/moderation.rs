//! Moderating a channel: its settings, who moderates it, and what they may remove.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::UserId;
use crate::strict_enum::strict_enum;

strict_enum! {
    /// A member's role in a channel. Its owners and moderators (and the organization's administrators)
    /// rename it, change its topic and privacy, archive it, remove members and delete others' messages;
    /// its owners (and administrators) also name its owners and moderators. The creator is its first owner.
    pub enum ChannelRole {
        Owner = "owner",
        Moderator = "moderator",
        Member = "member",
    }
}

/// What a moderator changes of a channel: any of these.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatch {
    /// 1 to 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Up to 500 characters; empty clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRoleChange {
    pub role: ChannelRole,
}

/// A member and their role in a channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberRole {
    pub user_id: UserId,
    pub role: ChannelRole,
}

/// A channel's owners and moderators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberRoleList {
    pub roles: Vec<MemberRole>,
}
