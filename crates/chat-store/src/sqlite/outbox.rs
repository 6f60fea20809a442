//! The SQLite side of the outbox: queueing an item in the writer's
//! transaction, and the drainer's reads and writes (peek, done, park,
//! requeue, counts). The items themselves are made by
//! [`crate::outbox_items`].

use super::rows::{corrupt, get_conversation};
use super::SqliteStore;
use crate::{OutboxItem, StoreError, StoreResult};
use chat_core::clock::now_millis;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

pub(crate) use crate::outbox_items::{delete, edit, end, message, rating, reaction, read};

pub fn enqueue(c: &Connection, conversation_id: Option<&str>, item: Value) -> StoreResult<()> {
    c.prepare_cached("INSERT INTO outbox (conversation_id, item, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![conversation_id, item.to_string(), now_millis()])?;
    Ok(())
}

/// The whole state of a conversation as it stands in this transaction.
pub fn conversation_state(c: &Connection, id: &str) -> StoreResult<Value> {
    let r = get_conversation(c, id)?.ok_or(StoreError::NotFound)?;
    Ok(crate::outbox_items::conversation_state(&r))
}

impl SqliteStore {
    pub(super) async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxItem>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT seq, item FROM outbox ORDER BY seq LIMIT ?1")?;
            let rows = stmt
                .query_map([limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(seq, text)| {
                    let item = serde_json::from_str(&text)
                        .map_err(|e| corrupt(format!("outbox item {seq}: {e}")))?;
                    Ok(OutboxItem { seq, item })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn outbox_done(&self, seqs: &[i64]) -> StoreResult<()> {
        let seqs = seqs.to_vec();
        self.write(move |c| {
            let mut stmt = c.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for s in &seqs {
                stmt.execute([s])?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn outbox_park(&self, seq: i64, code: &str, reason: &str) -> StoreResult<()> {
        let (code, reason) = (code.to_owned(), reason.to_owned());
        self.write(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO dead_letters (seq, item, code, reason, parked_at) \
                 SELECT seq, item, ?2, ?3, ?4 FROM outbox WHERE seq = ?1",
                params![seq, code, reason, chat_core::clock::now_millis()],
            )?;
            c.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn outbox_counts(&self) -> StoreResult<(u64, u64)> {
        self.read(|c| {
            let backlog: i64 = c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
            let dead: i64 = c.query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))?;
            Ok((backlog as u64, dead as u64))
        })
        .await
    }

    pub(super) async fn outbox_last_dead(&self) -> StoreResult<Option<(String, String)>> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT code, reason FROM dead_letters ORDER BY parked_at DESC, seq DESC LIMIT 1",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        ))
                    },
                )
                .optional()?;
            Ok(row)
        })
        .await
    }

    pub(super) async fn outbox_requeue(&self, uuids: &[String]) -> StoreResult<u64> {
        let uuids = uuids.to_vec();
        self.write(move |c| {
            let mut moved = 0u64;
            // The original seq puts the item back where it was in the order:
            // a refused conversation goes before its refused messages again.
            let mut back = c.prepare_cached(
                "INSERT OR IGNORE INTO outbox (seq, conversation_id, item, created_at) \
                 SELECT seq, json_extract(item, '$.conversation_id'), item, ?2 FROM dead_letters \
                 WHERE json_extract(item, '$.uuid') = ?1",
            )?;
            let mut gone = c.prepare_cached(
                "DELETE FROM dead_letters WHERE json_extract(item, '$.uuid') = ?1 \
                 AND seq IN (SELECT seq FROM outbox)",
            )?;
            let now = chat_core::clock::now_millis();
            for uuid in &uuids {
                back.execute(params![uuid, now])?;
                moved += gone.execute([uuid])? as u64;
            }
            Ok(moved)
        })
        .await
    }
}
