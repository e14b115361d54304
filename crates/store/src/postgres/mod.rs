//! The PostgreSQL store: what a cluster of nodes shares. Same schema and behaviour as the SQLite store;
//! writes are batched per node (group commit) and nodes take turns committing (`writer.rs`), so cursors and
//! message ids grow in commit order across the cluster. History, search, lists and catch-up may be read
//! from streaming replicas that have caught up with the reader (`replicas.rs`).

mod accounts;
mod admin;
mod batch;
mod conversations;
mod directory;
mod edits;
mod events;
mod files;
mod invites;
mod mentions;
mod messages;
mod notify;
mod org_move;
mod pins;
mod pool;
mod replicas;
mod retention;
mod search_index;
mod shard_ids;
mod sql;
mod sso;
mod threads;
mod writer;

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
use tokio_postgres::IsolationLevel;

use replicas::Replicas;
use sql::backend;
use writer::{Connections, Db};

pub use directory::PgDirectory;
pub use org_move::{MoveError, Moved, OrgMove};

pub struct PgStore {
    db: Arc<Connections>,
    replicas: Option<Replicas>,
    /// How far apart this store's ids and cursors are: `ID_STEP` on a shard, else 1.
    id_step: i64,
    /// This store's number as a shard of several.
    shard: Option<i64>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`; a schema other than `public`
    /// can be chosen with `?options=-csearch_path%3Dname`) and brings its schema up to date.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with_replicas(url, &[]).await
    }

    /// Like `open`, with streaming replicas of that database at `replicas` to take reads off it
    /// (`replicas.rs`).
    pub async fn open_with_replicas(url: &str, replicas: &[String]) -> StoreResult<Self> {
        Self::open_shard(url, replicas, None).await
    }

    /// Like `open_with_replicas`; as shard `shard` (below core's `ID_STEP`) of several, its sequences laid out so
    /// that no other shard takes the same ids (`shard_ids.rs`).
    pub async fn open_shard(
        url: &str,
        replicas: &[String],
        shard: Option<u16>,
    ) -> StoreResult<Self> {
        let shard = shard.map(i64::from);
        Ok(PgStore {
            db: Connections::open(url, shard).await?,
            replicas: Replicas::open(url, replicas).await?,
            id_step: if shard.is_some() {
                core_store::ID_STEP
            } else {
                1
            },
            shard,
        })
    }
}

/// Runs `$read`, an expression of a future that reads with the connection `$db`, on a replica that has
/// caught up with the primary (`replicas.rs`), or on the primary when none has or the replica's read fails:
/// `$read` may therefore run twice. (A macro: async closures that borrow what they capture are not `Send`
/// for every lifetime, which `async_trait` needs.)
macro_rules! recent {
    ($store:expr, |$db:ident| $read:expr) => {{
        let store: &PgStore = $store;
        let mut answer = None;
        if let Some(replicas) = &store.replicas
            && let Some($db) = replicas.caught_up().await
        {
            match $read.await {
                Ok(found) => answer = Some(found),
                Err(error) => replicas.read_failed(&error),
            }
        }
        if let Some(replicas) = &store.replicas {
            replicas.answered_by(answer.is_some());
        }
        match answer {
            Some(found) => Ok(found),
            None => {
                let $db = store.db.read().await?;
                $read.await
            }
        }
    }};
}

/// Runs `read` in a read-only snapshot on `db`: every query in it sees the same committed state.
async fn snapshot<T>(
    mut db: Db,
    read: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let snapshot = db
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(backend)?;
    let result = read(&snapshot).await?;
    snapshot.commit().await.map_err(backend)?;
    Ok(result)
}

#[async_trait]
impl Store for PgStore {
    // ---- create ----

    async fn create_user(&self, new: core_store::NewUser<'_>) -> StoreResult<User> {
        let new = inputs::NewUser::from(new);
        self.db
            .write(move |c| Box::pin(accounts::create_user(c, new.clone())))
            .await
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
                let device = device.clone();
                Box::pin(async move {
                    accounts::create_session(c, user_id, token_hash, device.as_deref(), now).await
                })
            })
            .await
    }

    async fn create_invite(&self, new: core_store::NewInvite) -> StoreResult<Invite> {
        let new = Arc::new(new);
        self.db
            .write(move |c| {
                let new = Arc::clone(&new);
                Box::pin(async move { invites::create(c, &new).await })
            })
            .await
    }

    async fn add_contact(&self, owner: UserId, contact: UserId) -> StoreResult<()> {
        let now = Millis::now();
        self.db
            .write(move |c| Box::pin(accounts::add_contact(c, owner, contact, now)))
            .await
    }

    async fn create_conversation(
        &self,
        new: core_store::NewConversation<'_>,
    ) -> StoreResult<(Conversation, Vec<Event>)> {
        let new = inputs::NewConversation::from(new);
        self.db
            .write(move |c| {
                let new = new.clone();
                Box::pin(async move { conversations::create(c, &new).await })
            })
            .await
    }

    async fn direct_message(
        &self,
        org_id: OrgId,
        a: UserId,
        b: UserId,
        now: Millis,
    ) -> StoreResult<DirectMessage> {
        self.db
            .write(move |c| Box::pin(conversations::direct_message(c, org_id, a, b, now)))
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
                let user_ids = user_ids.clone();
                Box::pin(async move {
                    conversations::add_members(c, conversation_id, &user_ids, own_devices_only, now)
                        .await
                })
            })
            .await
    }

    fn queue_message(&self, new: core_store::NewMessage<'_>) -> Queued<Sent> {
        let (conversation, new) = (new.conversation_id, inputs::NewMessage::from(new));
        if new.extras.is_none() {
            return self.db.queue_plain_send(new);
        }
        self.db.queue(Some(conversation), move |c| {
            let new = new.clone();
            Box::pin(async move { messages::create(c, &new).await })
        })
    }

    async fn add_reaction(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> StoreResult<Option<Event>> {
        let (emoji, now) = (emoji.to_owned(), Millis::now());
        self.db
            .write(move |c| {
                let emoji = emoji.clone();
                Box::pin(async move {
                    messages::add_reaction(c, conversation_id, message_id, user_id, &emoji, now)
                        .await
                })
            })
            .await
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
            .write(move |c| {
                Box::pin(pins::pin(
                    c,
                    conversation_id,
                    message_id,
                    user_id,
                    limit,
                    now,
                ))
            })
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
            .write(move |c| {
                Box::pin(threads::follow(
                    c,
                    conversation_id,
                    root_id,
                    user_id,
                    following,
                ))
            })
            .await
    }

    // ---- read ----

    async fn ping(&self) -> StoreResult<()> {
        let c = self.db.read().await?;
        c.simple_query("SELECT 1").await.map_err(backend)?;
        Ok(())
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        sql::user_by_id(&self.db.read().await?, id).await
    }

    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        accounts::users_by_ids(&self.db.read().await?, ids).await
    }

    async fn credentials_by_email(&self, email: &str) -> StoreResult<Option<Credentials>> {
        accounts::credentials_by_email(&self.db.read().await?, email).await
    }

    async fn credentials_by_username(
        &self,
        org_handle: &str,
        username: &str,
    ) -> StoreResult<Option<Credentials>> {
        accounts::credentials_by_username(&self.db.read().await?, org_handle, username).await
    }

    async fn session(&self, token_hash: [u8; 32]) -> StoreResult<Option<Session>> {
        accounts::session(&self.db.read().await?, token_hash).await
    }

    async fn invite_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Invite>> {
        invites::by_token(&self.db.read().await?, token_hash).await
    }

    async fn invite(&self, id: InviteId) -> StoreResult<Option<Invite>> {
        invites::by_id(&self.db.read().await?, id).await
    }

    async fn invites_of(
        &self,
        org_id: OrgId,
        created_by: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Invite>> {
        invites::of_org(&self.db.read().await?, org_id, created_by, limit).await
    }

    async fn search_users(
        &self,
        org_id: OrgId,
        prefix: &str,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        recent!(self, |db| accounts::search_users(
            &db, org_id, prefix, limit
        ))
    }

    async fn contacts(&self, owner: UserId) -> StoreResult<Vec<User>> {
        accounts::contacts(&self.db.read().await?, owner).await
    }

    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        sql::conversation_by_id(&self.db.read().await?, id).await
    }

    async fn channel_by_handle(
        &self,
        org_id: OrgId,
        handle: &str,
    ) -> StoreResult<Option<Conversation>> {
        conversations::channel_by_handle(&self.db.read().await?, org_id, handle).await
    }

    async fn membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<Member>> {
        sql::membership(&self.db.read().await?, conversation_id, user_id).await
    }

    async fn members_of(
        &self,
        conversation_ids: &[ConversationId],
    ) -> StoreResult<Vec<(ConversationId, Vec<UserId>)>> {
        conversations::members_of(&self.db.read().await?, conversation_ids).await
    }

    async fn conversation_and_membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<(Conversation, Option<Member>)>> {
        sql::conversation_and_membership(&self.db.read().await?, conversation_id, user_id).await
    }

    async fn member_roles(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<(UserId, ChannelRole)>> {
        conversations::member_roles(&self.db.read().await?, conversation_id).await
    }

    async fn member_ids(
        &self,
        conversation_id: ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        conversations::member_ids(&self.db.read().await?, conversation_id, limit).await
    }

    async fn conversations_of(&self, user_id: UserId) -> StoreResult<Vec<ConversationSummary>> {
        recent!(self, |db| conversations::conversations_of(&db, user_id))
    }

    async fn public_channels(
        &self,
        org_id: OrgId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        recent!(self, |db| conversations::public_channels(
            &db, org_id, query, limit
        ))
    }

    async fn messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        page: Page,
    ) -> StoreResult<Vec<Message>> {
        let scope = messages::Scope::Main;
        recent!(self, |db| messages::page(
            &db,
            conversation_id,
            viewer,
            scope,
            page
        ))
    }

    async fn message(
        &self,
        conversation_id: ConversationId,
        id: MessageId,
    ) -> StoreResult<Option<Message>> {
        sql::message_by_id(&self.db.read().await?, conversation_id, id).await
    }

    async fn message_versions(&self, message_id: MessageId) -> StoreResult<Vec<MessageVersion>> {
        recent!(self, |db| edits::versions(&db, message_id))
    }

    async fn thread_replies(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
        viewer: UserId,
        page: Page,
    ) -> StoreResult<Vec<Message>> {
        let scope = messages::Scope::Thread(root_id);
        recent!(self, |db| messages::page(
            &db,
            conversation_id,
            viewer,
            scope,
            page
        ))
    }

    async fn followed_threads(
        &self,
        user_id: UserId,
        limit: u32,
    ) -> StoreResult<Vec<FollowedThread>> {
        recent!(self, |db| threads::followed(&db, user_id, limit))
    }

    async fn mentions_of(
        &self,
        user_id: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        recent!(self, |db| mentions::of(&db, user_id, before, limit))
    }

    async fn pins(&self, conversation_id: ConversationId) -> StoreResult<Vec<PinnedMessage>> {
        recent!(self, |db| pins::list(&db, conversation_id))
    }

    async fn members_among(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        conversations::members_among(&self.db.read().await?, conversation_id, user_ids).await
    }

    async fn receipts(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<(UserId, MessageId)>> {
        messages::receipts(&self.db.read().await?, conversation_id).await
    }

    async fn search_messages(
        &self,
        viewer: UserId,
        query: &str,
        conversation_id: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        recent!(self, |db| messages::search(
            &db,
            viewer,
            query,
            conversation_id,
            limit
        ))
    }

    async fn events_after(
        &self,
        user_id: UserId,
        cursor: Cursor,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        recent!(self, |db| snapshot(db, async |c| {
            events::after(c, user_id, cursor, limit, self.id_step).await
        }))
    }

    async fn latest_cursor(&self) -> StoreResult<Cursor> {
        events::latest(&self.db.read().await?).await
    }

    async fn oldest_cursor(&self) -> StoreResult<Cursor> {
        events::oldest(&self.db.read().await?).await
    }

    fn cursor_step(&self) -> i64 {
        self.id_step
    }

    async fn member_conversations_snapshot(
        &self,
        user_id: UserId,
    ) -> StoreResult<(Vec<ConversationId>, Cursor)> {
        recent!(self, |db| snapshot(db, async |c| {
            let ids = conversations::of_member(c, user_id).await?;
            Ok((ids, events::latest(c).await?))
        }))
    }

    fn take_commit_feed(&self) -> Option<CommitFeed> {
        self.db.take_commit_feed()
    }

    // ---- update ----

    async fn rename_user(&self, id: UserId, name: &str) -> StoreResult<User> {
        let name = name.to_owned();
        self.db
            .write(move |c| Box::pin(accounts::rename_user(c, id, name.clone())))
            .await
    }

    async fn bump_avatar(&self, id: UserId) -> StoreResult<User> {
        self.db
            .write(move |c| Box::pin(accounts::bump_avatar(c, id)))
            .await
    }

    async fn touch_last_seen(&self, id: UserId, now: Millis) -> StoreResult<()> {
        self.db
            .write(move |c| Box::pin(accounts::touch_last_seen(c, id, now)))
            .await
    }

    async fn touch_session(&self, token_hash: [u8; 32], now: Millis) -> StoreResult<()> {
        self.db
            .write(move |c| Box::pin(accounts::touch_session(c, token_hash, now)))
            .await
    }

    async fn set_org_open_signup(
        &self,
        org_handle: &str,
        open: bool,
        now: Millis,
    ) -> StoreResult<()> {
        let org_handle: Arc<str> = org_handle.into();
        self.db
            .write(move |c| {
                let org_handle = Arc::clone(&org_handle);
                Box::pin(
                    async move { accounts::set_org_open_signup(c, &org_handle, open, now).await },
                )
            })
            .await
    }

    async fn update_membership(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        patch: MembershipPatch,
    ) -> StoreResult<Member> {
        self.db
            .write(move |c| {
                let patch = patch.clone();
                Box::pin(async move {
                    conversations::update_membership(c, conversation_id, user_id, &patch).await
                })
            })
            .await
    }

    async fn update_conversation(
        &self,
        conversation_id: ConversationId,
        change: ConversationChange,
    ) -> StoreResult<Option<(Conversation, Event)>> {
        let now = Millis::now();
        self.db
            .write(move |c| {
                let change = change.clone();
                Box::pin(
                    async move { conversations::update(c, conversation_id, &change, now).await },
                )
            })
            .await
    }

    async fn set_member_role(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        role: ChannelRole,
    ) -> StoreResult<Option<Event>> {
        let now = Millis::now();
        self.db
            .write(move |c| {
                Box::pin(conversations::set_member_role(
                    c,
                    conversation_id,
                    user_id,
                    role,
                    now,
                ))
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
        let now = Millis::now();
        self.db
            .write(move |c| {
                Box::pin(messages::advance_read(
                    c,
                    conversation_id,
                    user_id,
                    message_id,
                    audience,
                    now,
                ))
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
        let (text, mentions) = (text.to_owned(), mentions.cloned());
        self.db
            .write(move |c| {
                let (text, mentions) = (text.clone(), mentions.clone());
                Box::pin(async move {
                    edits::edit(
                        c,
                        conversation_id,
                        message_id,
                        &text,
                        mentions.as_ref(),
                        now,
                    )
                    .await
                })
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
            .write(move |c| {
                Box::pin(threads::advance_read(
                    c,
                    conversation_id,
                    root_id,
                    user_id,
                    message_id,
                ))
            })
            .await
    }

    async fn erase_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        by_moderator: bool,
    ) -> StoreResult<Option<Event>> {
        let now = Millis::now();
        self.db
            .write(move |c| {
                Box::pin(messages::erase(
                    c,
                    conversation_id,
                    message_id,
                    by_moderator,
                    now,
                ))
            })
            .await
    }

    // ---- delete ----

    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()> {
        self.db
            .write(move |c| Box::pin(accounts::delete_session(c, token_hash)))
            .await
    }

    async fn delete_sessions_of(&self, user_id: UserId) -> StoreResult<u64> {
        self.db
            .write(move |c| Box::pin(accounts::delete_sessions_of(c, user_id)))
            .await
    }

    async fn prune_sessions(
        &self,
        idle_before: Millis,
        created_before: Millis,
    ) -> StoreResult<u64> {
        self.db
            .write(move |c| Box::pin(accounts::prune_sessions(c, idle_before, created_before)))
            .await
    }

    async fn delete_invite(&self, id: InviteId) -> StoreResult<()> {
        self.db
            .write(move |c| Box::pin(invites::delete(c, id)))
            .await
    }

    async fn remove_contact(&self, owner: UserId, contact: UserId) -> StoreResult<()> {
        self.db
            .write(move |c| Box::pin(accounts::remove_contact(c, owner, contact)))
            .await
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        own_devices_only: bool,
        removed: bool,
    ) -> StoreResult<Option<Event>> {
        let now = Millis::now();
        self.db
            .write(move |c| {
                Box::pin(conversations::remove_member(
                    c,
                    conversation_id,
                    user_id,
                    own_devices_only,
                    removed,
                    now,
                ))
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
            .write(move |c| Box::pin(pins::unpin(c, conversation_id, message_id, user_id, now)))
            .await
    }

    async fn hide_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
    ) -> StoreResult<Option<Event>> {
        let now = Millis::now();
        self.db
            .write(move |c| Box::pin(messages::hide(c, conversation_id, message_id, user_id, now)))
            .await
    }

    async fn remove_reaction(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> StoreResult<Option<Event>> {
        let (emoji, now) = (emoji.to_owned(), Millis::now());
        self.db
            .write(move |c| {
                let emoji = emoji.clone();
                Box::pin(async move {
                    messages::remove_reaction(c, conversation_id, message_id, user_id, &emoji, now)
                        .await
                })
            })
            .await
    }

    async fn prune_events(&self, before: Millis) -> StoreResult<u64> {
        self.db
            .write(move |c| Box::pin(events::prune(c, before)))
            .await
    }
}
