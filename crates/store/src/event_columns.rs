//! How an event is kept in the log, the same on both backends: a kind's name and the ids it refers to,
//! never text, and how a row becomes an event again.

use std::collections::HashMap;

use parley_core::model::{Audience, Conversation, Event, EventKind, Message, Millis};
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
        EventKind::MessageDeleted { message_id } => {
            ("message.deleted", None, Some(*message_id), None)
        }
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
        EventKind::MemberLeft { user_id } => ("member.left", Some(*user_id), None, None),
        EventKind::ConversationCreated(c) => {
            ("conversation.created", Some(c.created_by), None, None)
        }
    }
}

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
    /// Rebuilds the event; `None` when what it refers to is gone. A `message.created` takes its message
    /// from `messages`; a `conversation.created` needs its conversation as it is now.
    pub(crate) fn into_event(
        self,
        messages: &mut HashMap<MessageId, Message>,
        conversation: Option<Conversation>,
    ) -> Option<Event> {
        let row = self;
        let user = || row.user_id.unwrap_or(UserId(0));
        let message_id = row.message_id.unwrap_or(MessageId(0));
        let kind = match row.name.as_str() {
            "message.created" => match messages.remove(&message_id) {
                Some(m) => EventKind::MessageCreated(m),
                None => return None,
            },
            "message.deleted" => EventKind::MessageDeleted { message_id },
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
            "member.left" => EventKind::MemberLeft { user_id: user() },
            "conversation.created" => EventKind::ConversationCreated(conversation?),
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
