//! Client events (§3), one module per concept. Each handler takes the socket's
//! context and the raw payload, validates it, and returns the ack data or a
//! [`ChatError`]; [`dispatch`] turns that into the ack or `chat:error`.

pub mod connection;
pub mod console;
pub mod conversations;
pub mod messages;
pub mod payload;
pub mod rooms;
pub mod support;
pub mod typing;

use crate::inbox::Inbound;
use crate::state::App;
use chat_core::model::{Conversation, Participant};
use chat_core::{ChatError, Identity};
use chat_store::{ConversationRecord, ConversationSummary, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};
use socketioxide::socket::Sid;
use std::sync::Arc;

/// What a handler knows: the app, the socket, and who is behind it.
#[derive(Clone)]
pub struct Ctx {
    pub app: App,
    pub sid: Sid,
    pub me: Arc<Identity>,
}

/// A handler's result: the ack's data fields, or the error.
pub type Outcome = Result<Map<String, Value>, ChatError>;

pub async fn dispatch(ctx: &Ctx, inbound: Inbound) {
    let Inbound { event, data, reply } = inbound;
    crate::metrics::event_received(&event);
    let outcome = match data {
        Ok(data) => route(ctx, &event, data).await,
        Err(_) => Err(ChatError::invalid("payload could not be decoded")),
    };
    reply.send(outcome);
}

async fn route(ctx: &Ctx, event: &str, data: Value) -> Outcome {
    match event {
        "join" | "join:room" => rooms::join(ctx, data).await,
        "leave" | "leave:room" => rooms::leave(ctx, data).await,
        "message" => messages::send(ctx, data).await,
        "message:edit" => messages::edit(ctx, data).await,
        "message:delete" => messages::delete(ctx, data).await,
        "message:react" => messages::react(ctx, data).await,
        "read" | "message:read" => messages::read(ctx, data).await,
        "messages:history" => messages::history(ctx, data).await,
        "sync" => messages::sync(ctx, data).await,
        "typing" => typing::typing(ctx, data, None).await,
        "typing:start" => typing::typing(ctx, data, Some(true)).await,
        "typing:stop" => typing::typing(ctx, data, Some(false)).await,
        "conversations:list" => conversations::list(ctx, data).await,
        "conversation:create" => conversations::create(ctx, data).await,
        "users:search" => conversations::search_users(ctx, data).await,
        "broadcast" => conversations::broadcast(ctx, data).await,
        "support:start" => support::start(ctx, data).await,
        "support:end" => support::end(ctx, data).await,
        "support:rate" => support::rate(ctx, data).await,
        "support:transcript" => support::transcript(ctx, data).await,
        "agent:status" => support::agent_status(ctx, data).await,
        "support:queue" => console::queue(ctx, data).await,
        "support:take" => console::take(ctx, data).await,
        "support:transfer" => console::transfer(ctx, data).await,
        "support:visitor" => console::visitor(ctx, data).await,
        "support:desk" => console::desk(ctx, data).await,
        "push:subscribe" => crate::notify::subscribe(ctx, data).await,
        "push:unsubscribe" => crate::notify::unsubscribe(ctx, data).await,
        _ => Err(ChatError::invalid("unknown event")),
    }
}

/// Builds ack data from `(field, value)` pairs.
pub fn ack_data<T: Serialize>(field: &str, value: &T) -> Outcome {
    let mut map = Map::new();
    map.insert(field.to_owned(), to_json(value)?);
    Ok(map)
}

pub fn to_json<T: Serialize>(value: &T) -> Result<Value, ChatError> {
    serde_json::to_value(value).map_err(|_| ChatError::unavailable("could not encode the answer"))
}

/// Maps store failures to the wire's codes; internals are logged, never sent.
pub fn store_error(err: StoreError) -> ChatError {
    match err {
        StoreError::NotFound => ChatError::not_found("not found"),
        StoreError::Conflict(m) => ChatError::conflict(m),
        other => {
            tracing::error!(error = %other, "store failure");
            ChatError::unavailable("storage is unavailable; try again")
        }
    }
}

/// A conversation as one user sees it on the wire.
pub fn conversation_view(app: &App, summary: ConversationSummary) -> Conversation {
    let ConversationSummary {
        record,
        unread_count,
        mut last_message,
    } = summary;
    // A stored message's attachment URLs were signed when it was sent: sign
    // them again, as history and sync do, so a list read later still works.
    if let Some(m) = last_message.as_mut() {
        crate::attachments::refresh_urls(app, std::slice::from_mut(m));
    }
    let participants = participants_view(app, &record);
    let support = record
        .support
        .as_ref()
        .map(|s| chat_core::model::SupportInfo {
            visitor_id: s.visitor_id.clone(),
            visitor_name: s.visitor_name.clone(),
            visitor_email: s.visitor_email.clone(),
            query_type: s.query_type.clone(),
            department: s.department.clone(),
            agent_id: s.agent_id.clone(),
            started_at: s.started_at,
            ended_at: s.ended_at,
            rating: s.rating,
        });
    Conversation {
        id: record.id,
        kind: record.kind,
        name: record.name,
        participants,
        unread_count,
        last_message,
        status: record
            .support
            .as_ref()
            .map(|s| s.status.as_str().to_owned()),
        support,
        created_at: record.created_at,
        last_activity_at: record.last_activity_at,
    }
}

pub fn participants_view(app: &App, record: &ConversationRecord) -> Vec<Participant> {
    if record.kind == chat_core::model::ConversationType::Channel {
        // A broadcast channel's audience is a role, not a list worth sending.
        return Vec::new();
    }
    record
        .participants
        .iter()
        .map(|id| {
            let user = app.people.get(id);
            Participant {
                id: id.clone(),
                name: user
                    .as_ref()
                    .map(|u| u.name.clone())
                    .unwrap_or_else(|| id.clone()),
                role: user.map(|u| u.role).unwrap_or(chat_core::Role::Public),
                online: app.presence.is_online(id),
            }
        })
        .collect()
}

/// The conversation as `user` sees it, straight from the store.
pub async fn conversation_for(app: &App, id: &str, user: &str) -> Result<Conversation, ChatError> {
    let summary = app
        .store
        .summary_for(id, user)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ChatError::not_found("no such conversation"))?;
    Ok(conversation_view(app, summary))
}

pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

pub fn role_room(role: chat_core::Role) -> String {
    format!("role:{role}")
}
