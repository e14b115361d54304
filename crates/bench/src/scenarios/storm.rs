//! `storm`: everyone comes back at once (a server restart, a network coming back) and catches up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_proto::{ConversationId, Cursor};
use serde::Serialize;

use crate::inbox::{Inbox, Ledger, Totals};
use crate::report::{Latencies, Progress, Report};
use crate::tag::Tag;
use crate::{Bench, Error, Result, User, setup};

/// Members of each group; every user is in one.
const GROUP_SIZE: usize = 10;
/// How long a reconnecting user may take to get everything before what is missing counts as lost.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// A reconnect storm: U users, each BEHIND messages behind, reconnect at the same moment.
///
/// USERS users in groups of ten connect (to learn their cursor) and go offline; then BEHIND messages arrive
/// in each group (sent over REST by one of its members); then every user reconnects at once, resuming
/// from its cursor, and reads until it has all it missed. Measures, per user, the time from the start of
/// the storm to its last missed message (the latency percentiles), and the time until the last user is
/// caught up. This is what a deployment goes through after a restart or a network outage.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Storm {
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Messages each user missed (all in its group).
    #[arg(long, default_value_t = 100)]
    pub behind: usize,
    /// Reconnects in flight at once (the default: all of them).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Groups filled with messages at once while everyone is away.
    #[arg(long, default_value_t = 64)]
    pub send_concurrency: usize,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 200)]
    pub size: usize,
}

pub async fn run(bench: &mut Bench, args: &Storm) -> Result<Report> {
    if args.users < 2 || args.behind == 0 {
        return Err(Error::Scenario(
            "storm needs at least 2 users and 1 message behind".into(),
        ));
    }
    let users = bench.users(args.users).await?;
    let groups: Vec<&[User]> = users
        .chunks(GROUP_SIZE)
        .filter(|group| group.len() > 1)
        .collect();
    let conversations = setup::bounded(groups.clone(), 64, |members| async move {
        setup::group(&members[0], &members[1..], "Bench storm").await
    })
    .await?;
    let members: Vec<(u32, User)> = groups
        .iter()
        .enumerate()
        .flat_map(|(index, group)| group.iter().map(move |user| (index as u32, user.clone())))
        .collect();

    // Where each user is now: connecting once gives its cursor, which it resumes from later.
    let every_user: Vec<User> = members.iter().map(|(_, user)| user.clone()).collect();
    let mut cursors = Vec::with_capacity(members.len());
    for socket in setup::connect_everyone(bench.output, &every_user, 256).await? {
        cursors.push(socket.ready_cursor);
        socket.close().await;
    }

    let ledger = Arc::new(Ledger::new(groups.len()));
    let filling = Progress::start(
        bench.output,
        "send while away",
        "messages",
        Some((groups.len() * args.behind) as u64),
    );
    let sent = filling.counter();
    let work: Vec<(u32, ConversationId, User)> = groups
        .iter()
        .zip(&conversations)
        .enumerate()
        .map(|(index, (group, conversation))| (index as u32, *conversation, group[0].clone()))
        .collect();
    let run_id = bench.run_id;
    let (behind, size, ledger_ref) = (args.behind, args.size, &ledger);
    let errors: Vec<u64> = setup::bounded(
        work,
        args.send_concurrency,
        |(group, conversation, author)| {
            let sent = Arc::clone(&sent);
            async move {
                let mut accepted = 0;
                for seq in 0..behind as u64 {
                    let tag = Tag {
                        run_id,
                        sender: group,
                        seq,
                        scheduled: Duration::ZERO,
                    };
                    let stored = author
                        .client
                        .send_message(conversation, &tag.text(size), Some(&tag.nonce()))
                        .await;
                    if stored.is_ok() {
                        accepted += 1;
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ledger_ref.finish(group, accepted);
                Ok(behind as u64 - accepted)
            }
        },
    )
    .await?;
    filling.finish();

    let progress = Progress::start(
        bench.output,
        "storm",
        "users caught up",
        Some(members.len() as u64),
    );
    let caught_up = progress.counter();
    let times = Latencies::new();
    let before = bench.probe.sample()?;
    let start = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(
        args.concurrency.unwrap_or(members.len()).max(1),
    ));
    let tasks: Vec<_> = members
        .into_iter()
        .zip(cursors)
        .map(|((group, user), cursor)| {
            let inbox = Inbox::new(run_id, start, vec![group], Latencies::new());
            let returning = Returning {
                user,
                cursor,
                ledger: Arc::clone(&ledger),
                limit: Arc::clone(&limit),
            };
            let (times, caught_up, ledger) =
                (times.clone(), Arc::clone(&caught_up), Arc::clone(&ledger));
            tokio::spawn(async move {
                let inbox = returning.run(inbox).await;
                if inbox.failure.is_none() && inbox.complete(&ledger) {
                    times.record(start.elapsed());
                    caught_up.fetch_add(1, Ordering::Relaxed);
                }
                inbox
            })
        })
        .collect();
    let totals = Totals::gather(tasks, &ledger).await;
    let seconds = start.elapsed().as_secs_f64();
    let after = bench.probe.sample()?;
    progress.finish();

    let mut report = Report::new("storm", bench.run_id, super::params(args));
    report.seconds = seconds;
    report.unit = "replayed messages";
    report.achieved_per_second = totals.delivered as f64 / seconds;
    report.sent = ledger.total_accepted();
    // Sends refused while everyone was away; users who did not catch up show as lost messages.
    report.errors = errors.iter().sum::<u64>();
    totals.fill(&mut report);
    report.latency = times.percentiles();
    report.server = crate::procfs::Probe::usage(before, after);
    report
        .extra
        .insert("users_caught_up", caught_up.load(Ordering::Relaxed) as f64);
    Ok(report)
}

/// One user coming back.
struct Returning {
    user: User,
    cursor: Cursor,
    ledger: Arc<Ledger>,
    limit: Arc<tokio::sync::Semaphore>,
}

impl Returning {
    /// Reconnects from its cursor and reads until it has everything its group was sent, or until
    /// `CATCH_UP_TIMEOUT` after its socket opened.
    async fn run(self, mut inbox: Inbox) -> Inbox {
        let socket = {
            let _permit = self.limit.acquire().await;
            self.user.client.connect(Some(self.cursor)).await
        };
        match socket {
            Ok(socket) => {
                let replayed = Arc::new(AtomicU64::new(0));
                setup::receive(socket, inbox, self.ledger, replayed, CATCH_UP_TIMEOUT).await
            }
            Err(error) => {
                inbox.failure = Some(error.to_string());
                inbox
            }
        }
    }
}
