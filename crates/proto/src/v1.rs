//! Version 1 of the public API: REST request and response bodies, and the WebSocket's server events.
//!
//! Field names here are the contract of `shared/API.md`; additions are fine, renames are not.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{
    ConversationId, Cursor, FileId, InviteId, MessageId, OrgId, SubscriptionId, UserId,
};
use crate::object::object_only;
use crate::strict_enum::strict_enum;

mod admin;
mod moderation;
mod retention;
mod sso;
pub use admin::*;
pub use moderation::*;
pub use retention::*;
pub use sso::*;

/// The body of every non-2xx answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable snake_case `code` to branch on and a sentence for people.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(example = "invalid_input")]
    pub code: String,
    pub message: String,
}

// ---- accounts ----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Display name, 1 to 100 characters.
    pub name: String,
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    /// `[a-z0-9_.-]{2,32}`, unique within the organization.
    pub username: String,
    /// Handle of the organization to join or create; absent means the server's default organization.
    /// Joining an existing organization takes an `invite`, unless it is open to sign-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// An invitation token (from `POST /v1/invites`): joins the organization that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address, or username (looked up in `org`, or the default organization when absent).
    pub login: String,
    pub password: String,
    /// Organization handle for a username login. Emails are unique server-wide and need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    pub user_id: UserId,
    /// Bearer token for `Authorization: Bearer ...`; revoked by logout.
    pub token: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInviteRequest {
    /// How many people may sign up with it, 1 to 1,000; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// Hours until it expires, 1 to 720 (30 days); 168 (a week) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_hours: Option<u32>,
}

/// An invitation to sign up into an organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Invite {
    pub id: InviteId,
    /// The organization's handle.
    pub org: String,
    pub created_by: UserId,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub max_uses: u32,
    /// Sign-ups made with it so far.
    pub uses: u32,
    /// The secret to sign up with (`invite` in the sign-up): only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A link to the web client's sign-up with the invitation filled in: only with `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InviteList {
    pub invites: Vec<Invite>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteLookup {
    pub token: String,
}

/// What an invitation leads to, shown before signing up with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvitePreview {
    /// The organization's handle.
    pub org: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

// ---- users ----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub name: String,
    /// The organization's handle.
    pub org: String,
    pub org_id: OrgId,
    /// The person's role in their organization.
    pub role: Role,
    /// An administrator deactivated the account: it cannot log in, and is kept for its history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deactivated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// Present on profiles and contact lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<Presence>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Presence {
    pub online: bool,
    /// When the user was last seen; null if never.
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
}

/// Makes a complete upload of yours (a picture of at most 5 MiB) your avatar; the upload is used up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvatarFromUpload {
    pub upload_id: FileId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactList {
    pub contacts: Vec<User>,
}

// ---- conversations ----

strict_enum! {
    pub enum ConversationKind {
        Dm = "dm",
        Group = "group",
        Channel = "channel",
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversationRequest {
    pub kind: ConversationKind,
    /// User ids besides you: exactly one for a DM.
    #[serde(default)]
    pub members: Vec<UserId>,
    /// Group or channel name, 1 to 100 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Channel handle, `[a-z0-9_.-]{2,32}`, unique within the organization.
    #[serde(default)]
    pub handle: Option<String>,
    /// Channel topic, up to 500 characters.
    #[serde(default)]
    pub topic: Option<String>,
    /// A private channel is not in the directory and is joined by invitation only.
    #[serde(default)]
    pub private: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub private: bool,
    /// Archived by a moderator: read-only, and out of the channel directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
    /// A channel's own retention: messages older than this many days are deleted (0: kept for ever).
    /// Absent: the organization's policy applies (`GET /v1/org/settings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// For channels: the URL that joins it (`POST /v1/join/{handle}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
    pub created_by: UserId,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub member_count: u64,
    /// Member ids, for conversations of up to 1,000 members; in your conversation list, for DMs only (so a client
    /// can name a DM after the other person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<UserId>>,
    /// In your conversation list: messages after your read checkpoint, not your own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<u64>,
    /// In your conversation list: unread messages that mention you (by name, or `@channel` or `@here`), not
    /// your own: in the main history after your read checkpoint, and in each thread after your checkpoint
    /// in that thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_mentions: Option<u64>,
    /// In your conversation list: the newest message you can see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// Your own membership settings, when you are a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub user_ids: Vec<UserId>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_always: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    /// In a channel: owner, moderator or member.
    pub role: ChannelRole,
    pub muted: bool,
    pub notify_always: bool,
    /// Your read checkpoint; null before you read anything.
    pub last_read_message_id: Option<MessageId>,
    #[schema(format = DateTime)]
    pub joined_at: String,
}

// ---- messages ----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// 1 to 10,000 characters; no control characters but newline and tab. May be empty (or left out) when
    /// the message carries attachments.
    #[serde(default)]
    pub text: String,
    /// Client-chosen, up to 64 characters: a retry with the same nonce never stores a second message.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Who the message mentions (the text shows `@name`). Mentions of people who are not members are
    /// dropped, and the answer's `dropped_mentions` says which.
    #[serde(default)]
    pub mentions: Option<Mentions>,
    /// Makes the message a reply in the thread of this message of the same conversation, which must not be a
    /// reply itself.
    #[serde(default)]
    pub thread_root_id: Option<MessageId>,
    /// A reply that also shows in the conversation's main history.
    #[serde(default)]
    pub also_to_conversation: Option<bool>,
    /// Quotes a message the sender can see (reply privately): shown as a card to those who can see it.
    #[serde(default)]
    pub quote: Option<QuoteRef>,
    /// Up to 10 of the sender's completed uploads (`POST /v1/uploads`), each attached once.
    #[serde(default)]
    pub attachments: Vec<FileId>,
}

/// Whom a message mentions, as data. `channel` (`@channel`) and `here` (`@here`) are kept once on the
/// message, never as one row per member.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Mentions {
    /// Up to 50 users of the conversation.
    #[serde(default)]
    pub user_ids: Vec<UserId>,
    #[serde(default)]
    pub channel: bool,
    #[serde(default)]
    pub here: bool,
}

impl Mentions {
    pub fn is_empty(&self) -> bool {
        self.user_ids.is_empty() && !self.channel && !self.here
    }
}

/// A reference to a quoted message. Whoever reads it asks for the message itself
/// (`GET /v1/conversations/{conversation_id}/messages/{message_id}`); a 404 means "message unavailable".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct QuoteRef {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
}

object_only!(Mentions);
object_only!(QuoteRef);

/// The body of an edit: the new text (the same rules as a send) and, optionally, whom it now mentions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    pub text: String,
    /// Replaces the message's mentions when present; absent keeps them.
    #[serde(default)]
    pub mentions: Option<Mentions>,
}

/// The answer to a send: the message, and the mentioned users who were dropped because they are not members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SentMessage {
    #[serde(flatten)]
    pub message: Message,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_mentions: Vec<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub author_id: UserId,
    /// Absent once deleted for everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub reactions: Vec<Reaction>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Deleted by a channel's moderator (or an administrator), not by its author.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed_by_moderator: bool,
    /// When the author last edited it; earlier versions are at `.../messages/{id}/edits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub edited_at: Option<String>,
    /// On a reply: the thread's first message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root_id: Option<MessageId>,
    /// On a reply: it also shows in the conversation's main history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub also_to_conversation: bool,
    #[serde(default, skip_serializing_if = "Mentions::is_empty")]
    pub mentions: Mentions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<QuoteRef>,
    /// On a thread's root: how many replies it has (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reply_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub last_reply_at: Option<String>,
    /// On a thread's root: its first few repliers, in the order they first replied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repliers: Vec<UserId>,
    /// The files it carries, in the order they were attached (absent when none, and once deleted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub user_ids: Vec<UserId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<Message>,
}

/// An earlier version of an edited message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageEdit {
    pub text: String,
    /// When this version was written (the message's `created_at` for the first).
    #[schema(format = DateTime)]
    pub written_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageEditList {
    /// Oldest first; the current text is the message's own.
    pub edits: Vec<MessageEdit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Pin {
    pub message: Message,
    pub pinned_by: UserId,
    #[schema(format = DateTime)]
    pub pinned_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PinList {
    /// Newest pin first.
    pub pins: Vec<Pin>,
}

/// A thread you follow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThreadInfo {
    pub conversation_id: ConversationId,
    /// The thread's first message, with `reply_count`, `last_reply_at` and `repliers`.
    pub root: Message,
    /// Replies after your read checkpoint in this thread, not your own.
    pub unread_replies: u64,
    /// Your read checkpoint in this thread; null before you read any of it.
    pub last_read_message_id: Option<MessageId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ThreadList {
    /// Newest activity first.
    pub threads: Vec<ThreadInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    pub message_id: MessageId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    pub user_id: UserId,
    pub message_id: MessageId,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptList {
    pub receipts: Vec<Receipt>,
}

// ---- notifications ----

/// The key a browser needs to subscribe to Web Push for this server (`applicationServerKey`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VapidKey {
    /// The server's VAPID public key (RFC 8292): the uncompressed P-256 point, base64url without padding.
    pub public_key: String,
}

/// The keys of a Web Push subscription, as the browser's `PushSubscription.toJSON()` gives them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebPushKeys {
    /// The browser's P-256 public key, base64url: 65 bytes, an uncompressed point.
    pub p256dh: String,
    /// The browser's authentication secret, base64url: 16 bytes.
    pub auth: String,
}

/// Where this device wants to be told of what it missed. It belongs to the session that made it: logging
/// out removes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CreateSubscriptionRequest {
    /// A browser's Web Push subscription (RFC 8030); payloads are encrypted for it (RFC 8291).
    WebPush {
        /// The push service's URL for this subscription (`https`).
        endpoint: String,
        keys: WebPushKeys,
        /// Ignored: browsers include it in `toJSON()`.
        #[serde(default, rename = "expirationTime")]
        #[schema(value_type = Option<f64>)]
        expiration_time: Option<serde_json::Value>,
    },
    /// A URL that gets each notification as JSON, signed with HMAC-SHA256 (`Parley-Signature`), for a bridge
    /// or a UnifiedPush distributor.
    Webhook {
        /// `https`, and not a private or loopback address unless the operator allows one.
        url: String,
    },
}

/// Which way a subscription is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionKind {
    WebPush,
    Webhook,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub kind: SubscriptionKind,
    /// The push service's endpoint or the webhook's URL.
    pub endpoint: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Whether the session asking made it.
    pub this_session: bool,
    /// A webhook's signing secret (43 base64url characters), in the answer that creates it and never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<Subscription>,
}

/// Hours in which pushes wait (do not disturb), in the user's time zone. `start` after `end` spans midnight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, 24-hour clock.
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// `HH:MM`, 24-hour clock; pushes held back meanwhile go out then.
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
    /// An IANA time zone name, such as `Europe/Berlin`.
    pub time_zone: String,
}

/// How the caller is told of what they missed, across their devices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Null: pushes go out at any hour.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
}

/// What a push or webhook carries: the JSON a service worker decrypts, or a webhook's body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notification {
    /// Unread messages in one conversation (several collapse into one, `count` of them).
    Message {
        /// The payload's version: 1.
        v: u8,
        /// Stable: the same notification sent again (a retry) has the same id.
        id: String,
        /// One per conversation (`parley-c{id}`): a newer notification replaces the shown one.
        tag: String,
        conversation_id: ConversationId,
        /// The newest of the messages told of.
        message_id: MessageId,
        conversation_kind: ConversationKind,
        /// A group's or channel's name; null for a DM.
        conversation_name: Option<String>,
        sender: NotificationSender,
        /// The start of the newest message's text; null when the organization keeps previews off the push
        /// services (the client then fetches the message).
        text: Option<String>,
        count: u32,
        /// Unread direct and group conversations plus unread mentions, as the push was sent.
        badge: u32,
    },
    /// The conversation was read on another device: remove its notification.
    Clear {
        v: u8,
        id: String,
        tag: String,
        conversation_id: ConversationId,
        badge: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationSender {
    pub id: UserId,
    pub name: String,
}

// ---- files ----

/// Asks for an upload: the server answers where to send the bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadRequest {
    /// The file's name as the user knows it: 1 to 255 characters. Path separators and control characters are
    /// replaced with `_`.
    pub name: String,
    /// Bytes, from 1 to the server's limit per file; the bytes sent must be exactly this many.
    #[schema(minimum = 1)]
    pub size: u64,
    /// What the client takes the file to be. A hint only: the server recognises the type by content.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// Where an upload stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Waiting for its parts, then `POST /v1/uploads/{id}/complete`.
    Pending,
    /// Checked and ready to attach to a message.
    Complete,
    /// Attached to a message: it is a file now, at `/v1/files/{id}`.
    Attached,
}

/// An upload, as its owner sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Upload {
    pub id: FileId,
    pub name: String,
    /// Bytes: as declared while pending, as counted once complete.
    pub size: u64,
    pub state: UploadState,
    /// Recognised from the content once complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Hex SHA-256 of the content, once complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// When an upload not attached to a message by then is collected.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Where to send the bytes, part by part, while pending (empty once complete).
    pub parts: Vec<UploadPart>,
}

/// One part of an upload: `size` bytes from offset `(number - 1) * part_size`, every part but the last
/// being the same size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadPart {
    /// From 1.
    pub number: u32,
    pub size: u64,
    /// `PUT`: the bytes are the body, sent with the `Authorization` header to this server. `POST`: a
    /// `multipart/form-data` form to the object store, `fields` first and the bytes last, as `file`, with no
    /// `Authorization` header.
    pub method: String,
    /// Absolute for the object store; a path on this server for `PUT`.
    pub url: String,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// A file on a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: FileId,
    pub name: String,
    pub size: u64,
    /// Recognised from the content.
    pub content_type: String,
    /// Of an image the server decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A preview of an image, at `/v1/files/{id}/thumbnail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<Thumbnail>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
}

/// Asks for short-lived links to files, for places that cannot send the `Authorization` header
/// (`<img src>`, a download link).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileLinksRequest {
    /// 1 to 100 files the caller may see.
    pub ids: Vec<FileId>,
}

/// A signed link to a file, good until `expires_at`, for anyone who holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileLink {
    pub id: FileId,
    pub url: String,
    /// For an image with a preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileLinkList {
    pub links: Vec<FileLink>,
}

// ---- operations ----

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GatewayInfo {
    /// The WebSocket URL this user should connect to.
    pub url: String,
}

// ---- events ----

/// A durable server event as it travels on the WebSocket: the event plus its `cursor` (resume point).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventFrame {
    pub cursor: Cursor,
    #[serde(flatten)]
    pub event: Event,
}

/// Every durable change a client must see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "message.created")]
    MessageCreated {
        conversation_id: ConversationId,
        message: Message,
    },
    /// Deleted for everyone; the text is gone.
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        conversation_id: ConversationId,
        message_id: MessageId,
        /// By a moderator, not by its author.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        removed_by_moderator: bool,
    },
    /// Deleted for me: goes to the user's own devices only.
    #[serde(rename = "message.hidden")]
    MessageHidden {
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
    },
    #[serde(rename = "reaction.added")]
    ReactionAdded {
        conversation_id: ConversationId,
        message_id: MessageId,
        emoji: String,
        user_id: UserId,
    },
    #[serde(rename = "reaction.removed")]
    ReactionRemoved {
        conversation_id: ConversationId,
        message_id: MessageId,
        emoji: String,
        user_id: UserId,
    },
    #[serde(rename = "read.updated")]
    ReadUpdated {
        conversation_id: ConversationId,
        user_id: UserId,
        message_id: MessageId,
    },
    /// Edited: `message` is the message as it is now.
    #[serde(rename = "message.updated")]
    MessageUpdated {
        conversation_id: ConversationId,
        message: Message,
    },
    /// A thread got a reply: the root's counters as they are now.
    #[serde(rename = "thread.updated")]
    ThreadUpdated {
        conversation_id: ConversationId,
        root_id: MessageId,
        reply_count: u32,
        #[schema(format = DateTime)]
        last_reply_at: Option<String>,
        repliers: Vec<UserId>,
    },
    #[serde(rename = "pin.added")]
    PinAdded {
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
    },
    #[serde(rename = "pin.removed")]
    PinRemoved {
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
    },
    #[serde(rename = "member.joined")]
    MemberJoined {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    #[serde(rename = "member.left")]
    MemberLeft {
        conversation_id: ConversationId,
        user_id: UserId,
        /// A moderator removed them; they did not leave.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        removed: bool,
    },
    /// A member's role in a channel changed.
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged {
        conversation_id: ConversationId,
        user_id: UserId,
        role: ChannelRole,
    },
    #[serde(rename = "conversation.created")]
    ConversationCreated { conversation: Conversation },
    /// Renamed, its topic or privacy changed, archived or brought back: the conversation as it is now.
    #[serde(rename = "conversation.updated")]
    ConversationUpdated { conversation: Conversation },
    /// The retention purge deleted the conversation's messages up to `through`, the newest past the
    /// retention: a client drops what it shows of them. A thread's first message whose replies go on is
    /// kept, erased (history answers it as deleted).
    #[serde(rename = "conversation.purged")]
    ConversationPurged {
        conversation_id: ConversationId,
        through: MessageId,
    },
}

// ---- WebSocket (`GET /v1/ws`): client ops and the server's frames besides durable events ----

/// A client op. `ref` is the client's own label, echoed in the reply so it can match answers to ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientOp {
    /// The first frame: authenticate, and resume after `resume` (the last cursor seen) or start fresh.
    Hello {
        token: String,
        #[serde(default)]
        resume: Option<Cursor>,
    },
    /// Send a message; answered `ack` once it is durably stored.
    Send {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        /// May be empty with attachments.
        #[serde(default)]
        text: String,
        #[serde(default)]
        nonce: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mentions: Option<Mentions>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_root_id: Option<MessageId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        also_to_conversation: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quote: Option<QuoteRef>,
        /// Complete uploads of yours, as in `POST .../messages`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<FileId>,
    },
    /// Edit your own message; answered `ack` with the message as it is now.
    Edit {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        message_id: MessageId,
        text: String,
        #[serde(default)]
        mentions: Option<Mentions>,
    },
    /// Pin a message; answered `ok`.
    Pin {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    /// Unpin a message; answered `ok`.
    Unpin {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    /// Move your read checkpoint forward; answered `ok`.
    Read {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    /// Tell the conversation's connected members you are typing; answered `ok`. Never stored.
    Typing {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
    },
    /// Follow these users' presence on this connection; answered `presence` with where they are now.
    PresenceSub {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        user_ids: Vec<UserId>,
    },
    /// Answered `pong`.
    Ping {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
    },
}

impl ClientOp {
    /// The client's label for this op, echoed in its reply.
    pub fn reference(&self) -> Option<&str> {
        match self {
            ClientOp::Hello { .. } => None,
            ClientOp::Send { reference, .. }
            | ClientOp::Edit { reference, .. }
            | ClientOp::Pin { reference, .. }
            | ClientOp::Unpin { reference, .. }
            | ClientOp::Read { reference, .. }
            | ClientOp::Typing { reference, .. }
            | ClientOp::PresenceSub { reference, .. }
            | ClientOp::Ping { reference } => reference.as_deref(),
        }
    }

    /// The conversation the op is about, if it is about one: ops about one conversation take effect in the
    /// order they were sent.
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            ClientOp::Send {
                conversation_id, ..
            }
            | ClientOp::Edit {
                conversation_id, ..
            }
            | ClientOp::Pin {
                conversation_id, ..
            }
            | ClientOp::Unpin {
                conversation_id, ..
            }
            | ClientOp::Read {
                conversation_id, ..
            }
            | ClientOp::Typing {
                conversation_id, ..
            } => Some(*conversation_id),
            ClientOp::Hello { .. } | ClientOp::PresenceSub { .. } | ClientOp::Ping { .. } => None,
        }
    }
}

/// One user's presence, as `presence` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserPresence {
    pub user_id: UserId,
    pub online: bool,
    pub last_seen: Option<String>,
}

/// The server's frames that are not durable events: replies, ephemeral events and control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum ServerFrame {
    /// The answer to `hello`. Durable events that follow have cursors after `cursor`.
    #[serde(rename = "ready")]
    Ready { user_id: UserId, cursor: Cursor },
    /// The answer to `send` (the message is stored) and to `edit` (the message as it is now).
    #[serde(rename = "ack")]
    Ack {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        message: Message,
        /// On a send: mentioned users who were dropped because they are not members.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        dropped_mentions: Vec<UserId>,
    },
    /// The answer to `read`, `typing`, `pin` and `unpin`.
    #[serde(rename = "ok")]
    Ok {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// The answer to `presence_sub`.
    #[serde(rename = "presence")]
    Presence {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        users: Vec<UserPresence>,
    },
    /// The answer to `ping`.
    #[serde(rename = "pong")]
    Pong {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// An op failed; the connection stays open.
    #[serde(rename = "error")]
    Error {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        code: String,
        message: String,
    },
    /// The resume cursor is too old (or unknown): reload through REST. Events that follow come after
    /// `cursor`, which is where to resume from next time.
    #[serde(rename = "resync")]
    Resync { cursor: Cursor },
    /// Ephemeral: someone you follow (a contact, or by `presence_sub`) came online or went offline.
    #[serde(rename = "presence.updated")]
    PresenceUpdated {
        user_id: UserId,
        online: bool,
        last_seen: Option<String>,
    },
    /// Ephemeral: someone is typing in one of your conversations.
    #[serde(rename = "typing")]
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    /// Ephemeral: the name or avatar of someone you follow (as for `presence.updated`), or your own,
    /// changed. `user` is the user object as `GET /v1/users/{user_id}` answers it, without `presence`.
    #[serde(rename = "user.updated")]
    UserUpdated { user: User },
    /// Ephemeral: an owner or administrator changed your organization's settings. `settings` is what
    /// `GET /v1/org/settings` answers now: who may create channels, make invitations and use `@channel`
    /// and `@here` among them. Every connected device of every member gets it.
    #[serde(rename = "org.updated")]
    OrgUpdated { settings: OrgSettings },
}

/// Anything the server sends on the socket: a durable event (it has a `cursor`) or another frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "decoded once per frame and matched right away"
)]
pub enum ServerMessage {
    Event(EventFrame),
    Frame(ServerFrame),
}
