//! Attachments (§8): `POST /api/chat/attachments` (multipart upload, checked
//! by content, size-capped while it streams), `GET /api/chat/attachments/{id}`
//! (and `/thumbnail`) for participants of a room where it was sent, or with
//! the signed URL a message carries; the attachment objects of a message, and
//! the sweeper of uploads nobody attached. The metadata is in the store
//! (`chat_store::AttachmentStore`), the bytes in `chat_media::Blobs` (a
//! directory every node mounts), so any node serves any node's upload.
//!
//! Here: the routes, the attachment objects of a message and their signed
//! URLs, and the sweeper; `upload.rs` takes uploads in, `download.rs` serves
//! them.

mod download;
mod upload;

use crate::state::App;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_core::model::{Attachment, Message};
use chat_core::{ChatError, Identity};
use chat_media::{MediaError, Record};
use chat_store::StoreError;
use serde_json::json;
use std::time::Duration;

pub fn routes(app: &App) -> Router<App> {
    let body_limit = (app
        .config
        .max_upload_bytes
        .saturating_add(upload::DRAIN_LIMIT)) as usize;
    Router::new()
        .route(
            "/api/chat/attachments",
            // A body that trickles in (a byte now and then, never idle long
            // enough for the listener's idle timeout) is cut off here: the
            // handler is dropped and its temp file with it.
            post(upload::upload)
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(body_limit))
                .layer::<_, std::convert::Infallible>(
                    tower_http::timeout::TimeoutLayer::with_status_code(
                        StatusCode::REQUEST_TIMEOUT,
                        Duration::from_secs(app.config.upload_timeout_secs.max(1)),
                    ),
                ),
        )
        .route("/api/chat/attachments/{id}", get(download::download))
        .route(
            "/api/chat/attachments/{id}/thumbnail",
            get(download::thumbnail),
        )
}

/// Starts the sweeper: every interval, uploads older than the configured age
/// that no message uses are removed.
pub fn spawn_sweeper(app: &App) {
    let app = app.clone();
    let every = Duration::from_secs(app.config.attachment_sweep_interval_secs.max(1));
    let max_age_ms = (app.config.attachment_max_age_secs as i64).saturating_mul(1000);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let cutoff = chat_media::now_millis() - max_age_ms;
            // Every node sweeps; the store hands each record to one of them.
            match app.media.sweep(app.store.as_ref(), cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "swept unattached uploads"),
                Err(e) => tracing::warn!(error = %e, "attachment sweep failed"),
            }
        }
    });
}

fn expiry(app: &App) -> i64 {
    chat_media::now_millis() / 1000 + app.config.attachment_url_ttl_secs as i64
}

fn urls(app: &App, id: &str, thumbnail: bool, exp: i64) -> (String, Option<String>) {
    let q = app.url_signer.query(id, exp);
    (
        format!("/api/chat/attachments/{id}?{q}"),
        thumbnail.then(|| format!("/api/chat/attachments/{id}/thumbnail?{q}")),
    )
}

/// Whether `url` is a (signed) URL of this gateway's media store.
pub fn is_own_url(url: &str) -> bool {
    url.starts_with("/api/chat/attachments/")
}

/// The wire object of a stored attachment, with freshly signed URLs.
pub fn view(app: &App, r: &Record) -> Attachment {
    let (url, thumbnail_url) = urls(app, &r.id, r.has_thumbnail, expiry(app));
    Attachment {
        id: r.id.clone(),
        name: r.name.clone(),
        mime_type: r.mime.clone(),
        size: r.size,
        url,
        thumbnail_url,
    }
}

/// Re-signs the URLs of stored messages' attachments, so that a stored
/// message sent out later still carries URLs that work: history, sync, a
/// conversation's `lastMessage` (list, join, `conversation:new`), an edit, a
/// resend's ack, emails.
/// Only the gateway's own attachments are re-signed: one that came from Odoo
/// (a pushed message) keeps Odoo's URL, which the media store cannot serve.
pub fn refresh_urls(app: &App, messages: &mut [Message]) {
    let exp = expiry(app);
    for a in messages.iter_mut().flat_map(|m| m.attachments.iter_mut()) {
        if !is_own_url(&a.url) {
            continue;
        }
        let (url, thumb) = urls(app, &a.id, a.thumbnail_url.is_some(), exp);
        a.url = url;
        a.thumbnail_url = thumb;
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, MediaError> + Send + 'static,
) -> Result<T, MediaError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(MediaError::Io(std::io::Error::other(e.to_string()))))
}

/// The attachment objects for ids a user attaches to a message: each must be
/// that user's own upload.
pub async fn resolve(app: &App, user: &str, ids: &[String]) -> Result<Vec<Attachment>, ChatError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    match app
        .store
        .claim_attachments(ids, user, chat_media::now_millis())
        .await
    {
        Ok(records) => Ok(records.iter().map(|r| view(app, r)).collect()),
        Err(StoreError::NotFound) => Err(ChatError::not_found("unknown attachment")),
        Err(e) => {
            tracing::error!(error = %e, "attachment lookup failed");
            Err(ChatError::unavailable(
                "attachments are unavailable; try again",
            ))
        }
    }
}

/// Records that a stored message's attachments were sent in its room, which
/// is what lets the room's participants download them.
pub async fn link(app: &App, message: &Message) {
    if message.attachments.is_empty() {
        return;
    }
    let ids: Vec<String> = message.attachments.iter().map(|a| a.id.clone()).collect();
    if let Err(e) = app.store.link_attachments(&ids, &message.room_id).await {
        tracing::error!(error = %e, room = %message.room_id, "could not record attachment rooms");
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn identify(app: &App, headers: &HeaderMap) -> Option<Identity> {
    let token = bearer(headers)?;
    app.auth.identify(Some(token)).ok().map(|(who, _)| who)
}
