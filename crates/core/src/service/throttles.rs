//! Who may try how often: log in, sign up and send. Each throttle is built once from its limits in
//! `Settings` and consulted by its use case, so REST and the WebSocket share one allowance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;

use super::rate_limits::{FailureCounts, KeyedLimiter};
use crate::{Error, UserId};

/// Login attempts allowed per minute.
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    /// Failed logins of one account, after which addresses that have been failing are refused for the
    /// rest of the minute.
    pub per_account: u32,
    /// Attempts from one client address, failed or not.
    pub per_address: u32,
}

/// Sign-ups allowed: each costs an Argon2 hash, and may create an organization.
#[derive(Clone, Copy, Debug)]
pub struct SignupLimits {
    /// From one client address, per hour (all at once, then evenly over the hour).
    pub per_address_per_hour: u32,
    /// From everyone together, per minute.
    pub per_minute: u32,
}

/// Messages one user may send, over REST and every socket together. Reactions, deletions and invitations
/// count against the same allowance: each is a write others may have to hear about.
#[derive(Clone, Copy, Debug)]
pub struct SendLimits {
    pub per_second: u32,
    /// How many may go at once before the rate applies.
    pub burst: u32,
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Whose failed logins a lockout counts: an account, or a login that matches none (counted alike, so a
/// lockout does not tell which accounts exist).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum LoginKey {
    Account(UserId),
    /// The SHA-256 of an email or `org/username`, lowercased: a fixed size whatever was typed.
    Unknown([u8; 32]),
}

/// The network a client address stands for in every per-address limit: an IPv4 address, or the /64 of an
/// IPv6 one, since one IPv6 client commonly holds a whole /64 and could otherwise take a fresh allowance
/// from each of its 2^64 addresses.
pub fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// Failures in this window mark an address as failing.
const FAILING_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures that mark an address as failing: a typo or two does not.
const FAILING_AFTER: u32 = 3;

/// Logins are limited per address (every attempt), and per account, but only against addresses that have
/// been failing: so an attacker who keeps guessing at someone's password locks out the attacker's
/// addresses, never the owner at their desk (a hard lockout keyed on the login string let anyone keep
/// anyone out with 10 requests a minute, and locked out every `bob` of every organization at once).
pub(super) struct LoginThrottle {
    per_account: u32,
    by_address: KeyedLimiter<IpAddr>,
    account_failures: FailureCounts<LoginKey>,
    address_failures: FailureCounts<IpAddr>,
}

impl LoginThrottle {
    pub(super) fn new(limits: LoginLimits) -> Self {
        LoginThrottle {
            per_account: limits.per_account,
            by_address: KeyedLimiter::new(Quota::per_minute(at_least_one(limits.per_address))),
            account_failures: FailureCounts::new(Duration::from_secs(60)),
            address_failures: FailureCounts::new(FAILING_WINDOW),
        }
    }

    /// Every attempt from `address` takes from its allowance, before anything is looked up.
    pub(super) fn attempt(&self, address: IpAddr) -> Result<(), Error> {
        self.by_address.check(&client_network(address))
    }

    /// Before the password is checked: refused when `key` failed too often this minute and `address` has
    /// been failing.
    pub(super) fn admit(&self, key: &LoginKey, address: IpAddr) -> Result<(), Error> {
        let (failures, retry_after) = self.account_failures.count(key);
        if failures < self.per_account {
            return Ok(());
        }
        let (address_failures, _) = self.address_failures.count(&client_network(address));
        if address_failures < FAILING_AFTER {
            return Ok(());
        }
        Err(Error::RateLimited { retry_after })
    }

    /// Counts a wrong password (or unknown login) against both.
    pub(super) fn failed(&self, key: LoginKey, address: IpAddr) {
        self.account_failures.record(key);
        self.address_failures.record(client_network(address));
    }
}

/// Sign-ups are limited per address and for everyone together.
pub(super) struct SignupThrottle {
    by_address: KeyedLimiter<IpAddr>,
    everyone: KeyedLimiter<()>,
}

impl SignupThrottle {
    pub(super) fn new(limits: SignupLimits) -> Self {
        SignupThrottle {
            by_address: KeyedLimiter::new(Quota::per_hour(at_least_one(
                limits.per_address_per_hour,
            ))),
            everyone: KeyedLimiter::new(Quota::per_minute(at_least_one(limits.per_minute))),
        }
    }

    /// Takes from the address's allowance, and from everyone's unless the sign-up carries an invitation (a
    /// member asked for it: a flood of others must not shut invited people out).
    pub(super) fn check(&self, address: IpAddr, invited: bool) -> Result<(), Error> {
        self.by_address.check(&client_network(address))?;
        if invited {
            return Ok(());
        }
        self.everyone.check(&())
    }
}

/// Sends (and reactions, deletions, invitations) are limited per user.
pub(super) struct WriteThrottle(KeyedLimiter<UserId>);

impl WriteThrottle {
    pub(super) fn new(limits: SendLimits) -> Self {
        let quota = Quota::per_second(at_least_one(limits.per_second))
            .allow_burst(at_least_one(limits.burst.max(limits.per_second)));
        WriteThrottle(KeyedLimiter::new(quota))
    }

    pub(super) fn check(&self, user_id: UserId) -> Result<(), Error> {
        self.0.check(&user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_locked_account_still_lets_in_an_address_that_has_not_been_failing() {
        let throttle = LoginThrottle::new(LoginLimits {
            per_account: 3,
            per_address: 1_000,
        });
        let bob = LoginKey::Account(UserId(7));
        for _ in 0..3 {
            throttle.admit(&bob, ip(66)).expect("not locked yet");
            throttle.failed(bob.clone(), ip(66));
        }
        assert!(throttle.admit(&bob, ip(66)).is_err(), "the guesser is out");
        assert!(
            throttle.admit(&bob, ip(1)).is_ok(),
            "bob at his desk is not"
        );
        let other_bob = LoginKey::Account(UserId(8));
        assert!(
            throttle.admit(&other_bob, ip(66)).is_ok(),
            "another account called bob is not locked"
        );
    }

    #[test]
    fn one_or_two_typos_do_not_make_an_address_failing() {
        let throttle = LoginThrottle::new(LoginLimits {
            per_account: 1,
            per_address: 1_000,
        });
        let bob = LoginKey::Account(UserId(7));
        throttle.failed(bob.clone(), ip(66));
        throttle.failed(bob.clone(), ip(66));
        throttle.failed(bob.clone(), ip(1));
        throttle.failed(bob.clone(), ip(1));
        assert!(throttle.admit(&bob, ip(1)).is_ok());
        throttle.failed(bob.clone(), ip(1));
        assert!(throttle.admit(&bob, ip(1)).is_err());
    }

    #[test]
    fn unknown_logins_lock_out_like_accounts() {
        let throttle = LoginThrottle::new(LoginLimits {
            per_account: 2,
            per_address: 1_000,
        });
        let nobody = LoginKey::Unknown([7; 32]);
        for _ in 0..FAILING_AFTER {
            throttle.failed(nobody.clone(), ip(66));
        }
        assert!(throttle.admit(&nobody, ip(66)).is_err());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("v6");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("v6");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("v6");
        assert_eq!(client_network(a), client_network(b));
        assert_ne!(client_network(a), client_network(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("mapped");
        assert_eq!(client_network(mapped), ip(1));
        assert_eq!(client_network(ip(1)), ip(1));
    }

    #[test]
    fn sends_share_one_allowance_per_user() {
        let throttle = WriteThrottle::new(SendLimits {
            per_second: 1,
            burst: 3,
        });
        for _ in 0..3 {
            throttle.check(UserId(1)).expect("within the burst");
        }
        assert!(throttle.check(UserId(1)).is_err());
        assert!(throttle.check(UserId(2)).is_ok(), "each user has their own");
    }
}
