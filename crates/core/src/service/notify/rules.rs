//! Who is told of a message: the one rule, over facts about one member and one message.

use parley_proto::v1::ConversationKind;

/// What the rule looks at, for one member and one message.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts {
    pub kind: Kind,
    pub own: bool,
    pub muted: bool,
    pub notify_always: bool,
    pub read: bool,
    /// Named in the message's mentions.
    pub mentioned: bool,
    pub mention_channel: bool,
    pub mention_here: bool,
    /// Online now (some device connected): what `@here` asks for.
    pub online: bool,
    /// The message is a reply in a thread, shown only there (not `also_to_conversation`).
    pub thread_only: bool,
    /// The message is a reply in a thread the member follows.
    pub follows_thread: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// A DM or a group: every message is for everyone in it.
    #[default]
    Direct,
    Channel,
}

impl From<ConversationKind> for Kind {
    fn from(kind: ConversationKind) -> Kind {
        match kind {
            ConversationKind::Dm | ConversationKind::Group => Kind::Direct,
            ConversationKind::Channel => Kind::Channel,
        }
    }
}

/// Why someone is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Direct,
    Mention,
    Channel,
    Here,
    Thread,
    Always,
}

/// Whether a member is told of a message, and why. Never of their own, of what they read already, or from
/// a conversation they muted (its mentions still count on their badge, which is read elsewhere). In a DM or
/// group, every message; in a channel, a mention of them (`@channel`, and `@here` while online), a reply in
/// a thread they follow, or, with `notify_always`, any message of the channel's main history.
pub fn told(facts: &Facts) -> Option<Reason> {
    if facts.own || facts.read || facts.muted {
        return None;
    }
    if facts.thread_only && facts.kind == Kind::Channel {
        return if facts.mentioned {
            Some(Reason::Mention)
        } else if facts.follows_thread {
            Some(Reason::Thread)
        } else {
            None
        };
    }
    if facts.kind == Kind::Direct {
        return Some(Reason::Direct);
    }
    if facts.mentioned {
        Some(Reason::Mention)
    } else if facts.mention_channel {
        Some(Reason::Channel)
    } else if facts.mention_here && facts.online {
        Some(Reason::Here)
    } else if facts.follows_thread {
        Some(Reason::Thread)
    } else if facts.notify_always {
        Some(Reason::Always)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dm() -> Facts {
        Facts::default()
    }

    fn channel() -> Facts {
        Facts {
            kind: Kind::Channel,
            ..Facts::default()
        }
    }

    #[test]
    fn the_table() {
        use Reason::*;
        let table: Vec<(&str, Facts, Option<Reason>)> = vec![
            ("a DM message", dm(), Some(Direct)),
            ("my own DM message", Facts { own: true, ..dm() }, None),
            ("a DM I read already", Facts { read: true, ..dm() }, None),
            (
                "a muted DM",
                Facts {
                    muted: true,
                    ..dm()
                },
                None,
            ),
            (
                "a reply in a DM thread",
                Facts {
                    thread_only: true,
                    ..dm()
                },
                Some(Direct),
            ),
            ("a plain channel message", channel(), None),
            (
                "a channel message mentioning me",
                Facts {
                    mentioned: true,
                    ..channel()
                },
                Some(Mention),
            ),
            (
                "my own message mentioning me",
                Facts {
                    mentioned: true,
                    own: true,
                    ..channel()
                },
                None,
            ),
            (
                "a mention in a muted channel",
                Facts {
                    mentioned: true,
                    muted: true,
                    ..channel()
                },
                None,
            ),
            (
                "a mention I read already",
                Facts {
                    mentioned: true,
                    read: true,
                    ..channel()
                },
                None,
            ),
            (
                "@channel",
                Facts {
                    mention_channel: true,
                    ..channel()
                },
                Some(Channel),
            ),
            (
                "@channel, muted",
                Facts {
                    mention_channel: true,
                    muted: true,
                    ..channel()
                },
                None,
            ),
            (
                "@here while I am online",
                Facts {
                    mention_here: true,
                    online: true,
                    ..channel()
                },
                Some(Here),
            ),
            (
                "@here while I am away",
                Facts {
                    mention_here: true,
                    ..channel()
                },
                None,
            ),
            (
                "notify_always",
                Facts {
                    notify_always: true,
                    ..channel()
                },
                Some(Always),
            ),
            (
                "notify_always but muted",
                Facts {
                    notify_always: true,
                    muted: true,
                    ..channel()
                },
                None,
            ),
            (
                "a reply in a thread I follow",
                Facts {
                    thread_only: true,
                    follows_thread: true,
                    ..channel()
                },
                Some(Thread),
            ),
            (
                "a reply in a thread I do not follow",
                Facts {
                    thread_only: true,
                    ..channel()
                },
                None,
            ),
            (
                "a reply in a thread I do not follow, with notify_always",
                Facts {
                    thread_only: true,
                    notify_always: true,
                    ..channel()
                },
                None,
            ),
            (
                "a reply mentioning me in a thread I do not follow",
                Facts {
                    thread_only: true,
                    mentioned: true,
                    ..channel()
                },
                Some(Mention),
            ),
            (
                "a reply also sent to the channel, with notify_always",
                Facts {
                    notify_always: true,
                    ..channel()
                },
                Some(Always),
            ),
            (
                "a reply in a followed thread that I read",
                Facts {
                    thread_only: true,
                    follows_thread: true,
                    read: true,
                    ..channel()
                },
                None,
            ),
        ];
        for (case, facts, expected) in table {
            assert_eq!(told(&facts), expected, "{case}");
        }
    }
}
