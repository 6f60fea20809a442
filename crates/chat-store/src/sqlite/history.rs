//! Reading conversations in the SQLite store: history pages, `sync` by
//! position, transcripts, and the read markers.

use super::outbox;
use super::rows::*;
use super::SqliteStore;
use crate::{Page, StoreError, StoreResult};
use chat_core::clock::Millis;
use chat_core::model::Message;
use rusqlite::{params, OptionalExtension};

/// `sync`'s query: the messages of `?1`'s conversations whose latest change
/// has a position after `?2`, at most `?3`, by position: one search of
/// `messages_pos` per conversation.
pub(super) fn sync_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id IN \
         (SELECT conversation_id FROM participants WHERE user_id = ?1) \
         AND pos > ?2 ORDER BY pos LIMIT ?3"
    )
}

impl SqliteStore {
    pub(super) async fn history(
        &self,
        conversation_id: &str,
        page: Page,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let conv = conversation_id.to_owned();
        self.read(move |c| {
            let limit = page.limit.clamp(1, 100);
            let (cond, order, cursor) = match (&page.before, &page.after) {
                (_, Some(after)) => ("id > ?2", "ASC", after.clone()),
                (Some(before), None) => ("id < ?2", "DESC", before.clone()),
                (None, None) => ("?2 = ''", "DESC", String::new()),
            };
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND {cond} \
                 AND deleted_at IS NULL ORDER BY id {order} LIMIT ?3"
            );
            let messages = c
                .prepare_cached(&sql)?
                .query_map(params![conv, cursor, (limit + 1) as i64], message_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(crate::into_page(messages, limit))
        })
        .await
    }

    pub(super) async fn sync(
        &self,
        user_id: &str,
        since: &str,
        limit: usize,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let (user, since) = (user_id.to_owned(), since.to_owned());
        self.read(move |c| {
            let from: i64 = c
                .prepare_cached("SELECT seq FROM messages WHERE id = ?1")?
                .query_row([&since], |r| r.get::<_, Option<i64>>(0))
                .optional()?
                .flatten()
                .unwrap_or(0);
            let sql = sync_sql();
            let messages = c
                .prepare_cached(&sql)?
                .query_map(params![user, from, (limit + 1) as i64], message_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(crate::into_page(messages, limit))
        })
        .await
    }

    pub(super) async fn transcript(&self, conversation_id: &str) -> StoreResult<Vec<Message>> {
        let conv = conversation_id.to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND deleted_at IS NULL ORDER BY id"
            );
            let messages = c
                .prepare_cached(&sql)?
                .query_map([conv], message_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(messages)
        })
        .await
    }

    pub(super) async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        message_id: &str,
        at: Millis,
    ) -> StoreResult<()> {
        let (conv, user, msg) = (
            conversation_id.to_owned(),
            user_id.to_owned(),
            message_id.to_owned(),
        );
        let ob = self.outbox_on();
        self.write(move |c| {
            let in_room: Option<String> = c
                .prepare_cached("SELECT conversation_id FROM messages WHERE id = ?1")?
                .query_row([&msg], |r| r.get(0))
                .optional()?;
            if in_room.as_deref() != Some(conv.as_str()) {
                return Err(StoreError::NotFound);
            }
            let moved = c
                .prepare_cached(
                "UPDATE participants SET last_read_id = ?3, last_read_at = ?4 \
                 WHERE conversation_id = ?1 AND user_id = ?2 AND (last_read_id IS NULL OR last_read_id < ?3)",
            )?
                .execute(params![conv, user, msg, at])?;
            if moved == 1 && ob {
                outbox::enqueue(c, Some(&conv), outbox::read(&conv, &msg, &user, at))?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn newest_message_id(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Option<String>> {
        let conv = conversation_id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT max(id) FROM messages WHERE conversation_id = ?1")?
                    .query_row([conv], |r| r.get::<_, Option<String>>(0))?,
            )
        })
        .await
    }
}
