//! The connection balancer: which node a user's WebSocket should open on. Rendezvous hashing of the user's
//! org over the live nodes, so one org's people share a node (most fan-out stays on it), every node answers
//! the same without asking the others, and when a node dies only its orgs move, spread over the rest.

use crate::bus::Node;
use crate::{Caller, Error, OrgId, Parley};

impl Parley {
    /// The WebSocket URL this caller should connect to: on one node, this node's.
    pub async fn gateway_url(&self, caller: &Caller) -> Result<String, Error> {
        let nodes = self.bus.nodes().await?;
        let base = rendezvous(caller.user.org_id, &nodes)
            .map_or(self.settings.public_url.as_str(), |node| node.url.as_str());
        Ok(websocket_url(base))
    }

    /// Leaves the cluster at shutdown (see `Bus::close`).
    pub async fn leave_cluster(&self) {
        self.bus.close().await;
    }

    /// How many nodes serve together (1 on a bus that serves one node only).
    pub async fn live_nodes(&self) -> Result<usize, Error> {
        Ok(self.bus.nodes().await?.len().max(1))
    }
}

/// The node with the highest score for this org.
fn rendezvous(org_id: OrgId, nodes: &[Node]) -> Option<&Node> {
    nodes
        .iter()
        .max_by_key(|node| (score(org_id, &node.id), &node.id))
}

/// A hash of the pair that is the same on every node and every build: FNV-1a over the org id and the node
/// id, then a finalizer so that ids differing in one byte score far apart.
fn score(org_id: OrgId, node_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in org_id.0.to_le_bytes().iter().chain(node_id.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash
}

/// `http(s)://host/...` → `ws(s)://host/.../v1/ws` (the scheme in any case; a URL without one is taken
/// as plain HTTP).
fn websocket_url(public_url: &str) -> String {
    let base = public_url.trim_end_matches('/');
    let scheme_end = base.find("://");
    let (scheme, rest) = match scheme_end {
        Some(end) => (base[..end].to_ascii_lowercase(), &base[end + 3..]),
        None => ("http".to_owned(), base),
    };
    let ws = if scheme == "https" { "wss" } else { "ws" };
    format!("{ws}://{rest}/v1/ws")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(ids: &[&str]) -> Vec<Node> {
        ids.iter()
            .map(|id| Node {
                id: (*id).to_owned(),
                url: format!("http://{id}"),
            })
            .collect()
    }

    #[test]
    fn an_org_keeps_its_node_and_only_a_dead_nodes_orgs_move() {
        let three = nodes(&["a", "b", "c"]);
        let two = nodes(&["a", "c"]);
        let mut used = std::collections::HashSet::new();
        for org in 1..300 {
            let org = OrgId(org);
            let before = rendezvous(org, &three).map(|n| n.id.clone());
            let reordered: Vec<Node> = three.iter().rev().cloned().collect();
            assert_eq!(
                rendezvous(org, &reordered).map(|n| n.id.clone()),
                before,
                "order of nodes does not matter"
            );
            let after = rendezvous(org, &two).map(|n| n.id.clone());
            if before.as_deref() != Some("b") {
                assert_eq!(after, before, "orgs of live nodes stay");
            }
            used.extend(before);
        }
        assert_eq!(used.len(), 3, "every node gets orgs");
        assert!(rendezvous(OrgId(1), &[]).is_none());
    }

    #[test]
    fn websocket_urls_follow_the_public_url() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/v1/ws"
        );
        assert_eq!(
            websocket_url("https://chat.example"),
            "wss://chat.example/v1/ws"
        );
    }
}
