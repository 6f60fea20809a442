//! Client events (§3), one module per concept. Each handler takes the socket's
//! context and the raw payload, validates it, and returns the ack data or a
//! [`ChatError`]; [`dispatch`] turns that into the ack or `chat:error`.

pub mod connection;
pub mod console;
pub mod conversations;
pub mod messages;
pub mod notifications;
pub mod payload;
pub mod rooms;
pub mod support;
pub mod typing;

// Room names are the delivery layer's, conversation views the views'
// module's; handlers use them all the time.
pub use crate::deliver::{role_room, user_room};
use crate::inbox::{Handling, Inbound};
use crate::reply::Answer;
use crate::state::App;
pub use crate::views::{conversation_view, online_in};
use chat_core::model::Conversation;
use chat_core::{ChatError, Identity};
use chat_store::StoreError;
use serde::Serialize;
use serde_json::{Map, Value};
use socketioxide::adapter::Adapter;
use std::sync::Arc;

/// What a handler knows: the app, the socket, and who is behind it. One per
/// socket, owned by its inbox; handlers borrow it.
pub struct Ctx {
    pub app: App,
    /// The client's address (crate::client_addr), when known: the per-address
    /// limits on guests and transcripts count by it (crate::limits).
    pub ip: Option<std::net::IpAddr>,
    pub me: Arc<Identity>,
    /// Whether the socket has called `sync` already (counts reconnections).
    /// In the socket's one `Ctx` (its inbox's), so no heap block of its own.
    pub synced: std::sync::atomic::AtomicBool,
}

/// A handler's result: the ack's data fields, or the error.
pub type Outcome = Result<Map<String, Value>, ChatError>;

pub async fn dispatch<A: Adapter>(ctx: &Ctx, inbound: Inbound<A>) {
    let Inbound { event, data, reply } = inbound;
    crate::metrics::event_received(&event);
    let outcome = match data {
        // A new message's ack reuses the bytes its broadcast encoded.
        Ok(data) if event == "message" => messages::send(ctx, data).await,
        // Boxed: `route`'s future is as large as its largest handler's
        // (6.7 KB), and unboxed it would make this future, which the inbox
        // boxes for every event, that large for every message too: 1.7 KB
        // with the message handler alone (perf: copying 6.7 KB per message
        // was 1-3 % of the tokio workers' samples under the ack benchmark).
        Ok(data) => Box::pin(route(ctx, &event, data)).await.map(Answer::Fields),
        Err(_) => Err(ChatError::invalid("payload could not be decoded")),
    };
    // In a cluster, what the event broadcast leaves for the other nodes
    // before its ack (bounded: Redis being away delays acks, never stops them).
    if let Some(flushed) = ctx.app.fanout.flushed() {
        let _ = tokio::time::timeout(crate::cluster::ACK_WAITS_FOR_PUBLISH, flushed).await;
    }
    reply.send(outcome);
}

/// [`dispatch`] as a socket's inbox runs it (crate::inbox::Inbox::start).
pub(crate) fn dispatch_boxed<A: Adapter>(ctx: &Ctx, inbound: Inbound<A>) -> Handling<'_> {
    Box::pin(dispatch(ctx, inbound))
}

/// Every event but `message` (see [`dispatch`]), to its handler.
async fn route(ctx: &Ctx, event: &str, data: Value) -> Outcome {
    match event {
        "join" | "join:room" => rooms::join(ctx, data).await,
        "leave" | "leave:room" => rooms::leave(ctx, data).await,
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
        "push:subscribe" => notifications::subscribe(ctx, data).await,
        "push:unsubscribe" => notifications::unsubscribe(ctx, data).await,
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

/// The conversation as `user` sees it, straight from the store.
pub async fn conversation_for(app: &App, id: &str, user: &str) -> Result<Conversation, ChatError> {
    crate::views::conversation_of(app, id, user)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ChatError::not_found("no such conversation"))
}
