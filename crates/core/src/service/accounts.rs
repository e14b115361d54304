//! Sign-up and login: who may join which organization, and proving who you are.

use std::net::IpAddr;

use parley_proto::v1::{
    AuditKind, AuditOutcome, AuthResponse, LoginRequest, PasswordChange, SignupRequest,
};

use super::audit::{by, by_operator};
use super::sessions::token_hash;
use super::throttles::LoginKey;
use super::{Caller, Parley};
use crate::bus::Ended;
use crate::model::Millis;
use crate::store::{AuditRecord, NewUser, OrgPolicy, StoreError};
use crate::{Error, validate};

impl Parley {
    /// Signs up into an organization: the invitation's, or `org` (the default organization when absent).
    /// Joining an existing organization takes an invitation unless it is open to sign-up (the default
    /// organization is while the server's sign-up is open); creating one takes the server's open sign-up.
    /// Without the right to join, an existing organization and an absent one get the same answer, so
    /// handles cannot be probed.
    pub async fn signup(
        &self,
        request: SignupRequest,
        client: IpAddr,
        device: Option<&str>,
    ) -> Result<AuthResponse, Error> {
        validate::handle("username", &request.username)?;
        validate::email(&request.email)?;
        validate::password(&request.password)?;
        validate::name(&request.name)?;
        let (org, org_policy) = match &request.invite {
            Some(token) => self.invited_org(token, request.org.as_deref()).await?,
            None => {
                let org = request.org.as_deref().unwrap_or(&self.settings.default_org);
                validate::handle("org", org)?;
                let policy = self.signup_policy(org, &request.email).await?;
                (org.to_owned(), policy)
            }
        };
        self.unless_sso_required_by_handle(&org).await?;
        // Only a sign-up that would be hashed takes from the allowance.
        self.signup_throttle
            .check(client, request.invite.is_some())?;
        let email = request.email.to_lowercase();
        let password_hash = self.passwords.hash(&request.password).await?;
        let new_user = NewUser {
            org_handle: &org,
            org_policy,
            username: &request.username,
            email: &email,
            name: request.name.trim(),
            password_hash: &password_hash,
            now: Millis::now(),
        };
        self.place_org(&org).await?;
        self.claim_email(&email, &org).await?;
        let created = self.store.create_user(new_user).await.map_err(Error::Store);
        self.settle_email(&email, &org, &created).await;
        let user = created.map_err(|e| match e {
            Error::Store(StoreError::Conflict(field)) => taken(field),
            Error::Store(StoreError::NotFound("invite")) => invalid_invite(),
            Error::Store(StoreError::NotFound(_)) => Error::Denied {
                code: "invite_required",
                message: "joining this organization takes an invitation",
            },
            other => other,
        })?;
        self.join_default_channels(&user).await;
        self.start_session(user.id, user.org_id, device).await
    }

    /// How a sign-up without invitation may treat `org` until its administrators choose a policy.
    pub(super) fn org_policy(&self, org: &str) -> OrgPolicy {
        match (self.settings.open_signup, org == self.settings.default_org) {
            (true, true) => OrgPolicy::JoinOrCreate,
            (true, false) => OrgPolicy::CreateOrJoinOpen,
            (false, _) => OrgPolicy::JoinOpen,
        }
    }

    /// The organization an invitation token leads to, checked before the password is hashed; the store
    /// checks it again as it takes one of its uses. A sign-up that also names an `org` must name that one.
    async fn invited_org(
        &self,
        token: &str,
        org: Option<&str>,
    ) -> Result<(String, OrgPolicy), Error> {
        let invite = self
            .usable_invite(token)
            .await?
            .ok_or_else(invalid_invite)?;
        if org.is_some_and(|org| org != invite.org_handle) {
            return Err(Error::invalid(
                "invite_org_mismatch",
                "the invitation is for another organization",
            ));
        }
        let org_policy = OrgPolicy::Invited {
            token_hash: token_hash(token),
        };
        Ok((invite.org_handle, org_policy))
    }

    /// Logs in by email, or by username within `org` (the default org when absent). Unknown accounts and wrong
    /// passwords get the same answer after the same work.
    /// Every login of a known account, and every failed one, is audited in its organization; a deactivated
    /// account's right password is answered 403 `account_deactivated`.
    pub async fn login(
        &self,
        request: LoginRequest,
        client: IpAddr,
        device: Option<&str>,
    ) -> Result<AuthResponse, Error> {
        self.login_throttle.attempt(client)?;
        let org = request.org.as_deref().unwrap_or(&self.settings.default_org);
        let by_email = request.login.contains('@');
        // No account has a control character in its email or username (PostgreSQL would refuse a NUL in
        // the lookup), a login longer than an email, or an org that is no handle: such a login is an
        // unknown account, answered after the same work as any other.
        let plausible =
            validate::plausible_login(&request.login) && validate::handle("org", org).is_ok();
        let credentials = if !plausible {
            None
        } else if by_email {
            self.store
                .credentials_by_email(&request.login.to_lowercase())
                .await?
        } else {
            self.store
                .credentials_by_username(org, &request.login)
                .await?
        };
        let key = match &credentials {
            Some(credentials) => LoginKey::Account(credentials.user_id),
            None if by_email => LoginKey::Unknown(token_hash(&request.login.to_lowercase())),
            None => LoginKey::Unknown(token_hash(&format!(
                "{org}/{}",
                request.login.to_lowercase()
            ))),
        };
        self.login_throttle.admit(&key, client)?;
        let account = credentials
            .as_ref()
            .map(|c| (c.user_id, c.org_id, c.deactivated));
        let matches = self
            .passwords
            .verify(&request.password, credentials.map(|c| c.password_hash))
            .await?;
        let Some((user_id, org_id, deactivated)) = account else {
            self.login_throttle.failed(key, client);
            return Err(Error::Unauthenticated);
        };
        let record = AuditRecord {
            target_user_id: Some(user_id),
            address: Some(client.to_string()),
            ..by_operator(org_id, AuditKind::Login)
        };
        // Written off the answer's path, so a failed login of a known account takes no longer than one of
        // an unknown account (which writes nothing).
        let refused = |error: &Error| AuditRecord {
            kind: AuditKind::LoginFailed,
            outcome: AuditOutcome::Refused,
            detail: Some(error.to_string()),
            ..record.clone()
        };
        if !matches {
            self.login_throttle.failed(key, client);
            self.audit_later(refused(&Error::Unauthenticated));
            return Err(Error::Unauthenticated);
        }
        if deactivated {
            let error = account_deactivated();
            self.audit_later(refused(&error));
            return Err(error);
        }
        if let Err(error) = self.unless_sso_required(org_id, user_id).await {
            self.audit_later(refused(&error));
            return Err(error);
        }
        let session = self.start_session(user_id, org_id, device).await?;
        self.audit_later(AuditRecord {
            actor_id: Some(user_id),
            ..record
        });
        Ok(session)
    }

    /// Changes the caller's password, given the current one, and ends every other session of theirs.
    pub async fn change_password(
        &self,
        caller: &Caller,
        change: PasswordChange,
        client: IpAddr,
    ) -> Result<(), Error> {
        validate::password(&change.new_password)?;
        let record = AuditRecord {
            target_user_id: Some(caller.user.id),
            address: Some(client.to_string()),
            ..by(caller, AuditKind::PasswordChanged)
        };
        // A stolen session guessing the password is a login guesser: the same allowances hold it.
        self.login_throttle.attempt(client)?;
        let key = LoginKey::Account(caller.user.id);
        self.login_throttle.admit(&key, client)?;
        let credentials = self
            .store
            .credentials_by_email(&caller.user.email)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let matches = self
            .passwords
            .verify(&change.current_password, Some(credentials.password_hash))
            .await?;
        if !matches {
            self.login_throttle.failed(key, client);
            let error = Error::Denied {
                code: "wrong_password",
                message: "the current password is not right",
            };
            return self.refuse(record, error).await;
        }
        let hash = self.passwords.hash(&change.new_password).await?;
        self.store
            .set_password(caller.user.id, &hash, caller.token_hash(), record)
            .await?;
        self.revoked_or_logged(caller.user.id, Ended::AllBut(caller.token_hash()))
            .await;
        Ok(())
    }

    /// For the operator (`parley admin`): opens an organization to sign-up without invitation, or closes
    /// it; the organization is created if it does not exist, which is how a server whose sign-up is closed
    /// gets its first organization.
    pub async fn set_open_signup(&self, org: &str, open: bool) -> Result<(), Error> {
        validate::handle("org", org)?;
        Ok(self
            .store
            .set_org_open_signup(org, open, Millis::now())
            .await?)
    }
}

pub(super) fn account_deactivated() -> Error {
    Error::Denied {
        code: "account_deactivated",
        message: "this account has been deactivated by an administrator",
    }
}

pub(super) fn invalid_invite() -> Error {
    Error::Denied {
        code: "invalid_invite",
        message: "this invitation is unknown, expired or used up",
    }
}

/// A sign-up's answer when `field` (`email` or `username`) belongs to another account.
pub(super) fn taken(field: &str) -> Error {
    Error::Conflict {
        code: if field == "email" {
            "email_taken"
        } else {
            "username_taken"
        },
        message: format!("this {field} is already taken"),
    }
}
