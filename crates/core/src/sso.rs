//! Single sign-on's other side: an OpenID provider, reached through OpenID Connect. The use cases
//! (`service/sso.rs`) decide who signs in; the server implements this trait with the `openidconnect` crate
//! (discovery, the authorization URL with PKCE, `state` and `nonce`, the code's exchange, the ID token's
//! checks against the provider's keys).

use async_trait::async_trait;

/// Where the API's callback for providers lives: the redirect URI an organization registers at its provider
/// is the server's public URL followed by this, `/`, and the organization's handle. One per organization, so
/// that a code one provider sent can never be taken for another organization's (a mix-up attack: the
/// callback's organization must be the flow's).
pub const CALLBACK_PATH: &str = "/v1/auth/sso/callback";

/// Parley as one organization's provider knows it.
#[derive(Clone, Copy, Debug)]
pub struct RelyingParty<'a> {
    /// The provider's issuer URL, exactly as its ID tokens' `iss` says it.
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: &'a str,
}

/// A sign-in begun at the provider: where to send the browser, and the secrets its return is checked with.
#[derive(Clone, Debug)]
pub struct Authorization {
    /// The authorization endpoint with `state`, `nonce` and the PKCE challenge.
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Who the provider says signed in, from an ID token whose signature, issuer, audience, expiry and nonce
/// were checked.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// `sub`: unique and never reassigned within the issuer.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider says it verified `email`.
    pub email_verified: bool,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, or answered what OpenID Connect does not allow (its discovery
    /// document, its keys, its token endpoint).
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code, or its answer did not prove who signed in (a bad signature, another
    /// issuer or audience, an expired token, another nonce).
    #[error("the sign-in could not be verified: {0}")]
    Refused(String),
}

#[async_trait]
pub trait OpenIdConnect: Send + Sync + 'static {
    /// Fetches the issuer's discovery document and keys, to check that it is an OpenID provider.
    async fn discover(&self, issuer: &str) -> Result<(), OidcError>;
    /// A new authorization request (code flow, PKCE with S256, scopes `openid email profile`).
    async fn authorize(&self, party: &RelyingParty<'_>) -> Result<Authorization, OidcError>;
    /// Exchanges the code (with the PKCE verifier) for tokens and checks the ID token against `nonce`.
    async fn redeem(
        &self,
        party: &RelyingParty<'_>,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Identity, OidcError>;
}
