//! Files on messages: who may fetch them, short-lived links for places that cannot send the
//! `Authorization` header, and deleting them (after a message is deleted, or by the collector).

use std::time::Duration;

use parley_proto::v1::{FileLink, FileLinkList};

use super::uploads::{file_key, millis, part_count, part_key, thumbnail_key};
use super::{Caller, Parley};
use crate::content_type::is_picture;
use crate::model::{FileRecord, FileState, ImageState, Millis};
use crate::signing::{UrlSigner, Variant};
use crate::storage::Served;
use crate::{Error, FileId, wire};

/// Most files one request for links names.
pub const MAX_LINKS: usize = 100;
/// Records the collector takes at a time.
const COLLECT_BATCH: u32 = 500;

/// What the file-storage part of the server is configured with.
#[derive(Clone, Debug)]
pub struct FileSettings {
    /// Largest file one upload takes, in bytes.
    pub max_file_bytes: u64,
    /// Bytes of files one organization may keep, uploads still pending included.
    pub org_quota_bytes: u64,
    /// Signs the links this server hands out; shared by every node of a cluster.
    pub signer: UrlSigner,
    /// How long a signed or presigned link works.
    pub link_lifetime: Duration,
    /// How long an upload on no message is kept.
    pub upload_lifetime: Duration,
}

/// How to answer a request for a file the caller may fetch.
#[derive(Debug)]
pub enum Download {
    /// The storage serves it: redirect here.
    Redirect(String),
    /// Stream this object from storage with these headers.
    Stream { key: String, served: Served },
}

impl Parley {
    /// A file (or its preview) for someone who may see its message: a member of its conversation, or
    /// the uploader before it is on a message. Anyone else is told it does not exist.
    pub async fn download(
        &self,
        caller: &Caller,
        id: FileId,
        variant: Variant,
    ) -> Result<Download, Error> {
        let record = self.visible_file(caller, id).await?;
        self.serve(&record, variant).await
    }

    /// A file (or its preview) through a signed link: refused (403) once it has expired or when any part
    /// of it was changed.
    pub async fn download_signed(
        &self,
        id: FileId,
        variant: Variant,
        expires: i64,
        signature: &str,
    ) -> Result<Download, Error> {
        let refused = Error::Forbidden("the link is not valid: it has expired or was changed");
        let expires = Millis(expires);
        if !self
            .settings
            .files
            .signer
            .verify(id, variant, expires, signature)
        {
            return Err(refused);
        }
        if expires < Millis::now() {
            return Err(refused);
        }
        let record = match self.store.file(id).await? {
            Some(record) if matches!(record.state, FileState::Complete | FileState::Attached) => {
                record
            }
            _ => return Err(Error::NotFound("file")),
        };
        self.serve(&record, variant).await
    }

    /// Signed links to files the caller may see, for `<img src>` and download links.
    pub async fn file_links(&self, caller: &Caller, ids: &[FileId]) -> Result<FileLinkList, Error> {
        if ids.is_empty() || ids.len() > MAX_LINKS {
            return Err(Error::invalid(
                "invalid_ids",
                format!("ask for 1 to {MAX_LINKS} files"),
            ));
        }
        let records = self.store.files(ids).await?;
        let expires = Millis(
            Millis::now()
                .0
                .saturating_add(millis(self.settings.files.link_lifetime)),
        );
        let mut links = Vec::with_capacity(ids.len());
        for id in ids {
            let record = records
                .iter()
                .find(|r| r.id == *id)
                .ok_or(Error::NotFound("file"))?;
            if !self.may_see(caller, record).await? {
                return Err(Error::NotFound("file"));
            }
            let has_preview = matches!(record.image, ImageState::Ready { .. });
            links.push(FileLink {
                id: *id,
                url: self.signed_url(caller, *id, Variant::File, expires),
                thumbnail_url: has_preview
                    .then(|| self.signed_url(caller, *id, Variant::Thumbnail, expires)),
                expires_at: wire::rfc3339(expires),
            });
        }
        Ok(FileLinkList { links })
    }

    /// Deletes the objects of files whose records are erased or about to be, then the records. A failure
    /// leaves the records for the collector to try again.
    pub(super) async fn delete_files(&self, ids: &[FileId]) {
        let Ok(records) = self.store.files(ids).await else {
            return;
        };
        let mut gone = Vec::with_capacity(records.len());
        for record in &records {
            match self.delete_objects(record).await {
                Ok(()) => gone.push(record.id),
                Err(error) => {
                    let error = &error as &dyn std::error::Error;
                    tracing::warn!(file = %record.id, error, "file objects not deleted yet");
                }
            }
        }
        if let Err(error) = self.store.forget_files(&gone).await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(error, "file records not forgotten yet");
        }
    }

    /// Deletes erased files, and uploads left on no message past their lifetime: what a crash between a
    /// commit and the deletion of objects, or a client that went away, left behind. Returns how many.
    pub async fn collect_files(&self) -> Result<u64, Error> {
        let before = Millis(
            Millis::now()
                .0
                .saturating_sub(millis(self.settings.files.upload_lifetime)),
        );
        let mut collected = 0;
        loop {
            let records = self.store.collectable_files(before, COLLECT_BATCH).await?;
            if records.is_empty() {
                return Ok(collected);
            }
            let mut ids = Vec::with_capacity(records.len());
            for record in &records {
                // Erased first, so an upload attached at this very moment is left alone.
                if record.state == FileState::Erased || self.store.erase_upload(record.id).await? {
                    ids.push(record.id);
                }
            }
            let count = ids.len() as u64;
            self.delete_files(&ids).await;
            // Records a storage failure kept are tried again on the next round, not now.
            if self.store.files(&ids).await?.len() as u64 == count {
                return Ok(collected);
            }
            collected += count;
        }
    }

    /// Deletes objects that no record names, older than an upload's lifetime (so never one whose record
    /// is still being made): what a client posting to a presigned form after its upload was collected
    /// leaves behind. Returns how many.
    pub async fn sweep_storage(&self) -> Result<u64, Error> {
        let lifetime = millis(self.settings.files.upload_lifetime);
        let before = Millis(
            Millis::now()
                .0
                .saturating_sub(lifetime.saturating_add(3_600_000)),
        );
        let mut swept = 0;
        for prefix in ["files/", "thumbnails/", "uploads/"] {
            let listed = self.storage.list(prefix).await?;
            let old: Vec<(String, FileId)> = listed
                .into_iter()
                .filter(|object| object.modified < before)
                .filter_map(|object| {
                    let id = object.key[prefix.len()..].split('/').next()?.parse().ok()?;
                    Some((object.key, FileId(id)))
                })
                .collect();
            for chunk in old.chunks(COLLECT_BATCH as usize) {
                let ids: Vec<FileId> = chunk.iter().map(|(_, id)| *id).collect();
                let known = self.store.files(&ids).await?;
                for (key, id) in chunk {
                    if !known.iter().any(|r| r.id == *id) {
                        self.storage.delete(key).await?;
                        swept += 1;
                    }
                }
            }
        }
        Ok(swept)
    }

    async fn delete_objects(&self, record: &FileRecord) -> Result<(), Error> {
        for number in 1..=part_count(record.size) {
            self.storage.delete(&part_key(record.id, number)).await?;
        }
        self.storage.delete(&thumbnail_key(record.id)).await?;
        self.storage.delete(&file_key(record.id)).await?;
        Ok(())
    }

    async fn visible_file(&self, caller: &Caller, id: FileId) -> Result<FileRecord, Error> {
        match self.store.file(id).await? {
            Some(record) if self.may_see(caller, &record).await? => Ok(record),
            _ => Err(Error::NotFound("file")),
        }
    }

    /// The uploader sees a complete upload; members of a conversation see the files on its messages.
    async fn may_see(&self, caller: &Caller, record: &FileRecord) -> Result<bool, Error> {
        Ok(match (record.state, record.message) {
            (FileState::Complete, _) => record.owner_id == caller.user.id,
            (FileState::Attached, Some((conversation_id, _))) => {
                record.org_id == caller.user.org_id
                    && self
                        .store
                        .membership(conversation_id, caller.user.id)
                        .await?
                        .is_some()
            }
            _ => false,
        })
    }

    async fn serve(&self, record: &FileRecord, variant: Variant) -> Result<Download, Error> {
        let (key, served) = match (variant, record.image) {
            (Variant::File, image) => {
                let content_type = record
                    .content_type
                    .clone()
                    .unwrap_or_else(|| crate::model::OCTET_STREAM.to_owned());
                // Only a picture this server decoded is shown in place; anything else is downloaded.
                let inline = is_picture(&content_type) && matches!(image, ImageState::Ready { .. });
                let served = Served {
                    content_disposition: content_disposition(inline, &record.name),
                    content_type,
                };
                (file_key(record.id), served)
            }
            (Variant::Thumbnail, ImageState::Ready { thumbnail_png, .. }) => {
                let content_type = if thumbnail_png {
                    "image/png"
                } else {
                    "image/jpeg"
                };
                let served = Served {
                    content_disposition: content_disposition(true, &record.name),
                    content_type: content_type.to_owned(),
                };
                (thumbnail_key(record.id), served)
            }
            (Variant::Thumbnail, _) => return Err(Error::NotFound("thumbnail")),
        };
        let lifetime = self.settings.files.link_lifetime;
        Ok(
            match self.storage.presigned_get(&key, lifetime, &served).await? {
                Some(url) => Download::Redirect(url),
                None => Download::Stream { key, served },
            },
        )
    }

    /// A signed link to `id`. It also names the caller's organization, which a cluster of several shards
    /// routes it by; the signature does not cover it: on another shard, no file has that id.
    fn signed_url(&self, caller: &Caller, id: FileId, variant: Variant, expires: Millis) -> String {
        let signature = self.settings.files.signer.sign(id, variant, expires);
        let path = match variant {
            Variant::File => format!("/v1/files/{id}"),
            Variant::Thumbnail => format!("/v1/files/{id}/thumbnail"),
        };
        format!(
            "{}{path}?expires={}&org={}&signature={signature}",
            self.settings.public_url.trim_end_matches('/'),
            expires.0,
            caller.user.org_id
        )
    }

    /// The size of an object this server serves itself; `None` if it is gone.
    pub async fn object_size(&self, key: &str) -> Result<Option<u64>, Error> {
        Ok(self.storage.size(key).await?)
    }

    /// Streams an object this server serves itself; `None` if it is gone.
    pub async fn read_object(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<Option<crate::storage::Reading>, Error> {
        Ok(self.storage.read(key, range).await?)
    }
}

/// `Content-Disposition` as RFC 6266 puts it: a plain ASCII `filename` for old clients and the exact name
/// as UTF-8 in `filename*`.
pub fn content_disposition(inline: bool, name: &str) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_carry_the_name_safely() {
        assert_eq!(
            content_disposition(false, "report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            content_disposition(true, "naïve \"plan\".png"),
            "inline; filename=\"na_ve _plan_.png\"; filename*=UTF-8''na%C3%AFve%20%22plan%22.png"
        );
        assert!(!content_disposition(false, "a\r\nb;c").contains('\n'));
    }
}
