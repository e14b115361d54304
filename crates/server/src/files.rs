//! Where files live and how their links are signed, as the configuration says: opened once at start.

use std::path::Path;
use std::sync::Arc;

use parley_core::signing::UrlSigner;
use parley_core::storage::{Storage, StorageError};
use parley_store::{ObjectStorage, S3Settings};

use crate::app::StartError;
use crate::config::Config;

/// The storage the configuration names: `objects/` in the data directory by default, or an S3 bucket.
pub fn open_storage(config: &Config) -> Result<Arc<dyn Storage>, StartError> {
    let storage = match config.files.as_deref() {
        None | Some("local") => ObjectStorage::local(&config.data_dir.join("objects")),
        Some(url) => match url.strip_prefix("s3://") {
            Some(bucket) if !bucket.is_empty() && !bucket.contains('/') => {
                ObjectStorage::s3(&S3Settings {
                    bucket: bucket.to_owned(),
                    endpoint: config.s3_endpoint.clone(),
                    region: config.s3_region.clone().unwrap_or_else(default_region),
                    access_key_id: config.s3_access_key_id.clone(),
                    secret_access_key: config.s3_secret_access_key.clone(),
                })
            }
            _ => {
                return Err(StartError::Unsupported {
                    what: "files",
                    url: url.into(),
                    supported: "local, s3://BUCKET",
                });
            }
        },
    };
    Ok(Arc::new(storage.map_err(StartError::Storage)?))
}

/// The origin browsers reach the object store at (for the web client's CSP), when files are in S3.
pub fn origin(config: &Config) -> Option<String> {
    let bucket = config.files.as_deref()?.strip_prefix("s3://")?;
    let url = match &config.s3_endpoint {
        Some(endpoint) => url::Url::parse(endpoint).ok()?,
        None => url::Url::parse(&format!(
            "https://{bucket}.s3.{}.amazonaws.com",
            config.s3_region.clone().unwrap_or_else(default_region)
        ))
        .ok()?,
    };
    Some(url.origin().ascii_serialization())
}

fn default_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// The signer of file links: from `url_secret`, required on a cluster; on a single node, from the data
/// directory's `url-secret`, made on first start.
pub fn url_signer(config: &Config, cluster: bool) -> Result<UrlSigner, StartError> {
    if let Some(secret) = &config.url_secret {
        return UrlSigner::new(secret.as_bytes().to_vec()).ok_or(StartError::UrlSecret);
    }
    if cluster {
        return Err(StartError::UrlSecret);
    }
    let path = config.data_dir.join("url-secret");
    let secret =
        read_or_make(&path).map_err(|e| StartError::DataDir(path.display().to_string(), e))?;
    UrlSigner::new(secret).ok_or(StartError::UrlSecret)
}

pub(crate) fn read_or_make(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(secret) => Ok(secret),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(std::io::Error::other)?;
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            let temporary = path.with_extension("partial");
            std::fs::write(&temporary, &hex)?;
            std::fs::rename(&temporary, path)?;
            Ok(hex.into_bytes())
        }
        Err(e) => Err(e),
    }
}

/// Moves avatars kept by earlier versions in the data directory onto the storage.
pub async fn migrate_avatars(config: &Config, storage: &dyn Storage) -> Result<(), StorageError> {
    let moved = parley_store::migrate_avatars(&config.data_dir.join("avatars"), storage).await?;
    if moved > 0 {
        tracing::info!(moved, "avatars moved onto the file storage");
    }
    Ok(())
}
