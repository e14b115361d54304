//! The Parley server: the HTTP API over core's use cases, configuration, wiring and graceful shutdown.
//! `main.rs` is a thin shell over `run`; tests call `run` the same way on an ephemeral port.
//!
//! No business rules live here: handlers extract, call core, and convert; errors become the API's shape in
//! one place (`error.rs`).

mod address_guard;
mod app;
pub mod config;
mod error;
mod files;
pub mod gateway;
mod http;
mod metrics;
mod openapi;
mod push;
mod serve;
pub mod shards;
mod sso;
mod tally;
mod web;

pub use app::{AppState, StartError, open_for_admin, router};
pub use config::Config;
pub use openapi::document as openapi_document;
pub use serve::{HttpSettings, bind, raise_open_files_limit, run};
