//! Argon2id password hashing on a bounded pool of dedicated threads, each reusing one memory buffer.
//!
//! Each hash costs ~50 ms of a core and 19 MiB of memory. Hashing with the library's allocating calls on the
//! blocking pool left hundreds of MiB resident after a burst of sign-ups (measured: 613 MiB after 60), since
//! the allocator keeps what each thread freed. Here each thread owns a buffer sized for the parameters and
//! lends it to every hash it computes, so hashing holds a fixed few tens of MiB. There is one thread fewer
//! than there are cores (at least one), so a flood of sign-ups or logins never takes every core from the
//! runtime (with one per core, 42 sign-ups a second took login latency from 38 to 135 ms); and the queue is
//! bounded, so past it a hash is refused as busy (503) instead of waiting ever longer.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::Error;

type Job = Box<dyn FnOnce(&mut Hasher) + Send>;

#[derive(Clone)]
pub(crate) struct Passwords {
    jobs: std_mpsc::SyncSender<Job>,
}

/// Hashes that may wait per hashing thread: about 1.6 s of work each.
const QUEUED_PER_THREAD: usize = 32;

/// A valid Argon2id hash of a password nobody has: verifying against it for unknown users makes their login
/// take as long as a wrong password, so timing does not tell which accounts exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8h2oExtb3vDCVSu9y5SLD4YVnDdBSmXxQbwRbDPsLMo";

/// Bytes of salt per new hash (the PHC recommendation).
const SALT_BYTES: usize = 16;

/// One thread's Argon2 state: the memory every hash on that thread works in.
struct Hasher {
    memory: Vec<Block>,
}

fn hashing_error(e: impl std::fmt::Display) -> Error {
    Error::Hashing(e.to_string())
}

impl Hasher {
    fn output(
        &mut self,
        password: &[u8],
        salt: &[u8],
        algorithm: Algorithm,
        version: Version,
        params: Params,
    ) -> Result<Output, Error> {
        self.memory.resize(params.block_count(), Block::default());
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let out = buffer
            .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
            .ok_or_else(|| Error::Hashing("output length".into()))?;
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password, salt, out, &mut self.memory)
            .map_err(hashing_error)?;
        Output::new(out).map_err(hashing_error)
    }

    /// A PHC string (`$argon2id$v=19$m=...`) of `password` with a fresh salt and the default parameters.
    fn hash(&mut self, password: &[u8]) -> Result<String, Error> {
        let mut salt = [0u8; SALT_BYTES];
        getrandom::fill(&mut salt).map_err(hashing_error)?;
        let params = Params::default();
        let output = self.output(
            password,
            &salt,
            Algorithm::Argon2id,
            Version::V0x13,
            params.clone(),
        )?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(hashing_error)?,
            salt: Some(Salt::new(&salt).map_err(hashing_error)?),
            hash: Some(output),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` matches the PHC string `stored`, compared in constant time.
    fn verify(&mut self, password: &[u8], stored: &str) -> bool {
        let Ok(hash) = PasswordHash::new(stored) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return false;
        };
        let algorithm = Algorithm::try_from(hash.algorithm.as_str());
        let version = Version::try_from(hash.version.unwrap_or(Version::V0x13.into()));
        let params = Params::try_from(&hash);
        let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, params) else {
            return false;
        };
        self.output(password, salt, algorithm, version, params)
            .is_ok_and(|computed| computed == *expected)
    }
}

impl Passwords {
    /// Starts the hashing threads (one fewer than the cores, at least one); they end when the last
    /// `Passwords` is dropped.
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = cores.saturating_sub(1).max(1);
        Self::with_pool(threads, threads * QUEUED_PER_THREAD)
    }

    fn with_pool(threads: usize, queued: usize) -> Self {
        let (jobs, queue) = std_mpsc::sync_channel::<Job>(queued);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    let mut hasher = Hasher { memory: Vec::new() };
                    // The lock is held only while waiting for the next job, never while hashing.
                    while let Some(job) = queue.lock().ok().and_then(|q| q.recv().ok()) {
                        job(&mut hasher);
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        Passwords { jobs }
    }

    pub(crate) async fn hash(&self, password: &str) -> Result<String, Error> {
        let password = password.to_owned();
        self.run(move |hasher| hasher.hash(password.as_bytes()))
            .await
    }

    /// True when `password` matches `hash`; with `None` it spends the same time and answers false.
    pub(crate) async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, Error> {
        let password = password.to_owned();
        self.run(move |hasher| {
            let known = hash.is_some();
            let matches = hasher.verify(password.as_bytes(), hash.as_deref().unwrap_or(DUMMY_HASH));
            Ok(known && matches)
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Hasher) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move |hasher| {
            let _ = done.send(work(hasher));
        });
        self.jobs.try_send(job).map_err(|refused| match refused {
            std_mpsc::TrySendError::Full(_) => Error::Busy,
            std_mpsc::TrySendError::Disconnected(_) => {
                Error::Hashing("the hashing threads are gone".into())
            }
        })?;
        answer
            .await
            .map_err(|_| Error::Hashing("a hashing thread stopped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher, PasswordVerifier};

    #[test]
    fn the_dummy_hash_is_a_real_hash_so_unknown_users_cost_a_full_verify() {
        let outcome = Argon2::default().verify_password(b"anything", DUMMY_HASH);
        assert!(
            matches!(outcome, Err(argon2::password_hash::Error::PasswordInvalid)),
            "{outcome:?}"
        );
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        let mut hasher = Hasher { memory: Vec::new() };
        let ours = hasher.hash(b"correct horse").expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", ours.as_str())
                .is_ok(),
            "the library accepts ours"
        );
        let theirs = Argon2::default()
            .hash_password(b"battery staple")
            .expect("hash")
            .to_string();
        assert!(
            hasher.verify(b"battery staple", &theirs),
            "we accept the library's"
        );
        assert!(!hasher.verify(b"battery stable", &theirs));
        assert!(!hasher.verify(b"correct horse", "not a hash"));
        assert_ne!(
            hasher.hash(b"correct horse").expect("hash"),
            ours,
            "fresh salt each time"
        );
    }

    #[tokio::test]
    async fn a_flood_past_the_queue_is_refused_as_busy_and_the_rest_is_hashed() {
        let passwords = Passwords::with_pool(1, 2);
        let hashes = (0..8).map(|_| passwords.hash("correct horse"));
        let outcomes = futures_util::future::join_all(hashes).await;
        let busy = outcomes
            .iter()
            .filter(|o| matches!(o, Err(Error::Busy)))
            .count();
        let hashed = outcomes.iter().filter(|o| o.is_ok()).count();
        assert!(
            busy >= 5,
            "at most the queue and the one in hand: {busy} busy"
        );
        assert_eq!(busy + hashed, 8, "nothing else went wrong");
        passwords
            .hash("later")
            .await
            .expect("the pool serves again");
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let passwords = Passwords::new();
        let hash = passwords.hash("correct horse").await.expect("hash");
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
