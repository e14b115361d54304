//! A real OpenID provider for tests: npm's `oidc-provider` (pinned in `scripts/oidc-provider/package-lock.json`)
//! configured by `scripts/oidc-provider/provider.mjs` (whose header says what it serves), installed by
//! `scripts/oidc-provider/run` and started as `node provider.mjs PORT CONFIG` on a free port, issuer
//! `http://127.0.0.1:PORT`. Dropping it kills it.
//!
//! Without Node.js and npm to install it, `OidcProvider::start` answers `None` and the test is skipped, unless
//! `REQUIRE_SERVICES=1` (as in CI) makes that a failure.
//!
//! What it does, in short: discovery at `/.well-known/openid-configuration`, the authorization code flow only, PKCE
//! (S256) required, the nonce echoed, ID tokens signed RS256 (or ES256) carrying `email`, `email_verified`, `name`
//! and `preferred_username` for the scopes `email` and `profile`; clients authenticate with `client_secret_basic`.
//! Its login page is a form a browser (a "Username" field, a "Sign in" button) and [`OidcProvider::sign_in`] can
//! both fill in; signing in grants consent at once. The login is remembered in the provider's `_session` cookie:
//! a later authorization in the same browser context signs in the same account without asking (use a fresh
//! context, or `prompt=login`, for another).
//! Test controls: [`OidcProvider::rotate_keys`], [`OidcProvider::set_id_token_ttl`],
//! [`OidcProvider::issue_expired_id_tokens`] and [`OidcProvider::add_client`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde::Serialize;
use tokio::process::{Child, Command};
use url::Url;

use crate::child;
use crate::ports::free_port;

/// What the provider knows: its clients (relying parties) and its accounts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OidcConfig {
    pub clients: Vec<OidcClient>,
    pub accounts: Vec<OidcAccount>,
    /// The ID tokens' lifetime in seconds (at least 1); an hour when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_ttl: Option<u32>,
    /// What signs the ID tokens.
    pub alg: SigningAlg,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, a 2048-bit key: what most providers use.
    #[default]
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

/// A relying party: Parley, as one organization's SSO configuration names it.
#[derive(Clone, Debug, Serialize)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
    /// Exact matches only, as OpenID Connect wants.
    pub redirect_uris: Vec<String>,
}

/// Someone who can sign in at the provider, by `preferred_username` (or `sub`).
#[derive(Clone, Debug, Serialize)]
pub struct OidcAccount {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub preferred_username: String,
}

impl OidcAccount {
    /// `username`, with the subject `sub-{username}` and the verified address `{username}@example.org`.
    pub fn new(username: &str) -> OidcAccount {
        OidcAccount {
            sub: format!("sub-{username}"),
            email: format!("{username}@example.org"),
            email_verified: true,
            name: username.to_owned(),
            preferred_username: username.to_owned(),
        }
    }
}

/// Where the provider sent the user agent back to: a client's `redirect_uri` with `code`, `state` and `iss` (or
/// `error`) in its query, not followed.
#[derive(Clone, Debug)]
pub struct Callback {
    pub url: Url,
    /// The `Cookie` header the cookie jar would send with it: what the relying party set before sending the user
    /// agent to the provider (the flow's state, say), when the authorization began at the relying party.
    pub cookie: Option<String>,
}

impl Callback {
    /// The query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        let mut pairs = self.url.query_pairs();
        pairs
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`.
    issuer: String,
    http: reqwest::Client,
    /// Every client's redirect URIs: where [`OidcProvider::sign_in`] stops.
    redirect_uris: Mutex<Vec<String>>,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// The provider script: `OIDC_PROVIDER` if set, else what `scripts/oidc-provider/run` installs (and prints).
/// `None` without a working `node`.
async fn provider_script() -> Option<PathBuf> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .await;
    if !node.is_ok_and(|status| status.success()) {
        return None;
    }
    child::installed("OIDC_PROVIDER", "oidc-provider/run").await
}

/// The provider on a fresh port, run in `dir` and logging to `dir/oidc-provider.log`; answers the child and its
/// issuer.
fn spawn(script: &Path, dir: &Path) -> (Child, String) {
    let port = free_port();
    let log = std::fs::File::create(dir.join("oidc-provider.log")).expect("a log file");
    let child = Command::new("node")
        .arg(script)
        .arg(port.to_string())
        .arg(dir.join("config.json"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    (child, format!("http://127.0.0.1:{port}"))
}

/// How many redirects and forms a sign-in may take.
const MAX_STEPS: usize = 10;

impl OidcProvider {
    pub async fn start(config: &OidcConfig) -> Option<OidcProvider> {
        let Some(script) = provider_script().await else {
            assert!(
                !crate::required(),
                "the OpenID provider (Node.js and scripts/oidc-provider/run) is required"
            );
            eprintln!(
                "skipped: the OpenID provider could not be installed (Node.js, scripts/oidc-provider/run)"
            );
            return None;
        };
        parley_client::install_tls_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let json = serde_json::to_vec_pretty(config).expect("JSON");
        std::fs::write(dir.path().join("config.json"), json).expect("write the configuration");
        let (child, issuer) = child::start(
            "the OpenID provider",
            &dir.path().join("oidc-provider.log"),
            || spawn(&script, dir.path()),
            async |url| {
                let discovery = format!("{url}/.well-known/openid-configuration");
                let response = http.get(discovery).send().await;
                response.is_ok_and(|r| r.status() == 200)
            },
        )
        .await;
        let redirect_uris = config
            .clients
            .iter()
            .flat_map(|client| client.redirect_uris.iter().cloned())
            .collect();
        Some(OidcProvider {
            issuer,
            http,
            redirect_uris: Mutex::new(redirect_uris),
            _child: child,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`, as in its discovery document and its tokens' `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// POSTs `body` as JSON to the test control `path`; answers the JSON it returns.
    async fn control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("the OpenID provider answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    /// A new signing key with a new `kid`, which signs the ID tokens issued from now on. Its JWKS then lists only
    /// the new key, or with `keep_old` the new one first and the older ones after. Answers the new `kid`.
    pub async fn rotate_keys(&self, keep_old: bool) -> String {
        let answer = self
            .control(
                "/__test/rotate-keys",
                serde_json::json!({ "keep_old": keep_old }),
            )
            .await;
        answer["kid"].as_str().expect("a kid").to_owned()
    }

    /// ID tokens issued from now on live `seconds` (at least 1).
    pub async fn set_id_token_ttl(&self, seconds: u32) {
        self.control("/__test/id-tokens", serde_json::json!({ "ttl": seconds }))
            .await;
    }

    /// ID tokens issued from now on (until called with `false`) have expired already: `iat` an hour ago, `exp` a
    /// minute ago. Validly signed otherwise.
    pub async fn issue_expired_id_tokens(&self, expired: bool) {
        self.control(
            "/__test/id-tokens",
            serde_json::json!({ "expired": expired }),
        )
        .await;
    }

    /// Registers another client (or replaces the one with its `client_id`): for a relying party whose redirect URI
    /// is known only after the provider started.
    pub async fn add_client(&self, client: &OidcClient) {
        let body = serde_json::to_value(client).expect("JSON");
        self.control("/__test/clients", body).await;
        if let Ok(mut uris) = self.redirect_uris.lock() {
            uris.extend(client.redirect_uris.iter().cloned());
        }
    }

    /// Whether `url` is one of the clients' redirect URIs (its query aside).
    fn is_redirect_uri(&self, url: &Url) -> bool {
        let mut bare = url.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        let uris = self.redirect_uris.lock().expect("the redirect URIs");
        uris.iter()
            .any(|uri| Url::parse(uri).is_ok_and(|uri| uri == bare))
    }

    /// Plays a user agent with a cookie jar of its own: GETs `authorization_url` (the provider's `/auth?…`, or a
    /// relying party's URL that redirects there), follows redirects, fills in the login form with `username`, and
    /// stops at the redirect to a client's redirect URI, which it answers without following. Another answer (an
    /// unknown username's 401, an error page) is an `Err` with its status and body.
    pub async fn sign_in(
        &self,
        authorization_url: &str,
        username: &str,
    ) -> Result<Callback, String> {
        let mut jar = CookieJar::default();
        let mut url =
            Url::parse(authorization_url).map_err(|e| format!("{authorization_url}: {e}"))?;
        // The next request's form body; a GET without one.
        let mut form: Option<String> = None;
        let mut submitted = false;
        for _ in 0..MAX_STEPS {
            let request = match form.take() {
                Some(body) => self
                    .http
                    .post(url.clone())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
                None => self.http.get(url.clone()),
            };
            let request = match jar.header(&url) {
                Some(cookie) => request.header(COOKIE, cookie),
                None => request,
            };
            let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
            jar.store(&url, response.headers());
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .ok_or_else(|| format!("{url}: {status} without a Location"))?;
                let next = url.join(location).map_err(|e| format!("{location}: {e}"))?;
                if self.is_redirect_uri(&next) {
                    let cookie = jar.header(&next);
                    return Ok(Callback { url: next, cookie });
                }
                url = next;
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            match login_form_action(&body) {
                Some(action) if status == 200 && !submitted => {
                    url = url.join(&action).map_err(|e| format!("{action}: {e}"))?;
                    let fields = [("login", username)];
                    form = Some(
                        url::form_urlencoded::Serializer::new(String::new())
                            .extend_pairs(fields)
                            .finish(),
                    );
                    submitted = true;
                }
                _ => return Err(format!("{url}: {status}\n{body}")),
            }
        }
        Err(format!(
            "no redirect to a client after {MAX_STEPS} steps (at {url})"
        ))
    }
}

/// The `action` of the provider's login form (the page `provider.mjs` renders): a form with a `login` field.
fn login_form_action(html: &str) -> Option<String> {
    let form = &html[html.find("<form")?..];
    if !form.contains("name=\"login\"") {
        return None;
    }
    let tag = &form[..form.find('>')?];
    let action = &tag[tag.find("action=\"")? + "action=\"".len()..];
    let action = &action[..action.find('"')?];
    // provider.mjs escapes with numeric references; an interaction's uid has none.
    Some(action.replace("&#38;", "&"))
}

/// Cookies per origin, enough for the provider and a relying party on 127.0.0.1: a cookie goes back to its
/// origin on the paths under its own (reqwest's jar is a feature the workspace leaves off).
#[derive(Default)]
struct CookieJar {
    /// By (origin, name): the value and the path.
    cookies: HashMap<(String, String), (String, String)>,
}

impl CookieJar {
    fn store(&mut self, url: &Url, headers: &reqwest::header::HeaderMap) {
        let origin = url.origin().ascii_serialization();
        for header in headers.get_all(SET_COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let mut parts = header.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let mut path = "/".to_owned();
            let mut removed = value.is_empty();
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                match key.to_ascii_lowercase().as_str() {
                    "path" => path = val.to_owned(),
                    "max-age" => removed |= val.parse::<i64>().is_ok_and(|age| age <= 0),
                    // How koa (oidc-provider) clears a cookie; other dates are taken as in the future.
                    "expires" => removed |= val.contains("1970"),
                    _ => {}
                }
            }
            let key = (origin.clone(), name.to_owned());
            if removed {
                self.cookies.remove(&key);
            } else {
                self.cookies.insert(key, (value.to_owned(), path));
            }
        }
    }

    /// The `Cookie` header for a request to `url`, if any cookie goes there.
    fn header(&self, url: &Url) -> Option<String> {
        let origin = url.origin().ascii_serialization();
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|((o, _), (_, path))| *o == origin && path_matches(url.path(), path))
            .map(|((_, name), (value, _))| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// RFC 6265's path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::Digest;

    const REDIRECT: &str = "http://127.0.0.1:9/sso/callback";

    fn config() -> OidcConfig {
        OidcConfig {
            clients: vec![OidcClient {
                client_id: "parley".into(),
                client_secret: "parley-secret".into(),
                redirect_uris: vec![REDIRECT.into()],
            }],
            accounts: vec![OidcAccount::new("ada")],
            ..OidcConfig::default()
        }
    }

    #[derive(Deserialize)]
    struct Discovery {
        issuer: String,
        authorization_endpoint: String,
        token_endpoint: String,
        jwks_uri: String,
        code_challenge_methods_supported: Vec<String>,
    }

    /// An authorization URL with PKCE; answers it and the verifier.
    fn authorization_url(discovery: &Discovery, state: &str, nonce: &str) -> (String, String) {
        let verifier = crate::random_hex(32);
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let mut url = Url::parse(&discovery.authorization_endpoint).expect("a URL");
        url.query_pairs_mut()
            .append_pair("client_id", "parley")
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email profile")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        (url.into(), verifier)
    }

    /// The token endpoint's answer to `code`.
    async fn redeem(
        provider: &OidcProvider,
        discovery: &Discovery,
        code: &str,
        verifier: &str,
    ) -> reqwest::Response {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ])
            .finish();
        provider
            .http
            .post(&discovery.token_endpoint)
            .basic_auth("parley", Some("parley-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("the token endpoint answers")
    }

    /// The code exchanged: the ID token's header and claims (decoded, not verified).
    async fn exchange(
        provider: &OidcProvider,
        discovery: &Discovery,
        code: &str,
        verifier: &str,
    ) -> (serde_json::Value, serde_json::Value) {
        let response = redeem(provider, discovery, code, verifier).await;
        assert_eq!(response.status(), 200);
        let tokens: serde_json::Value = response.json().await.expect("JSON");
        let id_token = tokens["id_token"].as_str().expect("an ID token");
        let part = |i: usize| -> serde_json::Value {
            let segment = id_token.split('.').nth(i).expect("a JWT");
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url"))
                .expect("JSON")
        };
        (part(0), part(1))
    }

    async fn kids(provider: &OidcProvider, discovery: &Discovery) -> Vec<String> {
        let jwks: serde_json::Value = provider
            .http
            .get(&discovery.jwks_uri)
            .send()
            .await
            .expect("the JWKS")
            .json()
            .await
            .expect("JSON");
        let keys = jwks["keys"].as_array().expect("keys");
        keys.iter()
            .map(|key| key["kid"].as_str().expect("a kid").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn oidc_sign_in_rotation_and_expiry() {
        let Some(provider) = OidcProvider::start(&config()).await else {
            return;
        };
        let discovery: Discovery = provider
            .http
            .get(format!(
                "{}/.well-known/openid-configuration",
                provider.issuer()
            ))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("JSON");
        assert_eq!(discovery.issuer, provider.issuer());
        assert_eq!(discovery.code_challenge_methods_supported, ["S256"]);

        let (url, verifier) = authorization_url(&discovery, "state-1", "nonce-1");
        let callback = provider.sign_in(&url, "ada").await.expect("signed in");
        assert!(
            callback.url.as_str().starts_with(REDIRECT),
            "{:?}",
            callback.url
        );
        assert_eq!(callback.param("state").as_deref(), Some("state-1"));
        assert_eq!(callback.param("iss").as_deref(), Some(provider.issuer()));
        let code = callback.param("code").expect("a code");
        let (header, claims) = exchange(&provider, &discovery, &code, &verifier).await;
        assert_eq!(header["alg"], "RS256");
        assert_eq!(
            kids(&provider, &discovery).await,
            [header["kid"].as_str().expect("a kid")]
        );
        assert_eq!(claims["nonce"], "nonce-1");
        assert_eq!(claims["sub"], "sub-ada");
        assert_eq!(claims["email"], "ada@example.org");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["preferred_username"], "ada");
        // A code goes once.
        let again = redeem(&provider, &discovery, &code, &verifier).await;
        assert_eq!(again.status(), 400);

        // Nobody by that name: the form again, with 401.
        let (url, _) = authorization_url(&discovery, "state-2", "nonce-2");
        let error = provider.sign_in(&url, "bob").await.expect_err("unknown");
        assert!(
            error.contains("401") && error.contains("role=\"alert\""),
            "{error}"
        );

        // A new key signs from now on, and the JWKS lists only it.
        let old = header["kid"].as_str().expect("a kid").to_owned();
        let kid = provider.rotate_keys(false).await;
        assert_ne!(kid, old);
        assert_eq!(kids(&provider, &discovery).await, [kid.as_str()]);
        let (url, verifier) = authorization_url(&discovery, "state-3", "nonce-3");
        let code = provider
            .sign_in(&url, "ada")
            .await
            .expect("signed in")
            .param("code")
            .expect("a code");
        let (header, claims) = exchange(&provider, &discovery, &code, &verifier).await;
        assert_eq!(header["kid"], kid.as_str());
        assert_eq!(claims["nonce"], "nonce-3");

        // Expired on issue, then a short lifetime.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        provider.issue_expired_id_tokens(true).await;
        let (url, verifier) = authorization_url(&discovery, "state-4", "nonce-4");
        let code = provider
            .sign_in(&url, "ada")
            .await
            .expect("signed in")
            .param("code")
            .expect("a code");
        let (_, claims) = exchange(&provider, &discovery, &code, &verifier).await;
        assert!(claims["exp"].as_u64().expect("exp") < now, "{claims}");
        provider.issue_expired_id_tokens(false).await;
        provider.set_id_token_ttl(5).await;
        let (url, verifier) = authorization_url(&discovery, "state-5", "nonce-5");
        let code = provider
            .sign_in(&url, "ada")
            .await
            .expect("signed in")
            .param("code")
            .expect("a code");
        let (_, claims) = exchange(&provider, &discovery, &code, &verifier).await;
        let lifetime = claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat");
        assert_eq!(lifetime, 5, "{claims}");

        // A client added at run time.
        provider
            .add_client(&OidcClient {
                client_id: "late".into(),
                client_secret: "late-secret".into(),
                redirect_uris: vec!["http://127.0.0.1:9/late".into()],
            })
            .await;
        let mut url =
            Url::parse(&authorization_url(&discovery, "state-6", "nonce-6").0).expect("a URL");
        let query: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .map(|(k, v)| match k.as_str() {
                "client_id" => (k, "late".into()),
                "redirect_uri" => (k, "http://127.0.0.1:9/late".into()),
                _ => (k, v),
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(query);
        let callback = provider
            .sign_in(url.as_str(), "ada")
            .await
            .expect("signed in");
        assert!(
            callback
                .url
                .as_str()
                .starts_with("http://127.0.0.1:9/late?code="),
            "{}",
            callback.url
        );
    }
}
