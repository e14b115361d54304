//! The Store contract: what every backend must do, written once against `&dyn Store` so that SQLite and
//! PostgreSQL run the very same checks. Each check starts from an empty store, builds what it needs through
//! the trait only, and asserts outcomes a client would notice.
//!
//! Times are fixed `Millis` (see `at`), never the clock, so ordering by activity is deterministic.

pub mod admin;
pub mod conversations;
pub mod events;
pub mod feed;
pub mod messages;
pub mod notify;
pub mod retention;
pub mod sso;
pub mod users;

use parley_core::ConversationId;
use parley_core::model::{Conversation, Event, Message, Millis, User};
use parley_core::proto::v1::ConversationKind;
use parley_core::store::{NewConversation, NewMessage, NewUser, OrgPolicy, Sent, Store};

/// A fixed instant plus `offset` milliseconds.
pub fn at(offset: i64) -> Millis {
    Millis(1_700_000_000_000 + offset)
}

/// A session token hash that differs for each `seed`.
pub fn token(seed: u8) -> [u8; 32] {
    [seed; 32]
}

/// Signs up `username` in `org` (creating the org if needed), named after the username.
pub async fn user(store: &dyn Store, org: &str, username: &str) -> User {
    user_named(store, org, username, &format!("{username} Example")).await
}

/// Signs up `username` in `org` with a display name.
pub async fn user_named(store: &dyn Store, org: &str, username: &str, name: &str) -> User {
    store
        .create_user(NewUser {
            org_handle: org,
            org_policy: OrgPolicy::JoinOrCreate,
            username,
            email: &format!("{username}@{org}.example"),
            name,
            password_hash: "$argon2id$test",
            now: at(0),
        })
        .await
        .expect("create_user")
}

/// A group created by `creator` at `now`, whose members are `creator` and `others`.
pub async fn group_at(
    store: &dyn Store,
    creator: &User,
    others: &[&User],
    name: &str,
    now: Millis,
) -> Conversation {
    let mut members = vec![creator.id];
    members.extend(others.iter().map(|u| u.id));
    let (conversation, _) = store
        .create_conversation(NewConversation {
            org_id: creator.org_id,
            kind: ConversationKind::Group,
            name: Some(name),
            handle: None,
            topic: None,
            private: false,
            created_by: creator.id,
            members: &members,
            now,
        })
        .await
        .expect("create_conversation (group)");
    conversation
}

/// A group created at `at(0)`.
pub async fn group(store: &dyn Store, creator: &User, others: &[&User]) -> Conversation {
    group_at(store, creator, others, "A group", at(0)).await
}

/// A channel of `creator`'s org with `creator` as its only member.
pub async fn channel(
    store: &dyn Store,
    creator: &User,
    handle: &str,
    name: &str,
    private: bool,
) -> Conversation {
    let (conversation, _) = store
        .create_conversation(NewConversation {
            org_id: creator.org_id,
            kind: ConversationKind::Channel,
            name: Some(name),
            handle: Some(handle),
            topic: Some("what we talk about"),
            private,
            created_by: creator.id,
            members: &[creator.id],
            now: at(0),
        })
        .await
        .expect("create_conversation (channel)");
    conversation
}

/// Sends a message and returns what was stored with its event; panics on a duplicate.
pub async fn send_event(
    store: &dyn Store,
    conversation_id: ConversationId,
    author: &User,
    text: &str,
    now: Millis,
) -> (Message, Event) {
    let sent = store
        .queue_message(NewMessage {
            conversation_id,
            author_id: author.id,
            text,
            mentions: &Default::default(),
            thread_root_id: None,
            also_to_conversation: false,
            quote: None,
            attachments: &[],
            nonce: None,
            now,
        })
        .await
        .expect("queue_message");
    match sent {
        Sent::Stored(message, mut events) => (message, events.remove(0)),
        Sent::Duplicate(message) => {
            panic!("a message without a nonce was a duplicate: {message:?}")
        }
    }
}

/// Sends a message at `now` and returns it.
pub async fn send_at(
    store: &dyn Store,
    conversation_id: ConversationId,
    author: &User,
    text: &str,
    now: Millis,
) -> Message {
    send_event(store, conversation_id, author, text, now)
        .await
        .0
}

/// Sends a message at `at(0)` and returns it.
pub async fn send(
    store: &dyn Store,
    conversation_id: ConversationId,
    author: &User,
    text: &str,
) -> Message {
    send_at(store, conversation_id, author, text, at(0)).await
}

/// Ids of messages, for comparing pages.
pub fn ids(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.id.0).collect()
}

/// Sorted ids of anything that has one, for comparing sets.
pub fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}
