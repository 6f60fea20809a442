//! The objects of the wire contract (§4). Timestamps are kept as milliseconds and
//! serialised as `Date.toISOString()` strings; field names are camelCase.

use crate::clock::Millis;
use crate::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationType {
    Direct,
    Group,
    Support,
    Channel,
}

impl ConversationType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationType::Direct => "direct",
            ConversationType::Group => "group",
            ConversationType::Support => "support",
            ConversationType::Channel => "channel",
        }
    }
}

impl fmt::Display for ConversationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConversationType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "direct" => Ok(Self::Direct),
            "group" => Ok(Self::Group),
            "support" => Ok(Self::Support),
            "channel" => Ok(Self::Channel),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Text,
    File,
    System,
}

impl MessageType {
    pub const ALL: [MessageType; 3] = [MessageType::Text, MessageType::File, MessageType::System];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Text => "text",
            MessageType::File => "file",
            MessageType::System => "system",
        }
    }
}

impl FromStr for MessageType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "text" => Ok(Self::Text),
            "file" => Ok(Self::File),
            "system" => Ok(Self::System),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    pub size: u64,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// `{ emoji: [userId] }`, emojis and users in a stable order.
pub type Reactions = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub room_id: String,
    pub author_id: String,
    pub author_name: String,
    pub content: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub attachments: Vec<Attachment>,
    pub parent_id: Option<String>,
    pub client_id: Option<String>,
    #[serde(with = "iso_millis")]
    pub created_at: Millis,
    #[serde(with = "iso_millis_opt")]
    pub edited_at: Option<Millis>,
    pub reactions: Reactions,
    /// Only set on deleted messages, which `sync` returns so clients can drop them.
    #[serde(with = "iso_millis_opt", skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub online: bool,
}

/// Support-specific facts of a `support` conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportInfo {
    pub visitor_id: String,
    pub visitor_name: String,
    pub visitor_email: String,
    pub query_type: String,
    pub department: String,
    pub agent_id: Option<String>,
    #[serde(with = "iso_millis")]
    pub started_at: Millis,
    #[serde(with = "iso_millis_opt")]
    pub ended_at: Option<Millis>,
    pub rating: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ConversationType,
    pub name: Option<String>,
    pub participants: Vec<Participant>,
    pub unread_count: u64,
    pub last_message: Option<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support: Option<SupportInfo>,
    #[serde(with = "iso_millis")]
    pub created_at: Millis,
    #[serde(with = "iso_millis")]
    pub last_activity_at: Millis,
}

/// Serialises milliseconds as an ISO-8601 string.
pub mod iso_millis {
    use crate::clock::{IsoMillis, Millis};
    use serde::Serializer;
    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(IsoMillis::new(*ms).as_str())
    }
}

/// Serialises optional milliseconds as an ISO-8601 string or `null`.
pub mod iso_millis_opt {
    use crate::clock::{IsoMillis, Millis};
    use serde::Serializer;
    pub fn serialize<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(IsoMillis::new(*ms).as_str()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_serialises_as_the_contract_shows() {
        let m = Message {
            id: "0192f6c5".into(),
            room_id: "r1".into(),
            author_id: "42".into(),
            author_name: "Ada".into(),
            content: "Hello".into(),
            kind: MessageType::Text,
            attachments: vec![],
            parent_id: None,
            client_id: Some("c-1".into()),
            created_at: 1_795_514_400_000,
            edited_at: None,
            reactions: Reactions::new(),
            deleted_at: None,
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": "0192f6c5", "roomId": "r1", "authorId": "42", "authorName": "Ada",
                "content": "Hello", "type": "text", "attachments": [], "parentId": null,
                "clientId": "c-1", "createdAt": "2026-11-24T10:00:00.000Z", "editedAt": null,
                "reactions": {}
            })
        );
    }
}
