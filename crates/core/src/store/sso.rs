//! The records of single sign-on: an organization's OpenID provider, the sign-ins under way, and which
//! account each identity at a provider is.

use async_trait::async_trait;

use super::{AuditRecord, StoreResult};
use crate::model::{Millis, User};
use crate::{OrgId, UserId};

/// An organization's OpenID provider, as its administrators set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoConfigRecord {
    pub org_id: OrgId,
    pub issuer: String,
    pub client_id: String,
    /// Needed to redeem codes at the provider, so kept as given; never shown back.
    pub client_secret: String,
    pub display_name: String,
    pub link_by_email: bool,
    pub required: bool,
}

/// A sign-in under way: what its return is checked against. Kept under the SHA-256 of its `state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoFlowRecord {
    pub state_hash: [u8; 32],
    /// The SHA-256 of the key the client that began it holds.
    pub flow_key_hash: [u8; 32],
    pub org_id: OrgId,
    /// The issuer the flow went to: a flow begun before the organization changed provider finishes nowhere.
    pub issuer: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: Millis,
}

/// An account made at its first sign-in through a provider, with the identity that made it.
#[derive(Clone, Debug)]
pub struct NewSsoUser<'a> {
    pub org_id: OrgId,
    pub issuer: &'a str,
    pub subject: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    /// Of a password nobody knows: the account signs in through its provider.
    pub password_hash: &'a str,
    pub now: Millis,
}

#[async_trait]
pub trait SsoRecords: Send + Sync + 'static {
    // ---- create ----

    /// Records a sign-in under way, and deletes those begun before `expired_before`.
    async fn create_sso_flow(&self, flow: SsoFlowRecord, expired_before: Millis)
    -> StoreResult<()>;
    /// Creates the account in its organization, whatever the organization's sign-up policy (its provider
    /// vouches for the person), with its identity, in one transaction. `Conflict("identity")` when the
    /// identity has an account already (checked first), `Conflict("email")` or `Conflict("username")`.
    async fn create_sso_user(&self, new: NewSsoUser<'_>) -> StoreResult<User>;
    /// Makes the identity sign in to an existing account of the organization. `Conflict("identity")` when
    /// it has one already.
    async fn link_sso_identity(
        &self,
        org_id: OrgId,
        issuer: &str,
        subject: &str,
        user_id: UserId,
        now: Millis,
    ) -> StoreResult<()>;

    // ---- read ----

    async fn sso_config(&self, org_id: OrgId) -> StoreResult<Option<SsoConfigRecord>>;
    /// The provider of the organization with this handle.
    async fn sso_config_by_handle(&self, org: &str) -> StoreResult<Option<SsoConfigRecord>>;
    /// The account this identity signs in to.
    async fn sso_identity(
        &self,
        org_id: OrgId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<UserId>>;

    /// Whether the account has an identity at this issuer already.
    async fn sso_identity_of(
        &self,
        org_id: OrgId,
        issuer: &str,
        user_id: UserId,
    ) -> StoreResult<bool>;

    // ---- update ----

    /// Sets the organization's provider (or removes it, with `None`; identities stay, for a provider set
    /// again), with its audit entry, in one transaction.
    async fn set_sso_config(
        &self,
        org_id: OrgId,
        config: Option<SsoConfigRecord>,
        audit: AuditRecord,
    ) -> StoreResult<()>;

    // ---- delete ----

    /// Deletes and answers the sign-in under way with this state, if the client showing `flow_key_hash`
    /// began it: a flow finishes at most once.
    async fn take_sso_flow(
        &self,
        state_hash: [u8; 32],
        flow_key_hash: [u8; 32],
    ) -> StoreResult<Option<SsoFlowRecord>>;
}
