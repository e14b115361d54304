//! The directory of a cluster whose organizations live on several shards (each a whole store): which shard
//! holds each organization, and which organization each email address belongs to, so that a login by email
//! and a sign-up's check that an address is free each ask one shard. Every node caches what it read.

use async_trait::async_trait;

use super::StoreResult;
use crate::OrgId;
use crate::model::Millis;

/// A shard's number: its place in the configuration, 0 for the first.
pub type ShardNumber = u16;

/// How far apart a shard's ids and cursors are: each shard counts every sequence in these steps from its
/// own number, so none is taken on two shards; room for this many shards.
pub const ID_STEP: i64 = 1024;

/// Where a shard's ids start: above every id a database made before it was a shard (it would take a
/// trillion rows to reach), so those (counted one by one) meet none made on a shard, and an id from here
/// on says which shard made it (`id % ID_STEP`).
pub const ID_BASE: i64 = 1 << 40;

/// What the directory announces to every node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// This organization's entry changed (a move held, switched or released it).
    Org(OrgId),
    /// Any entry may have: this node could not hear announcements for a while.
    Any,
}

#[async_trait]
pub trait Directory: Send + Sync {
    /// How many shards there are; their numbers are `0..shards()`.
    fn shards(&self) -> ShardNumber;
    /// The shard holding the organization with this id, if the directory knows it.
    async fn shard_of_org(&self, org: OrgId) -> StoreResult<Option<ShardNumber>>;
    /// `shard_of_org`, and whether the organization is held, from one reading: a move is switching it to
    /// another shard, and its requests wait until the directory names that shard (never cached while
    /// held).
    async fn placement(&self, org: OrgId) -> StoreResult<(Option<ShardNumber>, bool)>;
    /// Changes of organizations' entries, as the directory announces them to every node; whatever this
    /// node had cached of one is forgotten before it is sent here. A receiver that lags has missed some.
    fn changes(&self) -> tokio::sync::broadcast::Receiver<Change>;
    /// The shard holding the organization with this handle, if the directory knows it.
    async fn shard_of_handle(&self, handle: &str) -> StoreResult<Option<ShardNumber>>;
    /// The shard with the fewest organizations, where a new one goes.
    async fn emptiest(&self) -> StoreResult<ShardNumber>;
    /// The shard of the organization with this handle, placing it on `shard` if it has none yet (the
    /// organization itself is made there next).
    async fn place(&self, handle: &str, shard: ShardNumber) -> StoreResult<ShardNumber>;
    /// The shard holding the account with this (lowercased) email address, if any.
    async fn shard_of_email(&self, email: &str) -> StoreResult<Option<ShardNumber>>;
    /// Claims `email` for a new account in organization `handle`: false if an account has it, or another
    /// sign-up claimed it and has not settled.
    async fn claim_email(&self, email: &str, handle: &str, now: Millis) -> StoreResult<bool>;
    /// Gives back the claim of a sign-up that failed.
    async fn release_email(&self, email: &str) -> StoreResult<()>;
    /// Records that the account with `email` was made in organization `handle`, whose id is `org` (the
    /// organization's first account records its id).
    async fn bind(&self, email: &str, handle: &str, org: OrgId) -> StoreResult<()>;
    /// Claims made before `before` that are neither bound nor released, of organizations on `shard`:
    /// sign-ups whose outcome their node never learnt (`(email, handle)`, a batch at a time).
    async fn unsettled_claims(
        &self,
        shard: ShardNumber,
        before: Millis,
    ) -> StoreResult<Vec<(String, String)>>;
}
