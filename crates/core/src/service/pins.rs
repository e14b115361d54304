//! Pinned messages.

use parley_proto::v1;

use super::{Caller, Parley};
use crate::model::Millis;
use crate::store::StoreError;
use crate::wire;
use crate::{ConversationId, Error, MessageId};

/// Messages pinned in one conversation at most.
pub const MAX_PINS: u32 = 100;

impl Parley {
    /// Any member pins a message of the conversation; pinning it again changes nothing.
    pub async fn pin_message(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> Result<(), Error> {
        self.write_throttle.check(caller.user.id)?;
        self.writable_conversation(caller, conversation_id).await?;
        let message = self
            .conversation_message(conversation_id, message_id)
            .await?;
        if message.deleted {
            return Err(Error::invalid(
                "message_deleted",
                "a deleted message cannot be pinned",
            ));
        }
        match self
            .store
            .pin_message(
                conversation_id,
                message_id,
                caller.user.id,
                MAX_PINS,
                Millis::now(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(Error::Conflict {
                code: "too_many_pins",
                message: format!("a conversation has at most {MAX_PINS} pinned messages"),
            }),
            Err(error) => Err(error.into()),
        }
    }

    /// Any member unpins a message; unpinning one that is not pinned changes nothing.
    pub async fn unpin_message(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> Result<(), Error> {
        self.write_throttle.check(caller.user.id)?;
        self.writable_conversation(caller, conversation_id).await?;
        self.conversation_message(conversation_id, message_id)
            .await?;
        self.store
            .unpin_message(conversation_id, message_id, caller.user.id, Millis::now())
            .await?;
        Ok(())
    }

    /// The conversation's pinned messages, newest pin first.
    pub async fn pins(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
    ) -> Result<Vec<v1::Pin>, Error> {
        self.member_conversation(caller, conversation_id).await?;
        let pins = self.store.pins(conversation_id).await?;
        Ok(pins
            .iter()
            .map(|p| v1::Pin {
                message: wire::message(&p.message),
                pinned_by: p.pinned_by,
                pinned_at: wire::rfc3339(p.pinned_at),
            })
            .collect())
    }
}
