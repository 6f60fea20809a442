//! The attachment bytes: files named by their SHA-256 under
//! `MEDIA_DIR/attachments/<sha256[..2]>/<sha256>` (and `<sha256>.thumb.jpg`),
//! in a directory every gateway node mounts, so any node serves any upload.
//! Their metadata is in the store (`chat_store::AttachmentStore`); a record
//! names its bytes by hash.
//!
//! Several nodes write and sweep the same directory with no lock between
//! them. What keeps that safe:
//! - a blob's name is its content, so two nodes writing the same name write
//!   the same bytes; each writes a temp file and renames it into place, so a
//!   reader sees a whole file or none;
//! - an upload records its metadata *before* it writes its blob
//!   ([`Blobs::prepare`], then the store, then [`Blobs::keep`]);
//! - the sweeper removes a blob the store said no record uses by first
//!   moving it aside, then asking the store again: if a record took it up
//!   meanwhile, it moves it back. Either the upload's record was committed
//!   before that second question (and the blob is put back), or its
//!   existence check came after the move (and it writes the blob again).

use crate::spool::{temp_dir, Spooled};
use crate::{name, sniff, thumb, MediaError, MediaResult};
use chat_store::{AttachmentRecord, AttachmentStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A temp file older than this is left over by a node that died mid-upload
/// (an upload is cut off after a few minutes): removed at start-up. Younger
/// ones may be another node's uploads in progress.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// Records one sweep round removes at most; a sweep runs rounds until one
/// removes fewer, at most [`SWEEP_ROUNDS`] of them.
const SWEEP_BATCH: usize = 500;
const SWEEP_ROUNDS: usize = 100;

pub struct Blobs {
    root: PathBuf,
    decode_limits: thumb::DecodeLimits,
    /// Images being decoded at once: each may take up to
    /// `decode_limits.max_bytes` of memory.
    decode_slots: Arc<tokio::sync::Semaphore>,
}

/// An accepted upload whose record is not stored yet: store
/// [`record`](Self::record), then give this to [`Blobs::keep`].
pub struct Prepared {
    pub record: AttachmentRecord,
    upload: Spooled,
    thumbnail: Option<Vec<u8>>,
}

impl Blobs {
    /// Opens (creating) `media_dir/attachments`, and removes the temp files
    /// a dead node left there.
    pub fn open(media_dir: &Path) -> MediaResult<Self> {
        let root = media_dir.to_path_buf();
        std::fs::create_dir_all(root.join("attachments"))?;
        let tmp = temp_dir(&root);
        std::fs::create_dir_all(&tmp)?;
        for e in std::fs::read_dir(&tmp)?.flatten() {
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP);
            if stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Self {
            root,
            decode_limits: thumb::DecodeLimits::default(),
            decode_slots: Arc::new(tokio::sync::Semaphore::new(2)),
        })
    }

    /// The largest image [`prepare`](Self::prepare) decodes, and how many
    /// decodes may run at once (at least one).
    pub fn with_decode_limits(mut self, limits: thumb::DecodeLimits, at_once: usize) -> Self {
        self.decode_limits = limits;
        self.decode_slots = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
        self
    }

    /// Taken (`acquire_owned`) before calling [`prepare`](Self::prepare),
    /// which decodes images: bounds the memory that concurrent decodes take.
    pub fn decode_slots(&self) -> Arc<tokio::sync::Semaphore> {
        self.decode_slots.clone()
    }

    /// Bytes an unprivileged process may still write on the media
    /// directory's file system (`statvfs`: available blocks × fragment size).
    pub fn available_bytes(&self) -> MediaResult<u64> {
        let st = rustix::fs::statvfs(&self.root).map_err(std::io::Error::from)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Where uploads are spooled before they are accepted (on the same file
    /// system as the blobs, so keeping one is a rename).
    pub fn temp_dir(&self) -> PathBuf {
        temp_dir(&self.root)
    }

    /// The blob of `sha256`, or `None` when it is not a hex SHA-256 (a
    /// record's hash is only ever one; checked anyway, as it makes a path).
    pub fn blob_path(&self, sha256: &str) -> Option<PathBuf> {
        self.path(sha256, "")
    }

    pub fn thumbnail_path(&self, sha256: &str) -> Option<PathBuf> {
        self.path(sha256, ".thumb.jpg")
    }

    fn path(&self, sha256: &str, suffix: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| {
            self.root
                .join("attachments")
                .join(&sha256[..2])
                .join(format!("{sha256}{suffix}"))
        })
    }

    /// Decides a complete upload's type from its content (refused with
    /// [`MediaError::Unsupported`] otherwise) and makes a thumbnail for
    /// images. Blocking: call it from a blocking thread. On refusal the temp
    /// file is removed.
    pub fn prepare(
        &self,
        upload: Spooled,
        client_name: &str,
        uploader: &str,
        now_ms: i64,
    ) -> MediaResult<Prepared> {
        let kind = sniff::identify(upload.path())?;
        let thumbnail = thumb::make(upload.path(), kind, &self.decode_limits)?;
        let record = AttachmentRecord {
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
        Ok(Prepared {
            record,
            upload,
            thumbnail,
        })
    }

    /// Puts a prepared upload's bytes (and thumbnail) in place, unless the
    /// same bytes are there already. Call once its record is in the store
    /// (see the module doc). Blocking.
    pub fn keep(&self, prepared: Prepared) -> MediaResult<AttachmentRecord> {
        let sha = &prepared.record.sha256;
        let (Some(blob), Some(thumb_path)) = (self.blob_path(sha), self.thumbnail_path(sha)) else {
            return Err(MediaError::Unsupported("not a content hash".into()));
        };
        if let Some(dir) = blob.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if blob.exists() {
            drop(prepared.upload); // the same bytes are already stored
        } else {
            // The spool is a temp file in the media directory: a rename.
            prepared
                .upload
                .path
                .persist(&blob)
                .map_err(|e| MediaError::Io(e.error))?;
        }
        if let Some(t) = &prepared.thumbnail {
            if !thumb_path.exists() {
                let mut tmp = tempfile::NamedTempFile::new_in(self.temp_dir())?;
                std::io::Write::write_all(&mut tmp, t)?;
                tmp.persist(&thumb_path)
                    .map_err(|e| MediaError::Io(e.error))?;
            }
        }
        Ok(prepared.record)
    }

    /// Removes uploads created before `cutoff_ms` that no message uses
    /// (their records through the store, then the blobs no record refers
    /// to). Returns how many uploads were removed.
    pub async fn sweep(&self, store: &dyn AttachmentStore, cutoff_ms: i64) -> MediaResult<usize> {
        let mut removed = 0;
        for _ in 0..SWEEP_ROUNDS {
            let swept = store.sweep_attachments(cutoff_ms, SWEEP_BATCH).await?;
            removed += swept.removed;
            for sha in &swept.orphaned_blobs {
                self.remove_unless_used(store, sha).await;
            }
            if swept.removed < SWEEP_BATCH {
                break;
            }
        }
        Ok(removed)
    }

    /// Moves a blob and its thumbnail aside, asks the store whether a record
    /// took them up since the sweep, and then deletes them or puts them back.
    async fn remove_unless_used(&self, store: &dyn AttachmentStore, sha: &str) {
        let aside_tag = format!(".sweeping-{}", uuid::Uuid::now_v7().simple());
        let mut moved = Vec::new();
        for path in [self.blob_path(sha), self.thumbnail_path(sha)]
            .into_iter()
            .flatten()
        {
            let aside = PathBuf::from(format!("{}{aside_tag}", path.display()));
            match tokio::fs::rename(&path, &aside).await {
                Ok(()) => moved.push((path, aside)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "sweeper could not move a blob aside")
                }
            }
        }
        if moved.is_empty() {
            return;
        }
        // When in doubt (the store did not answer), keep the bytes.
        let in_use = store.blob_in_use(sha).await.unwrap_or(true);
        for (path, aside) in moved {
            let done = if in_use {
                // An upload may have written the same bytes again meanwhile:
                // renaming over them changes nothing.
                tokio::fs::rename(&aside, &path).await
            } else {
                tokio::fs::remove_file(&aside).await
            };
            if let Err(e) = done {
                tracing::warn!(path = %aside.display(), error = %e, "sweeper could not finish with a blob");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sniff::samples;
    use crate::spool::Spool;
    use chat_store::sqlite::SqliteStore;

    struct Fixture {
        _dir: tempfile::TempDir,
        media: PathBuf,
        blobs: Blobs,
        store: SqliteStore,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        let blobs = Blobs::open(&media).unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        Fixture {
            _dir: dir,
            media,
            blobs,
            store,
        }
    }

    async fn upload(
        f: &Fixture,
        bytes: &[u8],
        name: &str,
        uploader: &str,
        at: i64,
    ) -> MediaResult<AttachmentRecord> {
        let mut s = Spool::new(&f.blobs.temp_dir(), 1 << 20).unwrap();
        for c in bytes.chunks(1000) {
            s.write(c).await.unwrap();
        }
        let prepared = f
            .blobs
            .prepare(s.finish().await.unwrap(), name, uploader, at)?;
        f.store.add_attachment(prepared.record.clone()).await?;
        f.blobs.keep(prepared)
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
        let f = fixture();
        let png = samples::png(400, 100);
        let a = upload(&f, &png, "a.png", "1", 1).await.unwrap();
        let b = upload(&f, &png, "b.png", "2", 2).await.unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.sha256, b.sha256);
        assert_eq!((a.mime.as_str(), a.size), ("image/png", png.len() as u64));
        assert!(a.has_thumbnail);
        let blobs = files(&f.media.join("attachments"));
        assert_eq!(blobs.len(), 2, "one blob and one thumbnail: {blobs:?}");
        assert_eq!(
            std::fs::read(f.blobs.blob_path(&a.sha256).unwrap()).unwrap(),
            png
        );
        assert_eq!(
            f.store.attachment(&b.id).await.unwrap().unwrap().name,
            "b.png"
        );
    }

    #[tokio::test]
    async fn refused_uploads_leave_nothing() {
        let f = fixture();
        let err = upload(&f, &samples::exe(), "x.png", "1", 1).await;
        assert!(matches!(err, Err(MediaError::Unsupported(_))));
        assert!(files(&f.media.join("attachments")).is_empty());
        assert_eq!(
            f.store.attachment_usage_since("1", 0).await.unwrap(),
            (0, 0)
        );
    }

    #[test]
    fn only_a_content_hash_makes_a_path() {
        let f = fixture();
        assert!(f.blobs.blob_path(&"ab".repeat(32)).is_some());
        for bad in [
            "",
            "../../etc/passwd",
            &"AB".repeat(32),
            &"a".repeat(63),
            &format!("{}/x", "a".repeat(62)),
        ] {
            assert!(f.blobs.blob_path(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_sweeper_removes_only_old_unattached_uploads_and_unused_blobs() {
        let f = fixture();
        let old = upload(&f, &samples::pdf(), "old.pdf", "1", 1_000)
            .await
            .unwrap();
        let shared_old = upload(&f, b"shared", "s.txt", "1", 1_000).await.unwrap();
        let shared_new = upload(&f, b"shared", "s.txt", "1", 9_000).await.unwrap();
        let used = upload(&f, &samples::gif(), "u.gif", "1", 1_000)
            .await
            .unwrap();
        f.store
            .claim_attachments(std::slice::from_ref(&used.id), "1", 2_000)
            .await
            .unwrap();
        assert_eq!(f.blobs.sweep(&f.store, 5_000).await.unwrap(), 2);
        assert!(f.store.attachment(&old.id).await.unwrap().is_none());
        assert!(
            !f.blobs.blob_path(&old.sha256).unwrap().exists(),
            "its blob is gone"
        );
        assert!(f.store.attachment(&shared_old.id).await.unwrap().is_none());
        assert!(
            f.blobs.blob_path(&shared_new.sha256).unwrap().exists(),
            "blob still used by a newer upload"
        );
        assert!(f.store.attachment(&used.id).await.unwrap().is_some());
        assert!(
            f.blobs.blob_path(&used.sha256).unwrap().exists()
                && f.blobs.thumbnail_path(&used.sha256).unwrap().exists()
        );
        assert_eq!(f.blobs.sweep(&f.store, 5_000).await.unwrap(), 0);
        let left: Vec<_> = files(&f.media.join("attachments"))
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("sweeping"))
            .collect();
        assert!(left.is_empty(), "nothing left aside: {left:?}");
    }

    /// The race the sweeper guards against: the store reported a blob as
    /// orphaned, and before its files go an upload of the same bytes records
    /// itself (and finds the file still there, so does not write it). The
    /// sweeper's second question sees the new record and puts the file back.
    #[tokio::test]
    async fn a_blob_taken_up_again_during_a_sweep_is_put_back() {
        let f = fixture();
        let old = upload(&f, b"same bytes", "a.txt", "1", 1_000)
            .await
            .unwrap();
        let swept = f.store.sweep_attachments(5_000, 10).await.unwrap();
        assert_eq!(swept.orphaned_blobs, vec![old.sha256.clone()]);
        // The new upload's record commits; its blob is already in place.
        let again = upload(&f, b"same bytes", "b.txt", "2", 6_000)
            .await
            .unwrap();
        f.blobs.remove_unless_used(&f.store, &old.sha256).await;
        let blob = f.blobs.blob_path(&again.sha256).unwrap();
        assert_eq!(std::fs::read(blob).unwrap(), b"same bytes");
        // Once nothing uses it, the same call removes it.
        let swept = f.store.sweep_attachments(7_000, 10).await.unwrap();
        assert_eq!(swept.removed, 1);
        f.blobs.remove_unless_used(&f.store, &old.sha256).await;
        assert!(!f.blobs.blob_path(&old.sha256).unwrap().exists());
    }

    #[tokio::test]
    async fn temp_files_of_uploads_in_progress_survive_another_node_starting() {
        let f = fixture();
        let mut s = Spool::new(&f.blobs.temp_dir(), 1 << 20).unwrap();
        s.write(b"half an upload").await.unwrap();
        let _other_node = Blobs::open(&f.media).unwrap();
        let spooled = s.finish().await.unwrap();
        assert_eq!(std::fs::read(spooled.path()).unwrap(), b"half an upload");
    }
}
