//! Implementations of core's `Store` and `Blobs` traits: SQLite, the embedded default (one file in the data
//! directory, WAL mode, every write durable before it is acknowledged), and avatars as files.
//!
//! No business rules live here: core decides who may do what; the store keeps data consistent (uniqueness,
//! nonces, the event written in the same transaction as its change) and fast (group commit).

mod announces;
mod deadline;
mod event_columns;
mod files;
mod inputs;
mod like;
mod postgres;
mod sqlite;

pub use deadline::TimeLimited;
pub use files::FsBlobs;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
