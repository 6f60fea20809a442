//! Writing, editing and deleting messages: who may, and that a refusal
//! leaves the store as it was.

use crate::harness::Node;
use chat_core::Role;
use serde_json::json;

/// A direct conversation between student `1` and its course's instructor
/// `2` (two students may not start one), with one message of `1`'s.
async fn direct_with_one_message(node: &Node) -> (String, String) {
    let mut ada = node.user("1", Role::Student).await;
    let room = ada.direct_room("2").await;
    let sent = ada
        .ok(
            "message",
            json!({ "roomId": room, "content": "hello", "clientId": "c-1" }),
        )
        .await;
    let message = sent["message"]["id"].as_str().expect("an id").to_owned();
    (room, message)
}

#[tokio::test]
async fn a_non_member_cannot_post_into_a_conversation() {
    let node = Node::start().await;
    let (room, _) = direct_with_one_message(&node).await;
    let mut bob = node.user("3", Role::Student).await;
    bob.fails(
        "forbidden",
        "message",
        json!({ "roomId": room, "content": "let me in" }),
    )
    .await;
    let stored = node.stored(&room).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content, "hello");
}

#[tokio::test]
async fn only_the_author_edits_a_message() {
    let node = Node::start().await;
    let (_, message) = direct_with_one_message(&node).await;
    // A member, but not the author.
    let mut ian = node.user("2", Role::Instructor).await;
    ian.fails(
        "forbidden",
        "message:edit",
        json!({ "messageId": message, "content": "rewritten" }),
    )
    .await;
    // Not even an admin rewrites someone's words (and it is no member here).
    let mut root = node.user("9", Role::Admin).await;
    root.fails(
        "forbidden",
        "message:edit",
        json!({ "messageId": message, "content": "moderated" }),
    )
    .await;
    let kept = node.app.store.message(&message).await.unwrap().unwrap();
    assert_eq!(kept.content, "hello");

    let mut ada = node.user("1", Role::Student).await;
    let edited = ada
        .ok(
            "message:edit",
            json!({ "messageId": message, "content": "hello again" }),
        )
        .await;
    assert_eq!(edited["message"]["content"], "hello again");
    let stored = node.app.store.message(&message).await.unwrap().unwrap();
    assert_eq!(stored.content, "hello again");
}

#[tokio::test]
async fn the_author_or_an_admin_deletes_a_message_and_nobody_else() {
    let node = Node::start().await;
    let (room, message) = direct_with_one_message(&node).await;
    // Someone outside the room is not even told the message exists.
    let mut bob = node.user("3", Role::Student).await;
    bob.fails(
        "not_found",
        "message:delete",
        json!({ "messageId": message }),
    )
    .await;
    // A member who is not the author may not.
    let mut ian = node.user("2", Role::Instructor).await;
    ian.fails(
        "forbidden",
        "message:delete",
        json!({ "messageId": message }),
    )
    .await;
    let kept = node.app.store.message(&message).await.unwrap().unwrap();
    assert!(kept.deleted_at.is_none());

    // An admin moderates rooms it is not a member of.
    let mut root = node.user("9", Role::Admin).await;
    root.ok("message:delete", json!({ "messageId": message }))
        .await;
    let gone = node.app.store.message(&message).await.unwrap().unwrap();
    assert!(gone.deleted_at.is_some());
    // Deleted is deleted: a second delete finds nothing.
    let mut ada = node.user("1", Role::Student).await;
    ada.fails(
        "not_found",
        "message:delete",
        json!({ "messageId": message }),
    )
    .await;
    // Kept for the record, out of the transcript.
    assert!(node.stored(&room).await.is_empty());
}

#[tokio::test]
async fn only_admins_post_into_a_broadcast_channel() {
    let node = Node::start().await;
    let channel = chat_core::ConversationId::broadcast(None).into_string();
    let mut ada = node.user("1", Role::Student).await;
    ada.fails(
        "forbidden",
        "message",
        json!({ "roomId": channel, "content": "hi all" }),
    )
    .await;
    assert!(node.stored(&channel).await.is_empty());
    let mut root = node.user("9", Role::Admin).await;
    root.ok(
        "message",
        json!({ "roomId": channel, "content": "welcome" }),
    )
    .await;
    assert_eq!(node.stored(&channel).await.len(), 1);
}

#[tokio::test]
async fn a_broadcast_channel_holds_its_audience_and_no_guest() {
    let node = Node::start().await;
    let admins = chat_core::ConversationId::broadcast(Some(Role::Admin)).into_string();
    let everyone = chat_core::ConversationId::broadcast(None).into_string();
    let mut ada = node.user("1", Role::Student).await;
    ada.ok("join", json!({ "roomId": everyone })).await;
    ada.fails("forbidden", "join", json!({ "roomId": admins }))
        .await;
    let mut guest = node.guest().await;
    guest
        .fails("forbidden", "join", json!({ "roomId": everyone }))
        .await;
    let mut root = node.user("9", Role::Admin).await;
    root.ok("join", json!({ "roomId": admins })).await;
}

#[tokio::test]
async fn an_outsider_reads_no_history_and_a_member_reads_it_all() {
    let node = Node::start().await;
    let (room, message) = direct_with_one_message(&node).await;
    let mut bob = node.user("3", Role::Student).await;
    bob.fails("forbidden", "messages:history", json!({ "roomId": room }))
        .await;
    let mut ian = node.user("2", Role::Instructor).await;
    let page = ian.ok("messages:history", json!({ "roomId": room })).await;
    let ids: Vec<&str> = page["messages"]
        .as_array()
        .expect("a page")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, [message.as_str()]);
}

#[tokio::test]
async fn members_of_a_channel_neither_type_nor_react_in_it() {
    let node = Node::start().await;
    let channel = chat_core::ConversationId::broadcast(None).into_string();
    let mut root = node.user("9", Role::Admin).await;
    let posted = root
        .ok(
            "message",
            json!({ "roomId": channel, "content": "welcome" }),
        )
        .await;
    let message = posted["message"]["id"].as_str().unwrap().to_owned();
    let mut ada = node.user("1", Role::Student).await;
    ada.fails(
        "forbidden",
        "typing",
        json!({ "roomId": channel, "isTyping": true }),
    )
    .await;
    ada.fails(
        "forbidden",
        "message:react",
        json!({ "messageId": message, "emoji": "👍" }),
    )
    .await;
    let stored = node.app.store.message(&message).await.unwrap().unwrap();
    assert!(stored.reactions.is_empty());
    // An admin may.
    root.ok(
        "message:react",
        json!({ "messageId": message, "emoji": "👍" }),
    )
    .await;
}

/// A new message's ack carries exactly what the room got (the broadcast's
/// bytes, reused); a resend with the same `clientId` answers with the first
/// message, encoded afresh, and stores nothing more.
#[tokio::test]
async fn the_ack_of_a_new_message_is_what_the_room_got_and_a_resend_answers_the_same() {
    let node = Node::start().await;
    let mut ian = node.user("2", Role::Instructor).await;
    let mut ada = node.user("1", Role::Student).await;
    let room = ada.direct_room("2").await;
    let data = json!({ "roomId": room, "content": "same bytes", "clientId": "c-9" });
    let ack = ada.ok("message", data.clone()).await;
    assert_eq!(
        ack.as_object().map(|o| o.len()),
        Some(2),
        "ok and message only: {ack}"
    );
    let heard = ian.event("message").await;
    assert_eq!(ack["message"], heard);
    assert_eq!(ada.event("message").await, heard);
    assert_eq!(heard["content"], "same bytes");

    let again = ada.ok("message", data).await;
    assert_eq!(again["message"], ack["message"]);
    assert_eq!(node.stored(&room).await.len(), 1);
}
