//! The records of uploads and files: the half of a file the relational store keeps (the bytes are in
//! `Storage`). A record exists before its objects and outlives them, so a crash in between leaves
//! something the collector finds, never an object nobody knows of.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{Event, FileRecord, ImageState, Millis};
use crate::{FileId, OrgId, UserId};

pub struct NewUpload<'a> {
    pub org_id: OrgId,
    pub owner_id: UserId,
    pub name: &'a str,
    pub size: u64,
    pub now: Millis,
}

/// What the content of a complete upload showed.
pub struct CompletedUpload<'a> {
    pub size: u64,
    pub content_type: &'a str,
    pub sha256: [u8; 32],
    /// `Pending` for a picture to decode, `NotImage` otherwise.
    pub image: ImageState,
}

#[async_trait]
pub trait FileRecords: Send + Sync + 'static {
    /// Records a pending upload, unless the org's files (pending ones at their declared size) would then
    /// take more than `quota` bytes: `Conflict("quota")`.
    async fn create_upload(&self, new: NewUpload<'_>, quota: u64) -> StoreResult<FileRecord>;
    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>>;
    /// The records among `ids` that exist, in one lookup.
    async fn files(&self, ids: &[FileId]) -> StoreResult<Vec<FileRecord>>;
    /// Marks a pending upload complete with what its content showed: `NotFound("upload")` unless pending.
    async fn complete_upload(
        &self,
        id: FileId,
        completed: CompletedUpload<'_>,
    ) -> StoreResult<FileRecord>;
    /// Records a picture's size and preview, or that it was refused. A file on a message makes a durable
    /// `message.updated`, returned.
    async fn set_image(
        &self,
        id: FileId,
        image: ImageState,
        now: Millis,
    ) -> StoreResult<Option<Event>>;
    /// Complete pictures whose preview is still to be made, oldest first, at most `limit`.
    async fn images_pending(&self, limit: u32) -> StoreResult<Vec<FileRecord>>;
    /// Marks an upload that is on no message erased (cancelled); `false` if it was on one or is gone.
    async fn erase_upload(&self, id: FileId) -> StoreResult<bool>;
    /// What the collector deletes: erased files, and uploads on no message created before `before`, at
    /// most `limit`.
    async fn collectable_files(&self, before: Millis, limit: u32) -> StoreResult<Vec<FileRecord>>;
    /// Drops the records of files whose objects are gone.
    async fn forget_files(&self, ids: &[FileId]) -> StoreResult<()>;
}
