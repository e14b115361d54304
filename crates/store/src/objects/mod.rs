//! Core's `Storage` on the `object_store` crate: a directory in the data dir by default, or an S3-compatible
//! bucket for a cluster. Writes stream through a multipart upload in small chunks, so a large file is never
//! held in memory; reads stream too.

mod avatars;
mod post_policy;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use parley_core::model::Millis;
use parley_core::storage::{ByteStream, Listed, PostForm, Reading, Served, Storage, StorageError};

pub use avatars::migrate_avatars;

/// Chunk of a streamed write to a local directory: written at its offset as it fills.
const LOCAL_CHUNK: usize = 256 * 1024;
/// Chunk of a streamed write to S3: its smallest multipart part.
const S3_CHUNK: usize = 5 * 1024 * 1024;
/// Chunks of one write in flight at once.
const CHUNKS_IN_FLIGHT: usize = 2;

/// Where an S3-compatible bucket is and how to sign for it.
#[derive(Clone, Debug)]
pub struct S3Settings {
    pub bucket: String,
    /// `http(s)://host:port` of a store other than AWS (SeaweedFS, MinIO, R2); addressed path-style.
    pub endpoint: Option<String>,
    pub region: String,
    /// Taken from the environment (`AWS_ACCESS_KEY_ID`, ...) when not given.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

enum Backend {
    /// Files under this directory.
    Local(std::path::PathBuf),
    S3 {
        store: Arc<AmazonS3>,
        bucket_url: String,
        bucket: String,
        region: String,
    },
}

pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
}

impl ObjectStorage {
    /// Objects as files under `root`, created if missing.
    pub fn local(root: &std::path::Path) -> Result<ObjectStorage, StorageError> {
        std::fs::create_dir_all(root).map_err(backend)?;
        let store = LocalFileSystem::new_with_prefix(root)
            .map_err(backend)?
            .with_automatic_cleanup(true);
        Ok(ObjectStorage {
            store: Arc::new(store),
            backend: Backend::Local(root.to_owned()),
        })
    }

    /// Objects in an S3-compatible bucket.
    pub fn s3(settings: &S3Settings) -> Result<ObjectStorage, StorageError> {
        // HTTPS to the store goes through rustls with ring (built already for the rest of the tree), the
        // process-wide provider; one installed before is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(key) = &settings.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = Arc::new(builder.build().map_err(backend)?);
        let bucket_url = match &settings.endpoint {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), settings.bucket),
            None => format!(
                "https://{}.s3.{}.amazonaws.com",
                settings.bucket, settings.region
            ),
        };
        Ok(ObjectStorage {
            store: Arc::clone(&store) as Arc<dyn ObjectStore>,
            backend: Backend::S3 {
                store,
                bucket_url,
                bucket: settings.bucket.clone(),
                region: settings.region.clone(),
            },
        })
    }

    fn chunk(&self) -> usize {
        match self.backend {
            Backend::Local(_) => LOCAL_CHUNK,
            Backend::S3 { .. } => S3_CHUNK,
        }
    }
}

/// A file read in `LOCAL_CHUNK` pieces: object_store streams a local file 8 KiB at a time, each on the
/// blocking pool, which made downloads and completions CPU-bound (273 MiB/s, BENCHMARKS.md).
async fn read_file(
    file: &std::path::Path,
    range: Option<Range<u64>>,
) -> Result<Option<Reading>, StorageError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};

    let mut opened = match tokio::fs::File::open(file).await {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(backend(e)),
    };
    let size = opened.metadata().await.map_err(backend)?.len();
    let range = range.map_or(0..size, |r| r.start.min(size)..r.end.min(size));
    opened
        .seek(std::io::SeekFrom::Start(range.start))
        .await
        .map_err(backend)?;
    let left = range.end - range.start;
    let body = futures_util::stream::unfold((opened, left), |(mut opened, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buffer = vec![
            0u8;
            usize::try_from(left)
                .unwrap_or(LOCAL_CHUNK)
                .min(LOCAL_CHUNK)
        ];
        match opened.read(&mut buffer).await {
            // The file ended early (it cannot: objects are replaced whole, never cut).
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(Bytes::from(buffer)), (opened, left - read as u64)))
            }
            Err(error) => Some((Err(error), (opened, 0))),
        }
    })
    .boxed();
    Ok(Some(Reading { size, range, body }))
}

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::Backend(Box::new(error))
}

fn path(key: &str) -> Result<Path, StorageError> {
    Path::parse(key).map_err(backend)
}

fn is_missing(error: &object_store::Error) -> bool {
    matches!(error, object_store::Error::NotFound { .. })
}

#[async_trait]
impl Storage for ObjectStorage {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&path(key)?, PutPayload::from(bytes))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        match self.store.get(&path(key)?).await {
            Ok(result) => Ok(Some(result.bytes().await.map_err(backend)?)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn write(
        &self,
        key: &str,
        mut body: ByteStream,
        limit: u64,
    ) -> Result<u64, StorageError> {
        let upload = self
            .store
            .put_multipart(&path(key)?)
            .await
            .map_err(backend)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.chunk());
        let mut written = 0u64;
        let failure = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Ok(chunk)) => chunk,
                Some(Err(error)) => break Some(StorageError::Body(error)),
            };
            written += chunk.len() as u64;
            if written > limit {
                break Some(StorageError::TooLarge(limit));
            }
            if let Err(error) = writer.wait_for_capacity(CHUNKS_IN_FLIGHT).await {
                break Some(backend(error));
            }
            writer.put(chunk);
        };
        if let Some(failure) = failure {
            // Nothing of a refused body is kept.
            let _ = writer.abort().await;
            return Err(failure);
        }
        if written == 0 {
            let _ = writer.abort().await;
            return Ok(0);
        }
        writer.finish().await.map_err(backend)?;
        Ok(written)
    }

    async fn read(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<Reading>, StorageError> {
        if let Backend::Local(root) = &self.backend {
            return read_file(&root.join(path(key)?.as_ref()), range).await;
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&path(key)?, options).await {
            Ok(result) => result,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let size = result.meta.size;
        let range = result.range.clone();
        let body = result.into_stream().map_err(std::io::Error::other).boxed();
        Ok(Some(Reading { size, range, body }))
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self.store.head(&path(key)?).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.store
            .rename(&path(from)?, &path(to)?)
            .await
            .map_err(backend)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StorageError> {
        let prefix = path(prefix.trim_end_matches('/'))?;
        self.store
            .list(Some(&prefix))
            .map_ok(|meta| Listed {
                key: meta.location.to_string(),
                modified: Millis(meta.last_modified.timestamp_millis()),
            })
            .try_collect()
            .await
            .map_err(backend)
    }

    async fn presigned_get(
        &self,
        key: &str,
        expires_in: Duration,
        served: &Served,
    ) -> Result<Option<String>, StorageError> {
        let Backend::S3 { store, .. } = &self.backend else {
            return Ok(None);
        };
        // The store serves the object with these headers, as S3's `response-*` parameters ask.
        let options = SignedUrlOptions::default().with_query([
            ("response-content-type", served.content_type.as_str()),
            (
                "response-content-disposition",
                served.content_disposition.as_str(),
            ),
        ]);
        let url = store
            .signed_url_opts(http::Method::GET, &path(key)?, expires_in, &options)
            .await
            .map_err(backend)?;
        Ok(Some(url.to_string()))
    }

    async fn presigned_post(
        &self,
        key: &str,
        max_bytes: u64,
        expires_in: Duration,
    ) -> Result<Option<PostForm>, StorageError> {
        let Backend::S3 {
            store,
            bucket_url,
            bucket,
            region,
        } = &self.backend
        else {
            return Ok(None);
        };
        let credential = store
            .credentials()
            .get_credential()
            .await
            .map_err(backend)?;
        let form = post_policy::form(
            &post_policy::Target {
                url: bucket_url,
                bucket,
                region,
                key,
            },
            &post_policy::Credential {
                key_id: &credential.key_id,
                secret_key: &credential.secret_key,
                token: credential.token.as_deref(),
            },
            max_bytes,
            expires_in,
            time::OffsetDateTime::now_utc(),
        );
        Ok(Some(form))
    }
}
