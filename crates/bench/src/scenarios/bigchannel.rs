//! `bigchannel`: a channel of very many members, a fraction of them connected.

use serde::Serialize;

use crate::report::Report;
use crate::scenarios::fanout::{Broadcast, Via};
use crate::{Bench, Error, Result, setup};

/// A company-wide channel: M members, C of them connected, one sender at rate R.
///
/// One sender posts to a public channel of MEMBERS members, of whom the first CONNECTED are online; each
/// message is delivered to every connected member's socket. Measures latency from each message's scheduled
/// send time to its arrival on each socket (open loop). The channel is kept between runs (its handle names
/// its size), since adding 100,000 members takes a while; only missing members are added.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct BigChannel {
    /// Members of the channel, besides the sender.
    #[arg(long, default_value_t = 100_000)]
    pub members: usize,
    /// Members connected while the sender posts.
    #[arg(long, default_value_t = 10_000)]
    pub connected: usize,
    /// Messages per second the sender posts (over REST).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 200)]
    pub size: usize,
    /// Sockets opened at once while connecting the members.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
}

pub async fn run(bench: &mut Bench, args: &BigChannel) -> Result<Report> {
    if args.connected > args.members || args.members == 0 {
        return Err(Error::Scenario(
            "bigchannel needs members, at least as many as are connected".into(),
        ));
    }
    let users = bench.users(args.members + 1).await?;
    let (sender, members) = users
        .split_first()
        .ok_or_else(|| Error::Scenario("bigchannel needs at least one user".into()))?;
    let handle = format!("pb-{}-big-{}", bench.accounts.prefix, args.members);
    let channel = setup::kept_channel(sender, members, &handle).await?;
    let online = &members[..args.connected];
    let sockets = setup::connect_everyone(bench.output, online, args.connect_concurrency).await?;
    let broadcast = Broadcast {
        sender,
        channel,
        rate: args.rate,
        seconds: args.seconds,
        size: args.size,
        via: Via::Rest,
    };
    let report = Report::new("bigchannel", bench.run_id, super::params(args));
    broadcast.measure(bench, report, sockets).await
}
