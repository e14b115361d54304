//! What travels on the NATS subjects, as JSON. A topic's subject carries a `Signal`; the others carry the types
//! here. These are between nodes of one version of Parley only, never clients.

use bytes::Bytes;
use parley_core::bus::Node;
use parley_core::model::Event;
use parley_core::{Cursor, UserId};
use serde::{Deserialize, Serialize};

/// Published after a commit's events: everything in `(after, last]` went out before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marker {
    pub after: Cursor,
    pub last: Cursor,
}

/// Encodes as `Signal::Event` does, without cloning the event.
#[derive(Serialize)]
pub(crate) enum SignalRef<'a> {
    Event(&'a Event),
}

/// What a node says on `{prefix}.nodes`. Its presence changes travel with its heartbeats so that a receiver
/// reads them in the order they were sent: a heartbeat's `seq` then proves whether a change went missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum NodeMessage {
    Heartbeat {
        node: Node,
        incarnation: u64,
        /// The sequence number of the last presence change it has sent.
        seq: u64,
    },
    Presence {
        node_id: String,
        incarnation: u64,
        seq: u64,
        user_id: UserId,
        online: bool,
    },
    /// It stops: drop it now rather than after `node_ttl`.
    Leave { node_id: String, incarnation: u64 },
}

/// A probe (`probe.rs`): `from` asks every other node to publish its id on `answer_on` through its feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProbeRequest {
    pub from: String,
    pub answer_on: String,
}

/// A request for one page of a node's online users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotRequest {
    /// The snapshot the earlier pages came from; `None` for the first page, which takes a new one.
    pub seq: Option<u64>,
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum SnapshotReply {
    Page {
        node: Node,
        incarnation: u64,
        /// The node's presence sequence number when the snapshot was taken.
        seq: u64,
        total: usize,
        users: Vec<UserId>,
    },
    /// That snapshot is no longer kept: start again.
    Gone,
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, serde_json::Error> {
    serde_json::to_vec(value).map(Bytes::from)
}

/// Decodes a payload, or logs why not: a malformed message is skipped, never fatal.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(subject: &str, payload: &[u8]) -> Option<T> {
    match serde_json::from_slice(payload) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(
                subject,
                error = &error as &dyn std::error::Error,
                "malformed bus message skipped"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::ConversationId;
    use parley_core::bus::Signal;
    use parley_core::model::{Audience, EventKind, Millis};

    #[test]
    fn a_borrowed_event_encodes_as_its_signal() {
        let event = Event {
            cursor: Cursor(5),
            conversation_id: ConversationId(3),
            kind: EventKind::MemberJoined { user_id: UserId(2) },
            audience: Audience::Members,
            at: Millis(9),
        };
        let bytes = encode(&SignalRef::Event(&event)).expect("encode");
        let signal: Signal = decode("t", &bytes).expect("decode");
        assert_eq!(signal, Signal::Event(event));
    }

    #[test]
    fn malformed_payloads_are_skipped() {
        assert_eq!(decode::<Marker>("t", b"{\"after\":"), None);
        assert_eq!(decode::<Marker>("t", br#"{"after":"-1","last":"2"}"#), None);
    }
}
