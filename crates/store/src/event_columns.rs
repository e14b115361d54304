//! How an event is kept in the log, the same on both backends: a kind's name and the ids it refers to,
//! never text, and how a row becomes an event again.

use std::collections::{BTreeMap, HashMap};

use parley_core::model::{Audience, Conversation, Event, EventKind, Message, Millis};
use parley_core::proto::v1::ChannelRole;
use parley_core::{ConversationId, Cursor, MessageId, UserId};

/// The log's name for each kind, and the ids each row keeps.
pub(crate) fn columns(
    kind: &EventKind,
) -> (
    &'static str,
    Option<UserId>,
    Option<MessageId>,
    Option<&str>,
) {
    match kind {
        EventKind::MessageCreated(m) => ("message.created", Some(m.author_id), Some(m.id), None),
        EventKind::MessageUpdated(m) => ("message.updated", Some(m.author_id), Some(m.id), None),
        EventKind::ThreadUpdated { root_id, .. } => ("thread.updated", None, Some(*root_id), None),
        EventKind::PinAdded {
            message_id,
            user_id,
        } => ("pin.added", Some(*user_id), Some(*message_id), None),
        EventKind::PinRemoved {
            message_id,
            user_id,
        } => ("pin.removed", Some(*user_id), Some(*message_id), None),
        // The `emoji` column holds an event's one short text: an emoji, a channel role, or a mark.
        EventKind::MessageDeleted {
            message_id,
            removed_by_moderator,
        } => (
            "message.deleted",
            None,
            Some(*message_id),
            removed_by_moderator.then_some(BY_MODERATOR),
        ),
        EventKind::MessageHidden {
            message_id,
            user_id,
        } => ("message.hidden", Some(*user_id), Some(*message_id), None),
        EventKind::ReactionAdded {
            message_id,
            user_id,
            emoji,
        } => (
            "reaction.added",
            Some(*user_id),
            Some(*message_id),
            Some(emoji),
        ),
        EventKind::ReactionRemoved {
            message_id,
            user_id,
            emoji,
        } => (
            "reaction.removed",
            Some(*user_id),
            Some(*message_id),
            Some(emoji),
        ),
        EventKind::ReadUpdated {
            user_id,
            message_id,
        } => ("read.updated", Some(*user_id), Some(*message_id), None),
        EventKind::MemberJoined { user_id } => ("member.joined", Some(*user_id), None, None),
        EventKind::MemberLeft { user_id, removed } => (
            "member.left",
            Some(*user_id),
            None,
            removed.then_some(BY_MODERATOR),
        ),
        EventKind::MemberRoleChanged { user_id, role } => (
            "member.role_changed",
            Some(*user_id),
            None,
            Some(role.as_str()),
        ),
        EventKind::ConversationCreated(c) => {
            ("conversation.created", Some(c.created_by), None, None)
        }
        EventKind::ConversationUpdated(_) => ("conversation.updated", None, None, None),
        EventKind::ConversationPurged { through } => {
            ("conversation.purged", None, Some(*through), None)
        }
    }
}

/// The mark of a `message.deleted` or `member.left` that a moderator did.
const BY_MODERATOR: &str = "moderator";

/// One row of the log, as read back.
pub(crate) struct LoggedEvent {
    pub cursor: Cursor,
    pub conversation_id: ConversationId,
    pub name: String,
    pub user_id: Option<UserId>,
    pub message_id: Option<MessageId>,
    pub emoji: Option<String>,
    pub private_to: Option<UserId>,
    pub at: Millis,
}

impl LoggedEvent {
    /// Whether rebuilding it takes the message it names, as it is now (`messages` of `into_event`).
    pub(crate) fn needs_message(&self) -> bool {
        matches!(
            self.name.as_str(),
            "message.created" | "message.updated" | "thread.updated"
        )
    }

    /// Whether rebuilding it takes its conversation, as it is now (`conversation` of `into_event`).
    pub(crate) fn needs_conversation(&self) -> bool {
        matches!(
            self.name.as_str(),
            "conversation.created" | "conversation.updated"
        )
    }

    /// Rebuilds the event; `None` when what it refers to is gone. A `message.created`, `message.updated`
    /// or `thread.updated` takes its message, as it is now, from `messages`; a `conversation.created` or
    /// `conversation.updated` needs its conversation as it is now.
    pub(crate) fn into_event(
        self,
        messages: &HashMap<MessageId, Message>,
        conversation: Option<Conversation>,
    ) -> Option<Event> {
        let row = self;
        let user = || row.user_id.unwrap_or(UserId(0));
        let message_id = row.message_id.unwrap_or(MessageId(0));
        let kind = match row.name.as_str() {
            "message.created" => EventKind::MessageCreated(messages.get(&message_id)?.clone()),
            "message.updated" => EventKind::MessageUpdated(messages.get(&message_id)?.clone()),
            "thread.updated" => EventKind::ThreadUpdated {
                root_id: message_id,
                thread: messages.get(&message_id)?.thread.clone()?,
            },
            "pin.added" => EventKind::PinAdded {
                message_id,
                user_id: user(),
            },
            "pin.removed" => EventKind::PinRemoved {
                message_id,
                user_id: user(),
            },
            "message.deleted" => EventKind::MessageDeleted {
                message_id,
                removed_by_moderator: row.emoji.as_deref() == Some(BY_MODERATOR),
            },
            "message.hidden" => EventKind::MessageHidden {
                message_id,
                user_id: user(),
            },
            "reaction.added" => EventKind::ReactionAdded {
                message_id,
                user_id: user(),
                emoji: row.emoji.unwrap_or_default(),
            },
            "reaction.removed" => EventKind::ReactionRemoved {
                message_id,
                user_id: user(),
                emoji: row.emoji.unwrap_or_default(),
            },
            "read.updated" => EventKind::ReadUpdated {
                user_id: user(),
                message_id,
            },
            "member.joined" => EventKind::MemberJoined { user_id: user() },
            "member.left" => EventKind::MemberLeft {
                user_id: user(),
                removed: row.emoji.as_deref() == Some(BY_MODERATOR),
            },
            "member.role_changed" => EventKind::MemberRoleChanged {
                user_id: user(),
                role: ChannelRole::parse(row.emoji.as_deref().unwrap_or_default())?,
            },
            "conversation.created" => EventKind::ConversationCreated(conversation?),
            "conversation.updated" => EventKind::ConversationUpdated(conversation?),
            "conversation.purged" => EventKind::ConversationPurged {
                through: message_id,
            },
            _ => return None,
        };
        let audience = row.private_to.map_or(Audience::Members, Audience::User);
        Some(Event {
            cursor: row.cursor,
            conversation_id: row.conversation_id,
            kind,
            audience,
            at: row.at,
        })
    }
}

/// The first `limit` events after a cursor, gathered source by source (each of a user's conversations, their
/// private events, their leavings), each read by index in cursor order. By cursor, so a leaving also seen
/// in a conversation the user is back in counts once. Once `limit` are in hand, later sources need only be
/// read `up_to` the last of them, so a page reads about `limit` rows however many conversations there are.
pub(crate) struct Merge {
    rows: BTreeMap<Cursor, LoggedEvent>,
    limit: usize,
}

impl Merge {
    pub(crate) fn new(limit: u32) -> Self {
        Merge {
            rows: BTreeMap::new(),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        }
    }

    /// The highest cursor a source still needs to be read to.
    pub(crate) fn up_to(&self) -> i64 {
        match self.rows.last_key_value() {
            Some((cursor, _)) if self.rows.len() >= self.limit => cursor.0,
            _ => i64::MAX,
        }
    }

    pub(crate) fn take(&mut self, found: Vec<LoggedEvent>) {
        for row in found {
            self.rows.insert(row.cursor, row);
        }
        while self.rows.len() > self.limit {
            self.rows.pop_last();
        }
    }

    pub(crate) fn into_rows(self) -> Vec<LoggedEvent> {
        self.rows.into_values().collect()
    }
}
