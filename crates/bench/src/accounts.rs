//! The bench's users. Signing up costs the server an Argon2 hash (about 50 ms of a core), so users are
//! created a few at a time and, with `--accounts FILE`, kept in a JSON file of tokens that later runs read
//! back: only the first run against a server pays for them.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use futures_util::{StreamExt, stream};
use parley_client::Client;
use parley_proto::UserId;
use parley_proto::v1::SignupRequest;
use serde::{Deserialize, Serialize};

use crate::report::{Output, Progress};
use crate::{Error, Result};

/// One signed-up user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    pub user_id: UserId,
    pub token: String,
}

/// The bench's users, and the file they are kept in (if any).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Accounts {
    /// Makes this set's usernames unique on the server.
    pub prefix: String,
    #[serde(rename = "accounts")]
    pub list: Vec<Account>,
    /// Sign-ups in flight at once.
    #[serde(skip)]
    pub signup_concurrency: usize,
    #[serde(skip)]
    path: Option<PathBuf>,
}

impl Accounts {
    /// Accounts kept only in memory.
    pub fn in_memory(signup_concurrency: usize) -> Self {
        Accounts {
            prefix: format!("{:x}", crate::tag::new_run_id() & 0xff_ffff),
            list: Vec::new(),
            signup_concurrency,
            path: None,
        }
    }

    /// The accounts in `path`, or none yet if it does not exist; new ones are saved there.
    pub fn load(path: &Path, signup_concurrency: usize) -> Result<Self> {
        let shown = path.display().to_string();
        let mut accounts = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Accounts>(&bytes).map_err(|source| {
                Error::AccountsJson {
                    path: shown,
                    source,
                }
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Self::in_memory(signup_concurrency)
            }
            Err(source) => {
                return Err(Error::AccountsFile {
                    path: shown,
                    source,
                });
            }
        };
        accounts.signup_concurrency = signup_concurrency;
        accounts.path = Some(path.to_owned());
        Ok(accounts)
    }

    /// Makes sure there are at least `n` accounts, signing up the missing ones, and saves the file.
    pub async fn ensure(&mut self, client: &Client, n: usize, output: Output) -> Result<()> {
        if let Some(first) = self.list.first() {
            // Tokens from another server (or a wiped one) would fail every socket later, less clearly.
            client.with_token(&first.token).me().await.map_err(|error| {
                Error::Scenario(format!(
                    "the accounts file does not work on this server ({error}); delete it to sign up new users"
                ))
            })?;
        }
        let have = self.list.len();
        if have >= n {
            return Ok(());
        }
        let progress = Progress::start(output, "sign-up", "users", None);
        let prefix = self.prefix.clone();
        let results: Vec<Result<Account>> = stream::iter(have..n)
            .map(|index| {
                let (client, prefix, progress) =
                    (client.clone(), prefix.clone(), progress.counter());
                async move {
                    let username = format!("pb{prefix}u{index}");
                    let request = SignupRequest {
                        name: format!("Bench {index}"),
                        email: format!("{username}@bench.example.org"),
                        password: "parley-bench password".to_owned(),
                        username,
                        org: None,
                        invite: None,
                    };
                    let session = client.signup(&request).await?;
                    progress.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, Error>(Account {
                        user_id: session.user_id,
                        token: session.token,
                    })
                }
            })
            .buffered(self.signup_concurrency.max(1))
            .collect()
            .await;
        progress.finish();
        // Keep whatever was signed up even if some failed: it was paid for.
        let mut first_error = None;
        for result in results {
            match result {
                Ok(account) => self.list.push(account),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        self.save()?;
        first_error.map_or(Ok(()), Err)
    }

    fn save(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let shown = path.display().to_string();
        let json = serde_json::to_vec(self).map_err(|source| Error::AccountsJson {
            path: shown.clone(),
            source,
        })?;
        std::fs::write(path, json).map_err(|source| Error::AccountsFile {
            path: shown,
            source,
        })
    }
}
