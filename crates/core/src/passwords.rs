//! Argon2id password hashing, off the async runtime and bounded, since each hash costs ~50 ms of a core.

use std::sync::Arc;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::Error;

#[derive(Clone)]
pub(crate) struct Passwords {
    /// Caps concurrent hashes at the number of cores so logins never starve the runtime's workers.
    permits: Arc<Semaphore>,
}

/// A valid Argon2id hash of a password nobody has: verifying against it for unknown users makes their login
/// take as long as a wrong password, so timing does not tell which accounts exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8h2oExtb3vDCVSu9y5SLD4YVnDdBSmXxQbwRbDPsLMo";

impl Passwords {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Passwords {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }

    pub(crate) async fn hash(&self, password: &str) -> Result<String, Error> {
        let password = password.to_owned();
        self.blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| Error::Hashing(e.to_string()))
        })
        .await
    }

    /// True when `password` matches `hash`; with `None` it spends the same time and answers false.
    pub(crate) async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, Error> {
        let password = password.to_owned();
        self.blocking(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok();
            Ok(known && matches)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Hashing(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_real_hash_so_unknown_users_cost_a_full_verify() {
        let outcome = Argon2::default().verify_password(b"anything", DUMMY_HASH);
        assert!(
            matches!(outcome, Err(argon2::password_hash::Error::PasswordInvalid)),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let passwords = Passwords::new();
        let hash = passwords.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            passwords
                .verify("correct horse", Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("wrong horse", Some(hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("correct horse", None)
                .await
                .expect("verify")
        );
    }
}
