//! Running an organization: roles, the people an administrator manages, a person's own sessions and
//! password, and the audit log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::User;
use crate::ids::{AuditId, ConversationId, SessionId, UserId};
use crate::strict_enum::strict_enum;

strict_enum! {
    /// A person's role in their organization. Owners manage everyone, administrators manage members and
    /// guests, and guests see only the conversations they were added to.
    pub enum Role {
        Owner = "owner",
        Admin = "admin",
        Member = "member",
        Guest = "guest",
    }
}

impl Role {
    /// Whether this role administers the organization (owners and administrators).
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A person as the organization's administrators see them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub user: User,
    pub email: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When they were last seen; null if never.
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
    /// When an administrator deactivated the account; null while it is active.
    #[schema(format = DateTime)]
    pub deactivated_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeopleList {
    pub people: Vec<Person>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// One of your sessions: a device you logged in on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub id: SessionId,
    /// What the device said it was when it logged in (its `User-Agent`), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: String,
    /// Whether this is the session asking.
    pub current: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// 8 to 256 characters.
    pub new_password: String,
}

strict_enum! {
    /// What an audit entry records.
    pub enum AuditKind {
        Login = "login",
        LoginFailed = "login_failed",
        SsoLogin = "sso_login",
        PasswordChanged = "password_changed",
        SessionEnded = "session_ended",
        PeopleRead = "people_read",
        RoleChanged = "role_changed",
        UserDeactivated = "user_deactivated",
        UserReactivated = "user_reactivated",
        InviteCreated = "invite_created",
        InviteDeleted = "invite_deleted",
        InvitesRead = "invites_read",
        SettingsChanged = "settings_changed",
        ChannelUpdated = "channel_updated",
        ChannelRoleChanged = "channel_role_changed",
        MemberRemoved = "member_removed",
        MessageRemoved = "message_removed",
        AuditRead = "audit_read",
        AuditExported = "audit_exported",
        Exported = "exported",
        Purged = "purged",
    }
}

strict_enum! {
    /// Whether the action was done or refused.
    pub enum AuditOutcome {
        Done = "done",
        Refused = "refused",
    }
}

/// One entry of the audit log. Entries are only ever added.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: AuditId,
    #[schema(format = DateTime)]
    pub at: String,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    /// Who acted; null for the server's operator (`parley admin`) or an unknown account.
    pub actor_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_conversation_id: Option<ConversationId>,
    /// The client's network address, where the action came over the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// What changed, in words: a role's new value, a refusal's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<AuditId>,
}

strict_enum! {
    /// Who may sign up into an organization without an invitation.
    pub enum SignupPolicy {
        /// Anyone.
        Open = "open",
        /// Nobody: an invitation is needed.
        InviteOnly = "invite_only",
        /// People whose email address is at one of `email_domains`.
        EmailDomains = "email_domains",
    }
}

strict_enum! {
    /// Who may do something in an organization.
    pub enum Allowed {
        Everyone = "everyone",
        /// Its owners and administrators.
        Admins = "admins",
    }
}

strict_enum! {
    /// Who may use `@channel` and `@here`.
    pub enum ChannelMentions {
        Everyone = "everyone",
        /// The channel's owners and moderators, and the organization's owners and administrators.
        Moderators = "moderators",
    }
}

/// How an organization runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrgSettings {
    pub signup: SignupPolicy,
    /// With `email_domains`: the domains whose people may sign up without an invitation.
    pub email_domains: Vec<String>,
    /// Public channels every new member joins.
    pub default_channels: Vec<ConversationId>,
    /// Who may create channels (anyone but guests, or administrators only).
    pub channel_creation: Allowed,
    /// Who may make invitation links.
    pub invitations: Allowed,
    pub channel_mentions: ChannelMentions,
    /// Messages older than this many days are deleted everywhere (0: kept for ever).
    pub retention_days: u32,
    /// Whether a channel's owners may give it a retention of its own (`PUT
    /// /v1/conversations/{id}/retention`); while false, every channel follows `retention_days`.
    pub channel_retention: bool,
}

/// What an administrator changes of the organization's settings: any of these.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgSettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signup: Option<SignupPolicy>,
    /// Domains such as `example.com`, lowercase; at most 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_domains: Option<Vec<String>>,
    /// Public channels of the organization; at most 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_channels: Option<Vec<ConversationId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_creation: Option<Allowed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitations: Option<Allowed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_mentions: Option<ChannelMentions>,
    /// 0 (keep for ever) or 1 to 36,500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_retention: Option<bool>,
}

/// One line of an export (`application/x-ndjson`), tagged by `type`. An organization's export is its
/// `organization` line, then every `person`, then each conversation followed by its messages (thread
/// replies and tombstones included) and the `file` of each attachment; a person's own export is their
/// messages only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "built to be serialized and dropped, a line at a time; boxing would only make lines clumsier"
)]
pub enum ExportLine {
    Organization {
        org: String,
        org_id: crate::ids::OrgId,
        #[schema(format = DateTime)]
        exported_at: String,
        settings: OrgSettings,
    },
    Person {
        person: Person,
    },
    Conversation {
        conversation: super::Conversation,
        /// Its members now, in join order.
        members: Vec<UserId>,
    },
    Message {
        message: super::Message,
    },
    /// A file on a message: where it is (`GET /v1/files/{file_id}`), not its bytes.
    File {
        file_id: crate::ids::FileId,
        conversation_id: ConversationId,
        message_id: crate::ids::MessageId,
        name: String,
        size: u64,
        content_type: String,
    },
}
