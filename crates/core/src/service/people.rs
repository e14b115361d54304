//! The people of an organization as its administrators manage them: listing them, changing their roles,
//! deactivating and reactivating their accounts. Each change, and each refusal, is audited; the rules of
//! who may manage whom are in `roles.rs`.

use parley_proto::v1::{self, AuditKind, Role};

use super::audit::{by, by_operator, not_admin};
use super::{Caller, Parley, roles};
use crate::bus::Ended;
use crate::model::{self, Millis};
use crate::store::{AuditRecord, StoreError};
use crate::wire::rfc3339;
use crate::{Error, UserId, validate};

/// Most people a page of the list holds.
pub const MAX_PEOPLE_PAGE: u32 = 200;
const DEFAULT_PEOPLE_PAGE: u32 = 100;

/// A page of the people list as an administrator asks for it.
#[derive(Clone, Debug, Default)]
pub struct PeopleQuery {
    /// The start of a username, name or email; everyone when empty.
    pub q: Option<String>,
    pub after: Option<UserId>,
    pub limit: Option<u32>,
}

impl Parley {
    /// The caller's organization's people, deactivated ones included, by id. Administrators only.
    pub async fn people(
        &self,
        caller: &Caller,
        query: PeopleQuery,
    ) -> Result<v1::PeopleList, Error> {
        let q = validate::search_query(query.q.as_deref().unwrap_or(""), super::MAX_QUERY_CHARS)?;
        let limit = query.limit.unwrap_or(DEFAULT_PEOPLE_PAGE);
        if !(1..=MAX_PEOPLE_PAGE).contains(&limit) {
            let message = format!("limit must be 1 to {MAX_PEOPLE_PAGE}");
            return Err(Error::invalid("invalid_limit", message));
        }
        self.write_throttle.check(caller.user.id)?;
        self.require_admin(caller, &by(caller, AuditKind::PeopleRead))
            .await?;
        let people = self
            .store
            .people(caller.user.org_id, &q.to_lowercase(), query.after, limit)
            .await?;
        let next = (people.len() == limit as usize)
            .then(|| people.last().map(|u| u.id))
            .flatten();
        Ok(v1::PeopleList {
            people: people.iter().map(|u| self.person_wire(u)).collect(),
            next,
        })
    }

    /// Gives a person of the caller's organization a role (see `roles` for who may give which).
    pub async fn set_role(
        &self,
        caller: &Caller,
        user_id: UserId,
        role: Role,
    ) -> Result<v1::Person, Error> {
        let record = AuditRecord {
            target_user_id: Some(user_id),
            detail: Some(format!("to {}", role.as_str())),
            ..by(caller, AuditKind::RoleChanged)
        };
        let target = self.managed_person(caller, &record).await?;
        if !roles::may_grant(caller.user.role, role) {
            return self.refuse(record, cannot_manage()).await;
        }
        let record = AuditRecord {
            detail: Some(format!("{} to {}", target.role.as_str(), role.as_str())),
            ..record
        };
        let changed = self.store.set_role(target.id, role, record.clone()).await;
        let user = self.unless_last_owner(changed, record).await?;
        self.announce_profile(&user).await;
        Ok(self.person_wire(&user))
    }

    /// Deactivates a person of the caller's organization: their sessions end at once and their sockets
    /// close on every node, their push subscriptions go, and they leave search and new conversations; what
    /// they wrote stays, shown as theirs.
    pub async fn deactivate(&self, caller: &Caller, user_id: UserId) -> Result<v1::Person, Error> {
        let record = AuditRecord {
            target_user_id: Some(user_id),
            ..by(caller, AuditKind::UserDeactivated)
        };
        if user_id == caller.user.id {
            let error = Error::invalid(
                "cannot_deactivate_yourself",
                "you cannot deactivate yourself",
            );
            return self.refuse(record, error).await;
        }
        let target = self.managed_person(caller, &record).await?;
        if target.deactivated_at.is_some() {
            // Told again: the first time's signal may have been lost.
            self.revoked_or_logged(target.id, Ended::All).await;
            return Ok(self.person_wire(&target));
        }
        let changed = self
            .store
            .set_deactivated(target.id, Some(Millis::now()), record.clone())
            .await;
        let user = self.unless_last_owner(changed, record).await?;
        self.revoked_or_logged(user.id, Ended::All).await;
        self.announce_profile(&user).await;
        Ok(self.person_wire(&user))
    }

    /// Lets a deactivated person of the caller's organization log in again.
    pub async fn reactivate(&self, caller: &Caller, user_id: UserId) -> Result<v1::Person, Error> {
        let record = AuditRecord {
            target_user_id: Some(user_id),
            ..by(caller, AuditKind::UserReactivated)
        };
        let target = self.managed_person(caller, &record).await?;
        if target.deactivated_at.is_none() {
            return Ok(self.person_wire(&target));
        }
        let user = self.store.set_deactivated(target.id, None, record).await?;
        self.announce_profile(&user).await;
        Ok(self.person_wire(&user))
    }

    /// For the operator (`parley admin set-role`): gives `username` of organization `org` a role, whatever
    /// anyone's role; only leaving the organization without an active owner is refused.
    pub async fn set_role_as_operator(
        &self,
        org: &str,
        username: &str,
        role: Role,
    ) -> Result<v1::Person, Error> {
        validate::handle("org", org)?;
        let credentials = self
            .store
            .credentials_by_username(org, username)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let user = self
            .store
            .user(credentials.user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let record = AuditRecord {
            actor_id: None,
            target_user_id: Some(user.id),
            detail: Some(format!(
                "{} to {} (by the operator)",
                user.role.as_str(),
                role.as_str()
            )),
            ..by_operator(user.org_id, AuditKind::RoleChanged)
        };
        let changed = self.store.set_role(user.id, role, record.clone()).await;
        let user = self.unless_last_owner(changed, record).await?;
        self.announce_profile(&user).await;
        Ok(self.person_wire(&user))
    }

    /// The person `record` targets, if the caller administers their organization and may manage them;
    /// every refusal is audited. Another organization's people are not found.
    async fn managed_person(
        &self,
        caller: &Caller,
        record: &AuditRecord,
    ) -> Result<model::User, Error> {
        self.write_throttle.check(caller.user.id)?;
        if !caller.user.role.is_admin() {
            return self.refuse(record.clone(), not_admin()).await;
        }
        let target = match record.target_user_id {
            Some(id) => self.store.user(id).await?,
            None => None,
        };
        match target {
            Some(user) if user.org_id == caller.user.org_id => {
                if roles::may_manage(caller.user.role, user.role) {
                    Ok(user)
                } else {
                    self.refuse(record.clone(), cannot_manage()).await
                }
            }
            _ => self.refuse(record.clone(), Error::NotFound("user")).await,
        }
    }

    /// The store's answer to a change, with the refusal to leave an organization without an active owner
    /// audited and told as a conflict.
    async fn unless_last_owner(
        &self,
        changed: Result<model::User, StoreError>,
        record: AuditRecord,
    ) -> Result<model::User, Error> {
        match changed {
            Err(StoreError::Conflict("last_owner")) => {
                let error = Error::Conflict {
                    code: "last_owner",
                    message: "the organization must keep an active owner: make someone else an owner first"
                        .to_owned(),
                };
                self.refuse(record, error).await
            }
            other => Ok(other?),
        }
    }

    pub(crate) fn person_wire(&self, user: &model::User) -> v1::Person {
        v1::Person {
            user: self.user_wire(user),
            email: user.email.clone(),
            created_at: rfc3339(user.created_at),
            last_seen: user.last_seen.map(rfc3339),
            deactivated_at: user.deactivated_at.map(rfc3339),
        }
    }
}

fn cannot_manage() -> Error {
    Error::Denied {
        code: "forbidden_role",
        message: "administrators manage members and guests; only an owner manages owners and administrators",
    }
}
