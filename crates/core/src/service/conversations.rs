//! DMs, groups and channels: creating them, listing them, and who is in them.

use std::collections::{BTreeSet, HashMap};

use parley_proto::v1::{self, ConversationKind, CreateConversationRequest, MembershipPatch, Role};

use super::{Caller, Parley};
use crate::model::{Conversation, Millis};
use crate::store::{DirectMessage, NewConversation, StoreError};
use crate::wire;
use crate::{ConversationId, Error, UserId, validate};

/// Conversations up to this size list their members; bigger ones give only `member_count`.
pub const MEMBER_LIST_LIMIT: u32 = 1_000;
/// Most people one request may add (at creation or by invitation).
pub const MAX_ADDED_AT_ONCE: usize = 1_000;
/// Most channels a directory search answers with.
const CHANNEL_SEARCH_LIMIT: u32 = 100;

/// The answer to a create: `Existing` when a DM already linked the pair.
pub enum Created {
    New(v1::Conversation),
    Existing(v1::Conversation),
}

impl Parley {
    pub async fn create_conversation(
        &self,
        caller: &Caller,
        request: CreateConversationRequest,
    ) -> Result<Created, Error> {
        let others = self.other_members(caller, &request.members).await?;
        if request.kind == ConversationKind::Dm {
            return self.direct_message(caller, &request, &others).await;
        }
        let name = request.name.as_deref().map(str::trim).unwrap_or_default();
        validate::name(name)?;
        if let Some(topic) = &request.topic {
            validate::topic(topic)?;
        }
        let channel = request.kind == ConversationKind::Channel;
        if channel && caller.user.role == Role::Guest {
            return Err(guests_have_no_channels());
        }
        if channel {
            let error = Error::Denied {
                code: "channel_creation_restricted",
                message: "in this organization only administrators create channels",
            };
            self.unless_restricted(caller, |s| s.channel_creation, error)
                .await?;
        }
        match (&request.handle, channel) {
            (Some(handle), true) => validate::handle("handle", handle)?,
            (None, true) => {
                return Err(Error::invalid("invalid_handle", "a channel needs a handle"));
            }
            (Some(_), false) => {
                return Err(Error::invalid(
                    "invalid_handle",
                    "only channels have a handle",
                ));
            }
            (None, false) => {}
        }
        if !channel && request.private.is_some() {
            return Err(Error::invalid(
                "invalid_private",
                "only channels can be private",
            ));
        }
        let mut members = vec![caller.user.id];
        members.extend(others);
        let new = NewConversation {
            org_id: caller.user.org_id,
            kind: request.kind,
            name: Some(name),
            handle: request.handle.as_deref(),
            topic: request.topic.as_deref(),
            private: request.private.unwrap_or(false),
            created_by: caller.user.id,
            members: &members,
            now: Millis::now(),
        };
        let (conversation, _) = self
            .store
            .create_conversation(new)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::Conflict {
                    code: "handle_taken",
                    message: "this channel handle is already taken".into(),
                },
                other => Error::Store(other),
            })?;
        Ok(Created::New(self.conversation_wire(&conversation)))
    }

    async fn direct_message(
        &self,
        caller: &Caller,
        request: &CreateConversationRequest,
        others: &[UserId],
    ) -> Result<Created, Error> {
        if request.name.is_some()
            || request.handle.is_some()
            || request.topic.is_some()
            || request.private.is_some()
        {
            return Err(Error::invalid(
                "invalid_dm",
                "a DM has no name, handle, topic or privacy setting",
            ));
        }
        let [other] = others else {
            return Err(Error::invalid(
                "invalid_members",
                "a DM is between you and exactly one other person",
            ));
        };
        let answer = self
            .store
            .direct_message(caller.user.org_id, caller.user.id, *other, Millis::now())
            .await?;
        Ok(match answer {
            DirectMessage::Created(conversation, _) => {
                Created::New(self.conversation_wire(&conversation))
            }
            DirectMessage::Existing(conversation) => {
                Created::Existing(self.conversation_wire(&conversation))
            }
        })
    }

    /// The distinct users besides the caller, each checked to exist in the caller's org.
    async fn other_members(
        &self,
        caller: &Caller,
        user_ids: &[UserId],
    ) -> Result<Vec<UserId>, Error> {
        if user_ids.len() > MAX_ADDED_AT_ONCE {
            return Err(Error::invalid(
                "too_many_members",
                format!("at most {MAX_ADDED_AT_ONCE} people can be added at once"),
            ));
        }
        let distinct: BTreeSet<UserId> = user_ids
            .iter()
            .copied()
            .filter(|id| *id != caller.user.id)
            .collect();
        for user_id in &distinct {
            let user = self.visible_user(caller, *user_id).await?;
            if user.deactivated_at.is_some() {
                return Err(Error::Conflict {
                    code: "user_deactivated",
                    message: format!("{} has been deactivated", user.username),
                });
            }
        }
        Ok(distinct.into_iter().collect())
    }

    /// The caller's conversations, most recent activity first, each with its unread count and last message.
    /// The caller's conversations; a DM comes with its two members, so a client can name it after the other.
    pub async fn conversations(&self, caller: &Caller) -> Result<Vec<v1::Conversation>, Error> {
        let summaries = self.store.conversations_of(caller.user.id).await?;
        let dms: Vec<ConversationId> = summaries
            .iter()
            .filter(|s| s.conversation.kind == ConversationKind::Dm)
            .map(|s| s.conversation.id)
            .collect();
        let mut dm_members: HashMap<ConversationId, Vec<UserId>> =
            self.store.members_of(&dms).await?.into_iter().collect();
        Ok(summaries
            .iter()
            .map(|s| v1::Conversation {
                unread_count: Some(s.unread_count),
                unread_mentions: Some(s.unread_mentions),
                last_message: s.last_message.as_ref().map(wire::message),
                membership: Some(wire::membership(&s.membership)),
                members: dm_members.remove(&s.conversation.id),
                ..self.conversation_wire(&s.conversation)
            })
            .collect())
    }

    /// One conversation, with its member list when it is small enough.
    pub async fn conversation(
        &self,
        caller: &Caller,
        id: ConversationId,
    ) -> Result<v1::Conversation, Error> {
        let (conversation, membership) = self.visible_conversation(caller, id).await?;
        let members = if conversation.member_count <= u64::from(MEMBER_LIST_LIMIT) {
            Some(self.store.member_ids(id, MEMBER_LIST_LIMIT).await?)
        } else {
            None
        };
        Ok(v1::Conversation {
            members,
            membership: membership.as_ref().map(wire::membership),
            ..self.conversation_wire(&conversation)
        })
    }

    /// The org's public channels whose name or handle contains `query`.
    pub async fn channel_directory(
        &self,
        caller: &Caller,
        query: &str,
    ) -> Result<Vec<v1::Conversation>, Error> {
        let query = validate::search_query(query, super::users::MAX_QUERY_CHARS)?;
        if caller.user.role == Role::Guest {
            return Err(guests_have_no_channels());
        }
        let channels = self
            .store
            .public_channels(caller.user.org_id, query, CHANNEL_SEARCH_LIMIT)
            .await?;
        Ok(channels.iter().map(|c| self.conversation_wire(c)).collect())
    }

    /// Joins a public channel; joining one you are in already is fine.
    pub async fn join(
        &self,
        caller: &Caller,
        id: ConversationId,
    ) -> Result<v1::Conversation, Error> {
        let (conversation, membership) = self.visible_conversation(caller, id).await?;
        if membership.is_none() {
            super::moderation::unless_archived(&conversation)?;
            self.store
                .add_members(
                    conversation.id,
                    &[caller.user.id],
                    only_to_own_devices(&conversation),
                    Millis::now(),
                )
                .await?;
        }
        self.conversation(caller, id).await
    }

    /// Joins a public channel by its handle: where a channel's `join_url` leads.
    pub async fn join_by_handle(
        &self,
        caller: &Caller,
        handle: &str,
    ) -> Result<v1::Conversation, Error> {
        // No channel has a handle that breaks the rule, so there is nothing to look up.
        if validate::handle("handle", handle).is_err() {
            return Err(Error::NotFound("conversation"));
        }
        let channel = self
            .store
            .channel_by_handle(caller.user.org_id, handle)
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        self.join(caller, channel.id).await
    }

    /// Adds people to a group or channel the caller is in.
    pub async fn invite(
        &self,
        caller: &Caller,
        id: ConversationId,
        user_ids: &[UserId],
    ) -> Result<(), Error> {
        let (conversation, _) = self.writable_conversation(caller, id).await?;
        if conversation.kind == ConversationKind::Dm {
            return Err(Error::Forbidden(
                "a DM cannot have more members; start a group instead",
            ));
        }
        if user_ids.is_empty() {
            return Err(Error::invalid(
                "invalid_members",
                "user_ids must name at least one person",
            ));
        }
        let others = self.other_members(caller, user_ids).await?;
        self.store
            .add_members(
                id,
                &others,
                only_to_own_devices(&conversation),
                Millis::now(),
            )
            .await?;
        Ok(())
    }

    pub async fn leave(&self, caller: &Caller, id: ConversationId) -> Result<(), Error> {
        let (conversation, _) = self.member_conversation(caller, id).await?;
        self.store
            .remove_member(
                id,
                caller.user.id,
                only_to_own_devices(&conversation),
                false,
            )
            .await?;
        Ok(())
    }

    pub async fn update_membership(
        &self,
        caller: &Caller,
        id: ConversationId,
        patch: MembershipPatch,
    ) -> Result<v1::Membership, Error> {
        self.member_conversation(caller, id).await?;
        let member = self
            .store
            .update_membership(id, caller.user.id, patch)
            .await?;
        Ok(wire::membership(&member))
    }
}

/// Whether news about one member (joining, leaving, reading) goes to that member's own devices only: in a
/// channel of over `MEMBER_LIST_LIMIT` members, telling every member of every join, leave and read would cost
/// more than the messages do.
pub(super) fn only_to_own_devices(conversation: &Conversation) -> bool {
    conversation.kind == ConversationKind::Channel
        && conversation.member_count > u64::from(MEMBER_LIST_LIMIT)
}

fn guests_have_no_channels() -> Error {
    Error::Denied {
        code: "guest_forbidden",
        message: "guests see only the conversations they were added to, and cannot browse or create channels",
    }
}
