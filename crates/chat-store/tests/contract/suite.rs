//! The contract every `Store` keeps, written once against a `Backend` and
//! run for each backend by `contract/main.rs`: the tests live in one file
//! per area and are re-exported here, so the macro in `main.rs` names them
//! all as `suite::…`. This file holds what they share.

// One file per area, run by the same macro.
pub use super::conversations::*;
pub use super::durability::*;
pub use super::media::*;
pub use super::messages::*;
pub use super::outbox::*;
pub use super::sync::*;
use chat_core::clock::{new_id, now_millis};
use chat_core::model::{ConversationType, Message, MessageType};
use chat_store::*;

pub fn msg(conv: &str, author: &str, content: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        id: new_id(),
        conversation_id: conv.into(),
        author_id: author.into(),
        author_name: author.to_uppercase(),
        content: content.into(),
        kind: MessageType::Text,
        attachments: vec![],
        parent_id: None,
        client_id: client_id.map(Into::into),
        at: now_millis(),
    }
}

pub async fn group(s: &dyn Store, members: &[&str]) -> String {
    let id = new_id();
    s.create_conversation(NewConversation {
        id: id.clone(),
        kind: ConversationType::Group,
        name: Some("g".into()),
        created_by: members[0].into(),
        participants: members.iter().map(|m| m.to_string()).collect(),
        support: None,
        at: now_millis(),
    })
    .await
    .unwrap();
    id
}

pub async fn append(s: &dyn Store, room: &str, author: &str, content: &str) -> Message {
    s.append_message(msg(room, author, content, None))
        .await
        .unwrap()
        .message()
        .clone()
}

pub fn page(limit: usize) -> Page {
    Page {
        limit,
        ..Page::default()
    }
}
