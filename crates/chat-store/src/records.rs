//! What the store keeps, beyond the wire types of `chat_core::model`.

use chat_core::clock::Millis;
use chat_core::model::{Attachment, ConversationType, Message, MessageType};
use chat_core::Role;

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportStatus {
    Queued,
    Active,
    Ended,
}

impl SupportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportStatus::Queued => "queued",
            SupportStatus::Active => "active",
            SupportStatus::Ended => "ended",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "active" => Some(Self::Active),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupportRecord {
    pub visitor_id: String,
    pub visitor_name: String,
    pub visitor_email: String,
    pub query_type: String,
    pub department: String,
    pub agent_id: Option<String>,
    pub status: SupportStatus,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    pub rating: Option<u8>,
    pub rating_comment: Option<String>,
    /// The page the visitor opened the widget on (an http(s) URL), if known.
    pub page_url: Option<String>,
}

/// The wire's view of a support chat: every field clients see, one place
/// (the rating's comment and the page stay with the staff's own views).
impl From<&SupportRecord> for chat_core::model::SupportInfo {
    fn from(s: &SupportRecord) -> Self {
        Self {
            visitor_id: s.visitor_id.clone(),
            visitor_name: s.visitor_name.clone(),
            visitor_email: s.visitor_email.clone(),
            query_type: s.query_type.clone(),
            department: s.department.clone(),
            agent_id: s.agent_id.clone(),
            started_at: s.started_at,
            ended_at: s.ended_at,
            rating: s.rating,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    pub id: String,
    pub kind: ConversationType,
    pub name: Option<String>,
    pub created_by: String,
    pub created_at: Millis,
    pub last_activity_at: Millis,
    pub participants: Vec<String>,
    pub support: Option<SupportRecord>,
}

#[derive(Debug, Clone)]
pub struct NewConversation {
    pub id: String,
    pub kind: ConversationType,
    pub name: Option<String>,
    pub created_by: String,
    pub participants: Vec<String>,
    pub support: Option<SupportRecord>,
    pub at: Millis,
}

/// A change to a support conversation; `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct SupportUpdate {
    pub agent_id: Option<Option<String>>,
    pub status: Option<SupportStatus>,
    pub ended_at: Option<Millis>,
    pub rating: Option<(u8, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct ConversationSummary {
    pub record: ConversationRecord,
    pub unread_count: u64,
    pub last_message: Option<Message>,
}

/// A queued write for Odoo.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub seq: i64,
    pub item: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub conversation_id: String,
    pub author_id: String,
    pub author_name: String,
    pub content: String,
    pub kind: MessageType,
    pub attachments: Vec<Attachment>,
    pub parent_id: Option<String>,
    pub client_id: Option<String>,
    pub at: Millis,
}

impl NewMessage {
    /// The message as a store holds it right after the insert: no edit,
    /// no reaction, not deleted.
    pub fn into_stored(self) -> Message {
        Message {
            id: self.id,
            room_id: self.conversation_id,
            author_id: self.author_id,
            author_name: self.author_name,
            content: self.content,
            kind: self.kind,
            attachments: self.attachments,
            parent_id: self.parent_id,
            client_id: self.client_id,
            created_at: self.at,
            edited_at: None,
            reactions: Default::default(),
            deleted_at: None,
        }
    }

    /// A message with a fresh id, written now, with no attachments, parent
    /// or client id (system messages, broadcasts, a support form's first line).
    pub fn plain(
        kind: MessageType,
        conversation_id: &str,
        author_id: &str,
        author_name: &str,
        content: String,
    ) -> Self {
        Self {
            id: chat_core::clock::new_id(),
            conversation_id: conversation_id.to_owned(),
            author_id: author_id.to_owned(),
            author_name: author_name.to_owned(),
            content,
            kind,
            attachments: Vec::new(),
            parent_id: None,
            client_id: None,
            at: chat_core::clock::now_millis(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Appended {
    New(Message),
    /// The same `(author, clientId)` was stored before: this is that message.
    Duplicate(Message),
}

impl Appended {
    pub fn message(&self) -> &Message {
        match self {
            Appended::New(m) | Appended::Duplicate(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::model::SupportInfo;

    #[test]
    fn the_wire_shows_every_support_field_but_the_staff_only_ones() {
        let record = SupportRecord {
            visitor_id: "guest_1".into(),
            visitor_name: "Pia".into(),
            visitor_email: "pia@example.org".into(),
            query_type: "billing".into(),
            department: "billing".into(),
            agent_id: Some("6".into()),
            status: SupportStatus::Ended,
            started_at: 1_000,
            ended_at: Some(2_000),
            rating: Some(4),
            rating_comment: Some("quick".into()),
            page_url: Some("https://example.org/pricing".into()),
        };
        assert_eq!(
            SupportInfo::from(&record),
            SupportInfo {
                visitor_id: "guest_1".into(),
                visitor_name: "Pia".into(),
                visitor_email: "pia@example.org".into(),
                query_type: "billing".into(),
                department: "billing".into(),
                agent_id: Some("6".into()),
                started_at: 1_000,
                ended_at: Some(2_000),
                rating: Some(4),
            }
        );
    }
}
