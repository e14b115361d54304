//! Who may try how often: log in, sign up and send. Each throttle is built once from its limits in
//! `Settings` and consulted by its use case, so REST and the WebSocket share one allowance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;

use super::limits::{FailureCounts, KeyedLimiter};
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

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_account: 10,
            per_address: 60,
        }
    }
}

/// Sign-ups allowed: each costs an Argon2 hash, and may create an organization.
#[derive(Clone, Copy, Debug)]
pub struct SignupLimits {
    /// From one client address, per hour (all at once, then evenly over the hour).
    pub per_address_per_hour: u32,
    /// From everyone together, per minute.
    pub per_minute: u32,
}

impl Default for SignupLimits {
    fn default() -> Self {
        SignupLimits {
            per_address_per_hour: 20,
            per_minute: 60,
        }
    }
}

/// Messages one user may send, over REST and every socket together.
#[derive(Clone, Copy, Debug)]
pub struct SendLimits {
    pub per_second: u32,
    /// How many may go at once before the rate applies.
    pub burst: u32,
}

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits {
            per_second: 10,
            burst: 50,
        }
    }
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Whose failed logins a lockout counts: an account, or a login that matches none (counted alike, so a
/// lockout does not tell which accounts exist).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum LoginKey {
    Account(UserId),
    /// An email, or `org/username`, lowercased.
    Unknown(String),
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
        self.by_address.check(&address)
    }

    /// Before the password is checked: refused when `key` failed too often this minute and `address` has
    /// been failing.
    pub(super) fn admit(&self, key: &LoginKey, address: IpAddr) -> Result<(), Error> {
        let (failures, retry_after) = self.account_failures.count(key);
        if failures < self.per_account {
            return Ok(());
        }
        let (address_failures, _) = self.address_failures.count(&address);
        if address_failures < FAILING_AFTER {
            return Ok(());
        }
        Err(Error::RateLimited { retry_after })
    }

    /// Counts a wrong password (or unknown login) against both.
    pub(super) fn failed(&self, key: LoginKey, address: IpAddr) {
        self.account_failures.record(key);
        self.address_failures.record(address);
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

    pub(super) fn check(&self, address: IpAddr) -> Result<(), Error> {
        self.by_address.check(&address)?;
        self.everyone.check(&())
    }
}

/// Sends are limited per user.
pub(super) struct SendThrottle(KeyedLimiter<UserId>);

impl SendThrottle {
    pub(super) fn new(limits: SendLimits) -> Self {
        let quota = Quota::per_second(at_least_one(limits.per_second))
            .allow_burst(at_least_one(limits.burst.max(limits.per_second)));
        SendThrottle(KeyedLimiter::new(quota))
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
        let nobody = LoginKey::Unknown("nobody@example.org".into());
        for _ in 0..FAILING_AFTER {
            throttle.failed(nobody.clone(), ip(66));
        }
        assert!(throttle.admit(&nobody, ip(66)).is_err());
    }

    #[test]
    fn sends_share_one_allowance_per_user() {
        let throttle = SendThrottle::new(SendLimits {
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
