//! Reading conversations in the PostgreSQL store: history pages, `sync` by
//! position, transcripts, and the read markers.

use super::outbox::enqueue;
use super::rows::*;
use super::PgStore;
use crate::outbox_items;
use crate::{Page, StoreError, StoreResult};
use chat_core::clock::Millis;
use chat_core::model::Message;

impl PgStore {
    pub(super) async fn history(
        &self,
        conversation_id: &str,
        page: Page,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let limit = page.limit.clamp(1, 100);
        let (cond, order, cursor) = match (&page.before, &page.after) {
            (_, Some(after)) => ("m.id > $2", "ASC", after.clone()),
            (Some(before), None) => ("m.id < $2", "DESC", before.clone()),
            (None, None) => ("$2 = ''", "DESC", String::new()),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND {cond} \
             AND m.deleted_at IS NULL ORDER BY m.id {order} LIMIT $3"
        );
        let c = self.client().await?;
        let stmt = c.prepare_cached(&sql).await?;
        let rows = c
            .query(&stmt, &[&conversation_id, &cursor, &((limit + 1) as i64)])
            .await?;
        page_of(&rows, limit)
    }

    pub(super) async fn sync(
        &self,
        user_id: &str,
        since: &str,
        limit: usize,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id IN \
                 (SELECT conversation_id FROM participants WHERE user_id = $1) \
                 AND m.pos > coalesce((SELECT s.seq FROM messages s WHERE s.id = $2), 0) \
                 ORDER BY m.pos LIMIT $3"
            ))
            .await?;
        let rows = c
            .query(&stmt, &[&user_id, &since, &((limit + 1) as i64)])
            .await?;
        page_of(&rows, limit)
    }

    pub(super) async fn transcript(&self, conversation_id: &str) -> StoreResult<Vec<Message>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 \
                 AND m.deleted_at IS NULL ORDER BY m.id"
            ))
            .await?;
        c.query(&stmt, &[&conversation_id])
            .await?
            .iter()
            .map(message)
            .collect()
    }

    pub(super) async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        message_id: &str,
        at: Millis,
    ) -> StoreResult<()> {
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = self.lock_positions_if(&tx, ob).await?;
        let stmt = tx
            .prepare_cached("SELECT conversation_id FROM messages WHERE id = $1")
            .await?;
        let in_room: Option<String> = tx.query_opt(&stmt, &[&message_id]).await?.map(|r| r.get(0));
        if in_room.as_deref() != Some(conversation_id) {
            return Err(StoreError::NotFound);
        }
        let stmt = tx
            .prepare_cached(
                "UPDATE participants SET last_read_id = $3, last_read_at = $4 \
                 WHERE conversation_id = $1 AND user_id = $2 \
                 AND (last_read_id IS NULL OR last_read_id < $3)",
            )
            .await?;
        let moved = tx
            .execute(&stmt, &[&conversation_id, &user_id, &message_id, &at])
            .await?;
        if let (1, Some(mut p)) = (moved, positions.take()) {
            let item = outbox_items::read(conversation_id, message_id, user_id, at);
            enqueue(&tx, &mut p, Some(conversation_id), item).await?;
            p.save(&tx).await?;
        }
        tx.commit().await?;
        if moved == 1 {
            self.signal_outbox();
        }
        Ok(())
    }

    pub(super) async fn newest_message_id(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Option<String>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT max(id) FROM messages WHERE conversation_id = $1")
            .await?;
        Ok(c.query_one(&stmt, &[&conversation_id]).await?.get(0))
    }
}

/// Rows fetched with `LIMIT limit + 1` as a page ([`crate::into_page`]).
fn page_of(rows: &[tokio_postgres::Row], limit: usize) -> StoreResult<(Vec<Message>, bool)> {
    let messages = rows.iter().map(message).collect::<StoreResult<Vec<_>>>()?;
    Ok(crate::into_page(messages, limit))
}
