//! Gateways before the store kept attachment metadata wrote it to
//! `DATA_DIR/media.db`. At start-up its records and room links are copied
//! into the store once, and the file is renamed `media.db.imported` (kept,
//! not deleted, in case anything needs looking up). The blobs stay where
//! they are: `DATA_DIR/attachments` is the default media directory.

use crate::MediaResult;
use chat_store::{AttachmentRecord, AttachmentStore, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

pub const LEGACY_FILE: &str = "media.db";

/// Imports `data_dir/media.db` if it is there; returns how many records it
/// held (`None`: no file). A record the store already has (an import that
/// was cut short) is skipped.
pub async fn import(data_dir: &Path, store: &dyn AttachmentStore) -> MediaResult<Option<usize>> {
    let path = data_dir.join(LEGACY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let read_from = path.clone();
    let (records, links) = tokio::task::spawn_blocking(move || read(&read_from))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    for r in &records {
        match store.add_attachment(r.clone()).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for (id, room) in &links {
        match store.link_attachments(std::slice::from_ref(id), room).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    std::fs::rename(&path, data_dir.join(format!("{LEGACY_FILE}.imported")))?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("{LEGACY_FILE}{suffix}")));
    }
    Ok(Some(records.len()))
}

type Links = Vec<(String, String)>;

fn read(path: &Path) -> MediaResult<(Vec<AttachmentRecord>, Links)> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let records = c
        .prepare(
            "SELECT id, sha256, name, mime, size, uploader, created_at, attached_at, thumbnail \
             FROM attachments",
        )?
        .query_map([], |r| {
            Ok(AttachmentRecord {
                id: r.get(0)?,
                sha256: r.get(1)?,
                name: r.get(2)?,
                mime: r.get(3)?,
                size: r.get::<_, i64>(4)?.max(0) as u64,
                uploader: r.get(5)?,
                created_at: r.get(6)?,
                attached_at: r.get(7)?,
                has_thumbnail: r.get::<_, i64>(8)? != 0,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let links = c
        .prepare("SELECT attachment_id, room_id FROM attachment_rooms")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((records, links))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn an_old_media_db_is_imported_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join(LEGACY_FILE)).unwrap();
            c.execute_batch(
                "CREATE TABLE attachments (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, name TEXT NOT NULL,
                   mime TEXT NOT NULL, size INTEGER NOT NULL, uploader TEXT NOT NULL,
                   created_at INTEGER NOT NULL, attached_at INTEGER, thumbnail INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE attachment_rooms (attachment_id TEXT NOT NULL, room_id TEXT NOT NULL,
                   PRIMARY KEY (attachment_id, room_id));
                 INSERT INTO attachments VALUES ('a1', 'ab', 'x.png', 'image/png', 10, 'u1', 5, 6, 1);
                 INSERT INTO attachments VALUES ('a2', 'cd', 'y.txt', 'text/plain', 3, 'u2', 7, NULL, 0);
                 INSERT INTO attachment_rooms VALUES ('a1', 'room-1');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(import(dir.path(), &store).await.unwrap(), Some(2));
        let a1 = store.attachment("a1").await.unwrap().unwrap();
        assert_eq!(
            (a1.attached_at, a1.has_thumbnail, a1.size),
            (Some(6), true, 10)
        );
        assert_eq!(store.attachment_rooms("a1").await.unwrap(), vec!["room-1"]);
        assert_eq!(
            store.attachment("a2").await.unwrap().unwrap().attached_at,
            None
        );
        assert!(dir.path().join("media.db.imported").exists());
        assert_eq!(import(dir.path(), &store).await.unwrap(), None, "only once");
    }
}
