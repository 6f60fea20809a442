//! Hostile payloads: wrong types, wrong shapes, ids that are not ids. Each
//! gets `invalid` and changes nothing.

use crate::harness::Node;
use chat_core::Role;
use serde_json::{json, Value};

#[tokio::test]
async fn payloads_of_the_wrong_shape_are_invalid_and_store_nothing() {
    let node = Node::start().await;
    let mut ada = node.user("1", Role::Student).await;
    let room = ada.direct_room("2").await;
    let sent = ada
        .ok("message", json!({ "roomId": room, "content": "first" }))
        .await;
    let message = sent["message"]["id"].as_str().unwrap().to_owned();

    let hostile: Vec<(&str, Value)> = vec![
        ("message", json!(["not", "an", "object"])),
        ("message", json!("a string")),
        ("message", json!({ "roomId": room, "content": 42 })),
        (
            "message",
            json!({ "roomId": { "$ne": null }, "content": "x" }),
        ),
        (
            "message",
            json!({ "roomId": room, "content": "x", "attachments": "a.png" }),
        ),
        (
            "message",
            json!({ "roomId": room, "content": "x", "parentId": "not-a-uuid" }),
        ),
        ("message", json!({ "content": "to nobody" })),
        (
            "message:edit",
            json!({ "messageId": message, "content": ["x"] }),
        ),
        (
            "message:edit",
            json!({ "messageId": "../../etc/passwd", "content": "x" }),
        ),
        ("message:delete", json!({ "messageId": 7 })),
        (
            "message:react",
            json!({ "messageId": message, "emoji": "not an emoji" }),
        ),
        (
            "conversation:create",
            json!({ "type": "support", "participantIds": ["3"] }),
        ),
        (
            "conversation:create",
            json!({ "type": "direct", "participantIds": "3" }),
        ),
        ("support:rate", json!({ "roomId": room, "rating": "5" })),
        ("support:rate", json!({ "roomId": room, "rating": 4.5 })),
    ];
    for (event, data) in hostile {
        ada.fails("invalid", event, data).await;
    }
    let stored = node.stored(&room).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content, "first");
    assert!(stored[0].reactions.is_empty());
    let conversations = ada.ok("conversations:list", json!({})).await;
    let direct = conversations["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["type"] == "direct")
        .count();
    assert_eq!(direct, 1);
}

#[tokio::test]
async fn an_unknown_event_is_invalid() {
    let node = Node::start().await;
    let mut ada = node.user("1", Role::Student).await;
    ada.fails("invalid", "drop:tables", json!({})).await;
}

#[tokio::test]
async fn a_support_form_with_fields_of_the_wrong_type_opens_no_chat() {
    let node = Node::start().await;
    let mut guest = node.guest().await;
    for form in [
        json!({ "name": 1, "email": "v@example.org", "queryType": "other" }),
        json!({ "name": "Vera", "email": ["v@example.org"], "queryType": "other" }),
        json!({ "name": "Vera", "email": "v@example.org", "queryType": "nonsense" }),
        json!({ "email": "v@example.org", "queryType": "other" }),
    ] {
        guest.fails("invalid", "support:start", form).await;
    }
    let open = node
        .app
        .support
        .open_chat_of(&guest.user_id)
        .await
        .expect("the desk answers");
    assert_eq!(open, None);
}
