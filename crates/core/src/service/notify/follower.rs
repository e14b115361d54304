//! Follows the log for the shards a node holds: decides who is told of each message and records it as
//! pending, and turns each read into a clear for the reader's other devices, moving the shards' cursors
//! in the same transaction.

use std::collections::BTreeMap;

use parley_proto::v1::Notification;

use super::rules::{Facts, Kind, told};
use super::{Held, later};
use crate::model::Millis;
use crate::service::Parley;
use crate::store::{LogEntry, NewDelivery, Pending, SentMessage, shard_of};
use crate::{ConversationId, Cursor, Error, MessageId, UserId};

/// Log entries read at once.
const BATCH: u32 = 500;

impl Parley {
    /// Follows the log from each held shard's cursor to its end. Shards at the same cursor move together;
    /// one this node turns out to have lost is dropped from `held`.
    pub(super) async fn follow_log(&self, node: &str, held: &mut Held) -> Result<(), Error> {
        loop {
            let mut at: BTreeMap<Cursor, Vec<u16>> = BTreeMap::new();
            for (&shard, &cursor) in held.iter() {
                at.entry(cursor).or_default().push(shard);
            }
            let mut moved = false;
            for (cursor, shards) in at {
                let (entries, upto) = self.store.log_after(cursor, BATCH).await?;
                if upto <= cursor {
                    continue;
                }
                let decided = self.decide_entries(&entries, &shards).await?;
                let kept = self
                    .store
                    .decide(
                        node,
                        &shards,
                        upto,
                        &decided.pending,
                        &decided.reads,
                        &decided.clears,
                        Millis::now(),
                    )
                    .await?;
                for shard in shards {
                    if kept {
                        held.insert(shard, upto);
                    } else {
                        held.remove(&shard);
                    }
                }
                if kept {
                    ::metrics::counter!("parley_notifications_queued_total")
                        .increment(decided.pending.len() as u64);
                }
                moved = true;
            }
            if !moved {
                return Ok(());
            }
        }
    }

    async fn decide_entries(
        &self,
        entries: &[LogEntry],
        shards: &[u16],
    ) -> Result<Decisions, Error> {
        let mut decided = Decisions::default();
        for entry in entries {
            match *entry {
                LogEntry::Sent { message_id, .. } => {
                    if let Some(message) = self.store.sent_message(message_id, shards).await? {
                        self.who_is_told(&message, &mut decided.pending).await?;
                    }
                }
                LogEntry::Read {
                    user_id,
                    conversation_id,
                    message_id,
                    ..
                } if shards.contains(&shard_of(user_id)) => {
                    decided.reads.push((user_id, conversation_id, message_id));
                    if self.store.shown(user_id, conversation_id).await? {
                        decided
                            .clears
                            .push(self.clear(user_id, conversation_id).await?);
                    }
                }
                LogEntry::Read { .. } => {}
            }
        }
        Ok(decided)
    }

    /// Appends a pending notification for each candidate the rules tell of the message.
    async fn who_is_told(
        &self,
        message: &SentMessage,
        pending: &mut Vec<Pending>,
    ) -> Result<(), Error> {
        let online = if message.mention_here {
            let ids: Vec<UserId> = message.candidates.iter().map(|c| c.user_id).collect();
            self.bus.online(&ids).await?
        } else {
            vec![false; message.candidates.len()]
        };
        let due_at = later(message.created_at, self.settings.push.delay);
        for (candidate, online) in message.candidates.iter().zip(online) {
            let facts = Facts {
                kind: Kind::from(message.kind),
                own: candidate.user_id == message.author_id,
                muted: candidate.muted,
                notify_always: candidate.notify_always,
                read: candidate.read,
                mentioned: message.mentioned.contains(&candidate.user_id),
                mention_channel: message.mention_channel,
                mention_here: message.mention_here,
                online,
                thread_only: message.thread_root_id.is_some() && !message.also_to_conversation,
                follows_thread: candidate.follows_thread,
            };
            if told(&facts).is_some() {
                pending.push(Pending {
                    user_id: candidate.user_id,
                    conversation_id: message.conversation_id,
                    message_id: message.message_id,
                    thread_root_id: message.thread_root_id,
                    sent_at: message.created_at,
                    due_at,
                    read: false,
                });
            }
        }
        Ok(())
    }

    /// The push that removes a conversation's notification from the user's devices.
    async fn clear(
        &self,
        user: UserId,
        conversation: ConversationId,
    ) -> Result<NewDelivery, Error> {
        let badge = self.store.badge(user).await?;
        let now = Millis::now();
        let id = format!("clear-{}-{}-{}", user.0, conversation.0, now.0);
        let payload = Notification::Clear {
            v: 1,
            id: id.clone(),
            tag: tag(conversation),
            conversation_id: conversation,
            badge,
        };
        Ok(NewDelivery {
            user_id: user,
            conversation_id: conversation,
            message_id: None,
            notification_id: id,
            payload: serde_json::to_string(&payload).unwrap_or_default(),
            topic: tag(conversation),
            urgency: "normal",
            sent_at: now,
        })
    }
}

/// One tag (and Web Push topic) per conversation: a newer notification replaces the one shown.
pub(super) fn tag(conversation: ConversationId) -> String {
    format!("parley-c{}", conversation.0)
}

#[derive(Default)]
struct Decisions {
    pending: Vec<Pending>,
    reads: Vec<(UserId, ConversationId, MessageId)>,
    clears: Vec<NewDelivery>,
}
