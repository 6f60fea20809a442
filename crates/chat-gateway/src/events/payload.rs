//! Reading untrusted payloads: every field is checked for type and size before
//! anything else happens; a bad payload gets `invalid` and changes nothing.

use chat_core::validate::{identifier, Limits};
use chat_core::ChatError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses a payload object into `T`, with serde's description of what was wrong.
pub fn parse<T: DeserializeOwned>(data: Value) -> Result<T, ChatError> {
    if !data.is_object() {
        return Err(ChatError::invalid("payload must be an object"));
    }
    serde_json::from_value(data).map_err(|e| {
        let msg = e.to_string();
        // serde's messages name the field and expected type; cut any echo of input.
        let msg: String = msg.chars().take(200).collect();
        ChatError::invalid(format!("invalid payload: {msg}"))
    })
}

/// A room named either as `"roomId"` or `{ roomId }`.
pub fn room_id(data: &Value, limits: &Limits) -> Result<String, ChatError> {
    let id = match data {
        Value::String(s) => s.as_str(),
        Value::Object(o) => match o.get("roomId") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(ChatError::invalid("roomId must be a string")),
            None => return Err(ChatError::invalid("roomId is required")),
        },
        _ => return Err(ChatError::invalid("payload must be a roomId or { roomId }")),
    };
    Ok(identifier("roomId", id, limits)?.to_owned())
}

/// An optional id field, checked when present.
pub fn opt_id(
    what: &str,
    v: &Option<String>,
    limits: &Limits,
) -> Result<Option<String>, ChatError> {
    match v {
        Some(s) => Ok(Some(identifier(what, s, limits)?.to_owned())),
        None => Ok(None),
    }
}

pub fn id(what: &str, v: &str, limits: &Limits) -> Result<String, ChatError> {
    Ok(identifier(what, v, limits)?.to_owned())
}

/// A message id must be one of ours: a UUID.
pub fn message_id(what: &str, v: &str) -> Result<String, ChatError> {
    uuid::Uuid::parse_str(v)
        .map(|u| u.to_string())
        .map_err(|_| ChatError::invalid(format!("{what} is not a message id")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn room_ids_come_as_string_or_object() {
        let l = Limits::default();
        assert_eq!(room_id(&json!("r1"), &l).unwrap(), "r1");
        assert_eq!(
            room_id(&json!({"roomId": "r1", "userId": "forged"}), &l).unwrap(),
            "r1"
        );
        for bad in [
            json!(null),
            json!(5),
            json!([]),
            json!({"roomId": 5}),
            json!({}),
            json!(""),
        ] {
            assert_eq!(
                room_id(&bad, &l).unwrap_err().code,
                chat_core::ErrorCode::Invalid,
                "{bad}"
            );
        }
    }

    #[test]
    fn message_ids_must_be_uuids() {
        assert!(message_id("messageId", "0192f6c5-0000-7000-8000-000000000000").is_ok());
        assert!(message_id("messageId", "1; DROP TABLE").is_err());
    }
}
