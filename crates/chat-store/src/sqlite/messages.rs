//! Writing messages in the SQLite store: append (idempotent by client id),
//! import from Odoo, edit, delete and reactions, each taking a position so
//! `sync` sees the change.

use super::outbox;
use super::rows::*;
use super::writer::Tx;
use super::SqliteStore;
use crate::{Appended, NewMessage, StoreError, StoreResult};
use chat_core::clock::Millis;
use chat_core::model::{Message, Reactions};
use rusqlite::{params, OptionalExtension};

/// Inserts a new message and marks its conversation active. `changed_at` is
/// what `sync` scans by: the creation time for our messages, the arrival time
/// for imported ones.
fn insert_message(c: &Tx, m: &NewMessage, changed_at: Millis) -> StoreResult<()> {
    let attachments = serde_json::to_string(&m.attachments).map_err(|e| corrupt(e.to_string()))?;
    let pos = c.next_position()?;
    c.prepare_cached(
        "INSERT INTO messages (id, conversation_id, author_id, author_name, content, kind, \
         attachments, parent_id, client_id, created_at, changed_at, seq, pos) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )?
    .execute(params![
        m.id,
        m.conversation_id,
        m.author_id,
        m.author_name,
        m.content,
        m.kind.as_str(),
        attachments,
        m.parent_id,
        m.client_id,
        m.at,
        changed_at,
        pos
    ])?;
    c.prepare_cached(
        "UPDATE conversations SET last_activity_at = max(last_activity_at, ?2) WHERE id = ?1",
    )?
    .execute(params![m.conversation_id, changed_at])?;
    Ok(())
}

impl SqliteStore {
    pub(super) async fn append_message(&self, m: NewMessage) -> StoreResult<Appended> {
        let ob = self.outbox_on();
        self.write(move |c| {
            if let Some(client_id) = &m.client_id {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE author_id = ?1 AND client_id = ?2"
                );
                if let Some(existing) = c
                    .prepare_cached(&sql)?
                    .query_row(params![m.author_id, client_id], message_from_row)
                    .optional()?
                {
                    return Ok(Appended::Duplicate(existing));
                }
            }
            // The id is made here, by the writer, so a room's ids (its
            // history order) follow the order messages were stored in.
            let id = chat_core::clock::new_id();
            let at = chat_core::clock::id_millis(&id).unwrap_or(m.at);
            let m = NewMessage { id, at, ..m };
            insert_message(c, &m, m.at)?;
            // The author has read its own message.
            c.prepare_cached(
                "UPDATE participants SET last_read_id = ?3, last_read_at = ?4 \
                 WHERE conversation_id = ?1 AND user_id = ?2 AND (last_read_id IS NULL OR last_read_id < ?3)",
            )?
            .execute(params![m.conversation_id, m.author_id, m.id, m.at])?;
            // What was just written, without reading it back (the writer is the bottleneck).
            let stored = m.into_stored();
            if ob {
                outbox::enqueue(c, Some(&stored.room_id), outbox::message(&stored))?;
            }
            Ok(Appended::New(stored))
        })
        .await
    }

    pub(super) async fn import_message(&self, m: NewMessage) -> StoreResult<Appended> {
        self.write(move |c| {
            if let Some(existing) = get_message(c, &m.id)? {
                return Ok(Appended::Duplicate(existing));
            }
            // Odoo's clock is not ours: `sync` finds it by when it arrived.
            insert_message(c, &m, chat_core::clock::now_millis().max(m.at))?;
            let stored = get_message(c, &m.id)?.ok_or(StoreError::NotFound)?;
            Ok(Appended::New(stored))
        })
        .await
    }

    pub(super) async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        let id = id.to_owned();
        self.read(move |c| get_message(c, &id)).await
    }

    pub(super) async fn edit_message(
        &self,
        id: &str,
        content: String,
        at: Millis,
    ) -> StoreResult<Message> {
        let id = id.to_owned();
        let ob = self.outbox_on();
        self.write(move |c| {
            let pos = c.next_position()?;
            let n = c
                .prepare_cached(
                    "UPDATE messages SET content = ?2, edited_at = ?3, changed_at = ?3, pos = ?4 \
                     WHERE id = ?1 AND deleted_at IS NULL",
                )?
                .execute(params![id, content, at, pos])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            changed(c, &id, ob.then(|| outbox::edit(&id, &content, at)))
        })
        .await
    }

    pub(super) async fn delete_message(&self, id: &str, at: Millis) -> StoreResult<Message> {
        let id = id.to_owned();
        let ob = self.outbox_on();
        self.write(move |c| {
            let pos = c.next_position()?;
            let n = c
                .prepare_cached(
                    "UPDATE messages SET deleted_at = ?2, changed_at = ?2, content = '', attachments = '[]', \
                     pos = ?3 WHERE id = ?1 AND deleted_at IS NULL",
                )?
                .execute(params![id, at, pos])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            changed(c, &id, ob.then(|| outbox::delete(&id, at)))
        })
        .await
    }

    pub(super) async fn toggle_reaction(
        &self,
        id: &str,
        user_id: &str,
        emoji: &str,
        at: Millis,
    ) -> StoreResult<(Message, Reactions)> {
        let (id, user, emoji) = (id.to_owned(), user_id.to_owned(), emoji.to_owned());
        let ob = self.outbox_on();
        self.write(move |c| {
            let mut message = get_message(c, &id)?.ok_or(StoreError::NotFound)?;
            if message.deleted_at.is_some() {
                return Err(StoreError::NotFound);
            }
            let users = message.reactions.entry(emoji.clone()).or_default();
            let added = if let Some(pos) = users.iter().position(|u| *u == user) {
                users.remove(pos);
                if users.is_empty() {
                    message.reactions.remove(&emoji);
                }
                false
            } else {
                users.push(user.clone());
                true
            };
            if ob {
                outbox::enqueue(c, Some(&message.room_id), outbox::reaction(&id, &user, &emoji, added))?;
            }
            let json = serde_json::to_string(&message.reactions).map_err(|e| corrupt(e.to_string()))?;
            c.prepare_cached("UPDATE messages SET reactions = ?2, changed_at = max(changed_at, ?3) WHERE id = ?1")?
                .execute(params![id, json, at])?;
            let reactions = message.reactions.clone();
            Ok((message, reactions))
        })
        .await
    }
}

/// The end of an edit or a delete: the message as it is now and, with the
/// outbox on, `item` queued for Odoo under the message's conversation (read
/// from the message itself, not looked up a second time).
fn changed(
    c: &rusqlite::Connection,
    id: &str,
    item: Option<serde_json::Value>,
) -> StoreResult<Message> {
    let m = get_message(c, id)?.ok_or(StoreError::NotFound)?;
    if let Some(item) = item {
        outbox::enqueue(c, Some(&m.room_id), item)?;
    }
    Ok(m)
}
