//! Writing messages in the PostgreSQL store: append (through the batcher),
//! import from Odoo, edit, delete and reactions, each taking a position so
//! `sync` sees the change.

use super::batch::Job;
use super::outbox::enqueue;
use super::rows::*;
use super::{check_text, PgStore, Positions};
use crate::outbox_items;
use crate::{Appended, NewMessage, StoreError, StoreResult};
use chat_core::clock::{now_millis, Millis};
use chat_core::model::{Message, Reactions};
use deadpool_postgres::Transaction;
use tokio::sync::oneshot;

async fn get_message_tx(
    tx: &Transaction<'_>,
    id: &str,
    lock: bool,
) -> StoreResult<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let stmt = tx.prepare_cached(&sql).await?;
    tx.query_opt(&stmt, &[&id])
        .await?
        .map(|r| message(&r))
        .transpose()
}

/// Every text of a new message is one PostgreSQL can store (`check_text`),
/// before anything is written or queued.
fn check_new_message(m: &NewMessage) -> StoreResult<()> {
    check_text(
        [
            m.id.as_str(),
            &m.conversation_id,
            &m.author_id,
            &m.author_name,
            &m.content,
        ]
        .into_iter()
        .chain(m.parent_id.as_deref())
        .chain(m.client_id.as_deref()),
    )
}

impl PgStore {
    pub(super) async fn append_message(&self, m: NewMessage) -> StoreResult<Appended> {
        check_new_message(&m)?;
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Append(Box::new(m), tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) async fn import_message(&self, m: NewMessage) -> StoreResult<Appended> {
        check_new_message(&m)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = self.lock_positions(&tx).await?;
        if let Some(existing) = get_message_tx(&tx, &m.id, false).await? {
            return Ok(Appended::Duplicate(existing));
        }
        let p = positions.next(&tx).await?;
        // Odoo's clock is not ours; `sync` finds it by its position.
        let changed_at = now_millis().max(m.at);
        let attachments = serde_json::to_string(&m.attachments)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO messages (id, conversation_id, author_id, author_name, content, kind, \
                 attachments, parent_id, client_id, created_at, changed_at, seq, pos) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &m.id,
                &m.conversation_id,
                &m.author_id,
                &m.author_name,
                &m.content,
                &m.kind.as_str(),
                &attachments,
                &m.parent_id,
                &m.client_id,
                &m.at,
                &changed_at,
                &p,
            ],
        )
        .await?;
        let stmt = tx
            .prepare_cached(
                "UPDATE conversations SET last_activity_at = greatest(last_activity_at, $2) WHERE id = $1",
            )
            .await?;
        tx.execute(&stmt, &[&m.conversation_id, &changed_at])
            .await?;
        let stored = get_message_tx(&tx, &m.id, false)
            .await?
            .ok_or(StoreError::NotFound)?;
        positions.save(&tx).await?;
        tx.commit().await?;
        Ok(Appended::New(stored))
    }

    pub(super) async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1"
            ))
            .await?;
        c.query_opt(&stmt, &[&id])
            .await?
            .map(|r| message(&r))
            .transpose()
    }

    pub(super) async fn edit_message(
        &self,
        id: &str,
        content: String,
        at: Millis,
    ) -> StoreResult<Message> {
        check_text([content.as_str()])?;
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = self.lock_positions(&tx).await?;
        let p = positions.next(&tx).await?;
        let stmt = tx
            .prepare_cached(
                "UPDATE messages SET content = $2, edited_at = $3, changed_at = $3, pos = $4 \
                 WHERE id = $1 AND deleted_at IS NULL RETURNING conversation_id",
            )
            .await?;
        let room: String = tx
            .query_opt(&stmt, &[&id, &content, &at, &p])
            .await?
            .ok_or(StoreError::NotFound)?
            .get(0);
        let item = ob.then(|| outbox_items::edit(id, &content, at));
        self.changed(tx, positions, id, &room, item).await
    }

    pub(super) async fn delete_message(&self, id: &str, at: Millis) -> StoreResult<Message> {
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = self.lock_positions(&tx).await?;
        let p = positions.next(&tx).await?;
        let stmt = tx
            .prepare_cached(
                "UPDATE messages SET deleted_at = $2, changed_at = $2, content = '', \
                 attachments = '[]', pos = $3 WHERE id = $1 AND deleted_at IS NULL \
                 RETURNING conversation_id",
            )
            .await?;
        let room: String = tx
            .query_opt(&stmt, &[&id, &at, &p])
            .await?
            .ok_or(StoreError::NotFound)?
            .get(0);
        let item = ob.then(|| outbox_items::delete(id, at));
        self.changed(tx, positions, id, &room, item).await
    }

    /// The end of an edit or a delete, once the row is updated: `item` (with
    /// the outbox on) queued for Odoo, the positions saved, the commit, and
    /// the message as it is now.
    async fn changed(
        &self,
        tx: Transaction<'_>,
        mut positions: Positions,
        id: &str,
        room: &str,
        item: Option<serde_json::Value>,
    ) -> StoreResult<Message> {
        if let Some(item) = item {
            enqueue(&tx, &mut positions, Some(room), item).await?;
        }
        let m = get_message_tx(&tx, id, false)
            .await?
            .ok_or(StoreError::NotFound)?;
        positions.save(&tx).await?;
        tx.commit().await?;
        self.signal_outbox();
        Ok(m)
    }

    pub(super) async fn toggle_reaction(
        &self,
        id: &str,
        user_id: &str,
        emoji: &str,
        at: Millis,
    ) -> StoreResult<(Message, Reactions)> {
        check_text([user_id, emoji])?;
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = self.lock_positions_if(&tx, ob).await?;
        // The row lock makes concurrent toggles of one message take turns.
        let mut message = get_message_tx(&tx, id, true)
            .await?
            .ok_or(StoreError::NotFound)?;
        if message.deleted_at.is_some() {
            return Err(StoreError::NotFound);
        }
        let users = message.reactions.entry(emoji.to_owned()).or_default();
        let added = if let Some(at) = users.iter().position(|u| u == user_id) {
            users.remove(at);
            if users.is_empty() {
                message.reactions.remove(emoji);
            }
            false
        } else {
            users.push(user_id.to_owned());
            true
        };
        if let Some(mut p) = positions.take() {
            let item = outbox_items::reaction(id, user_id, emoji, added);
            enqueue(&tx, &mut p, Some(&message.room_id), item).await?;
            p.save(&tx).await?;
        }
        let json = serde_json::to_string(&message.reactions)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stmt = tx
            .prepare_cached(
                "UPDATE messages SET reactions = $2, changed_at = greatest(changed_at, $3) WHERE id = $1",
            )
            .await?;
        tx.execute(&stmt, &[&id, &json, &at]).await?;
        tx.commit().await?;
        self.signal_outbox();
        let reactions = message.reactions.clone();
        Ok((message, reactions))
    }
}
