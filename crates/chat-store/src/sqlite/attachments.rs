//! Attachment metadata in the SQLite store (schema migration 6).

use super::SqliteStore;
use crate::{AttachmentRecord, AttachmentStore, StoreError, StoreResult, SweptAttachments};
use async_trait::async_trait;
use chat_core::clock::Millis;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::BTreeSet;

const COLUMNS: &str = "id, sha256, name, mime, size, uploader, created_at, attached_at, thumbnail";

fn record(r: &Row<'_>) -> rusqlite::Result<AttachmentRecord> {
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
}

fn get(c: &Connection, id: &str) -> StoreResult<Option<AttachmentRecord>> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLUMNS} FROM attachments WHERE id = ?1"))?
            .query_row([id], record)
            .optional()?,
    )
}

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn add_attachment(&self, a: AttachmentRecord) -> StoreResult<()> {
        let size = i64::try_from(a.size)
            .map_err(|_| StoreError::Conflict("attachment size out of range".into()))?;
        self.write(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO attachments ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                a.id,
                a.sha256,
                a.name,
                a.mime,
                size,
                a.uploader,
                a.created_at,
                a.attached_at,
                a.has_thumbnail as i64
            ])
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    StoreError::Conflict(format!("attachment {} exists", a.id))
                }
                _ => e.into(),
            })?;
            Ok(())
        })
        .await
    }

    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        let id = id.to_owned();
        self.read(move |c| get(c, &id)).await
    }

    async fn claim_attachments(
        &self,
        ids: &[String],
        uploader: &str,
        at: Millis,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        let (ids, uploader) = (ids.to_vec(), uploader.to_owned());
        // One write job: a refusal rolls back its savepoint, so nothing is
        // marked when one id is not the uploader's.
        self.write(move |c| {
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                let mut r = get(c, id)?
                    .filter(|r| r.uploader == uploader)
                    .ok_or(StoreError::NotFound)?;
                if r.attached_at.is_none() {
                    c.prepare_cached(
                        "UPDATE attachments SET attached_at = ?2 WHERE id = ?1 AND attached_at IS NULL",
                    )?
                    .execute(params![id, at])?;
                    r.attached_at = Some(at);
                }
                out.push(r);
            }
            Ok(out)
        })
        .await
    }

    async fn link_attachments(&self, ids: &[String], conversation_id: &str) -> StoreResult<()> {
        let (ids, room) = (ids.to_vec(), conversation_id.to_owned());
        self.write(move |c| {
            let mut st = c.prepare_cached(
                "INSERT OR IGNORE INTO attachment_rooms (attachment_id, room_id) VALUES (?1, ?2)",
            )?;
            for id in &ids {
                st.execute(params![id, room])
                    .map_err(|e| match e.sqlite_error_code() {
                        // The attachment does not exist (foreign key).
                        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::NotFound,
                        _ => e.into(),
                    })?;
            }
            Ok(())
        })
        .await
    }

    async fn attachment_rooms(&self, id: &str) -> StoreResult<Vec<String>> {
        let id = id.to_owned();
        self.read(move |c| {
            let rooms = c
                .prepare_cached(
                    "SELECT room_id FROM attachment_rooms WHERE attachment_id = ?1 ORDER BY room_id",
                )?
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rooms)
        })
        .await
    }

    async fn attachment_usage_since(
        &self,
        uploader: &str,
        since: Millis,
    ) -> StoreResult<(u64, u64)> {
        let uploader = uploader.to_owned();
        self.read(move |c| {
            let (n, bytes): (i64, i64) = c
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM attachments \
                     WHERE uploader = ?1 AND created_at >= ?2",
                )?
                .query_row(params![uploader, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((n.max(0) as u64, bytes.max(0) as u64))
        })
        .await
    }

    async fn sweep_attachments(
        &self,
        cutoff: Millis,
        limit: usize,
    ) -> StoreResult<SweptAttachments> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |c| {
            let stale = c
                .prepare_cached(
                    "SELECT id, sha256 FROM attachments WHERE attached_at IS NULL AND created_at < ?1 \
                     ORDER BY created_at LIMIT ?2",
                )?
                .query_map(params![cutoff, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut delete = c.prepare_cached("DELETE FROM attachments WHERE id = ?1")?;
            for (id, _) in &stale {
                delete.execute([id])?;
            }
            let shas: BTreeSet<&String> = stale.iter().map(|(_, sha)| sha).collect();
            let mut orphaned_blobs = Vec::new();
            for sha in shas {
                if !in_use(c, sha)? {
                    orphaned_blobs.push(sha.clone());
                }
            }
            Ok(SweptAttachments {
                removed: stale.len(),
                orphaned_blobs,
            })
        })
        .await
    }

    async fn blob_in_use(&self, sha256: &str) -> StoreResult<bool> {
        let sha = sha256.to_owned();
        self.read(move |c| in_use(c, &sha)).await
    }
}

fn in_use(c: &Connection, sha: &str) -> StoreResult<bool> {
    Ok(
        c.prepare_cached("SELECT EXISTS (SELECT 1 FROM attachments WHERE sha256 = ?1)")?
            .query_row([sha], |r| r.get::<_, bool>(0))?,
    )
}
