//! OpenID Connect for organizations' single sign-on, with the `openidconnect` crate over the server's own
//! reqwest: discovery, the authorization URL (code flow, PKCE with S256, `state`, `nonce`), the code's
//! exchange, and the ID token's checks (signature against the provider's JWKS, issuer, audience, expiry,
//! nonce). Each provider's discovery document and keys are kept an hour; a token signed with a key they do
//! not have makes them fetched again once, which is how a provider's key rotation is followed.
//!
//! Every request goes through the address guard (only addresses the operator allows, as for pushes),
//! follows no redirect, and reads at most `MAX_RESPONSE_BYTES`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    HttpRequest, HttpResponse, IssuerUrl, JsonWebKeySet, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};
use parley_core::service::notify::AddressPolicy;
use parley_core::sso::{Authorization, Identity, OidcError, OpenIdConnect, RelyingParty};

use crate::address_guard::GuardedResolver;

/// How long a provider's discovery document and keys are used before they are fetched again.
const METADATA_LIFETIME: Duration = Duration::from_secs(3600);
/// Providers kept at once; past it the oldest half is forgotten. With each one's discovery document and keys
/// under `MAX_RESPONSE_BYTES`, the cache holds 32 MiB at the very most.
const MAX_PROVIDERS: usize = 64;
/// The longest answer read from a provider (a discovery document, a key set, a token response).
const MAX_RESPONSE_BYTES: usize = 256 << 10;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `openidconnect` crate's HTTP client: the server's reqwest, guarded.
struct Http {
    client: reqwest::Client,
    policy: AddressPolicy,
}

#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("the URL {0}")]
    Refused(&'static str),
    #[error("the answer is longer than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    Http(#[from] openidconnect::http::Error),
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = parts.uri.to_string();
            // An address host is never resolved, so the guard's resolver cannot see it.
            self.policy.check_url(&url).map_err(HttpError::Refused)?;
            let mut response = self
                .client
                .request(parts.method, url)
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut answer = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(HttpError::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(answer.body(bytes)?)
        })
    }
}

struct Cached {
    metadata: CoreProviderMetadata,
    fetched: Instant,
}

/// OpenID Connect with every organization's provider.
pub struct OpenIdClient {
    http: Http,
    /// Discovery documents with their keys, by issuer.
    providers: Mutex<HashMap<String, Arc<Cached>>>,
}

impl OpenIdClient {
    pub fn new(policy: AddressPolicy) -> Result<Self, reqwest::Error> {
        // TLS to providers: the process-wide ring provider (already built for rustls-webpki).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .build()?;
        Ok(OpenIdClient {
            http: Http { client, policy },
            providers: Mutex::new(HashMap::new()),
        })
    }

    /// The issuer's discovery document and keys: kept ones unless they are older than
    /// `METADATA_LIFETIME` (or `fresh` asks for new ones).
    async fn metadata(&self, issuer: &str, fresh: bool) -> Result<Arc<Cached>, OidcError> {
        if !fresh && let Some(cached) = self.cached(issuer) {
            return Ok(cached);
        }
        let url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| OidcError::Unavailable(format!("the issuer URL: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| OidcError::Unavailable(chain(&e)))?;
        Ok(self.keep(issuer, metadata))
    }

    fn cached(&self, issuer: &str) -> Option<Arc<Cached>> {
        let providers = self.providers.lock().ok()?;
        providers
            .get(issuer)
            .filter(|cached| cached.fetched.elapsed() < METADATA_LIFETIME)
            .cloned()
    }

    fn keep(&self, issuer: &str, metadata: CoreProviderMetadata) -> Arc<Cached> {
        let cached = Arc::new(Cached {
            metadata,
            fetched: Instant::now(),
        });
        if let Ok(mut providers) = self.providers.lock() {
            if providers.len() >= MAX_PROVIDERS {
                let mut ages: Vec<Instant> = providers.values().map(|c| c.fetched).collect();
                ages.sort();
                let cutoff = ages[ages.len() / 2];
                providers.retain(|_, c| c.fetched > cutoff);
            }
            providers.insert(issuer.to_owned(), Arc::clone(&cached));
        }
        cached
    }

    /// The issuer's metadata with its keys fetched again (the discovery document kept).
    async fn with_new_keys(&self, issuer: &str, cached: &Cached) -> Result<Arc<Cached>, OidcError> {
        let jwks = JsonWebKeySet::fetch_async(cached.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| OidcError::Unavailable(chain(&e)))?;
        let metadata = cached.metadata.clone().set_jwks(jwks);
        Ok(self.keep(issuer, metadata))
    }
}

fn client(metadata: &CoreProviderMetadata, party: &RelyingParty<'_>) -> Result<Client, OidcError> {
    let redirect = RedirectUrl::new(party.redirect_uri.to_owned())
        .map_err(|e| OidcError::Unavailable(format!("the redirect URI: {e}")))?;
    Ok(CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(party.client_id.to_owned()),
        Some(ClientSecret::new(party.client_secret.to_owned())),
    )
    .set_redirect_uri(redirect))
}

type Client = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// An error with its causes, for the audit log and the answer.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn no_matching_key(error: &ClaimsVerificationError) -> bool {
    matches!(
        error,
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
    )
}

#[async_trait]
impl OpenIdConnect for OpenIdClient {
    async fn discover(&self, issuer: &str) -> Result<(), OidcError> {
        self.metadata(issuer, true).await.map(|_| ())
    }

    async fn authorize(&self, party: &RelyingParty<'_>) -> Result<Authorization, OidcError> {
        let cached = self.metadata(party.issuer, false).await?;
        let client = client(&cached.metadata, party)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url: url.into(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    async fn redeem(
        &self,
        party: &RelyingParty<'_>,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Identity, OidcError> {
        let cached = self.metadata(party.issuer, false).await?;
        let tokens = client(&cached.metadata, party)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Unavailable(chain(&e)))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(_) => {
                    OidcError::Refused(chain(&e))
                }
                other => OidcError::Unavailable(chain(&other)),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::Refused("the provider answered no ID token".to_owned()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let verified = {
            let client = client(&cached.metadata, party)?;
            id_token
                .claims(&client.id_token_verifier(), &nonce)
                .cloned()
        };
        let claims = match verified {
            Err(error) if no_matching_key(&error) => {
                // Signed with a key the kept set does not have: the provider rotated its keys.
                let renewed = self.with_new_keys(party.issuer, &cached).await?;
                let client = client(&renewed.metadata, party)?;
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .cloned()
            }
            other => other,
        }
        .map_err(|e| OidcError::Refused(chain(&e)))?;
        Ok(Identity {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|email| email.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.as_str().to_owned()),
            preferred_username: claims
                .preferred_username()
                .map(|name| name.as_str().to_owned()),
        })
    }
}
