//! `GET /api/chat/attachments/{id}` (and `/thumbnail`): for participants of
//! a room where the file was sent, or with the signed URL a message carries.

use super::{bearer, error, identify};
use crate::state::App;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chat_core::Role;
use chat_media::{name, Kind, Record};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

#[derive(Deserialize)]
pub(super) struct Signed {
    exp: Option<i64>,
    sig: Option<String>,
}

pub(super) async fn download(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<Signed>,
    req: Request,
) -> Response {
    serve(app, id, q, req, false).await
}

pub(super) async fn thumbnail(
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
    let rooms = app.store.attachment_rooms(&record.id).await.map_err(|e| {
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
    let record = match app.store.attachment(&id).await {
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
    let Some(path) = path else {
        tracing::error!(id = %record.id, "an attachment record names no blob");
        return not_found();
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
    let kind = Kind::from_mime(&record.mime);
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
