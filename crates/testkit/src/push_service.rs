//! A real Web Push service for tests: npm's `web-push-testing` (pinned in `scripts/push-service/package-lock.json`,
//! installed by `scripts/push-service/run`) started as `node src/bin/server.js PORT` on a free port. It plays the
//! browser's push service: it hands out subscriptions, checks VAPID, decrypts what it is sent and keeps the
//! plaintext for the test to read. Dropping it kills it.
//!
//! Without Node.js and npm to install it, `PushService::start` answers `None` and the test is skipped, unless
//! `REQUIRE_SERVICES=1` (as in CI) makes that a failure.
//!
//! What web-push-testing 1.2.2 does (read in its source, `src/server.js` and `src/PushApiModel.js`, and tried):
//! - Every route is a POST; state is in memory. It listens on every interface and names its endpoints
//!   `http://localhost:PORT/notify/<clientHash>`, `clientHash` being 64 hex digits. `POST /status` → 200 `OK`
//!   (a GET is 404). When the port is taken it exits with status 1.
//! - `POST /subscribe` with JSON `{"applicationServerKey": K}` (optional `"userVisibleOnly": "true"|"false"`, as a
//!   string; any other property → 400). K is the application server's VAPID public key, base64url of the
//!   uncompressed P-256 point (65 bytes), and must import as a P-256 key, else 400
//!   `{"error":{"message":"Parameter applicationServerKey does not seem to be a valid VAPID key."}}`. Without K the
//!   subscription takes pushes without VAPID. → 200 `{"data":{"endpoint","keys":{"p256dh","auth"},"clientHash"}}`,
//!   p256dh base64url of a fresh 65-byte P-256 point, auth base64url of 16 random bytes.
//! - A push, `POST endpoint`: 201 with an empty body when it decrypted. It needs `Content-Encoding: aes128gcm`
//!   (or the legacy `aesgcm`, with `Encryption`/`Crypto-Key`), `Content-Type: application/octet-stream` (another
//!   type is a 400 or a 415), an integer `TTL` header, and a payload (an empty one is a 400). With VAPID (aes128gcm):
//!   `Authorization: vapid t=JWT, k=KEY`, KEY equal to the subscription's K, else 400 "Invalid Crypto-Key header
//!   sent"; JWT verified as ES256 with K, with its `exp`/`nbf` checked, else 400 "Invalid authentication token
//!   supplied" (`aud` and `sub` are not checked). Errors are 400 `{"error":{"message"}}`, an unknown clientHash
//!   included ("Client not subscribed"). `Topic` and `Urgency` are ignored and `TTL` is only checked to be a
//!   number: none of them is kept, and a message is never dropped or replaced.
//! - `POST /get-notifications` with `{"clientHash"}` → 200 `{"data":{"messages":[...]}}`: each accepted push's
//!   decrypted payload as a UTF-8 string (no metadata), in arrival order, never cleared; unknown → 400.
//! - `POST /expire-subscription/<clientHash>` → 200 `OK` (unknown → 400). From then on every push to that
//!   subscription answers 410 `{"reason":"Push subscription has unsubscribed or expired."}`, before its headers or
//!   body are looked at; its messages stay readable. There is no way back.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};

use crate::child;
use crate::ports::free_port;

pub struct PushService {
    /// `http://127.0.0.1:PORT`, for its own API (subscriptions' endpoints name `localhost`).
    pub url: String,
    http: reqwest::Client,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// A subscription as the service hands it out, serialized as a browser's `PushSubscription.toJSON()`:
/// `{"endpoint": …, "keys": {"p256dh": …, "auth": …}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SubscriptionJson", into = "SubscriptionJson")]
pub struct PushSubscription {
    /// Where the application server POSTs pushes: `http://localhost:PORT/notify/<clientHash>`.
    pub endpoint: String,
    /// The subscription's P-256 public key, base64url of the uncompressed point.
    pub p256dh: String,
    /// Its 16-byte authentication secret, base64url.
    pub auth: String,
}

#[derive(Serialize, Deserialize)]
struct SubscriptionJson {
    endpoint: String,
    keys: Keys,
}

#[derive(Serialize, Deserialize)]
struct Keys {
    p256dh: String,
    auth: String,
}

impl From<SubscriptionJson> for PushSubscription {
    fn from(json: SubscriptionJson) -> Self {
        PushSubscription {
            endpoint: json.endpoint,
            p256dh: json.keys.p256dh,
            auth: json.keys.auth,
        }
    }
}

impl From<PushSubscription> for SubscriptionJson {
    fn from(subscription: PushSubscription) -> Self {
        SubscriptionJson {
            endpoint: subscription.endpoint,
            keys: Keys {
                p256dh: subscription.p256dh,
                auth: subscription.auth,
            },
        }
    }
}

impl PushSubscription {
    /// The service's name for it: the endpoint's last path segment.
    fn client_hash(&self) -> &str {
        self.endpoint.rsplit('/').next().unwrap_or_default()
    }
}

/// The server script: `PUSH_SERVICE` if set, else what `scripts/push-service/run` installs (and prints). `None`
/// without a working `node`.
async fn server_script() -> Option<PathBuf> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .await;
    if !node.is_ok_and(|status| status.success()) {
        return None;
    }
    child::installed("PUSH_SERVICE", "push-service/run").await
}

/// The service on a fresh port, run in `dir` and logging to `dir/push-service.log`; answers the child and its URL.
fn spawn(script: &Path, dir: &Path) -> (Child, String) {
    let port = free_port();
    let log = std::fs::File::create(dir.join("push-service.log")).expect("a log file");
    let child = Command::new("node")
        .arg(script)
        .arg(port.to_string())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    (child, format!("http://127.0.0.1:{port}"))
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct Messages {
    messages: Vec<String>,
}

impl PushService {
    pub async fn start() -> Option<PushService> {
        let Some(script) = server_script().await else {
            assert!(
                !crate::required(),
                "the push service (Node.js and scripts/push-service/run) is required"
            );
            eprintln!(
                "skipped: the push service could not be installed (Node.js, scripts/push-service/run)"
            );
            return None;
        };
        parley_client::install_tls_provider();
        let http = reqwest::Client::new();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (child, url) = child::start(
            "the push service",
            &dir.path().join("push-service.log"),
            || spawn(&script, dir.path()),
            async |url| {
                let status = http.post(format!("{url}/status")).send().await;
                status.is_ok_and(|r| r.status() == 200)
            },
        )
        .await;
        Some(PushService {
            url,
            http,
            _child: child,
            _dir: dir,
        })
    }

    /// POSTs `body` as JSON to `path`; answers the status and the body.
    async fn post(&self, path: &str, body: &serde_json::Value) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .expect("the push service answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// A new subscription for the application server whose VAPID public key is `application_server_key`
    /// (base64url of the uncompressed P-256 point): pushes to it must be signed with the matching private key.
    pub async fn subscribe(&self, application_server_key: &str) -> PushSubscription {
        let request = serde_json::json!({ "applicationServerKey": application_server_key });
        let (status, body) = self.post("/subscribe", &request).await;
        assert_eq!(status, 200, "subscribe: {body}");
        let answer: Data<PushSubscription> = serde_json::from_str(&body).expect("a subscription");
        answer.data
    }

    /// The decrypted payloads of the pushes `subscription` accepted, in arrival order (as UTF-8 text; the
    /// service keeps nothing else of them, neither TTL nor Topic nor Urgency).
    pub async fn messages(&self, subscription: &PushSubscription) -> Vec<String> {
        let request = serde_json::json!({ "clientHash": subscription.client_hash() });
        let (status, body) = self.post("/get-notifications", &request).await;
        assert_eq!(status, 200, "get-notifications: {body}");
        let answer: Data<Messages> = serde_json::from_str(&body).expect("the messages");
        answer.data.messages
    }

    /// Expires `subscription` for good: every later push to it answers 410 Gone.
    pub async fn expire(&self, subscription: &PushSubscription) {
        let path = format!("/expire-subscription/{}", subscription.client_hash());
        let (status, body) = self.post(&path, &serde_json::json!({})).await;
        assert_eq!(status, 200, "expire-subscription: {body}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid P-256 public key: the example in RFC 8292, section 3.2.
    const VAPID_KEY: &str =
        "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";

    /// Without a Web Push sender here, a push is an undecryptable body: refused with 400 while the
    /// subscription lives (and not kept), 410 once it has expired.
    async fn push_garbage(service: &PushService, subscription: &PushSubscription) -> u16 {
        let response = service
            .http
            .post(&subscription.endpoint)
            .header("content-encoding", "aes128gcm")
            .header("content-type", "application/octet-stream")
            .header("ttl", "60")
            .body(vec![0u8; 100])
            .send()
            .await
            .expect("the push service answers");
        response.status().as_u16()
    }

    #[tokio::test]
    async fn subscribes_and_expires() {
        let Some(service) = PushService::start().await else {
            return;
        };
        let subscription = service.subscribe(VAPID_KEY).await;
        let port = service.url.rsplit(':').next().expect("a port");
        assert!(
            subscription
                .endpoint
                .starts_with(&format!("http://localhost:{port}/notify/")),
            "{subscription:?}"
        );
        // Base64url without padding of 65 and 16 bytes.
        assert_eq!(subscription.p256dh.len(), 87, "{subscription:?}");
        assert!(subscription.p256dh.starts_with('B'), "{subscription:?}");
        assert_eq!(subscription.auth.len(), 22, "{subscription:?}");
        let other = service.subscribe(VAPID_KEY).await;
        assert_ne!(other, subscription);

        // The browser's JSON shape, both ways.
        let json = serde_json::to_value(&subscription).expect("JSON");
        assert_eq!(json["keys"]["p256dh"], subscription.p256dh.as_str());
        assert_eq!(
            serde_json::from_value::<PushSubscription>(json).expect("a subscription"),
            subscription
        );

        assert_eq!(push_garbage(&service, &subscription).await, 400);
        assert!(service.messages(&subscription).await.is_empty());

        service.expire(&subscription).await;
        assert_eq!(push_garbage(&service, &subscription).await, 410);
        assert_eq!(push_garbage(&service, &other).await, 400, "only that one");
        assert!(service.messages(&subscription).await.is_empty());

        // Not a P-256 point.
        let (status, body) = service
            .post(
                "/subscribe",
                &serde_json::json!({ "applicationServerKey": "BAAA" }),
            )
            .await;
        assert_eq!(status, 400, "{body}");
    }
}
