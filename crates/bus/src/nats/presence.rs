//! Who is online where: this node's own users (counted by connection, as `LocalBus` does) and every other
//! live node's, as they announced them. Pure state: `nodes.rs` feeds it what arrives and carries out the
//! effects it returns (fetch a snapshot, tell watchers a user went offline).
//!
//! Each node numbers its own changes. A receiver applies a node's changes in sequence; a gap (in the changes,
//! or against the sequence a heartbeat carries), a node it does not know yet, or a new incarnation of a known
//! one, makes it fetch that node's snapshot, keeping meanwhile the changes that arrive, to apply those newer
//! than the snapshot. Memory is proportional to the users online: their ids once per node they are on, and a
//! count per user.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use parley_core::UserId;
use parley_core::bus::Node;
use parley_core::model::Millis;
use tokio::time::Instant;

/// Changes kept for a node while its snapshot is on the way; beyond this the next snapshot starts clean.
const MAX_PENDING: usize = 65_536;

/// A change of this node's own set, numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub seq: u64,
    pub user_id: UserId,
    pub online: bool,
}

/// A node's whole set at one sequence number.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub node: Node,
    pub incarnation: u64,
    pub seq: u64,
    pub users: Vec<UserId>,
}

/// When a message from a node was heard: on the clock that measures the time to live, and the wall clock
/// for `last_seen`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heard {
    pub at: Instant,
    pub millis: Millis,
}

impl Heard {
    pub(crate) fn now() -> Self {
        Heard {
            at: Instant::now(),
            millis: Millis::now(),
        }
    }
}

/// What the caller must do after an update.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Effects {
    /// Fetch these nodes' snapshots: (node id, incarnation).
    pub fetch: Vec<(String, u64)>,
    /// These users are now online nowhere: tell this node's watchers, with their last seen time.
    pub offline: Vec<(UserId, Millis)>,
}

struct Remote {
    /// Known from its first heartbeat or snapshot.
    node: Option<Node>,
    incarnation: u64,
    seq: u64,
    users: HashSet<UserId>,
    /// Whether `users` is exact at `seq`; if not, a snapshot is due.
    synced: bool,
    fetching: bool,
    pending: Vec<Change>,
    last_heard: Instant,
    last_heard_at: Millis,
}

#[derive(Default)]
pub(crate) struct Presence {
    own: HashMap<UserId, u32>,
    own_seq: u64,
    remote: HashMap<String, Remote>,
    /// For each user online on some other node: on how many.
    counts: HashMap<UserId, u32>,
}

impl Presence {
    /// Counts a connection of this node's opening or closing; returns the change to announce, if the user
    /// came online or went offline here.
    pub(crate) fn set_own(&mut self, user_id: UserId, online: bool) -> Option<Change> {
        let count = self.own.entry(user_id).or_default();
        let changed = if online {
            *count += 1;
            *count == 1
        } else {
            let was = *count;
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.own.remove(&user_id);
            }
            was == 1
        };
        if !changed {
            return None;
        }
        self.own_seq += 1;
        Some(Change {
            seq: self.own_seq,
            user_id,
            online,
        })
    }

    pub(crate) fn own_seq(&self) -> u64 {
        self.own_seq
    }

    /// This node's online users, sorted (a snapshot's pages are slices of it).
    pub(crate) fn own_users(&self) -> Vec<UserId> {
        let mut users: Vec<UserId> = self.own.keys().copied().collect();
        users.sort_unstable();
        users
    }

    pub(crate) fn online(&self, user_ids: &[UserId]) -> Vec<bool> {
        user_ids
            .iter()
            .map(|id| self.own.contains_key(id) || self.counts.contains_key(id))
            .collect()
    }

    /// The other nodes heard within `within`: the ones a probe waits for (`probe.rs`).
    pub(crate) fn heard_within(&self, now: Instant, within: Duration) -> HashSet<String> {
        self.remote
            .iter()
            .filter(|(_, remote)| now.saturating_duration_since(remote.last_heard) <= within)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The nodes heard within `ttl`, this one included, sorted by id.
    pub(crate) fn nodes(&self, own: &Node, now: Instant, ttl: Duration) -> Vec<Node> {
        let mut nodes: Vec<Node> = self
            .remote
            .values()
            .filter(|remote| now.saturating_duration_since(remote.last_heard) <= ttl)
            .filter_map(|remote| remote.node.clone())
            .filter(|node| node.id != own.id)
            .collect();
        nodes.push(own.clone());
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes
    }

    pub(crate) fn heartbeat(
        &mut self,
        node: Node,
        incarnation: u64,
        seq: u64,
        heard: Heard,
    ) -> Effects {
        let mut effects = Effects::default();
        let node_id = node.id.clone();
        let Some(remote) = self.known(&node_id, incarnation, heard, &mut effects) else {
            return effects;
        };
        remote.node = Some(node);
        if remote.synced && seq > remote.seq {
            remote.synced = false;
        }
        request_fetch(remote, &node_id, &mut effects);
        effects
    }

    pub(crate) fn change(
        &mut self,
        node_id: &str,
        incarnation: u64,
        change: Change,
        heard: Heard,
    ) -> Effects {
        let mut effects = Effects::default();
        if self
            .known(node_id, incarnation, heard, &mut effects)
            .is_none()
        {
            return effects;
        }
        let Presence { remote, counts, .. } = self;
        let Some(remote) = remote.get_mut(node_id) else {
            return effects;
        };
        if remote.synced && change.seq == remote.seq + 1 {
            apply(&mut remote.users, counts, change);
            remote.seq = change.seq;
        } else if !remote.synced || change.seq > remote.seq {
            remote.synced = false;
            if remote.pending.len() >= MAX_PENDING {
                remote.pending.clear();
            }
            remote.pending.push(change);
        }
        request_fetch(remote, node_id, &mut effects);
        effects
    }

    /// The node stops: it is dropped at once.
    pub(crate) fn leave(&mut self, node_id: &str, incarnation: u64, at: Millis) -> Effects {
        let mut effects = Effects::default();
        if self
            .remote
            .get(node_id)
            .is_some_and(|remote| remote.incarnation <= incarnation)
        {
            self.drop_node(node_id, at, &mut effects);
        }
        effects
    }

    pub(crate) fn snapshot(&mut self, node_id: &str, snapshot: Snapshot) -> Effects {
        let mut effects = Effects::default();
        let Presence { remote, counts, .. } = self;
        let Some(remote) = remote.get_mut(node_id) else {
            return effects;
        };
        remote.fetching = false;
        if remote.incarnation != snapshot.incarnation {
            // It restarted meanwhile; its next message makes a new entry and a new fetch.
            return effects;
        }
        let users: HashSet<UserId> = snapshot.users.into_iter().collect();
        for gone in remote.users.difference(&users) {
            uncount(counts, *gone);
        }
        for new in users.difference(&remote.users) {
            *counts.entry(*new).or_default() += 1;
        }
        remote.users = users;
        remote.seq = snapshot.seq;
        remote.node = Some(snapshot.node);
        remote.synced = true;
        let mut pending = std::mem::take(&mut remote.pending);
        pending.sort_by_key(|change| change.seq);
        for (index, change) in pending.iter().enumerate() {
            if change.seq <= remote.seq {
                continue;
            }
            if change.seq != remote.seq + 1 {
                remote.synced = false;
                remote.pending = pending.split_off(index);
                break;
            }
            apply(&mut remote.users, counts, *change);
            remote.seq = change.seq;
        }
        request_fetch(remote, node_id, &mut effects);
        effects
    }

    /// The fetch failed; the node's next heartbeat asks again.
    pub(crate) fn fetch_failed(&mut self, node_id: &str, incarnation: u64) {
        if let Some(remote) = self.remote.get_mut(node_id)
            && remote.incarnation == incarnation
        {
            remote.fetching = false;
        }
    }

    /// Drops the nodes not heard for longer than `ttl`, with their users.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) -> Effects {
        let mut effects = Effects::default();
        let dead: Vec<(String, Millis)> = self
            .remote
            .iter()
            .filter(|(_, remote)| now.saturating_duration_since(remote.last_heard) > ttl)
            .map(|(id, remote)| (id.clone(), remote.last_heard_at))
            .collect();
        for (node_id, at) in dead {
            self.drop_node(&node_id, at, &mut effects);
        }
        effects
    }

    /// After this node was cut off, every other node gets a fresh time to live: not hearing them said
    /// nothing about them.
    pub(crate) fn touch_all(&mut self, now: Instant) {
        for remote in self.remote.values_mut() {
            remote.last_heard = now;
        }
    }

    /// The entry of a node a message came from, made if new (or if the node restarted); `None` for a message
    /// from an older incarnation.
    fn known(
        &mut self,
        node_id: &str,
        incarnation: u64,
        heard: Heard,
        effects: &mut Effects,
    ) -> Option<&mut Remote> {
        if let Some(remote) = self.remote.get(node_id) {
            if incarnation < remote.incarnation {
                return None;
            }
            if incarnation > remote.incarnation {
                let at = remote.last_heard_at;
                self.drop_node(node_id, at, effects);
            }
        }
        let remote = self
            .remote
            .entry(node_id.to_owned())
            .or_insert_with(|| Remote {
                node: None,
                incarnation,
                seq: 0,
                users: HashSet::new(),
                synced: false,
                fetching: false,
                pending: Vec::new(),
                last_heard: heard.at,
                last_heard_at: heard.millis,
            });
        remote.last_heard = heard.at;
        remote.last_heard_at = heard.millis;
        Some(remote)
    }

    fn drop_node(&mut self, node_id: &str, at: Millis, effects: &mut Effects) {
        let Some(remote) = self.remote.remove(node_id) else {
            return;
        };
        for user_id in remote.users {
            if uncount(&mut self.counts, user_id) && !self.own.contains_key(&user_id) {
                effects.offline.push((user_id, at));
            }
        }
    }
}

fn request_fetch(remote: &mut Remote, node_id: &str, effects: &mut Effects) {
    if !remote.synced && !remote.fetching {
        remote.fetching = true;
        effects.fetch.push((node_id.to_owned(), remote.incarnation));
    }
}

fn apply(users: &mut HashSet<UserId>, counts: &mut HashMap<UserId, u32>, change: Change) {
    if change.online {
        if users.insert(change.user_id) {
            *counts.entry(change.user_id).or_default() += 1;
        }
    } else if users.remove(&change.user_id) {
        uncount(counts, change.user_id);
    }
}

/// True when no other node has the user any more.
fn uncount(counts: &mut HashMap<UserId, u32>, user_id: UserId) -> bool {
    let Some(count) = counts.get_mut(&user_id) else {
        return true;
    };
    *count = count.saturating_sub(1);
    if *count > 0 {
        return false;
    }
    counts.remove(&user_id);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> Node {
        Node {
            id: id.to_owned(),
            url: format!("http://{id}"),
        }
    }

    fn heard(at: Instant) -> Heard {
        Heard {
            at,
            millis: Millis(42),
        }
    }

    fn change(seq: u64, user: i64, online: bool) -> Change {
        Change {
            seq,
            user_id: UserId(user),
            online,
        }
    }

    fn snapshot(seq: u64, users: &[i64]) -> Snapshot {
        Snapshot {
            node: node("a"),
            incarnation: 1,
            seq,
            users: users.iter().copied().map(UserId).collect(),
        }
    }

    #[test]
    fn own_connections_are_counted() {
        let mut presence = Presence::default();
        assert_eq!(presence.set_own(UserId(1), true), Some(change(1, 1, true)));
        assert_eq!(presence.set_own(UserId(1), true), None);
        assert_eq!(presence.set_own(UserId(1), false), None);
        assert_eq!(presence.online(&[UserId(1)]), vec![true]);
        assert_eq!(
            presence.set_own(UserId(1), false),
            Some(change(2, 1, false))
        );
        assert_eq!(presence.set_own(UserId(1), false), None);
        assert_eq!(presence.online(&[UserId(1)]), vec![false]);
    }

    #[test]
    fn a_new_node_is_fetched_and_its_changes_kept_meanwhile() {
        let mut presence = Presence::default();
        let now = Instant::now();
        let effects = presence.change("a", 1, change(3, 7, true), heard(now));
        assert_eq!(effects.fetch, vec![("a".to_owned(), 1)]);
        // Already fetching: no second fetch.
        let effects = presence.heartbeat(node("a"), 1, 4, heard(now));
        assert!(effects.fetch.is_empty());
        presence.change("a", 1, change(4, 8, true), heard(now));
        presence.snapshot("a", snapshot(3, &[7, 9]));
        assert_eq!(
            presence.online(&[UserId(7), UserId(8), UserId(9)]),
            vec![true, true, true]
        );
        presence.change("a", 1, change(5, 9, false), heard(now));
        assert_eq!(presence.online(&[UserId(9)]), vec![false]);
        assert_eq!(
            presence
                .nodes(&node("me"), now, Duration::from_secs(1))
                .len(),
            2
        );
    }

    #[test]
    fn a_gap_in_changes_or_against_a_heartbeat_asks_for_a_snapshot() {
        let mut presence = Presence::default();
        let now = Instant::now();
        presence.heartbeat(node("a"), 1, 0, heard(now));
        presence.snapshot("a", snapshot(0, &[]));
        assert!(
            presence
                .change("a", 1, change(1, 7, true), heard(now))
                .fetch
                .is_empty()
        );
        let effects = presence.change("a", 1, change(3, 8, true), heard(now));
        assert_eq!(effects.fetch, vec![("a".to_owned(), 1)]);
        presence.snapshot("a", snapshot(3, &[7, 8]));
        assert!(
            presence
                .heartbeat(node("a"), 1, 3, heard(now))
                .fetch
                .is_empty()
        );
        let effects = presence.heartbeat(node("a"), 1, 4, heard(now));
        assert_eq!(effects.fetch, vec![("a".to_owned(), 1)]);
    }

    #[test]
    fn a_dead_node_takes_its_users_offline_unless_they_are_elsewhere() {
        let mut presence = Presence::default();
        let start = Instant::now();
        presence.heartbeat(node("a"), 1, 0, heard(start));
        presence.snapshot("a", snapshot(0, &[1, 2, 3]));
        presence.heartbeat(node("b"), 1, 0, heard(start));
        presence.snapshot("b", snapshot(0, &[2]));
        presence.set_own(UserId(3), true);
        let ttl = Duration::from_secs(10);
        let later = start + Duration::from_secs(5);
        presence.heartbeat(node("b"), 1, 0, heard(later));
        assert_eq!(presence.expire(later, ttl), Effects::default());
        let effects = presence.expire(start + Duration::from_secs(11), ttl);
        assert_eq!(effects.offline, vec![(UserId(1), Millis(42))]);
        assert_eq!(
            presence.online(&[UserId(1), UserId(2), UserId(3)]),
            vec![false, true, true]
        );
        let effects = presence.leave("b", 1, Millis(50));
        assert_eq!(effects.offline, vec![(UserId(2), Millis(50))]);
        assert_eq!(presence.nodes(&node("me"), later, ttl), vec![node("me")]);
    }

    #[test]
    fn a_restarted_node_replaces_its_old_self() {
        let mut presence = Presence::default();
        let now = Instant::now();
        presence.heartbeat(node("a"), 1, 0, heard(now));
        presence.snapshot("a", snapshot(0, &[1]));
        let effects = presence.heartbeat(node("a"), 2, 0, heard(now));
        assert_eq!(effects.offline, vec![(UserId(1), Millis(42))]);
        assert_eq!(effects.fetch, vec![("a".to_owned(), 2)]);
        // A straggler from the old incarnation changes nothing.
        assert_eq!(
            presence.change("a", 1, change(1, 5, true), heard(now)),
            Effects::default()
        );
        assert_eq!(presence.online(&[UserId(1), UserId(5)]), vec![false, false]);
    }
}
