//! A Web Push request (RFC 8030): the payload encrypted for the browser's keys (RFC 8291, `aes128gcm`,
//! by `web-push-native`), signed with VAPID, with `TTL`, `Urgency` and a `Topic` so that a newer
//! notification of the same conversation (or this one, sent again) replaces one not yet delivered.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parley_core::store::Delivery;
use web_push_native::{Auth, WebPushBuilder, p256};

use super::Vapid;

/// How long a push service keeps a push for a browser that is offline: a day.
const TTL_SECONDS: u64 = 24 * 3600;

pub(super) fn request(
    client: &reqwest::Client,
    vapid: &Vapid,
    delivery: &Delivery,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let url =
        reqwest::Url::parse(endpoint).map_err(|e| format!("the endpoint is not a URL: {e}"))?;
    let uri: axum::http::Uri = endpoint
        .parse()
        .map_err(|e| format!("the endpoint is not a URL: {e}"))?;
    let key = URL_SAFE_NO_PAD
        .decode(p256dh.trim_end_matches('='))
        .ok()
        .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok())
        .ok_or("the subscription's p256dh is not a P-256 point")?;
    let secret = URL_SAFE_NO_PAD
        .decode(auth.trim_end_matches('='))
        .ok()
        .filter(|bytes| bytes.len() == 16)
        .ok_or("the subscription's auth is not 16 bytes")?;
    let built = WebPushBuilder::new(uri, key, Auth::clone_from_slice(&secret))
        .with_valid_duration(std::time::Duration::from_secs(TTL_SECONDS))
        .build(delivery.payload.as_bytes())
        .map_err(|e| format!("cannot encrypt the payload: {e}"))?;
    let now = time_now();
    let mut request = client
        .post(url.clone())
        .header(
            reqwest::header::AUTHORIZATION,
            vapid.authorization(&url, now),
        )
        .header("Urgency", delivery.urgency.as_str())
        .header("Topic", delivery.topic.as_str());
    for (name, value) in built.headers() {
        request = request.header(name, value);
    }
    Ok(request.body(built.into_body()))
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
