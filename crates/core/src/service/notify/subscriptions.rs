//! Where a user's devices are told, and when: subscriptions (Web Push or webhook, each owned by the session
//! that made it) and quiet hours.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parley_proto::v1::{
    self, CreateSubscriptionRequest, NotificationSettings, SubscriptionKind, SubscriptionList,
};

use super::quiet_hours::known_time_zone;
use crate::model::Millis;
use crate::service::{Caller, Parley};
use crate::store::{NewPushSubscription, PushSubscription, PushTarget, QuietHours, StoreError};
use crate::wire::rfc3339;
use crate::{Error, SubscriptionId};

/// Subscriptions one user may have across their devices.
pub const MAX_SUBSCRIPTIONS: u32 = 20;

impl Parley {
    /// Registers where the caller's device is told of what it missed. A webhook's signing secret is in
    /// this answer only.
    pub async fn add_subscription(
        &self,
        caller: &Caller,
        request: CreateSubscriptionRequest,
    ) -> Result<v1::Subscription, Error> {
        let policy = self.settings.push.addresses;
        let target = match request {
            CreateSubscriptionRequest::WebPush { endpoint, keys, .. } => {
                policy
                    .check_url(&endpoint)
                    .map_err(|why| Error::invalid("invalid_endpoint", format!("endpoint {why}")))?;
                check_key(&keys.p256dh, 65, "p256dh")?;
                check_key(&keys.auth, 16, "auth")?;
                PushTarget::WebPush {
                    endpoint,
                    p256dh: keys.p256dh,
                    auth: keys.auth,
                }
            }
            CreateSubscriptionRequest::Webhook { url } => {
                policy
                    .check_url(&url)
                    .map_err(|why| Error::invalid("invalid_url", format!("url {why}")))?;
                let (secret, _) = crate::service::sessions::new_token()?;
                PushTarget::Webhook { url, secret }
            }
        };
        let new = NewPushSubscription {
            user_id: caller.user.id,
            session_hash: caller.token_hash,
            target,
            now: Millis::now(),
        };
        let made = self
            .store
            .add_subscription(new, MAX_SUBSCRIPTIONS)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::Conflict {
                    code: "too_many_subscriptions",
                    message: format!(
                        "at most {MAX_SUBSCRIPTIONS} subscriptions per user: delete one first"
                    ),
                },
                e => e.into(),
            })?;
        let mut wire = subscription_wire(caller, &made);
        if let PushTarget::Webhook { secret, .. } = &made.target {
            wire.secret = Some(secret.clone());
        }
        Ok(wire)
    }

    /// The caller's subscriptions, on all their devices.
    pub async fn subscriptions(&self, caller: &Caller) -> Result<SubscriptionList, Error> {
        let subscriptions = self.store.subscriptions_of(caller.user.id).await?;
        Ok(SubscriptionList {
            subscriptions: subscriptions
                .iter()
                .map(|s| subscription_wire(caller, s))
                .collect(),
        })
    }

    /// Removes one of the caller's subscriptions; another user's is not found.
    pub async fn delete_subscription(
        &self,
        caller: &Caller,
        id: SubscriptionId,
    ) -> Result<(), Error> {
        if self.store.delete_subscription(caller.user.id, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("subscription"))
        }
    }

    /// The operator's switch (`parley admin push-previews`): whether an organization's pushes carry a preview
    /// of the text, which then passes through the browsers' push services (encrypted).
    pub async fn set_push_previews(&self, org: &str, on: bool) -> Result<(), Error> {
        crate::validate::handle("org", org)?;
        if self.store.set_push_previews(org, on).await? {
            Ok(())
        } else {
            Err(Error::NotFound("organization"))
        }
    }

    pub async fn notification_settings(
        &self,
        caller: &Caller,
    ) -> Result<NotificationSettings, Error> {
        let hours = self.store.quiet_hours(caller.user.id).await?;
        Ok(NotificationSettings {
            quiet_hours: hours.map(|h| v1::QuietHours {
                start: clock(h.start),
                end: clock(h.end),
                time_zone: h.time_zone,
            }),
        })
    }

    pub async fn set_notification_settings(
        &self,
        caller: &Caller,
        settings: NotificationSettings,
    ) -> Result<NotificationSettings, Error> {
        let hours = match settings.quiet_hours {
            None => None,
            Some(h) => {
                let start = minutes(&h.start).ok_or_else(|| bad_clock("start"))?;
                let end = minutes(&h.end).ok_or_else(|| bad_clock("end"))?;
                if h.time_zone.len() > 64 || !known_time_zone(&h.time_zone) {
                    return Err(Error::invalid(
                        "invalid_time_zone",
                        "time_zone must be an IANA time zone name, such as Europe/Berlin",
                    ));
                }
                Some(QuietHours {
                    start,
                    end,
                    time_zone: h.time_zone,
                })
            }
        };
        self.store.set_quiet_hours(caller.user.id, hours).await?;
        self.notification_settings(caller).await
    }
}

fn subscription_wire(caller: &Caller, s: &PushSubscription) -> v1::Subscription {
    v1::Subscription {
        id: s.id,
        kind: match s.target {
            PushTarget::WebPush { .. } => SubscriptionKind::WebPush,
            PushTarget::Webhook { .. } => SubscriptionKind::Webhook,
        },
        endpoint: s.target.endpoint().to_owned(),
        created_at: rfc3339(s.created_at),
        this_session: s.session_hash == caller.token_hash(),
        secret: None,
    }
}

fn check_key(key: &str, bytes: usize, name: &'static str) -> Result<(), Error> {
    let decoded = URL_SAFE_NO_PAD
        .decode(key.trim_end_matches('='))
        .ok()
        .filter(|k| k.len() == bytes && (bytes != 65 || k[0] == 4));
    match decoded {
        Some(_) => Ok(()),
        None => Err(Error::invalid(
            "invalid_keys",
            format!("keys.{name} must be {bytes} bytes in base64url"),
        )),
    }
}

/// `HH:MM` as minutes after midnight.
fn minutes(clock: &str) -> Option<u16> {
    let (h, m) = clock.split_once(':')?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn bad_clock(which: &str) -> Error {
    Error::invalid(
        "invalid_quiet_hours",
        format!("quiet_hours.{which} must be HH:MM on a 24-hour clock"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_are_strict() {
        assert_eq!(minutes("00:00"), Some(0));
        assert_eq!(minutes("23:59"), Some(1439));
        for bad in ["24:00", "7:00", "07:60", "0700", "+7:00", "07:0", ""] {
            assert_eq!(minutes(bad), None, "{bad}");
        }
        assert_eq!(clock(7 * 60 + 5), "07:05");
    }
}
