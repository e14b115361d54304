//! Signed file URLs: what `<img src>` and a download link carry in place of the `Authorization` header. The
//! URL names the file, the variant and the expiry, and an HMAC-SHA256 of the three under a secret every
//! node of a cluster shares; nothing of it is stored, and changing any part of it voids the signature.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::FileId;
use crate::model::Millis;

/// Which object of a file a URL serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    File,
    Thumbnail,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::File => "file",
            Variant::Thumbnail => "thumbnail",
        }
    }
}

/// The secret, at least 32 bytes.
#[derive(Clone)]
pub struct UrlSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(..)")
    }
}

impl UrlSigner {
    /// `None` for a secret shorter than 32 bytes.
    pub fn new(secret: Vec<u8>) -> Option<UrlSigner> {
        (secret.len() >= 32).then_some(UrlSigner { secret })
    }

    fn mac(&self, file: FileId, variant: Variant, expires: Millis) -> Hmac<Sha256> {
        // Any length of key is valid for HMAC.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(format!("{file}\n{}\n{}", variant.label(), expires.0).as_bytes());
        mac
    }

    /// The signature of a URL for `file` good until `expires`.
    pub fn sign(&self, file: FileId, variant: Variant, expires: Millis) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(file, variant, expires).finalize().into_bytes())
    }

    /// Whether `signature` is this signer's for these, in constant time; the expiry is the caller's to judge.
    pub fn verify(&self, file: FileId, variant: Variant, expires: Millis, signature: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.mac(file, variant, expires)
            .verify_slice(&bytes)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_exactly_what_it_signed() {
        let signer = UrlSigner::new(vec![7; 32]).expect("long enough");
        let signature = signer.sign(FileId(5), Variant::File, Millis(1000));
        assert!(signer.verify(FileId(5), Variant::File, Millis(1000), &signature));
        assert!(!signer.verify(FileId(6), Variant::File, Millis(1000), &signature));
        assert!(!signer.verify(FileId(5), Variant::Thumbnail, Millis(1000), &signature));
        assert!(!signer.verify(FileId(5), Variant::File, Millis(1001), &signature));
        assert!(!signer.verify(FileId(5), Variant::File, Millis(1000), "AAAA"));
        assert!(!signer.verify(FileId(5), Variant::File, Millis(1000), "not base64!"));
        let other = UrlSigner::new(vec![8; 32]).expect("long enough");
        assert!(!other.verify(FileId(5), Variant::File, Millis(1000), &signature));
        assert!(UrlSigner::new(vec![1; 31]).is_none());
    }
}
