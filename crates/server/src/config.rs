//! Configuration: defaults in code, then an optional TOML file, then environment variables and flags
//! (`PARLEY_...`; a flag wins over its variable). Loaded once in `main`; tests build a `Config` in code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP and WebSocket listener binds.
    pub listen: SocketAddr,
    /// Where the embedded store keeps its database and avatars.
    pub data_dir: PathBuf,
    /// Storage: absent or `sqlite` for SQLite in the data directory (`sqlite:///path/to.db` for another file).
    pub store: Option<String>,
    /// Event bus: absent or `local` for the in-process bus.
    pub bus: Option<String>,
    /// The URL clients reach this server at; defaults to `http://` plus the listen address.
    pub public_url: Option<String>,
    /// Handle of the organization sign-ups without `org` join.
    pub default_org: String,
    /// Whether a sign-up naming an unknown organization creates it.
    pub open_signup: bool,
    /// Login attempts allowed per minute for one account.
    pub login_attempts_per_account: u32,
    /// Login attempts allowed per minute from one client address.
    pub login_attempts_per_address: u32,
    /// Largest JSON request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./parley-data"),
            store: None,
            bus: None,
            public_url: None,
            default_org: "default".to_owned(),
            open_signup: true,
            login_attempts_per_account: 10,
            login_attempts_per_address: 60,
            // A 10,000-character message is at most 40 KB of UTF-8, more when JSON-escaped.
            max_body_bytes: 256 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

impl Config {
    /// Defaults overlaid with the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}
