//! Sizes and previews of shared pictures, made off the request path: completing an upload wakes the
//! worker, and the store is its queue (complete pictures still `Pending`), so a restart loses nothing.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parley_proto::v1::Thumbnail;

use super::Parley;
use super::uploads::{file_key, thumbnail_key};
use crate::images;
use crate::model::{FileRecord, ImageState, Millis};
use crate::validate::ImageFormat;
use crate::{Error, FileId};

/// Pictures read from the store at a time.
const BATCH: u32 = 16;
/// The largest picture decoded; a larger file is offered as a download only.
pub const MAX_PICTURE_BYTES: u64 = 50 * 1024 * 1024;
/// How often the worker looks for pictures nobody woke it for (another node's, or after a failure).
const LOOK_EVERY: Duration = Duration::from_secs(60);

/// Makes previews until `parley` is dropped: when woken, and every `LOOK_EVERY`.
pub async fn make_previews(parley: Weak<Parley>) {
    let Some(wake) = parley.upgrade().map(|p| Arc::clone(&p.previews)) else {
        return;
    };
    loop {
        let Some(parley) = parley.upgrade() else {
            return;
        };
        if let Err(error) = parley.make_pending_previews().await {
            let error = &error as &dyn std::error::Error;
            tracing::warn!(error, "previews not made");
        }
        drop(parley);
        let _ = tokio::time::timeout(LOOK_EVERY, wake.notified()).await;
    }
}

impl Parley {
    /// Makes the previews the store lists as pending, until there are none.
    pub async fn make_pending_previews(&self) -> Result<(), Error> {
        loop {
            let pending = self.store.images_pending(BATCH).await?;
            if pending.is_empty() {
                return Ok(());
            }
            for record in &pending {
                let image = self.preview(record).await?;
                self.store
                    .set_image(record.id, image, Millis::now())
                    .await?;
            }
        }
    }

    /// Decodes one picture and stores its preview; a picture that does not decode under the limits is
    /// `Refused` (a download only), never retried.
    async fn preview(&self, record: &FileRecord) -> Result<ImageState, Error> {
        if record.size > MAX_PICTURE_BYTES {
            return Ok(ImageState::Refused);
        }
        let Some(bytes) = self.storage.get(&file_key(record.id)).await? else {
            return Ok(ImageState::Refused);
        };
        let permit = Arc::clone(&self.image_permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Busy)?;
        let made = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            images::preview(&bytes)
        })
        .await;
        let preview = match made {
            Ok(Ok(preview)) => preview,
            Ok(Err(_)) | Err(_) => return Ok(refused(record.id)),
        };
        let thumbnail_png = preview.thumbnail.format == ImageFormat::Png;
        self.storage
            .put(&thumbnail_key(record.id), preview.thumbnail.bytes.into())
            .await?;
        Ok(ImageState::Ready {
            width: preview.width,
            height: preview.height,
            thumbnail: Thumbnail {
                width: preview.thumbnail_width,
                height: preview.thumbnail_height,
            },
            thumbnail_png,
        })
    }
}

fn refused(id: FileId) -> ImageState {
    tracing::info!(file = %id, "a picture that does not decode under the limits: no preview");
    ImageState::Refused
}
