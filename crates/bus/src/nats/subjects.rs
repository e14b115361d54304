//! Every NATS subject the bus uses, in one place: no other code builds a subject.

use parley_core::bus::Topic;

/// The subjects under one prefix; the prefix keeps clusters (and tests) that share a server apart.
#[derive(Clone, Debug)]
pub(crate) struct Subjects {
    prefix: String,
    commits: String,
    nodes: String,
    probes: String,
}

impl Subjects {
    /// `None` when the prefix is not a valid run of subject tokens.
    pub(crate) fn new(prefix: &str) -> Option<Subjects> {
        let valid = !prefix.is_empty()
            && prefix
                .split('.')
                .all(|token| !token.is_empty() && token.chars().all(is_token_char));
        valid.then(|| Subjects {
            prefix: prefix.to_owned(),
            commits: format!("{prefix}.commits"),
            nodes: format!("{prefix}.nodes"),
            probes: format!("{prefix}.probe"),
        })
    }

    /// The one mapping from a topic to its subject.
    pub(crate) fn topic(&self, topic: Topic) -> String {
        let prefix = &self.prefix;
        match topic {
            Topic::Conversation(id) => format!("{prefix}.c.{id}"),
            Topic::User(id) => format!("{prefix}.u.{id}"),
            Topic::Presence(id) => format!("{prefix}.p.{id}"),
            Topic::Org(id) => format!("{prefix}.o.{id}"),
        }
    }

    /// Commit markers: every inbox follows it.
    pub(crate) fn commits(&self) -> &str {
        &self.commits
    }

    /// Heartbeats, presence changes and leaving, from every node.
    pub(crate) fn nodes(&self) -> &str {
        &self.nodes
    }

    /// Probes from every node: each asks the others to answer on its `probe_answers` subject.
    pub(crate) fn probes(&self) -> &str {
        &self.probes
    }

    /// Where one round of one running bus's probe takes its answers.
    pub(crate) fn probe_answers(&self, node_id: &str, incarnation: u64, round: u64) -> String {
        format!(
            "{}.probed.{}.{incarnation}.{round}",
            self.prefix,
            token(node_id)
        )
    }

    /// Whether `subject` is one that `probe_answers` makes: a probe asks for an answer there only.
    pub(crate) fn is_probe_answers(&self, subject: &str) -> bool {
        subject
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix(".probed."))
            .is_some_and(|rest| {
                let tokens: Vec<&str> = rest.split('.').collect();
                tokens.len() == 3
                    && tokens
                        .iter()
                        .all(|t| !t.is_empty() && t.chars().all(is_token_char))
                    && tokens[1..]
                        .iter()
                        .all(|t| t.chars().all(|c| c.is_ascii_digit()))
            })
    }

    /// Where a node answers requests for its presence snapshot.
    pub(crate) fn snapshot(&self, node_id: &str) -> String {
        format!("{}.snap.{}", self.prefix, token(node_id))
    }

    /// Where one running bus answers round trips (`NatsBus::barrier`).
    pub(crate) fn echo(&self, node_id: &str, incarnation: u64) -> String {
        format!("{}.echo.{}.{incarnation}", self.prefix, token(node_id))
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A node id as one subject token: as it is when it is made of letters, digits and `-`, else `_` and its
/// bytes in hex (`_` never starts a plain one, so two ids never share a token).
fn token(id: &str) -> String {
    let plain = !id.is_empty()
        && !id.starts_with('_')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if plain {
        return id.to_owned();
    }
    let mut token = String::with_capacity(1 + 2 * id.len());
    token.push('_');
    for byte in id.bytes() {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::{ConversationId, OrgId, UserId};

    #[test]
    fn topics_and_node_ids_become_single_tokens() {
        let subjects = Subjects::new("parley").expect("valid prefix");
        assert_eq!(
            subjects.topic(Topic::Conversation(ConversationId(7))),
            "parley.c.7"
        );
        assert_eq!(subjects.topic(Topic::User(UserId(8))), "parley.u.8");
        assert_eq!(subjects.topic(Topic::Presence(UserId(9))), "parley.p.9");
        assert_eq!(subjects.topic(Topic::Org(OrgId(10))), "parley.o.10");
        assert_eq!(subjects.commits(), "parley.commits");
        assert_eq!(subjects.snapshot("node-1"), "parley.snap.node-1");
        assert_eq!(subjects.snapshot("a.b c"), "parley.snap._612e622063");
        assert_ne!(subjects.snapshot("_61"), subjects.snapshot("a"));
        let answers = subjects.probe_answers("node 1", 7, 3);
        assert_eq!(answers, "parley.probed._6e6f64652031.7.3");
        assert!(subjects.is_probe_answers(&answers));
        for other in [
            "parley.c.7",
            "parley.probed.a.1",
            "parley.probed.a.1.2.3",
            "parley.probed.a.x.2",
            "parley.probed.a.1.*",
            "parley.probed.>",
            "other.probed.a.1.2",
        ] {
            assert!(!subjects.is_probe_answers(other), "{other}");
        }
    }

    #[test]
    fn a_prefix_must_be_subject_tokens() {
        for bad in ["", "a..b", "a.*", "a b", ".a", "a."] {
            assert!(Subjects::new(bad).is_none(), "{bad:?}");
        }
        assert!(Subjects::new("parley.test-1_x").is_some());
    }
}
