//! Domain types, as the store keeps them and the use cases reason about them. Events and what they carry
//! derive serde because a cluster's bus carries them between nodes; they are not the wire format (`wire.rs`).

use parley_proto::v1::{
    Attachment, ChannelRole, ConversationKind, Mentions, QuoteRef, Role, Thumbnail,
};
use serde::{Deserialize, Serialize};

use crate::{ConversationId, Cursor, FileId, InviteId, MessageId, OrgId, UserId};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Millis(pub i64);

impl Millis {
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub org_handle: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// When an administrator deactivated the account; `None` while it is active.
    pub deactivated_at: Option<Millis>,
    /// Bumped on each upload, so avatar URLs change when the picture does.
    pub avatar_version: Option<i64>,
    pub last_seen: Option<Millis>,
    pub created_at: Millis,
}

impl User {
    /// What the user's org may see of them, as a profile change carries it over the bus.
    pub fn profile(&self) -> Profile {
        Profile {
            id: self.id,
            org_id: self.org_id,
            org_handle: self.org_handle.clone(),
            username: self.username.clone(),
            name: self.name.clone(),
            role: self.role,
            deactivated: self.deactivated_at.is_some(),
            avatar_version: self.avatar_version,
        }
    }
}

/// A user as others see them: no email, no times. Serde because `Signal::UserUpdated` carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: UserId,
    pub org_id: OrgId,
    pub org_handle: String,
    pub username: String,
    pub name: String,
    pub role: Role,
    pub deactivated: bool,
    pub avatar_version: Option<i64>,
}

/// A live session: whose it is, and the times its expiry is counted from.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub user: User,
    pub created_at: Millis,
    /// When it was last used, to the precision the use cases keep it (they do not write on every request).
    pub last_used: Millis,
}

/// An invitation to sign up into an organization. Only the SHA-256 of its token is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Invite {
    pub id: InviteId,
    pub org_id: OrgId,
    pub org_handle: String,
    pub created_by: UserId,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub max_uses: u32,
    pub uses: u32,
}

impl Invite {
    /// Whether someone may still sign up with it at `now`.
    pub fn is_usable(&self, now: Millis) -> bool {
        self.uses < self.max_uses && now < self.expires_at
    }
}

/// What a login compares against.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub password_hash: String,
    /// A deactivated account's password still proves who it is, but logs nobody in.
    pub deactivated: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub org_id: OrgId,
    pub kind: ConversationKind,
    pub name: Option<String>,
    pub handle: Option<String>,
    pub topic: Option<String>,
    pub private: bool,
    /// Read-only, and out of the directory.
    pub archived: bool,
    /// A channel's own retention in days (0: for ever); `None` follows its organization's.
    #[serde(default)]
    pub retention_days: Option<u32>,
    pub created_by: UserId,
    pub created_at: Millis,
    pub member_count: u64,
}

impl Conversation {
    /// Whether anyone of the org may find and join it without an invitation.
    pub fn is_public_channel(&self) -> bool {
        self.kind == ConversationKind::Channel && !self.private
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub role: ChannelRole,
    pub muted: bool,
    pub notify_always: bool,
    pub last_read: Option<MessageId>,
    pub joined_at: Millis,
}

/// One entry of a user's conversation list.
#[derive(Clone, Debug)]
pub struct ConversationSummary {
    pub conversation: Conversation,
    pub membership: Member,
    pub unread_count: u64,
    /// Unread messages that mention the member, by name, `@channel` or `@here`.
    pub unread_mentions: u64,
    pub last_message: Option<Message>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub author_id: UserId,
    /// `None` once deleted for everyone: the text is gone from storage.
    pub text: Option<String>,
    pub nonce: Option<String>,
    pub created_at: Millis,
    pub deleted: bool,
    /// Deleted by a moderator rather than its author.
    pub removed_by_moderator: bool,
    pub reactions: Vec<Reaction>,
    pub edited_at: Option<Millis>,
    /// On a reply: the thread's first message.
    pub thread_root_id: Option<MessageId>,
    /// On a reply: it shows in the main history too.
    pub also_to_conversation: bool,
    pub mentions: Mentions,
    pub quote: Option<QuoteRef>,
    /// On a thread's root that has replies.
    pub thread: Option<ThreadSummary>,
    /// The files it carries, in order; none once deleted.
    pub attachments: Vec<Attachment>,
}

impl Message {
    /// Whether it belongs in the conversation's main history (not a reply kept to its thread).
    pub fn in_main_history(&self) -> bool {
        self.thread_root_id.is_none() || self.also_to_conversation
    }
}

/// A thread's counters, kept on its root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadSummary {
    pub reply_count: u32,
    pub last_reply_at: Millis,
    /// The first few repliers, in the order they first replied.
    pub repliers: Vec<UserId>,
}

/// How many repliers a root keeps.
pub const ROOT_REPLIERS: usize = 3;

/// A thread a user follows, with where they read up to in it.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowedThread {
    pub root: Message,
    pub last_read: Option<MessageId>,
    pub unread_replies: u64,
}

/// A pinned message.
#[derive(Clone, Debug, PartialEq)]
pub struct PinnedMessage {
    pub message: Message,
    pub pinned_by: UserId,
    pub pinned_at: Millis,
}

/// An earlier version of an edited message.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageVersion {
    pub text: String,
    pub written_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub user_ids: Vec<UserId>,
}

/// A durable change, at its position in the event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub cursor: Cursor,
    pub conversation_id: ConversationId,
    pub kind: EventKind,
    pub audience: Audience,
    /// When it was committed (the writer's clock): the start of its delivery latency.
    pub at: Millis,
}

/// Who may see an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    /// Every member of its conversation.
    Members,
    /// One user's own devices only (a delete for me; a read marker in a very large channel).
    User(UserId),
}

impl Audience {
    /// Who hears news about one member (joining, leaving): everyone, or that member's own devices only.
    pub fn about(user_id: UserId, own_devices_only: bool) -> Self {
        if own_devices_only {
            Audience::User(user_id)
        } else {
            Audience::Members
        }
    }
}

/// The log keeps references (ids), not copies: a message deleted for everyone replays as a tombstone, so the
/// text is never kept anywhere once erased.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    MessageCreated(Message),
    /// Edited: the message as it is now.
    MessageUpdated(Message),
    /// A thread's root, with its counters as they are now.
    ThreadUpdated {
        root_id: MessageId,
        thread: ThreadSummary,
    },
    PinAdded {
        message_id: MessageId,
        user_id: UserId,
    },
    PinRemoved {
        message_id: MessageId,
        user_id: UserId,
    },
    MessageDeleted {
        message_id: MessageId,
        removed_by_moderator: bool,
    },
    /// Deleted for one user only; its audience is that user's own devices.
    MessageHidden {
        message_id: MessageId,
        user_id: UserId,
    },
    ReactionAdded {
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
    },
    ReactionRemoved {
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
    },
    ReadUpdated {
        user_id: UserId,
        message_id: MessageId,
    },
    MemberJoined {
        user_id: UserId,
    },
    MemberLeft {
        user_id: UserId,
        /// A moderator removed them.
        removed: bool,
    },
    MemberRoleChanged {
        user_id: UserId,
        role: ChannelRole,
    },
    ConversationCreated(Conversation),
    /// The conversation as it is now.
    ConversationUpdated(Conversation),
    /// The retention purge deleted the conversation's messages up to `through` (a thread's first message
    /// whose replies go on stays, erased).
    ConversationPurged {
        through: MessageId,
    },
}

/// Which page of history to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// The newest `limit` messages.
    Latest { limit: u32 },
    /// The `limit` messages just before this id.
    Before { id: MessageId, limit: u32 },
    /// The `limit` messages just after this id.
    After { id: MessageId, limit: u32 },
    /// Between two ids, exclusive, oldest first, at most `limit`.
    Between {
        after: MessageId,
        before: MessageId,
        limit: u32,
    },
    /// This id and the messages around it: up to `limit` in all, about half on each side.
    Around { id: MessageId, limit: u32 },
}

/// An upload, and the file it becomes once complete and attached.
#[derive(Clone, Debug, PartialEq)]
pub struct FileRecord {
    pub id: FileId,
    pub org_id: OrgId,
    pub owner_id: UserId,
    /// Already made safe (`validate::file_name`).
    pub name: String,
    /// Declared while pending, counted once complete.
    pub size: u64,
    pub state: FileState,
    /// Recognised from the content once complete.
    pub content_type: Option<String>,
    pub sha256: Option<[u8; 32]>,
    pub image: ImageState,
    /// The message it is attached to.
    pub message: Option<(ConversationId, MessageId)>,
    pub created_at: Millis,
}

impl FileRecord {
    /// As a message shows it.
    pub fn attachment(&self) -> Attachment {
        let ready = match self.image {
            ImageState::Ready {
                width,
                height,
                thumbnail,
                ..
            } => Some((width, height, thumbnail)),
            _ => None,
        };
        Attachment {
            id: self.id,
            name: self.name.clone(),
            size: self.size,
            content_type: self
                .content_type
                .clone()
                .unwrap_or_else(|| OCTET_STREAM.to_owned()),
            width: ready.map(|r| r.0),
            height: ready.map(|r| r.1),
            thumbnail: ready.map(|r| r.2),
        }
    }
}

/// The content type of bytes nobody recognised.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Where an upload stands. Stored as its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Waiting for its bytes.
    Pending = 0,
    /// Checked, not yet on a message.
    Complete = 1,
    /// On a message.
    Attached = 2,
    /// Its message was deleted, or the upload cancelled: its objects are to be deleted, then the record.
    Erased = 3,
}

impl FileState {
    pub fn from_number(n: i64) -> Option<FileState> {
        [
            FileState::Pending,
            FileState::Complete,
            FileState::Attached,
            FileState::Erased,
        ]
        .into_iter()
        .find(|state| *state as i64 == n)
    }
}

/// What is known of a file as a picture. Stored as `image_state` (`number`) with its sizes (`sizes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageState {
    /// Not a picture this server decodes.
    NotImage,
    /// A picture whose size and preview are still to be made.
    Pending,
    /// Decoded: its size, and its preview's (a PNG where the picture is transparent, a JPEG otherwise).
    Ready {
        width: u32,
        height: u32,
        thumbnail: Thumbnail,
        thumbnail_png: bool,
    },
    /// Claims to be a picture, but did not decode under the limits (a decompression bomb, say): served as
    /// a download only.
    Refused,
}

impl ImageState {
    pub fn number(&self) -> i64 {
        match self {
            ImageState::NotImage => 0,
            ImageState::Pending => 1,
            ImageState::Ready {
                thumbnail_png: false,
                ..
            } => 2,
            ImageState::Refused => 3,
            ImageState::Ready {
                thumbnail_png: true,
                ..
            } => 4,
        }
    }

    /// Back from the stored number and sizes (`[width, height, thumbnail width, thumbnail height]`).
    pub fn from_stored(number: i64, sizes: [Option<i64>; 4]) -> ImageState {
        let size = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
        match (number, sizes.map(size)) {
            (1, _) => ImageState::Pending,
            (2 | 4, [Some(width), Some(height), Some(tw), Some(th)]) => ImageState::Ready {
                width,
                height,
                thumbnail: Thumbnail {
                    width: tw,
                    height: th,
                },
                thumbnail_png: number == 4,
            },
            (3, _) => ImageState::Refused,
            _ => ImageState::NotImage,
        }
    }

    /// The stored sizes: `[width, height, thumbnail width, thumbnail height]`.
    pub fn sizes(&self) -> [Option<i64>; 4] {
        match *self {
            ImageState::Ready {
                width,
                height,
                thumbnail,
                ..
            } => [width, height, thumbnail.width, thumbnail.height].map(|n| Some(i64::from(n))),
            _ => [None; 4],
        }
    }
}
