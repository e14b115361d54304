//! Threads, one level deep as in Slack: replies to a root message, who follows them, and where each follower
//! has read up to.

use parley_proto::v1;

use super::messages::HistoryQuery;
use super::{Caller, Parley};
use crate::model::Message;
use crate::wire;
use crate::{ConversationId, Error, MessageId};

/// Followed threads listed at once.
const THREADS_LISTED: u32 = 50;

impl Parley {
    /// The root a reply names: a message of the same conversation that is not a reply itself, and not
    /// deleted. A root elsewhere is not found, like any message of another conversation.
    pub(super) async fn thread_root(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
    ) -> Result<Message, Error> {
        let root = self.existing_root(conversation_id, root_id).await?;
        if root.deleted {
            return Err(Error::invalid(
                "message_deleted",
                "a deleted message cannot get replies",
            ));
        }
        Ok(root)
    }

    /// A message that can head a thread (deleted or not).
    async fn existing_root(
        &self,
        conversation_id: ConversationId,
        root_id: MessageId,
    ) -> Result<Message, Error> {
        let root = self.conversation_message(conversation_id, root_id).await?;
        if root.thread_root_id.is_some() {
            return Err(Error::invalid(
                "invalid_thread_root",
                "a reply cannot have replies: answer in its thread",
            ));
        }
        Ok(root)
    }

    /// A page of a thread's replies, oldest first, as history pages.
    pub async fn thread(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        root_id: MessageId,
        query: HistoryQuery,
    ) -> Result<Vec<v1::Message>, Error> {
        let page = query.page()?;
        self.member_conversation(caller, conversation_id).await?;
        self.existing_root(conversation_id, root_id).await?;
        let replies = self
            .store
            .thread_replies(conversation_id, root_id, caller.user.id, page)
            .await?;
        Ok(replies.iter().map(wire::message).collect())
    }

    /// Follows a thread, or stops following it (until the caller replies in it or is mentioned there).
    pub async fn follow_thread(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        root_id: MessageId,
        following: bool,
    ) -> Result<(), Error> {
        self.write_throttle.check(caller.user.id)?;
        self.member_conversation(caller, conversation_id).await?;
        self.existing_root(conversation_id, root_id).await?;
        self.store
            .follow_thread(conversation_id, root_id, caller.user.id, following)
            .await?;
        Ok(())
    }

    /// Moves the caller's read checkpoint in a thread forward to one of its replies.
    pub async fn mark_thread_read(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        root_id: MessageId,
        message_id: MessageId,
    ) -> Result<(), Error> {
        self.member_conversation(caller, conversation_id).await?;
        self.existing_root(conversation_id, root_id).await?;
        let reply = self
            .conversation_message(conversation_id, message_id)
            .await?;
        if reply.thread_root_id != Some(root_id) {
            return Err(Error::invalid(
                "invalid_input",
                "message_id is not a reply in this thread",
            ));
        }
        self.store
            .advance_thread_read(conversation_id, root_id, caller.user.id, message_id)
            .await?;
        Ok(())
    }

    /// The threads the caller follows, newest activity first, with their unread replies.
    pub async fn followed_threads(&self, caller: &Caller) -> Result<Vec<v1::ThreadInfo>, Error> {
        let threads = self
            .store
            .followed_threads(caller.user.id, THREADS_LISTED)
            .await?;
        Ok(threads
            .iter()
            .map(|t| v1::ThreadInfo {
                conversation_id: t.root.conversation_id,
                root: wire::message(&t.root),
                unread_replies: t.unread_replies,
                last_read_message_id: t.last_read,
            })
            .collect())
    }
}
