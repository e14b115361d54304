//! What the third-party servers the tests start (SeaweedFS, the push service, the OpenID provider) share: finding what their
//! `scripts/` installer put in place, and starting one on freshly picked ports until it answers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long the start (after the install) may take.
const START_PATIENCE: Duration = Duration::from_secs(60);
/// Starts tried when the child exits at once: a port taken between our pick and its bind.
const TRIES: usize = 3;

/// The path in the environment variable `env` if set, else the one the installer `scripts/{script}` prints
/// (installing first when needed); `None` when it fails.
pub(crate) async fn installed(env: &str, script: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let output = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .await
        .ok()?;
    let path = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
}

/// Spawns a server with `spawn` (which picks fresh ports each time and answers the child and its URL)
/// until `ready(url)` says it answers. A child that exits at once is tried again on other ports; one that
/// stays down is a failure, with `what` and the log at `log`.
pub(crate) async fn start(
    what: &str,
    log: &Path,
    mut spawn: impl FnMut() -> (Child, String),
    ready: impl AsyncFn(&str) -> bool,
) -> (Child, String) {
    for _ in 0..TRIES {
        let (mut child, url) = spawn();
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            if ready(&url).await {
                return (child, url);
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} did not start within {START_PATIENCE:?}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!(
        "{what} did not start in {TRIES} tries:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
