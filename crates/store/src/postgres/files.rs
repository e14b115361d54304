//! Records of uploads and files, and the attachments of messages.

use deadpool_postgres::GenericClient;
use parley_core::model::{
    Audience, Event, EventKind, FileRecord, FileState, ImageState, Message, Millis,
};
use parley_core::store::{CompletedUpload, FileRecords, NewUpload, StoreError, StoreResult};
use parley_core::{ConversationId, FileId, MessageId, OrgId, UserId};
use tokio_postgres::Row;

use super::sql::{self, get, row, rows, run};
use super::{PgStore, events};

const FILE_COLUMNS: &str = "id, org_id, owner_id, name, size, state, content_type, sha256, image_state, \
     width, height, thumb_width, thumb_height, conversation_id, message_id, created_at";

fn file(row: &Row) -> StoreResult<FileRecord> {
    let sha256: Option<Vec<u8>> = get(row, 7)?;
    let message = match (get::<Option<i64>>(row, 13)?, get::<Option<i64>>(row, 14)?) {
        (Some(conversation_id), Some(message_id)) => {
            Some((ConversationId(conversation_id), MessageId(message_id)))
        }
        _ => None,
    };
    let size =
        |index| -> StoreResult<Option<i64>> { Ok(get::<Option<i32>>(row, index)?.map(i64::from)) };
    Ok(FileRecord {
        id: FileId(get(row, 0)?),
        org_id: OrgId(get(row, 1)?),
        owner_id: UserId(get(row, 2)?),
        name: get(row, 3)?,
        size: u64::try_from(get::<i64>(row, 4)?).unwrap_or_default(),
        state: FileState::from_number(i64::from(get::<i16>(row, 5)?)).unwrap_or(FileState::Erased),
        content_type: get(row, 6)?,
        sha256: sha256.and_then(|hash| hash.try_into().ok()),
        image: ImageState::from_stored(
            i64::from(get::<i16>(row, 8)?),
            [size(9)?, size(10)?, size(11)?, size(12)?],
        ),
        message,
        created_at: Millis(get(row, 15)?),
    })
}

fn files(found: &[Row]) -> StoreResult<Vec<FileRecord>> {
    found.iter().map(file).collect()
}

fn bytes(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

fn number(n: i64) -> i16 {
    i16::try_from(n).unwrap_or(0)
}

fn side(n: Option<i64>) -> Option<i32> {
    n.and_then(|n| i32::try_from(n).ok())
}

pub(crate) async fn by_id(c: &impl GenericClient, id: FileId) -> StoreResult<Option<FileRecord>> {
    let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1");
    row(c, &sql, &[&id.0]).await?.as_ref().map(file).transpose()
}

/// Fills in the attachments of a page of messages, in one query.
pub(crate) async fn with_attachments(
    c: &impl GenericClient,
    messages: &mut [Message],
) -> StoreResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = messages.iter().map(|m| m.id.0).collect();
    let sql = format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE message_id = ANY($1) AND state = 2
         ORDER BY message_id, position"
    );
    for record in files(&rows(c, &sql, &[&ids]).await?)? {
        let Some((_, message_id)) = record.message else {
            continue;
        };
        if let Some(message) = messages.iter_mut().find(|m| m.id == message_id) {
            message.attachments.push(record.attachment());
        }
    }
    Ok(())
}

async fn set_image(
    c: &impl GenericClient,
    id: FileId,
    image: ImageState,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let [width, height, thumb_width, thumb_height] = image.sizes().map(side);
    run(
        c,
        "UPDATE files SET image_state = $2, width = $3, height = $4, thumb_width = $5, thumb_height = $6
         WHERE id = $1",
        &[&id.0, &number(image.number()), &width, &height, &thumb_width, &thumb_height],
    )
    .await?;
    let Some(FileRecord {
        state: FileState::Attached,
        message: Some((conversation_id, message_id)),
        ..
    }) = by_id(c, id).await?
    else {
        return Ok(None);
    };
    let Some(message) = sql::message_by_id(c, conversation_id, message_id).await? else {
        return Ok(None);
    };
    let kind = EventKind::MessageUpdated(message);
    events::append(c, conversation_id, kind, Audience::Members, now)
        .await
        .map(Some)
}

#[async_trait::async_trait]
impl FileRecords for PgStore {
    async fn create_upload(&self, new: NewUpload<'_>, quota: u64) -> StoreResult<FileRecord> {
        let (org_id, owner_id, size, now) = (new.org_id, new.owner_id, new.size, new.now);
        let name = new.name.to_owned();
        self.db
            .write(move |c| {
                let name = name.clone();
                Box::pin(async move {
                    // The quota is checked in the statement that inserts: a batch's writes interleave.
                    let sql = format!(
                        "INSERT INTO files (org_id, owner_id, name, size, created_at)
                         SELECT $1, $2, $3, $4::bigint, $5
                         WHERE (SELECT coalesce(sum(size), 0) FROM files
                                WHERE org_id = $1 AND state IN (0, 1, 2)) + $4::bigint <= $6::bigint
                         RETURNING {FILE_COLUMNS}"
                    );
                    let quota = bytes(quota);
                    let params: sql::Params<'_> =
                        &[&org_id.0, &owner_id.0, &name, &bytes(size), &now.0, &quota];
                    match row(c, &sql, params).await? {
                        Some(found) => file(&found),
                        None => Err(StoreError::Conflict("quota")),
                    }
                })
            })
            .await
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
        by_id(&self.db.read().await?, id).await
    }

    async fn files(&self, ids: &[FileId]) -> StoreResult<Vec<FileRecord>> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ANY($1)");
        files(&rows(&self.db.read().await?, &sql, &[&ids]).await?)
    }

    async fn complete_upload(
        &self,
        id: FileId,
        completed: CompletedUpload<'_>,
    ) -> StoreResult<FileRecord> {
        let (size, sha256, image) = (completed.size, completed.sha256, completed.image);
        let content_type = completed.content_type.to_owned();
        self.db
            .write(move |c| {
                let content_type = content_type.clone();
                Box::pin(async move {
                    let sql = format!(
                        "UPDATE files SET state = 1, size = $2, content_type = $3, sha256 = $4, image_state = $5
                         WHERE id = $1 AND state = 0
                         RETURNING {FILE_COLUMNS}"
                    );
                    let hash = sha256.to_vec();
                    let params: sql::Params<'_> =
                        &[&id.0, &bytes(size), &content_type, &hash, &number(image.number())];
                    match row(c, &sql, params).await? {
                        Some(found) => file(&found),
                        None => Err(StoreError::NotFound("upload")),
                    }
                })
            })
            .await
    }

    async fn set_image(
        &self,
        id: FileId,
        image: ImageState,
        now: Millis,
    ) -> StoreResult<Option<Event>> {
        self.db
            .write(move |c| Box::pin(set_image(c, id, image, now)))
            .await
    }

    async fn images_pending(&self, limit: u32) -> StoreResult<Vec<FileRecord>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE image_state = 1 AND state IN (1, 2) ORDER BY id LIMIT $1"
        );
        files(&rows(&self.db.read().await?, &sql, &[&i64::from(limit)]).await?)
    }

    async fn erase_upload(&self, id: FileId) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                Box::pin(async move {
                    let erased = run(
                        c,
                        "UPDATE files SET state = 3 WHERE id = $1 AND state IN (0, 1)",
                        &[&id.0],
                    )
                    .await?;
                    Ok(erased > 0)
                })
            })
            .await
    }

    async fn collectable_files(&self, before: Millis, limit: u32) -> StoreResult<Vec<FileRecord>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files
             WHERE state = 3 OR (state IN (0, 1) AND created_at < $1) ORDER BY id LIMIT $2"
        );
        let params: sql::Params<'_> = &[&before.0, &i64::from(limit)];
        files(&rows(&self.db.read().await?, &sql, params).await?)
    }

    async fn forget_files(&self, ids: &[FileId]) -> StoreResult<()> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        self.db
            .write(move |c| {
                let ids = ids.clone();
                Box::pin(async move {
                    run(
                        c,
                        "DELETE FROM files WHERE id = ANY($1) AND state <> 2",
                        &[&ids],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }
}
