//! A browser upload form for S3 (a "presigned POST"): a policy naming the bucket, the key and the exact
//! size, signed with AWS Signature Version 4. Unlike a presigned PUT, whose signature cannot bind the body's
//! length, the store refuses a body of any other size.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use parley_core::storage::PostForm;
use sha2::Sha256;
use time::OffsetDateTime;
use time::macros::format_description;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

pub(super) struct Target<'a> {
    /// Where the form is posted: the bucket's URL.
    pub url: &'a str,
    pub bucket: &'a str,
    pub region: &'a str,
    pub key: &'a str,
}

pub(super) struct Credential<'a> {
    pub key_id: &'a str,
    pub secret_key: &'a str,
    pub token: Option<&'a str>,
}

/// The form that uploads exactly `bytes` bytes to the target's key, until `expires_in` after `now`.
pub(super) fn form(
    target: &Target<'_>,
    credential: &Credential<'_>,
    bytes: u64,
    expires_in: Duration,
    now: OffsetDateTime,
) -> PostForm {
    let day = now
        .format(format_description!("[year][month][day]"))
        .unwrap_or_default();
    let amz_date = now
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let expiration = (now + expires_in)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
        ))
        .unwrap_or_default();
    let scope = format!(
        "{}/{day}/{}/s3/aws4_request",
        credential.key_id, target.region
    );
    let mut fields = vec![
        ("key".to_owned(), target.key.to_owned()),
        ("x-amz-algorithm".to_owned(), ALGORITHM.to_owned()),
        ("x-amz-credential".to_owned(), scope),
        ("x-amz-date".to_owned(), amz_date),
    ];
    if let Some(token) = credential.token {
        fields.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    let mut conditions = vec![
        serde_json::json!({ "bucket": target.bucket }),
        serde_json::json!(["content-length-range", bytes, bytes]),
    ];
    conditions.extend(
        fields
            .iter()
            .map(|(name, value)| serde_json::json!({ name.as_str(): value })),
    );
    let policy = serde_json::json!({ "expiration": expiration, "conditions": conditions });
    let policy = STANDARD.encode(policy.to_string());
    let key = [day.as_str(), target.region, "s3", "aws4_request"]
        .into_iter()
        .fold(
            format!("AWS4{}", credential.secret_key).into_bytes(),
            |key, part| hmac(&key, part.as_bytes()),
        );
    let signature = hex(&hmac(&key, policy.as_bytes()));
    fields.push(("policy".to_owned(), policy));
    fields.push(("x-amz-signature".to_owned(), signature));
    PostForm {
        url: target.url.to_owned(),
        fields,
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's own example of a POST policy signature ("Example: Browser-based upload using HTTP POST").
    #[test]
    fn the_signing_key_and_signature_follow_sigv4() {
        let key = ["20151229", "us-east-1", "s3", "aws4_request"]
            .into_iter()
            .fold(
                b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_vec(),
                |key, part| hmac(&key, part.as_bytes()),
            );
        let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        assert_eq!(
            hex(&hmac(&key, policy.as_bytes())),
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
        );
    }

    #[test]
    fn the_form_binds_bucket_key_and_exact_size() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("a time");
        let form = form(
            &Target {
                url: "http://127.0.0.1:9000/parley",
                bucket: "parley",
                region: "us-east-1",
                key: "uploads/1/1",
            },
            &Credential {
                key_id: "AKID",
                secret_key: "SECRET",
                token: None,
            },
            1234,
            Duration::from_secs(600),
            now,
        );
        let field = |name: &str| {
            form.fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .expect(name)
        };
        let policy = STANDARD.decode(field("policy")).expect("base64");
        let policy: serde_json::Value = serde_json::from_slice(&policy).expect("json");
        assert_eq!(policy["expiration"], "2023-11-14T22:23:20.000Z");
        let conditions = policy["conditions"].as_array().expect("conditions");
        assert!(conditions.contains(&serde_json::json!(["content-length-range", 1234, 1234])));
        assert!(conditions.contains(&serde_json::json!({"key": "uploads/1/1"})));
        assert!(conditions.contains(&serde_json::json!({"bucket": "parley"})));
        assert_eq!(
            field("x-amz-credential"),
            "AKID/20231114/us-east-1/s3/aws4_request"
        );
        assert_eq!(field("x-amz-signature").len(), 64);
    }
}
