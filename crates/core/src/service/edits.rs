//! Editing a message, and its earlier versions.

use parley_proto::v1::{self, Mentions};

use super::{Caller, Parley};
use crate::model::Millis;
use crate::wire;
use crate::{ConversationId, Error, MessageId, validate};

impl Parley {
    /// The author replaces their message's text (and, when given, whom it mentions: members only, the others
    /// dropped and named in the answer); the text it had is kept as an earlier version and every member's
    /// devices get `message.updated`.
    pub async fn edit_message(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
        text: &str,
        mentions: Option<&Mentions>,
    ) -> Result<v1::SentMessage, Error> {
        validate::message_text(text)?;
        self.write_throttle.check(caller.user.id)?;
        self.writable_conversation(caller, conversation_id).await?;
        let message = self
            .conversation_message(conversation_id, message_id)
            .await?;
        if message.author_id != caller.user.id {
            return Err(Error::Forbidden("only the author can edit a message"));
        }
        if message.deleted {
            return Err(deleted());
        }
        let (mentions, dropped_mentions) = match mentions {
            Some(m) => {
                let (kept, dropped) = self.members_mentioned(caller, conversation_id, m).await?;
                (Some(kept), dropped)
            }
            None => (None, Vec::new()),
        };
        if message.text.as_deref() == Some(text)
            && mentions.as_ref().is_none_or(|m| *m == message.mentions)
        {
            return Ok(v1::SentMessage {
                message: wire::message(&message),
                dropped_mentions,
            });
        }
        let (edited, _) = self
            .store
            .edit_message(
                conversation_id,
                message_id,
                text,
                mentions.as_ref(),
                Millis::now(),
            )
            .await?
            .ok_or_else(deleted)?;
        Ok(v1::SentMessage {
            message: wire::message(&edited),
            dropped_mentions,
        })
    }

    /// The earlier versions of a message, oldest first: any member may read them, as on Zulip. A message
    /// deleted for everyone has none left.
    pub async fn message_edits(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> Result<Vec<v1::MessageEdit>, Error> {
        self.member_conversation(caller, conversation_id).await?;
        self.conversation_message(conversation_id, message_id)
            .await?;
        let versions = self.store.message_versions(message_id).await?;
        Ok(versions
            .into_iter()
            .map(|v| v1::MessageEdit {
                text: v.text,
                written_at: wire::rfc3339(v.written_at),
            })
            .collect())
    }
}

fn deleted() -> Error {
    Error::invalid("message_deleted", "a deleted message cannot be edited")
}
