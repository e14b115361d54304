//! How the notifier's deliveries leave the server: Web Push to a browser's push service (`web_push.rs`)
//! or a signed webhook (`webhook.rs`), over one HTTP client that follows no redirect, uses no proxy,
//! waits at most 10 s, and resolves names only to allowed addresses (`guard.rs`).

pub mod vapid;
mod web_push;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parley_core::service::notify::{AddressPolicy, Attempt, PushSender};
use parley_core::store::{Delivery, PushTarget};
use reqwest::StatusCode;

pub use vapid::Vapid;

/// How long one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct HttpPushSender {
    client: reqwest::Client,
    vapid: Arc<Vapid>,
    policy: AddressPolicy,
}

impl HttpPushSender {
    pub fn new(vapid: Arc<Vapid>, policy: AddressPolicy) -> Result<Self, reqwest::Error> {
        // TLS to push services: the process-wide ring provider (already built for rustls-webpki).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .dns_resolver(Arc::new(crate::address_guard::GuardedResolver { policy }))
            .build()?;
        Ok(HttpPushSender {
            client,
            vapid,
            policy,
        })
    }
}

#[async_trait]
impl PushSender for HttpPushSender {
    async fn send(&self, delivery: &Delivery) -> Attempt {
        let target = &delivery.subscription.target;
        // Checked when it was made; again, as the operator's policy may have changed since.
        if let Err(why) = self.policy.check_url(target.endpoint()) {
            return Attempt::Refused(format!("the endpoint {why}"));
        }
        let request = match target {
            PushTarget::WebPush {
                endpoint,
                p256dh,
                auth,
            } => web_push::request(&self.client, &self.vapid, delivery, endpoint, p256dh, auth),
            PushTarget::Webhook { url, secret } => {
                webhook::request(&self.client, delivery, url, secret)
            }
        };
        let request = match request {
            Ok(request) => request,
            Err(why) => return Attempt::Refused(why),
        };
        match request.send().await {
            Ok(response) => classify(response.status(), response.headers()),
            Err(error) => failed(&error),
        }
    }
}

/// What an answer means for the delivery.
fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap) -> Attempt {
    if status.is_success() {
        return Attempt::Accepted;
    }
    match status {
        StatusCode::NOT_FOUND | StatusCode::GONE => Attempt::Gone,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => Attempt::Retry {
            after: retry_after(headers),
            why: format!("answered {status}"),
        },
        s if s.is_server_error() => Attempt::Retry {
            after: retry_after(headers),
            why: format!("answered {status}"),
        },
        s if s.is_redirection() => {
            Attempt::Refused(format!("answered {status}: redirects are not followed"))
        }
        s => Attempt::Refused(format!("answered {s}")),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is taken as no hint).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn failed(error: &reqwest::Error) -> Attempt {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<crate::address_guard::NotAllowed>() {
            return Attempt::Refused(refused.to_string());
        }
        source = e.source();
    }
    Attempt::Retry {
        after: None,
        why: if error.is_timeout() {
            "timed out".to_owned()
        } else {
            format!("could not reach it: {error}")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn answers_mean_what_rfc_8030_says() {
        let none = HeaderMap::new();
        assert_eq!(classify(StatusCode::CREATED, &none), Attempt::Accepted);
        assert_eq!(classify(StatusCode::GONE, &none), Attempt::Gone);
        assert_eq!(classify(StatusCode::NOT_FOUND, &none), Attempt::Gone);
        let mut later = HeaderMap::new();
        later.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static("120"),
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &later),
            Attempt::Retry {
                after: Some(Duration::from_secs(120)),
                why: "answered 429 Too Many Requests".to_owned()
            }
        );
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &none),
            Attempt::Retry { after: None, .. }
        ));
        assert!(matches!(
            classify(StatusCode::FOUND, &none),
            Attempt::Refused(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &none),
            Attempt::Refused(_)
        ));
    }
}
