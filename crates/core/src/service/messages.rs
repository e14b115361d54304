//! Sending, reading, reacting to, deleting and searching messages; read checkpoints and receipts.

use parley_proto::v1::{self, Mentions, QuoteRef, Receipt};

use super::{Caller, Parley, moderation};
use crate::model::{Audience, Millis, Page};
use crate::store::{NewMessage, Queued, Sent, StoreError};
use crate::wire;
use crate::{ConversationId, Error, FileId, MessageId, UserId, validate};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;
const SEARCH_LIMIT: u32 = 50;
pub const MAX_SEARCH_CHARS: usize = 256;

/// Who a delete hides the message from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteScope {
    /// Only the caller's own views.
    Me,
    /// Everyone: the sender only; the text is erased.
    Everyone,
}

/// A history request as the client put it.
#[derive(Clone, Copy, Debug, Default)]
pub struct HistoryQuery {
    pub before: Option<MessageId>,
    pub after: Option<MessageId>,
    /// This message and those around it (alone: no `before` or `after`).
    pub around: Option<MessageId>,
    pub limit: Option<u32>,
}

impl HistoryQuery {
    pub(super) fn page(self) -> Result<Page, Error> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "invalid_limit",
                format!("limit must be 1 to {MAX_PAGE}"),
            ));
        }
        Ok(match (self.before, self.after, self.around) {
            (None, None, None) => Page::Latest { limit },
            (Some(id), None, None) => Page::Before { id, limit },
            (None, Some(id), None) => Page::After { id, limit },
            (Some(before), Some(after), None) => Page::Between {
                after,
                before,
                limit,
            },
            (None, None, Some(id)) => Page::Around { id, limit },
            (_, _, Some(_)) => {
                return Err(Error::invalid(
                    "invalid_query",
                    "around takes neither before nor after",
                ));
            }
        })
    }
}

/// A message as its author composed it.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub text: String,
    pub nonce: Option<String>,
    pub mentions: Option<Mentions>,
    pub thread_root_id: Option<MessageId>,
    pub also_to_conversation: bool,
    pub quote: Option<QuoteRef>,
    /// Complete uploads of the author's.
    pub attachments: Vec<FileId>,
}

impl From<v1::SendMessageRequest> for Draft {
    fn from(r: v1::SendMessageRequest) -> Self {
        Draft {
            text: r.text,
            nonce: r.nonce,
            mentions: r.mentions,
            thread_root_id: r.thread_root_id,
            also_to_conversation: r.also_to_conversation.unwrap_or(false),
            quote: r.quote,
            attachments: r.attachments,
        }
    }
}

/// The answer to a send.
pub struct SendOutcome {
    pub message: v1::Message,
    /// Mentioned users who are not members, left out of the message.
    pub dropped_mentions: Vec<UserId>,
    /// The nonce was seen before: `message` is the first one and nothing new was stored.
    pub duplicate: bool,
}

/// A send that passed every check and is queued to the store: its place in its conversation is taken, ahead
/// of any send queued after it (`Store::queue_message`).
pub struct QueuedSend {
    stored: Queued<Sent>,
    dropped_mentions: Vec<UserId>,
}

impl QueuedSend {
    /// Answers once the message is durable; a retry with the same nonce answers the first message and
    /// stores nothing.
    pub async fn durable(self) -> Result<SendOutcome, Error> {
        let stored = self.stored.await.map_err(|error| match error {
            // Attached by a send that was checked at the same time (two pipelined sends of one upload).
            StoreError::Conflict("attachment") => Error::Conflict {
                code: "upload_attached",
                message: "an upload is on a message already".into(),
            },
            other => Error::from(other),
        })?;
        let (message, duplicate) = match stored {
            Sent::Stored(message, _) => {
                metrics::counter!("parley_messages_stored_total").increment(1);
                (message, false)
            }
            Sent::Duplicate(message) => (message, true),
        };
        Ok(SendOutcome {
            message: wire::message(&message),
            dropped_mentions: self.dropped_mentions,
            duplicate,
        })
    }
}

impl Parley {
    /// Stores a message and announces it. Answers only once the message is durable; a retry with the same
    /// nonce answers the first message and stores nothing.
    pub async fn send_message(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        draft: &Draft,
    ) -> Result<SendOutcome, Error> {
        self.queue_message(caller, conversation_id, draft)
            .await?
            .durable()
            .await
    }

    /// Checks a send and queues it to the store, without waiting for it to be durable: a caller that must
    /// keep its sends to a conversation in order (a socket's pipelined ops) may check and queue the next
    /// one as soon as this answers.
    pub async fn queue_message(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        draft: &Draft,
    ) -> Result<QueuedSend, Error> {
        // Text is optional on a message that carries files.
        if draft.attachments.is_empty() || !draft.text.is_empty() {
            validate::message_text(&draft.text)?;
        }
        if let Some(nonce) = &draft.nonce {
            validate::nonce(nonce)?;
        }
        if draft.also_to_conversation && draft.thread_root_id.is_none() {
            return Err(Error::invalid(
                "invalid_input",
                "also_to_conversation is for replies (with thread_root_id)",
            ));
        }
        self.write_throttle.check(caller.user.id)?;
        self.writable_conversation(caller, conversation_id).await?;
        let (mentions, dropped_mentions) = match &draft.mentions {
            Some(m) if !m.is_empty() => self.members_mentioned(caller, conversation_id, m).await?,
            _ => (Mentions::default(), Vec::new()),
        };
        if let Some(root_id) = draft.thread_root_id {
            self.thread_root(conversation_id, root_id).await?;
        }
        if let Some(quote) = draft.quote {
            self.quotable(caller, quote).await?;
        }
        let attachments = self.attachable(caller, &draft.attachments).await?;
        let new = NewMessage {
            conversation_id,
            author_id: caller.user.id,
            text: &draft.text,
            nonce: draft.nonce.as_deref(),
            mentions: &mentions,
            thread_root_id: draft.thread_root_id,
            also_to_conversation: draft.also_to_conversation,
            quote: draft.quote,
            attachments: &attachments,
            now: Millis::now(),
        };
        Ok(QueuedSend {
            stored: self.store.queue_message(new),
            dropped_mentions,
        })
    }

    /// One message (a reply too), as a member of its conversation sees it: for a permalink, or a quote's
    /// card. Not found for anyone who is not a member.
    pub async fn message(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> Result<v1::Message, Error> {
        self.member_conversation(caller, conversation_id)
            .await
            .map_err(|_| Error::NotFound("message"))?;
        let message = self
            .conversation_message(conversation_id, message_id)
            .await?;
        Ok(wire::message(&message))
    }

    /// A quote must refer to a message its sender can see, and that still has its text.
    async fn quotable(&self, caller: &Caller, quote: QuoteRef) -> Result<(), Error> {
        let message = self
            .message(caller, quote.conversation_id, quote.message_id)
            .await?;
        if message.deleted {
            return Err(Error::invalid(
                "message_deleted",
                "a deleted message cannot be quoted",
            ));
        }
        Ok(())
    }

    /// A page of history, oldest first, without what the caller deleted for themselves.
    pub async fn history(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        query: HistoryQuery,
    ) -> Result<Vec<v1::Message>, Error> {
        let mut page = query.page()?;
        self.member_conversation(caller, conversation_id).await?;
        if let Page::Around { id, limit } = page {
            // A permalink: to a message of this conversation; to a reply kept in its thread, its root's place.
            let anchor = self.conversation_message(conversation_id, id).await?;
            if !anchor.in_main_history() {
                let id = anchor.thread_root_id.unwrap_or(id);
                page = Page::Around { id, limit };
            }
        }
        let messages = self
            .store
            .messages(conversation_id, caller.user.id, page)
            .await?;
        Ok(messages.iter().map(wire::message).collect())
    }

    pub async fn delete_message(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
        scope: DeleteScope,
    ) -> Result<(), Error> {
        self.write_throttle.check(caller.user.id)?;
        let (conversation, membership) = self.visible_conversation(caller, conversation_id).await?;
        let message = self
            .conversation_message(conversation_id, message_id)
            .await?;
        let join_first = || Error::Forbidden("join the channel first");
        match scope {
            DeleteScope::Me => {
                membership.as_ref().ok_or_else(join_first)?;
                self.store
                    .hide_message(conversation_id, message_id, caller.user.id)
                    .await?
            }
            DeleteScope::Everyone => {
                let by_moderator = message.author_id != caller.user.id;
                if by_moderator {
                    self.may_remove_message(caller, &conversation, membership.as_ref(), &message)
                        .await?;
                } else {
                    membership.as_ref().ok_or_else(join_first)?;
                }
                // Erased already: nothing to erase again (and no reason to empty the store's log again).
                if message.deleted {
                    return Ok(());
                }
                let erased = self
                    .store
                    .erase_message(conversation_id, message_id, by_moderator)
                    .await?;
                // After the commit: a crash before this leaves records the collector finds.
                let files: Vec<FileId> = message.attachments.iter().map(|a| a.id).collect();
                self.delete_files(&files).await;
                if by_moderator {
                    self.audit(moderation::removal_record(caller, &message))
                        .await;
                }
                erased
            }
        };
        Ok(())
    }

    pub async fn add_reaction(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
        emoji: &str,
    ) -> Result<(), Error> {
        validate::emoji(emoji)?;
        self.write_throttle.check(caller.user.id)?;
        self.writable_conversation(caller, conversation_id).await?;
        let message = self
            .conversation_message(conversation_id, message_id)
            .await?;
        if message.deleted {
            return Err(Error::invalid(
                "message_deleted",
                "a deleted message cannot get reactions",
            ));
        }
        self.store
            .add_reaction(conversation_id, message_id, caller.user.id, emoji)
            .await?;
        Ok(())
    }

    pub async fn remove_reaction(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
        emoji: &str,
    ) -> Result<(), Error> {
        validate::emoji(emoji)?;
        self.write_throttle.check(caller.user.id)?;
        self.writable_conversation(caller, conversation_id).await?;
        self.conversation_message(conversation_id, message_id)
            .await?;
        self.store
            .remove_reaction(conversation_id, message_id, caller.user.id, emoji)
            .await?;
        Ok(())
    }

    /// Moves the caller's read checkpoint forward to `message_id`; an older id changes nothing.
    pub async fn mark_read(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> Result<(), Error> {
        let (conversation, _) = self.member_conversation(caller, conversation_id).await?;
        self.conversation_message(conversation_id, message_id)
            .await?;
        let audience = if super::conversations::only_to_own_devices(&conversation) {
            Audience::User(caller.user.id)
        } else {
            Audience::Members
        };
        self.store
            .advance_read(conversation_id, caller.user.id, message_id, audience)
            .await?;
        Ok(())
    }

    pub async fn receipts(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
    ) -> Result<Vec<Receipt>, Error> {
        self.member_conversation(caller, conversation_id).await?;
        let receipts = self.store.receipts(conversation_id).await?;
        Ok(receipts
            .into_iter()
            .map(|(user_id, message_id)| Receipt {
                user_id,
                message_id,
            })
            .collect())
    }

    /// Full-text search over the conversations the caller is in (or one of them), newest first.
    pub async fn search_messages(
        &self,
        caller: &Caller,
        query: &str,
        conversation_id: Option<ConversationId>,
    ) -> Result<Vec<v1::Message>, Error> {
        let query = query.trim();
        let n = query.chars().count();
        if n == 0 || n > MAX_SEARCH_CHARS || query.chars().any(char::is_control) {
            return Err(Error::invalid(
                "invalid_query",
                format!("q must be 1 to {MAX_SEARCH_CHARS} characters"),
            ));
        }
        if let Some(id) = conversation_id {
            self.member_conversation(caller, id).await?;
        }
        let messages = self
            .store
            .search_messages(caller.user.id, query, conversation_id, SEARCH_LIMIT)
            .await?;
        Ok(messages.iter().map(wire::message).collect())
    }
}
