//! Plain HTTP routes: `/health`, `/metrics`, and the demo token route; and
//! who the client is ([`client_ip`]) behind trusted reverse proxies.

use crate::state::App;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering;

pub fn routes(app: App) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route(
            "/internal/odoo/events",
            axum::routing::post(crate::odoo::push::receive),
        );
    if app.config.demo {
        router = router
            .route("/dev/token", get(dev_token))
            .route("/dev/users", get(dev_users));
    }
    router
        .merge(crate::attachments::routes(&app))
        .merge(crate::notify::routes())
        .with_state(app)
}

async fn health(State(app): State<App>) -> Response {
    let store = app.store.ping().await;
    let store_ok = store.is_ok();
    // "full": writes are refused for want of space (they succeed again, and
    // this turns back to "ok", once a write commits).
    let store_state = match store {
        Ok(()) => "ok",
        Err(chat_store::StoreError::Full) => "full",
        Err(_) => "down",
    };
    let odoo = match &app.odoo {
        Some(o) => o.health(&app).await,
        None => json!({ "status": "not configured" }),
    };
    let body = json!({
        "status": if store_ok { "ok" } else { "degraded" },
        "connections": app.connections.load(Ordering::Relaxed),
        "onlineUsers": app.presence.online_users(),
        "backends": { "store": store_state, "odoo": odoo },
    });
    let code = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    crate::metrics::refresh(&app).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    user: String,
}

/// Demo mode only: a JWT for a directory user, as the Odoo addon would issue.
async fn dev_token(State(app): State<App>, Query(q): Query<TokenQuery>) -> Response {
    let Some(user) = app
        .people
        .get(&q.user)
        .filter(|u| !u.id.starts_with("guest_"))
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such demo user" })),
        )
            .into_response();
    };
    match app.auth.user_token(&user.id, &user.name, user.role, 12 * 3600) {
        Ok(token) => Json(json!({ "token": token, "user": { "id": user.id, "name": user.name, "role": user.role } }))
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Demo mode only: the directory's users, for the demo app's user picker.
/// Agents also carry their `department` and the widget `topics` (query
/// types) that reach them first, so the picker can say who answers what.
async fn dev_users(State(app): State<App>) -> Response {
    let users: Vec<_> = app
        .people
        .search("", None)
        .into_iter()
        .filter(|u| !u.id.starts_with("guest_"))
        .map(|u| {
            let mut v = json!({ "id": u.id, "name": u.name, "role": u.role });
            if let Some(agent) = app.people.agent_config(&u.id) {
                let topics: Vec<&str> = chat_core::support::QUERY_TYPES
                    .iter()
                    .copied()
                    .filter(|q| {
                        chat_core::support::department_for(q) == Some(agent.department.as_str())
                    })
                    .collect();
                v["department"] = json!(agent.department);
                v["topics"] = json!(topics);
            }
            v
        })
        .collect();
    Json(json!({ "users": users })).into_response()
}

/// The client's address: the TCP peer, unless the peer is one of the
/// trusted proxies (`--trusted-proxies`). Then `X-Forwarded-For` is read from
/// its right end (the entry the nearest proxy added), skipping the trusted
/// proxies' own entries, and the first address that is not a trusted proxy
/// is the client; without a usable `X-Forwarded-For`, `X-Real-IP`. Headers
/// from any other peer are ignored: anyone can write them.
pub(crate) fn client_ip(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &crate::config::TrustedProxies,
) -> std::net::IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let parse = |s: &str| {
        s.trim()
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical())
    };
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut leftmost = None;
    for entry in forwarded.iter().rev() {
        let Some(ip) = parse(entry) else {
            // Garbage in the chain: what is left of it is not to be trusted.
            break;
        };
        if !trusted.contains(&ip) {
            return ip;
        }
        leftmost = Some(ip);
    }
    if let Some(ip) = leftmost {
        return ip;
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(parse)
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(s: &str) -> crate::config::TrustedProxies {
        let c = <crate::config::Config as clap::Parser>::try_parse_from([
            "seitech-chat",
            "--trusted-proxies",
            s,
        ])
        .unwrap();
        c.trusted_proxies
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let t = trusted("127.0.0.1/32, 10.0.0.0/8");
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-real-ip", "198.51.100.1"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("192.0.2.7"), &h, &t),
            ip("192.0.2.7"),
            "an untrusted peer's headers are ignored"
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &h, &trusted("")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_chain_is_read_from_the_nearest_proxy() {
        let t = trusted("127.0.0.1,10.0.0.0/8");
        // The client wrote "1.1.1.1" itself; nginx appended its real address.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "garbage, 10.0.0.5")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("10.0.0.5"));
        let h = headers(&[("x-real-ip", "203.0.113.10")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.10"));
        let h = headers(&[("x-real-ip", "nonsense")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("127.0.0.1"));
        assert_eq!(
            client_ip(
                ip("::ffff:127.0.0.1"),
                &headers(&[("x-real-ip", "203.0.113.10")]),
                &t
            ),
            ip("203.0.113.10"),
            "an IPv4-mapped peer is its IPv4 address"
        );
    }
}
