//! Plain HTTP routes: `/health`, `/metrics`, and the demo token route.

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
    let store_ok = app.store.ping().await.is_ok();
    let odoo = match &app.odoo {
        Some(o) => o.health(&app).await,
        None => json!({ "status": "not configured" }),
    };
    let body = json!({
        "status": if store_ok { "ok" } else { "degraded" },
        "connections": app.connections.load(Ordering::Relaxed),
        "onlineUsers": app.presence.online_users(),
        "backends": { "store": if store_ok { "ok" } else { "down" }, "odoo": odoo },
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
