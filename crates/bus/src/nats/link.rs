//! Whether this node hears NATS, as every inbox needs to know: each change of `generation` is a lag (signals
//! published meanwhile were lost, or an inbox overflowed), so the inbox reports it and starts its order over.
//!
//! Two connections make the link: async-nats's client, which publishes and carries the node's own
//! subscriptions (`nodes.rs`), and the feed, which carries the inboxes' (`feed.rs`). It is up while both are,
//! each with its subscriptions confirmed on the server, the feed's on every server of the cluster
//! (`probe.rs`).

use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub connected: bool,
    pub generation: u64,
    pub client: bool,
    pub feed: bool,
    /// Counts the feed's sessions and their ends, so that a probe of a session that has ended since does
    /// not put the feed up.
    pub feed_session: u64,
    /// When the client last lost its connection; `None` until it first does.
    pub deaf_since: Option<Instant>,
}

impl Link {
    /// The client is taken as up (`NatsBus::connect` has just connected it); the feed is not yet.
    pub(crate) fn starting() -> Link {
        Link {
            connected: false,
            generation: 0,
            client: true,
            feed: false,
            feed_session: 0,
            deaf_since: None,
        }
    }
}

/// Records the client's state; idempotent, so the event callback and the periodic check of
/// `connection_state()` may both report the same transition.
pub(crate) fn observe_client(link: &watch::Sender<Link>, up: bool) {
    update(link, |link| {
        if link.client && !up {
            link.deaf_since = Some(Instant::now());
        }
        link.client = up;
    });
}

/// The feed's session has its subscriptions on its server; it counts as up once a probe proves that every
/// server of the cluster knows them (`feed_probed`). Answers the session's number.
pub(crate) fn feed_subscribed(link: &watch::Sender<Link>) -> u64 {
    let mut session = 0;
    update(link, |link| {
        link.feed_session += 1;
        session = link.feed_session;
    });
    session
}

/// The probe after `feed_subscribed` went round: the feed is up, if that session still is.
pub(crate) fn feed_probed(link: &watch::Sender<Link>, session: u64) {
    update(link, |link| {
        if link.feed_session == session {
            link.feed = true;
        }
    });
}

/// The feed's session ended.
pub(crate) fn feed_down(link: &watch::Sender<Link>) {
    update(link, |link| {
        link.feed = false;
        link.feed_session += 1;
    });
}

/// A change of `connected` (and only that) starts a new generation, and is the only change inboxes hear of.
fn update(link: &watch::Sender<Link>, change: impl FnOnce(&mut Link)) {
    link.send_if_modified(|link| {
        change(link);
        let connected = link.client && link.feed;
        if link.connected == connected {
            return false;
        }
        link.connected = connected;
        link.generation += 1;
        true
    });
}

/// A subscription overflowed and messages were dropped: every inbox must catch up.
pub(crate) fn overflow(link: &watch::Sender<Link>) {
    link.send_modify(|link| link.generation += 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_up_while_both_connections_are() {
        let (link, receiver) = watch::channel(Link::starting());
        observe_client(&link, true);
        assert_eq!(receiver.borrow().generation, 0);
        let session = feed_subscribed(&link);
        assert!(!receiver.borrow().connected, "not probed yet");
        feed_probed(&link, session);
        assert!(receiver.borrow().connected);
        assert_eq!(receiver.borrow().generation, 1);
        observe_client(&link, false);
        observe_client(&link, false);
        feed_down(&link);
        let seen = *receiver.borrow();
        assert!(!seen.connected);
        assert_eq!(seen.generation, 2, "one transition, however many reports");
        observe_client(&link, true);
        feed_probed(&link, session);
        assert!(
            !receiver.borrow().connected,
            "a probe of a session that ended since does not count"
        );
        let session = feed_subscribed(&link);
        feed_probed(&link, session);
        overflow(&link);
        let seen = *receiver.borrow();
        assert!(seen.connected);
        assert_eq!(seen.generation, 4);
    }
}
