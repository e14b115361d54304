//! Object storage: files people upload and avatars, kept apart from the relational store, in a local
//! directory or an S3-compatible bucket. Keys are made by core (`files/42`, `avatars/7`), never taken from a
//! client.

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::model::Millis;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A streamed body went past the bytes it was allowed.
    #[error("more than {0} bytes")]
    TooLarge(u64),
    /// The body being streamed in broke off (the client went away, say).
    #[error("the body broke off")]
    Body(#[source] std::io::Error),
    /// The storage itself failed.
    #[error("object storage failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Bytes as they come, from a request body or an object being read.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// An object being read: `range` of its `size` bytes, as a stream.
pub struct Reading {
    pub size: u64,
    pub range: Range<u64>,
    pub body: ByteStream,
}

/// An object as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub modified: Millis,
}

/// A browser form that uploads straight to the storage: `fields` first, then the bytes as `file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

/// Headers a presigned download is served with, as the storage sets them from the signed URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    pub content_type: String,
    pub content_disposition: String,
}

/// Where files live. A key's object is replaced whole or not at all: a reader never sees half of one.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Stores a small object (an avatar, a thumbnail), durably before returning.
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError>;
    /// A small object whole, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError>;
    /// Streams `body` into `key` as it comes, holding little of it in memory; fails with `TooLarge` (and
    /// stores nothing) once more than `limit` bytes came. Returns how many bytes were stored.
    async fn write(&self, key: &str, body: ByteStream, limit: u64) -> Result<u64, StorageError>;
    /// Reads `range` of the object (all of it for `None`; the range is clipped to its size), or `None`
    /// when there is no such object.
    async fn read(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<Reading>, StorageError>;
    /// The object's size, or `None`.
    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError>;
    /// Moves an object to another key (a rename on a disk, a copy and delete in a bucket).
    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;
    /// Deletes an object; deleting one that is not there is fine.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Every object under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StorageError>;
    /// A URL the storage itself serves the object at until `expires_in` has passed, with these headers;
    /// `None` for a storage that serves nothing itself (a local directory: this server streams it).
    async fn presigned_get(
        &self,
        key: &str,
        expires_in: Duration,
        served: &Served,
    ) -> Result<Option<String>, StorageError>;
    /// A form a browser posts the object with, refused by the storage unless it holds 1 to `max_bytes`
    /// bytes; `None` for a storage that takes no uploads itself (the client sends the bytes to this server).
    async fn presigned_post(
        &self,
        key: &str,
        max_bytes: u64,
        expires_in: Duration,
    ) -> Result<Option<PostForm>, StorageError>;
}
