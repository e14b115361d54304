//! Single sign-on with OpenID Connect: an organization's provider, as its administrators set it up, and the
//! authorization code flow a client goes through to sign in with it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the login page needs to offer an organization's single sign-on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SsoProvider {
    /// The organization's handle.
    pub org: String,
    /// What the button says: "Sign in with {display_name}".
    pub display_name: String,
    /// Whether its members must sign in this way (password login is refused, owners excepted).
    pub required: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoStartRequest {
    /// The organization's handle; absent means the server's default organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// A sign-in begun: send the browser to `authorization_url`, and keep `flow_key` for the callback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SsoStart {
    /// The provider's authorization endpoint with this flow's `state`, `nonce` and PKCE challenge.
    pub authorization_url: String,
    /// A secret of the client that began the flow, which only it can show at the callback: a link to a
    /// callback made by someone else signs nobody in. The flow lasts ten minutes and is used once.
    pub flow_key: String,
}

/// Finishing a sign-in with what the provider's redirect carried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoCallback {
    /// The organization whose callback the provider sent the browser to (`/v1/auth/sso/callback/{org}`
    /// passes it on): it must be the flow's.
    pub org: String,
    pub state: String,
    pub code: String,
    /// The provider's `iss` parameter (RFC 9207), when it sends one: it must name the organization's issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// What `POST /v1/auth/sso/start` answered.
    pub flow_key: String,
}

/// An organization's single sign-on, as its administrators see it. The client secret is never shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SsoSettings {
    /// The provider's issuer URL, where `/.well-known/openid-configuration` is found.
    pub issuer: String,
    pub client_id: String,
    pub display_name: String,
    /// Whether someone signing in for the first time takes over the existing account of the organization with
    /// the same email, when the provider says it verified that email.
    pub link_by_email: bool,
    /// Whether members must sign in this way: password login and sign-up are refused (owners may still use
    /// their password, so a broken provider cannot lock the organization out).
    pub required: bool,
    /// The redirect URI to register at the provider: the organization's own.
    pub redirect_uri: String,
}

/// An organization's single sign-on, as its administrators set it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoSettingsUpdate {
    pub issuer: String,
    pub client_id: String,
    /// Absent keeps the stored secret; needed the first time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub display_name: String,
    #[serde(default)]
    pub link_by_email: bool,
    #[serde(default)]
    pub required: bool,
}
