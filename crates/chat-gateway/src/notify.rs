//! Offline notifications (§7). A participant of a room with no open
//! connection gets, for a new message, a Web Push on each browser it
//! subscribed with `push:subscribe`, and an email digest of the conversation
//! where SMTP is configured and its email is known; at most one per
//! conversation per window (5 minutes by default). Guests get nothing, and
//! nor do the mass deliveries of broadcast channels. The subscriptions and
//! the windows are in the store, so every node pushes to the same browsers
//! and a user hears once per window whichever node handled the message.

use crate::state::App;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chat_core::model::{ConversationType, Message, MessageType};
use chat_core::Role;
use chat_notify::{NotifyError, Subscription};
use chat_store::{ConversationRecord, Page};
use serde_json::json;
use std::sync::Arc;

use crate::notifier::NOTIFICATIONS_TOTAL;

/// Most messages an email digest shows.
const DIGEST_MESSAGES: u64 = 10;

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

/// Called for every new message after it is emitted to its room.
pub async fn offline_participants(app: &App, room: &ConversationRecord, message: &Message) {
    if room.kind == ConversationType::Channel || message.kind == MessageType::System {
        return;
    }
    if app.notifier.pusher.is_none() && app.odoo.is_none() && app.mailer.is_none() {
        // No way to reach anyone: no window is opened, nothing is counted.
        return;
    }
    let now = chat_core::clock::now_millis();
    let online = app.presence.online_among(&room.participants).await;
    let targets: Vec<String> = room
        .participants
        .iter()
        .filter(|p| **p != message.author_id && !chat_core::UserId::is_guest_id(p))
        .filter(|p| !online.contains(*p))
        // `party`, not `get`: the role without cloning the user's record.
        .filter(|p| app.people.party(p).is_some_and(|u| u.role != Role::Public))
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
        // The windows are the store's: a node that cannot reach it notifies
        // nobody rather than possibly everyone twice.
        let opened = match app
            .store
            .open_notify_windows(&targets, &room.id, now, app.notifier.window_ms)
            .await
        {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(error = %e, room = %room.id, "cannot open notification windows");
                return;
            }
        };
        let limited = targets.len().saturating_sub(opened.len()) as u64;
        if limited > 0 {
            metrics::counter!(NOTIFICATIONS_TOTAL, "channel" => "any", "result" => "rate_limited")
                .increment(limited);
        }
        for user in opened {
            if !notify_one(&app, &room, &message, &user).await {
                if let Err(e) = app.store.release_notify_window(&user, &room.id, now).await {
                    tracing::warn!(error = %e, user, "cannot release a notification window");
                }
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
    let subs: Vec<Subscription> = match app.store.push_subscriptions(user).await {
        Ok(subs) => subs.into_iter().map(Subscription::from).collect(),
        Err(e) => {
            tracing::warn!(error = %e, user, "cannot read push subscriptions");
            return Attempt::Failed;
        }
    };
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
                if let Err(e) = app.store.forget_push_endpoint(&sub.endpoint).await {
                    tracing::warn!(error = %e, "cannot forget a gone push subscription");
                }
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
