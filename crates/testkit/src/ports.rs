//! Ports for servers a test starts as processes (Parley nodes, NATS, SeaweedFS), which must be named before
//! the process binds them.
//!
//! A port the kernel hands out for `bind(0)` comes from the ephemeral range (32768-60999 on Linux), the same
//! range every outgoing connection takes its local port from: between our pick and the child's bind, a
//! connection to PostgreSQL or NATS from a parallel test can take it. So ports are picked at random below
//! that range, where only a listener that names its port can be, and checked free.

use std::net::TcpListener;

/// Below Linux's default ephemeral range; above the ports services usually claim.
const RANGE: std::ops::Range<u16> = 20_000..32_000;

/// A port on 127.0.0.1 that was free a moment ago and that no outgoing connection will take meanwhile.
pub fn free_port() -> u16 {
    loop {
        let mut random = [0u8; 2];
        getrandom::fill(&mut random).expect("random bytes");
        let port = RANGE.start + u16::from_le_bytes(random) % (RANGE.end - RANGE.start);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
