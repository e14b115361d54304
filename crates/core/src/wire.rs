//! Domain to wire: how the use cases present what they found. Only here do ids meet URLs and times meet RFC 3339.

use parley_proto::v1;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::bus::Signal;
use crate::model::{
    Conversation, Event, EventKind, Invite, Member, Message, Millis, Profile, User,
};
use crate::service::Parley;

pub(crate) fn rfc3339(at: Millis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub(crate) fn message(m: &Message) -> v1::Message {
    v1::Message {
        id: m.id,
        conversation_id: m.conversation_id,
        author_id: m.author_id,
        text: m.text.clone(),
        created_at: rfc3339(m.created_at),
        nonce: m.nonce.clone(),
        reactions: m
            .reactions
            .iter()
            .map(|r| v1::Reaction {
                emoji: r.emoji.clone(),
                user_ids: r.user_ids.clone(),
            })
            .collect(),
        deleted: m.deleted,
        removed_by_moderator: m.removed_by_moderator,
        edited_at: m.edited_at.map(rfc3339),
        thread_root_id: m.thread_root_id,
        also_to_conversation: m.also_to_conversation,
        mentions: m.mentions.clone(),
        quote: m.quote,
        reply_count: m.thread.as_ref().map_or(0, |t| t.reply_count),
        last_reply_at: m.thread.as_ref().map(|t| rfc3339(t.last_reply_at)),
        repliers: m
            .thread
            .as_ref()
            .map(|t| t.repliers.clone())
            .unwrap_or_default(),
        attachments: m.attachments.clone(),
    }
}

pub(crate) fn invite(i: &Invite) -> v1::Invite {
    v1::Invite {
        id: i.id,
        org: i.org_handle.clone(),
        created_by: i.created_by,
        created_at: rfc3339(i.created_at),
        expires_at: rfc3339(i.expires_at),
        max_uses: i.max_uses,
        uses: i.uses,
        token: None,
        url: None,
    }
}

pub(crate) fn membership(m: &Member) -> v1::Membership {
    v1::Membership {
        conversation_id: m.conversation_id,
        user_id: m.user_id,
        role: m.role,
        muted: m.muted,
        notify_always: m.notify_always,
        last_read_message_id: m.last_read,
        joined_at: rfc3339(m.joined_at),
    }
}

/// A user object without presence: what anyone of the user's org may see.
fn profile(p: Profile) -> v1::User {
    v1::User {
        id: p.id,
        avatar_url: p
            .avatar_version
            .map(|v| format!("/v1/users/{}/avatar?v={v}", p.id)),
        username: p.username,
        name: p.name,
        org: p.org_handle,
        org_id: p.org_id,
        role: p.role,
        deactivated: p.deactivated,
        presence: None,
    }
}

impl Parley {
    pub(crate) fn user_wire(&self, user: &User) -> v1::User {
        profile(user.profile())
    }

    /// A user with presence: `online` from the bus's registry; `last_seen` from their last login or the end
    /// of their last connection.
    pub(crate) fn user_with_presence_wire(&self, user: &User, online: bool) -> v1::User {
        v1::User {
            presence: Some(v1::Presence {
                online,
                last_seen: user.last_seen.map(rfc3339),
            }),
            ..self.user_wire(user)
        }
    }

    pub(crate) fn conversation_wire(&self, c: &Conversation) -> v1::Conversation {
        v1::Conversation {
            id: c.id,
            kind: c.kind,
            name: c.name.clone(),
            handle: c.handle.clone(),
            topic: c.topic.clone(),
            private: c.private,
            archived: c.archived,
            retention_days: c.retention_days,
            join_url: c.handle.as_ref().map(|h| {
                format!(
                    "{}/v1/join/{h}",
                    self.settings.public_url.trim_end_matches('/')
                )
            }),
            created_by: c.created_by,
            created_at: rfc3339(c.created_at),
            member_count: c.member_count,
            members: None,
            unread_count: None,
            unread_mentions: None,
            last_message: None,
            membership: None,
        }
    }

    /// A bus signal as the WebSocket sends it; `None` for signals that are not for clients.
    pub fn signal_wire(&self, signal: &Signal) -> Option<v1::ServerMessage> {
        Some(match signal {
            Signal::Event(event) => v1::ServerMessage::Event(self.event_wire(event)),
            Signal::Typing {
                conversation_id,
                user_id,
            } => v1::ServerMessage::Frame(v1::ServerFrame::Typing {
                conversation_id: *conversation_id,
                user_id: *user_id,
            }),
            Signal::Presence {
                user_id,
                online,
                last_seen,
            } => v1::ServerMessage::Frame(v1::ServerFrame::PresenceUpdated {
                user_id: *user_id,
                online: *online,
                last_seen: last_seen.map(rfc3339),
            }),
            Signal::UserUpdated { profile: p, .. } => {
                v1::ServerMessage::Frame(v1::ServerFrame::UserUpdated {
                    user: profile(p.clone()),
                })
            }
            Signal::OrgUpdated { settings, .. } => {
                v1::ServerMessage::Frame(v1::ServerFrame::OrgUpdated {
                    settings: settings.clone(),
                })
            }
            Signal::Revoked { .. } => return None,
        })
    }

    /// An event as the WebSocket sends it.
    pub fn event_wire(&self, e: &Event) -> v1::EventFrame {
        let conversation_id = e.conversation_id;
        let event = match &e.kind {
            EventKind::MessageCreated(m) => v1::Event::MessageCreated {
                conversation_id,
                message: message(m),
            },
            EventKind::MessageUpdated(m) => v1::Event::MessageUpdated {
                conversation_id,
                message: message(m),
            },
            EventKind::ThreadUpdated { root_id, thread } => v1::Event::ThreadUpdated {
                conversation_id,
                root_id: *root_id,
                reply_count: thread.reply_count,
                last_reply_at: Some(rfc3339(thread.last_reply_at)),
                repliers: thread.repliers.clone(),
            },
            EventKind::PinAdded {
                message_id,
                user_id,
            } => v1::Event::PinAdded {
                conversation_id,
                message_id: *message_id,
                user_id: *user_id,
            },
            EventKind::PinRemoved {
                message_id,
                user_id,
            } => v1::Event::PinRemoved {
                conversation_id,
                message_id: *message_id,
                user_id: *user_id,
            },
            EventKind::MessageDeleted {
                message_id,
                removed_by_moderator,
            } => v1::Event::MessageDeleted {
                conversation_id,
                message_id: *message_id,
                removed_by_moderator: *removed_by_moderator,
            },
            EventKind::MessageHidden {
                message_id,
                user_id,
            } => v1::Event::MessageHidden {
                conversation_id,
                message_id: *message_id,
                user_id: *user_id,
            },
            EventKind::ReactionAdded {
                message_id,
                user_id,
                emoji,
            } => v1::Event::ReactionAdded {
                conversation_id,
                message_id: *message_id,
                emoji: emoji.clone(),
                user_id: *user_id,
            },
            EventKind::ReactionRemoved {
                message_id,
                user_id,
                emoji,
            } => v1::Event::ReactionRemoved {
                conversation_id,
                message_id: *message_id,
                emoji: emoji.clone(),
                user_id: *user_id,
            },
            EventKind::ReadUpdated {
                user_id,
                message_id,
            } => v1::Event::ReadUpdated {
                conversation_id,
                user_id: *user_id,
                message_id: *message_id,
            },
            EventKind::MemberJoined { user_id } => v1::Event::MemberJoined {
                conversation_id,
                user_id: *user_id,
            },
            EventKind::MemberLeft { user_id, removed } => v1::Event::MemberLeft {
                conversation_id,
                user_id: *user_id,
                removed: *removed,
            },
            EventKind::MemberRoleChanged { user_id, role } => v1::Event::MemberRoleChanged {
                conversation_id,
                user_id: *user_id,
                role: *role,
            },
            EventKind::ConversationCreated(c) => v1::Event::ConversationCreated {
                conversation: self.conversation_wire(c),
            },
            EventKind::ConversationUpdated(c) => v1::Event::ConversationUpdated {
                conversation: self.conversation_wire(c),
            },
            EventKind::ConversationPurged { through } => v1::Event::ConversationPurged {
                conversation_id,
                through: *through,
            },
        };
        v1::EventFrame {
            cursor: e.cursor,
            event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_millis() {
        assert_eq!(rfc3339(Millis(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
