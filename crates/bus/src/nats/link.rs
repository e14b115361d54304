//! Whether this node is connected to NATS, as every inbox needs to know: each change of `generation` is a
//! lag (signals published meanwhile were lost, or a subscription overflowed), so the inbox reports it and
//! starts its order over.

use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub connected: bool,
    pub generation: u64,
}

/// Records the connection state; a change (and only a change) starts a new generation. Idempotent, so the
/// event callback and the periodic check of `connection_state()` may both report the same transition.
pub(crate) fn observe(link: &watch::Sender<Link>, connected: bool) {
    link.send_if_modified(|link| {
        if link.connected == connected {
            return false;
        }
        link.connected = connected;
        link.generation += 1;
        true
    });
}

/// A subscription overflowed and async-nats dropped messages: every inbox must catch up.
pub(crate) fn overflow(link: &watch::Sender<Link>) {
    link.send_modify(|link| link.generation += 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transitions_start_a_generation() {
        let (link, receiver) = watch::channel(Link {
            connected: true,
            generation: 0,
        });
        observe(&link, true);
        assert_eq!(receiver.borrow().generation, 0);
        observe(&link, false);
        observe(&link, false);
        assert_eq!(
            *receiver.borrow(),
            Link {
                connected: false,
                generation: 1
            }
        );
        observe(&link, true);
        overflow(&link);
        assert_eq!(
            *receiver.borrow(),
            Link {
                connected: true,
                generation: 3
            }
        );
    }
}
