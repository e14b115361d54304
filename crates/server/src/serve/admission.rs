//! Which connections the server takes: at most so many in all, and so many from one client address, so
//! that one client (or a crowd of idle ones) cannot use up the process's file descriptors and leave
//! nobody else, `/healthz` included, able to connect.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The counts of open connections, in all and per client address.
pub(crate) struct Admission {
    max_total: usize,
    max_per_address: usize,
    /// Held only to update the counts, never across an await.
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    /// Only addresses with at least one open connection, so the map is never larger than `total`.
    by_address: HashMap<IpAddr, usize>,
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
    address: IpAddr,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Admission {
            max_total,
            max_per_address,
            open: Mutex::new(Open::default()),
        })
    }

    /// Counts a new connection from `address`, unless that would pass a cap.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Permit, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.max_total {
            return Err(Refusal::ServerFull);
        }
        let from_address = open.by_address.entry(address).or_default();
        if *from_address >= self.max_per_address {
            return Err(Refusal::AddressFull);
        }
        *from_address += 1;
        open.total += 1;
        metrics::gauge!("parley_http_connections").increment(1.0);
        Ok(Permit {
            admission: Arc::clone(self),
            address,
        })
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        metrics::gauge!("parley_http_connections").decrement(1.0);
        if let Some(count) = open.by_address.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_address.remove(&self.address);
            }
        }
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
        assert_eq!(admission.open(), 2);
        admission.admit(ip(1)).expect("a's place is free again");
    }

    #[test]
    fn addresses_with_nothing_open_are_forgotten() {
        let admission = Admission::new(10, 10);
        for n in 0..5 {
            drop(admission.admit(ip(n)).expect("admitted"));
        }
        let open = admission.open.lock().expect("lock");
        assert!(open.by_address.is_empty());
        assert_eq!(open.total, 0);
    }
}
