//! Records of uploads and files, and the attachments of messages.

use parley_core::model::{
    Audience, Event, EventKind, FileRecord, FileState, ImageState, Message, Millis,
};
use parley_core::proto::v1::Attachment;
use parley_core::store::{CompletedUpload, StoreError, StoreResult};
use parley_core::{ConversationId, FileId, MessageId, OrgId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::connection::backend;
use super::events;
use super::rows::{self, one, run};

const FILE_COLUMNS: &str = "id, org_id, owner_id, name, size, state, content_type, sha256, image_state, \
     width, height, thumb_width, thumb_height, conversation_id, message_id, created_at";

fn file(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
    let sha256: Option<Vec<u8>> = row.get(7)?;
    let message = match (
        row.get::<_, Option<i64>>(13)?,
        row.get::<_, Option<i64>>(14)?,
    ) {
        (Some(conversation_id), Some(message_id)) => {
            Some((ConversationId(conversation_id), MessageId(message_id)))
        }
        _ => None,
    };
    Ok(FileRecord {
        id: FileId(row.get(0)?),
        org_id: OrgId(row.get(1)?),
        owner_id: UserId(row.get(2)?),
        name: row.get(3)?,
        size: u64::try_from(row.get::<_, i64>(4)?).unwrap_or_default(),
        state: FileState::from_number(row.get(5)?).unwrap_or(FileState::Erased),
        content_type: row.get(6)?,
        sha256: sha256.and_then(|hash| hash.try_into().ok()),
        image: ImageState::from_stored(
            row.get(8)?,
            [row.get(9)?, row.get(10)?, row.get(11)?, row.get(12)?],
        ),
        message,
        created_at: Millis(row.get(15)?),
    })
}

fn size(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

pub(crate) fn create_upload(
    c: &Connection,
    org_id: OrgId,
    owner_id: UserId,
    name: &str,
    bytes: u64,
    quota: u64,
    now: Millis,
) -> StoreResult<FileRecord> {
    let used: i64 = one(
        c,
        "SELECT coalesce(sum(size), 0) FROM files WHERE org_id = ?1 AND state IN (0, 1, 2)",
        [org_id.0],
        |row| row.get(0),
    )
    .map_err(backend)?;
    if u64::try_from(used)
        .unwrap_or_default()
        .saturating_add(bytes)
        > quota
    {
        return Err(StoreError::Conflict("quota"));
    }
    run(
        c,
        "INSERT INTO files (org_id, owner_id, name, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![org_id.0, owner_id.0, name, size(bytes), now.0],
    )
    .map_err(backend)?;
    by_id(c, FileId(c.last_insert_rowid()))?.ok_or(StoreError::NotFound("upload"))
}

pub(crate) fn by_id(c: &Connection, id: FileId) -> StoreResult<Option<FileRecord>> {
    one(
        c,
        &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"),
        [id.0],
        file,
    )
    .optional()
    .map_err(backend)
}

pub(crate) fn by_ids(c: &Connection, ids: &[FileId]) -> StoreResult<Vec<FileRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
    query(
        c,
        &format!("SELECT {FILE_COLUMNS} FROM files WHERE id IN (SELECT value FROM json_each(?1))"),
        [format!("[{}]", ids.join(","))],
    )
}

fn query<P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
) -> StoreResult<Vec<FileRecord>> {
    c.prepare_cached(sql)
        .and_then(|mut statement| {
            statement
                .query_map(params, file)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(backend)
}

pub(crate) fn complete(
    c: &Connection,
    id: FileId,
    completed: &Completed,
) -> StoreResult<FileRecord> {
    let changed = run(
        c,
        "UPDATE files SET state = 1, size = ?2, content_type = ?3, sha256 = ?4, image_state = ?5
         WHERE id = ?1 AND state = 0",
        params![
            id.0,
            size(completed.size),
            completed.content_type,
            completed.sha256.as_slice(),
            completed.image.number()
        ],
    )
    .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound("upload"));
    }
    by_id(c, id)?.ok_or(StoreError::NotFound("upload"))
}

/// An owned copy of core's `CompletedUpload`, for the writer.
#[derive(Clone)]
pub(crate) struct Completed {
    pub size: u64,
    pub content_type: String,
    pub sha256: [u8; 32],
    pub image: ImageState,
}

impl From<CompletedUpload<'_>> for Completed {
    fn from(c: CompletedUpload<'_>) -> Self {
        Completed {
            size: c.size,
            content_type: c.content_type.to_owned(),
            sha256: c.sha256,
            image: c.image,
        }
    }
}

pub(crate) fn set_image(
    c: &Connection,
    id: FileId,
    image: ImageState,
    now: Millis,
) -> StoreResult<Option<Event>> {
    let [width, height, thumb_width, thumb_height] = image.sizes();
    run(
        c,
        "UPDATE files SET image_state = ?2, width = ?3, height = ?4, thumb_width = ?5, thumb_height = ?6
         WHERE id = ?1",
        params![id.0, image.number(), width, height, thumb_width, thumb_height],
    )
    .map_err(backend)?;
    let Some(FileRecord {
        state: FileState::Attached,
        message: Some((conversation_id, message_id)),
        ..
    }) = by_id(c, id)?
    else {
        return Ok(None);
    };
    let Some(message) = rows::message_by_id(c, conversation_id, message_id)? else {
        return Ok(None);
    };
    let kind = EventKind::MessageUpdated(message);
    events::append(c, conversation_id, kind, Audience::Members, now).map(Some)
}

pub(crate) fn images_pending(c: &Connection, limit: u32) -> StoreResult<Vec<FileRecord>> {
    query(
        c,
        &format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE image_state = 1 AND state IN (1, 2) ORDER BY id LIMIT ?1"
        ),
        [limit],
    )
}

pub(crate) fn erase_upload(c: &Connection, id: FileId) -> StoreResult<bool> {
    let erased = run(
        c,
        "UPDATE files SET state = 3 WHERE id = ?1 AND state IN (0, 1)",
        [id.0],
    )
    .map_err(backend)?;
    Ok(erased > 0)
}

pub(crate) fn collectable(
    c: &Connection,
    before: Millis,
    limit: u32,
) -> StoreResult<Vec<FileRecord>> {
    query(
        c,
        &format!(
            "SELECT {FILE_COLUMNS} FROM files
             WHERE state = 3 OR (state IN (0, 1) AND created_at < ?1) ORDER BY id LIMIT ?2"
        ),
        params![before.0, limit],
    )
}

pub(crate) fn forget(c: &Connection, ids: &[FileId]) -> StoreResult<()> {
    for id in ids {
        run(c, "DELETE FROM files WHERE id = ?1 AND state <> 2", [id.0]).map_err(backend)?;
    }
    Ok(())
}

/// `Conflict("attachment")` unless every one is a complete upload of the author's on no message: one
/// attached meanwhile by another send, or cancelled. The writer runs one write at a time, so what this
/// finds still holds when `attach` runs.
pub(crate) fn check_attachable(
    c: &Connection,
    author_id: UserId,
    attachments: &[Attachment],
) -> StoreResult<()> {
    for attachment in attachments {
        let found = one(
            c,
            "SELECT 1 FROM files WHERE id = ?1 AND owner_id = ?2 AND state = 1",
            params![attachment.id.0, author_id.0],
            |_| Ok(()),
        )
        .optional()
        .map_err(backend)?;
        if found.is_none() {
            return Err(StoreError::Conflict("attachment"));
        }
    }
    Ok(())
}

/// Attaches complete uploads of the author's to a new message, in order (`check_attachable` first).
pub(crate) fn attach(
    c: &Connection,
    message_id: MessageId,
    conversation_id: ConversationId,
    author_id: UserId,
    attachments: &[Attachment],
) -> StoreResult<()> {
    for (position, attachment) in attachments.iter().enumerate() {
        let attached = run(
            c,
            "UPDATE files SET state = 2, conversation_id = ?2, message_id = ?3, position = ?4
             WHERE id = ?1 AND owner_id = ?5 AND state = 1",
            params![
                attachment.id.0,
                conversation_id.0,
                message_id.0,
                position as i64,
                author_id.0
            ],
        )
        .map_err(backend)?;
        if attached == 0 {
            return Err(StoreError::Conflict("attachment"));
        }
    }
    Ok(())
}

/// Marks the files of an erased message erased, for core to delete.
pub(crate) fn erase_of_message(c: &Connection, message_id: MessageId) -> StoreResult<()> {
    run(
        c,
        "UPDATE files SET state = 3 WHERE message_id = ?1 AND state = 2",
        [message_id.0],
    )
    .map_err(backend)?;
    Ok(())
}

/// Fills in the attachments of a page of messages, in one query.
pub(crate) fn with_attachments(c: &Connection, messages: &mut [Message]) -> StoreResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = messages.iter().map(|m| m.id.0.to_string()).collect();
    let files = query(
        c,
        &format!(
            "SELECT {FILE_COLUMNS} FROM files
             WHERE message_id IN (SELECT value FROM json_each(?1)) AND state = 2
             ORDER BY message_id, position"
        ),
        [format!("[{}]", ids.join(","))],
    )?;
    for record in files {
        let Some((_, message_id)) = record.message else {
            continue;
        };
        if let Some(message) = messages.iter_mut().find(|m| m.id == message_id) {
            message.attachments.push(record.attachment());
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl parley_core::store::FileRecords for super::SqliteStore {
    async fn create_upload(
        &self,
        new: parley_core::store::NewUpload<'_>,
        quota: u64,
    ) -> StoreResult<FileRecord> {
        let (org_id, owner_id, bytes, now) = (new.org_id, new.owner_id, new.size, new.now);
        let name = new.name.to_owned();
        self.db
            .write(move |c| create_upload(c, org_id, owner_id, &name, bytes, quota, now))
            .await
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
        self.db.read(move |c| by_id(c, id)).await
    }

    async fn files(&self, ids: &[FileId]) -> StoreResult<Vec<FileRecord>> {
        let ids = ids.to_vec();
        self.db.read(move |c| by_ids(c, &ids)).await
    }

    async fn complete_upload(
        &self,
        id: FileId,
        completed: CompletedUpload<'_>,
    ) -> StoreResult<FileRecord> {
        let completed = Completed::from(completed);
        self.db.write(move |c| complete(c, id, &completed)).await
    }

    async fn set_image(
        &self,
        id: FileId,
        image: ImageState,
        now: Millis,
    ) -> StoreResult<Option<Event>> {
        self.db.write(move |c| set_image(c, id, image, now)).await
    }

    async fn images_pending(&self, limit: u32) -> StoreResult<Vec<FileRecord>> {
        self.db.read(move |c| images_pending(c, limit)).await
    }

    async fn erase_upload(&self, id: FileId) -> StoreResult<bool> {
        self.db.write(move |c| erase_upload(c, id)).await
    }

    async fn collectable_files(&self, before: Millis, limit: u32) -> StoreResult<Vec<FileRecord>> {
        self.db.read(move |c| collectable(c, before, limit)).await
    }

    async fn forget_files(&self, ids: &[FileId]) -> StoreResult<()> {
        let ids = ids.to_vec();
        self.db.write(move |c| forget(c, &ids)).await
    }
}
