//! Parley's domain: the rules of who may do what, the use cases (one function each, shared by the REST API and
//! the WebSocket gateway), and the `Store`, `Bus` and `Blobs` traits those use cases need.
//!
//! This crate knows nothing of HTTP, WebSocket, SQL or NATS: the server crate translates requests into calls here,
//! and the store and bus crates implement the traits. Every call authenticates, authorizes, validates, persists
//! and publishes, in that order.

pub mod blobs;
pub mod bus;
mod error;
pub mod images;
pub mod limits;
pub mod model;
mod passwords;
pub mod service;
pub mod store;
pub mod validate;
mod wire;

pub use error::Error;
pub use parley_proto as proto;
pub use parley_proto::{ConversationId, Cursor, InviteId, MessageId, OrgId, UserId};
pub use service::{Caller, Parley, Settings};
