//! The per-socket inbox (crate::inbox): a socket's events are handled in the
//! order they were sent, and a failure without an ack comes back as `chat:error`.

use crate::harness::Node;
use chat_core::Role;
use serde_json::json;

#[tokio::test]
async fn a_sockets_events_are_handled_and_stored_in_the_order_sent() {
    let node = Node::start().await;
    let mut ada = node.user("1", Role::Student).await;
    let room = ada.direct_room("2").await;
    // All sent before the first is answered (within the burst of 20 a user
    // may send at once).
    let mut asked = Vec::new();
    for i in 0..15 {
        let id = ada
            .emit_acked(
                "message",
                json!({ "roomId": room, "content": format!("m{i}") }),
            )
            .await;
        asked.push(id);
    }
    let mut acked = Vec::new();
    for id in asked {
        let ack = ada.ack(id).await;
        assert_eq!(ack["ok"], true, "{ack}");
        acked.push(ack["message"]["id"].as_str().unwrap().to_owned());
    }
    let stored = node.stored(&room).await;
    let contents: Vec<&str> = stored.iter().map(|m| m.content.as_str()).collect();
    let expected: Vec<String> = (0..15).map(|i| format!("m{i}")).collect();
    assert_eq!(contents, expected);
    // Ids increase in the order the messages were stored.
    let ids: Vec<&str> = stored.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, acked);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn a_failure_without_an_ack_comes_back_as_chat_error() {
    let node = Node::start().await;
    let mut ada = node.user("1", Role::Student).await;
    ada.emit("message", json!({ "content": 42 })).await;
    let error = ada.event("chat:error").await;
    assert_eq!(error["event"], "message");
    assert_eq!(error["code"], "invalid");
}
