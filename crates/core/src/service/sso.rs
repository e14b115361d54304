//! Single sign-on with OpenID Connect, per organization: its administrators name a provider; anyone may then
//! begin a sign-in (`sso_start`) and finish it with what the provider sent back (`sso_finish`). The first
//! sign-in of an identity makes its account, or takes over the organization's account with the same email
//! where the organization allows it and the provider verified that email. An organization may require it:
//! its members' passwords then log nobody in (its owners' still do, so a broken provider locks nobody out).

use std::net::IpAddr;
use std::time::Duration;

use parley_proto::v1::{
    AuditKind, AuditOutcome, AuthResponse, Role, SsoCallback, SsoProvider, SsoSettings,
    SsoSettingsUpdate, SsoStart, SsoStartRequest,
};

use super::audit::{by, by_operator};
use super::sessions::{new_token, token_hash};
use super::{Caller, Parley};
use crate::bus::Ended;
use crate::model::{Millis, User};
use crate::sso::{CALLBACK_PATH, Identity, OidcError, OpenIdConnect, RelyingParty};
use crate::store::{AuditRecord, NewSsoUser, SsoConfigRecord, SsoFlowRecord, StoreError};
use crate::{Error, OrgId, UserId, validate};

/// How long a sign-in may take between its start and its return.
pub const FLOW_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// The longest `state`, `code` or `flow_key` taken: providers' codes run to a few hundred characters.
const MAX_CALLBACK_CHARS: usize = 2048;
/// The longest subject identifier taken (OpenID Connect caps it at 255 ASCII characters).
const MAX_SUBJECT_BYTES: usize = 255;
/// The longest client id, and the longest client secret, taken.
const MAX_CLIENT_CHARS: usize = 255;
const MAX_SECRET_CHARS: usize = 1024;
/// The longest button label.
const MAX_DISPLAY_NAME_CHARS: usize = 60;
/// Usernames tried for a new account (the provider's name for the person, then with a number) before a
/// random one.
const USERNAME_TRIES: u32 = 5;

fn not_configured() -> Error {
    Error::Absent {
        code: "sso_not_configured",
        message: "this organization has no single sign-on",
    }
}

fn invalid_state() -> Error {
    Error::invalid(
        "invalid_sso_state",
        "this sign-in is unknown, expired, finished already, or was begun by another client: start again",
    )
}

fn invalid_settings(message: impl Into<String>) -> Error {
    Error::invalid("invalid_sso_settings", message)
}

fn sso_required() -> Error {
    Error::Denied {
        code: "sso_required",
        message: "this organization signs in with single sign-on only",
    }
}

/// The most of a provider's or the network's words an answer (and the audit log) carries.
const MAX_REASON_CHARS: usize = 300;

fn bounded(text: String) -> String {
    match text.char_indices().nth(MAX_REASON_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

fn from_provider(error: OidcError) -> Error {
    match error {
        OidcError::Unavailable(_) => Error::Upstream {
            code: "sso_unavailable",
            message: bounded(error.to_string()),
        },
        OidcError::Refused(_) => Error::NotVerified {
            code: "sso_failed",
            message: bounded(error.to_string()),
        },
    }
}

/// A name from the provider as Parley keeps one: without control characters, cut to length.
fn clean_name(value: &str) -> Option<String> {
    let kept: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(validate::MAX_NAME_CHARS)
        .collect();
    let kept = kept.trim().to_owned();
    validate::name(&kept).is_ok().then_some(kept)
}

/// A username made from `seed` (the provider's username for the person, or their email's local part):
/// lowercase, other characters as `.`, cut to leave room for a number.
fn username_from(seed: &str) -> Option<String> {
    let mut name: String = seed
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '.'
            }
        })
        .take(validate::MAX_HANDLE_CHARS - 4)
        .collect();
    name = name.trim_matches('.').to_owned();
    validate::handle("username", &name).is_ok().then_some(name)
}

impl Parley {
    /// The redirect URI of the organization with this handle (a handle needs no escaping in a path).
    fn redirect_uri(&self, org: &str) -> String {
        format!(
            "{}{CALLBACK_PATH}/{org}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    /// The provider of the organization `org` names (the default one when `None`), and its handle. An
    /// unknown organization answers as one without.
    async fn provider_of<'o>(
        &'o self,
        org: Option<&'o str>,
    ) -> Result<(&'o str, SsoConfigRecord), Error> {
        let org = org.unwrap_or(&self.settings.default_org);
        validate::handle("org", org)?;
        let config = self
            .store
            .sso_config_by_handle(org)
            .await?
            .ok_or_else(not_configured)?;
        Ok((org, config))
    }

    /// Whether the organization has a provider, and what its login button says.
    pub async fn sso_provider(&self, org: Option<&str>) -> Result<SsoProvider, Error> {
        let (org, config) = self.provider_of(org).await?;
        Ok(SsoProvider {
            org: org.to_owned(),
            display_name: config.display_name,
            required: config.required,
        })
    }

    /// Begins a sign-in at the organization's provider: the URL to send the browser to, and the key only
    /// this client holds, without which the sign-in cannot finish.
    pub async fn sso_start(
        &self,
        oidc: &dyn OpenIdConnect,
        request: SsoStartRequest,
        client: IpAddr,
    ) -> Result<SsoStart, Error> {
        self.login_throttle.attempt(client)?;
        let (org, config) = self.provider_of(request.org.as_deref()).await?;
        let redirect_uri = self.redirect_uri(org);
        let authorization = oidc
            .authorize(&relying_party(&config, &redirect_uri))
            .await
            .map_err(from_provider)?;
        let (flow_key, flow_key_hash) = new_token()?;
        let now = Millis::now();
        let flow = SsoFlowRecord {
            state_hash: token_hash(&authorization.state),
            flow_key_hash,
            org_id: config.org_id,
            issuer: config.issuer,
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
            created_at: now,
        };
        self.store
            .create_sso_flow(flow, expired_before(now))
            .await?;
        Ok(SsoStart {
            authorization_url: authorization.url,
            flow_key,
        })
    }

    /// Finishes a sign-in with what the provider sent back: checks the flow (once, by the client that began
    /// it), redeems the code and checks the ID token, finds or makes the account, and starts a session.
    /// Every sign-in of an organization's flow is audited, done or refused.
    pub async fn sso_finish(
        &self,
        oidc: &dyn OpenIdConnect,
        callback: SsoCallback,
        client: IpAddr,
        device: Option<&str>,
    ) -> Result<AuthResponse, Error> {
        self.login_throttle.attempt(client)?;
        let too_long = [&callback.state, &callback.code, &callback.flow_key]
            .iter()
            .any(|v| v.is_empty() || v.len() > MAX_CALLBACK_CHARS);
        if too_long || validate::handle("org", &callback.org).is_err() {
            return Err(invalid_state());
        }
        let flow = self
            .store
            .take_sso_flow(token_hash(&callback.state), token_hash(&callback.flow_key))
            .await?
            .filter(|flow| flow.created_at > expired_before(Millis::now()))
            .ok_or_else(invalid_state)?;
        let record = AuditRecord {
            address: Some(client.to_string()),
            ..by_operator(flow.org_id, AuditKind::SsoLogin)
        };
        let refuse = |error: Error| {
            self.audit_later(AuditRecord {
                outcome: AuditOutcome::Refused,
                detail: Some(error.to_string()),
                ..record.clone()
            });
            error
        };
        // The redirect came back to another organization's callback than the flow's: a code from another
        // provider (a mix-up), never redeemed. Or a provider changed (or removed) since the flow began.
        let config = self
            .store
            .sso_config_by_handle(&callback.org)
            .await?
            .filter(|config| config.org_id == flow.org_id && config.issuer == flow.issuer)
            .ok_or_else(|| refuse(invalid_state()))?;
        if callback
            .iss
            .as_ref()
            .is_some_and(|iss| *iss != config.issuer)
        {
            return Err(refuse(Error::NotVerified {
                code: "sso_failed",
                message: "the sign-in came back from another issuer".to_owned(),
            }));
        }
        let redirect_uri = self.redirect_uri(&callback.org);
        let identity = oidc
            .redeem(
                &relying_party(&config, &redirect_uri),
                &callback.code,
                &flow.pkce_verifier,
                &flow.nonce,
            )
            .await
            .map_err(|e| refuse(from_provider(e)))?;
        let user = self
            .sso_account(&config, &callback.org, &identity)
            .await
            .map_err(&refuse)?;
        let record = AuditRecord {
            actor_id: Some(user.id),
            target_user_id: Some(user.id),
            ..record.clone()
        };
        if user.deactivated_at.is_some() {
            return Err(refuse(super::accounts::account_deactivated()));
        }
        let session = match self.start_session(user.id, user.org_id, device).await {
            Err(Error::Store(StoreError::NotFound(_))) => {
                return Err(refuse(super::accounts::account_deactivated()));
            }
            other => other?,
        };
        self.audit_later(record);
        Ok(session)
    }

    /// The account an identity signs in to: the one it signed in to before; else the organization's account
    /// with its email, where the organization allows that and the provider verified the email; else a new
    /// one. An email taken by an account it may not take over is refused.
    async fn sso_account(
        &self,
        config: &SsoConfigRecord,
        org: &str,
        identity: &Identity,
    ) -> Result<User, Error> {
        let org_id = config.org_id;
        if identity.subject.is_empty() || identity.subject.len() > MAX_SUBJECT_BYTES {
            return Err(Error::NotVerified {
                code: "sso_failed",
                message: "the provider's subject identifier is empty or too long".to_owned(),
            });
        }
        let known = |user_id: Option<UserId>| async move {
            match user_id {
                Some(id) => self.store.user(id).await.map_err(Error::from),
                None => Ok(None),
            }
        };
        // The account this identity signed in to before, if any.
        let signed_in_before = || async {
            let found = self
                .store
                .sso_identity(org_id, &config.issuer, &identity.subject)
                .await?;
            known(found).await
        };
        if let Some(user) = signed_in_before().await? {
            return Ok(user);
        }
        let email = identity
            .email
            .as_deref()
            .map(str::to_lowercase)
            .filter(|email| validate::email(email).is_ok())
            .ok_or_else(|| Error::Unprocessable {
                code: "sso_email_missing",
                message: "the identity provider gave no email address for this person".to_owned(),
            })?;
        if let Some(account) = self.store.credentials_by_email(&email).await? {
            let may_link =
                account.org_id == org_id && config.link_by_email && identity.email_verified;
            if !may_link {
                return Err(account_exists());
            }
            let user = known(Some(account.user_id))
                .await?
                .ok_or_else(account_exists)?;
            // An owner or administrator is never taken over by an email: whoever sets the provider could
            // vouch for it. A deactivated account is refused before anything changes.
            if user.role.is_admin() {
                return Err(account_exists());
            }
            if user.deactivated_at.is_some() {
                return Err(super::accounts::account_deactivated());
            }
            self.take_over(config, &user).await?;
            let now = Millis::now();
            let linked = self
                .store
                .link_sso_identity(
                    org_id,
                    &config.issuer,
                    &identity.subject,
                    account.user_id,
                    now,
                )
                .await;
            return match linked {
                // Another sign-in of the same identity linked it a moment ago.
                Ok(()) | Err(StoreError::Conflict(_)) => {
                    let found = self
                        .store
                        .sso_identity(org_id, &config.issuer, &identity.subject)
                        .await?;
                    known(found).await?.ok_or_else(account_exists)
                }
                Err(other) => Err(other.into()),
            };
        }
        if let Err(error) = self.claim_email(&email, org).await {
            // The same identity's other first sign-in, a moment ago, may hold the claim.
            if let Some(user) = signed_in_before().await? {
                return Ok(user);
            }
            return Err(match error {
                Error::Conflict { .. } => account_exists(),
                other => other,
            });
        }
        let made = self.create_sso_account(config, identity, &email).await;
        self.settle_email(&email, org, &made).await;
        made
    }

    /// Before an identity takes over an account by its email: Parley never verified that email, so whoever
    /// signed up with it may not be its owner. Their password is dropped and every session ended, in that
    /// order (a crash between leaves an account nobody can log in to until the link is made again), so
    /// from now on only the provider's person signs in to it.
    async fn take_over(&self, config: &SsoConfigRecord, user: &User) -> Result<(), Error> {
        if self
            .store
            .sso_identity_of(config.org_id, &config.issuer, user.id)
            .await?
        {
            // It has an identity at this provider already: another one may not share it.
            return Err(account_exists());
        }
        let (unknown, _) = new_token()?;
        let password_hash = self.passwords.hash(&unknown).await?;
        let record = AuditRecord {
            target_user_id: Some(user.id),
            detail: Some("dropped: the account now signs in through single sign-on".to_owned()),
            ..by_operator(config.org_id, AuditKind::PasswordChanged)
        };
        self.store
            .set_password(user.id, &password_hash, [0; 32], record)
            .await?;
        self.revoked_or_logged(user.id, Ended::All).await;
        Ok(())
    }

    /// Makes the identity's account: its provider's username for it where that is free (or with a number),
    /// else a random one; then its organization's default channels.
    async fn create_sso_account(
        &self,
        config: &SsoConfigRecord,
        identity: &Identity,
        email: &str,
    ) -> Result<User, Error> {
        let local_part = email.split('@').next().unwrap_or_default();
        let seed = identity
            .preferred_username
            .as_deref()
            .and_then(username_from)
            .or_else(|| username_from(local_part))
            .unwrap_or_else(|| "member".to_owned());
        let name = identity
            .name
            .as_deref()
            .and_then(clean_name)
            .or_else(|| identity.preferred_username.as_deref().and_then(clean_name))
            .unwrap_or_else(|| seed.clone());
        // Nobody knows this password: the account signs in through its provider (or resets it later).
        let (unknown, _) = new_token()?;
        let password_hash = self.passwords.hash(&unknown).await?;
        for attempt in 0..=USERNAME_TRIES {
            let username = match attempt {
                0 => seed.clone(),
                n if n < USERNAME_TRIES => format!("{seed}-{}", n + 1),
                _ => format!(
                    "{seed}-{}",
                    new_token()?.0[..3].to_lowercase().replace('_', "x")
                ),
            };
            let new = NewSsoUser {
                org_id: config.org_id,
                issuer: &config.issuer,
                subject: &identity.subject,
                username: &username,
                email,
                name: &name,
                password_hash: &password_hash,
                now: Millis::now(),
            };
            match self.store.create_sso_user(new).await {
                Ok(user) => {
                    self.join_default_channels(&user).await;
                    return Ok(user);
                }
                Err(StoreError::Conflict("username")) => continue,
                // The same identity's other sign-in made the account a moment ago.
                Err(StoreError::Conflict("identity")) => {
                    let found = self
                        .store
                        .sso_identity(config.org_id, &config.issuer, &identity.subject)
                        .await?;
                    if let Some(id) = found {
                        return self.store.user(id).await?.ok_or_else(account_exists);
                    }
                    return Err(account_exists());
                }
                Err(StoreError::Conflict(_)) => return Err(account_exists()),
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Conflict {
            code: "username_taken",
            message: "no free username was found for this person".to_owned(),
        })
    }

    /// Refuses a password login into an organization that requires single sign-on, unless the account
    /// is one of its owners.
    pub(super) async fn unless_sso_required(
        &self,
        org_id: OrgId,
        user_id: UserId,
    ) -> Result<(), Error> {
        let required = self
            .store
            .sso_config(org_id)
            .await?
            .is_some_and(|config| config.required);
        if !required {
            return Ok(());
        }
        let role = self.store.user(user_id).await?.map(|user| user.role);
        if role == Some(Role::Owner) {
            return Ok(());
        }
        Err(sso_required())
    }

    /// The same, for a sign-up by an organization's handle.
    pub(super) async fn unless_sso_required_by_handle(&self, org: &str) -> Result<(), Error> {
        let required = self
            .store
            .sso_config_by_handle(org)
            .await?
            .is_some_and(|config| config.required);
        if required {
            return Err(sso_required());
        }
        Ok(())
    }

    /// Refuses (audited) anyone but an owner: the provider decides who signs in as whom, so choosing it is
    /// as much as managing owners.
    async fn require_owner(&self, caller: &Caller, record: &AuditRecord) -> Result<(), Error> {
        if caller.user.role == Role::Owner {
            return Ok(());
        }
        let error = Error::Denied {
            code: "not_owner",
            message: "only the organization's owners may set up single sign-on",
        };
        self.refuse(record.clone(), error).await
    }

    /// The caller's organization's provider. Owners and administrators.
    pub async fn sso_settings(&self, caller: &Caller) -> Result<SsoSettings, Error> {
        self.require_admin(caller, &by(caller, AuditKind::SettingsChanged))
            .await?;
        let config = self
            .store
            .sso_config(caller.user.org_id)
            .await?
            .ok_or_else(not_configured)?;
        Ok(self.sso_settings_wire(config, &caller.user.org_handle))
    }

    /// Sets the caller's organization's provider, once its discovery document answers. Owners and
    /// administrators; audited.
    pub async fn set_sso_settings(
        &self,
        oidc: &dyn OpenIdConnect,
        caller: &Caller,
        update: SsoSettingsUpdate,
    ) -> Result<SsoSettings, Error> {
        let record = AuditRecord {
            detail: Some("single sign-on".to_owned()),
            ..by(caller, AuditKind::SettingsChanged)
        };
        self.write_throttle.check(caller.user.id)?;
        self.require_owner(caller, &record).await?;
        let issuer = update.issuer.trim().to_owned();
        self.settings
            .sso_addresses
            .check_url(&issuer)
            .map_err(|why| invalid_settings(format!("the issuer {why}")))?;
        let client_id = update.client_id.trim().to_owned();
        if client_id.is_empty()
            || client_id.chars().count() > MAX_CLIENT_CHARS
            || client_id.chars().any(char::is_control)
        {
            let message = format!("the client id must be 1 to {MAX_CLIENT_CHARS} characters");
            return Err(invalid_settings(message));
        }
        let display_name = update.display_name.trim().to_owned();
        if validate::name(&display_name).is_err()
            || display_name.chars().count() > MAX_DISPLAY_NAME_CHARS
        {
            let message = format!(
                "the display name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters with something visible"
            );
            return Err(invalid_settings(message));
        }
        let stored = self.store.sso_config(caller.user.org_id).await?;
        let client_secret = match update.client_secret {
            Some(secret) => {
                if secret.is_empty()
                    || secret.chars().count() > MAX_SECRET_CHARS
                    || secret.chars().any(char::is_control)
                {
                    let message =
                        format!("the client secret must be 1 to {MAX_SECRET_CHARS} characters");
                    return Err(invalid_settings(message));
                }
                secret
            }
            // The stored secret goes only to the provider it was given for.
            None => stored
                .filter(|config| config.issuer == issuer && config.client_id == client_id)
                .map(|config| config.client_secret)
                .ok_or_else(|| {
                    invalid_settings(
                        "give the client secret (again, for a new issuer or client id)",
                    )
                })?,
        };
        oidc.discover(&issuer)
            .await
            .map_err(|error| Error::Unprocessable {
                code: "sso_discovery_failed",
                message: bounded(format!(
                    "{issuer} is not an OpenID provider this server can reach: {error}"
                )),
            })?;
        let config = SsoConfigRecord {
            org_id: caller.user.org_id,
            issuer,
            client_id,
            client_secret,
            display_name,
            link_by_email: update.link_by_email,
            required: update.required,
        };
        self.store
            .set_sso_config(caller.user.org_id, Some(config.clone()), record)
            .await?;
        Ok(self.sso_settings_wire(config, &caller.user.org_handle))
    }

    /// Removes the caller's organization's provider (its members sign in with passwords again). Owners and
    /// administrators; audited.
    pub async fn remove_sso_settings(&self, caller: &Caller) -> Result<(), Error> {
        let record = AuditRecord {
            detail: Some("single sign-on removed".to_owned()),
            ..by(caller, AuditKind::SettingsChanged)
        };
        self.write_throttle.check(caller.user.id)?;
        self.require_owner(caller, &record).await?;
        if self.store.sso_config(caller.user.org_id).await?.is_none() {
            return Err(not_configured());
        }
        self.store
            .set_sso_config(caller.user.org_id, None, record)
            .await?;
        Ok(())
    }

    fn sso_settings_wire(&self, config: SsoConfigRecord, org: &str) -> SsoSettings {
        SsoSettings {
            issuer: config.issuer,
            client_id: config.client_id,
            display_name: config.display_name,
            link_by_email: config.link_by_email,
            required: config.required,
            redirect_uri: self.redirect_uri(org),
        }
    }
}

fn relying_party<'a>(config: &'a SsoConfigRecord, redirect_uri: &'a str) -> RelyingParty<'a> {
    RelyingParty {
        issuer: &config.issuer,
        client_id: &config.client_id,
        client_secret: &config.client_secret,
        redirect_uri,
    }
}

fn expired_before(now: Millis) -> Millis {
    Millis(
        now.0
            .saturating_sub(i64::try_from(FLOW_LIFETIME.as_millis()).unwrap_or(i64::MAX)),
    )
}

fn account_exists() -> Error {
    Error::Conflict {
        code: "sso_account_exists",
        message: "an account with this email exists and may not be taken over by this sign-in: \
                  sign in with its password, or ask an administrator"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_made_from_what_the_provider_says() {
        assert_eq!(username_from("Ada").as_deref(), Some("ada"));
        assert_eq!(
            username_from("Ada Lovelace").as_deref(),
            Some("ada.lovelace")
        );
        assert_eq!(
            username_from("ada@example.org").as_deref(),
            Some("ada.example.org")
        );
        assert_eq!(username_from("é").as_deref(), None);
        assert_eq!(username_from("x").as_deref(), None);
        let long = username_from(&"a".repeat(100)).expect("a username");
        assert_eq!(long.len(), validate::MAX_HANDLE_CHARS - 4);
    }

    #[test]
    fn names_lose_control_characters_and_length() {
        assert_eq!(clean_name(" Ada\u{0} L ").as_deref(), Some("Ada L"));
        assert_eq!(clean_name("\u{1}\u{2}"), None);
        let long = clean_name(&"b".repeat(500)).expect("a name");
        assert_eq!(long.chars().count(), validate::MAX_NAME_CHARS);
    }
}
