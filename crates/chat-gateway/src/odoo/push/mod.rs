//! `POST /internal/odoo/events`: what Odoo tells the gateway (API doc §6).
//!
//! Only Odoo may call it: the body is signed with HMAC-SHA256 over
//! `"<X-Seitech-Timestamp>.<raw body>"` with the shared push secret, and the
//! timestamp must be within five minutes of our clock (no replays later).
//! A refused push changes nothing. A push whose event cannot be applied now
//! (the store or the desk failed) answers 503 and is sent again by Odoo;
//! one that is not the envelope answers 400 and is not ([`Refused`]).
//!
//! A push reaches one node. That node applies each event to the shared
//! store and emits to the rooms (which, with several nodes, reach every
//! node's sockets); what other nodes cache is dropped through invalidations
//! (crate::rooms, and `user` events in [`apply`]). Each event is applied
//! once: the node claims its id first ([`chat_cluster::once`], in Redis with
//! several nodes), so a retry by Odoo, on this node or another, changes
//! nothing.
//!
//! Here: the endpoint, the envelope, the signature and what the answer
//! tells Odoo; [`apply`] applies each kind of event. The one-node claims
//! are local_once.rs.

mod apply;

pub use apply::EventError;

use crate::state::App;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_cluster::once::Claim;
use chat_core::clock::now_millis;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

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

/// Why a push was refused, or not wholly applied. Its HTTP status is what
/// tells Odoo whether to send it again (docs/odoo-gateway-api.md §6): a 2xx
/// is delivered; 400 can never be applied as it is (the addon parks it);
/// anything else is pending and resent by the cron with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// This gateway has no Odoo bridge (no `ODOO_URL`).
    #[error("the Odoo bridge is not configured")]
    NoBridge,
    #[error("ODOO_PUSH_SECRET is not set")]
    NoSecret,
    /// A missing, malformed or wrong signature, or a stale timestamp. Odoo
    /// resends: an operator fixes the secret or the clock, not the push.
    #[error("bad signature")]
    BadSignature,
    /// Not the push envelope: the same bytes never will be.
    #[error("bad body: {0}")]
    BadBody(String),
    /// An event could not be applied now. The events before it are applied
    /// (and remembered: a resend skips them); it and those after it are not,
    /// so a resend applies them in their order.
    #[error("event {event} was not applied: {source}")]
    Unavailable {
        event: String,
        #[source]
        source: EventError,
    },
}

impl Refused {
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::NoBridge => StatusCode::NOT_FOUND,
            Refused::NoSecret | Refused::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Refused::BadSignature => StatusCode::UNAUTHORIZED,
            Refused::BadBody(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.to_string() });
        if let Refused::Unavailable { event, .. } = &self {
            body["event"] = json!(event);
        }
        (self.status(), Json(body)).into_response()
    }
}

/// The endpoint. Applies the push's events in order and answers 2xx, or
/// stops at the first event that cannot be applied now with a [`Refused`]
/// whose status tells Odoo to send the push again (see there).
pub async fn receive(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Refused> {
    let odoo = app.odoo.as_ref().ok_or(Refused::NoBridge)?;
    let secret = odoo.push_secret.as_deref().ok_or(Refused::NoSecret)?;
    if !verify(secret, &headers, &body, now_millis() / 1000) {
        tracing::warn!("refused an Odoo push with a bad or stale signature");
        return Err(Refused::BadSignature);
    }
    let push: Push = serde_json::from_slice(&body).map_err(|e| Refused::BadBody(e.to_string()))?;
    let mut ignored = Vec::new();
    for event in push.events {
        if app.once.claim(&event.id).await == Claim::Taken {
            continue;
        }
        match apply::apply(&app, &event.kind, &event.data).await {
            Ok(()) => app.once.done(&event.id).await,
            Err(e) if e.is_transient() => {
                app.once.release(&event.id).await;
                tracing::error!(event = %event.id, kind = %event.kind, error = %e,
                    "could not apply an Odoo event; Odoo sends it again");
                return Err(Refused::Unavailable {
                    event: event.id,
                    source: e,
                });
            }
            Err(e) => {
                // A retry will not help a malformed event; say so and move on.
                tracing::warn!(event = %event.id, kind = %event.kind, reason = %e, "ignored an Odoo event");
                app.once.release(&event.id).await;
                ignored.push(json!({ "id": event.id, "reason": e.to_string() }));
            }
        }
    }
    let mut answer = json!({ "ok": true });
    if !ignored.is_empty() {
        answer["ignored"] = Value::Array(ignored);
    }
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use chat_store::StoreError;

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
    fn refusals_answer_what_odoo_should_do() {
        let unavailable = Refused::Unavailable {
            event: "e1".into(),
            source: EventError::from(StoreError::Full),
        };
        // 503: pending, the cron resends; 400: parked at once (lib/pushes.py).
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(Refused::NoSecret.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            Refused::BadBody("eof".into()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(Refused::BadSignature.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Refused::NoBridge.status(), StatusCode::NOT_FOUND);
        assert!(unavailable.to_string().contains("e1"));
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
