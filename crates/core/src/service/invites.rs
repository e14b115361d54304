//! Invitations: a member makes one (a secret token with an expiry and a number of uses; only administrators
//! when the organization says so), and whoever holds it may sign up into the member's organization. Making
//! and withdrawing one is audited.

use parley_proto::v1::{AuditKind, CreateInviteRequest, Invite, InvitePreview, Role};

use super::audit::by;
use super::sessions::{token_hash, well_formed};
use super::{Caller, Parley};
use crate::model::{self, Millis};
use crate::store::{AuditRecord, NewInvite};
use crate::{Error, InviteId, wire};

pub const MAX_INVITE_USES: u32 = 1_000;
pub const MAX_INVITE_HOURS: u32 = 30 * 24;
const DEFAULT_INVITE_HOURS: u32 = 7 * 24;
/// Most invitations one list answers with.
const INVITE_LIST_LIMIT: u32 = 100;

impl Parley {
    /// Makes an invitation into the caller's organization. Its token is in this answer only.
    pub async fn create_invite(
        &self,
        caller: &Caller,
        request: CreateInviteRequest,
    ) -> Result<Invite, Error> {
        self.write_throttle.check(caller.user.id)?;
        let error = Error::Denied {
            code: "invitations_restricted",
            message: "in this organization only administrators make invitations",
        };
        let record = by(caller, AuditKind::InviteCreated);
        if caller.user.role == Role::Guest {
            let error = Error::Denied {
                code: "guest_forbidden",
                message: "guests cannot invite people",
            };
            return self.refuse(record, error).await;
        }
        if let Err(error) = self
            .unless_restricted(caller, |s| s.invitations, error)
            .await
        {
            return self.refuse(record, error).await;
        }
        let max_uses = request.max_uses.unwrap_or(1);
        if !(1..=MAX_INVITE_USES).contains(&max_uses) {
            return Err(Error::invalid(
                "invalid_max_uses",
                format!("max_uses must be 1 to {MAX_INVITE_USES}"),
            ));
        }
        let hours = request.expires_in_hours.unwrap_or(DEFAULT_INVITE_HOURS);
        if !(1..=MAX_INVITE_HOURS).contains(&hours) {
            return Err(Error::invalid(
                "invalid_expiry",
                format!("expires_in_hours must be 1 to {MAX_INVITE_HOURS}"),
            ));
        }
        let (token, token_hash) = self.new_token_of(caller.user.org_id)?;
        let now = Millis::now();
        let new = NewInvite {
            org_id: caller.user.org_id,
            created_by: caller.user.id,
            token_hash,
            max_uses,
            expires_at: Millis(now.0 + i64::from(hours) * 3_600_000),
            now,
        };
        let invite = self.store.create_invite(new).await?;
        let record = AuditRecord {
            detail: Some(format!(
                "invitation {}: {max_uses} uses, {hours} hours",
                invite.id
            )),
            ..record
        };
        self.audit(record).await;
        let url = format!(
            "{}/#invite={token}",
            self.settings.public_url.trim_end_matches('/')
        );
        Ok(Invite {
            token: Some(token),
            url: Some(url),
            ..wire::invite(&invite)
        })
    }

    /// The invitations the caller made, newest first; with `everyone's`, every invitation of the caller's
    /// organization, which only its owners and administrators may list.
    pub async fn invites(&self, caller: &Caller, everyones: bool) -> Result<Vec<Invite>, Error> {
        let created_by = if everyones {
            self.require_admin(caller, &by(caller, AuditKind::InvitesRead))
                .await?;
            None
        } else {
            Some(caller.user.id)
        };
        let invites = self
            .store
            .invites_of(caller.user.org_id, created_by, INVITE_LIST_LIMIT)
            .await?;
        Ok(invites.iter().map(wire::invite).collect())
    }

    /// Withdraws an invitation the caller made, or, for the organization's owners and administrators, any
    /// invitation of their organization; anyone else's is "not found".
    pub async fn revoke_invite(&self, caller: &Caller, id: InviteId) -> Result<(), Error> {
        let may = |invite: &model::Invite| {
            invite.created_by == caller.user.id
                || (caller.user.role.is_admin() && invite.org_id == caller.user.org_id)
        };
        match self.store.invite(id).await? {
            Some(invite) if may(&invite) => {
                self.store.delete_invite(id).await?;
                let record = AuditRecord {
                    target_user_id: Some(invite.created_by),
                    detail: Some(format!("invitation {id}")),
                    ..by(caller, AuditKind::InviteDeleted)
                };
                self.audit(record).await;
                Ok(())
            }
            _ => Err(Error::NotFound("invite")),
        }
    }

    /// Where an invitation leads, for whoever holds it (before they have an account).
    pub async fn preview_invite(&self, token: &str) -> Result<InvitePreview, Error> {
        let invite = self
            .usable_invite(token)
            .await?
            .ok_or(Error::NotFound("invite"))?;
        Ok(InvitePreview {
            org: invite.org_handle,
            expires_at: wire::rfc3339(invite.expires_at),
        })
    }

    /// The invitation this token is for, if someone may still sign up with it.
    pub(super) async fn usable_invite(&self, token: &str) -> Result<Option<model::Invite>, Error> {
        if !well_formed(token) {
            return Ok(None);
        }
        let invite = self.store.invite_by_token(token_hash(token)).await?;
        Ok(invite.filter(|invite| invite.is_usable(Millis::now())))
    }
}
