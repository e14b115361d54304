//! What the notifier keeps: where each device is told (subscriptions), how far each shard of users has
//! been decided (its cursor and which node holds it), notifications waiting out their delay, and
//! deliveries on their way to one subscription until the push service or webhook accepts them.
//!
//! Every write of the notifier names the node and the shards it holds, and the store applies it only while
//! that node still holds them (a fence): a node that lost a shard to another cannot move its cursor.

use async_trait::async_trait;
use parley_proto::v1::ConversationKind;

use super::{ID_BASE, ID_STEP, StoreResult};
use crate::model::Millis;
use crate::{ConversationId, Cursor, MessageId, OrgId, SubscriptionId, UserId};

/// How many shards users are split into; a user's shard is `user_id % SHARDS`, or for an id a sharded
/// store made (from `ID_BASE`, all `ID_STEP` apart) `user_id / ID_STEP % SHARDS`, so that they spread too.
/// Fixed: changing it would move users between cursors. The stores' SQL says the same.
pub const SHARDS: u16 = 16;

pub fn shard_of(user: UserId) -> u16 {
    let spread = if user.0 >= ID_BASE {
        user.0 / ID_STEP
    } else {
        user.0
    };
    (spread.rem_euclid(i64::from(SHARDS))) as u16
}

/// Where a subscription is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushTarget {
    /// A browser's push service endpoint and the keys its payloads are encrypted for (base64url).
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    /// A URL that gets JSON signed with `secret`.
    Webhook { url: String, secret: String },
}

impl PushTarget {
    pub fn endpoint(&self) -> &str {
        match self {
            PushTarget::WebPush { endpoint, .. } => endpoint,
            PushTarget::Webhook { url, .. } => url,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: SubscriptionId,
    pub user_id: UserId,
    /// The SHA-256 of the token of the session that made it.
    pub session_hash: [u8; 32],
    pub target: PushTarget,
    pub created_at: Millis,
}

pub struct NewPushSubscription {
    pub user_id: UserId,
    pub session_hash: [u8; 32],
    pub target: PushTarget,
    pub now: Millis,
}

/// A user's quiet hours, as minutes after midnight in their time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u16,
    pub end: u16,
    pub time_zone: String,
}

/// One entry of the log that the notifier acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A message was sent.
    Sent {
        cursor: Cursor,
        message_id: MessageId,
    },
    /// `user_id` read `conversation_id` up to `message_id`.
    Read {
        cursor: Cursor,
        user_id: UserId,
        conversation_id: ConversationId,
        message_id: MessageId,
    },
}

/// A message as the rules see it, with the members who might be told of it.
#[derive(Clone, Debug)]
pub struct SentMessage {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub org_id: OrgId,
    pub kind: ConversationKind,
    pub author_id: UserId,
    pub created_at: Millis,
    pub mentioned: Vec<UserId>,
    pub mention_channel: bool,
    pub mention_here: bool,
    /// Set for a reply: its thread's root.
    pub thread_root_id: Option<MessageId>,
    pub also_to_conversation: bool,
    /// Members who might be told, among those with a subscription: in a DM or group, or with
    /// `@channel`/`@here`, every member; in a channel otherwise, those mentioned, those with
    /// `notify_always`, and the thread's followers. Nobody else is ever told, so nothing is kept for them.
    pub candidates: Vec<Candidate>,
}

/// A member's settings and read state for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub user_id: UserId,
    pub muted: bool,
    pub notify_always: bool,
    /// Their read checkpoint in the conversation (or, for a reply, in its thread) covers the message.
    pub read: bool,
    /// For a reply: they follow its thread.
    pub follows_thread: bool,
}

/// A notification decided, waiting out its delay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub user_id: UserId,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    /// Set for a reply: its thread's root (whose read checkpoint counts).
    pub thread_root_id: Option<MessageId>,
    /// When the message was committed.
    pub sent_at: Millis,
    pub due_at: Millis,
    /// As `due` reads it: the user's read checkpoint covers the message by now. Ignored when recording.
    pub read: bool,
}

/// A notification to send to every subscription of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    pub user_id: UserId,
    pub conversation_id: ConversationId,
    /// The newest message it tells of; `None` for a clear.
    pub message_id: Option<MessageId>,
    /// The stable id: a retry carries the same.
    pub notification_id: String,
    /// The JSON sent (a `parley_proto::v1::Notification`).
    pub payload: String,
    /// Replaces an undelivered push of the same topic at the push service (RFC 8030 `Topic`).
    pub topic: String,
    /// RFC 8030 `Urgency`: `high` for messages, `normal` for clears.
    pub urgency: &'static str,
    /// When the newest message was committed, for the delay metric.
    pub sent_at: Millis,
}

/// What the dispatcher decided about the due notifications of one user in one conversation.
#[derive(Clone, Debug, Default)]
pub struct Decided {
    /// Pending notifications done with (sent, or no longer wanted): `(user, message)`.
    pub done: Vec<(UserId, MessageId)>,
    /// Pending notifications held back until a time (quiet hours).
    pub held: Vec<(UserId, MessageId, Millis)>,
    pub deliveries: Vec<NewDelivery>,
}

/// A notification on its way to one subscription.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: i64,
    pub subscription: PushSubscription,
    pub notification_id: String,
    pub payload: String,
    pub topic: String,
    pub urgency: String,
    pub sent_at: Millis,
    pub first_at: Millis,
    pub attempts: u32,
}

/// What to do with a delivery after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx): forget it.
    Delivered,
    /// The subscription is gone (404/410): forget it and its other deliveries.
    Gone,
    /// Try again at this time.
    Retry { at: Millis },
    /// Given up on: record why, and forget it.
    Failed { reason: String },
}

#[async_trait]
pub trait NotifyRecords: Send + Sync + 'static {
    /// Adds a subscription, or replaces the one of the same user with the same endpoint (a browser that
    /// subscribed again). Past `max_per_user`: `Conflict("subscriptions")`.
    async fn add_subscription(
        &self,
        new: NewPushSubscription,
        max_per_user: u32,
    ) -> StoreResult<PushSubscription>;
    async fn subscriptions_of(&self, user: UserId) -> StoreResult<Vec<PushSubscription>>;
    /// Removes the user's subscription; `false` if they have none of that id.
    async fn delete_subscription(&self, user: UserId, id: SubscriptionId) -> StoreResult<bool>;
    async fn quiet_hours(&self, user: UserId) -> StoreResult<Option<QuietHours>>;
    async fn set_quiet_hours(&self, user: UserId, hours: Option<QuietHours>) -> StoreResult<()>;
    /// Whether the organization lets pushes carry a preview of the text.
    async fn push_previews(&self, org: OrgId) -> StoreResult<bool>;
    /// Sets it for the organization of this handle; `false` if there is none.
    async fn set_push_previews(&self, org_handle: &str, on: bool) -> StoreResult<bool>;

    /// Renews `node`'s hold on the shards it has, takes free or lapsed ones until it holds `want`, lets go
    /// of any beyond that, and answers the shards it holds with their cursors.
    async fn hold_shards(
        &self,
        node: &str,
        now: Millis,
        until: Millis,
        want: usize,
    ) -> StoreResult<Vec<(u16, Cursor)>>;
    /// The sends and reads of the log after `after` that may concern a subscription, at most `limit`, in
    /// cursor order, and the cursor the scan covered: the last entry's when it stopped at `limit`, else
    /// the end of the range it scanned (the log's end as it began, or fewer cursors on a long backlog).
    /// Sends to conversations where no member but the author has a subscription are left out, and so are
    /// reads of conversations with no notification showing (they would change nothing).
    async fn log_after(&self, after: Cursor, limit: u32) -> StoreResult<(Vec<LogEntry>, Cursor)>;
    /// A sent message and who might be told of it, among the users of `shards`; `None` if it is gone.
    async fn sent_message(&self, id: MessageId, shards: &[u16])
    -> StoreResult<Option<SentMessage>>;
    /// Whether a notification of this conversation was sent to the user and not cleared yet.
    async fn shown(&self, user: UserId, conversation: ConversationId) -> StoreResult<bool>;
    /// In one transaction, if `node` still holds `shards`: records `pending`, drops pending notifications
    /// that `reads` cover (`(user, conversation, message)`), queues `clears` (and forgets that those
    /// conversations were shown), and moves the shards' cursors to `cursor`. `false` if it lost them.
    #[expect(clippy::too_many_arguments, reason = "one transaction's inputs")]
    async fn decide(
        &self,
        node: &str,
        shards: &[u16],
        cursor: Cursor,
        pending: &[Pending],
        reads: &[(UserId, ConversationId, MessageId)],
        clears: &[NewDelivery],
        now: Millis,
    ) -> StoreResult<bool>;
    /// Every pending notification of the `limit` (user, conversation) pairs of `shards` whose oldest is
    /// due by `now`, oldest due first: a conversation's notifications go out together, the later ones
    /// with the first that is due.
    async fn due(&self, shards: &[u16], now: Millis, limit: u32) -> StoreResult<Vec<Pending>>;
    /// In one transaction, if `node` still holds `shards`: applies what the dispatcher decided (queues the
    /// deliveries, one per subscription of their user, and remembers their conversations as shown).
    async fn dispatch(
        &self,
        node: &str,
        shards: &[u16],
        decided: &Decided,
        now: Millis,
    ) -> StoreResult<bool>;
    /// Deliveries of `shards` to attempt by `now`, at most `limit`.
    async fn deliveries_due(
        &self,
        shards: &[u16],
        now: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    /// Records the outcome of an attempt at a delivery.
    async fn settle(&self, delivery: &Delivery, outcome: &Outcome, now: Millis) -> StoreResult<()>;
    /// The user's unread direct and group conversations and unread mentions.
    async fn badge(&self, user: UserId) -> StoreResult<u32>;
    /// Whether the user wrote in the conversation after `after` (they were there).
    async fn wrote_since(
        &self,
        user: UserId,
        conversation: ConversationId,
        after: MessageId,
    ) -> StoreResult<bool>;
}
