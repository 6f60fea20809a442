//! The support chat's rules through the handlers: who ends it, nobody
//! writes into it once ended, and the visitor rates it once.

use crate::harness::{Client, Node};
use chat_core::Role;
use serde_json::json;

/// A guest's support chat, with its first message; returns the guest and the room.
async fn guest_chat(node: &Node) -> (Client, String) {
    let mut guest = node.guest().await;
    let room = guest.start_support_chat().await;
    (guest, room)
}

#[tokio::test]
async fn an_outsider_cannot_end_a_support_chat_and_the_visitor_can_once() {
    let node = Node::start().await;
    let (mut guest, room) = guest_chat(&node).await;
    let mut ada = node.user("1", Role::Student).await;
    ada.fails("forbidden", "support:end", json!({ "roomId": room }))
        .await;
    guest.ok("support:end", json!({ "roomId": room })).await;
    guest.event("support:ended").await;
    guest
        .fails("conflict", "support:end", json!({ "roomId": room }))
        .await;
}

#[tokio::test]
async fn nobody_writes_into_an_ended_support_chat() {
    let node = Node::start().await;
    let (mut guest, room) = guest_chat(&node).await;
    let before = node.stored(&room).await.len();
    guest.ok("support:end", json!({ "roomId": room })).await;
    let after_end = node.stored(&room).await.len();
    assert!(after_end >= before);
    guest
        .fails(
            "conflict",
            "message",
            json!({ "roomId": room, "content": "one more thing" }),
        )
        .await;
    assert_eq!(node.stored(&room).await.len(), after_end);
}

#[tokio::test]
async fn the_visitor_rates_an_ended_chat_once() {
    let node = Node::start().await;
    let (mut guest, room) = guest_chat(&node).await;
    // Not before it ends.
    guest
        .fails(
            "conflict",
            "support:rate",
            json!({ "roomId": room, "rating": 5 }),
        )
        .await;
    guest.ok("support:end", json!({ "roomId": room })).await;
    // Only the visitor.
    let mut root = node.user("9", Role::Admin).await;
    root.fails(
        "forbidden",
        "support:rate",
        json!({ "roomId": room, "rating": 1 }),
    )
    .await;
    guest
        .ok(
            "support:rate",
            json!({ "roomId": room, "rating": 4, "comment": "Quick" }),
        )
        .await;
    guest
        .fails(
            "conflict",
            "support:rate",
            json!({ "roomId": room, "rating": 1 }),
        )
        .await;
    let record = node.app.store.conversation(&room).await.unwrap().unwrap();
    let support = record.support.expect("a support chat");
    assert_eq!(support.rating, Some(4));
}

#[tokio::test]
async fn the_assigned_agent_ends_the_chat_and_another_agent_may_not() {
    let node = Node::start().await;
    // Agent 5 serves the `support` department, where technical questions go.
    let mut sam = node.user("5", Role::SupportAgent).await;
    let (_guest, room) = guest_chat(&node).await;
    let record = node.app.store.conversation(&room).await.unwrap().unwrap();
    assert_eq!(
        record.support.and_then(|s| s.agent_id).as_deref(),
        Some("5")
    );
    sam.ok("message", json!({ "roomId": room, "content": "On it" }))
        .await;

    // Agent 6 (sales) is no party to it.
    let mut other = node.user("6", Role::SupportAgent).await;
    other
        .fails("forbidden", "support:end", json!({ "roomId": room }))
        .await;
    sam.ok("support:end", json!({ "roomId": room })).await;
    let written = node.stored(&room).await.len();
    sam.fails(
        "conflict",
        "message",
        json!({ "roomId": room, "content": "and another thing" }),
    )
    .await;
    // The agent does not rate its own chat.
    sam.fails(
        "forbidden",
        "support:rate",
        json!({ "roomId": room, "rating": 5 }),
    )
    .await;
    assert_eq!(node.stored(&room).await.len(), written);
}
