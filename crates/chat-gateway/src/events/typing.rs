//! `typing`, `typing:start`, `typing:stop`: relayed to the room's other
//! members, and ended by a timer when no stop comes.

use super::rooms::member_room;
use super::{payload, Ctx, Outcome};
use chat_core::ChatError;
use serde_json::{json, Map, Value};

/// `forced`: `Some(true|false)` for the start/stop spellings, `None` for `typing`
/// whose `isTyping` (default true) decides.
pub async fn typing(ctx: &Ctx, data: Value, forced: Option<bool>) -> Outcome {
    let app = &ctx.app;
    let room_id = payload::room_id(&data, &app.limits)?;
    let is_typing = match (forced, data.get("isTyping")) {
        (Some(f), _) => f,
        (None, None | Some(Value::Null)) => true,
        (None, Some(Value::Bool(b))) => *b,
        (None, Some(_)) => return Err(ChatError::invalid("isTyping must be a boolean")),
    };
    let room = member_room(ctx, &room_id).await?;
    if !super::rooms::may_act(ctx, &room) {
        return Err(ChatError::forbidden("channels are read-only"));
    }
    let user = ctx.me.user_id.clone();
    let changed = if is_typing {
        let generation = app.typing.start(&room_id, &user).await;
        let (app2, room2, user2) = (app.clone(), room_id.clone(), user.clone());
        tokio::spawn(async move {
            tokio::time::sleep(app2.typing.timeout()).await;
            if app2.typing.expire(&room2, &user2, generation).await {
                let payload = json!({ "userId": user2, "roomId": room2, "isTyping": false });
                crate::deliver::to(&app2, room2.clone())
                    .except(super::user_room(&user2))
                    .emit("typing", &payload);
            }
        });
        true
    } else {
        app.typing.stop(&room_id, &user).await
    };
    if changed {
        let payload = json!({ "userId": user, "roomId": room_id, "isTyping": is_typing });
        crate::deliver::to(app, room_id)
            .except(super::user_room(&ctx.me.user_id))
            .emit("typing", &payload);
    }
    Ok(Map::new())
}
