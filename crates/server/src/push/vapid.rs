//! The server's VAPID identity (RFC 8292): a P-256 key pair whose public half browsers subscribe with, and
//! the `Authorization: vapid t=…, k=…` header that proves a push comes from this server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

/// How long one signature is good for; push services refuse more than 24 hours.
const VALID_SECONDS: i64 = 12 * 3600;

pub struct Vapid {
    key: SigningKey,
    /// The public key as browsers take it: the uncompressed point, base64url.
    public_key: String,
    subject: String,
}

impl Vapid {
    /// From the 32 bytes of a private key.
    pub fn new(secret: &[u8], subject: String) -> Option<Vapid> {
        let key = SigningKey::from_slice(secret).ok()?;
        let point = key.verifying_key().to_encoded_point(false);
        Some(Vapid {
            public_key: URL_SAFE_NO_PAD.encode(point.as_bytes()),
            key,
            subject,
        })
    }

    /// From `vapid_private_key` (base64url) or the hex a data directory's `vapid-key` holds.
    pub fn parse(text: &str, subject: String) -> Option<Vapid> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()?
        } else {
            URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?
        };
        Vapid::new(&bytes, subject)
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` header for a push to `endpoint`, signed for its origin, valid from `now` (Unix
    /// seconds) for 12 hours.
    pub fn authorization(&self, endpoint: &reqwest::Url, now: i64) -> String {
        let audience = endpoint.origin().ascii_serialization();
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now + VALID_SECONDS,
            "sub": self.subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signed.as_bytes());
        let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        format!("vapid t={token}, k={}", self.public_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn the_token_verifies_with_the_public_key_for_the_endpoints_origin() {
        let vapid = Vapid::new(&[7u8; 32], "mailto:ops@example.com".to_owned()).expect("a key");
        let endpoint = reqwest::Url::parse("https://push.example.com:8443/x/y").expect("a URL");
        let header = vapid.authorization(&endpoint, 1_000);
        let (token, key) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("t and k");
        assert_eq!(key, vapid.public_key());
        let parts: Vec<&str> = token.split('.').collect();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64"))
                .expect("json");
        assert_eq!(claims["aud"], "https://push.example.com:8443");
        assert_eq!(claims["exp"], 1_000 + VALID_SECONDS);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        let point = URL_SAFE_NO_PAD.decode(key).expect("base64");
        let verifying = VerifyingKey::from_sec1_bytes(&point).expect("a point");
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).expect("base64"))
            .expect("64 bytes");
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(verifying.verify(signed.as_bytes(), &signature).is_ok());
        assert!(Vapid::parse(&"07".repeat(32), String::new()).is_some());
        assert!(Vapid::parse("not a key", String::new()).is_none());
    }
}
