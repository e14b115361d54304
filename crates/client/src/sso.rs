//! Single sign-on through the SDK: what an organization offers, a sign-in's start and finish, and the
//! provider as administrators set it.

use parley_proto::v1::{
    AuthResponse, SsoCallback, SsoProvider, SsoSettings, SsoSettingsUpdate, SsoStart,
    SsoStartRequest,
};
use reqwest::Method;

use crate::{Client, Result};

impl Client {
    /// Whether `org` (the server's default when `None`) signs in through an OpenID provider.
    pub async fn sso_provider(&self, org: Option<&str>) -> Result<SsoProvider> {
        let mut builder = self.request(Method::GET, &["v1", "auth", "sso"]);
        if let Some(org) = org {
            builder = builder.query(&[("org", org)]);
        }
        Self::json(builder).await
    }

    /// Begins a sign-in: the provider's authorization URL, and the flow's key for `sso_finish`.
    pub async fn sso_start(&self, org: Option<&str>) -> Result<SsoStart> {
        let body = SsoStartRequest {
            org: org.map(str::to_owned),
        };
        let builder = self.request(Method::POST, &["v1", "auth", "sso", "start"]);
        Self::json(builder.json(&body)).await
    }

    /// Finishes a sign-in with what the provider's redirect carried. Use the answer's token with
    /// `Client::with_token`.
    pub async fn sso_finish(&self, callback: &SsoCallback) -> Result<AuthResponse> {
        let builder = self.request(Method::POST, &["v1", "auth", "sso", "callback"]);
        Self::json(builder.json(callback)).await
    }

    pub async fn sso_settings(&self) -> Result<SsoSettings> {
        Self::json(self.request(Method::GET, &["v1", "admin", "sso"])).await
    }

    pub async fn set_sso_settings(&self, update: &SsoSettingsUpdate) -> Result<SsoSettings> {
        let builder = self.request(Method::PUT, &["v1", "admin", "sso"]);
        Self::json(builder.json(update)).await
    }

    pub async fn remove_sso_settings(&self) -> Result<()> {
        Self::empty(self.request(Method::DELETE, &["v1", "admin", "sso"])).await
    }
}
