//! Mapping rows to records, and the queries shared by reads and writes.

use crate::{
    ConversationRecord, StoreError, StoreResult, SupportRecord, SupportStatus, UserRecord,
};
use chat_core::model::{Attachment, ConversationType, Message, MessageType, Reactions};
use rusqlite::{params, Connection, OptionalExtension, Row};

pub const MESSAGE_COLUMNS: &str = "id, conversation_id, author_id, author_name, content, kind, \
    attachments, parent_id, client_id, created_at, edited_at, deleted_at, reactions";

pub fn message_from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let kind: String = r.get(5)?;
    let attachments: String = r.get(6)?;
    let reactions: String = r.get(12)?;
    let deleted_at: Option<i64> = r.get(11)?;
    Ok(Message {
        id: r.get(0)?,
        room_id: r.get(1)?,
        author_id: r.get(2)?,
        author_name: r.get(3)?,
        // A deleted message keeps no content on the wire.
        content: if deleted_at.is_some() {
            String::new()
        } else {
            r.get(4)?
        },
        kind: kind.parse().unwrap_or(MessageType::Text),
        attachments: if deleted_at.is_some() {
            Vec::new()
        } else {
            serde_json::from_str::<Vec<Attachment>>(&attachments).unwrap_or_default()
        },
        parent_id: r.get(7)?,
        client_id: r.get(8)?,
        created_at: r.get(9)?,
        edited_at: r.get(10)?,
        reactions: serde_json::from_str::<Reactions>(&reactions).unwrap_or_default(),
        deleted_at,
    })
}

pub fn get_message(conn: &Connection, id: &str) -> StoreResult<Option<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], message_from_row)
        .optional()?)
}

pub fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    let role: String = r.get(2)?;
    Ok(UserRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: role.parse().unwrap_or(chat_core::Role::Public),
        email: r.get(3)?,
    })
}

const CONVERSATION_COLUMNS: &str = "id, kind, name, created_by, created_at, last_activity_at, \
    visitor_id, visitor_name, visitor_email, query_type, department, agent_id, status, \
    started_at, ended_at, rating, rating_comment, page_url";

pub fn get_conversation(conn: &Connection, id: &str) -> StoreResult<Option<ConversationRecord>> {
    let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1");
    let Some(mut record) = conn
        .prepare_cached(&sql)?
        .query_row([id], conversation_from_row)
        .optional()?
    else {
        return Ok(None);
    };
    record.participants = participants(conn, id)?;
    Ok(Some(record))
}

pub fn conversations_where(
    conn: &Connection,
    clause: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<ConversationRecord>> {
    let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE {clause}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut out = stmt
        .query_map(args, conversation_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    for c in &mut out {
        c.participants = participants(conn, &c.id)?;
    }
    Ok(out)
}

fn participants(conn: &Connection, id: &str) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM participants WHERE conversation_id = ?1 ORDER BY joined_at, user_id",
    )?;
    let ids = stmt
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

fn conversation_from_row(r: &Row<'_>) -> rusqlite::Result<ConversationRecord> {
    let kind: String = r.get(1)?;
    let kind: ConversationType = kind.parse().unwrap_or(ConversationType::Group);
    let support = if kind == ConversationType::Support {
        let status: Option<String> = r.get(12)?;
        let rating: Option<i64> = r.get(15)?;
        Some(SupportRecord {
            visitor_id: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
            visitor_name: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            visitor_email: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            query_type: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            department: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
            agent_id: r.get(11)?,
            status: status
                .as_deref()
                .and_then(SupportStatus::parse)
                .unwrap_or(SupportStatus::Queued),
            started_at: r.get::<_, Option<i64>>(13)?.unwrap_or_default(),
            ended_at: r.get(14)?,
            rating: rating.and_then(|v| u8::try_from(v).ok()),
            rating_comment: r.get(16)?,
            page_url: r.get(17)?,
        })
    } else {
        None
    };
    Ok(ConversationRecord {
        id: r.get(0)?,
        kind,
        name: r.get(2)?,
        created_by: r.get(3)?,
        created_at: r.get(4)?,
        last_activity_at: r.get(5)?,
        participants: Vec::new(),
        support,
    })
}

pub fn direct_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}\n{b}")
    } else {
        format!("{b}\n{a}")
    }
}

pub fn find_direct(conn: &Connection, a: &str, b: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM conversations WHERE direct_key = ?1")?
        .query_row([direct_key(a, b)], |r| r.get(0))
        .optional()?)
}

pub fn last_message(conn: &Connection, conversation_id: &str) -> StoreResult<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND deleted_at IS NULL \
         ORDER BY id DESC LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([conversation_id], message_from_row)
        .optional()?)
}

pub fn unread_count(conn: &Connection, conversation_id: &str, user_id: &str) -> StoreResult<u64> {
    let last_read: Option<String> = conn
        .prepare_cached(
            "SELECT last_read_id FROM participants WHERE conversation_id = ?1 AND user_id = ?2",
        )?
        .query_row(params![conversation_id, user_id], |r| r.get(0))
        .optional()?
        .flatten();
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM messages WHERE conversation_id = ?1 AND id > ?2 \
             AND author_id <> ?3 AND deleted_at IS NULL AND kind <> 'system'",
        )?
        .query_row(
            params![conversation_id, last_read.unwrap_or_default(), user_id],
            |r| r.get(0),
        )?;
    Ok(n as u64)
}

pub fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}
