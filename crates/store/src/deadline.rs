//! Every store call under a time limit, whatever the backend: a database that stops answering while its
//! connections stay up (a PostgreSQL process stopped, a network that drops packets silently) would
//! otherwise hold each request, and each socket's catch-up, for as long as it lasts (a `/readyz` sent at
//! the start of a 30 s outage answered after 30.1 s). Past the limit a call fails as the backend failing,
//! which the API answers 503; a write may still commit later, and a client's retry with its nonce finds it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parley_core::model::{
    Audience, Conversation, ConversationSummary, Credentials, Event, FileRecord, FollowedThread,
    ImageState, Invite, Member, Message, MessageVersion, Millis, Page, PinnedMessage, Session,
    User,
};
use parley_core::proto::v1::{ChannelRole, MembershipPatch, Mentions, Role};
use parley_core::store::{
    AdminRecords, AuditEntry, AuditFilter, AuditRecord, CommitFeed, CompletedUpload,
    ConversationChange, Decided, Delivery, DirectMessage, FileRecords, LogEntry, NewConversation,
    NewDelivery, NewInvite, NewMessage, NewPushSubscription, NewSsoUser, NewUpload, NewUser,
    NotifyRecords, OrgSettingsRecord, Outcome, Pending, PurgeBatch, PurgeRunRecord,
    PushSubscription, Queued, QuietHours, RetentionRecords, RetentionTarget, Sent, SentMessage,
    SessionRecord, SsoConfigRecord, SsoFlowRecord, SsoRecords, Store, StoreError, StoreResult,
};
use parley_core::{
    ConversationId, Cursor, FileId, InviteId, MessageId, OrgId, SubscriptionId, UserId,
};

/// A store whose every call fails once it has taken longer than `limit`.
pub struct TimeLimited {
    inner: Arc<dyn Store>,
    limit: Duration,
}

impl TimeLimited {
    pub fn new(inner: Arc<dyn Store>, limit: Duration) -> Self {
        TimeLimited { inner, limit }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the store did not answer within {0:?}")]
struct TimedOut(Duration);

pub(crate) async fn within_limit<T>(
    limit: Duration,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Backend(Box::new(TimedOut(limit)))),
    }
}

macro_rules! within {
    ($self:ident, $call:expr) => {
        within_limit($self.limit, $call).await
    };
}

#[async_trait]
impl Store for TimeLimited {
    async fn create_user(&self, new: NewUser<'_>) -> StoreResult<User> {
        within!(self, self.inner.create_user(new))
    }

    async fn create_session(
        &self,
        user_id: UserId,
        token_hash: [u8; 32],
        device: Option<&str>,
        now: Millis,
    ) -> StoreResult<()> {
        within!(
            self,
            self.inner.create_session(user_id, token_hash, device, now)
        )
    }

    async fn create_invite(&self, new: NewInvite) -> StoreResult<Invite> {
        within!(self, self.inner.create_invite(new))
    }

    async fn add_contact(&self, owner: UserId, contact: UserId) -> StoreResult<()> {
        within!(self, self.inner.add_contact(owner, contact))
    }

    async fn create_conversation(
        &self,
        new: NewConversation<'_>,
    ) -> StoreResult<(Conversation, Vec<Event>)> {
        within!(self, self.inner.create_conversation(new))
    }

    async fn direct_message(
        &self,
        org_id: OrgId,
        a: UserId,
        b: UserId,
        now: Millis,
    ) -> StoreResult<DirectMessage> {
        within!(self, self.inner.direct_message(org_id, a, b, now))
    }

    async fn add_members(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
        own_devices_only: bool,
        now: Millis,
    ) -> StoreResult<Vec<Event>> {
        within!(
            self,
            self.inner
                .add_members(conversation_id, user_ids, own_devices_only, now)
        )
    }

    async fn pin_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        limit: u32,
        now: Millis,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner
                .pin_message(conversation_id, message_id, user_id, limit, now)
        )
    }

    async fn follow_thread(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        user_id: UserId,
        following: bool,
    ) -> StoreResult<()> {
        within!(
            self,
            self.inner
                .follow_thread(conversation_id, root_id, user_id, following)
        )
    }

    async fn message_versions(&self, message_id: MessageId) -> StoreResult<Vec<MessageVersion>> {
        within!(self, self.inner.message_versions(message_id))
    }

    async fn thread_replies(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        viewer: UserId,
        page: Page,
    ) -> StoreResult<Vec<Message>> {
        within!(
            self,
            self.inner
                .thread_replies(conversation_id, root_id, viewer, page)
        )
    }

    async fn followed_threads(
        &self,
        user_id: UserId,
        limit: u32,
    ) -> StoreResult<Vec<FollowedThread>> {
        within!(self, self.inner.followed_threads(user_id, limit))
    }

    async fn mentions_of(
        &self,
        user_id: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        within!(self, self.inner.mentions_of(user_id, before, limit))
    }

    async fn pins(&self, conversation_id: ConversationId) -> StoreResult<Vec<PinnedMessage>> {
        within!(self, self.inner.pins(conversation_id))
    }

    async fn members_among(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        within!(self, self.inner.members_among(conversation_id, user_ids))
    }

    async fn edit_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        text: &str,
        mentions: Option<&Mentions>,
        now: Millis,
    ) -> StoreResult<Option<(Message, Event)>> {
        within!(
            self,
            self.inner
                .edit_message(conversation_id, message_id, text, mentions, now)
        )
    }

    async fn advance_thread_read(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        user_id: UserId,
        message_id: MessageId,
    ) -> StoreResult<()> {
        within!(
            self,
            self.inner
                .advance_thread_read(conversation_id, root_id, user_id, message_id)
        )
    }

    async fn unpin_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        now: Millis,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner
                .unpin_message(conversation_id, message_id, user_id, now)
        )
    }

    fn queue_message(&self, new: NewMessage<'_>) -> Queued<Sent> {
        Box::pin(within_limit(self.limit, self.inner.queue_message(new)))
    }

    async fn add_reaction(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner
                .add_reaction(conversation_id, message_id, user_id, emoji)
        )
    }

    async fn ping(&self) -> StoreResult<()> {
        within!(self, self.inner.ping())
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        within!(self, self.inner.user(id))
    }

    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        within!(self, self.inner.users(ids))
    }

    async fn credentials_by_email(&self, email: &str) -> StoreResult<Option<Credentials>> {
        within!(self, self.inner.credentials_by_email(email))
    }

    async fn credentials_by_username(
        &self,
        org_handle: &str,
        username: &str,
    ) -> StoreResult<Option<Credentials>> {
        within!(
            self,
            self.inner.credentials_by_username(org_handle, username)
        )
    }

    async fn session(&self, token_hash: [u8; 32]) -> StoreResult<Option<Session>> {
        within!(self, self.inner.session(token_hash))
    }

    async fn invite_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Invite>> {
        within!(self, self.inner.invite_by_token(token_hash))
    }

    async fn invite(&self, id: InviteId) -> StoreResult<Option<Invite>> {
        within!(self, self.inner.invite(id))
    }

    async fn invites_of(
        &self,
        org_id: OrgId,
        created_by: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Invite>> {
        within!(self, self.inner.invites_of(org_id, created_by, limit))
    }

    async fn search_users(
        &self,
        org_id: OrgId,
        prefix: &str,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        within!(self, self.inner.search_users(org_id, prefix, limit))
    }

    async fn contacts(&self, owner: UserId) -> StoreResult<Vec<User>> {
        within!(self, self.inner.contacts(owner))
    }

    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        within!(self, self.inner.conversation(id))
    }

    async fn channel_by_handle(
        &self,
        org_id: OrgId,
        handle: &str,
    ) -> StoreResult<Option<Conversation>> {
        within!(self, self.inner.channel_by_handle(org_id, handle))
    }

    async fn membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<Member>> {
        within!(self, self.inner.membership(conversation_id, user_id))
    }

    async fn conversation_and_membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<(Conversation, Option<Member>)>> {
        within!(
            self,
            self.inner
                .conversation_and_membership(conversation_id, user_id)
        )
    }

    async fn member_roles(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<(UserId, ChannelRole)>> {
        within!(self, self.inner.member_roles(conversation_id))
    }

    async fn member_ids(
        &self,
        conversation_id: ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        within!(self, self.inner.member_ids(conversation_id, limit))
    }

    async fn members_of(
        &self,
        conversation_ids: &[ConversationId],
    ) -> StoreResult<Vec<(ConversationId, Vec<UserId>)>> {
        within!(self, self.inner.members_of(conversation_ids))
    }

    async fn conversations_of(&self, user_id: UserId) -> StoreResult<Vec<ConversationSummary>> {
        within!(self, self.inner.conversations_of(user_id))
    }

    async fn public_channels(
        &self,
        org_id: OrgId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        within!(self, self.inner.public_channels(org_id, query, limit))
    }

    async fn messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        page: Page,
    ) -> StoreResult<Vec<Message>> {
        within!(self, self.inner.messages(conversation_id, viewer, page))
    }

    async fn message(
        &self,
        conversation_id: ConversationId,
        id: MessageId,
    ) -> StoreResult<Option<Message>> {
        within!(self, self.inner.message(conversation_id, id))
    }

    async fn receipts(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<(UserId, MessageId)>> {
        within!(self, self.inner.receipts(conversation_id))
    }

    async fn search_messages(
        &self,
        viewer: UserId,
        query: &str,
        conversation_id: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        within!(
            self,
            self.inner
                .search_messages(viewer, query, conversation_id, limit)
        )
    }

    async fn events_after(
        &self,
        user_id: UserId,
        cursor: Cursor,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        within!(self, self.inner.events_after(user_id, cursor, limit))
    }

    async fn latest_cursor(&self) -> StoreResult<Cursor> {
        within!(self, self.inner.latest_cursor())
    }

    async fn oldest_cursor(&self) -> StoreResult<Cursor> {
        within!(self, self.inner.oldest_cursor())
    }

    fn cursor_step(&self) -> i64 {
        self.inner.cursor_step()
    }

    async fn member_conversations_snapshot(
        &self,
        user_id: UserId,
    ) -> StoreResult<(Vec<ConversationId>, Cursor)> {
        within!(self, self.inner.member_conversations_snapshot(user_id))
    }

    fn take_commit_feed(&self) -> Option<CommitFeed> {
        self.inner.take_commit_feed()
    }

    async fn rename_user(&self, id: UserId, name: &str) -> StoreResult<User> {
        within!(self, self.inner.rename_user(id, name))
    }

    async fn bump_avatar(&self, id: UserId) -> StoreResult<User> {
        within!(self, self.inner.bump_avatar(id))
    }

    async fn touch_last_seen(&self, id: UserId, now: Millis) -> StoreResult<()> {
        within!(self, self.inner.touch_last_seen(id, now))
    }

    async fn touch_session(&self, token_hash: [u8; 32], now: Millis) -> StoreResult<()> {
        within!(self, self.inner.touch_session(token_hash, now))
    }

    async fn set_org_open_signup(
        &self,
        org_handle: &str,
        open: bool,
        now: Millis,
    ) -> StoreResult<()> {
        within!(self, self.inner.set_org_open_signup(org_handle, open, now))
    }

    async fn update_membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        patch: MembershipPatch,
    ) -> StoreResult<Member> {
        within!(
            self,
            self.inner
                .update_membership(conversation_id, user_id, patch)
        )
    }

    async fn advance_read(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        message_id: MessageId,
        audience: Audience,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner
                .advance_read(conversation_id, user_id, message_id, audience)
        )
    }

    async fn erase_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        by_moderator: bool,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner
                .erase_message(conversation_id, message_id, by_moderator)
        )
    }

    async fn update_conversation(
        &self,
        conversation_id: ConversationId,
        change: ConversationChange,
    ) -> StoreResult<Option<(Conversation, Event)>> {
        within!(
            self,
            self.inner.update_conversation(conversation_id, change)
        )
    }

    async fn set_member_role(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        role: ChannelRole,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner.set_member_role(conversation_id, user_id, role)
        )
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()> {
        within!(self, self.inner.delete_session(token_hash))
    }

    async fn delete_sessions_of(&self, user_id: UserId) -> StoreResult<u64> {
        within!(self, self.inner.delete_sessions_of(user_id))
    }

    async fn prune_sessions(
        &self,
        idle_before: Millis,
        created_before: Millis,
    ) -> StoreResult<u64> {
        within!(self, self.inner.prune_sessions(idle_before, created_before))
    }

    async fn delete_invite(&self, id: InviteId) -> StoreResult<()> {
        within!(self, self.inner.delete_invite(id))
    }

    async fn remove_contact(&self, owner: UserId, contact: UserId) -> StoreResult<()> {
        within!(self, self.inner.remove_contact(owner, contact))
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        own_devices_only: bool,
        removed: bool,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner
                .remove_member(conversation_id, user_id, own_devices_only, removed)
        )
    }

    async fn hide_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner
                .hide_message(conversation_id, message_id, user_id)
        )
    }

    async fn remove_reaction(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> StoreResult<Option<Event>> {
        within!(
            self,
            self.inner
                .remove_reaction(conversation_id, message_id, user_id, emoji)
        )
    }

    async fn prune_events(&self, before: Millis) -> StoreResult<u64> {
        within!(self, self.inner.prune_events(before))
    }
}

#[async_trait]
impl AdminRecords for TimeLimited {
    async fn append_audit(&self, record: AuditRecord) -> StoreResult<()> {
        within!(self, self.inner.append_audit(record))
    }

    async fn people(
        &self,
        org_id: OrgId,
        query: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        within!(self, self.inner.people(org_id, query, after, limit))
    }

    async fn audit_entries(
        &self,
        org_id: OrgId,
        filter: &AuditFilter,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        within!(self, self.inner.audit_entries(org_id, filter, limit))
    }

    async fn org_settings(&self, org_id: OrgId) -> StoreResult<Option<OrgSettingsRecord>> {
        within!(self, self.inner.org_settings(org_id))
    }

    async fn org_settings_by_handle(&self, handle: &str) -> StoreResult<Option<OrgSettingsRecord>> {
        within!(self, self.inner.org_settings_by_handle(handle))
    }

    async fn set_org_settings(
        &self,
        settings: OrgSettingsRecord,
        audit: AuditRecord,
    ) -> StoreResult<OrgSettingsRecord> {
        within!(self, self.inner.set_org_settings(settings, audit))
    }

    async fn org_conversations(
        &self,
        org_id: OrgId,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        within!(self, self.inner.org_conversations(org_id, after, limit))
    }

    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        within!(
            self,
            self.inner
                .conversation_messages(conversation_id, after, limit)
        )
    }

    async fn sessions_of(&self, user_id: UserId) -> StoreResult<Vec<SessionRecord>> {
        within!(self, self.inner.sessions_of(user_id))
    }

    async fn set_role(&self, user_id: UserId, role: Role, audit: AuditRecord) -> StoreResult<User> {
        within!(self, self.inner.set_role(user_id, role, audit))
    }

    async fn set_deactivated(
        &self,
        user_id: UserId,
        at: Option<Millis>,
        audit: AuditRecord,
    ) -> StoreResult<User> {
        within!(self, self.inner.set_deactivated(user_id, at, audit))
    }

    async fn set_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        keep: [u8; 32],
        audit: AuditRecord,
    ) -> StoreResult<()> {
        within!(
            self,
            self.inner.set_password(user_id, password_hash, keep, audit)
        )
    }
}

#[async_trait]
impl FileRecords for TimeLimited {
    async fn create_upload(&self, new: NewUpload<'_>, quota: u64) -> StoreResult<FileRecord> {
        within!(self, self.inner.create_upload(new, quota))
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
        within!(self, self.inner.file(id))
    }

    async fn files(&self, ids: &[FileId]) -> StoreResult<Vec<FileRecord>> {
        within!(self, self.inner.files(ids))
    }

    async fn complete_upload(
        &self,
        id: FileId,
        completed: CompletedUpload<'_>,
    ) -> StoreResult<FileRecord> {
        within!(self, self.inner.complete_upload(id, completed))
    }

    async fn set_image(
        &self,
        id: FileId,
        image: ImageState,
        now: Millis,
    ) -> StoreResult<Option<Event>> {
        within!(self, self.inner.set_image(id, image, now))
    }

    async fn images_pending(&self, limit: u32) -> StoreResult<Vec<FileRecord>> {
        within!(self, self.inner.images_pending(limit))
    }

    async fn erase_upload(&self, id: FileId) -> StoreResult<bool> {
        within!(self, self.inner.erase_upload(id))
    }

    async fn collectable_files(&self, before: Millis, limit: u32) -> StoreResult<Vec<FileRecord>> {
        within!(self, self.inner.collectable_files(before, limit))
    }

    async fn forget_files(&self, ids: &[FileId]) -> StoreResult<()> {
        within!(self, self.inner.forget_files(ids))
    }
}

#[async_trait]
impl NotifyRecords for TimeLimited {
    async fn add_subscription(
        &self,
        new: NewPushSubscription,
        max_per_user: u32,
    ) -> StoreResult<PushSubscription> {
        within!(self, self.inner.add_subscription(new, max_per_user))
    }

    async fn subscriptions_of(&self, user: UserId) -> StoreResult<Vec<PushSubscription>> {
        within!(self, self.inner.subscriptions_of(user))
    }

    async fn delete_subscription(&self, user: UserId, id: SubscriptionId) -> StoreResult<bool> {
        within!(self, self.inner.delete_subscription(user, id))
    }

    async fn quiet_hours(&self, user: UserId) -> StoreResult<Option<QuietHours>> {
        within!(self, self.inner.quiet_hours(user))
    }

    async fn set_quiet_hours(&self, user: UserId, hours: Option<QuietHours>) -> StoreResult<()> {
        within!(self, self.inner.set_quiet_hours(user, hours))
    }

    async fn push_previews(&self, org: OrgId) -> StoreResult<bool> {
        within!(self, self.inner.push_previews(org))
    }

    async fn set_push_previews(&self, org_handle: &str, on: bool) -> StoreResult<bool> {
        within!(self, self.inner.set_push_previews(org_handle, on))
    }

    async fn hold_shards(
        &self,
        node: &str,
        now: Millis,
        until: Millis,
        want: usize,
    ) -> StoreResult<Vec<(u16, Cursor)>> {
        within!(self, self.inner.hold_shards(node, now, until, want))
    }

    async fn log_after(&self, after: Cursor, limit: u32) -> StoreResult<(Vec<LogEntry>, Cursor)> {
        within!(self, self.inner.log_after(after, limit))
    }

    async fn sent_message(
        &self,
        id: MessageId,
        shards: &[u16],
    ) -> StoreResult<Option<SentMessage>> {
        within!(self, self.inner.sent_message(id, shards))
    }

    async fn shown(&self, user: UserId, conversation: ConversationId) -> StoreResult<bool> {
        within!(self, self.inner.shown(user, conversation))
    }

    async fn decide(
        &self,
        node: &str,
        shards: &[u16],
        cursor: Cursor,
        pending: &[Pending],
        reads: &[(UserId, ConversationId, MessageId)],
        clears: &[NewDelivery],
        now: Millis,
    ) -> StoreResult<bool> {
        within!(
            self,
            self.inner
                .decide(node, shards, cursor, pending, reads, clears, now)
        )
    }

    async fn due(&self, shards: &[u16], now: Millis, limit: u32) -> StoreResult<Vec<Pending>> {
        within!(self, self.inner.due(shards, now, limit))
    }

    async fn dispatch(
        &self,
        node: &str,
        shards: &[u16],
        decided: &Decided,
        now: Millis,
    ) -> StoreResult<bool> {
        within!(self, self.inner.dispatch(node, shards, decided, now))
    }

    async fn deliveries_due(
        &self,
        shards: &[u16],
        now: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        within!(self, self.inner.deliveries_due(shards, now, limit))
    }

    async fn settle(&self, delivery: &Delivery, outcome: &Outcome, now: Millis) -> StoreResult<()> {
        within!(self, self.inner.settle(delivery, outcome, now))
    }

    async fn badge(&self, user: UserId) -> StoreResult<u32> {
        within!(self, self.inner.badge(user))
    }

    async fn wrote_since(
        &self,
        user: UserId,
        conversation: ConversationId,
        after: MessageId,
    ) -> StoreResult<bool> {
        within!(self, self.inner.wrote_since(user, conversation, after))
    }
}

#[async_trait]
impl RetentionRecords for TimeLimited {
    async fn retention_orgs(&self, after: Option<OrgId>, limit: u32) -> StoreResult<Vec<OrgId>> {
        within!(self, self.inner.retention_orgs(after, limit))
    }

    async fn retention_targets(
        &self,
        org_id: OrgId,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<RetentionTarget>> {
        within!(self, self.inner.retention_targets(org_id, after, limit))
    }

    async fn purge_messages(
        &self,
        conversation_id: ConversationId,
        before: Millis,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<PurgeBatch> {
        within!(
            self,
            self.inner
                .purge_messages(conversation_id, before, after, limit)
        )
    }

    async fn end_purge(
        &self,
        conversation_id: ConversationId,
        through: MessageId,
        now: Millis,
    ) -> StoreResult<Event> {
        within!(self, self.inner.end_purge(conversation_id, through, now))
    }

    async fn record_purge_run(&self, run: PurgeRunRecord) -> StoreResult<()> {
        within!(self, self.inner.record_purge_run(run))
    }

    async fn last_purge_run(&self, org_id: OrgId) -> StoreResult<Option<PurgeRunRecord>> {
        within!(self, self.inner.last_purge_run(org_id))
    }

    async fn channels_with_own_retention(&self, org_id: OrgId) -> StoreResult<u64> {
        within!(self, self.inner.channels_with_own_retention(org_id))
    }
}

#[async_trait]
impl SsoRecords for TimeLimited {
    async fn create_sso_flow(
        &self,
        flow: SsoFlowRecord,
        expired_before: Millis,
    ) -> StoreResult<()> {
        within!(self, self.inner.create_sso_flow(flow, expired_before))
    }

    async fn create_sso_user(&self, new: NewSsoUser<'_>) -> StoreResult<User> {
        within!(self, self.inner.create_sso_user(new))
    }

    async fn link_sso_identity(
        &self,
        org_id: OrgId,
        issuer: &str,
        subject: &str,
        user_id: UserId,
        now: Millis,
    ) -> StoreResult<()> {
        within!(
            self,
            self.inner
                .link_sso_identity(org_id, issuer, subject, user_id, now)
        )
    }

    async fn sso_config(&self, org_id: OrgId) -> StoreResult<Option<SsoConfigRecord>> {
        within!(self, self.inner.sso_config(org_id))
    }

    async fn sso_config_by_handle(&self, org: &str) -> StoreResult<Option<SsoConfigRecord>> {
        within!(self, self.inner.sso_config_by_handle(org))
    }

    async fn sso_identity(
        &self,
        org_id: OrgId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<UserId>> {
        within!(self, self.inner.sso_identity(org_id, issuer, subject))
    }

    async fn sso_identity_of(
        &self,
        org_id: OrgId,
        issuer: &str,
        user_id: UserId,
    ) -> StoreResult<bool> {
        within!(self, self.inner.sso_identity_of(org_id, issuer, user_id))
    }

    async fn set_sso_config(
        &self,
        org_id: OrgId,
        config: Option<SsoConfigRecord>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        within!(self, self.inner.set_sso_config(org_id, config, audit))
    }

    async fn take_sso_flow(
        &self,
        state_hash: [u8; 32],
        flow_key_hash: [u8; 32],
    ) -> StoreResult<Option<SsoFlowRecord>> {
        within!(self, self.inner.take_sso_flow(state_hash, flow_key_hash))
    }
}
