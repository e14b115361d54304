//! The Store trait: everything Parley keeps durably. Owned here, by its consumer; implemented by `parley-store`.
//!
//! Every write that a client must hear about returns the events it committed in the same transaction, so that
//! nothing is ever stored without its event, nor announced without being stored. Writes return only once the
//! transaction is durable.

mod admin;
mod directory;
mod files;
mod notify;
mod retention;
mod sso;

pub use admin::{
    AdminRecords, AuditEntry, AuditFilter, AuditRecord, OrgSettingsRecord, SessionRecord,
};
pub use directory::{Change, Directory, ID_BASE, ID_STEP, ShardNumber};
pub use files::{CompletedUpload, FileRecords, NewUpload};
pub use notify::{
    Candidate, Decided, Delivery, LogEntry, NewDelivery, NewPushSubscription, NotifyRecords,
    Outcome, Pending, PushSubscription, PushTarget, QuietHours, SHARDS, SentMessage, shard_of,
};
pub use retention::{PurgeBatch, PurgeRunRecord, RetentionRecords, RetentionTarget};
pub use sso::{NewSsoUser, SsoConfigRecord, SsoFlowRecord, SsoRecords};

use async_trait::async_trait;
use parley_proto::v1::{
    Attachment, ChannelRole, ConversationKind, MembershipPatch, Mentions, QuoteRef,
};

use crate::model::{
    Audience, Conversation, ConversationSummary, Credentials, Event, FollowedThread, Invite,
    Member, Message, MessageVersion, Millis, Page, PinnedMessage, Session, User,
};
use crate::{ConversationId, Cursor, InviteId, MessageId, OrgId, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit; the field names which one (`username`, `email`, `handle`).
    #[error("{0} already taken")]
    Conflict(&'static str),
    /// The thing a write refers to does not exist (any more).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The backend failed; the source says how.
    #[error("store backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A write already queued to the store: it answers once the write is durable (or failed). Dropping it does
/// not withdraw the write.
pub type Queued<T> = futures_util::future::BoxFuture<'static, StoreResult<T>>;

/// Every committed event, batch by batch, in commit (cursor) order: what the relay publishes on the bus.
/// Announcing from here, rather than from each caller after its write returns, is what keeps the bus in
/// cursor order however many writes run at once.
pub type CommitFeed = tokio::sync::mpsc::UnboundedReceiver<Commit>;

/// Events committed together, in cursor order.
#[derive(Debug)]
pub struct Commit {
    /// The newest cursor committed before these events, by any node. A receiver holding every event up to
    /// `after` holds every event up to the last of these once it has them, which is how the cluster's bus
    /// proves it missed nothing.
    pub after: Cursor,
    pub events: Vec<Event>,
    /// Answered once the relay has handed the events to the bus (or given up), for a store whose next
    /// commit, on any node, must wait until then (PostgreSQL's, whose nodes take turns). `None` otherwise.
    pub published: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Which organization a sign-up may join or create. Refused: `NotFound("organization")` (or
/// `NotFound("invite")` for an invitation that is unknown, expired or used up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgPolicy {
    /// Join the org, creating it if it does not exist.
    JoinOrCreate,
    /// Create the org; if it exists already, join it only if it is open to sign-up.
    CreateOrJoinOpen,
    /// Join the org only if it exists and is open to sign-up.
    JoinOpen,
    /// Join the org of the invitation with this token hash (`org_handle` is not used), taking one of its
    /// uses in the same transaction.
    Invited { token_hash: [u8; 32] },
}

pub struct NewUser<'a> {
    /// The org to join or create, unless the policy is `Invited`.
    pub org_handle: &'a str,
    pub org_policy: OrgPolicy,
    pub username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub now: Millis,
}

pub struct NewInvite {
    pub org_id: OrgId,
    pub created_by: UserId,
    pub token_hash: [u8; 32],
    pub max_uses: u32,
    pub expires_at: Millis,
    pub now: Millis,
}

pub struct NewConversation<'a> {
    pub org_id: OrgId,
    pub kind: ConversationKind,
    pub name: Option<&'a str>,
    pub handle: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub private: bool,
    pub created_by: UserId,
    /// Everyone who starts as a member, the creator included.
    pub members: &'a [UserId],
    pub now: Millis,
}

pub struct NewMessage<'a> {
    pub conversation_id: ConversationId,
    pub author_id: UserId,
    pub text: &'a str,
    pub nonce: Option<&'a str>,
    /// Members only: core has dropped the others.
    pub mentions: &'a Mentions,
    /// A reply: the root's counters move and the thread gains followers (its root's author, the replier and
    /// whoever the reply mentions), in the same transaction.
    pub thread_root_id: Option<MessageId>,
    pub also_to_conversation: bool,
    pub quote: Option<QuoteRef>,
    /// Complete uploads of the author's, checked by core; attached in the same transaction unless one was
    /// attached meanwhile (`Conflict("attachment")`, and nothing is stored).
    pub attachments: &'a [Attachment],
    pub now: Millis,
}

impl NewMessage<'_> {
    /// A message with nothing but text: the send path every backend keeps cheapest.
    pub fn is_plain(&self) -> bool {
        self.mentions.is_empty()
            && self.thread_root_id.is_none()
            && self.quote.is_none()
            && self.attachments.is_empty()
    }
}

/// What a moderator changes of a conversation; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConversationChange {
    pub name: Option<String>,
    /// An empty topic clears it.
    pub topic: Option<String>,
    pub private: Option<bool>,
    pub archived: Option<bool>,
    /// A channel's own retention: `Some(None)` to follow its organization's again.
    pub retention_days: Option<Option<u32>>,
}

/// The answer to a send.
#[derive(Clone, Debug)]
pub enum Sent {
    /// Stored now, with its events (`message.created`, and `thread.updated` for a reply).
    Stored(Message, Vec<Event>),
    /// The author's nonce was seen before in this conversation: this is the message it made; nothing was stored.
    Duplicate(Message),
}

/// The answer to asking for a DM.
#[derive(Clone, Debug)]
pub enum DirectMessage {
    Created(Conversation, Vec<Event>),
    Existing(Conversation),
}

/// Everything Parley stores. Methods go create, read, update, delete, in the same order in every backend.
#[async_trait]
pub trait Store:
    AdminRecords + FileRecords + NotifyRecords + RetentionRecords + SsoRecords + Send + Sync + 'static
{
    // ---- create ----

    /// Creates a user, and the organization too when the policy allows and it does not exist yet.
    /// `Conflict("username")`, `Conflict("email")`, or `NotFound("organization")`.
    async fn create_user(&self, new: NewUser<'_>) -> StoreResult<User>;
    /// Records a session under the SHA-256 of its token, with what the device said it was;
    /// `NotFound("user")` when the account is deactivated (or gone).
    async fn create_session(
        &self,
        user_id: UserId,
        token_hash: [u8; 32],
        device: Option<&str>,
        now: Millis,
    ) -> StoreResult<()>;
    /// Records an invitation under the SHA-256 of its token.
    async fn create_invite(&self, new: NewInvite) -> StoreResult<Invite>;
    /// Adds `contact` to `owner`'s contacts; adding twice is fine.
    async fn add_contact(&self, owner: UserId, contact: UserId) -> StoreResult<()>;
    /// Creates a group or channel with its first members. `Conflict("handle")` for a taken channel handle.
    async fn create_conversation(
        &self,
        new: NewConversation<'_>,
    ) -> StoreResult<(Conversation, Vec<Event>)>;
    /// The DM between two users of an org, created if it does not exist; the same one whoever asks.
    async fn direct_message(
        &self,
        org_id: OrgId,
        a: UserId,
        b: UserId,
        now: Millis,
    ) -> StoreResult<DirectMessage>;
    /// Adds members who are not members yet; returns one `member.joined` event per added user, for every
    /// member or (`own_devices_only`, in very large channels) for the joiner's own devices.
    async fn add_members(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
        own_devices_only: bool,
        now: Millis,
    ) -> StoreResult<Vec<Event>>;
    /// Stores a message unless the author already sent this nonce in this conversation. The write is queued
    /// when this is called, not when the answer is awaited, and a message queued after another of its
    /// conversation is stored after it (in a later transaction, or behind it in the same one, with a greater
    /// id and cursor), whether or not the first was awaited. The answer comes once it is durable.
    fn queue_message(&self, new: NewMessage<'_>) -> Queued<Sent>;
    /// Adds a reaction; `None` if it was already there.
    async fn add_reaction(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> StoreResult<Option<Event>>;

    /// Pins a message unless `limit` messages are pinned in its conversation already (`Conflict("pins")`);
    /// `None` if it was pinned already.
    async fn pin_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        limit: u32,
        now: Millis,
    ) -> StoreResult<Option<Event>>;
    /// Makes `user_id` follow the thread of `root_id`, or stop following it (kept, so nothing makes them
    /// follow it again but their own reply or a mention).
    async fn follow_thread(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        user_id: UserId,
        following: bool,
    ) -> StoreResult<()>;

    // ---- read ----

    /// Answers when the backend can serve queries.
    async fn ping(&self) -> StoreResult<()>;
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// The users among `ids` that exist, in one lookup.
    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;
    /// Credentials of the account with this email (emails are unique server-wide).
    async fn credentials_by_email(&self, email: &str) -> StoreResult<Option<Credentials>>;
    /// Credentials of the account with this username in the org with this handle.
    async fn credentials_by_username(
        &self,
        org_handle: &str,
        username: &str,
    ) -> StoreResult<Option<Credentials>>;
    /// The session with this token hash, with its user, unless the user is deactivated; expiry is core's
    /// to judge.
    async fn session(&self, token_hash: [u8; 32]) -> StoreResult<Option<Session>>;
    /// The invitation with this token hash, usable or not.
    async fn invite_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Invite>>;
    async fn invite(&self, id: InviteId) -> StoreResult<Option<Invite>>;
    /// The invitations a user made, newest first, at most `limit`.
    /// The org's invitations, newest first: all of them, or those `created_by` made.
    async fn invites_of(
        &self,
        org_id: OrgId,
        created_by: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Invite>>;
    /// Active users of an org whose username or name (or a word of it) starts with `prefix`,
    /// case-insensitively.
    async fn search_users(&self, org_id: OrgId, prefix: &str, limit: u32)
    -> StoreResult<Vec<User>>;
    async fn contacts(&self, owner: UserId) -> StoreResult<Vec<User>>;
    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>>;
    async fn channel_by_handle(
        &self,
        org_id: OrgId,
        handle: &str,
    ) -> StoreResult<Option<Conversation>>;
    async fn membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<Member>>;
    /// The conversation and the user's membership of it: what every use case on a conversation checks
    /// first. Asks both in turn; a store across a network answers in one round trip.
    async fn conversation_and_membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<(Conversation, Option<Member>)>> {
        let Some(conversation) = self.conversation(conversation_id).await? else {
            return Ok(None);
        };
        let membership = self.membership(conversation_id, user_id).await?;
        Ok(Some((conversation, membership)))
    }
    /// The members of a conversation with a role other than `member`, in join order.
    async fn member_roles(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<(UserId, ChannelRole)>>;
    /// Up to `limit` member ids, in join order.
    async fn member_ids(
        &self,
        conversation_id: ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>>;
    /// The members of each of several small conversations (DMs, say), in join order. Asks `member_ids`
    /// for each in turn; a store across a network answers in one round trip.
    async fn members_of(
        &self,
        conversation_ids: &[ConversationId],
    ) -> StoreResult<Vec<(ConversationId, Vec<UserId>)>> {
        let mut members = Vec::with_capacity(conversation_ids.len());
        for &id in conversation_ids {
            members.push((id, self.member_ids(id, u32::MAX).await?));
        }
        Ok(members)
    }
    /// The user's conversations, most recent activity first.
    async fn conversations_of(&self, user_id: UserId) -> StoreResult<Vec<ConversationSummary>>;
    /// Public channels of an org, not archived, whose name or handle contains `query` (all of them for an
    /// empty query).
    async fn public_channels(
        &self,
        org_id: OrgId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>>;
    /// A page of history as `viewer` sees it (without what they deleted for themselves), oldest first.
    async fn messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        page: Page,
    ) -> StoreResult<Vec<Message>>;
    async fn message(
        &self,
        conversation_id: ConversationId,
        id: MessageId,
    ) -> StoreResult<Option<Message>>;
    /// The earlier versions of an edited message, oldest first.
    async fn message_versions(&self, message_id: MessageId) -> StoreResult<Vec<MessageVersion>>;
    /// The replies in a thread, as `messages` pages history.
    async fn thread_replies(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        viewer: UserId,
        page: Page,
    ) -> StoreResult<Vec<Message>>;
    /// The threads a user follows in conversations they are still in, newest activity first, at most `limit`.
    async fn followed_threads(
        &self,
        user_id: UserId,
        limit: u32,
    ) -> StoreResult<Vec<FollowedThread>>;
    /// The messages that mention `user_id` (by id, `@channel` or `@here`) in conversations they are in, not
    /// their own or deleted or hidden, newest first, before `before` when given, at most `limit`.
    async fn mentions_of(
        &self,
        user_id: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// The pinned messages of a conversation, newest pin first.
    async fn pins(&self, conversation_id: ConversationId) -> StoreResult<Vec<PinnedMessage>>;
    /// Which of `user_ids` are members of the conversation.
    async fn members_among(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<UserId>>;
    /// Where each member has read up to (members who have read nothing are left out).
    async fn receipts(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<(UserId, MessageId)>>;
    /// Full-text search over the conversations `viewer` is a member of, newest first. `query` is the user's
    /// text, taken as plain words (never as the backend's query syntax).
    async fn search_messages(
        &self,
        viewer: UserId,
        query: &str,
        conversation_id: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// The events after `cursor` that `user` may see (their conversations' events and their own private ones),
    /// oldest first: what a reconnecting client missed.
    async fn events_after(
        &self,
        user_id: UserId,
        cursor: Cursor,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;
    /// The position of the newest event; a fresh client starts from here.
    async fn latest_cursor(&self) -> StoreResult<Cursor>;
    /// The position of the oldest event still kept; a client behind it cannot resume.
    async fn oldest_cursor(&self) -> StoreResult<Cursor>;
    /// How far apart cursors taken one after the other are: 1, or on a shard of several the step that
    /// leaves room for the other shards' cursors.
    fn cursor_step(&self) -> i64 {
        1
    }
    /// The ids of the conversations `user_id` is a member of, and the newest cursor, read together from one
    /// snapshot: the list is exact as of that cursor, and only later events can change it.
    async fn member_conversations_snapshot(
        &self,
        user_id: UserId,
    ) -> StoreResult<(Vec<ConversationId>, Cursor)>;
    /// Takes the feed of committed events. There is one; the first caller gets it.
    fn take_commit_feed(&self) -> Option<CommitFeed>;

    // ---- update ----

    async fn rename_user(&self, id: UserId, name: &str) -> StoreResult<User>;
    /// Records that a new avatar was stored and returns the user with its new version.
    async fn bump_avatar(&self, id: UserId) -> StoreResult<User>;
    async fn touch_last_seen(&self, id: UserId, now: Millis) -> StoreResult<()>;
    /// Records that a session was used at `now`.
    async fn touch_session(&self, token_hash: [u8; 32], now: Millis) -> StoreResult<()>;
    /// Opens an organization to sign-up without invitation, or closes it, over whatever policy its
    /// administrators chose; an org with this handle is created if there is none.
    async fn set_org_open_signup(
        &self,
        org_handle: &str,
        open: bool,
        now: Millis,
    ) -> StoreResult<()>;
    async fn update_membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        patch: MembershipPatch,
    ) -> StoreResult<Member>;
    /// Changes a conversation's name, topic, privacy or archived state, with a `conversation.updated`;
    /// `None` when it does not exist.
    async fn update_conversation(
        &self,
        conversation_id: ConversationId,
        change: ConversationChange,
    ) -> StoreResult<Option<(Conversation, Event)>>;
    /// Gives a member a role in a conversation, with a `member.role_changed`; `None` when they are not a
    /// member.
    async fn set_member_role(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        role: ChannelRole,
    ) -> StoreResult<Option<Event>>;
    /// Moves the read checkpoint forward to `message_id`; `None` when it was already there or further.
    async fn advance_read(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        message_id: MessageId,
        audience: Audience,
    ) -> StoreResult<Option<Event>>;
    /// Replaces a message's text (and its mentions, when given), keeping the text it had as an earlier
    /// version; the search index holds the new text only. `None` when the message is deleted.
    async fn edit_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        text: &str,
        mentions: Option<&Mentions>,
        now: Millis,
    ) -> StoreResult<Option<(Message, Event)>>;
    /// Moves the user's read checkpoint in a thread forward (following it stays as it is).
    async fn advance_thread_read(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        user_id: UserId,
        message_id: MessageId,
    ) -> StoreResult<()>;
    /// Deletes a message for everyone: erases its text, every earlier version, reactions, mentions, pin and
    /// search entry, marks its files erased (for the caller to delete), keeps a tombstone (which says so
    /// when a moderator removed it). `None` when it was already deleted.
    async fn erase_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        by_moderator: bool,
    ) -> StoreResult<Option<Event>>;

    // ---- delete ----

    /// Revokes a session at once.
    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()>;
    /// Revokes every session of a user at once; returns how many there were.
    async fn delete_sessions_of(&self, user_id: UserId) -> StoreResult<u64>;
    /// Drops sessions last used before `idle_before` or created before `created_before`; returns how many.
    async fn prune_sessions(&self, idle_before: Millis, created_before: Millis)
    -> StoreResult<u64>;
    async fn delete_invite(&self, id: InviteId) -> StoreResult<()>;
    async fn remove_contact(&self, owner: UserId, contact: UserId) -> StoreResult<()>;
    /// Removes a member (who left, or whom a moderator `removed`); `None` when they were not one. The
    /// `member.left` is for every member or (`own_devices_only`) for the leaver's own devices.
    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        own_devices_only: bool,
        removed: bool,
    ) -> StoreResult<Option<Event>>;
    /// Hides a message from one user's views; `None` when it was already hidden.
    async fn hide_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
    ) -> StoreResult<Option<Event>>;
    /// Unpins a message; `None` if it was not pinned.
    async fn unpin_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        now: Millis,
    ) -> StoreResult<Option<Event>>;
    /// Removes a reaction; `None` if it was not there.
    async fn remove_reaction(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> StoreResult<Option<Event>>;
    /// Drops events committed before `before`, keeping the newest event whatever its age; returns how many
    /// went. Clients whose cursor is older must resync.
    async fn prune_events(&self, before: Millis) -> StoreResult<u64>;
}
