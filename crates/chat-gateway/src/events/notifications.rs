//! `push:subscribe` and `push:unsubscribe`: a signed-in user's browsers
//! for Web Push. What is sent to them, and when, is crate::notify's.

use super::{payload, Ctx, Outcome};
use chat_core::{ChatError, Role};
use chat_notify::Subscription;
use serde_json::{Map, Value};

/// `push:subscribe { endpoint, keys: { p256dh, auth } }`: keeps the browser's
/// subscription for the caller. Acks with the VAPID public key.
pub async fn subscribe(ctx: &Ctx, data: Value) -> Outcome {
    if ctx.me.is_guest() || ctx.me.role == Role::Public {
        return Err(ChatError::forbidden("guests do not get notifications"));
    }
    let sub: Subscription = payload::parse(data)?;
    sub.validate(ctx.app.config.push_allow_http)
        .map_err(|e| ChatError::invalid(e.to_string()))?;
    ctx.app
        .store
        .add_push_subscription(&ctx.me.user_id, sub.into(), chat_core::clock::now_millis())
        .await
        .map_err(|e| unavailable("cannot keep a push subscription", e))?;
    let mut out = Map::new();
    if let Some(key) = ctx.app.notifier.public_key() {
        out.insert("publicKey".into(), Value::String(key));
    }
    Ok(out)
}

/// A store failure, logged as `what` and answered `unavailable`.
fn unavailable(what: &'static str, e: chat_store::StoreError) -> ChatError {
    tracing::error!(error = %e, "{what}");
    ChatError::unavailable("try again")
}

/// Longest endpoint `push:subscribe` accepts (and so the longest stored).
const MAX_ENDPOINT_CHARS: usize = 2048;

/// `push:unsubscribe { endpoint }`: forgets the caller's subscription with
/// that endpoint (a browser signing out). Only the caller's own: another
/// user's subscription with the same endpoint is left alone, and the answer
/// does not say whether one exists. Acks `{ removed }`.
pub async fn unsubscribe(ctx: &Ctx, data: Value) -> Outcome {
    if ctx.me.is_guest() || ctx.me.role == Role::Public {
        return Err(ChatError::forbidden("guests do not get notifications"));
    }
    let endpoint = match data.as_object().map(|o| o.get("endpoint")) {
        None => return Err(ChatError::invalid("payload must be an object")),
        Some(None | Some(Value::Null)) => return Err(ChatError::invalid("endpoint is required")),
        Some(Some(Value::String(e))) => e.clone(),
        Some(Some(_)) => return Err(ChatError::invalid("endpoint must be a string")),
    };
    if endpoint.is_empty() {
        return Err(ChatError::invalid("endpoint must not be empty"));
    }
    if endpoint.len() > MAX_ENDPOINT_CHARS {
        return Err(ChatError::too_large("endpoint is too long"));
    }
    let removed = ctx
        .app
        .store
        .remove_push_subscription(&ctx.me.user_id, &endpoint)
        .await
        .map_err(|e| unavailable("cannot remove a push subscription", e))?;
    let mut out = Map::new();
    out.insert("removed".into(), Value::Bool(removed));
    Ok(out)
}
