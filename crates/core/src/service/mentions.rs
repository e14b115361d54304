//! Mentions: who a message names, kept as data, and the messages that mention me.

use parley_proto::v1::{self, Mentions};

use super::messages::{DEFAULT_PAGE, MAX_PAGE};
use super::{Caller, Parley};
use crate::wire;
use crate::{ConversationId, Error, MessageId, UserId};

/// Users one message may mention by id.
pub const MAX_MENTIONS: usize = 50;

impl Parley {
    /// The mentions a send or an edit keeps: users of the caller's org who are members of the conversation.
    /// Members of the org who are not in the conversation are dropped (and returned, so the author can be
    /// told); an id that is no user of the org is an error, the same for one that does not exist.
    pub(super) async fn members_mentioned(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        asked: &Mentions,
    ) -> Result<(Mentions, Vec<UserId>), Error> {
        if asked.user_ids.len() > MAX_MENTIONS {
            return Err(Error::invalid(
                "invalid_mentions",
                format!("a message mentions at most {MAX_MENTIONS} people"),
            ));
        }
        if asked.channel || asked.here {
            self.may_mention_everyone(caller, conversation_id).await?;
        }
        let mut asked_ids = asked.user_ids.clone();
        asked_ids.sort_unstable();
        asked_ids.dedup();
        let users = self.store.users(&asked_ids).await?;
        if users.len() != asked_ids.len() || users.iter().any(|u| u.org_id != caller.user.org_id) {
            return Err(Error::invalid(
                "unknown_user",
                "mentions name someone who is not a user of your organization",
            ));
        }
        let members = self
            .store
            .members_among(conversation_id, &asked_ids)
            .await?;
        // In the order the author wrote them, once each.
        let mut kept = Vec::with_capacity(members.len());
        let mut dropped = Vec::new();
        for &id in &asked.user_ids {
            if kept.contains(&id) || dropped.contains(&id) {
                continue;
            }
            if members.contains(&id) {
                kept.push(id);
            } else {
                dropped.push(id);
            }
        }
        let mentions = Mentions {
            user_ids: kept,
            channel: asked.channel,
            here: asked.here,
        };
        Ok((mentions, dropped))
    }

    /// Recent messages that mention the caller (by name, `@channel` or `@here`), newest first.
    pub async fn mentions(
        &self,
        caller: &Caller,
        before: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<Vec<v1::Message>, Error> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "invalid_limit",
                format!("limit must be 1 to {MAX_PAGE}"),
            ));
        }
        let found = self
            .store
            .mentions_of(caller.user.id, before, limit)
            .await?;
        Ok(found.iter().map(wire::message).collect())
    }
}
