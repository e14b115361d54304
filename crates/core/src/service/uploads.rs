//! Uploads: asking where to send a file's bytes, sending them part by part, completing (the server counts
//! the bytes, recognises the type and records a SHA-256), cancelling, and attaching complete uploads to a
//! message.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use parley_proto::v1::{self, Attachment, CreateUploadRequest, UploadState};
use sha2::{Digest, Sha256};

use super::{Caller, Parley};
use crate::content_type::{self, SNIFF_BYTES};
use crate::model::{FileRecord, FileState, ImageState, Millis};
use crate::storage::{ByteStream, Storage, StorageError};
use crate::store::{CompletedUpload, NewUpload, StoreError};
use crate::validate::{self, ImageFormat};
use crate::{Error, FileId, wire};

/// The bytes of every part of an upload but the last.
pub const PART_BYTES: u64 = 32 * 1024 * 1024;
/// Most files one message carries.
pub const MAX_ATTACHMENTS: usize = 10;
/// Longest content type a client may name (a hint only).
const MAX_CONTENT_TYPE_CHARS: usize = 255;

/// Where a part of an upload waits until the upload is complete.
pub(super) fn part_key(id: FileId, number: u32) -> String {
    format!("uploads/{id}/{number}")
}

/// Where a complete file lives.
pub(super) fn file_key(id: FileId) -> String {
    format!("files/{id}")
}

/// Where a picture's preview lives.
pub(super) fn thumbnail_key(id: FileId) -> String {
    format!("thumbnails/{id}")
}

/// How many parts an upload of `size` bytes takes.
pub(super) fn part_count(size: u64) -> u32 {
    u32::try_from(size.div_ceil(PART_BYTES).max(1)).unwrap_or(u32::MAX)
}

/// The bytes of part `number` (from 1) of an upload of `size` bytes.
fn part_size(size: u64, number: u32) -> u64 {
    let start = u64::from(number - 1) * PART_BYTES;
    size.saturating_sub(start).min(PART_BYTES)
}

impl Parley {
    /// Records a pending upload and answers where to send its bytes: presigned forms to the object store
    /// when it takes uploads itself, this server's part routes otherwise. The size is checked against the
    /// per-file limit now (413) and against the organization's quota (409 `quota_exceeded`).
    pub async fn create_upload(
        &self,
        caller: &Caller,
        request: &CreateUploadRequest,
    ) -> Result<v1::Upload, Error> {
        let name = validate::file_name(&request.name)?;
        if request.size == 0 {
            return Err(Error::invalid(
                "invalid_size",
                "a file has at least one byte",
            ));
        }
        if request.size > self.settings.files.max_file_bytes {
            return Err(Error::TooLarge {
                what: "file",
                limit: self.settings.files.max_file_bytes,
            });
        }
        if let Some(hint) = &request.content_type
            && (hint.chars().count() > MAX_CONTENT_TYPE_CHARS || hint.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "invalid_content_type",
                format!(
                    "content_type is at most {MAX_CONTENT_TYPE_CHARS} characters, without controls"
                ),
            ));
        }
        self.write_throttle.check(caller.user.id)?;
        let new = NewUpload {
            org_id: caller.user.org_id,
            owner_id: caller.user.id,
            name: &name,
            size: request.size,
            now: Millis::now(),
        };
        let record = self
            .store
            .create_upload(new, self.settings.files.org_quota_bytes)
            .await
            .map_err(|error| match error {
                StoreError::Conflict("quota") => Error::Conflict {
                    code: "quota_exceeded",
                    message: "the organization's file storage is full".to_owned(),
                },
                other => other.into(),
            })?;
        self.upload_wire(&record).await
    }

    /// One of the caller's uploads.
    pub async fn upload(&self, caller: &Caller, id: FileId) -> Result<v1::Upload, Error> {
        let record = self.own_upload(caller, id).await?;
        self.upload_wire(&record).await
    }

    /// Streams part `number` of a pending upload into storage (for a storage that takes no uploads itself).
    /// `length` is the body's declared length: a part larger than it should be is refused before a byte
    /// is read, and one that turns out larger or smaller is not kept.
    pub async fn receive_part(
        &self,
        caller: &Caller,
        id: FileId,
        number: u32,
        length: Option<u64>,
        body: ByteStream,
    ) -> Result<(), Error> {
        let record = self.own_upload(caller, id).await?;
        if record.state != FileState::Pending {
            return Err(upload_not_pending());
        }
        if number == 0 || number > part_count(record.size) {
            return Err(Error::NotFound("part"));
        }
        let expected = part_size(record.size, number);
        if length.is_some_and(|length| length > expected) {
            return Err(Error::TooLarge {
                what: "part",
                limit: expected,
            });
        }
        let key = part_key(id, number);
        let written = match self.storage.write(&key, body, expected).await {
            Ok(written) => written,
            Err(StorageError::TooLarge(_)) => {
                return Err(Error::TooLarge {
                    what: "part",
                    limit: expected,
                });
            }
            Err(StorageError::Body(_)) => {
                return Err(Error::invalid("body_incomplete", "the body broke off"));
            }
            Err(error) => return Err(error.into()),
        };
        if written != expected {
            self.storage.delete(&key).await?;
            return Err(size_mismatch(expected, written));
        }
        Ok(())
    }

    /// Completes an upload once every part is in: joins the parts, counts the bytes, recognises the type
    /// by content and records its SHA-256. A picture's size and preview follow off the request path.
    pub async fn complete_upload(&self, caller: &Caller, id: FileId) -> Result<v1::Upload, Error> {
        let record = self.own_upload(caller, id).await?;
        if record.state != FileState::Pending {
            return self.upload_wire(&record).await;
        }
        let examined = if self.storage.size(&file_key(id)).await? == Some(record.size) {
            // Joined by an earlier call whose client went away before it was recorded.
            examine(&*self.storage, &file_key(id)).await?
        } else {
            let parts = part_count(record.size);
            self.check_parts(id, parts, record.size).await?;
            // A few at a time, each holding a chunk or two of its file as it passes; on a task of its own, so
            // a request given up on (a deadline, a client gone) does not stop a join halfway, which on S3
            // would leave an unfinished multipart upload behind.
            let permit = Arc::clone(&self.completions)
                .acquire_owned()
                .await
                .map_err(|_| Error::Busy)?;
            let storage = Arc::clone(&self.storage);
            let size = record.size;
            tokio::spawn(async move {
                let _permit = permit;
                join_parts(storage, id, parts, size).await
            })
            .await
            .map_err(|_| Error::Busy)??
        };
        let (size, head, sha256) = examined.finish();
        if size != record.size {
            return Err(size_mismatch(record.size, size));
        }
        let content_type = content_type::recognise(&head);
        let image = if ImageFormat::sniff(&head).is_some() {
            ImageState::Pending
        } else {
            ImageState::NotImage
        };
        let completed = CompletedUpload {
            size,
            content_type,
            sha256,
            image,
        };
        let record = match self.store.complete_upload(id, completed).await {
            Ok(record) => record,
            // Completed meanwhile by a retry of this call: answer what it made.
            Err(StoreError::NotFound(_)) => self.own_upload(caller, id).await?,
            Err(error) => return Err(error.into()),
        };
        if image == ImageState::Pending {
            self.previews.notify_one();
        }
        self.upload_wire(&record).await
    }

    /// Cancels an upload that is on no message: its record is marked erased and its objects deleted.
    pub async fn cancel_upload(&self, caller: &Caller, id: FileId) -> Result<(), Error> {
        let record = self.own_upload(caller, id).await?;
        if !self.store.erase_upload(record.id).await? {
            return Err(Error::Conflict {
                code: "upload_attached",
                message: "the upload is on a message: delete the message instead".to_owned(),
            });
        }
        self.delete_files(&[record.id]).await;
        Ok(())
    }

    /// The attachments a draft names: complete uploads of the caller's, none on a message yet, each once.
    pub(super) async fn attachable(
        &self,
        caller: &Caller,
        ids: &[FileId],
    ) -> Result<Vec<Attachment>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > MAX_ATTACHMENTS {
            return Err(Error::invalid(
                "too_many_attachments",
                format!("a message carries at most {MAX_ATTACHMENTS} files"),
            ));
        }
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != ids.len() {
            return Err(Error::invalid(
                "invalid_attachments",
                "each upload is attached once",
            ));
        }
        let records = self.store.files(ids).await?;
        ids.iter()
            .map(|id| {
                let record = records
                    .iter()
                    .find(|r| r.id == *id && r.owner_id == caller.user.id)
                    .ok_or(Error::NotFound("upload"))?;
                match record.state {
                    FileState::Complete => Ok(record.attachment()),
                    FileState::Pending => Err(Error::Conflict {
                        code: "upload_incomplete",
                        message: format!("upload {id} is not complete"),
                    }),
                    FileState::Attached => Err(Error::Conflict {
                        code: "upload_attached",
                        message: format!("upload {id} is on a message already"),
                    }),
                    FileState::Erased => Err(Error::NotFound("upload")),
                }
            })
            .collect()
    }

    pub(super) async fn own_upload(
        &self,
        caller: &Caller,
        id: FileId,
    ) -> Result<FileRecord, Error> {
        match self.store.file(id).await? {
            Some(record)
                if record.owner_id == caller.user.id && record.state != FileState::Erased =>
            {
                Ok(record)
            }
            _ => Err(Error::NotFound("upload")),
        }
    }

    /// Every part is there, and each of its size (one that is not is deleted, to be sent again).
    async fn check_parts(&self, id: FileId, parts: u32, size: u64) -> Result<(), Error> {
        for number in 1..=parts {
            let expected = part_size(size, number);
            match self.storage.size(&part_key(id, number)).await? {
                None => {
                    return Err(Error::Conflict {
                        code: "upload_incomplete",
                        message: format!("part {number} of {parts} has not arrived"),
                    });
                }
                Some(found) if found != expected => {
                    self.storage.delete(&part_key(id, number)).await?;
                    return Err(size_mismatch(expected, found));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The upload as its owner sees it, with fresh presigned forms while it is pending.
    async fn upload_wire(&self, record: &FileRecord) -> Result<v1::Upload, Error> {
        let state = match record.state {
            FileState::Pending => UploadState::Pending,
            FileState::Complete => UploadState::Complete,
            FileState::Attached => UploadState::Attached,
            FileState::Erased => return Err(Error::NotFound("upload")),
        };
        let mut parts = Vec::new();
        if state == UploadState::Pending {
            for number in 1..=part_count(record.size) {
                parts.push(self.part_target(record, number).await?);
            }
        }
        Ok(v1::Upload {
            id: record.id,
            name: record.name.clone(),
            size: record.size,
            state,
            content_type: record.content_type.clone(),
            sha256: record.sha256.map(|hash| hex(&hash)),
            expires_at: wire::rfc3339(self.upload_expiry(record)),
            parts,
        })
    }

    async fn part_target(&self, record: &FileRecord, number: u32) -> Result<v1::UploadPart, Error> {
        let size = part_size(record.size, number);
        let lifetime = self.settings.files.upload_lifetime;
        let form = self
            .storage
            .presigned_post(&part_key(record.id, number), size, lifetime)
            .await?;
        Ok(match form {
            Some(form) => v1::UploadPart {
                number,
                size,
                method: "POST".to_owned(),
                url: form.url,
                fields: form.fields.into_iter().collect::<BTreeMap<_, _>>(),
            },
            None => v1::UploadPart {
                number,
                size,
                method: "PUT".to_owned(),
                url: format!("/v1/uploads/{}/parts/{number}", record.id),
                fields: BTreeMap::new(),
            },
        })
    }

    /// When an upload on no message is collected.
    fn upload_expiry(&self, record: &FileRecord) -> Millis {
        Millis(
            record
                .created_at
                .0
                .saturating_add(millis(self.settings.files.upload_lifetime)),
        )
    }
}

/// Moves a single part into place and reads it once, or streams several, in order, into one object,
/// looking at the bytes as they pass: either way each byte is read once.
async fn join_parts(
    storage: Arc<dyn Storage>,
    id: FileId,
    parts: u32,
    size: u64,
) -> Result<Examined, Error> {
    if parts == 1 {
        storage.rename(&part_key(id, 1), &file_key(id)).await?;
        return examine(&*storage, &file_key(id)).await;
    }
    let examined = Arc::new(Mutex::new(Examined::default()));
    let tap = Arc::clone(&examined);
    let source = Arc::clone(&storage);
    let joined = futures_util::stream::iter(1..=parts)
        .then(move |number| {
            let source = Arc::clone(&source);
            async move {
                match source.read(&part_key(id, number), None).await {
                    Ok(Some(reading)) => reading.body,
                    Ok(None) => failed_stream(format!("part {number} vanished")),
                    Err(error) => failed_stream(error.to_string()),
                }
            }
        })
        .flatten()
        .inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                lock(&tap).take(chunk);
            }
        })
        .boxed();
    storage.write(&file_key(id), joined, size).await?;
    for number in 1..=parts {
        storage.delete(&part_key(id, number)).await?;
    }
    Ok(std::mem::take(&mut *lock(&examined)))
}

/// Reads a whole object once.
async fn examine(storage: &dyn Storage, key: &str) -> Result<Examined, Error> {
    let reading = storage
        .read(key, None)
        .await?
        .ok_or(Error::NotFound("upload"))?;
    let mut body = reading.body;
    let mut examined = Examined::default();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::Storage(StorageError::Backend(Box::new(e))))?;
        examined.take(&chunk);
    }
    Ok(examined)
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What one pass over an object's bytes shows: its size, its first bytes and its SHA-256.
#[derive(Default)]
struct Examined {
    size: u64,
    head: Vec<u8>,
    hasher: Sha256,
}

impl Examined {
    fn take(&mut self, chunk: &[u8]) {
        if self.head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
    }

    fn finish(self) -> (u64, Vec<u8>, [u8; 32]) {
        (self.size, self.head, self.hasher.finalize().into())
    }
}

fn lock(examined: &Mutex<Examined>) -> std::sync::MutexGuard<'_, Examined> {
    examined
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn failed_stream(message: String) -> ByteStream {
    futures_util::stream::once(async move { Err(std::io::Error::other(message)) }).boxed()
}

fn upload_not_pending() -> Error {
    Error::Conflict {
        code: "upload_complete",
        message: "the upload is complete: its parts cannot change".to_owned(),
    }
}

fn size_mismatch(expected: u64, got: u64) -> Error {
    Error::invalid(
        "size_mismatch",
        format!("expected {expected} bytes, got {got}"),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_exactly() {
        for size in [
            1,
            PART_BYTES - 1,
            PART_BYTES,
            PART_BYTES + 1,
            3 * PART_BYTES + 7,
        ] {
            let parts = part_count(size);
            let total: u64 = (1..=parts).map(|n| part_size(size, n)).sum();
            assert_eq!(total, size, "{size}");
            assert!((1..=parts).all(|n| part_size(size, n) > 0), "{size}");
        }
        assert_eq!(part_count(PART_BYTES), 1);
        assert_eq!(part_count(PART_BYTES + 1), 2);
    }
}
