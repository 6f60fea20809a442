//! Messages: send, edit, delete, react, read receipts, history and sync.

use super::conversations::open_conversation;
use super::rooms::{enter, member_room};
use super::{ack_data, payload, store_error, to_json, user_room, Ctx, Outcome};
use crate::metrics as m;
use crate::post::{post, Posted, Source};
use crate::reply::Answer;
use chat_core::clock::now_millis;
use chat_core::model::{ConversationType, Message, MessageType};
use chat_core::policy::{may_start_direct, Party};
use chat_core::{validate, ChatError, Role};
use chat_store::{ConversationRecord, NewMessage, Page};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Instant;

/// Most messages one `sync` call returns.
const SYNC_PAGE: usize = 500;
const DEFAULT_HISTORY_PAGE: i64 = 50;
const MAX_HISTORY_PAGE: i64 = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendMessage {
    room_id: Option<String>,
    recipient_id: Option<String>,
    #[serde(default)]
    content: String,
    #[serde(default)]
    attachments: Vec<String>,
    client_id: Option<String>,
    parent_id: Option<String>,
}

/// Answers with the stored message; a new one's ack carries the bytes its
/// broadcast encoded.
pub async fn send(ctx: &Ctx, data: Value) -> Result<Answer, ChatError> {
    let received = Instant::now();
    let app = &ctx.app;
    let limits = &app.limits;
    let req: SendMessage = payload::parse(data)?;
    let room_id = payload::opt_id("roomId", &req.room_id, limits)?;
    let recipient_id = payload::opt_id("recipientId", &req.recipient_id, limits)?;
    let client_id = payload::opt_id("clientId", &req.client_id, limits)?;
    let parent_id = match &req.parent_id {
        Some(p) => Some(payload::message_id("parentId", p)?),
        None => None,
    };
    let content = validate::message_body(&req.content, &req.attachments, limits)?;
    if !app.message_limiter.check(&ctx.me.user_id, 1).await {
        return Err(ChatError::rate_limited());
    }
    // Guests from one address share one budget: each connection is a new guest.
    if ctx.me.is_guest() && !app.abuse.guest_message(ctx.ip).await {
        return Err(ChatError::rate_limited());
    }

    let room = match (room_id, recipient_id) {
        (Some(room_id), _) => enter(ctx, &room_id).await?,
        (None, Some(recipient)) => direct_room(ctx, &recipient).await?,
        (None, None) => return Err(ChatError::invalid("roomId or recipientId is required")),
    };
    check_writable(ctx, &room)?;
    if let Some(parent) = &parent_id {
        let found = app.store.message(parent).await.map_err(store_error)?;
        if found.is_none_or(|p| p.room_id != room.id || p.deleted_at.is_some()) {
            return Err(ChatError::not_found(
                "parentId names no message of this room",
            ));
        }
    }
    let attachments = crate::attachments::resolve(app, &ctx.me.user_id, &req.attachments).await?;
    let kind = if content.is_empty() {
        MessageType::File
    } else {
        MessageType::Text
    };
    let new = NewMessage {
        // The store assigns the id (ids increase in commit order); making
        // one here cost a getrandom syscall per message for nothing.
        id: String::new(),
        conversation_id: room.id.clone(),
        author_id: ctx.me.user_id.clone(),
        author_name: author_name(ctx),
        content,
        kind,
        attachments,
        parent_id,
        client_id,
        at: now_millis(),
    };
    let posted = post(app, &room, new, Source::Member)
        .await
        .map_err(store_error)?;
    match posted {
        Posted::New(_, encoded) => {
            m::message_delivered(received.elapsed());
            Ok(Answer::Encoded {
                field: "message",
                value: encoded,
            })
        }
        Posted::Repeat(first) => ack_data("message", &first).map(Answer::Fields),
    }
}

/// A guest is named by its support form; a signed-in user by its token.
fn author_name(ctx: &Ctx) -> String {
    if ctx.me.is_guest() {
        ctx.app.people.name_of(&ctx.me.user_id)
    } else {
        ctx.me.name.clone()
    }
}

fn check_writable(ctx: &Ctx, room: &ConversationRecord) -> Result<(), ChatError> {
    let ended = room
        .support
        .as_ref()
        .is_some_and(|s| s.status == chat_store::SupportStatus::Ended);
    chat_core::rights::may_write(me(ctx), room.kind, ended)
}

fn me(ctx: &Ctx) -> Party<'_> {
    Party {
        id: &ctx.me.user_id,
        role: ctx.me.role,
    }
}

/// The direct conversation with `recipient`, created if routing allows it.
async fn direct_room(ctx: &Ctx, recipient: &str) -> Result<Arc<ConversationRecord>, ChatError> {
    let app = &ctx.app;
    // Both sides: the sender's own courses may still be on their way from
    // the lookup its connect started.
    crate::odoo::learn(app, &[ctx.me.user_id.clone(), recipient.to_owned()]).await;
    let target = app
        .people
        .party(recipient)
        .ok_or_else(|| ChatError::not_found("no such user"))?;
    if let Some(existing) = app
        .store
        .find_direct(&ctx.me.user_id, recipient)
        .await
        .map_err(store_error)?
    {
        return member_room(ctx, &existing).await;
    }
    let me = Party {
        id: &ctx.me.user_id,
        role: ctx.me.role,
    };
    if !may_start_direct(me, target, &app.people) {
        return Err(ChatError::forbidden(
            "routing policy does not allow a conversation with this user",
        ));
    }
    open_conversation(
        ctx,
        ConversationType::Direct,
        None,
        vec![ctx.me.user_id.clone(), recipient.to_owned()],
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Edit {
    message_id: String,
    content: String,
}

pub async fn edit(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: Edit = payload::parse(data)?;
    let id = payload::message_id("messageId", &req.message_id)?;
    let content = validate::content(&req.content, &app.limits)?;
    // Edits are rate-limited like messages (they reach the whole room too).
    if !app.message_limiter.check(&ctx.me.user_id, 1).await {
        return Err(ChatError::rate_limited());
    }
    let message = existing_message(ctx, &id).await?;
    chat_core::rights::may_edit_message(&ctx.me.user_id, &message.author_id)?;
    if content.is_empty() && message.attachments.is_empty() {
        return Err(ChatError::invalid("content must not be empty"));
    }
    let room = member_room(ctx, &message.room_id).await?;
    check_writable(ctx, &room)?;
    let _ordered = app.message_locks.lock(&id).await;
    let mut updated = app
        .store
        .edit_message(&id, content, now_millis())
        .await
        .map_err(store_error)?;
    crate::attachments::refresh_urls(app, std::slice::from_mut(&mut updated));
    crate::deliver::to(app, room.id.clone()).emit("message:updated", &updated);
    ack_data("message", &updated)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ById {
    message_id: String,
}

pub async fn delete(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: ById = payload::parse(data)?;
    let id = payload::message_id("messageId", &req.message_id)?;
    let message = existing_message(ctx, &id).await?;
    chat_core::rights::may_delete_message(me(ctx), &message.author_id)?;
    if ctx.me.role != Role::Admin {
        member_room(ctx, &message.room_id).await?;
    }
    let _ordered = app.message_locks.lock(&id).await;
    app.store
        .delete_message(&id, now_millis())
        .await
        .map_err(store_error)?;
    crate::deliver::to(app, message.room_id.clone()).emit(
        "message:deleted",
        &json!({ "roomId": message.room_id, "messageId": id }),
    );
    Ok(Map::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct React {
    message_id: String,
    emoji: String,
}

pub async fn react(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: React = payload::parse(data)?;
    let id = payload::message_id("messageId", &req.message_id)?;
    let emoji = validate::emoji(&req.emoji)?;
    // Every toggle reaches the whole room: rate-limited like messages.
    if !app.message_limiter.check(&ctx.me.user_id, 1).await {
        return Err(ChatError::rate_limited());
    }
    let message = existing_message(ctx, &id).await?;
    let room = member_room(ctx, &message.room_id).await?;
    if !super::rooms::may_act(ctx, &room) {
        return Err(ChatError::forbidden("channels are read-only"));
    }
    let _ordered = app.message_locks.lock(&id).await;
    // Under the message's lock: the caps see every earlier toggle.
    let current = app
        .store
        .message(&id)
        .await
        .map_err(store_error)?
        .map(|m| m.reactions)
        .unwrap_or_default();
    validate::reaction_toggle(&current, &ctx.me.user_id, &emoji)?;
    let (_, reactions) = app
        .store
        .toggle_reaction(&id, &ctx.me.user_id, &emoji, now_millis())
        .await
        .map_err(store_error)?;
    crate::deliver::to(app, message.room_id.clone()).emit(
        "message:reaction",
        &json!({ "roomId": message.room_id, "messageId": id, "reactions": reactions }),
    );
    ack_data("reactions", &reactions)
}

/// A message the caller may see: it exists, is not deleted, and the caller is in its room.
async fn existing_message(ctx: &Ctx, id: &str) -> Result<Message, ChatError> {
    let message = ctx
        .app
        .store
        .message(id)
        .await
        .map_err(store_error)?
        .filter(|m| m.deleted_at.is_none())
        .ok_or_else(|| ChatError::not_found("no such message"))?;
    // Do not reveal messages of rooms the caller is not in.
    let room = ctx
        .app
        .rooms
        .get(ctx.app.store.as_ref(), &message.room_id)
        .await
        .map_err(store_error)?;
    let visible =
        room.is_some_and(|r| super::rooms::is_member(&ctx.me, &r)) || ctx.me.role == Role::Admin;
    if !visible {
        return Err(ChatError::not_found("no such message"));
    }
    Ok(message)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Read {
    room_id: String,
    message_id: String,
}

pub async fn read(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: Read = payload::parse(data)?;
    let room_id = payload::id("roomId", &req.room_id, &app.limits)?;
    let message_id = payload::message_id("messageId", &req.message_id)?;
    let room = member_room(ctx, &room_id).await?;
    let at = now_millis();
    app.store
        .mark_read(&room_id, &ctx.me.user_id, &message_id, at)
        .await
        .map_err(store_error)?;
    let receipt = json!({
        "roomId": room_id, "messageId": message_id, "userId": ctx.me.user_id,
        "readAt": chat_core::clock::format_millis(at),
    });
    // In a channel a non-admin's receipt goes to its own tabs only (its
    // unread count), not to the whole audience.
    let to = if super::rooms::may_act(ctx, &room) {
        room_id
    } else {
        user_room(&ctx.me.user_id)
    };
    crate::deliver::to(app, to).emit("message:read", &receipt);
    Ok(Map::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct History {
    room_id: String,
    before: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

pub async fn history(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: History = payload::parse(data)?;
    let room_id = payload::id("roomId", &req.room_id, &app.limits)?;
    let before = req
        .before
        .as_deref()
        .map(|b| payload::message_id("before", b))
        .transpose()?;
    let after = req
        .after
        .as_deref()
        .map(|a| payload::message_id("after", a))
        .transpose()?;
    if before.is_some() && after.is_some() {
        return Err(ChatError::invalid("give before or after, not both"));
    }
    let limit = req.limit.unwrap_or(DEFAULT_HISTORY_PAGE);
    if limit < 1 {
        return Err(ChatError::invalid("limit must be a positive integer"));
    }
    if ctx.me.role != Role::Admin {
        member_room(ctx, &room_id).await?;
    } else if app
        .rooms
        .get(app.store.as_ref(), &room_id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(ChatError::not_found("no such room"));
    }
    let page = Page {
        before,
        after,
        limit: limit.min(MAX_HISTORY_PAGE) as usize,
    };
    let (mut messages, has_more) = app
        .store
        .history(&room_id, page)
        .await
        .map_err(store_error)?;
    crate::attachments::refresh_urls(app, &mut messages);

    let mut out = Map::new();
    out.insert("messages".into(), to_json(&messages)?);
    out.insert("hasMore".into(), Value::Bool(has_more));
    Ok(out)
}

#[derive(Deserialize)]
struct Sync {
    since: String,
}

pub async fn sync(ctx: &Ctx, data: Value) -> Outcome {
    let req: Sync = payload::parse(data)?;
    let since = payload::message_id("since", &req.since)?;
    m::synced(&ctx.synced);
    let (mut messages, has_more) = ctx
        .app
        .store
        .sync(&ctx.me.user_id, &since, SYNC_PAGE)
        .await
        .map_err(store_error)?;
    crate::attachments::refresh_urls(&ctx.app, &mut messages);

    let mut out = Map::new();
    out.insert("messages".into(), to_json(&messages)?);
    out.insert("hasMore".into(), Value::Bool(has_more));
    Ok(out)
}
