//! Implementations of core's `Store` and `Storage` traits: SQLite, the embedded default (one file in the data
//! directory, WAL mode, every write durable before it is acknowledged), PostgreSQL for a cluster, and object
//! storage (a directory, or an S3-compatible bucket) for files and avatars.
//!
//! No business rules live here: core decides who may do what; the store keeps data consistent (uniqueness,
//! nonces, the event written in the same transaction as its change) and fast (group commit).

mod announces;
mod deadline;
mod event_columns;
mod inputs;
mod like;
mod objects;
mod postgres;
mod sqlite;

pub use deadline::TimeLimited;
pub use objects::{ObjectStorage, S3Settings, migrate_avatars};
pub use postgres::{MoveError, Moved, OrgMove, PgDirectory, PgStore};
pub use sqlite::SqliteStore;
