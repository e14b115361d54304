//! Moderating a channel: its settings (name, topic, privacy), archiving it, who its owners and moderators
//! are, removing members and others' messages. `roles.rs` says who may do which; every change is a durable
//! event that open clients see, and every change and refusal is audited.

use parley_proto::v1::{self, AuditKind, ChannelRole, ConversationKind, ConversationPatch, Role};

use super::audit::by;
use super::{Caller, Parley, roles};
use crate::model::{Conversation, Member, Message};
use crate::store::{AuditRecord, ConversationChange};
use crate::{ConversationId, Error, UserId, validate};

/// Refuses writes to an archived conversation.
pub(super) fn unless_archived(conversation: &Conversation) -> Result<(), Error> {
    if conversation.archived {
        return Err(Error::Conflict {
            code: "archived",
            message: "this channel is archived: it is read-only until a moderator brings it back"
                .into(),
        });
    }
    Ok(())
}

/// The audit entry of a moderator's removal of `message`.
pub(super) fn removal_record(caller: &Caller, message: &Message) -> AuditRecord {
    AuditRecord {
        target_user_id: Some(message.author_id),
        target_conversation_id: Some(message.conversation_id),
        detail: Some(format!("message {}", message.id)),
        ..by(caller, AuditKind::MessageRemoved)
    }
}

fn not_moderator() -> Error {
    Error::Denied {
        code: "not_moderator",
        message: "only the channel's owners and moderators, and the organization's administrators, may do this",
    }
}

impl Parley {
    /// Renames a channel, changes its topic or makes it private or public.
    pub async fn update_channel(
        &self,
        caller: &Caller,
        id: ConversationId,
        patch: ConversationPatch,
    ) -> Result<v1::Conversation, Error> {
        if let Some(name) = &patch.name {
            validate::name(name)?;
        }
        if let Some(topic) = &patch.topic {
            validate::topic(topic)?;
        }
        if patch == ConversationPatch::default() {
            return Err(Error::invalid(
                "invalid_input",
                "name, topic or private: give at least one",
            ));
        }
        let mut changed = Vec::new();
        if patch.name.is_some() {
            changed.push("name");
        }
        if patch.topic.is_some() {
            changed.push("topic");
        }
        if let Some(private) = patch.private {
            changed.push(if private {
                "made private"
            } else {
                "made public"
            });
        }
        let record = AuditRecord {
            target_conversation_id: Some(id),
            detail: Some(changed.join(", ")),
            ..by(caller, AuditKind::ChannelUpdated)
        };
        let conversation = self
            .moderated_channel(caller, id, &record, roles::moderates)
            .await?;
        if let Err(error) = unless_archived(&conversation) {
            return self.refuse(record, error).await;
        }
        let change = ConversationChange {
            name: patch.name.map(|n| n.trim().to_owned()),
            topic: patch.topic,
            private: patch.private,
            ..ConversationChange::default()
        };
        self.change_channel(id, change, record).await
    }

    /// Archives a channel (read-only, out of the directory) or brings it back.
    pub async fn archive_channel(
        &self,
        caller: &Caller,
        id: ConversationId,
        archived: bool,
    ) -> Result<v1::Conversation, Error> {
        let record = AuditRecord {
            target_conversation_id: Some(id),
            detail: Some(if archived { "archived" } else { "brought back" }.into()),
            ..by(caller, AuditKind::ChannelUpdated)
        };
        let conversation = self
            .moderated_channel(caller, id, &record, roles::moderates)
            .await?;
        if conversation.archived == archived {
            return Ok(self.conversation_wire(&conversation));
        }
        let change = ConversationChange {
            archived: Some(archived),
            ..ConversationChange::default()
        };
        self.change_channel(id, change, record).await
    }

    pub(super) async fn change_channel(
        &self,
        id: ConversationId,
        change: ConversationChange,
        record: AuditRecord,
    ) -> Result<v1::Conversation, Error> {
        let (conversation, _) = self
            .store
            .update_conversation(id, change)
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        self.audit(record).await;
        Ok(self.conversation_wire(&conversation))
    }

    /// A channel's owners and moderators. Anyone who can see the channel may ask.
    pub async fn channel_roles(
        &self,
        caller: &Caller,
        id: ConversationId,
    ) -> Result<Vec<v1::MemberRole>, Error> {
        self.visible_conversation(caller, id).await?;
        let roles = self.store.member_roles(id).await?;
        Ok(roles
            .into_iter()
            .map(|(user_id, role)| v1::MemberRole { user_id, role })
            .collect())
    }

    /// Makes a member of a channel its owner, a moderator, or a plain member again.
    pub async fn set_channel_role(
        &self,
        caller: &Caller,
        id: ConversationId,
        user_id: UserId,
        role: ChannelRole,
    ) -> Result<v1::MemberRole, Error> {
        let record = AuditRecord {
            target_user_id: Some(user_id),
            target_conversation_id: Some(id),
            detail: Some(format!("to {}", role.as_str())),
            ..by(caller, AuditKind::ChannelRoleChanged)
        };
        self.write_throttle.check(caller.user.id)?;
        let (conversation, membership) = match self.visible_conversation(caller, id).await {
            Ok(found) => found,
            Err(error) => return self.refuse(record, error).await,
        };
        let own_role = membership.map(|m| m.role);
        if conversation.kind != ConversationKind::Channel
            || !roles::names_moderators(caller.user.role, own_role)
        {
            return self.refuse(record, not_moderator()).await;
        }
        match self.store.set_member_role(id, user_id, role).await? {
            Some(_) => {
                self.audit(record).await;
                Ok(v1::MemberRole { user_id, role })
            }
            None => self.refuse(record, Error::NotFound("member")).await,
        }
    }

    /// Removes someone from a channel: a moderator removes plain members, its owners and the
    /// organization's administrators anyone. They can be invited back (or join again, if it is public).
    pub async fn remove_from_channel(
        &self,
        caller: &Caller,
        id: ConversationId,
        user_id: UserId,
    ) -> Result<(), Error> {
        let record = AuditRecord {
            target_user_id: Some(user_id),
            target_conversation_id: Some(id),
            ..by(caller, AuditKind::MemberRemoved)
        };
        let conversation = self
            .moderated_channel(caller, id, &record, roles::moderates)
            .await?;
        let membership = self.store.membership(id, caller.user.id).await?;
        let Some(target) = self.store.membership(id, user_id).await? else {
            return self.refuse(record, Error::NotFound("member")).await;
        };
        if !roles::may_remove(caller.user.role, membership.map(|m| m.role), target.role) {
            return self.refuse(record, not_moderator()).await;
        }
        self.store
            .remove_member(
                id,
                user_id,
                super::conversations::only_to_own_devices(&conversation),
                true,
            )
            .await?;
        self.audit(record).await;
        Ok(())
    }

    /// Refuses (and audits the refusal) unless the caller may delete `message`, someone else's, as a
    /// moderator of its channel.
    pub(super) async fn may_remove_message(
        &self,
        caller: &Caller,
        conversation: &Conversation,
        membership: Option<&Member>,
        message: &Message,
    ) -> Result<(), Error> {
        let moderator = conversation.kind == ConversationKind::Channel
            && roles::moderates(caller.user.role, membership.map(|m| m.role));
        if moderator {
            return Ok(());
        }
        let error =
            Error::Forbidden("only the sender or a moderator can delete a message for everyone");
        self.refuse(removal_record(caller, message), error).await
    }

    /// The channel `id`, if the caller moderates it; every refusal is audited.
    /// The channel, if the caller's roles pass `may` (`roles.rs`); refusals are audited.
    pub(super) async fn moderated_channel(
        &self,
        caller: &Caller,
        id: ConversationId,
        record: &AuditRecord,
        may: fn(Role, Option<ChannelRole>) -> bool,
    ) -> Result<Conversation, Error> {
        self.write_throttle.check(caller.user.id)?;
        let (conversation, membership) = match self.visible_conversation(caller, id).await {
            Ok(found) => found,
            Err(error) => return self.refuse(record.clone(), error).await,
        };
        if conversation.kind != ConversationKind::Channel {
            let error = Error::invalid("not_a_channel", "only channels are moderated");
            return self.refuse(record.clone(), error).await;
        }
        if !may(caller.user.role, membership.map(|m| m.role)) {
            return self.refuse(record.clone(), not_moderator()).await;
        }
        Ok(conversation)
    }
}
