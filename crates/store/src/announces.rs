//! What each write announces: the events it committed, which the writer hands to the commit feed right
//! after the commit, in commit order, before answering the caller. Shared by both stores' writers.

use parley_core::Cursor;
use parley_core::model::{Conversation, Event, FileRecord, Invite, Member, Message, User};
use parley_core::store::{
    DirectMessage, OrgSettingsRecord, PurgeBatch, PushSubscription, Sent, SsoFlowRecord,
};

/// What a write committed that clients must hear about.
pub(crate) trait Announces {
    fn announced(&self) -> Vec<Event>;
}

/// Writes that change nothing a client is told about.
macro_rules! announces_nothing {
    ($($t:ty),*) => {$(
        impl Announces for $t {
            fn announced(&self) -> Vec<Event> {
                Vec::new()
            }
        }
    )*};
}

announces_nothing!(
    (),
    u64,
    bool,
    User,
    Member,
    Invite,
    FileRecord,
    PushSubscription,
    OrgSettingsRecord,
    PurgeBatch,
    Option<SsoFlowRecord>,
    Vec<(u16, Cursor)>
);

impl Announces for Event {
    fn announced(&self) -> Vec<Event> {
        vec![self.clone()]
    }
}

impl Announces for Option<Event> {
    fn announced(&self) -> Vec<Event> {
        self.iter().cloned().collect()
    }
}

impl Announces for Vec<Event> {
    fn announced(&self) -> Vec<Event> {
        self.clone()
    }
}

impl Announces for (Conversation, Vec<Event>) {
    fn announced(&self) -> Vec<Event> {
        self.1.clone()
    }
}

impl Announces for Sent {
    fn announced(&self) -> Vec<Event> {
        match self {
            Sent::Stored(_, events) => events.clone(),
            Sent::Duplicate(_) => Vec::new(),
        }
    }
}

impl Announces for Option<(Conversation, Event)> {
    fn announced(&self) -> Vec<Event> {
        self.iter().map(|(_, event)| event.clone()).collect()
    }
}

impl Announces for Option<(Message, Event)> {
    fn announced(&self) -> Vec<Event> {
        self.iter().map(|(_, event)| event.clone()).collect()
    }
}

impl Announces for DirectMessage {
    fn announced(&self) -> Vec<Event> {
        match self {
            DirectMessage::Created(_, events) => events.clone(),
            DirectMessage::Existing(_) => Vec::new(),
        }
    }
}
