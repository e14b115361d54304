//! The audit log: an append-only record of security and administration events that an organization's
//! administrators read and export. Nothing here edits or deletes an entry; no route does either.

use parley_proto::v1::{self, AuditKind, AuditOutcome};

use super::{Caller, Parley};
use crate::model::Millis;
use crate::store::{AuditEntry, AuditFilter, AuditRecord};
use crate::wire::rfc3339;
use crate::{AuditId, Error, OrgId, UserId, validate};

/// Most entries a page of the log holds.
pub const MAX_AUDIT_PAGE: u32 = 200;
const DEFAULT_AUDIT_PAGE: u32 = 50;
/// Entries an export reads from the store at a time.
pub const EXPORT_BATCH: u32 = 500;

/// Which entries an administrator asks for, as they put it.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// RFC 3339: entries at or after.
    pub since: Option<String>,
    /// RFC 3339: entries before.
    pub until: Option<String>,
    pub actor: Option<UserId>,
    pub kind: Option<AuditKind>,
    pub before: Option<AuditId>,
    pub limit: Option<u32>,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, Error> {
        let time = |field, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| validate::time(field, v))
                .transpose()
        };
        Ok(AuditFilter {
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            actor_id: self.actor,
            kind: self.kind,
            before: self.before,
            after: None,
        })
    }
}

/// An entry of `kind` that the caller did now, to fill in with struct update syntax.
pub(super) fn by(caller: &Caller, kind: AuditKind) -> AuditRecord {
    AuditRecord {
        actor_id: Some(caller.user.id),
        ..by_operator(caller.user.org_id, kind)
    }
}

/// An entry of `kind` in `org_id`'s log, done now by no account: the server's operator, from its shell, or
/// someone not (yet) known.
pub(super) fn by_operator(org_id: OrgId, kind: AuditKind) -> AuditRecord {
    AuditRecord {
        org_id,
        at: Millis::now(),
        kind,
        outcome: AuditOutcome::Done,
        actor_id: None,
        target_user_id: None,
        target_conversation_id: None,
        address: None,
        detail: None,
    }
}

pub(crate) fn entry_wire(entry: &AuditEntry) -> v1::AuditEntry {
    let r = &entry.record;
    v1::AuditEntry {
        id: entry.id,
        at: rfc3339(r.at),
        kind: r.kind,
        outcome: r.outcome,
        actor_id: r.actor_id,
        target_user_id: r.target_user_id,
        target_conversation_id: r.target_conversation_id,
        address: r.address.clone(),
        detail: r.detail.clone(),
    }
}

impl Parley {
    /// Appends an entry. The action it records has happened (or been refused) whatever the log's fate, so
    /// a failure to write it is logged rather than answered.
    pub(super) async fn audit(&self, record: AuditRecord) {
        if let Err(error) = self.store.append_audit(record).await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(error, "audit entry not written");
        }
    }

    /// Appends an entry from a task of its own, so the answer does not wait for it (see `login`). The task
    /// ends with its one write.
    pub(super) fn audit_later(&self, record: AuditRecord) {
        let store = std::sync::Arc::clone(&self.store);
        tokio::spawn(async move {
            if let Err(error) = store.append_audit(record).await {
                let error = &error as &dyn std::error::Error;
                tracing::warn!(error, "audit entry not written");
            }
        });
    }

    /// Records that the caller was refused `record`'s action, and answers `error`.
    pub(super) async fn refuse<T>(&self, record: AuditRecord, error: Error) -> Result<T, Error> {
        let record = AuditRecord {
            outcome: AuditOutcome::Refused,
            detail: Some(error.to_string()),
            ..record
        };
        self.audit(record).await;
        Err(error)
    }

    /// The caller, if they administer their organization; otherwise the refusal of `record` is audited.
    pub(super) async fn require_admin(
        &self,
        caller: &Caller,
        record: &AuditRecord,
    ) -> Result<(), Error> {
        if caller.user.role.is_admin() {
            return Ok(());
        }
        self.refuse(record.clone(), not_admin()).await
    }

    /// A page of the caller's organization's audit log, newest first. Administrators only.
    pub async fn audit_log(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<v1::AuditList, Error> {
        let filter = query.filter()?;
        let limit = query.limit.unwrap_or(DEFAULT_AUDIT_PAGE);
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            let message = format!("limit must be 1 to {MAX_AUDIT_PAGE}");
            return Err(Error::invalid("invalid_limit", message));
        }
        self.write_throttle.check(caller.user.id)?;
        self.require_admin(caller, &by(caller, AuditKind::AuditRead))
            .await?;
        let entries = self
            .store
            .audit_entries(caller.user.org_id, &filter, limit)
            .await?;
        let next = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.id))
            .flatten();
        Ok(v1::AuditList {
            entries: entries.iter().map(entry_wire).collect(),
            next,
        })
    }

    /// Starts an export of the caller's organization's audit log (administrators only; the export is
    /// itself audited): the filter to read it with, in batches of `EXPORT_BATCH` through `audit_batch`.
    pub async fn start_audit_export(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<AuditFilter, Error> {
        let filter = query.filter()?;
        self.write_throttle.check(caller.user.id)?;
        let record = by(caller, AuditKind::AuditExported);
        self.require_admin(caller, &record).await?;
        self.audit(record).await;
        Ok(filter)
    }

    /// The next batch of an export, oldest first, after the entry `after` (from the start for `None`);
    /// empty at the end.
    pub async fn audit_batch(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        after: Option<AuditId>,
    ) -> Result<Vec<v1::AuditEntry>, Error> {
        let filter = AuditFilter {
            after: Some(after.unwrap_or(AuditId(0))),
            before: None,
            ..filter.clone()
        };
        let entries = self
            .store
            .audit_entries(caller.user.org_id, &filter, EXPORT_BATCH)
            .await?;
        Ok(entries.iter().map(entry_wire).collect())
    }
}

pub(super) fn not_admin() -> Error {
    Error::Denied {
        code: "not_admin",
        message: "only the organization's owners and administrators may do this",
    }
}
