//! Reading conversations in the SQLite store: history pages, `sync` by
//! position, transcripts, and the read markers.

use super::outbox;
use super::rows::*;
use super::SqliteStore;
use crate::{Page, StoreError, StoreResult};
use chat_core::clock::Millis;
use chat_core::model::Message;
use rusqlite::{params, OptionalExtension};

/// How far behind the newest position a `sync` cursor may be for its new
/// messages to be found in `messages_new` (every room's new messages in
/// creation order, read from the cursor on and filtered by the caller's
/// rooms). Further behind, that walk could cover a great many other rooms'
/// messages, so they are found room by room in `messages_room` instead,
/// which costs the caller's rooms' size. 50,000 entries of `messages_new`
/// are a few milliseconds' read.
const SYNC_NEAR_POSITIONS: i64 = 50_000;

/// The caller's rooms, in `sync`'s queries (`?1` is the caller).
const CALLER_ROOMS: &str =
    "conversation_id IN (SELECT conversation_id FROM participants WHERE user_id = ?1)";

/// Where `sync` finds messages created after the cursor and not changed
/// since (`pos = seq`), by position; see [`SYNC_NEAR_POSITIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NewMessages {
    /// `messages_new` from the cursor on, every room's, keeping the caller's.
    AcrossRooms,
    /// `messages_room`, each of the caller's rooms whole.
    RoomByRoom,
}

/// `sync`'s query for messages created after `?2` and unchanged since: at
/// most `?3`, by position, each with its position last.
pub(super) fn sync_new_sql(plan: NewMessages) -> String {
    let index = match plan {
        NewMessages::AcrossRooms => "messages_new",
        NewMessages::RoomByRoom => "messages_room",
    };
    format!(
        "SELECT {MESSAGE_COLUMNS}, pos FROM messages INDEXED BY {index} \
         WHERE seq > ?2 AND {CALLER_ROOMS} AND pos = seq ORDER BY seq LIMIT ?3"
    )
}

/// `sync`'s query for messages edited or deleted after `?2` (their `pos`
/// moved past their `seq`), whenever created: one search of
/// `messages_changed` per room of the caller.
pub(super) fn sync_changed_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS}, pos FROM messages INDEXED BY messages_changed \
         WHERE {CALLER_ROOMS} AND pos > ?2 AND pos <> seq ORDER BY pos LIMIT ?3"
    )
}

/// The messages of `user`'s rooms whose position is after `from`, at most
/// `limit` + 1, by position: the new ones and the changed ones, merged.
pub(super) fn sync_from(
    c: &rusqlite::Connection,
    user: &str,
    from: i64,
    limit: usize,
    plan: NewMessages,
) -> StoreResult<Vec<Message>> {
    let take = (limit + 1) as i64;
    let read = |sql: String| -> StoreResult<Vec<(i64, Message)>> {
        Ok(c.prepare_cached(&sql)?
            .query_map(params![user, from, take], |r| {
                Ok((r.get::<_, i64>(13)?, message_from_row(r)?))
            })?
            .collect::<Result<Vec<_>, _>>()?)
    };
    // No message is in both (one has `pos = seq`, the other not); each is
    // at most `limit + 1` long, so sorting the two together costs little.
    let mut found = read(sync_new_sql(plan))?;
    found.extend(read(sync_changed_sql())?);
    found.sort_unstable_by_key(|(pos, _)| *pos);
    found.truncate(limit + 1);
    Ok(found.into_iter().map(|(_, m)| m).collect())
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
            let newest: i64 = c
                .prepare_cached("SELECT v FROM positions WHERE id = 1")?
                .query_row([], |r| r.get(0))?;
            let plan = if newest - from <= SYNC_NEAR_POSITIONS {
                NewMessages::AcrossRooms
            } else {
                NewMessages::RoomByRoom
            };
            let messages = sync_from(c, &user, from, limit, plan)?;
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
