//! Outbox items: the ingest items of the Odoo gateway API v1
//! (docs/odoo-gateway-api.md §3.5). Pure builders shared by every backend;
//! each backend writes them inside the transaction of the change they
//! describe, so a change and its item commit together.

use crate::{ConversationRecord, SupportStatus};
use chat_core::clock::{format_millis, new_id, Millis};
use chat_core::model::{ConversationType, Message, MessageType};
use serde_json::{json, Value};

/// Odoo knows users by `res.users` id; guests and the system are not users there.
fn is_odoo_user(id: &str) -> bool {
    chat_core::UserId::is_odoo_user_id(id)
}

/// The whole state of a conversation (ingest upserts it).
pub fn conversation_state(r: &ConversationRecord) -> Value {
    // A broadcast channel holds everyone; Odoo does not need the list.
    let participants: Vec<&String> = if r.kind == ConversationType::Channel {
        Vec::new()
    } else {
        r.participants.iter().filter(|p| is_odoo_user(p)).collect()
    };
    let mut item = json!({
        "kind": "conversation", "uuid": new_id(), "conversation_id": r.id,
        "type": r.kind.as_str(), "name": r.name, "participant_ids": participants,
        "created_at": format_millis(r.created_at),
    });
    if let Some(s) = &r.support {
        item["visitor"] =
            json!({ "user_id": s.visitor_id, "name": s.visitor_name, "email": s.visitor_email });
        item["query_type"] = json!(s.query_type);
        item["status"] = json!(match s.status {
            SupportStatus::Queued => "queued",
            SupportStatus::Active => "active",
            SupportStatus::Ended => "ended",
        });
        item["assigned_agent_id"] = json!(s.agent_id);
    }
    item
}

pub fn message(m: &Message) -> Value {
    let mut item = json!({
        "kind": "message", "uuid": m.id, "conversation_id": m.room_id,
        "author_name": m.author_name, "content": m.content, "type": m.kind.as_str(),
        "attachments": m.attachments, "parent_id": m.parent_id, "client_id": m.client_id,
        "created_at": format_millis(m.created_at),
    });
    if m.kind != MessageType::System {
        item["author_id"] = json!(m.author_id);
    }
    item
}

pub fn read(conversation_id: &str, message_id: &str, user_id: &str, at: Millis) -> Value {
    json!({ "kind": "read", "uuid": new_id(), "conversation_id": conversation_id,
            "message_id": message_id, "user_id": user_id, "read_at": format_millis(at) })
}

pub fn edit(message_id: &str, content: &str, at: Millis) -> Value {
    json!({ "kind": "edit", "uuid": new_id(), "message_id": message_id, "content": content,
            "edited_at": format_millis(at) })
}

pub fn delete(message_id: &str, at: Millis) -> Value {
    json!({ "kind": "delete", "uuid": new_id(), "message_id": message_id, "deleted_at": format_millis(at) })
}

pub fn reaction(message_id: &str, user_id: &str, emoji: &str, added: bool) -> Value {
    json!({ "kind": "reaction", "uuid": new_id(), "message_id": message_id, "user_id": user_id,
            "emoji": emoji, "added": added })
}

pub fn end(conversation_id: &str, at: Millis) -> Value {
    json!({ "kind": "end", "uuid": new_id(), "conversation_id": conversation_id, "ended_at": format_millis(at) })
}

pub fn rating(conversation_id: &str, rating: u8, comment: Option<&str>) -> Value {
    json!({ "kind": "rating", "uuid": new_id(), "conversation_id": conversation_id,
            "rating": rating, "comment": comment })
}
