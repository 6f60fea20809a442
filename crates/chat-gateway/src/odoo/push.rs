//! `POST /internal/odoo/events`: what Odoo tells the gateway (API doc §6).
//!
//! Only Odoo may call it: the body is signed with HMAC-SHA256 over
//! `"<X-Seitech-Timestamp>.<raw body>"` with the shared push secret, and the
//! timestamp must be within five minutes of our clock (no replays later).
//! A refused push changes nothing.

use crate::events::support;
use crate::state::App;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_core::clock::{now_millis, parse_timestamp};
use chat_core::model::{Attachment, MessageType};
use chat_core::{validate, Role};
use chat_store::{Appended, NewMessage, SupportStatus};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Instant;

const MAX_SKEW_SECS: i64 = 300;

/// Checks the signature headers against the raw body.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now_secs: i64) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(sig)) = (header("x-seitech-timestamp"), header("x-seitech-signature"))
    else {
        return false;
    };
    let Ok(ts_secs) = ts.trim().parse::<i64>() else {
        return false;
    };
    if (now_secs - ts_secs).abs() > MAX_SKEW_SECS {
        return false;
    }
    let Some(hex_sig) = sig.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(ts.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    // Constant-time comparison.
    mac.verify_slice(&given).is_ok()
}

#[derive(Deserialize)]
struct Push {
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

pub async fn receive(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(odoo) = app.odoo.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(secret) = odoo.push_secret.as_deref() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "ODOO_PUSH_SECRET is not set" })),
        )
            .into_response();
    };
    if !verify(secret, &headers, &body, now_millis() / 1000) {
        tracing::warn!("refused an Odoo push with a bad or stale signature");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "bad signature" })),
        )
            .into_response();
    }
    let push: Push = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": format!("bad body: {e}") })),
            )
                .into_response()
        }
    };
    for event in push.events {
        if odoo.seen_events.contains_key(&event.id) {
            continue;
        }
        let handled = match event.kind.as_str() {
            "message" => message(&app, &event.data).await,
            "conversation" => conversation(&app, &event.data).await,
            "agent" => agent(&app, &event.data).await,
            "retry" => retry(&app, &event.data).await,
            "user" => {
                if let Some(id) = event.data.get("user_id").and_then(Value::as_str) {
                    odoo.forget_user(id);
                }
                Ok(())
            }
            _ => Ok(()), // forward compatibility: unknown types are ignored
        };
        match handled {
            Ok(()) => {
                odoo.seen_events.insert(event.id, Instant::now());
            }
            Err(reason) => {
                // A retry will not help a malformed event; say so and move on.
                tracing::warn!(event = %event.id, reason, "ignored an Odoo event");
            }
        }
    }
    Json(json!({ "ok": true })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PushedMessage {
    id: String,
    author_id: Option<String>,
    author_name: Option<String>,
    #[serde(default)]
    content: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    parent_id: Option<String>,
    created_at: Option<String>,
}

/// An attachment URL a client may follow: absolute http(s), or this gateway's.
fn is_linkable(url: &str) -> bool {
    crate::attachments::is_own_url(url)
        || url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

async fn message(app: &App, data: &Value) -> Result<(), String> {
    let room_id = data
        .get("conversation_id")
        .and_then(Value::as_str)
        .ok_or("no conversation_id")?
        .to_owned();
    let m: PushedMessage =
        serde_json::from_value(data.get("message").cloned().unwrap_or(Value::Null))
            .map_err(|e| e.to_string())?;
    let id = uuid::Uuid::parse_str(&m.id)
        .map_err(|_| "message id is not a uuid")?
        .to_string();
    let content = validate::content(&m.content, &app.limits).map_err(|e| e.message)?;
    // Browsers put these in href and src: only web links, or the gateway's own.
    if let Some(bad) = m.attachments.iter().find(|a| !is_linkable(&a.url)) {
        return Err(format!("attachment {} has no http(s) url", bad.id));
    }
    let room = app
        .rooms
        .get(app.store.as_ref(), &room_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("unknown conversation")?;
    let author_id = m.author_id.unwrap_or_else(|| "system".into());
    let author_name = m
        .author_name
        .map(|n| validate::clean_text(&n))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| app.people.name_of(&author_id));
    let kind = m
        .kind
        .as_deref()
        .and_then(|k| k.parse().ok())
        .unwrap_or(MessageType::Text);
    let appended = app
        .store
        .import_message(NewMessage {
            id,
            conversation_id: room.id.clone(),
            author_id,
            author_name,
            content,
            kind,
            attachments: m.attachments,
            parent_id: m.parent_id,
            client_id: None,
            at: m
                .created_at
                .as_deref()
                .and_then(parse_timestamp)
                .unwrap_or_else(now_millis),
        })
        .await
        .map_err(|e| e.to_string())?;
    if let Appended::New(message) = appended {
        metrics::counter!(crate::metrics::MESSAGES_TOTAL, "type" => message.kind.as_str())
            .increment(1);
        crate::metrics::message_posted(&room, &message.author_id);
        // Socket by socket: a slow reader is disconnected, never skipped (crate::deliver).
        crate::deliver::to(app, room.id.clone()).emit("message", &message);
        crate::notify::offline_participants(app, &room, &message).await;
    }
    Ok(())
}

/// `conversation`: what a manager changed in the back office. `status:
/// "ended"` ends the chat; an `assigned_agent_id` other than the chat's agent
/// hands the chat over to that agent (a queued chat an agent took, or a
/// reassignment). Applying the same event twice changes nothing the second
/// time. A chat ended here stays ended.
async fn conversation(app: &App, data: &Value) -> Result<(), String> {
    let room_id = data
        .get("conversation_id")
        .and_then(Value::as_str)
        .ok_or("no conversation_id")?;
    let agent = match data.get("assigned_agent_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err("assigned_agent_id is not a user id".into()),
    };
    if let Some(agent) = &agent {
        validate::identifier("assigned_agent_id", agent, &app.limits).map_err(|e| e.message)?;
        if agent.starts_with("guest_") {
            return Err("assigned_agent_id names a guest".into());
        }
    }
    let room = app
        .rooms
        .get(app.store.as_ref(), room_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("unknown conversation")?;
    let Some(support) = room.support.clone() else {
        return Ok(()); // only support chats have a status or an agent
    };
    if support.status == SupportStatus::Ended {
        return Ok(());
    }
    if data.get("status").and_then(Value::as_str) == Some("ended") {
        return support::end_chat(app, room_id, &support.visitor_id)
            .await
            .map_err(|e| e.to_string());
    }
    // No agent named: nothing to hand over. (Odoo refuses to clear the agent
    // of an active chat; the gateway never takes a chat from its agent
    // without giving it to another.)
    let Some(agent) = agent else {
        return Ok(());
    };
    if support.status == SupportStatus::Active && support.agent_id.as_deref() == Some(&agent) {
        return Ok(()); // already so: a repeated or stale push
    }
    crate::odoo::learn(app, std::slice::from_ref(&agent)).await;
    let role = app
        .people
        .get(&agent)
        .map(|u| u.role)
        .ok_or("assigned_agent_id names an unknown user")?;
    match role {
        Role::SupportAgent => app
            .support
            .register_agent(&agent, app.people.agent_config(&agent)),
        Role::Admin => {}
        _ => return Err("assigned_agent_id names a user who is not a support agent".into()),
    }
    let moved = app
        .support
        .reassign(room_id, &support.visitor_id, &agent)
        .unwrap_or_default();
    // The store's agent is the one participants and sockets know; the desk's
    // is the one it counted (they differ only if the desk never knew it).
    let previous = support.agent_id.clone().or(moved.from);
    support::reassign(app, room_id, &agent, previous.as_deref()).await;
    support::apply(app, moved.changes).await;
    Ok(())
}

/// A manager asked, from Odoo's back office, to send refused items again
/// (after fixing their cause): the dead letters with these uuids go back
/// into the outbox, at their original place.
async fn retry(app: &App, data: &Value) -> Result<(), String> {
    let uuids: Vec<String> = data
        .get("uuids")
        .and_then(Value::as_array)
        .ok_or("uuids must be a list")?
        .iter()
        .map(|u| u.as_str().map(str::to_owned).ok_or("uuids must be strings"))
        .collect::<Result<_, _>>()?;
    if uuids.len() > 500 {
        return Err("at most 500 uuids per retry".into());
    }
    let moved = app
        .store
        .outbox_requeue(&uuids)
        .await
        .map_err(|e| format!("cannot re-queue: {e}"))?;
    tracing::info!(
        asked = uuids.len(),
        moved,
        "Odoo asked to retry dead letters"
    );
    if let Some(wake) = app.odoo.as_ref().and_then(|o| o.wake.get()) {
        wake.notify_one();
    }
    Ok(())
}

async fn agent(app: &App, data: &Value) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Agent {
        user_id: String,
        department: String,
        max_concurrent_chats: u32,
        is_available: bool,
        #[serde(default)]
        away_message: Option<String>,
    }
    let a: Agent = serde_json::from_value(data.clone()).map_err(|e| e.to_string())?;
    app.support
        .configure_agent(&chat_core::directory::AgentConfig {
            user_id: a.user_id,
            department: a.department,
            max_concurrent_chats: a.max_concurrent_chats.max(1),
            available: a.is_available,
            away_message: a.away_message.filter(|m| !m.is_empty()),
        });
    let changes = app.support.refill();
    support::apply(app, changes).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn signed(secret: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(body);
        let sig = hex::encode(mac.finalize().into_bytes());
        let mut h = HeaderMap::new();
        h.insert(
            "x-seitech-timestamp",
            HeaderValue::from_str(&ts.to_string()).unwrap(),
        );
        h.insert(
            "x-seitech-signature",
            HeaderValue::from_str(&format!("sha256={sig}")).unwrap(),
        );
        h
    }

    #[test]
    fn signatures_are_checked_over_timestamp_and_body() {
        let body = br#"{"version":1,"events":[]}"#;
        let now = 1_764_000_000;
        assert!(verify("s3cret", &signed("s3cret", now, body), body, now));
        assert!(
            !verify("s3cret", &signed("other", now, body), body, now),
            "wrong secret"
        );
        assert!(
            !verify("s3cret", &signed("s3cret", now, body), b"{}", now),
            "body changed"
        );
        assert!(
            !verify("s3cret", &signed("s3cret", now - 301, body), body, now),
            "stale"
        );
        assert!(
            !verify("s3cret", &HeaderMap::new(), body, now),
            "no headers"
        );
        let mut h = signed("s3cret", now, body);
        h.insert(
            "x-seitech-timestamp",
            HeaderValue::from_static("1764000001"),
        );
        assert!(
            !verify("s3cret", &h, body, now),
            "timestamp is inside the MAC"
        );
    }
}
