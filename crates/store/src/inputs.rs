//! Owned copies of the trait's borrowed inputs, the same for both backends: a write runs later, on the
//! writer (a thread or a task), and may run twice (a batch rerun in savepoints), so it keeps its own copy.

use parley_core::model::{Message, Millis};
use parley_core::proto::v1::{Attachment, ConversationKind, Mentions, QuoteRef};
use parley_core::store::{self as core_store, OrgPolicy};
use parley_core::{ConversationId, MessageId, OrgId, UserId};

#[derive(Clone)]
pub(crate) struct NewUser {
    pub org_handle: String,
    pub org_policy: OrgPolicy,
    pub username: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub now: Millis,
}

impl From<core_store::NewUser<'_>> for NewUser {
    fn from(new: core_store::NewUser<'_>) -> Self {
        NewUser {
            org_handle: new.org_handle.to_owned(),
            org_policy: new.org_policy,
            username: new.username.to_owned(),
            email: new.email.to_owned(),
            name: new.name.to_owned(),
            password_hash: new.password_hash.to_owned(),
            now: new.now,
        }
    }
}

#[derive(Clone)]
pub(crate) struct NewSsoUser {
    pub org_id: OrgId,
    pub issuer: String,
    pub subject: String,
    pub username: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub now: Millis,
}

impl From<core_store::NewSsoUser<'_>> for NewSsoUser {
    fn from(new: core_store::NewSsoUser<'_>) -> Self {
        NewSsoUser {
            org_id: new.org_id,
            issuer: new.issuer.to_owned(),
            subject: new.subject.to_owned(),
            username: new.username.to_owned(),
            email: new.email.to_owned(),
            name: new.name.to_owned(),
            password_hash: new.password_hash.to_owned(),
            now: new.now,
        }
    }
}

#[derive(Clone)]
pub(crate) struct NewConversation {
    pub org_id: OrgId,
    pub kind: ConversationKind,
    pub name: Option<String>,
    pub handle: Option<String>,
    pub topic: Option<String>,
    pub private: bool,
    /// "low:high" user ids of a DM, so a pair has at most one.
    pub dm_key: Option<String>,
    pub created_by: UserId,
    pub members: Vec<UserId>,
    pub now: Millis,
}

impl From<core_store::NewConversation<'_>> for NewConversation {
    fn from(new: core_store::NewConversation<'_>) -> Self {
        NewConversation {
            org_id: new.org_id,
            kind: new.kind,
            name: new.name.map(str::to_owned),
            handle: new.handle.map(str::to_owned),
            topic: new.topic.map(str::to_owned),
            private: new.private,
            dm_key: None,
            created_by: new.created_by,
            members: new.members.to_vec(),
            now: new.now,
        }
    }
}

impl NewConversation {
    /// The DM between two users, created by `a`.
    pub(crate) fn direct(org_id: OrgId, a: UserId, b: UserId, now: Millis) -> Self {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        NewConversation {
            org_id,
            kind: ConversationKind::Dm,
            name: None,
            handle: None,
            topic: None,
            private: true,
            dm_key: Some(format!("{low}:{high}")),
            created_by: a,
            members: vec![low, high],
            now,
        }
    }
}

#[derive(Clone)]
pub(crate) struct NewMessage {
    pub conversation_id: ConversationId,
    pub author_id: UserId,
    pub text: String,
    pub nonce: Option<String>,
    /// Mentions, thread, quote and attachments, for the few messages that have any: a plain send carries no more than
    /// it did before them.
    pub extras: Option<Box<Extras>>,
    pub now: Millis,
}

/// What a message may have besides its text.
#[derive(Clone)]
pub(crate) struct Extras {
    pub mentions: Mentions,
    pub thread_root_id: Option<MessageId>,
    pub also_to_conversation: bool,
    pub quote: Option<QuoteRef>,
    pub attachments: Vec<Attachment>,
}

impl From<core_store::NewMessage<'_>> for NewMessage {
    fn from(new: core_store::NewMessage<'_>) -> Self {
        let extras = (!new.is_plain()).then(|| {
            Box::new(Extras {
                mentions: new.mentions.clone(),
                thread_root_id: new.thread_root_id,
                also_to_conversation: new.also_to_conversation && new.thread_root_id.is_some(),
                quote: new.quote,
                attachments: new.attachments.to_vec(),
            })
        });
        NewMessage {
            conversation_id: new.conversation_id,
            author_id: new.author_id,
            text: new.text.to_owned(),
            nonce: new.nonce.map(str::to_owned),
            extras,
            now: new.now,
        }
    }
}

impl NewMessage {
    /// The message as stored under `id`.
    pub(crate) fn stored(&self, id: MessageId) -> Message {
        let extras = self.extras.as_deref();
        Message {
            id,
            conversation_id: self.conversation_id,
            author_id: self.author_id,
            text: Some(self.text.clone()),
            nonce: self.nonce.clone(),
            created_at: self.now,
            deleted: false,
            removed_by_moderator: false,
            reactions: Vec::new(),
            edited_at: None,
            thread_root_id: extras.and_then(|e| e.thread_root_id),
            also_to_conversation: extras.is_some_and(|e| e.also_to_conversation),
            mentions: extras.map(|e| e.mentions.clone()).unwrap_or_default(),
            quote: extras.and_then(|e| e.quote),
            thread: None,
            attachments: extras.map(|e| e.attachments.clone()).unwrap_or_default(),
        }
    }

    /// Who follows the thread once this reply is in, besides those who follow it already: the replier
    /// and whoever the reply mentions, even if they had stopped following it.
    pub(crate) fn new_followers(&self) -> Vec<UserId> {
        let mut followers = vec![self.author_id];
        if let Some(extras) = &self.extras {
            followers.extend(
                extras
                    .mentions
                    .user_ids
                    .iter()
                    .filter(|&&id| id != self.author_id),
            );
        }
        followers
    }
}
