//! The agents' console (events::console): who may use it, and that an agent
//! takes only the queued chats of the departments it serves.

use crate::harness::Node;
use chat_core::Role;
use serde_json::json;

#[tokio::test]
async fn only_staff_use_the_console() {
    let node = Node::start().await;
    let mut guest = node.guest().await;
    guest
        .fails("unauthorized", "support:queue", json!({}))
        .await;
    let mut ada = node.user("1", Role::Student).await;
    ada.fails("forbidden", "support:queue", json!({})).await;
    ada.fails(
        "forbidden",
        "support:take",
        json!({ "roomId": "01900000-0000-7000-8000-000000000000" }),
    )
    .await;
    let mut sam = node.user("5", Role::SupportAgent).await;
    sam.ok("support:queue", json!({})).await;
}

#[tokio::test]
async fn an_agent_takes_a_queued_chat_of_its_department_only_and_once() {
    let node = Node::start().await;
    // Nobody of `support` (nor `general`) is connected: the chat waits.
    let mut guest = node.guest().await;
    let room = guest.start_support_chat().await;
    assert_eq!(
        node.app.support.snapshot().await.unwrap().position(&room),
        Some(1)
    );

    // Agent 6 serves `sales`.
    let mut sally = node.user("6", Role::SupportAgent).await;
    sally
        .fails("forbidden", "support:take", json!({ "roomId": room }))
        .await;
    let record = node.app.store.conversation(&room).await.unwrap().unwrap();
    assert_eq!(record.support.and_then(|s| s.agent_id), None);

    // Agent 5 serves `support`. Connecting takes the chat from the queue
    // already (it is available); taking it again finds it gone.
    let mut sam = node.user("5", Role::SupportAgent).await;
    sam.fails("conflict", "support:take", json!({ "roomId": room }))
        .await;
    let record = node.app.store.conversation(&room).await.unwrap().unwrap();
    assert_eq!(
        record.support.and_then(|s| s.agent_id).as_deref(),
        Some("5")
    );
    assert_eq!(
        node.app.support.snapshot().await.unwrap().position(&room),
        None
    );
}
