//! Attachment metadata in the PostgreSQL store (schema migration 3).

use super::rows::get;
use super::{check_text, PgStore};
use crate::{AttachmentRecord, AttachmentStore, StoreError, StoreResult, SweptAttachments};
use async_trait::async_trait;
use chat_core::clock::Millis;
use std::collections::{BTreeSet, HashMap};
use tokio_postgres::Row;

const COLUMNS: &str = "id, sha256, name, mime, size, uploader, created_at, attached_at, thumbnail";

fn record(r: &Row) -> StoreResult<AttachmentRecord> {
    Ok(AttachmentRecord {
        id: get(r, 0)?,
        sha256: get(r, 1)?,
        name: get(r, 2)?,
        mime: get(r, 3)?,
        size: get::<i64>(r, 4)?.max(0) as u64,
        uploader: get(r, 5)?,
        created_at: get(r, 6)?,
        attached_at: get(r, 7)?,
        has_thumbnail: get(r, 8)?,
    })
}

/// PostgreSQL refuses text with NUL bytes: an id with one names nothing.
fn names_nothing(id: &str) -> bool {
    id.contains('\0')
}

#[async_trait]
impl AttachmentStore for PgStore {
    async fn add_attachment(&self, a: AttachmentRecord) -> StoreResult<()> {
        check_text([a.id.as_str(), &a.sha256, &a.name, &a.mime, &a.uploader])?;
        let size = i64::try_from(a.size)
            .map_err(|_| StoreError::Conflict("attachment size out of range".into()))?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "INSERT INTO attachments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .await?;
        c.execute(
            &stmt,
            &[
                &a.id,
                &a.sha256,
                &a.name,
                &a.mime,
                &size,
                &a.uploader,
                &a.created_at,
                &a.attached_at,
                &a.has_thumbnail,
            ],
        )
        .await?;
        Ok(())
    }

    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        if names_nothing(id) {
            return Ok(None);
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("SELECT {COLUMNS} FROM attachments WHERE id = $1"))
            .await?;
        c.query_opt(&stmt, &[&id])
            .await?
            .map(|r| record(&r))
            .transpose()
    }

    async fn claim_attachments(
        &self,
        ids: &[String],
        uploader: &str,
        at: Millis,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        if ids.iter().any(|id| names_nothing(id)) || names_nothing(uploader) {
            return Err(StoreError::NotFound);
        }
        let distinct: Vec<String> = ids
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The row locks of the UPDATE order it with a sweep: the sweep skips
        // rows being claimed, and a claim finds nothing the sweep removed.
        let stmt = tx
            .prepare_cached(&format!(
                "UPDATE attachments SET attached_at = coalesce(attached_at, $3) \
                 WHERE id = ANY($1) AND uploader = $2 RETURNING {COLUMNS}"
            ))
            .await?;
        let rows = tx.query(&stmt, &[&distinct, &uploader, &at]).await?;
        if rows.len() != distinct.len() {
            // Dropping the transaction rolls it back: nothing is marked.
            return Err(StoreError::NotFound);
        }
        let mut found = HashMap::with_capacity(rows.len());
        for r in &rows {
            let rec = record(r)?;
            found.insert(rec.id.clone(), rec);
        }
        tx.commit().await?;
        ids.iter()
            .map(|id| found.get(id).cloned().ok_or(StoreError::NotFound))
            .collect()
    }

    async fn link_attachments(&self, ids: &[String], conversation_id: &str) -> StoreResult<()> {
        if ids.iter().any(|id| names_nothing(id)) {
            return Err(StoreError::NotFound);
        }
        check_text([conversation_id])?;
        let c = self.client().await?;
        // A missing attachment is a foreign-key violation: NotFound, nothing linked.
        let stmt = c
            .prepare_cached(
                "INSERT INTO attachment_rooms (attachment_id, room_id) \
                 SELECT DISTINCT a, $2 FROM unnest($1::text[]) a ON CONFLICT DO NOTHING",
            )
            .await?;
        c.execute(&stmt, &[&ids, &conversation_id]).await?;
        Ok(())
    }

    async fn attachment_rooms(&self, id: &str) -> StoreResult<Vec<String>> {
        if names_nothing(id) {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT room_id FROM attachment_rooms WHERE attachment_id = $1 ORDER BY room_id",
            )
            .await?;
        c.query(&stmt, &[&id])
            .await?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }

    async fn attachment_usage_since(
        &self,
        uploader: &str,
        since: Millis,
    ) -> StoreResult<(u64, u64)> {
        if names_nothing(uploader) {
            return Ok((0, 0));
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT count(*), coalesce(sum(size), 0)::BIGINT FROM attachments \
                 WHERE uploader = $1 AND created_at >= $2",
            )
            .await?;
        let r = c.query_one(&stmt, &[&uploader, &since]).await?;
        let (n, bytes): (i64, i64) = (get(&r, 0)?, get(&r, 1)?);
        Ok((n.max(0) as u64, bytes.max(0) as u64))
    }

    async fn sweep_attachments(
        &self,
        cutoff: Millis,
        limit: usize,
    ) -> StoreResult<SweptAttachments> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // FOR UPDATE re-checks `attached_at IS NULL` on a row a claim just
        // changed; SKIP LOCKED leaves rows being claimed, and other nodes'
        // sweeps, alone.
        let stmt = tx
            .prepare_cached(
                "WITH stale AS (SELECT id FROM attachments \
                   WHERE attached_at IS NULL AND created_at < $1 \
                   ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 DELETE FROM attachments a USING stale WHERE a.id = stale.id RETURNING a.sha256",
            )
            .await?;
        let gone = tx.query(&stmt, &[&cutoff, &limit]).await?;
        let shas: Vec<String> = gone
            .iter()
            .map(|r| get::<String>(r, 0))
            .collect::<StoreResult<BTreeSet<_>>>()?
            .into_iter()
            .collect();
        let stmt = tx
            .prepare_cached(
                "SELECT s FROM unnest($1::text[]) s \
                 WHERE NOT EXISTS (SELECT 1 FROM attachments WHERE sha256 = s)",
            )
            .await?;
        let orphaned_blobs = tx
            .query(&stmt, &[&shas])
            .await?
            .iter()
            .map(|r| get(r, 0))
            .collect::<StoreResult<Vec<String>>>()?;
        tx.commit().await?;
        Ok(SweptAttachments {
            removed: gone.len(),
            orphaned_blobs,
        })
    }

    async fn blob_in_use(&self, sha256: &str) -> StoreResult<bool> {
        if names_nothing(sha256) {
            return Ok(false);
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM attachments WHERE sha256 = $1)")
            .await?;
        get(&c.query_one(&stmt, &[&sha256]).await?, 0)
    }
}
