//! This node's gateway: the `Hub` handle that connections use, and the one dispatcher task behind it that
//! feeds the registry its inputs (commands from connections, signals from the bus, confirmed follows, the
//! clock) and carries out the effects it returns.
//!
//! Registration, departures and bus deliveries all go through the registry in one order, so a membership
//! change and the events around it can never be seen out of order, and no lock is held while anything is
//! sent. Nothing slow is awaited in the loop: follows go to the follower task and come back confirmed,
//! re-reads after a lag and presence announcements run on tasks of their own. Each event is encoded once;
//! every recipient's queue gets the same bytes (a reference-counted buffer), never a copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use futures_util::{FutureExt, StreamExt};
use parley_core::bus::{Delivery, Ended, Inbox, Signal};
use parley_core::service::Resettled;
use parley_core::{Caller, ConversationId, Cursor, OrgId, Parley, UserId};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::close;
use super::follower::{self, Followed};
use super::outbound::{Close, Closer, DeliveryMetrics, Frame, Outbound, close_with, encode};
use super::presence;
use super::registry::{ConnId, Effect, Lag, Member, Refused, Registry, Session};
use crate::tally::Tally;

/// What a new connection brings to the registry. Its conversations come after (`Hub::set_rooms`), read once
/// the connection already hears its user's membership changes, so none can fall in between.
pub(crate) struct Registration {
    pub caller: Arc<Caller>,
    pub contacts: Vec<UserId>,
    pub outbound: mpsc::Sender<Outbound>,
    pub closer: Closer,
}

type Reply = oneshot::Sender<()>;

enum Command {
    Register {
        id: ConnId,
        registration: Box<Registration>,
        done: Reply,
    },
    Rooms {
        id: ConnId,
        conversations: Vec<ConversationId>,
        as_of: Cursor,
        done: Reply,
    },
    Unregister {
        id: ConnId,
    },
    Watch {
        id: ConnId,
        user_ids: Vec<UserId>,
        done: Reply,
    },
    CloseOrg {
        org_id: OrgId,
    },
    Orgs {
        reply: oneshot::Sender<Vec<OrgId>>,
    },
    CloseAll,
}

/// A user's rooms, role and settings read again after a lag, or the failure to.
type Reread = (UserId, Lag, Option<Box<Resettled>>);

/// This node's gateway: a handle on the dispatcher.
pub struct Hub {
    pub(crate) delivery: DeliveryMetrics,
    /// The clock of every connection's op limiter. Made once: each one made calibrates its counter with
    /// `cpuid`, which was 6.5% of the server's CPU while thousands of clients connected.
    pub(crate) clock: governor::clock::DefaultClock,
    /// How many sockets each user has open here, each at most the configured number.
    pub(crate) sockets: Arc<Tally<UserId>>,
    commands: mpsc::UnboundedSender<Command>,
    next_id: AtomicU64,
    connections: Arc<AtomicUsize>,
}

impl Hub {
    /// Starts the dispatcher on `inbox`, which must follow no topic yet; it stops when the hub is dropped or
    /// the inbox ends. Metrics are registered here, so the recorder must be installed first.
    pub fn start(
        parley: Arc<Parley>,
        inbox: Inbox,
        presence_grace: Duration,
        max_sockets_per_user: usize,
    ) -> Arc<Self> {
        let (commands, queue) = mpsc::unbounded_channel();
        let connections = Arc::new(AtomicUsize::new(0));
        let (rereads, reread) = mpsc::unbounded_channel();
        let (follower, followed) = follower::start(Arc::clone(&inbox.topics));
        let dispatcher = Dispatcher {
            registry: Registry::new(presence_grace),
            follower,
            presence: presence::start(Arc::clone(&parley)),
            parley,
            rereads,
            connections: Arc::clone(&connections),
        };
        tokio::spawn(dispatcher.run(inbox, queue, followed, reread));
        Arc::new(Hub {
            delivery: DeliveryMetrics::new(),
            clock: governor::clock::DefaultClock::default(),
            sockets: Tally::new(max_sockets_per_user),
            commands,
            next_id: AtomicU64::new(1),
            connections,
        })
    }

    /// Adds a connection; from when this returns, every event for it reaches its queue.
    pub(crate) async fn register(&self, registration: Registration) -> Option<ConnId> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (done, registered) = oneshot::channel();
        let registration = Box::new(registration);
        self.commands
            .send(Command::Register {
                id,
                registration,
                done,
            })
            .ok()?;
        registered.await.ok().map(|()| id)
    }

    /// Puts a registered connection in its conversations' rooms: `conversations` is exact as of `as_of`, and
    /// any joining or leaving after it that the dispatcher already saw is applied on top.
    pub(crate) async fn set_rooms(
        &self,
        id: ConnId,
        conversations: Vec<ConversationId>,
        as_of: Cursor,
    ) -> Option<()> {
        let (done, set) = oneshot::channel();
        self.commands
            .send(Command::Rooms {
                id,
                conversations,
                as_of,
                done,
            })
            .ok()?;
        set.await.ok()
    }

    pub(crate) fn unregister(&self, id: ConnId) {
        let _ = self.commands.send(Command::Unregister { id });
    }

    /// Adds users whose presence this connection follows; from when this returns, their changes reach it.
    pub(crate) async fn watch(&self, id: ConnId, user_ids: Vec<UserId>) -> Option<()> {
        let (done, watching) = oneshot::channel();
        self.commands
            .send(Command::Watch { id, user_ids, done })
            .ok()?;
        watching.await.ok()
    }

    /// The organizations with connections here.
    pub async fn orgs(&self) -> Vec<OrgId> {
        let (reply, orgs) = oneshot::channel();
        let _ = self.commands.send(Command::Orgs { reply });
        orgs.await.unwrap_or_default()
    }

    /// Tells the connections of organization `org_id` to reconnect: it moved to another shard.
    pub fn close_org(&self, org_id: OrgId) {
        let _ = self.commands.send(Command::CloseOrg { org_id });
    }

    /// Tells every connection to reconnect elsewhere, refuses new ones, and waits (up to `patience`) until
    /// they are gone.
    pub async fn close_all(&self, patience: Duration) {
        let _ = self.commands.send(Command::CloseAll);
        let deadline = Instant::now() + patience;
        while self.connections.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Connections currently registered on this node.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }
}

/// The dispatcher's handle on one connection, kept in the registry.
struct Handle {
    caller: Arc<Caller>,
    outbound: mpsc::Sender<Outbound>,
    closer: Closer,
}

impl Session for Handle {
    fn ended(&self, sessions: &Ended) -> bool {
        self.caller.session_ended(sessions)
    }
}

struct Dispatcher {
    registry: Registry<Handle, Reply>,
    follower: mpsc::UnboundedSender<follower::Op>,
    /// Presence changes to announce, in order.
    presence: mpsc::UnboundedSender<(UserId, bool)>,
    parley: Arc<Parley>,
    rereads: mpsc::UnboundedSender<Reread>,
    connections: Arc<AtomicUsize>,
}

impl Dispatcher {
    async fn run(
        mut self,
        mut inbox: Inbox,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut followed: mpsc::UnboundedReceiver<Followed>,
        mut rereads: mpsc::UnboundedReceiver<Reread>,
    ) {
        let mut grace = std::pin::pin!(tokio::time::sleep_until(Instant::now()));
        let mut grace_at = None;
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => return,
                },
                delivery = inbox.deliveries.next() => match delivery {
                    Some(Delivery::Signal(signal)) => self.route(&signal),
                    Some(Delivery::Lagged) => {
                        tracing::warn!(
                            "the bus dropped signals for this node; connections re-read their rooms and catch up"
                        );
                        self.registry.lagged();
                    }
                    None => return,
                },
                confirmed = followed.recv() => match confirmed {
                    Some(Followed { topic, ticket, ok }) => self.registry.followed(topic, ticket, ok),
                    // Nothing would ever be confirmed again: stop, and connections are refused (1013).
                    None => {
                        tracing::error!("the gateway's follower stopped; the gateway stops");
                        return;
                    }
                },
                Some((user_id, lag, reread)) = rereads.recv() => self.resettled(user_id, lag, reread),
                () = &mut grace, if grace_at.is_some() => self.registry.expire(Instant::now()),
            }
            self.carry_out();
            let next = self.registry.next_deadline();
            if next != grace_at {
                grace_at = next;
                if let Some(at) = next {
                    grace.as_mut().reset(at);
                }
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Register {
                id,
                registration,
                done,
            } => {
                let Registration {
                    caller,
                    contacts,
                    outbound,
                    closer,
                } = *registration;
                let member = Member {
                    user_id: caller.user.id,
                    org_id: caller.user.org_id,
                    role: caller.user.role,
                };
                let handle = Handle {
                    caller,
                    outbound,
                    closer,
                };
                if let Err(Refused { handle, why }) =
                    self.registry.register(id, member, contacts, handle, done)
                {
                    close_with(&handle.closer, why);
                }
                self.count_connections();
            }
            Command::Rooms {
                id,
                conversations,
                as_of,
                done,
            } => self.registry.set_rooms(id, conversations, as_of, done),
            Command::Unregister { id } => {
                self.registry.unregister(id, Instant::now());
                self.count_connections();
            }
            Command::Watch { id, user_ids, done } => self.registry.watch(id, user_ids, done),
            Command::CloseOrg { org_id } => self.registry.close_org(org_id),
            Command::Orgs { reply } => {
                let _ = reply.send(self.registry.orgs());
            }
            Command::CloseAll => self.registry.close_all(),
        }
    }

    /// Keeps this hub's count, and the node's gauge (the sum over its shards' hubs), up to date.
    fn count_connections(&self) {
        let count = self.registry.len();
        let before = self.connections.swap(count, Ordering::AcqRel);
        metrics::gauge!("parley_ws_connections").increment(count as f64 - before as f64);
    }

    fn route(&mut self, signal: &Signal) {
        let parley = &self.parley;
        self.registry
            .route(signal, || Some(Arc::new(wire(parley, signal)?)));
    }

    fn resettled(&mut self, user_id: UserId, lag: Lag, reread: Option<Box<Resettled>>) {
        let Some(resettled) = reread else {
            self.registry.resettle_failed(user_id, lag);
            return;
        };
        let Resettled {
            conversations,
            as_of,
            role,
            settings,
        } = *resettled;
        let settings = wire(&self.parley, &settings).map(Arc::new);
        self.registry
            .resettled(user_id, lag, conversations, as_of, role, settings);
    }

    fn carry_out(&mut self) {
        let mut effects = self.registry.take_effects();
        for effect in effects.drain(..) {
            match effect {
                Effect::Follow { topic, ticket } => {
                    self.follow(follower::Op::Follow(topic, ticket))
                }
                Effect::Unfollow { topic } => self.follow(follower::Op::Unfollow(topic)),
                Effect::Deliver { to, frame } => {
                    for id in to {
                        self.push(id, Outbound::Frame(Arc::clone(&frame)));
                    }
                }
                Effect::Queue { to, item } => self.push(to, item),
                Effect::Close { to, why } => {
                    if let Some(handle) = self.registry.handle(to) {
                        close_with(&handle.closer, why);
                    }
                }
                Effect::Reply(done) => {
                    let _ = done.send(());
                }
                Effect::Presence { user_id, online } => {
                    let _ = self.presence.send((user_id, online));
                }
                Effect::Resettle { via, lag } => self.reread(via, lag),
            }
        }
        self.registry.recycle(effects);
    }

    fn follow(&self, op: follower::Op) {
        let _ = self.follower.send(op);
    }

    /// Queues an item for a connection; a connection whose queue is full is closed, never waited for.
    fn push(&self, id: ConnId, item: Outbound) {
        let Some(handle) = self.registry.handle(id) else {
            return;
        };
        match handle.outbound.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("parley_ws_queue_drops_total").increment(1);
                close_with(&handle.closer, TOO_SLOW);
            }
            // The connection is on its way out; its unregistration follows.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Reads again, on a task of its own, the rooms, role and settings of a connection's user. The answer
    /// always comes back, a failure (or a panic) included, or the user's connections would stay held.
    fn reread(&self, via: ConnId, lag: Lag) {
        let Some(handle) = self.registry.handle(via) else {
            return;
        };
        let (parley, rereads, caller) = (
            Arc::clone(&self.parley),
            self.rereads.clone(),
            Arc::clone(&handle.caller),
        );
        tokio::spawn(async move {
            let read = AssertUnwindSafe(parley.resettle(&caller)).catch_unwind();
            let reread = match read.await {
                Ok(Ok(resettled)) => Some(Box::new(resettled)),
                // Its connections cannot be trusted to be in the right rooms: they reconnect and resume.
                Ok(Err(error)) => {
                    tracing::error!(
                        error = &error as &dyn std::error::Error,
                        "cannot re-read rooms after lag"
                    );
                    None
                }
                Err(_) => {
                    tracing::error!("re-reading rooms after lag failed");
                    None
                }
            };
            let _ = rereads.send((caller.user.id, lag, reread));
        });
    }
}

const TOO_SLOW: Close = Close {
    code: close::TOO_SLOW,
    reason: "too slow: resume from your cursor",
};

/// A signal as connections get it: durable events with their cursor and commit time.
fn wire(parley: &Parley, signal: &Signal) -> Option<Frame> {
    let message = parley.signal_wire(signal)?;
    Some(match signal {
        Signal::Event(event) => Frame {
            text: encode(&message),
            cursor: Some(event.cursor),
            committed_at: Some(event.at),
        },
        _ => Frame::control(&message),
    })
}
