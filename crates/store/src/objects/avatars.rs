//! Avatars kept by earlier versions as files in `<data dir>/avatars/<user id>`, moved onto the storage at
//! start (to `avatars/<user id>`, where core keeps them now), each removed once it is stored.

use std::path::Path;

use parley_core::storage::{Storage, StorageError};

/// Moves every avatar under `dir` onto `storage`; returns how many. The directory goes once empty.
pub async fn migrate_avatars(dir: &Path, storage: &dyn Storage) -> Result<u64, StorageError> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StorageError::Backend(Box::new(e))),
    };
    let mut moved = 0;
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        let name = entry.file_name();
        // Only what earlier versions wrote: a user id, nothing half-written (`.partial`).
        let Some(user_id) = name.to_str().filter(|n| n.parse::<i64>().is_ok()) else {
            continue;
        };
        let bytes = tokio::fs::read(entry.path()).await.map_err(io)?;
        storage
            .put(&format!("avatars/{user_id}"), bytes.into())
            .await?;
        tokio::fs::remove_file(entry.path()).await.map_err(io)?;
        moved += 1;
    }
    // Left in place if anything else is in it.
    let _ = tokio::fs::remove_dir(dir).await;
    Ok(moved)
}

fn io(error: std::io::Error) -> StorageError {
    StorageError::Backend(Box::new(error))
}
