//! Offline notifications (§7). A participant of a room with no open
//! connection gets, for a new message, a Web Push on each browser it
//! subscribed with `push:subscribe`, and an email digest of the conversation
//! where SMTP is configured and its email is known; at most one per
//! conversation per window (5 minutes by default). Guests get nothing, and
//! nor do the mass deliveries of broadcast channels.

use crate::events::{payload, Ctx, Outcome};
use crate::state::App;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chat_core::model::{ConversationType, Message, MessageType};
use chat_core::{ChatError, Role};
use chat_notify::{NotifyError, RateGate, Subscription, Subscriptions, WebPusher};
use chat_store::{ConversationRecord, Page};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const NOTIFICATIONS_TOTAL: &str = "chat_notifications_total";
/// Most messages an email digest shows.
const DIGEST_MESSAGES: u64 = 10;

pub struct Notifier {
    subs: Subscriptions,
    pusher: Option<WebPusher>,
    gate: RateGate,
}

impl Notifier {
    pub fn new(config: &crate::config::Config) -> anyhow::Result<Self> {
        let subs = Subscriptions::open(&config.data_dir.join("notify.db"))?;
        let pusher = match config
            .vapid_private_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
        {
            Some(key) => Some(
                WebPusher::new(key, &config.vapid_subject, config.push_allow_http)
                    .map_err(|e| anyhow::anyhow!("VAPID_PRIVATE_KEY: {e}"))?,
            ),
            None => None,
        };
        for (channel, result) in [
            ("push", "sent"),
            ("push", "failed"),
            ("email", "sent"),
            ("email", "failed"),
            ("any", "rate_limited"),
        ] {
            metrics::counter!(NOTIFICATIONS_TOTAL, "channel" => channel, "result" => result)
                .absolute(0);
        }
        Ok(Self {
            subs,
            pusher,
            gate: RateGate::new(Duration::from_secs(config.notify_interval_secs)),
        })
    }
}

fn count(channel: &'static str, result: &'static str) {
    metrics::counter!(NOTIFICATIONS_TOTAL, "channel" => channel, "result" => result).increment(1);
}

/// `GET /api/chat/push/key`: the VAPID public key browsers subscribe with.
pub fn routes() -> Router<App> {
    Router::new().route("/api/chat/push/key", get(public_key))
}

async fn public_key(State(app): State<App>) -> Response {
    match &app.notifier.pusher {
        Some(p) => Json(json!({ "publicKey": p.public_key() })).into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            Json(json!({ "error": { "code": "not_found", "message": "Web Push is not configured" } })),
        )
            .into_response(),
    }
}

/// `push:subscribe { endpoint, keys: { p256dh, auth } }`: keeps the browser's
/// subscription for the caller. Acks with the VAPID public key.
pub async fn subscribe(ctx: &Ctx, data: Value) -> Outcome {
    if ctx.me.is_guest || ctx.me.role == Role::Public {
        return Err(ChatError::forbidden("guests do not get notifications"));
    }
    let sub: Subscription = payload::parse(data)?;
    sub.validate(ctx.app.config.push_allow_http)
        .map_err(|e| ChatError::invalid(e.to_string()))?;
    let app = ctx.app.clone();
    let user = ctx.me.user_id.clone();
    with_subscriptions(app, "cannot keep a push subscription", move |subs| {
        subs.add(&user, &sub, chat_core::clock::now_millis())
    })
    .await?;
    let mut out = Map::new();
    if let Some(p) = &ctx.app.notifier.pusher {
        out.insert("publicKey".into(), Value::String(p.public_key()));
    }
    Ok(out)
}

/// Runs a call on the subscriptions database off the async threads (SQLite
/// blocks). A failure is logged as `what` and answered `unavailable`.
async fn with_subscriptions<T: Send + 'static>(
    app: App,
    what: &'static str,
    call: impl FnOnce(&Subscriptions) -> Result<T, NotifyError> + Send + 'static,
) -> Result<T, ChatError> {
    tokio::task::spawn_blocking(move || call(&app.notifier.subs))
        .await
        .map_err(|_| ChatError::unavailable("try again"))?
        .map_err(|e| {
            tracing::error!(error = %e, "{what}");
            ChatError::unavailable("try again")
        })
}

/// Longest endpoint `push:subscribe` accepts (and so the longest stored).
const MAX_ENDPOINT_CHARS: usize = 2048;

/// `push:unsubscribe { endpoint }`: forgets the caller's subscription with
/// that endpoint (a browser signing out). Only the caller's own: another
/// user's subscription with the same endpoint is left alone, and the answer
/// does not say whether one exists. Acks `{ removed }`.
pub async fn unsubscribe(ctx: &Ctx, data: Value) -> Outcome {
    if ctx.me.is_guest || ctx.me.role == Role::Public {
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
    let app = ctx.app.clone();
    let user = ctx.me.user_id.clone();
    let removed = with_subscriptions(app, "cannot remove a push subscription", move |subs| {
        subs.remove_for_user(&user, &endpoint)
    })
    .await?;
    let mut out = Map::new();
    out.insert("removed".into(), Value::Bool(removed));
    Ok(out)
}

/// Called for every new message after it is emitted to its room.
pub async fn offline_participants(app: &App, room: &ConversationRecord, message: &Message) {
    if room.kind == ConversationType::Channel || message.kind == MessageType::System {
        return;
    }
    if app.notifier.pusher.is_none() && app.odoo.is_none() && app.mailer.is_none() {
        // No way to reach anyone: no window is opened, nothing is counted.
        return;
    }
    let now = Instant::now();
    let targets: Vec<String> = room
        .participants
        .iter()
        .filter(|p| **p != message.author_id && !p.starts_with("guest_"))
        .filter(|p| !app.presence.is_online(p))
        // `party`, not `get`: the role without cloning the user's record.
        .filter(|p| app.people.party(p).is_some_and(|u| u.role != Role::Public))
        .filter(|p| {
            let allowed = app.notifier.gate.allow(p, &room.id, now);
            if !allowed {
                count("any", "rate_limited");
            }
            allowed
        })
        .cloned()
        .collect();
    if targets.is_empty() {
        return;
    }
    let (app, room, message) = (
        app.clone(),
        Arc::new(room.clone()),
        Arc::new(message.clone()),
    );
    tokio::spawn(async move {
        for user in targets {
            if !notify_one(&app, &room, &message, &user).await {
                app.notifier.gate.release(&user, &room.id, now);
            }
        }
    });
}

fn title(room: &ConversationRecord, message: &Message) -> String {
    match &room.name {
        Some(n) if !n.is_empty() => format!("{} in {n}", message.author_name),
        _ => message.author_name.clone(),
    }
}

fn preview(message: &Message) -> String {
    let mut body: String = message.content.chars().take(500).collect();
    if body.is_empty() {
        body = message
            .attachments
            .iter()
            .map(|a| format!("📎 {}", a.name))
            .collect::<Vec<_>>()
            .join(", ");
    }
    body
}

/// What one channel managed for one user.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Nothing to try: no subscription, no address, channel not configured.
    Nothing,
    Delivered,
    Failed,
}

impl Attempt {
    fn or(self, other: Attempt) -> Attempt {
        match (self, other) {
            (Attempt::Delivered, _) | (_, Attempt::Delivered) => Attempt::Delivered,
            (Attempt::Failed, _) | (_, Attempt::Failed) => Attempt::Failed,
            _ => Attempt::Nothing,
        }
    }
}

/// Notifies one offline user on every configured channel. False when
/// something was tried and nothing got through, so the caller can give the
/// window back.
async fn notify_one(app: &App, room: &ConversationRecord, message: &Message, user: &str) -> bool {
    let pushed = push(app, room, message, user).await;
    let mailed = if app.odoo.is_some() {
        ask_odoo_to_mail(app, room, message, user).await
    } else {
        email_digest(app, room, message, user).await
    };
    pushed.or(mailed) != Attempt::Failed
}

async fn push(app: &App, room: &ConversationRecord, message: &Message, user: &str) -> Attempt {
    let Some(pusher) = &app.notifier.pusher else {
        return Attempt::Nothing;
    };
    let (a, u) = (app.clone(), user.to_owned());
    let subs = tokio::task::spawn_blocking(move || a.notifier.subs.for_user(&u))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let payload = json!({
        "title": title(room, message),
        "body": preview(message),
        "roomId": room.id,
        "messageId": message.id,
        "authorId": message.author_id,
        // The chat page is the frontend's, not the gateway's: its first CORS origin.
        "url": format!("{}/chat?room={}", app.config.cors_origins().first().map(String::as_str).unwrap_or(""), room.id),
    })
    .to_string();
    let mut outcome = Attempt::Nothing;
    for sub in subs {
        match pusher.send(&sub, payload.as_bytes()).await {
            Ok(()) => {
                count("push", "sent");
                outcome = outcome.or(Attempt::Delivered);
            }
            Err(NotifyError::Gone | NotifyError::Refused(_)) => {
                count("push", "failed");
                outcome = outcome.or(Attempt::Failed);
                let (a, endpoint) = (app.clone(), sub.endpoint.clone());
                let _ =
                    tokio::task::spawn_blocking(move || a.notifier.subs.remove(&endpoint)).await;
            }
            Err(e) => {
                count("push", "failed");
                outcome = outcome.or(Attempt::Failed);
                tracing::warn!(error = %e, user, "web push failed");
            }
        }
    }
    outcome
}

/// With Odoo as the system of record, Odoo mails its users (it knows their
/// addresses and throttles too).
async fn ask_odoo_to_mail(
    app: &App,
    room: &ConversationRecord,
    message: &Message,
    user: &str,
) -> Attempt {
    let Some(odoo) = &app.odoo else {
        return Attempt::Nothing;
    };
    // The conversation reaches Odoo through the outbox, possibly a moment
    // after this message: Odoo refuses an unknown conversation as invalid,
    // so that case is retried a few times before giving up.
    let text = preview(message);
    for attempt in 0..5u32 {
        match odoo.client.notify_offline(user, &room.id, &text).await {
            Ok(_) => {
                count("odoo_email", "sent");
                return Attempt::Delivered;
            }
            Err(e) if (e.is_validation() || e.is_retryable()) && attempt < 4 => {
                tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
            }
            Err(e) => {
                count("odoo_email", "failed");
                tracing::warn!(error = %e, user, "Odoo could not be asked to mail an offline user");
                return Attempt::Failed;
            }
        }
    }
    Attempt::Failed
}

/// The gateway's own email: the conversation's last messages, over SMTP.
async fn email_digest(
    app: &App,
    room: &ConversationRecord,
    message: &Message,
    user: &str,
) -> Attempt {
    let Some(mailer) = &app.mailer else {
        return Attempt::Nothing;
    };
    let Some(email) = app.people.get(user).and_then(|u| u.email) else {
        return Attempt::Nothing;
    };
    // What the reader missed: its unread messages, the newest 10 of them.
    let unread = match app.store.summary_for(&room.id, user).await {
        Ok(Some(summary)) => summary.unread_count,
        _ => 1,
    };
    let page = Page {
        before: None,
        after: None,
        limit: unread.clamp(1, DIGEST_MESSAGES) as usize,
    };
    let mut recent = match app.store.history(&room.id, page).await {
        Ok((m, _)) => m,
        Err(_) => vec![message.clone()],
    };
    recent.reverse();
    crate::attachments::refresh_urls(app, &mut recent);
    let mut heading = format!("New messages from {}", title(room, message));
    if unread > DIGEST_MESSAGES {
        heading.push_str(&format!(" (the last {DIGEST_MESSAGES} of {unread})"));
    }
    let (text, html) = crate::mail::transcript(&heading, &recent, &app.config.public_url);
    let sent = mailer
        .send(crate::mail::Email {
            to: email,
            subject: heading,
            text,
            html,
        })
        .await;
    match sent {
        Ok(()) => {
            count("email", "sent");
            Attempt::Delivered
        }
        Err(e) => {
            count("email", "failed");
            tracing::warn!(error = %e, user, "notification email failed");
            Attempt::Failed
        }
    }
}
