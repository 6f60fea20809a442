//! What the gateway tells others when someone comes or goes: `user:online`
//! and `user:offline` once presence has settled, and `typing` stopped for a
//! user who left every node. The socket's connect and disconnect
//! (`events/connection.rs`) and other nodes' news (`shared_state.rs`) both
//! call it; it knows neither.

use crate::deliver::{self, role_room, user_room};
use crate::state::App;
use serde_json::json;

/// Brings what others were told in line with whether the user is online now.
/// Runs under the user's presence lock, so tabs opening and closing at once
/// can never leave others with `user:online` after the last tab closed (or
/// the reverse): whatever the interleaving, the last announcement matches
/// the final count. With several nodes the "what others were told" is in
/// Redis and flipped by one script, so each change is announced by one node
/// (also when a dead node's users are counted out: `shared_state.rs`).
pub(crate) async fn settle_presence(app: &App, user_id: &str) {
    let _order = app.presence.order(user_id).await;
    if let Some(online) = app.presence.settle(user_id).await {
        let rooms = app
            .store
            .conversation_ids_of(user_id)
            .await
            .unwrap_or_default();
        let event = if online {
            "user:online"
        } else {
            "user:offline"
        };
        announce_presence(app, user_id, rooms, event).await;
    }
}

/// The user left every node: whatever it was typing stops, for everyone.
pub(crate) async fn stop_typing(app: &App, user_id: &str) {
    for room in app.typing.rooms_of(user_id).await {
        if app.typing.stop(&room, user_id).await {
            let payload = json!({ "userId": user_id, "roomId": room, "isTyping": false });
            deliver::to(app, room).emit("typing", &payload);
        }
    }
}

/// `user:online` / `user:offline` go to those who share a conversation with
/// the user, and to admins (who see everyone).
async fn announce_presence(app: &App, user_id: &str, rooms: Vec<String>, event: &str) {
    // Broadcast channels hold everyone: sharing one is not knowing each other.
    let mut targets: Vec<String> = rooms
        .into_iter()
        .filter(|r| !chat_core::ConversationId::is_broadcast_id(r))
        .collect();
    targets.push(role_room(chat_core::Role::Admin).to_owned());
    deliver::to_any(app, targets)
        .except(user_room(user_id))
        .emit(event, user_id);
}
