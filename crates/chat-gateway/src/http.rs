//! Plain HTTP routes: `/health`, `/metrics`, and the demo token route. Who
//! the client is behind trusted reverse proxies is crate::client_addr's.

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
    // Redis down degrades the shared state (docs/cluster.md) but the node
    // still serves: it is reported, not a reason for a 503.
    let redis = match &app.cluster {
        Some(c) if c.redis.ping().await => "ok",
        Some(_) => "down",
        None => "not configured",
    };
    let draining = app.draining.load(Ordering::SeqCst);
    let status = match (draining, store_ok) {
        (true, _) => "draining",
        (false, true) => "ok",
        (false, false) => "degraded",
    };
    let body = json!({
        "status": status,
        "node": app.node_id,
        "connections": app.connections.load(Ordering::Relaxed),
        "onlineUsers": app.presence.online_users().await,
        "backends": { "store": store_state, "odoo": odoo, "redis": redis },
    });
    // A load balancer stops sending new clients to a draining node.
    let code = if store_ok && !draining {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    let postgres = app
        .config
        .database_url
        .as_deref()
        .is_some_and(|u| !u.is_empty());
    crate::metrics::refresh(
        &*app.support,
        app.store.as_ref(),
        postgres,
        app.fanout.redis_up(),
    )
    .await;
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
        .filter(|u| !chat_core::UserId::is_guest_id(&u.id))
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
        .filter(|u| !chat_core::UserId::is_guest_id(&u.id))
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
