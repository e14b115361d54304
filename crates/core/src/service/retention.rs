//! Retention: an organization keeps messages for ever or for some days, and a channel may keep them for a
//! time of its own where the organization allows it. The purge job deletes what is older, everywhere it
//! lives (`RetentionRecords::purge_messages`), in small batches through the writer with pauses between
//! them, so it can run on a live server; it runs hourly (the server's janitor) and when an administrator
//! asks, and records each run (`GET /v1/admin/retention`, and a `purged` entry in the audit log).

use std::sync::{Arc, Weak};
use std::time::Instant;

use parley_proto::v1::{self, AuditKind};

use super::audit::{by, by_operator};
use super::{Caller, Parley, roles};
use crate::model::Millis;
use crate::store::{AuditRecord, ConversationChange, PurgeRunRecord, RetentionTarget};
use crate::wire::rfc3339;
use crate::{ConversationId, Error, MessageId, OrgId, UserId};

/// The longest retention, in days (a hundred years); 0 keeps messages for ever.
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// Messages one purge batch deletes at most: one write, short enough not to hold up sends behind it.
const PURGE_BATCH: u32 = 500;
/// Conversations read at a time while walking an organization's.
const TARGETS_PER_READ: u32 = 200;
/// Organizations read at a time by the hourly run.
const ORGS_PER_READ: u32 = 100;
/// The purge waits this many times as long as its last batch took before the next, so the writer spends
/// at most about half its time on it however much there is to delete.
const PAUSE_PER_BATCH: u32 = 1;
const DAY_MILLIS: i64 = 86_400_000;

/// A retention in days as an administrator gives it.
pub(super) fn retention_days(days: u32) -> Result<u32, Error> {
    if days > MAX_RETENTION_DAYS {
        let message = format!("retention is 0 (for ever) or 1 to {MAX_RETENTION_DAYS} days");
        return Err(Error::invalid("invalid_retention", message));
    }
    Ok(days)
}

/// What a run removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub messages: u64,
    pub files: u64,
    pub conversations: u64,
}

fn run_wire(run: &PurgeRunRecord) -> v1::PurgeRun {
    v1::PurgeRun {
        started_at: rfc3339(run.started_at),
        finished_at: run.finished_at.map(rfc3339),
        messages_removed: run.messages,
        files_removed: run.files,
        conversations: run.conversations,
    }
}

fn channel_retention_off() -> Error {
    Error::Denied {
        code: "channel_retention_off",
        message: "the organization does not let channels keep messages for a time of their own",
    }
}

fn purge_running() -> Error {
    Error::Conflict {
        code: "purge_running",
        message: "a purge is running on this server; its end shows in the retention status".into(),
    }
}

impl Parley {
    /// Gives a channel a retention of its own (`None`: its organization's again). The channel's owners and
    /// the organization's administrators, where the organization allows channels one.
    pub async fn set_channel_retention(
        &self,
        caller: &Caller,
        id: ConversationId,
        days: Option<u32>,
    ) -> Result<v1::Conversation, Error> {
        let days = days.map(retention_days).transpose()?;
        let detail = match days {
            None => "retention: the organization's".to_owned(),
            Some(0) => "retention: for ever".to_owned(),
            Some(days) => format!("retention: {days} days"),
        };
        let record = AuditRecord {
            target_conversation_id: Some(id),
            detail: Some(detail),
            ..by(caller, AuditKind::ChannelUpdated)
        };
        self.moderated_channel(caller, id, &record, roles::names_moderators)
            .await?;
        let allowed = self
            .store
            .org_settings(caller.user.org_id)
            .await?
            .is_some_and(|s| s.channel_retention);
        if !allowed {
            return self.refuse(record, channel_retention_off()).await;
        }
        let change = ConversationChange {
            retention_days: Some(days),
            ..ConversationChange::default()
        };
        self.change_channel(id, change, record).await
    }

    /// The caller's organization's retention and the purge job's last run there. Administrators.
    pub async fn retention_status(&self, caller: &Caller) -> Result<v1::RetentionStatus, Error> {
        self.require_admin(caller, &by(caller, AuditKind::Purged))
            .await?;
        let org_id = caller.user.org_id;
        let settings = self
            .store
            .org_settings(org_id)
            .await?
            .ok_or(Error::NotFound("organization"))?;
        let own = if settings.channel_retention {
            self.store.channels_with_own_retention(org_id).await?
        } else {
            0
        };
        let last_run = self.store.last_purge_run(org_id).await?;
        Ok(v1::RetentionStatus {
            retention_days: settings.retention_days,
            channel_retention: settings.channel_retention,
            channels_with_own_retention: own,
            last_run: last_run.as_ref().map(run_wire),
        })
    }

    /// Starts a purge of the caller's organization now, in a task that ends with it (or when the server
    /// stops). Administrators; one purge at a time per server.
    pub async fn start_purge(
        self: &Arc<Self>,
        caller: &Caller,
    ) -> Result<v1::RetentionStatus, Error> {
        let record = by(caller, AuditKind::Purged);
        self.write_throttle.check(caller.user.id)?;
        self.require_admin(caller, &record).await?;
        let Ok(permit) = Arc::clone(&self.purges).try_acquire_owned() else {
            return Err(purge_running());
        };
        let (parley, org_id, actor) = (Arc::downgrade(self), caller.user.org_id, caller.user.id);
        let started = Millis::now();
        self.begin_run(org_id, started).await?;
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = purge_org(&parley, org_id, Some(actor), started).await {
                let error = &error as &dyn std::error::Error;
                tracing::warn!(%org_id, error, "purge failed");
            }
        });
        self.retention_status(caller).await
    }

    /// Records that a run over `org_id` began, so its status shows it running.
    async fn begin_run(&self, org_id: OrgId, started_at: Millis) -> Result<(), Error> {
        let run = PurgeRunRecord {
            org_id,
            started_at,
            finished_at: None,
            messages: 0,
            files: 0,
            conversations: 0,
        };
        Ok(self.store.record_purge_run(run).await?)
    }

    /// Purges one conversation down to its cutoff, batch by batch; what it removed.
    async fn purge_conversation(
        parley: &Weak<Parley>,
        target: RetentionTarget,
        now: Millis,
    ) -> Result<Purged, Error> {
        let before = Millis(now.0 - i64::from(target.retention_days) * DAY_MILLIS);
        let mut purged = Purged::default();
        let mut after: Option<MessageId> = None;
        let mut failed = None;
        loop {
            let Some(this) = parley.upgrade() else {
                break;
            };
            let started = Instant::now();
            let batch = match this
                .store
                .purge_messages(target.conversation_id, before, after, PURGE_BATCH)
                .await
            {
                Ok(batch) => batch,
                // What the batches before deleted is still told of, below.
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            };
            purged.messages += batch.messages;
            purged.files += batch.files;
            after = batch.through.or(after);
            drop(this);
            if !batch.more {
                break;
            }
            tokio::time::sleep(started.elapsed() * PAUSE_PER_BATCH).await;
        }
        if purged.messages > 0 {
            purged.conversations = 1;
            if let (Some(this), Some(through)) = (parley.upgrade(), after) {
                this.store
                    .end_purge(target.conversation_id, through, Millis::now())
                    .await?;
            }
        }
        match failed {
            Some(error) => Err(error.into()),
            None => Ok(purged),
        }
    }

    /// The hourly run over every organization with a limited retention. Returns how many messages went.
    pub async fn purge_expired(self: &Arc<Self>) -> Result<u64, Error> {
        let Ok(_permit) = Arc::clone(&self.purges).try_acquire_owned() else {
            return Ok(0);
        };
        let parley = Arc::downgrade(self);
        let mut removed = 0;
        let mut after = None;
        loop {
            let orgs = self.store.retention_orgs(after, ORGS_PER_READ).await?;
            for &org_id in &orgs {
                let started = Millis::now();
                self.begin_run(org_id, started).await?;
                removed += purge_org(&parley, org_id, None, started).await?.messages;
            }
            if orgs.len() < ORGS_PER_READ as usize {
                return Ok(removed);
            }
            after = orgs.last().copied();
        }
    }
}

/// Purges every conversation of `org_id` with a limited retention, then records the run (and, if it
/// removed anything or an administrator asked for it, audits it) and has the collector delete the files.
async fn purge_org(
    parley: &Weak<Parley>,
    org_id: OrgId,
    actor: Option<UserId>,
    started_at: Millis,
) -> Result<Purged, Error> {
    let mut total = Purged::default();
    let mut after: Option<ConversationId> = None;
    loop {
        let Some(this) = parley.upgrade() else {
            return Ok(total);
        };
        let targets = this
            .store
            .retention_targets(org_id, after, TARGETS_PER_READ)
            .await?;
        drop(this);
        for &target in &targets {
            let purged = Parley::purge_conversation(parley, target, started_at).await?;
            total.messages += purged.messages;
            total.files += purged.files;
            total.conversations += purged.conversations;
        }
        if targets.len() < TARGETS_PER_READ as usize {
            break;
        }
        after = targets.last().map(|t| t.conversation_id);
    }
    let Some(this) = parley.upgrade() else {
        return Ok(total);
    };
    let run = PurgeRunRecord {
        org_id,
        started_at,
        finished_at: Some(Millis::now()),
        messages: total.messages,
        files: total.files,
        conversations: total.conversations,
    };
    this.store.record_purge_run(run).await?;
    if total.messages > 0 || actor.is_some() {
        let detail = format!(
            "{} messages and {} files removed from {} conversations",
            total.messages, total.files, total.conversations
        );
        this.audit(AuditRecord {
            actor_id: actor,
            detail: Some(detail),
            ..by_operator(org_id, AuditKind::Purged)
        })
        .await;
    }
    if total.files > 0 {
        let collected = this.collect_files().await;
        if let Err(error) = collected {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(%org_id, error, "purged files left to the hourly collector");
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_is_for_ever_or_up_to_a_hundred_years() {
        assert_eq!(retention_days(0).ok(), Some(0));
        assert_eq!(retention_days(1).ok(), Some(1));
        assert_eq!(
            retention_days(MAX_RETENTION_DAYS).ok(),
            Some(MAX_RETENTION_DAYS)
        );
        assert!(retention_days(MAX_RETENTION_DAYS + 1).is_err());
    }
}
