//! The use cases. Each public method is one thing a user can do, shared by the REST API and the WebSocket:
//! authenticate (the `Caller` proves it), authorize, validate, persist, publish.

mod accounts;
mod audit;
mod balancer;
mod conversations;
mod edits;
mod export;
mod files;
mod invites;
mod mentions;
mod messages;
mod moderation;
pub mod notify;
mod org_settings;
mod people;
mod pins;
mod previews;
mod rate_limits;
mod realtime;
mod retention;
pub mod roles;
mod sessions;
mod shard;
mod sso;
mod threads;
mod throttles;
mod uploads;
mod users;

use std::sync::Arc;

pub use audit::{AuditQuery, EXPORT_BATCH, MAX_AUDIT_PAGE};
pub use conversations::{Created, MAX_ADDED_AT_ONCE, MEMBER_LIST_LIMIT};
pub use export::Export;
pub use files::{Download, FileSettings, MAX_LINKS, content_disposition};
pub use invites::{MAX_INVITE_HOURS, MAX_INVITE_USES};
pub use mentions::MAX_MENTIONS;
pub use messages::{
    DeleteScope, Draft, HistoryQuery, MAX_PAGE, MAX_SEARCH_CHARS, QueuedSend, SendOutcome,
};
pub use org_settings::{MAX_DEFAULT_CHANNELS, MAX_EMAIL_DOMAINS};
pub use people::{MAX_PEOPLE_PAGE, PeopleQuery};
pub use pins::MAX_PINS;
pub use previews::{MAX_PICTURE_BYTES, make_previews};
pub use realtime::{Pruned, Replay, Resettled};
pub use retention::{MAX_RETENTION_DAYS, Purged};
pub use sessions::{MAX_DEVICE_CHARS, SessionLimits, device_name, token_org};
pub use throttles::{LoginLimits, SendLimits, SignupLimits, client_network};
pub use uploads::{MAX_ATTACHMENTS, PART_BYTES};
pub use users::MAX_QUERY_CHARS;

use parley_proto::v1::Role;

use crate::bus::Bus;
use crate::model::{Conversation, Member, User};
use crate::passwords::Passwords;
use crate::storage::Storage;
use crate::store::{CommitFeed, Directory, ShardNumber, Store};
use crate::{ConversationId, Error, UserId};

/// Images decoded at once (see `images`).
const IMAGE_DECODES_AT_ONCE: usize = 2;
/// Uploads completed at once: on S3 each holds up to two 5 MiB chunks while its parts are joined.
const COMPLETIONS_AT_ONCE: usize = 8;

/// Server-wide behaviour the use cases need to know. Built by the binary from its configuration, which holds
/// every default (`Config::settings`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Handle of the organization that sign-ups without `org` join.
    pub default_org: String,
    /// Whether a sign-up naming an unknown organization creates it.
    pub open_signup: bool,
    /// The URL clients reach this server at, for links such as a channel's `join_url`.
    pub public_url: String,
    /// Failed logins allowed per minute for one account, and attempts for one client address.
    pub login_limits: LoginLimits,
    /// Sign-ups allowed per client address and for everyone together.
    pub signup_limits: SignupLimits,
    /// Messages one user may send per second.
    pub send_limits: SendLimits,
    /// How long sessions live unused, and at most.
    pub session_limits: SessionLimits,
    /// How long events are kept for clients to resume from; older cursors must resync.
    pub event_retention: std::time::Duration,
    /// Limits on files, and how their links are signed.
    pub files: FileSettings,
    /// Where pushes may go, and how long a message waits for its reader first.
    pub push: notify::PushSettings,
    /// Where an organization's identity provider may be: public `https` URLs, unless the operator allows
    /// plain `http` or private networks (as for pushes, no request forgery through an issuer URL).
    pub sso_addresses: notify::AddressPolicy,
}

/// Publishes committed events on the bus in commit order, until the store closes its feed. The store holds
/// every event already, so a failed publish loses nothing: clients catch up from the log by cursor.
async fn relay(mut feed: CommitFeed, bus: Arc<dyn Bus>) {
    while let Some(commit) = feed.recv().await {
        if let Err(error) = bus.publish_commit(commit.after, &commit.events).await {
            let error = &error as &dyn std::error::Error;
            let first = commit.events.first().map(|e| e.cursor);
            tracing::warn!(?first, count = commit.events.len(), error, "publish failed");
        }
        if let Some(published) = commit.published {
            let _ = published.send(());
        }
    }
}

/// An authenticated user, as proven by a live session token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    token_hash: [u8; 32],
    /// When the session began: it ends a lifetime later.
    session_began: crate::model::Millis,
}

impl Caller {
    pub(crate) fn token_hash(&self) -> [u8; 32] {
        self.token_hash
    }
}

/// The use cases, over the store, bus and object storage they need. Cheap to share: build once, pass an `Arc`.
pub struct Parley {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    storage: Arc<dyn Storage>,
    pub(crate) settings: Settings,
    passwords: Passwords,
    login_throttle: throttles::LoginThrottle,
    signup_throttle: throttles::SignupThrottle,
    write_throttle: throttles::WriteThrottle,
    typing_limiter: rate_limits::KeyedLimiter<(UserId, ConversationId)>,
    /// Images decoded at once: each may take up to 192 MiB and a core for a moment.
    image_permits: Arc<tokio::sync::Semaphore>,
    /// Wakes the worker that makes previews of pictures (`make_previews`).
    previews: Arc<tokio::sync::Notify>,
    /// Uploads being completed at once (`complete_upload`): each holds a chunk or two of its file.
    completions: Arc<tokio::sync::Semaphore>,
    /// Exports running at once (`export.rs`): each holds a read connection for a moment per batch.
    exports: Arc<tokio::sync::Semaphore>,
    /// The purge running on this server (`retention.rs`): one at a time.
    purges: Arc<tokio::sync::Semaphore>,
    /// The shard these use cases serve, when the cluster's store is split into shards (`accounts.rs`
    /// places new organizations and claims new accounts' addresses in its directory).
    shard: Option<OnShard>,
}

/// One shard of several, and the directory of where organizations and email addresses live.
struct OnShard {
    directory: Arc<dyn Directory>,
    number: ShardNumber,
}

impl Parley {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        storage: Arc<dyn Storage>,
        settings: Settings,
    ) -> Self {
        if let Some(feed) = store.take_commit_feed() {
            tokio::spawn(relay(feed, Arc::clone(&bus)));
        }
        Parley {
            store,
            bus,
            storage,
            passwords: Passwords::new(),
            login_throttle: throttles::LoginThrottle::new(settings.login_limits),
            signup_throttle: throttles::SignupThrottle::new(settings.signup_limits),
            write_throttle: throttles::WriteThrottle::new(settings.send_limits),
            settings,
            typing_limiter: realtime::typing_limiter(),
            image_permits: Arc::new(tokio::sync::Semaphore::new(IMAGE_DECODES_AT_ONCE)),
            previews: Arc::new(tokio::sync::Notify::new()),
            completions: Arc::new(tokio::sync::Semaphore::new(COMPLETIONS_AT_ONCE)),
            exports: Arc::new(tokio::sync::Semaphore::new(export::EXPORTS_AT_ONCE)),
            purges: Arc::new(tokio::sync::Semaphore::new(1)),
            shard: None,
        }
    }

    /// These use cases as shard `number` of several, whose `directory` says where organizations and email
    /// addresses live.
    pub fn on_shard(mut self, directory: Arc<dyn Directory>, number: ShardNumber) -> Self {
        self.shard = Some(OnShard { directory, number });
        self
    }

    /// Whether the store and the bus answer: what `/readyz` reports.
    pub async fn ready(&self) -> Result<(), Error> {
        self.store.ping().await?;
        self.bus.ping().await?;
        Ok(())
    }

    /// The conversation if the caller may see it: a member, or anyone of the org for a public channel.
    /// Anything else is "not found", so ids of other orgs' or private conversations reveal nothing.
    async fn visible_conversation(
        &self,
        caller: &Caller,
        id: ConversationId,
    ) -> Result<(Conversation, Option<Member>), Error> {
        let not_found = Error::NotFound("conversation");
        let (conversation, membership) = self
            .store
            .conversation_and_membership(id, caller.user.id)
            .await?
            .ok_or(not_found)?;
        if conversation.org_id != caller.user.org_id {
            return Err(Error::NotFound("conversation"));
        }
        // Guests see only the conversations they were added to.
        let browses = caller.user.role != Role::Guest && conversation.is_public_channel();
        if membership.is_none() && !browses {
            return Err(Error::NotFound("conversation"));
        }
        Ok((conversation, membership))
    }

    /// A message of the conversation; one of another conversation is not found, like one that does not exist.
    async fn conversation_message(
        &self,
        conversation_id: ConversationId,
        message_id: crate::MessageId,
    ) -> Result<crate::model::Message, Error> {
        self.store
            .message(conversation_id, message_id)
            .await?
            .ok_or(Error::NotFound("message"))
    }

    /// The conversation and the caller's membership, for things only members may do.
    async fn member_conversation(
        &self,
        caller: &Caller,
        id: ConversationId,
    ) -> Result<(Conversation, Member), Error> {
        match self.visible_conversation(caller, id).await? {
            (conversation, Some(member)) => Ok((conversation, member)),
            (_, None) => Err(Error::Forbidden("join the channel first")),
        }
    }

    /// A conversation the caller may write in: one they are a member of, and not archived.
    async fn writable_conversation(
        &self,
        caller: &Caller,
        id: ConversationId,
    ) -> Result<(Conversation, Member), Error> {
        let (conversation, member) = self.member_conversation(caller, id).await?;
        moderation::unless_archived(&conversation)?;
        Ok((conversation, member))
    }
}
