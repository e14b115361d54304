//! An organization's settings: who may sign up without an invitation (anyone, nobody, or people of some
//! email domains), the public channels new members join, and who may create channels, make invitations and
//! use `@channel`, and how long messages are kept (`retention.rs` purges). Members read them; owners and
//! administrators change them (audited), and every connected member hears of a change (`org.updated`).

use std::sync::Arc;

use parley_proto::v1::{
    self, Allowed, AuditKind, ChannelMentions, ConversationKind, OrgSettingsPatch, SignupPolicy,
};

use super::audit::by;
use super::conversations::only_to_own_devices;
use super::retention::retention_days;
use super::{Caller, Parley, roles};
use crate::bus::{Signal, Topic};
use crate::model::{Millis, User};
use crate::store::{AuditRecord, OrgPolicy, OrgSettingsRecord};
use crate::{ConversationId, Error, OrgId};

/// Most email domains an organization lists.
pub const MAX_EMAIL_DOMAINS: usize = 50;
/// Most channels every new member joins.
pub const MAX_DEFAULT_CHANNELS: usize = 20;
/// The longest domain name (RFC 1035).
const MAX_DOMAIN_CHARS: usize = 253;

/// A domain as `email_domains` keeps it: lowercase letters, digits, `-` and dots, with at least one dot.
fn domain(value: &str) -> Result<String, Error> {
    let domain = value.trim().to_lowercase();
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if domain.len() > MAX_DOMAIN_CHARS || !domain.contains('.') || !labels_ok {
        let message = format!("{value:?} is not a domain such as example.com");
        return Err(Error::invalid("invalid_domain", message));
    }
    Ok(domain)
}

/// The domain of an email address, lowercase.
fn email_domain(email: &str) -> Option<String> {
    email.rsplit_once('@').map(|(_, d)| d.to_lowercase())
}

impl Parley {
    /// How a sign-up without invitation may treat `org`: what its administrators chose, or (before they
    /// chose) the server's `open_signup` and the org's own flag. A refused sign-up goes to the store like
    /// any other, so an organization that exists and one that does not answer alike.
    pub(super) async fn signup_policy(&self, org: &str, email: &str) -> Result<OrgPolicy, Error> {
        let unchosen = self.org_policy(org);
        let Some(settings) = self.store.org_settings_by_handle(org).await? else {
            return Ok(unchosen);
        };
        Ok(match settings.signup {
            None => unchosen,
            Some(SignupPolicy::Open) => OrgPolicy::JoinOrCreate,
            // The store sees the org closed (`open_signup` follows a chosen policy) and refuses.
            Some(SignupPolicy::InviteOnly) => OrgPolicy::JoinOpen,
            Some(SignupPolicy::EmailDomains) => {
                let listed =
                    email_domain(email).is_some_and(|d| settings.email_domains.contains(&d));
                if listed {
                    OrgPolicy::JoinOrCreate
                } else {
                    OrgPolicy::JoinOpen
                }
            }
        })
    }

    /// Has a new member join their organization's default channels. They are in already whatever
    /// happens here, so a failure is logged rather than answered.
    pub(super) async fn join_default_channels(&self, user: &User) {
        let joined = async {
            let Some(settings) = self.store.org_settings(user.org_id).await? else {
                return Ok(());
            };
            for id in settings.default_channels {
                let Some(channel) = self.store.conversation(id).await? else {
                    continue;
                };
                if channel.org_id == user.org_id && channel.is_public_channel() && !channel.archived
                {
                    let own = only_to_own_devices(&channel);
                    self.store
                        .add_members(id, &[user.id], own, Millis::now())
                        .await?;
                }
            }
            Ok::<(), Error>(())
        };
        if let Err(error) = joined.await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(user_id = %user.id, error, "default channels not joined");
        }
    }

    /// The caller's organization's settings.
    pub async fn org_settings(&self, caller: &Caller) -> Result<v1::OrgSettings, Error> {
        Ok(self.settings_wire(&self.settings_of(caller).await?))
    }

    /// Changes the caller's organization's settings. Owners and administrators.
    pub async fn update_org_settings(
        &self,
        caller: &Caller,
        patch: OrgSettingsPatch,
    ) -> Result<v1::OrgSettings, Error> {
        let record = by(caller, AuditKind::SettingsChanged);
        self.write_throttle.check(caller.user.id)?;
        self.require_admin(caller, &record).await?;
        let mut settings = self.settings_of(caller).await?;
        let mut changed = Vec::new();
        if let Some(domains) = &patch.email_domains {
            if domains.len() > MAX_EMAIL_DOMAINS {
                let message = format!("at most {MAX_EMAIL_DOMAINS} email domains");
                return Err(Error::invalid("too_many_domains", message));
            }
            let mut kept = domains
                .iter()
                .map(|d| domain(d))
                .collect::<Result<Vec<_>, _>>()?;
            kept.sort();
            kept.dedup();
            settings.email_domains = kept;
            changed.push("email_domains");
        }
        if let Some(signup) = patch.signup {
            settings.signup = Some(signup);
            changed.push("signup");
        }
        let chosen = settings.signup.unwrap_or(SignupPolicy::InviteOnly);
        if chosen == SignupPolicy::EmailDomains && settings.email_domains.is_empty() {
            return Err(Error::invalid(
                "invalid_domain",
                "sign-up by email domain needs at least one domain",
            ));
        }
        if let Some(channels) = &patch.default_channels {
            settings.default_channels = self.default_channels(caller, channels).await?;
            changed.push("default_channels");
        }
        if let Some(allowed) = patch.channel_creation {
            settings.channel_creation = allowed;
            changed.push("channel_creation");
        }
        if let Some(allowed) = patch.invitations {
            settings.invitations = allowed;
            changed.push("invitations");
        }
        if let Some(who) = patch.channel_mentions {
            settings.channel_mentions = who;
            changed.push("channel_mentions");
        }
        if let Some(days) = patch.retention_days {
            settings.retention_days = retention_days(days)?;
            changed.push("retention_days");
        }
        if let Some(allowed) = patch.channel_retention {
            settings.channel_retention = allowed;
            changed.push("channel_retention");
        }
        if changed.is_empty() {
            return Err(Error::invalid("invalid_input", "give at least one setting"));
        }
        let record = AuditRecord {
            detail: Some(changed.join(", ")),
            ..record
        };
        let settings = self.store.set_org_settings(settings, record).await?;
        let settings = self.settings_wire(&settings);
        self.announce_settings(caller.user.org_id, &settings).await;
        Ok(settings)
    }

    /// Tells every connected member of the organization its settings now, so open pages offer what they
    /// allow without a reload. They are stored already and `GET /v1/org/settings` serves them, so a change
    /// the bus fails to carry is only logged, as a profile change is.
    async fn announce_settings(&self, org_id: OrgId, settings: &v1::OrgSettings) {
        let signal = Signal::OrgUpdated {
            org_id,
            settings: settings.clone(),
        };
        if let Err(error) = self.bus.publish(Topic::Org(org_id), Arc::new(signal)).await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(%org_id, error, "settings change not announced");
        }
    }

    /// Refuses a non-administrator what the organization keeps to its administrators.
    pub(super) async fn unless_restricted(
        &self,
        caller: &Caller,
        pick: fn(&OrgSettingsRecord) -> Allowed,
        error: Error,
    ) -> Result<(), Error> {
        if caller.user.role.is_admin() {
            return Ok(());
        }
        match self.store.org_settings(caller.user.org_id).await? {
            Some(settings) if pick(&settings) == Allowed::Admins => Err(error),
            _ => Ok(()),
        }
    }

    /// Refuses `@channel` and `@here` to someone who may not use them in this conversation.
    pub(super) async fn may_mention_everyone(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
    ) -> Result<(), Error> {
        if caller.user.role.is_admin() {
            return Ok(());
        }
        let restricted = self
            .store
            .org_settings(caller.user.org_id)
            .await?
            .is_some_and(|s| s.channel_mentions == ChannelMentions::Moderators);
        if !restricted {
            return Ok(());
        }
        let membership = self
            .store
            .membership(conversation_id, caller.user.id)
            .await?;
        if roles::moderates(caller.user.role, membership.map(|m| m.role)) {
            return Ok(());
        }
        Err(Error::Denied {
            code: "channel_mention_restricted",
            message: "only the channel's owners and moderators may use @channel and @here here",
        })
    }

    async fn settings_of(&self, caller: &Caller) -> Result<OrgSettingsRecord, Error> {
        self.store
            .org_settings(caller.user.org_id)
            .await?
            .ok_or(Error::NotFound("organization"))
    }

    /// Checks each channel: a public, active channel of the caller's organization.
    async fn default_channels(
        &self,
        caller: &Caller,
        ids: &[ConversationId],
    ) -> Result<Vec<ConversationId>, Error> {
        if ids.len() > MAX_DEFAULT_CHANNELS {
            let message = format!("at most {MAX_DEFAULT_CHANNELS} default channels");
            return Err(Error::invalid("too_many_channels", message));
        }
        let mut kept = Vec::with_capacity(ids.len());
        for &id in ids {
            let channel = self.store.conversation(id).await?;
            let fit = channel.is_some_and(|c| {
                c.org_id == caller.user.org_id
                    && c.kind == ConversationKind::Channel
                    && !c.private
                    && !c.archived
            });
            if !fit {
                return Err(Error::invalid(
                    "invalid_channel",
                    format!("{id} is not a public channel of your organization"),
                ));
            }
            if !kept.contains(&id) {
                kept.push(id);
            }
        }
        Ok(kept)
    }

    fn settings_wire(&self, s: &OrgSettingsRecord) -> v1::OrgSettings {
        let signup = s.signup.unwrap_or(if s.open_signup {
            SignupPolicy::Open
        } else {
            SignupPolicy::InviteOnly
        });
        v1::OrgSettings {
            signup,
            email_domains: s.email_domains.clone(),
            default_channels: s.default_channels.clone(),
            channel_creation: s.channel_creation,
            invitations: s.invitations,
            channel_mentions: s.channel_mentions,
            retention_days: s.retention_days,
            channel_retention: s.channel_retention,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_kept_lowercase_and_checked() {
        assert_eq!(domain(" Example.COM ").ok().as_deref(), Some("example.com"));
        assert_eq!(
            domain("a-b.example.org").ok().as_deref(),
            Some("a-b.example.org")
        );
        for bad in [
            "",
            "example",
            "exa mple.com",
            ".example.com",
            "-a.com",
            "a..com",
            "é.com",
            "@x.com",
        ] {
            assert!(domain(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            email_domain("Ann@Example.COM").as_deref(),
            Some("example.com")
        );
    }
}
