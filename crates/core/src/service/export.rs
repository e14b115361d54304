//! Exports: an administrator's of the whole organization (its settings, people, conversations with their
//! members, every message, and a manifest of the files), and a person's of their own messages. Both are
//! read a batch at a time as the client takes them, so an organization of any size streams through in
//! bounded memory.

use parley_proto::v1::{AuditKind, ExportLine};

use super::audit::by;
use super::{Caller, Parley};
use crate::model::{Message, Millis};
use crate::store::AuditRecord;
use crate::wire::{self, rfc3339};
use crate::{ConversationId, Error, MessageId, UserId};

/// People or messages read at a time.
const BATCH: u32 = 500;
/// Exports running at once on a node; past them, 503 `busy`.
pub(super) const EXPORTS_AT_ONCE: usize = 4;
/// Reads one call makes at most before it answers, even with nothing to say (a person's export passing a
/// long conversation of other people's words), so a call never holds a connection long.
const READS_PER_CALL: usize = 20;

/// Where an export has got to.
#[derive(Debug)]
pub struct Export {
    /// `Some`: only this person's messages, in their conversations (by id).
    own: Option<(UserId, Vec<ConversationId>)>,
    stage: Stage,
    /// One of the node's `EXPORTS_AT_ONCE`, held until the export is dropped.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

#[derive(Clone, Debug)]
enum Stage {
    Organization,
    People(Option<UserId>),
    /// The next conversation after this one (and for a person's export, those left of theirs).
    Conversation(Option<ConversationId>),
    Messages {
        conversation_id: ConversationId,
        after: Option<MessageId>,
    },
    Done,
}

impl Parley {
    /// Starts an export of the caller's organization. Owners and administrators; audited.
    pub async fn start_org_export(&self, caller: &Caller) -> Result<Export, Error> {
        self.write_throttle.check(caller.user.id)?;
        let record = by(caller, AuditKind::Exported);
        self.require_admin(caller, &record).await?;
        let permit = self.export_permit()?;
        let record = AuditRecord {
            detail: Some("the organization".into()),
            ..record
        };
        self.audit(record).await;
        Ok(Export {
            own: None,
            stage: Stage::Organization,
            _permit: permit,
        })
    }

    /// Starts an export of the caller's own messages.
    pub async fn start_own_export(&self, caller: &Caller) -> Result<Export, Error> {
        self.write_throttle.check(caller.user.id)?;
        let permit = self.export_permit()?;
        let record = AuditRecord {
            detail: Some("their own messages".into()),
            ..by(caller, AuditKind::Exported)
        };
        self.audit(record).await;
        let (mut conversations, _) = self
            .store
            .member_conversations_snapshot(caller.user.id)
            .await?;
        conversations.sort_unstable();
        Ok(Export {
            own: Some((caller.user.id, conversations)),
            stage: Stage::Conversation(None),
            _permit: permit,
        })
    }

    fn export_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        std::sync::Arc::clone(&self.exports)
            .try_acquire_owned()
            .map_err(|_| Error::Busy)
    }

    /// The export's next lines (maybe none yet); `None` once it is over.
    pub async fn export_batch(
        &self,
        caller: &Caller,
        export: &mut Export,
    ) -> Result<Option<Vec<ExportLine>>, Error> {
        // Each call proves the session again: an export stops when its maker is logged out, deactivated or
        // (for an organization's) no longer an administrator.
        let session = self.live_session(caller.token_hash()).await?;
        if export.own.is_none() && !session.user.role.is_admin() {
            return Err(super::audit::not_admin());
        }
        let org_id = caller.user.org_id;
        for _ in 0..READS_PER_CALL {
            match export.stage.clone() {
                Stage::Organization => {
                    export.stage = Stage::People(None);
                    let settings = self.org_settings(caller).await?;
                    return Ok(Some(vec![ExportLine::Organization {
                        org: caller.user.org_handle.clone(),
                        org_id,
                        exported_at: rfc3339(Millis::now()),
                        settings,
                    }]));
                }
                Stage::People(after) => {
                    let people = self.store.people(org_id, "", after, BATCH).await?;
                    let Some(last) = people.last() else {
                        export.stage = Stage::Conversation(None);
                        continue;
                    };
                    export.stage = Stage::People(Some(last.id));
                    return Ok(Some(
                        people
                            .iter()
                            .map(|u| ExportLine::Person {
                                person: self.person_wire(u),
                            })
                            .collect(),
                    ));
                }
                Stage::Conversation(after) => {
                    let Some(conversation) = self.next_exported(caller, export, after).await?
                    else {
                        export.stage = Stage::Done;
                        continue;
                    };
                    export.stage = Stage::Messages {
                        conversation_id: conversation.id,
                        after: None,
                    };
                    if export.own.is_some() {
                        continue;
                    }
                    let members = self.store.member_ids(conversation.id, u32::MAX).await?;
                    return Ok(Some(vec![ExportLine::Conversation {
                        conversation: self.conversation_wire(&conversation),
                        members,
                    }]));
                }
                Stage::Messages {
                    conversation_id,
                    after,
                } => {
                    let messages = self
                        .store
                        .conversation_messages(conversation_id, after, BATCH)
                        .await?;
                    let Some(last) = messages.last() else {
                        export.stage = Stage::Conversation(Some(conversation_id));
                        continue;
                    };
                    export.stage = Stage::Messages {
                        conversation_id,
                        after: Some(last.id),
                    };
                    let lines: Vec<ExportLine> = messages
                        .iter()
                        .filter(|m| {
                            export
                                .own
                                .as_ref()
                                .is_none_or(|(own, _)| m.author_id == *own)
                        })
                        .flat_map(message_lines)
                        .collect();
                    if lines.is_empty() {
                        continue;
                    }
                    return Ok(Some(lines));
                }
                Stage::Done => return Ok(None),
            }
        }
        Ok(Some(Vec::new()))
    }

    /// The next conversation the export covers after `after`: any of the organization's, or for a
    /// person's export, one they are a member of.
    async fn next_exported(
        &self,
        caller: &Caller,
        export: &Export,
        after: Option<ConversationId>,
    ) -> Result<Option<crate::model::Conversation>, Error> {
        if let Some((_, theirs)) = &export.own {
            let next = theirs.iter().find(|id| after.is_none_or(|a| **id > a));
            return match next {
                Some(&id) => Ok(self.store.conversation(id).await?),
                None => Ok(None),
            };
        }
        let batch = self
            .store
            .org_conversations(caller.user.org_id, after, 1)
            .await?;
        Ok(batch.into_iter().next())
    }
}

/// A message's line, then its files'.
fn message_lines(message: &Message) -> Vec<ExportLine> {
    let mut lines = vec![ExportLine::Message {
        message: wire::message(message),
    }];
    lines.extend(message.attachments.iter().map(|a| ExportLine::File {
        file_id: a.id,
        conversation_id: message.conversation_id,
        message_id: message.id,
        name: a.name.clone(),
        size: a.size,
        content_type: a.content_type.clone(),
    }));
    lines
}
