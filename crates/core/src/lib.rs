//! Parley's domain: the rules of who may do what, the use cases (one function each, shared by the REST API and
//! the WebSocket gateway), and the `Store`, `Bus` and `Storage` traits those use cases need.
//!
//! This crate knows nothing of HTTP, WebSocket, SQL or NATS: the server crate translates requests into calls here,
//! and the store and bus crates implement the traits. Every call authenticates, authorizes, validates, persists
//! and publishes, in that order.

pub mod bus;
pub mod content_type;
mod error;
pub mod images;
pub mod limits;
pub mod model;
mod passwords;
pub mod service;
pub mod signing;
pub mod sso;
pub mod storage;
pub mod store;
pub mod validate;
mod wire;

pub use error::Error;
pub use parley_proto as proto;
pub use parley_proto::{
    AuditId, ConversationId, Cursor, FileId, InviteId, MessageId, OrgId, SessionId, SubscriptionId,
    UserId,
};
pub use service::{Caller, Parley, Settings};
