//! `POST /api/chat/attachments`: a multipart upload, checked by content,
//! size-capped while it streams, within the uploader's quota and the disk's
//! reserve; a refused body is drained (within limits) so its client sees why.

use super::{blocking, error, identify, view};
use crate::metrics as m;
use crate::state::App;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{ConnectInfo, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_core::Identity;
use chat_media::{MediaError, Spool};
use std::net::SocketAddr;
use std::time::Duration;

/// Most bytes read (and thrown away) from a refused upload before the
/// connection is dropped, so that a client still gets its 413.
pub(super) const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(30);

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
    if who.is_guest() {
        (c.guest_upload_quota_count, c.guest_upload_quota_bytes)
    } else {
        (c.upload_quota_count, c.upload_quota_bytes)
    }
}

/// Would storing `incoming` more bytes leave less free space on the media
/// directory's volume (by default the data volume, where SQLite keeps the
/// messages) than the reserve? (An error reading the free space refuses
/// too: it is no time to fill the disk.)
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

pub(super) async fn upload(
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
    let client = crate::client_addr::client_ip(peer.ip(), &headers, &app.config.trusted_proxies);
    let limit = app.config.max_upload_bytes;
    // Quotas and the disk reserve, before reading the body: uploads (kept a
    // day when never attached) must never starve message storage.
    let (max_count, max_bytes) = quota(&app, &who);
    let window_ms = (app.config.upload_quota_window_secs as i64).saturating_mul(1000);
    let since = chat_media::now_millis() - window_ms;
    let (used_count, used_bytes) = match app.store.attachment_usage_since(&who.user_id, since).await
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
    if who.is_guest() && !app.abuse.guest_upload(client, spooled.size).await {
        return over_quota("too many uploads from your network; try again later");
    }
    if below_reserve(&app, 0).await {
        return disk_reserve();
    }
    // Decoding an image takes memory (up to 4 bytes a pixel): a few at a time.
    let Ok(decoding) = app.media.decode_slots().acquire_owned().await else {
        return unavailable();
    };
    let media = app.media.clone();
    let uploader = who.user_id.clone();
    let prepared =
        blocking(move || media.prepare(spooled, &file_name, &uploader, chat_media::now_millis()))
            .await;
    // Decoded: the next image may start.
    drop(decoding);
    // The record first, then the bytes: see chat_media::blobs on why a
    // sweep on another node cannot then remove them.
    let accepted = match prepared {
        Ok(prepared) => match app.store.add_attachment(prepared.record.clone()).await {
            Ok(()) => {
                let media = app.media.clone();
                blocking(move || media.keep(prepared)).await
            }
            Err(e) => Err(MediaError::Store(e)),
        },
        Err(e) => Err(e),
    };
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
