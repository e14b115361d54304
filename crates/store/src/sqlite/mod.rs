//! The SQLite store: the embedded default. One database file in the data directory.

mod accounts;
mod admin;
mod connection;
mod conversations;
mod edits;
mod events;
mod files;
mod invites;
mod mentions;
mod messages;
mod notify;
mod pins;
mod retention;
mod rows;
mod sso;
mod threads;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::inputs;
use parley_core::model::{
    Audience, Conversation, ConversationSummary, Credentials, Event, FollowedThread, Invite,
    Member, Message, MessageVersion, Millis, Page, PinnedMessage, Session, User,
};
use parley_core::proto::v1::{ChannelRole, MembershipPatch, Mentions};
use parley_core::store::{
    self as core_store, CommitFeed, ConversationChange, DirectMessage, Queued, Sent, Store,
    StoreResult,
};
use parley_core::{ConversationId, Cursor, InviteId, MessageId, OrgId, UserId};
use rusqlite::Connection;

use connection::{Connections, backend};

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_search_per_batch.sql"),
    include_str!("../../migrations/sqlite/0003_invites_and_session_expiry.sql"),
    include_str!("../../migrations/sqlite/0004_edits_threads_mentions_pins.sql"),
    include_str!("../../migrations/sqlite/0005_files.sql"),
    include_str!("../../migrations/sqlite/0006_notifications.sql"),
    include_str!("../../migrations/sqlite/0007_administration.sql"),
    include_str!("../../migrations/sqlite/0008_retention.sql"),
    include_str!("../../migrations/sqlite/0009_single_sign_on.sql"),
];

fn migrate(c: &Connection) -> StoreResult<()> {
    let applied: usize = c
        .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .map_err(backend)?
        .try_into()
        .unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = index + 1;
        c.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}\nPRAGMA user_version = {version}; COMMIT;"
        ))
        .map_err(backend)?;
        tracing::info!(version, "applied SQLite migration");
    }
    Ok(())
}

pub struct SqliteStore {
    db: Arc<Connections>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Ok(SqliteStore {
            db: Connections::open(path, migrate, messages::index_new)?,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    // ---- create ----

    async fn create_user(&self, new: core_store::NewUser<'_>) -> StoreResult<User> {
        let new = inputs::NewUser::from(new);
        self.db.write(move |c| accounts::create_user(c, &new)).await
    }

    async fn create_session(
        &self,
        user_id: UserId,
        token_hash: [u8; 32],
        device: Option<&str>,
        now: Millis,
    ) -> StoreResult<()> {
        let device = device.map(str::to_owned);
        self.db
            .write(move |c| {
                accounts::create_session(c, user_id, token_hash, device.as_deref(), now)
            })
            .await
    }

    async fn create_invite(&self, new: core_store::NewInvite) -> StoreResult<Invite> {
        self.db.write(move |c| invites::create(c, &new)).await
    }

    async fn add_contact(&self, owner: UserId, contact: UserId) -> StoreResult<()> {
        self.db
            .write(move |c| accounts::add_contact(c, owner, contact, Millis::now()))
            .await
    }

    async fn create_conversation(
        &self,
        new: core_store::NewConversation<'_>,
    ) -> StoreResult<(Conversation, Vec<Event>)> {
        let new = inputs::NewConversation::from(new);
        self.db.write(move |c| conversations::create(c, &new)).await
    }

    async fn direct_message(
        &self,
        org_id: OrgId,
        a: UserId,
        b: UserId,
        now: Millis,
    ) -> StoreResult<DirectMessage> {
        self.db
            .write(move |c| conversations::direct_message(c, org_id, a, b, now))
            .await
    }

    async fn add_members(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
        own_devices_only: bool,
        now: Millis,
    ) -> StoreResult<Vec<Event>> {
        let user_ids = user_ids.to_vec();
        self.db
            .write(move |c| {
                conversations::add_members(c, conversation_id, &user_ids, own_devices_only, now)
            })
            .await
    }

    fn queue_message(&self, new: core_store::NewMessage<'_>) -> Queued<Sent> {
        let new = inputs::NewMessage::from(new);
        self.db.queue(move |c| messages::create(c, &new))
    }

    async fn pin_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        limit: u32,
        now: Millis,
    ) -> StoreResult<Option<Event>> {
        self.db
            .write(move |c| pins::pin(c, conversation_id, message_id, user_id, limit, now))
            .await
    }

    async fn follow_thread(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        user_id: UserId,
        following: bool,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| threads::follow(c, conversation_id, root_id, user_id, following))
            .await
    }

    async fn add_reaction(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> StoreResult<Option<Event>> {
        let emoji = emoji.to_owned();
        self.db
            .write(move |c| {
                messages::add_reaction(
                    c,
                    conversation_id,
                    message_id,
                    user_id,
                    &emoji,
                    Millis::now(),
                )
            })
            .await
    }

    // ---- read ----

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .lookup(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.db.lookup(move |c| rows::user_by_id(c, id)).await
    }

    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let ids = ids.to_vec();
        self.db.read(move |c| accounts::users_by_ids(c, &ids)).await
    }

    async fn credentials_by_email(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let email = email.to_owned();
        self.db
            .lookup(move |c| accounts::credentials_by_email(c, &email))
            .await
    }

    async fn credentials_by_username(
        &self,
        org_handle: &str,
        username: &str,
    ) -> StoreResult<Option<Credentials>> {
        let (org_handle, username) = (org_handle.to_owned(), username.to_owned());
        self.db
            .lookup(move |c| accounts::credentials_by_username(c, &org_handle, &username))
            .await
    }

    async fn session(&self, token_hash: [u8; 32]) -> StoreResult<Option<Session>> {
        self.db
            .lookup(move |c| accounts::session(c, token_hash))
            .await
    }

    async fn invite_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Invite>> {
        self.db
            .lookup(move |c| invites::by_token(c, token_hash))
            .await
    }

    async fn invite(&self, id: InviteId) -> StoreResult<Option<Invite>> {
        self.db.lookup(move |c| invites::by_id(c, id)).await
    }

    async fn invites_of(
        &self,
        org_id: OrgId,
        created_by: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Invite>> {
        self.db
            .read(move |c| invites::of_org(c, org_id, created_by, limit))
            .await
    }

    async fn search_users(
        &self,
        org_id: OrgId,
        prefix: &str,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let prefix = prefix.to_owned();
        self.db
            .read(move |c| accounts::search_users(c, org_id, &prefix, limit))
            .await
    }

    async fn contacts(&self, owner: UserId) -> StoreResult<Vec<User>> {
        self.db.lookup(move |c| accounts::contacts(c, owner)).await
    }

    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        self.db
            .lookup(move |c| rows::conversation_by_id(c, id))
            .await
    }

    async fn channel_by_handle(
        &self,
        org_id: OrgId,
        handle: &str,
    ) -> StoreResult<Option<Conversation>> {
        let handle = handle.to_owned();
        self.db
            .lookup(move |c| conversations::channel_by_handle(c, org_id, &handle))
            .await
    }

    async fn membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<Member>> {
        self.db
            .lookup(move |c| rows::membership(c, conversation_id, user_id))
            .await
    }

    async fn member_roles(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<(UserId, ChannelRole)>> {
        self.db
            .read(move |c| conversations::member_roles(c, conversation_id))
            .await
    }

    async fn member_ids(
        &self,
        conversation_id: ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        self.db
            .read(move |c| conversations::member_ids(c, conversation_id, limit))
            .await
    }

    async fn conversations_of(&self, user_id: UserId) -> StoreResult<Vec<ConversationSummary>> {
        self.db
            .read(move |c| conversations::conversations_of(c, user_id))
            .await
    }

    async fn public_channels(
        &self,
        org_id: OrgId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        let query = query.to_owned();
        self.db
            .read(move |c| conversations::public_channels(c, org_id, &query, limit))
            .await
    }

    async fn messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        page: Page,
    ) -> StoreResult<Vec<Message>> {
        self.db
            .read(move |c| messages::page(c, conversation_id, viewer, messages::Scope::Main, page))
            .await
    }

    async fn message(
        &self,
        conversation_id: ConversationId,
        id: MessageId,
    ) -> StoreResult<Option<Message>> {
        self.db
            .lookup(move |c| rows::message_by_id(c, conversation_id, id))
            .await
    }

    async fn message_versions(&self, message_id: MessageId) -> StoreResult<Vec<MessageVersion>> {
        self.db.read(move |c| edits::versions(c, message_id)).await
    }

    async fn thread_replies(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        viewer: UserId,
        page: Page,
    ) -> StoreResult<Vec<Message>> {
        let scope = messages::Scope::Thread(root_id);
        self.db
            .read(move |c| messages::page(c, conversation_id, viewer, scope, page))
            .await
    }

    async fn followed_threads(
        &self,
        user_id: UserId,
        limit: u32,
    ) -> StoreResult<Vec<FollowedThread>> {
        self.db
            .read(move |c| threads::followed(c, user_id, limit))
            .await
    }

    async fn mentions_of(
        &self,
        user_id: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.db
            .read(move |c| mentions::of(c, user_id, before, limit))
            .await
    }

    async fn pins(&self, conversation_id: ConversationId) -> StoreResult<Vec<PinnedMessage>> {
        self.db.read(move |c| pins::list(c, conversation_id)).await
    }

    async fn members_among(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        let user_ids = user_ids.to_vec();
        self.db
            .read(move |c| conversations::members_among(c, conversation_id, &user_ids))
            .await
    }

    async fn receipts(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<(UserId, MessageId)>> {
        self.db
            .read(move |c| messages::receipts(c, conversation_id))
            .await
    }

    async fn search_messages(
        &self,
        viewer: UserId,
        query: &str,
        conversation_id: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let query = query.to_owned();
        // Whatever committed before this search is in the index it reads.
        self.db.catch_up_deferred().await?;
        self.db
            .read(move |c| messages::search(c, viewer, &query, conversation_id, limit))
            .await
    }

    async fn events_after(
        &self,
        user_id: UserId,
        cursor: Cursor,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        self.db
            .read(move |c| events::after(c, user_id, cursor, limit))
            .await
    }

    async fn latest_cursor(&self) -> StoreResult<Cursor> {
        self.db.lookup(events::latest).await
    }

    async fn oldest_cursor(&self) -> StoreResult<Cursor> {
        self.db.lookup(events::oldest).await
    }

    async fn member_conversations_snapshot(
        &self,
        user_id: UserId,
    ) -> StoreResult<(Vec<ConversationId>, Cursor)> {
        self.db
            .lookup(move |c| conversations::snapshot_of_member(c, user_id))
            .await
    }

    fn take_commit_feed(&self) -> Option<CommitFeed> {
        self.db.take_commit_feed()
    }

    // ---- update ----

    async fn rename_user(&self, id: UserId, name: &str) -> StoreResult<User> {
        let name = name.to_owned();
        self.db
            .write(move |c| accounts::rename_user(c, id, &name))
            .await
    }

    async fn bump_avatar(&self, id: UserId) -> StoreResult<User> {
        self.db.write(move |c| accounts::bump_avatar(c, id)).await
    }

    async fn touch_last_seen(&self, id: UserId, now: Millis) -> StoreResult<()> {
        self.db
            .write(move |c| accounts::touch_last_seen(c, id, now))
            .await
    }

    async fn touch_session(&self, token_hash: [u8; 32], now: Millis) -> StoreResult<()> {
        self.db
            .write(move |c| accounts::touch_session(c, token_hash, now))
            .await
    }

    async fn set_org_open_signup(
        &self,
        org_handle: &str,
        open: bool,
        now: Millis,
    ) -> StoreResult<()> {
        let org_handle = org_handle.to_owned();
        self.db
            .write(move |c| accounts::set_org_open_signup(c, &org_handle, open, now))
            .await
    }

    async fn update_membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        patch: MembershipPatch,
    ) -> StoreResult<Member> {
        self.db
            .write(move |c| conversations::update_membership(c, conversation_id, user_id, &patch))
            .await
    }

    async fn update_conversation(
        &self,
        conversation_id: ConversationId,
        change: ConversationChange,
    ) -> StoreResult<Option<(Conversation, Event)>> {
        self.db
            .write(move |c| conversations::update(c, conversation_id, &change, Millis::now()))
            .await
    }

    async fn set_member_role(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        role: ChannelRole,
    ) -> StoreResult<Option<Event>> {
        self.db
            .write(move |c| {
                conversations::set_member_role(c, conversation_id, user_id, role, Millis::now())
            })
            .await
    }

    async fn advance_read(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        message_id: MessageId,
        audience: Audience,
    ) -> StoreResult<Option<Event>> {
        self.db
            .write(move |c| {
                messages::advance_read(
                    c,
                    conversation_id,
                    user_id,
                    message_id,
                    audience,
                    Millis::now(),
                )
            })
            .await
    }

    async fn edit_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        text: &str,
        mentions: Option<&Mentions>,
        now: Millis,
    ) -> StoreResult<Option<(Message, Event)>> {
        let text = text.to_owned();
        let mentions = mentions.cloned();
        self.db
            .write(move |c| {
                edits::edit(
                    c,
                    conversation_id,
                    message_id,
                    &text,
                    mentions.as_ref(),
                    now,
                )
            })
            .await
    }

    async fn advance_thread_read(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        user_id: UserId,
        message_id: MessageId,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| threads::advance_read(c, conversation_id, root_id, user_id, message_id))
            .await
    }

    async fn erase_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        by_moderator: bool,
    ) -> StoreResult<Option<Event>> {
        self.db
            .erase(move |c| {
                messages::erase(c, conversation_id, message_id, by_moderator, Millis::now())
            })
            .await
    }

    // ---- delete ----

    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()> {
        self.db
            .write(move |c| accounts::delete_session(c, token_hash))
            .await
    }

    async fn delete_sessions_of(&self, user_id: UserId) -> StoreResult<u64> {
        self.db
            .write(move |c| accounts::delete_sessions_of(c, user_id))
            .await
    }

    async fn prune_sessions(
        &self,
        idle_before: Millis,
        created_before: Millis,
    ) -> StoreResult<u64> {
        self.db
            .write(move |c| accounts::prune_sessions(c, idle_before, created_before))
            .await
    }

    async fn delete_invite(&self, id: InviteId) -> StoreResult<()> {
        self.db.write(move |c| invites::delete(c, id)).await
    }

    async fn remove_contact(&self, owner: UserId, contact: UserId) -> StoreResult<()> {
        self.db
            .write(move |c| accounts::remove_contact(c, owner, contact))
            .await
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        own_devices_only: bool,
        removed: bool,
    ) -> StoreResult<Option<Event>> {
        self.db
            .write(move |c| {
                conversations::remove_member(
                    c,
                    conversation_id,
                    user_id,
                    own_devices_only,
                    removed,
                    Millis::now(),
                )
            })
            .await
    }

    async fn unpin_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        now: Millis,
    ) -> StoreResult<Option<Event>> {
        self.db
            .write(move |c| pins::unpin(c, conversation_id, message_id, user_id, now))
            .await
    }

    async fn hide_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
    ) -> StoreResult<Option<Event>> {
        self.db
            .write(move |c| messages::hide(c, conversation_id, message_id, user_id, Millis::now()))
            .await
    }

    async fn remove_reaction(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> StoreResult<Option<Event>> {
        let emoji = emoji.to_owned();
        self.db
            .write(move |c| {
                messages::remove_reaction(
                    c,
                    conversation_id,
                    message_id,
                    user_id,
                    &emoji,
                    Millis::now(),
                )
            })
            .await
    }

    async fn prune_events(&self, before: Millis) -> StoreResult<u64> {
        self.db.write(move |c| events::prune(c, before)).await
    }
}
