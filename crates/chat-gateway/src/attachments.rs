//! Attachments (§8): `POST /api/chat/attachments` (multipart upload, checked
//! by content, size-capped while it streams), `GET /api/chat/attachments/{id}`
//! (and `/thumbnail`) for participants of a room where it was sent, or with
//! the signed URL a message carries; the attachment objects of a message, and
//! the sweeper of uploads nobody attached. Storage lives in `chat_media`.

use crate::metrics as m;
use crate::state::App;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_core::model::{Attachment, Message};
use chat_core::{ChatError, Identity, Role};
use chat_media::{name, Kind, MediaError, Record, Spool};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// Most bytes read (and thrown away) from a refused upload before the
/// connection is dropped, so that a client still gets its 413.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(30);

pub fn routes(app: &App) -> Router<App> {
    let body_limit = (app.config.max_upload_bytes.saturating_add(DRAIN_LIMIT)) as usize;
    Router::new()
        .route(
            "/api/chat/attachments",
            // A body that trickles in (a byte now and then, never idle long
            // enough for the listener's idle timeout) is cut off here: the
            // handler is dropped and its temp file with it.
            post(upload)
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(body_limit))
                .layer::<_, std::convert::Infallible>(
                    tower_http::timeout::TimeoutLayer::with_status_code(
                        StatusCode::REQUEST_TIMEOUT,
                        Duration::from_secs(app.config.upload_timeout_secs.max(1)),
                    ),
                ),
        )
        .route("/api/chat/attachments/{id}", get(download))
        .route("/api/chat/attachments/{id}/thumbnail", get(thumbnail))
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
            let media = app.media.clone();
            let cutoff = chat_media::now_millis() - max_age_ms;
            match tokio::task::spawn_blocking(move || media.sweep(cutoff)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(removed = n, "swept unattached uploads"),
                Ok(Err(e)) => tracing::warn!(error = %e, "attachment sweep failed"),
                Err(e) => tracing::warn!(error = %e, "attachment sweep panicked"),
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
    let (media, ids, user) = (app.media.clone(), ids.to_vec(), user.to_owned());
    match blocking(move || media.claim(&ids, &user, chat_media::now_millis())).await {
        Ok(records) => Ok(records.iter().map(|r| view(app, r)).collect()),
        Err(MediaError::NotFound) => Err(ChatError::not_found("unknown attachment")),
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
    let (media, room) = (app.media.clone(), message.room_id.clone());
    if let Err(e) = blocking(move || media.link(&ids, &room)).await {
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

fn refused(status: StatusCode, code: &str, message: &str) -> Response {
    metrics::counter!(m::ATTACHMENT_UPLOADS_TOTAL, "result" => "refused").increment(1);
    error(status, code, message)
}

fn unavailable() -> Response {
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "uploads are unavailable; try again",
    )
}

fn malformed() -> Response {
    refused(
        StatusCode::BAD_REQUEST,
        "invalid",
        "expected a multipart/form-data body with a file field",
    )
}

fn over_quota(message: &str) -> Response {
    crate::limits::refused("upload_quota");
    refused(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
}

fn disk_reserve() -> Response {
    crate::limits::refused("disk_reserve");
    refused(
        StatusCode::INSUFFICIENT_STORAGE,
        "unavailable",
        "the server is low on space; uploads are paused",
    )
}

/// An uploader's quota for the window: (uploads, bytes). Guests get less.
fn quota(app: &App, who: &Identity) -> (u64, u64) {
    let c = &app.config;
    if who.is_guest {
        (c.guest_upload_quota_count, c.guest_upload_quota_bytes)
    } else {
        (c.upload_quota_count, c.upload_quota_bytes)
    }
}

/// Would storing `incoming` more bytes leave less free space on the data
/// volume than the reserve kept for messages? (An error reading the free
/// space refuses too: it is no time to fill the disk.)
async fn below_reserve(app: &App, incoming: u64) -> bool {
    let media = app.media.clone();
    let reserve = app.config.upload_disk_reserve_bytes;
    match blocking(move || media.available_bytes()).await {
        Ok(free) => free < reserve.saturating_add(incoming),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the data volume's free space");
            true
        }
    }
}

async fn upload(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let Ok(mut multipart) = multipart else {
        return malformed();
    };
    let Some(who) = identify(&app, &headers) else {
        // Read a little of the body (so a small upload's client sees the 401
        // rather than a broken pipe), never much for an unknown caller.
        drain(&mut multipart, 1024 * 1024).await;
        return refused(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a Bearer token is required",
        );
    };
    let client = crate::http::client_ip(peer.ip(), &headers, &app.config.trusted_proxies);
    let limit = app.config.max_upload_bytes;
    // Quotas and the disk reserve, before reading the body: uploads (kept a
    // day when never attached) must never starve message storage.
    let (max_count, max_bytes) = quota(&app, &who);
    let window_ms = (app.config.upload_quota_window_secs as i64).saturating_mul(1000);
    let since = chat_media::now_millis() - window_ms;
    let (media, uploader) = (app.media.clone(), who.user_id.clone());
    let (used_count, used_bytes) = match blocking(move || media.usage_since(&uploader, since)).await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "cannot read upload usage");
            return unavailable();
        }
    };
    if used_count >= max_count || used_bytes >= max_bytes {
        drain(&mut multipart, 1024 * 1024).await;
        return over_quota(&format!(
            "upload quota used up: {max_count} uploads or {max_bytes} bytes per {} s",
            app.config.upload_quota_window_secs
        ));
    }
    if below_reserve(&app, limit).await {
        drain(&mut multipart, 1024 * 1024).await;
        return disk_reserve();
    }
    let mut spool = match Spool::new(&app.media.temp_dir(), limit) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot create an upload temp file");
            return unavailable();
        }
    };
    let mut file_name = None;
    let mut too_large = false;
    let mut drained = 0u64;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let give_up = |drained: u64| drained > DRAIN_LIMIT || tokio::time::Instant::now() > deadline;
    'fields: loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if too_large || e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                too_large = true;
                break;
            }
            Err(_) => return malformed(),
        };
        let wanted = file_name.is_none()
            && !too_large
            && (field.name() == Some("file") || field.file_name().is_some());
        if wanted {
            file_name = Some(field.file_name().unwrap_or("file").to_owned());
        }
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) if too_large || e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    too_large = true;
                    break 'fields;
                }
                Err(_) => return malformed(),
            };
            if wanted && !too_large {
                match spool.write(&chunk).await {
                    Ok(()) => continue,
                    Err(MediaError::TooLarge { .. }) => too_large = true,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot write an upload");
                        return unavailable();
                    }
                }
            }
            if too_large {
                // Read and drop the rest (bounded), so the client reads the 413.
                drained += chunk.len() as u64;
                if give_up(drained) {
                    break 'fields;
                }
            }
        }
    }
    if too_large {
        drop(spool);
        return refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!("attachments are limited to {limit} bytes"),
        );
    }
    let Some(file_name) = file_name else {
        return malformed();
    };
    let spooled = match spool.finish().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot finish an upload");
            return unavailable();
        }
    };
    if used_bytes.saturating_add(spooled.size) > max_bytes {
        return over_quota(&format!(
            "upload quota used up: {max_bytes} bytes per {} s",
            app.config.upload_quota_window_secs
        ));
    }
    if who.is_guest && !app.abuse.guest_upload(client, spooled.size) {
        return over_quota("too many uploads from your network; try again later");
    }
    if below_reserve(&app, 0).await {
        return disk_reserve();
    }
    // Decoding an image takes memory (up to 4 bytes a pixel): a few at a time.
    let Ok(_decoding) = app.media.decode_slots().acquire_owned().await else {
        return unavailable();
    };
    let media = app.media.clone();
    let uploader = who.user_id.clone();
    let accepted =
        blocking(move || media.accept(spooled, &file_name, &uploader, chat_media::now_millis()))
            .await;
    match accepted {
        Ok(record) => {
            metrics::counter!(m::ATTACHMENT_UPLOADS_TOTAL, "result" => "stored").increment(1);
            (StatusCode::CREATED, Json(view(&app, &record))).into_response()
        }
        Err(e @ MediaError::ImageTooLarge { .. }) => {
            crate::limits::refused("image_pixels");
            refused(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &e.to_string())
        }
        Err(MediaError::Unsupported(why)) => refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid",
            &format!("{why}; accepted: JPEG, PNG, GIF, WebP, PDF, MP4, WebM and plain text"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot store an upload");
            unavailable()
        }
    }
}

/// Reads and drops what is left of a multipart body, up to `budget` bytes.
async fn drain(multipart: &mut Multipart, budget: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut seen = 0u64;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(c)) = field.chunk().await {
            seen += c.len() as u64;
            if seen > budget || tokio::time::Instant::now() > deadline {
                return;
            }
        }
    }
}

#[derive(Deserialize)]
struct Signed {
    exp: Option<i64>,
    sig: Option<String>,
}

async fn download(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<Signed>,
    req: Request,
) -> Response {
    serve(app, id, q, req, false).await
}

async fn thumbnail(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<Signed>,
    req: Request,
) -> Response {
    serve(app, id, q, req, true).await
}

/// May this request read the attachment? A valid signed URL, or the token of
/// an admin, the uploader, or a participant of a room where it was sent.
async fn allowed(
    app: &App,
    record: &Record,
    q: &Signed,
    headers: &HeaderMap,
) -> Result<(), Response> {
    if let (Some(exp), Some(sig)) = (q.exp, q.sig.as_deref()) {
        let now = chat_media::now_millis() / 1000;
        if app.url_signer.verify(&record.id, exp, sig, now) {
            return Ok(());
        }
        if bearer(headers).is_none() {
            return Err(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the link has expired or is not valid",
            ));
        }
    }
    let Some(who) = identify(app, headers) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a Bearer token or a signed link is required",
        ));
    };
    if who.role == Role::Admin || who.user_id == record.uploader {
        return Ok(());
    }
    let (media, id) = (app.media.clone(), record.id.clone());
    let rooms = blocking(move || media.rooms(&id)).await.map_err(|e| {
        tracing::error!(error = %e, "attachment rooms lookup failed");
        error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again")
    })?;
    for room in rooms {
        if let Ok(Some(r)) = app.rooms.get(app.store.as_ref(), &room).await {
            if r.participants.contains(&who.user_id) {
                return Ok(());
            }
        }
    }
    Err(not_found())
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such attachment")
}

async fn serve(app: App, id: String, q: Signed, req: Request, thumb: bool) -> Response {
    if id.len() > 64 {
        return not_found();
    }
    let media = app.media.clone();
    let lookup = id.clone();
    let record = match blocking(move || media.get(&lookup)).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "attachment lookup failed");
            return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again");
        }
    };
    if let Err(resp) = allowed(&app, &record, &q, req.headers()).await {
        return resp;
    }
    if thumb && !record.has_thumbnail {
        return not_found();
    }
    let path = if thumb {
        app.media.thumbnail_path(&record.sha256)
    } else {
        app.media.blob_path(&record.sha256)
    };
    let (parts, _) = req.into_parts();
    let file_req = Request::from_parts(parts, Body::empty());
    let mut resp = match ServeFile::new(path).oneshot(file_req).await {
        Ok(r) => r.map(Body::new),
        Err(e) => {
            tracing::error!(error = %e, "cannot read an attachment");
            return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again");
        }
    };
    if resp.status() == StatusCode::NOT_FOUND {
        return not_found();
    }
    let h = resp.headers_mut();
    let kind = record.kind();
    let mime = if thumb {
        "image/jpeg".to_owned()
    } else if kind == Some(Kind::Text) {
        "text/plain; charset=utf-8".to_owned()
    } else {
        record.mime.clone()
    };
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    let inline = thumb || kind.is_some_and(Kind::is_inline);
    if let Ok(v) = HeaderValue::from_str(&disposition(inline, &record.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; img-src 'self'; media-src 'self'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    resp
}

/// `inline` or `attachment`, an ASCII `filename` and the UTF-8 `filename*`.
fn disposition(inline: bool, file_name: &str) -> String {
    let ascii = name::ascii_fallback(file_name).replace(['"', '\\'], "_");
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_quoted_and_encoded() {
        assert_eq!(
            disposition(false, "résumé 1.pdf"),
            "attachment; filename=\"r_sum_ 1.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf"
        );
        assert!(disposition(true, "a.png").starts_with("inline; "));
    }
}
