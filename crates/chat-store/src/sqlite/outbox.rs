//! The SQLite side of the outbox: queueing an item in the writer's
//! transaction. The items themselves are made by [`crate::outbox_items`].

use super::rows::get_conversation;
use crate::{StoreError, StoreResult};
use chat_core::clock::now_millis;
use rusqlite::{params, Connection};
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
