//! Turns a conversation's pending notifications, once the oldest waited out its delay, into deliveries:
//! one notification per user and conversation (saying how many messages), to each of the user's
//! subscriptions. Unless the
//! messages were read meanwhile or the user wrote there since (they were at their desk), in which case
//! nobody is buzzed; in quiet hours they wait until the hours end.

use std::collections::HashMap;

use parley_proto::v1::{Notification, NotificationSender};

use super::follower::tag;
use super::quiet_hours::held_until;
use crate::model::{Conversation, Message, Millis, User};
use crate::service::Parley;
use crate::store::{Decided, NewDelivery, Pending};
use crate::{ConversationId, Error, MessageId, OrgId, UserId};

/// Conversations (of a user) dispatched at once.
const BATCH: u32 = 1000;
/// Batches one round dispatches at most, so that a round always ends.
const ROUNDS: usize = 64;
/// The most of a message's text a push carries.
pub const PREVIEW_CHARS: usize = 200;

impl Parley {
    /// Dispatches what is due on the given shards, batch after batch, until nothing due is left.
    pub(super) async fn dispatch_due(&self, node: &str, shards: &[u16]) -> Result<(), Error> {
        for _ in 0..ROUNDS {
            let now = Millis::now();
            let due = self.store.due(shards, now, BATCH).await?;
            if due.is_empty() {
                return Ok(());
            }
            let decided = self.decide_due(due, now).await?;
            if !self.store.dispatch(node, shards, &decided, now).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn decide_due(&self, due: Vec<Pending>, now: Millis) -> Result<Decided, Error> {
        let mut groups: HashMap<(UserId, ConversationId), Vec<Pending>> = HashMap::new();
        for pending in due {
            groups
                .entry((pending.user_id, pending.conversation_id))
                .or_default()
                .push(pending);
        }
        let mut context = Context::default();
        let mut decided = Decided::default();
        for ((user, conversation), group) in groups {
            let all: Vec<(UserId, MessageId)> =
                group.iter().map(|p| (user, p.message_id)).collect();
            let unread: Vec<&Pending> = group.iter().filter(|p| !p.read).collect();
            let (Some(first), Some(newest)) = (
                unread.iter().map(|p| p.message_id).min(),
                unread.iter().max_by_key(|p| p.message_id),
            ) else {
                decided.done.extend(all);
                continue;
            };
            if let Some(until) = self.quiet_until(user, now).await? {
                decided.held.extend(all.iter().map(|&(u, m)| (u, m, until)));
                continue;
            }
            decided.done.extend(all);
            if self.store.wrote_since(user, conversation, first).await? {
                continue;
            }
            let Some(delivery) = self
                .notification(&mut context, user, newest, unread.len())
                .await?
            else {
                continue;
            };
            decided.deliveries.push(delivery);
        }
        Ok(decided)
    }

    async fn quiet_until(&self, user: UserId, now: Millis) -> Result<Option<Millis>, Error> {
        Ok(self
            .store
            .quiet_hours(user)
            .await?
            .and_then(|hours| held_until(&hours, now)))
    }

    /// The notification of `count` unread messages, the newest being `newest`; `None` if its message or
    /// conversation is gone.
    async fn notification(
        &self,
        context: &mut Context,
        user: UserId,
        newest: &Pending,
        count: usize,
    ) -> Result<Option<NewDelivery>, Error> {
        let Some(message) = context.message(self, newest).await? else {
            return Ok(None);
        };
        let Some(conversation) = context.conversation(self, newest.conversation_id).await? else {
            return Ok(None);
        };
        let sender = context.user(self, message.author_id).await?;
        let previews = context.previews(self, conversation.org_id).await?;
        let badge = self.store.badge(user).await?;
        let id = format!("m{}-u{}", message.id.0, user.0);
        let payload = Notification::Message {
            v: 1,
            id: id.clone(),
            tag: tag(conversation.id),
            conversation_id: conversation.id,
            message_id: message.id,
            conversation_kind: conversation.kind,
            conversation_name: conversation.name.clone(),
            sender: NotificationSender {
                id: message.author_id,
                name: sender.map(|u| u.name).unwrap_or_default(),
            },
            text: previews.then(|| preview(&message)),
            count: u32::try_from(count).unwrap_or(u32::MAX),
            badge,
        };
        Ok(Some(NewDelivery {
            user_id: user,
            conversation_id: conversation.id,
            message_id: Some(message.id),
            notification_id: id,
            payload: serde_json::to_string(&payload).unwrap_or_default(),
            topic: tag(conversation.id),
            urgency: "high",
            sent_at: newest.sent_at,
        }))
    }
}

/// The start of a message's text, or the name of its first file.
fn preview(message: &Message) -> String {
    let text = message.text.as_deref().unwrap_or_default();
    if let (true, Some(file)) = (text.is_empty(), message.attachments.first()) {
        return format!("📎 {}", file.name);
    }
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// What one batch looked up, so a message to thousands is read once.
#[derive(Default)]
struct Context {
    messages: HashMap<MessageId, Option<Message>>,
    conversations: HashMap<ConversationId, Option<Conversation>>,
    users: HashMap<UserId, Option<User>>,
    previews: HashMap<OrgId, bool>,
}

impl Context {
    async fn message(&mut self, parley: &Parley, p: &Pending) -> Result<Option<Message>, Error> {
        if let Some(found) = self.messages.get(&p.message_id) {
            return Ok(found.clone());
        }
        let found = parley
            .store
            .message(p.conversation_id, p.message_id)
            .await?
            .filter(|m| !m.deleted);
        self.messages.insert(p.message_id, found.clone());
        Ok(found)
    }

    async fn conversation(
        &mut self,
        parley: &Parley,
        id: ConversationId,
    ) -> Result<Option<Conversation>, Error> {
        if let Some(found) = self.conversations.get(&id) {
            return Ok(found.clone());
        }
        let found = parley.store.conversation(id).await?;
        self.conversations.insert(id, found.clone());
        Ok(found)
    }

    async fn user(&mut self, parley: &Parley, id: UserId) -> Result<Option<User>, Error> {
        if let Some(found) = self.users.get(&id) {
            return Ok(found.clone());
        }
        let found = parley.store.user(id).await?;
        self.users.insert(id, found.clone());
        Ok(found)
    }

    async fn previews(&mut self, parley: &Parley, org: OrgId) -> Result<bool, Error> {
        if let Some(&on) = self.previews.get(&org) {
            return Ok(on);
        }
        let on = parley.store.push_previews(org).await?;
        self.previews.insert(org, on);
        Ok(on)
    }
}
