//! Sign-up, login, logout, and turning a bearer token back into a caller.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parley_proto::v1::{AuthResponse, LoginRequest, SignupRequest};
use sha2::{Digest, Sha256};

use super::throttles::LoginKey;
use super::{Caller, Parley};
use crate::bus::{Signal, Topic};
use crate::model::Millis;
use crate::store::{NewUser, OrgPolicy, StoreError};
use crate::{Error, UserId, validate};

/// A fresh session token: 256 random bits, base64url. Only its SHA-256 is stored.
fn new_token() -> Result<(String, [u8; 32]), Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| Error::Hashing(e.to_string()))?;
    let token = URL_SAFE_NO_PAD.encode(secret);
    let hash = token_hash(&token);
    Ok((token, hash))
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The length of an encoded token: anything else is refused before touching the store.
const TOKEN_CHARS: usize = 43;

impl Parley {
    pub async fn signup(
        &self,
        request: SignupRequest,
        client: IpAddr,
    ) -> Result<AuthResponse, Error> {
        let org = request.org.as_deref().unwrap_or(&self.settings.default_org);
        validate::handle("org", org)?;
        validate::handle("username", &request.username)?;
        validate::email(&request.email)?;
        validate::password(&request.password)?;
        validate::name(&request.name)?;
        // Only a sign-up that would be hashed takes from the allowance.
        self.signup_throttle.check(client)?;
        let email = request.email.to_lowercase();
        let password_hash = self.passwords.hash(&request.password).await?;
        let org_policy = if self.settings.open_signup || org == self.settings.default_org {
            OrgPolicy::JoinOrCreate
        } else {
            OrgPolicy::JoinOnly
        };
        let new_user = NewUser {
            org_handle: org,
            org_policy,
            username: &request.username,
            email: &email,
            name: request.name.trim(),
            password_hash: &password_hash,
            now: Millis::now(),
        };
        let user = self
            .store
            .create_user(new_user)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(field) => Error::Conflict {
                    code: if field == "email" {
                        "email_taken"
                    } else {
                        "username_taken"
                    },
                    message: format!("this {field} is already taken"),
                },
                StoreError::NotFound(_) => Error::NotFound("organization"),
                other => Error::Store(other),
            })?;
        self.start_session(user.id).await
    }

    /// Logs in by email, or by username within `org` (the default org when absent). Unknown accounts and wrong
    /// passwords get the same answer after the same work.
    pub async fn login(
        &self,
        request: LoginRequest,
        client: IpAddr,
    ) -> Result<AuthResponse, Error> {
        self.login_throttle.attempt(client)?;
        let org = request.org.as_deref().unwrap_or(&self.settings.default_org);
        let by_email = request.login.contains('@');
        // No account has a control character in its email or username (PostgreSQL would refuse a NUL in
        // the lookup): such a login is an unknown account, answered after the same work as any other.
        let credentials = if request.login.chars().any(char::is_control) {
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
            None if by_email => LoginKey::Unknown(request.login.to_lowercase()),
            None => LoginKey::Unknown(format!("{org}/{}", request.login.to_lowercase())),
        };
        self.login_throttle.admit(&key, client)?;
        let user_id = credentials.as_ref().map(|c| c.user_id);
        let matches = self
            .passwords
            .verify(&request.password, credentials.map(|c| c.password_hash))
            .await?;
        match user_id {
            Some(user_id) if matches => self.start_session(user_id).await,
            _ => {
                self.login_throttle.failed(key, client);
                Err(Error::Unauthenticated)
            }
        }
    }

    async fn start_session(&self, user_id: UserId) -> Result<AuthResponse, Error> {
        let (token, hash) = new_token()?;
        let now = Millis::now();
        self.store.create_session(user_id, hash, now).await?;
        self.store.touch_last_seen(user_id, now).await?;
        Ok(AuthResponse { user_id, token })
    }

    /// Revokes the caller's token at once: the next request with it is unauthenticated.
    pub async fn logout(&self, caller: &Caller) -> Result<(), Error> {
        self.store.delete_session(caller.token_hash).await?;
        // Sockets opened with this token close too, on whichever node they are.
        let revoked = Signal::Revoked {
            user_id: caller.user.id,
            token_hash: caller.token_hash,
        };
        self.bus
            .publish(Topic::User(caller.user.id), Arc::new(revoked))
            .await?;
        Ok(())
    }

    pub async fn authenticate(&self, token: &str) -> Result<Caller, Error> {
        if token.len() != TOKEN_CHARS {
            return Err(Error::Unauthenticated);
        }
        let token_hash = token_hash(token);
        let user = self
            .store
            .session_user(token_hash)
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok(Caller { user, token_hash })
    }
}
