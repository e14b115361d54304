//! A webhook request: the notification as JSON, signed so the receiver knows it is ours and fresh:
//! `Parley-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.

use hmac::{Hmac, KeyInit, Mac};
use parley_core::store::Delivery;
use sha2::Sha256;

pub(super) fn request(
    client: &reqwest::Client,
    delivery: &Delivery,
    url: &str,
    secret: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let url = reqwest::Url::parse(url).map_err(|e| format!("the URL is not a URL: {e}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    Ok(client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Parley-Notification-Id", delivery.notification_id.as_str())
        .header(
            "Parley-Signature",
            signature(secret, now, &delivery.payload),
        )
        .body(delivery.payload.clone()))
}

/// The `Parley-Signature` of `body` sent at `at`.
pub fn signature(secret: &str, at: u64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(format!("{at}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={at},v1={hex}")
}
