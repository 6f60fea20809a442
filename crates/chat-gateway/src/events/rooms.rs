//! `join` / `join:room` and `leave` / `leave:room`.
//!
//! Sockets are put in the rooms of all their conversations when they connect,
//! so `join` is about opening a room: it marks it read, tells the others, and
//! lets an admin (or the assigned agent of a support chat) become a participant.
//! `leave` announces that the user closed the room; it stays a participant and
//! keeps receiving the room's events (unread counts stay live).

use super::{ack_data, conversation_for, payload, store_error, user_room, Ctx, Outcome};
use chat_core::clock::now_millis;
use chat_core::policy::{room_access, Party, RoomAccess};
use chat_core::ChatError;
use chat_store::ConversationRecord;
use serde_json::{json, Value};
use std::sync::Arc;

async fn load(ctx: &Ctx, room_id: &str) -> Result<Arc<ConversationRecord>, ChatError> {
    ctx.app
        .rooms
        .get(ctx.app.store.as_ref(), room_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ChatError::not_found("no such room"))
}

/// The room, if the caller may be in it. An admin who is not a participant
/// observes it: its sockets get the room's events until it leaves, without
/// becoming a participant. The assigned agent of a support chat becomes one.
pub async fn enter(ctx: &Ctx, room_id: &str) -> Result<Arc<ConversationRecord>, ChatError> {
    let app = &ctx.app;
    let room = load(ctx, room_id).await?;
    match access(ctx, &room) {
        RoomAccess::Member => Ok(room),
        RoomAccess::MayEnter if ctx.me.is_admin() => {
            crate::deliver::join_user(app, &ctx.me.user_id, room_id).await;
            Ok(room)
        }
        RoomAccess::MayEnter => {
            app.store
                .add_participant(room_id, &ctx.me.user_id)
                .await
                .map_err(store_error)?;
            crate::deliver::join_user(app, &ctx.me.user_id, room_id).await;
            app.rooms
                .refresh(app.store.as_ref(), room_id)
                .await
                .map_err(store_error)?
                .ok_or_else(|| ChatError::not_found("no such room"))
        }
        RoomAccess::None => Err(ChatError::forbidden(
            "you are not a participant of this room",
        )),
    }
}

/// The room, if the caller is already a participant (or an admin, who may act in any room).
pub async fn member_room(ctx: &Ctx, room_id: &str) -> Result<Arc<ConversationRecord>, ChatError> {
    let room = load(ctx, room_id).await?;
    match access(ctx, &room) {
        RoomAccess::Member => Ok(room),
        RoomAccess::MayEnter if ctx.me.is_admin() => Ok(room),
        _ => Err(ChatError::forbidden(
            "you are not a participant of this room",
        )),
    }
}

/// Is `who` a participant of `room`? Broadcast channels are joined by
/// audience (every signed-in user, or a role), not by a list, so that a
/// channel of thousands costs nothing per member.
pub fn is_member(who: &chat_core::Identity, room: &ConversationRecord) -> bool {
    let listed = room.participants.contains(&who.user_id);
    if room.kind == chat_core::model::ConversationType::Channel {
        chat_core::policy::channel_member(&room.id, who.role, who.is_guest(), listed)
    } else {
        listed
    }
}

/// May the caller act (type, react, announce itself) in `room`? Channels are
/// read-only for non-admins.
pub fn may_act(ctx: &Ctx, room: &ConversationRecord) -> bool {
    let me = Party {
        id: &ctx.me.user_id,
        role: ctx.me.role,
    };
    chat_core::policy::may_act(me, room.kind)
}

fn access(ctx: &Ctx, room: &ConversationRecord) -> RoomAccess {
    let me = Party {
        id: &ctx.me.user_id,
        role: ctx.me.role,
    };
    let is_participant = is_member(&ctx.me, room);
    let agent = room.support.as_ref().and_then(|s| s.agent_id.as_deref());
    room_access(me, is_participant, room.kind, agent)
}

pub async fn join(ctx: &Ctx, data: Value) -> Outcome {
    let room_id = payload::room_id(&data, &ctx.app.limits)?;
    let entered = enter(ctx, &room_id).await?;
    let app = &ctx.app;
    if let Some(newest) = app
        .store
        .newest_message_id(&room_id)
        .await
        .map_err(store_error)?
    {
        app.store
            .mark_read(&room_id, &ctx.me.user_id, &newest, now_millis())
            .await
            .map_err(store_error)?;
    }
    if may_act(ctx, &entered) {
        crate::deliver::to(app, room_id.clone())
            .except(user_room(&ctx.me.user_id))
            .emit(
                "user:joined",
                &json!({ "userId": ctx.me.user_id, "roomId": room_id }),
            );
    }
    let room = conversation_for(app, &room_id, &ctx.me.user_id).await?;
    ack_data("room", &room)
}

pub async fn leave(ctx: &Ctx, data: Value) -> Outcome {
    let room_id = payload::room_id(&data, &ctx.app.limits)?;
    let room = member_room(ctx, &room_id).await?;
    if !is_member(&ctx.me, &room) {
        // An observing admin stops observing.
        crate::deliver::to(&ctx.app, user_room(&ctx.me.user_id))
            .leave(room_id.clone())
            .await;
    }
    if may_act(ctx, &room) {
        crate::deliver::to(&ctx.app, room_id.clone())
            .except(user_room(&ctx.me.user_id))
            .emit(
                "user:left",
                &json!({ "userId": ctx.me.user_id, "roomId": room_id }),
            );
    }
    Ok(Default::default())
}
