//! Blobs as files under a directory, written to a temporary name, synced, then renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use parley_core::blobs::{BlobError, Blobs};

pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsBlobs { root: root.into() }
    }
}

fn put_sync(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("partial");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn blob_error(e: impl std::error::Error + Send + Sync + 'static) -> BlobError {
    BlobError(Box::new(e))
}

#[async_trait]
impl Blobs for FsBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        let path = self.root.join(key);
        tokio::task::spawn_blocking(move || put_sync(&path, &bytes))
            .await
            .map_err(blob_error)?
            .map_err(blob_error)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match tokio::fs::read(self.root.join(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(blob_error(e)),
        }
    }
}
