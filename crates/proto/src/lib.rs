//! Parley's wire types: the JSON bodies of the REST API and the frames of the WebSocket protocol, version 1.
//!
//! This crate is shapes only: serde and OpenAPI schemas, no I/O, no runtime, no rules. Every id travels as a
//! decimal string (JavaScript numbers cannot hold 64 bits) and every time as an RFC 3339 string in UTC.
//! What a client sends is read with [`decode`], which holds it to those shapes strictly.

pub mod decode;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod ids;
mod object;
mod strict_enum;
pub mod v1;

pub use decode::{DecodeError, decode};
pub use ids::{
    AuditId, ConversationId, Cursor, FileId, InviteId, MessageId, OrgId, SessionId, SubscriptionId,
    UserId,
};
