//! Each kind of event Odoo pushes, applied: `message` (a reply from the
//! back office, posted as any message), `conversation` (a manager ended or
//! reassigned a support chat), `agent` (an agent's desk settings), `retry`
//! (dead letters back into the outbox) and `user` (forget what is cached).
//! [`EventError`] says whether an event that failed is worth sending again.

use crate::post::{post, Source};
use crate::state::App;
use crate::support::{self, DeskError};
use chat_cluster::invalidation::Invalidated;
use chat_core::clock::{now_millis, parse_timestamp};
use chat_core::model::{Attachment, MessageType};
use chat_core::{validate, Role};
use chat_store::{NewMessage, StoreError, SupportStatus};
use serde::Deserialize;
use serde_json::Value;

/// Why one event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event cannot be applied as it is (malformed, or naming what is
    /// not there): sending it again would fail the same way. It is skipped,
    /// logged and listed in the answer's `ignored`; the push still succeeds.
    #[error("{0}")]
    Invalid(String),
    /// The store failed: applying it later can succeed.
    #[error("the store failed: {0}")]
    Store(StoreError),
    /// The support desk (its Redis) did not answer: nothing was decided.
    #[error("the support desk failed: {0}")]
    Desk(#[from] DeskError),
}

impl EventError {
    /// Whether the same event may succeed later (Odoo should resend it).
    pub fn is_transient(&self) -> bool {
        !matches!(self, EventError::Invalid(_))
    }
}

impl From<StoreError> for EventError {
    fn from(e: StoreError) -> Self {
        match e {
            // What the event names is not (or no longer) there.
            StoreError::NotFound => EventError::Invalid("not found".into()),
            // Conflicts included: one with a concurrent write (another node
            // applying the same message) resolves itself on the next try.
            other => EventError::Store(other),
        }
    }
}

impl From<&str> for EventError {
    fn from(reason: &str) -> Self {
        EventError::Invalid(reason.to_owned())
    }
}

impl From<String> for EventError {
    fn from(reason: String) -> Self {
        EventError::Invalid(reason)
    }
}

/// Applies one event of a push: its `type` and its `data`.
pub(super) async fn apply(app: &App, kind: &str, data: &Value) -> Result<(), EventError> {
    match kind {
        "message" => message(app, data).await,
        "conversation" => conversation(app, data).await,
        "agent" => agent(app, data).await,
        "retry" => retry(app, data).await,
        "user" => {
            if let Some(id) = data.get("user_id").and_then(Value::as_str) {
                if let Some(odoo) = &app.odoo {
                    odoo.forget_user(id);
                }
                // Every node caches what Odoo said about its users.
                app.invalidations
                    .publish(Invalidated::User(id.to_owned()))
                    .await;
            }
            Ok(())
        }
        _ => Ok(()), // forward compatibility: unknown types are ignored
    }
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

async fn message(app: &App, data: &Value) -> Result<(), EventError> {
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
        return Err(format!("attachment {} has no http(s) url", bad.id).into());
    }
    let room = app
        .rooms
        .get(app.store.as_ref(), &room_id)
        .await?
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
    let new = NewMessage {
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
    };
    // A repeat (a push resent under a new event id) was delivered when new.
    post(app, &room, new, Source::Odoo).await?;
    Ok(())
}

/// `conversation`: what a manager changed in the back office. `status:
/// "ended"` ends the chat; an `assigned_agent_id` other than the chat's agent
/// hands the chat over to that agent (a queued chat an agent took, or a
/// reassignment). Applying the same event twice changes nothing the second
/// time. A chat ended here stays ended.
async fn conversation(app: &App, data: &Value) -> Result<(), EventError> {
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
        if chat_core::UserId::is_guest_id(agent) {
            return Err("assigned_agent_id names a guest".into());
        }
    }
    let room = app
        .rooms
        .get(app.store.as_ref(), room_id)
        .await?
        .ok_or("unknown conversation")?;
    let Some(support) = room.support.clone() else {
        return Ok(()); // only support chats have a status or an agent
    };
    if support.status == SupportStatus::Ended {
        return Ok(());
    }
    if data.get("status").and_then(Value::as_str) == Some("ended") {
        return Ok(support::end_chat(app, room_id, &support.visitor_id).await?);
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
        Role::SupportAgent => {
            app.support
                .register_agent(&agent, app.people.agent_config(&agent))
                .await?
        }
        Role::Admin => {}
        _ => return Err("assigned_agent_id names a user who is not a support agent".into()),
    }
    let moved = app
        .support
        .reassign(room_id, &support.visitor_id, &agent)
        .await?
        .unwrap_or_default();
    // The store's agent is the one participants and sockets know; the desk's
    // is the one it counted (they differ only if the desk never knew it).
    let previous = support.agent_id.clone().or(moved.from);
    let recorded = support::reassign(app, room_id, &agent, previous.as_deref()).await;
    // What the desk freed is carried out either way; if the store did not
    // take the new agent, Odoo sends the event again and it is recorded then
    // (the store still names the previous agent, so it is not "already so").
    support::apply(app, moved.changes).await;
    Ok(recorded?)
}

/// A manager asked, from Odoo's back office, to send refused items again
/// (after fixing their cause): the dead letters with these uuids go back
/// into the outbox, at their original place.
async fn retry(app: &App, data: &Value) -> Result<(), EventError> {
    let uuids: Vec<String> = data
        .get("uuids")
        .and_then(Value::as_array)
        .ok_or("uuids must be a list")?
        .iter()
        .map(|u| u.as_str().map(str::to_owned).ok_or("uuids must be strings"))
        .collect::<Result<_, &str>>()?;
    if uuids.len() > 500 {
        return Err("at most 500 uuids per retry".into());
    }
    let moved = app.store.outbox_requeue(&uuids).await?;
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

async fn agent(app: &App, data: &Value) -> Result<(), EventError> {
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
        })
        .await?;
    let changes = app.support.refill().await?;
    support::apply(app, changes).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_store_or_desk_is_worth_a_resend_a_bad_event_is_not() {
        let transient = [
            EventError::from(StoreError::Database("injected".into())),
            EventError::from(StoreError::Unavailable("pool".into())),
            EventError::from(StoreError::Full),
            EventError::from(StoreError::Closed),
            // another node stored the same message a moment before
            EventError::from(StoreError::Conflict("unique".into())),
            EventError::Desk(DeskError::Reply("odd".into())),
        ];
        for e in &transient {
            assert!(e.is_transient(), "{e}");
        }
        let invalid = [
            EventError::from(StoreError::NotFound),
            EventError::from("no conversation_id"),
            EventError::from(String::from("message id is not a uuid")),
        ];
        for e in &invalid {
            assert!(!e.is_transient(), "{e}");
        }
    }
}
