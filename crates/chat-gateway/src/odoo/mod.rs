//! The bridge to Odoo, the system of record in production (API v1,
//! docs/odoo-gateway-api.md).
//!
//! * [`outbox`]: the write-behind drain. The gateway acks from its own store;
//!   every change is also queued (in the same transaction) and sent to Odoo in
//!   batches, in order, idempotent by uuid. Odoo being down only delays it.
//! * [`push`]: Odoo → gateway events (an agent's reply from the back office),
//!   signed with HMAC-SHA256.
//! * identities: Odoo session cookies, and users' roles and courses (`whois`),
//!   cached briefly.
//!
//! The bridge's own data (the client, its caches, its health) is
//! [`OdooBridge`] in odoo_bridge.rs, below the app; its operations that need
//! the app are the `impl` here.

pub mod outbox;
pub mod push;

pub use crate::odoo_bridge::OdooBridge;

use crate::odoo_bridge::IDENTITY_TTL;
use crate::state::App;
use chat_core::{Identity, Role};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

impl OdooBridge {
    /// The bridge's part of `/health`. While dead letters exist the backend
    /// is `degraded` (reachable, but changes are missing from Odoo) and
    /// `lastRefusal` says why, so an operator can fix the cause and retry
    /// from Odoo's back office (docs/odoo-gateway-api.md section 4.3).
    pub async fn health(&self, app: &App) -> Value {
        let h = self.health.lock().clone();
        let (backlog, dead) = app.store.outbox_counts().await.unwrap_or((0, 0));
        let mut status = h.status;
        let mut last_refusal = Value::Null;
        if dead > 0 {
            if status == "ok" {
                status = "degraded";
            }
            // After a restart the refusal is only in the store.
            let refusal = match h.last_refusal {
                Some(r) => Some(r),
                None => app.store.outbox_last_dead().await.ok().flatten(),
            };
            if let Some((code, reason)) = refusal {
                last_refusal = json!({ "code": code, "reason": reason });
            }
        }
        json!({
            "status": status,
            "backlog": backlog,
            "deadLetters": dead,
            "lastError": h.last_error,
            "lastRefusal": last_refusal,
        })
    }

    /// Who owns an Odoo session id (a client that connects with one instead of a JWT).
    pub async fn session_identity(&self, app: &App, session_id: &str) -> Option<Identity> {
        if let Some(hit) = self.sessions.get(session_id) {
            if hit.1.elapsed() < IDENTITY_TTL {
                return Some(hit.0.clone());
            }
        }
        let uid = match self.client.session_uid(session_id).await {
            Ok(uid) => uid.to_string(),
            Err(e) => {
                if e.is_retryable() {
                    self.record_error(&e);
                }
                return None;
            }
        };
        let who = self.client.whois(std::slice::from_ref(&uid)).await.ok()?;
        let user = who.users.into_iter().next()?;
        let identity = Identity {
            user_id: user.id.clone(),
            name: user.name.clone(),
            role: user.role.parse().unwrap_or(Role::Public),
            department: user.department.clone(),
            email: user.email.clone(),
        };
        learn_courses(app, &user);
        self.known.insert(user.id, Instant::now());
        self.sessions
            .insert(session_id.to_owned(), (identity.clone(), Instant::now()));
        Some(identity)
    }

    /// Makes sure the gateway knows these users (role, name, courses) from
    /// Odoo, asking `whois` for the ones not seen recently.
    pub async fn ensure_known(&self, app: &App, ids: &[String]) {
        let stale: Vec<String> = ids
            .iter()
            .filter(|id| !chat_core::UserId::is_guest_id(id))
            .filter(|id| {
                self.known
                    .get(*id)
                    .is_none_or(|t| t.elapsed() > IDENTITY_TTL)
            })
            .cloned()
            .collect();
        if stale.is_empty() {
            return;
        }
        match self.client.whois(&stale).await {
            Ok(who) => {
                for user in who.users {
                    let role = user.role.parse().unwrap_or(Role::Public);
                    let record = chat_store::UserRecord {
                        id: user.id.clone(),
                        name: user.name.clone(),
                        role,
                        email: user.email.clone(),
                    };
                    if app.people.get(&user.id).as_ref() != Some(&record) {
                        app.people.remember(record.clone());
                        store_user(app, record).await;
                    }
                    learn_courses(app, &user);
                    self.known.insert(user.id, Instant::now());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "whois failed; routing uses what is cached");
                self.record_error(&e);
            }
        }
    }

    /// Loads support agents from Odoo into the desk (start-up, and every minute).
    pub async fn refresh_agents(&self, app: &App) {
        match self.client.agents().await {
            Ok(agents) => {
                self.record_ok();
                for a in agents {
                    if let Some(name) = &a.name {
                        let record = chat_store::UserRecord {
                            id: a.user_id.clone(),
                            name: name.clone(),
                            role: Role::SupportAgent,
                            email: app.people.get(&a.user_id).and_then(|u| u.email),
                        };
                        if app.people.get(&a.user_id).as_ref() != Some(&record) {
                            app.people.remember(record.clone());
                            store_user(app, record).await;
                        }
                    }
                    let config = chat_core::directory::AgentConfig {
                        user_id: a.user_id.clone(),
                        department: a.department.clone(),
                        max_concurrent_chats: a.max_concurrent_chats.max(1),
                        available: a.is_available,
                        away_message: a.away_message.clone().filter(|m| !m.is_empty()),
                    };
                    if let Err(e) = app.support.configure_agent(&config).await {
                        tracing::warn!(error = %e, "the desk did not take an agent's configuration");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load agents from Odoo");
                self.record_error(&e);
            }
        }
    }
}

/// Refreshes what the gateway knows of these users from Odoo, waiting at most
/// `--odoo-lookup-wait-ms`: when Odoo is slow or down, routing uses what is
/// cached. The lookup runs on its own task, so a wait that gives up does not
/// cancel it: its answer still fills the cache for the user's next event
/// (cancelled, a slow Odoo would never teach the gateway anything).
pub async fn learn(app: &App, ids: &[String]) {
    let Some(odoo) = &app.odoo else {
        return;
    };
    let wait = odoo.lookup_wait;
    let (task_app, ids) = (app.clone(), ids.to_vec());
    let lookup = tokio::spawn(async move {
        if let Some(odoo) = &task_app.odoo {
            odoo.ensure_known(&task_app, &ids).await;
        }
    });
    let _ = tokio::time::timeout(wait, lookup).await;
}

/// Keeps what Odoo said of a user in the store too (names after a restart).
/// The directory in memory has it already, so a store that fails here costs
/// nothing now; it is logged, and the store keeps the older record until
/// Odoo describes the user differently again or the node restarts.
async fn store_user(app: &App, record: chat_store::UserRecord) {
    let id = record.id.clone();
    if let Err(e) = app.store.upsert_user(record).await {
        tracing::warn!(error = %e, user = %id, "could not store a user Odoo described");
    }
}

fn learn_courses(app: &App, user: &odoo_rpc::gateway_api::OdooUser) {
    app.people.set_courses(
        &user.id,
        user.courses
            .iter()
            .map(|c| (c.id.clone(), c.as_role.clone()))
            .collect(),
    );
}

/// Starts the bridge's background work: the outbox drain and the agents refresh.
pub fn spawn(app: &App, signal: std::sync::Arc<tokio::sync::Notify>) {
    if let Some(odoo) = &app.odoo {
        let _ = odoo.wake.set(signal.clone());
    }
    let drain = app.clone();
    tokio::spawn(async move { outbox::drain(drain, signal).await });
    let refresh = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Some(odoo) = &refresh.odoo {
                odoo.refresh_agents(&refresh).await;
                match refresh.support.refill().await {
                    Ok(changes) => crate::support::apply(&refresh, changes).await,
                    Err(e) => tracing::warn!(error = %e, "the desk did not refill"),
                }
            }
        }
    });
}
