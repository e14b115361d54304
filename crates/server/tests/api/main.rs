//! Integration tests: a real `parley` server on an ephemeral port, driven through the SDK as clients do.
//! One test binary, one file per feature.

mod access;
mod accounts;
mod administration;
mod bad_input;
mod cluster;
mod connections;
mod conversations;
mod crashes;
mod durability;
mod edits;
mod events;
mod export;
mod fanout;
mod features;
mod files;
mod files_s3;
mod invites;
mod large_channels;
mod mentions;
mod messages;
mod moderation;
mod moves;
mod notifications;
mod openapi;
mod operations;
mod org_settings;
mod outages;
mod pins;
mod process;
mod quotes;
mod realtime;
mod replicas;
mod retention;
mod sessions;
mod shards;
mod sso;
mod threads;
mod users;
mod web;

use parley_client::{Client, Created};
use parley_proto::v1::{ConversationKind, CreateConversationRequest};
use parley_proto::{ConversationId, UserId};

/// A request to create a conversation of `kind` with `members` and nothing else set.
fn conversation_request(kind: ConversationKind, members: &[UserId]) -> CreateConversationRequest {
    CreateConversationRequest {
        kind,
        members: members.to_vec(),
        name: None,
        handle: None,
        topic: None,
        private: None,
    }
}

async fn dm(client: &Client, other: UserId) -> ConversationId {
    let created = client
        .create_conversation(&conversation_request(ConversationKind::Dm, &[other]))
        .await;
    created.expect("create DM").value.id
}

async fn group(client: &Client, name: &str, members: &[UserId]) -> ConversationId {
    let request = CreateConversationRequest {
        name: Some(name.to_owned()),
        ..conversation_request(ConversationKind::Group, members)
    };
    client
        .create_conversation(&request)
        .await
        .expect("create group")
        .value
        .id
}

async fn channel(client: &Client, handle: &str, private: bool) -> ConversationId {
    let request = CreateConversationRequest {
        name: Some(format!("Channel {handle}")),
        handle: Some(handle.to_owned()),
        topic: Some("what we talk about".to_owned()),
        private: Some(private),
        ..conversation_request(ConversationKind::Channel, &[])
    };
    let created: Created<_> = client
        .create_conversation(&request)
        .await
        .expect("create channel");
    created.value.id
}

/// Asserts that a call failed with this status and error code.
#[track_caller]
fn assert_api_error<T: std::fmt::Debug>(result: parley_client::Result<T>, status: u16, code: &str) {
    match result {
        Err(parley_client::Error::Api {
            status: s, code: c, ..
        }) => {
            assert_eq!((s, c.as_str()), (status, code), "wrong error");
        }
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}
