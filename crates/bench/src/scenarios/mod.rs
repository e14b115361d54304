//! One module per scenario. Each takes its sizes (a `clap::Args` struct, also its `--help`) and a `Bench`,
//! sets up its users and conversations, then measures only the phase the report describes.

pub mod bigchannel;
pub mod catchup;
pub mod connect;
pub mod fanout;
pub mod files;
pub mod history;
pub mod idle;
pub mod ingest;
pub mod moving;
pub mod pairs;
pub mod push;
pub mod storm;

/// A JSON object of a scenario's sizes, for the report.
pub(crate) fn params<T: serde::Serialize>(args: &T) -> serde_json::Value {
    serde_json::to_value(args).unwrap_or_default()
}
