//! What a shard of several keeps in the directory they share: a new organization's place, and each new
//! account's email address, claimed before the account is made (so no two shards make one address twice)
//! and settled after: bound to its organization, or released. A claim whose outcome its node never learnt
//! (a timeout, a crash) is settled later by `settle_claims`, which looks for the account on its shard.

use super::Parley;
use super::accounts::taken;
use crate::Error;
use crate::model::{Millis, User};
use crate::store::StoreError;

/// How old an unsettled claim must be before `settle_claims` settles it: far longer than any sign-up.
const CLAIM_SETTLES_AFTER_MILLIS: i64 = 10 * 60 * 1000;

impl Parley {
    /// Places organization `org` on this shard unless the directory has it elsewhere: a sign-up that may
    /// make it is sent here by its router, and one sent on a moment before another node placed it
    /// elsewhere is asked to retry (and then goes there).
    pub(super) async fn place_org(&self, org: &str) -> Result<(), Error> {
        let Some(shard) = &self.shard else {
            return Ok(());
        };
        let placed = shard.directory.place(org, shard.number).await?;
        if placed == shard.number {
            Ok(())
        } else {
            Err(Error::Busy)
        }
    }

    /// Claims `email` in the directory for a new account in organization `org`.
    pub(super) async fn claim_email(&self, email: &str, org: &str) -> Result<(), Error> {
        let Some(shard) = &self.shard else {
            return Ok(());
        };
        if shard
            .directory
            .claim_email(email, org, Millis::now())
            .await?
        {
            Ok(())
        } else {
            Err(taken("email"))
        }
    }

    /// Binds a claimed address to the account made with it, or releases the claim of one the store refused.
    /// When the outcome is unknown (the store did not answer in time), the claim stays for `settle_claims`;
    /// a failure here is only logged, for the same reason.
    pub(super) async fn settle_email(&self, email: &str, org: &str, made: &Result<User, Error>) {
        let Some(shard) = &self.shard else {
            return;
        };
        let settled = match made {
            Ok(user) => shard.directory.bind(email, org, user.org_id).await,
            // The store may have written it and not said so.
            Err(Error::Store(StoreError::Conflict(_) | StoreError::NotFound(_))) => {
                shard.directory.release_email(email).await
            }
            Err(Error::Store(_)) => return,
            Err(_) => shard.directory.release_email(email).await,
        };
        if let Err(error) = settled {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "cannot settle a new account's email address in the directory"
            );
        }
    }

    /// Settles the claims of this shard's organizations that their sign-ups left: bound where the account
    /// exists, released where it does not. Answers how many it settled; the janitor calls it.
    pub async fn settle_claims(&self) -> Result<u64, Error> {
        let Some(shard) = &self.shard else {
            return Ok(0);
        };
        let before = Millis(Millis::now().0 - CLAIM_SETTLES_AFTER_MILLIS);
        let claims = shard
            .directory
            .unsettled_claims(shard.number, before)
            .await?;
        let mut settled = 0;
        for (email, org) in claims {
            match self.store.credentials_by_email(&email).await? {
                Some(account) => shard.directory.bind(&email, &org, account.org_id).await?,
                None => shard.directory.release_email(&email).await?,
            }
            settled += 1;
        }
        Ok(settled)
    }
}
