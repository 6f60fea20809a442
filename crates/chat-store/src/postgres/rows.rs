//! Mapping PostgreSQL rows to records, and the column lists the queries share.

use crate::{
    ConversationRecord, StoreError, StoreResult, SupportRecord, SupportStatus, UserRecord,
};
use chat_core::model::{Attachment, ConversationType, Message, MessageType, Reactions};
use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.author_id, m.author_name, \
    m.content, m.kind, m.attachments, m.parent_id, m.client_id, m.created_at, m.edited_at, \
    m.deleted_at, m.reactions";

pub(crate) const CONVERSATION_COLUMNS: &str = "c.id, c.kind, c.name, c.created_by, c.created_at, \
    c.last_activity_at, c.visitor_id, c.visitor_name, c.visitor_email, c.query_type, \
    c.department, c.agent_id, c.status, c.started_at, c.ended_at, c.rating, c.rating_comment, c.page_url, \
    ARRAY(SELECT p.user_id FROM participants p WHERE p.conversation_id = c.id \
          ORDER BY p.joined_at, p.user_id)";
/// How many columns [`CONVERSATION_COLUMNS`] has (the participants included).
pub(crate) const CONVERSATION_WIDTH: usize = 19;

pub(crate) fn get<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> StoreResult<T> {
    r.try_get(i)
        .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}

/// The message whose columns start at `at`.
pub(crate) fn message_at(r: &Row, at: usize) -> StoreResult<Message> {
    let kind: String = get(r, at + 5)?;
    let attachments: String = get(r, at + 6)?;
    let reactions: String = get(r, at + 12)?;
    let deleted_at: Option<i64> = get(r, at + 11)?;
    Ok(Message {
        id: get(r, at)?,
        room_id: get(r, at + 1)?,
        author_id: get(r, at + 2)?,
        author_name: get(r, at + 3)?,
        // A deleted message keeps no content on the wire.
        content: if deleted_at.is_some() {
            String::new()
        } else {
            get(r, at + 4)?
        },
        kind: kind.parse().unwrap_or(MessageType::Text),
        attachments: if deleted_at.is_some() {
            Vec::new()
        } else {
            serde_json::from_str::<Vec<Attachment>>(&attachments).unwrap_or_default()
        },
        parent_id: get(r, at + 7)?,
        client_id: get(r, at + 8)?,
        created_at: get(r, at + 9)?,
        edited_at: get(r, at + 10)?,
        reactions: serde_json::from_str::<Reactions>(&reactions).unwrap_or_default(),
        deleted_at,
    })
}

pub(crate) fn message(r: &Row) -> StoreResult<Message> {
    message_at(r, 0)
}

pub(crate) fn user(r: &Row) -> StoreResult<UserRecord> {
    let role: String = get(r, 2)?;
    Ok(UserRecord {
        id: get(r, 0)?,
        name: get(r, 1)?,
        role: role.parse().unwrap_or(chat_core::Role::Public),
        email: get(r, 3)?,
    })
}

pub(crate) fn conversation(r: &Row) -> StoreResult<ConversationRecord> {
    let kind: String = get(r, 1)?;
    let kind: ConversationType = kind.parse().unwrap_or(ConversationType::Group);
    let support = if kind == ConversationType::Support {
        let status: Option<String> = get(r, 12)?;
        let rating: Option<i32> = get(r, 15)?;
        Some(SupportRecord {
            visitor_id: get::<Option<String>>(r, 6)?.unwrap_or_default(),
            visitor_name: get::<Option<String>>(r, 7)?.unwrap_or_default(),
            visitor_email: get::<Option<String>>(r, 8)?.unwrap_or_default(),
            query_type: get::<Option<String>>(r, 9)?.unwrap_or_default(),
            department: get::<Option<String>>(r, 10)?.unwrap_or_default(),
            agent_id: get(r, 11)?,
            status: status
                .as_deref()
                .and_then(SupportStatus::parse)
                .unwrap_or(SupportStatus::Queued),
            started_at: get::<Option<i64>>(r, 13)?.unwrap_or_default(),
            ended_at: get(r, 14)?,
            rating: rating.and_then(|v| u8::try_from(v).ok()),
            rating_comment: get(r, 16)?,
            page_url: get(r, 17)?,
        })
    } else {
        None
    };
    Ok(ConversationRecord {
        id: get(r, 0)?,
        kind,
        name: get(r, 2)?,
        created_by: get(r, 3)?,
        created_at: get(r, 4)?,
        last_activity_at: get(r, 5)?,
        participants: get(r, 18)?,
        support,
    })
}
