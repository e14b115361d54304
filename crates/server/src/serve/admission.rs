//! Which connections the server takes: at most so many in all, and so many from one client address, so
//! that one client (or a crowd of idle ones) cannot use up the process's file descriptors and leave
//! nobody else, `/healthz` included, able to connect.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parley_core::service::client_network;

use crate::tally::{Counted, Tally};

/// The counts of open connections, in all and per client address (an IPv6 client's /64).
pub(crate) struct Admission {
    max_total: usize,
    total: AtomicUsize,
    by_address: Arc<Tally<IpAddr>>,
}

/// Why a connection was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    ServerFull,
    AddressFull,
}

/// One admitted connection's place in the counts, given back when the connection (or the WebSocket it
/// became) is dropped.
pub(crate) struct Permit {
    admission: Arc<Admission>,
    _from_address: Counted<IpAddr>,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Admission {
            max_total,
            total: AtomicUsize::new(0),
            by_address: Tally::new(max_per_address),
        })
    }

    /// Counts a new connection from `address`, unless that would pass a cap.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Permit, Refusal> {
        // Only the accept loop admits, so the check and the increment cannot race another admission.
        if self.total.load(Ordering::Relaxed) >= self.max_total {
            return Err(Refusal::ServerFull);
        }
        let from_address = self
            .by_address
            .take(client_network(address))
            .ok_or(Refusal::AddressFull)?;
        self.total.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("parley_http_connections").increment(1.0);
        Ok(Permit {
            admission: Arc::clone(self),
            _from_address: from_address,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.total.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("parley_http_connections").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn caps_hold_and_permits_give_their_place_back() {
        let admission = Admission::new(3, 2);
        let a1 = admission.admit(ip(1)).expect("first from a");
        let _a2 = admission.admit(ip(1)).expect("second from a");
        assert_eq!(
            admission.admit(ip(1)).err(),
            Some(Refusal::AddressFull),
            "a third from one address"
        );
        let _b1 = admission.admit(ip(2)).expect("first from b");
        assert_eq!(
            admission.admit(ip(3)).err(),
            Some(Refusal::ServerFull),
            "a fourth in all"
        );
        drop(a1);
        assert_eq!(admission.total.load(Ordering::Relaxed), 2);
        admission.admit(ip(1)).expect("a's place is free again");
    }
}
