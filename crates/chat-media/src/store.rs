//! The attachment store: blobs by SHA-256 under `DATA_DIR/attachments`,
//! metadata in `DATA_DIR/media.db` (SQLite, WAL). One mutex covers the
//! database and the blob directory, so a sweep never removes a blob that an
//! upload of the same bytes is just taking.

use crate::spool::{temp_dir, Spooled};
use crate::{name, sniff, thumb, MediaError, MediaResult};
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub sha256: String,
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub uploader: String,
    pub created_at: i64,
    pub attached_at: Option<i64>,
    pub has_thumbnail: bool,
}

impl Record {
    pub fn kind(&self) -> Option<sniff::Kind> {
        sniff::Kind::from_mime(&self.mime)
    }
}

pub struct MediaStore {
    root: PathBuf,
    db: Mutex<Connection>,
    decode_limits: thumb::DecodeLimits,
    /// Images being decoded at once: each may take up to
    /// `decode_limits.max_bytes` of memory.
    decode_slots: Arc<tokio::sync::Semaphore>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS attachments (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploader TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attached_at INTEGER,
    thumbnail INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS attachments_sha256 ON attachments(sha256);
CREATE INDEX IF NOT EXISTS attachments_unattached ON attachments(created_at) WHERE attached_at IS NULL;
CREATE INDEX IF NOT EXISTS attachments_uploader ON attachments(uploader, created_at);
CREATE TABLE IF NOT EXISTS attachment_rooms (
    attachment_id TEXT NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    PRIMARY KEY (attachment_id, room_id)
);
";

const COLUMNS: &str = "id, sha256, name, mime, size, uploader, created_at, attached_at, thumbnail";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: r.get(0)?,
        sha256: r.get(1)?,
        name: r.get(2)?,
        mime: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        uploader: r.get(5)?,
        created_at: r.get(6)?,
        attached_at: r.get(7)?,
        has_thumbnail: r.get::<_, i64>(8)? != 0,
    })
}

impl MediaStore {
    /// Opens (creating) `data_dir/media.db` and `data_dir/attachments`, and
    /// removes temp files a previous run left behind.
    pub fn open(data_dir: &Path) -> MediaResult<Self> {
        let root = data_dir.to_path_buf();
        std::fs::create_dir_all(root.join("attachments"))?;
        let tmp = temp_dir(&root);
        if tmp.exists() {
            for e in std::fs::read_dir(&tmp)?.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        std::fs::create_dir_all(&tmp)?;
        let conn = Connection::open(root.join("media.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            root,
            db: Mutex::new(conn),
            decode_limits: thumb::DecodeLimits::default(),
            decode_slots: Arc::new(tokio::sync::Semaphore::new(2)),
        })
    }

    /// The largest image [`accept`](Self::accept) decodes, and how many
    /// decodes may run at once (at least one).
    pub fn with_decode_limits(mut self, limits: thumb::DecodeLimits, at_once: usize) -> Self {
        self.decode_limits = limits;
        self.decode_slots = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
        self
    }

    /// Taken (`acquire_owned`) before calling [`accept`](Self::accept), which
    /// decodes images: bounds the memory that concurrent decodes take.
    pub fn decode_slots(&self) -> Arc<tokio::sync::Semaphore> {
        self.decode_slots.clone()
    }

    /// How many uploads `uploader` made since `since_ms` that are still
    /// stored, and their bytes.
    pub fn usage_since(&self, uploader: &str, since_ms: i64) -> MediaResult<(u64, u64)> {
        let db = self.db.lock();
        let (n, bytes): (i64, i64) = db.query_row(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM attachments WHERE uploader = ?1 AND created_at >= ?2",
            params![uploader, since_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n.max(0) as u64, bytes.max(0) as u64))
    }

    /// Bytes an unprivileged process may still write on the data directory's
    /// file system (`statvfs`: available blocks × fragment size).
    pub fn available_bytes(&self) -> MediaResult<u64> {
        let st = rustix::fs::statvfs(&self.root).map_err(std::io::Error::from)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Where uploads are spooled before they are accepted.
    pub fn temp_dir(&self) -> PathBuf {
        temp_dir(&self.root)
    }

    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("attachments")
            .join(&sha256[..2])
            .join(sha256)
    }

    pub fn thumbnail_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("attachments")
            .join(&sha256[..2])
            .join(format!("{sha256}.thumb.jpg"))
    }

    /// Turns a complete upload into an attachment: type by content (refused
    /// with [`MediaError::Unsupported`] otherwise), thumbnail for images,
    /// blob stored once per content, metadata recorded. Blocking: call it
    /// from a blocking thread. On refusal the temp file is removed.
    pub fn accept(
        &self,
        upload: Spooled,
        client_name: &str,
        uploader: &str,
        now_ms: i64,
    ) -> MediaResult<Record> {
        let kind = sniff::identify(upload.path())?;
        let thumbnail = thumb::make(upload.path(), kind, &self.decode_limits)?;
        let record = Record {
            id: uuid::Uuid::now_v7().to_string(),
            sha256: upload.sha256.clone(),
            name: name::sanitize(client_name, kind),
            mime: kind.mime().to_owned(),
            size: upload.size,
            uploader: uploader.to_owned(),
            created_at: now_ms,
            attached_at: None,
            has_thumbnail: thumbnail.is_some(),
        };
        let blob = self.blob_path(&record.sha256);
        let db = self.db.lock();
        if let Some(dir) = blob.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if blob.exists() {
            drop(upload); // the same bytes are already stored
        } else {
            upload
                .path
                .persist(&blob)
                .map_err(|e| MediaError::Io(e.error))?;
        }
        if let Some(t) = &thumbnail {
            let tp = self.thumbnail_path(&record.sha256);
            if !tp.exists() {
                let tmp = tp.with_extension("part");
                std::fs::write(&tmp, t)?;
                std::fs::rename(&tmp, &tp)?;
            }
        }
        db.execute(
            &format!(
                "INSERT INTO attachments ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)"
            ),
            params![
                record.id,
                record.sha256,
                record.name,
                record.mime,
                record.size as i64,
                record.uploader,
                record.created_at,
                record.has_thumbnail as i64
            ],
        )?;
        Ok(record)
    }

    pub fn get(&self, id: &str) -> MediaResult<Option<Record>> {
        let db = self.db.lock();
        Ok(db
            .query_row(
                &format!("SELECT {COLUMNS} FROM attachments WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?)
    }

    /// The records of `ids` for a message by `uploader`: each must exist and
    /// be that user's upload ([`MediaError::NotFound`] otherwise, revealing
    /// nothing about others' uploads). Marks them in use, so the sweeper
    /// leaves them alone from now on.
    pub fn claim(&self, ids: &[String], uploader: &str, now_ms: i64) -> MediaResult<Vec<Record>> {
        let db = self.db.lock();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let rec = db
                .query_row(
                    &format!("SELECT {COLUMNS} FROM attachments WHERE id = ?1"),
                    [id],
                    row,
                )
                .optional()?
                .filter(|r| r.uploader == uploader)
                .ok_or(MediaError::NotFound)?;
            out.push(rec);
        }
        for r in &mut out {
            if r.attached_at.is_none() {
                db.execute(
                    "UPDATE attachments SET attached_at = ?2 WHERE id = ?1 AND attached_at IS NULL",
                    params![r.id, now_ms],
                )?;
                r.attached_at = Some(now_ms);
            }
        }
        Ok(out)
    }

    /// Records that the attachments were sent in `room`.
    pub fn link(&self, ids: &[String], room: &str) -> MediaResult<()> {
        let mut db = self.db.lock();
        let tx = db.transaction()?;
        for id in ids {
            tx.execute(
                "INSERT OR IGNORE INTO attachment_rooms (attachment_id, room_id) VALUES (?1, ?2)",
                params![id, room],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The rooms an attachment was sent in.
    pub fn rooms(&self, id: &str) -> MediaResult<Vec<String>> {
        let db = self.db.lock();
        let mut st =
            db.prepare_cached("SELECT room_id FROM attachment_rooms WHERE attachment_id = ?1")?;
        let rooms = st
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rooms)
    }

    /// Removes uploads created before `cutoff_ms` and never attached, and the
    /// blobs (and thumbnails) no remaining attachment refers to. Returns how
    /// many uploads were removed.
    pub fn sweep(&self, cutoff_ms: i64) -> MediaResult<usize> {
        let mut db = self.db.lock();
        let tx = db.transaction()?;
        let stale: Vec<(String, String)> = {
            let mut st = tx.prepare(
                "SELECT id, sha256 FROM attachments WHERE attached_at IS NULL AND created_at < ?1",
            )?;
            let rows = st
                .query_map([cutoff_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        for (id, _) in &stale {
            tx.execute("DELETE FROM attachments WHERE id = ?1", [id])?;
        }
        let mut orphans = Vec::new();
        for (_, sha) in &stale {
            let still: i64 = tx.query_row(
                "SELECT COUNT(*) FROM attachments WHERE sha256 = ?1",
                [sha],
                |r| r.get(0),
            )?;
            if still == 0 {
                orphans.push(sha.clone());
            }
        }
        tx.commit()?;
        for sha in orphans {
            for p in [self.blob_path(&sha), self.thumbnail_path(&sha)] {
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %p.display(), error = %e, "sweeper could not remove a blob")
                    }
                }
            }
        }
        Ok(stale.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sniff::samples;
    use crate::spool::Spool;

    async fn upload(store: &MediaStore, bytes: &[u8]) -> Spooled {
        let mut s = Spool::new(&store.temp_dir(), 1 << 20).unwrap();
        for c in bytes.chunks(1000) {
            s.write(c).await.unwrap();
        }
        s.finish().await.unwrap()
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[tokio::test]
    async fn same_bytes_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let png = samples::png(400, 100);
        let a = store
            .accept(upload(&store, &png).await, "a.png", "1", 1)
            .unwrap();
        let b = store
            .accept(upload(&store, &png).await, "b.png", "2", 2)
            .unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.sha256, b.sha256);
        assert_eq!((a.mime.as_str(), a.size), ("image/png", png.len() as u64));
        assert!(a.has_thumbnail);
        let blobs = files(&dir.path().join("attachments"));
        assert_eq!(blobs.len(), 2, "one blob and one thumbnail: {blobs:?}");
        assert_eq!(std::fs::read(store.blob_path(&a.sha256)).unwrap(), png);
        assert_eq!(store.get(&b.id).unwrap().unwrap().name, "b.png");
    }

    #[tokio::test]
    async fn usage_counts_an_uploaders_recent_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        store
            .accept(upload(&store, b"one").await, "a.txt", "1", 1_000)
            .unwrap();
        store
            .accept(upload(&store, b"three").await, "b.txt", "1", 2_000)
            .unwrap();
        store
            .accept(upload(&store, b"other").await, "c.txt", "2", 2_000)
            .unwrap();
        assert_eq!(store.usage_since("1", 0).unwrap(), (2, 8));
        assert_eq!(store.usage_since("1", 1_500).unwrap(), (1, 5));
        assert_eq!(store.usage_since("3", 0).unwrap(), (0, 0));
        assert!(store.available_bytes().unwrap() > 0);
    }

    #[tokio::test]
    async fn refused_uploads_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let err = store.accept(upload(&store, &samples::exe()).await, "x.png", "1", 1);
        assert!(matches!(err, Err(MediaError::Unsupported(_))));
        assert!(files(&dir.path().join("attachments")).is_empty());
    }

    #[tokio::test]
    async fn only_the_uploader_claims_and_links_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let a = store
            .accept(upload(&store, b"notes").await, "n.txt", "1", 1)
            .unwrap();
        assert!(matches!(
            store.claim(std::slice::from_ref(&a.id), "2", 5),
            Err(MediaError::NotFound)
        ));
        assert!(matches!(
            store.claim(&["nope".into()], "1", 5),
            Err(MediaError::NotFound)
        ));
        let got = store.claim(std::slice::from_ref(&a.id), "1", 5).unwrap();
        assert_eq!(got[0].attached_at, Some(5));
        store.link(std::slice::from_ref(&a.id), "room-1").unwrap();
        store.link(std::slice::from_ref(&a.id), "room-1").unwrap();
        assert_eq!(store.rooms(&a.id).unwrap(), vec!["room-1".to_owned()]);
    }

    #[tokio::test]
    async fn the_sweeper_removes_only_old_unattached_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let old = store
            .accept(upload(&store, &samples::pdf()).await, "old.pdf", "1", 1_000)
            .unwrap();
        let shared_old = store
            .accept(upload(&store, b"shared").await, "s.txt", "1", 1_000)
            .unwrap();
        let shared_new = store
            .accept(upload(&store, b"shared").await, "s.txt", "1", 9_000)
            .unwrap();
        let used = store
            .accept(upload(&store, &samples::gif()).await, "u.gif", "1", 1_000)
            .unwrap();
        store
            .claim(std::slice::from_ref(&used.id), "1", 2_000)
            .unwrap();
        assert_eq!(store.sweep(5_000).unwrap(), 2);
        assert!(store.get(&old.id).unwrap().is_none());
        assert!(!store.blob_path(&old.sha256).exists(), "its blob is gone");
        assert!(store.get(&shared_old.id).unwrap().is_none());
        assert!(
            store.blob_path(&shared_new.sha256).exists(),
            "blob still used by a newer upload"
        );
        assert!(store.get(&used.id).unwrap().is_some());
        assert!(
            store.blob_path(&used.sha256).exists() && store.thumbnail_path(&used.sha256).exists()
        );
        assert_eq!(store.sweep(5_000).unwrap(), 0);
    }
}
