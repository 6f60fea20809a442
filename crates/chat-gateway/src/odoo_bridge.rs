//! The bridge to Odoo as the app holds it: the RPC client, the push
//! settings, the bridge's health for `/health`, and the short-lived caches of
//! what Odoo said about sessions and users. What the bridge does with the app
//! (identities, agents, health with the outbox's counts) is odoo/'s; this
//! part sits below the app so that state.rs need not import odoo/.

use chat_core::Identity;
use dashmap::DashMap;
use odoo_rpc::{OdooClient, OdooConfig, OdooError};
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How long what Odoo said about a user (or a session) is trusted.
pub(crate) const IDENTITY_TTL: Duration = Duration::from_secs(60);

pub struct OdooBridge {
    pub client: OdooClient,
    pub push_secret: Option<String>,
    pub batch_size: usize,
    pub retry_max: Duration,
    pub(crate) lookup_wait: Duration,
    pub(crate) health: Mutex<Health>,
    pub(crate) sessions: DashMap<String, (Identity, Instant)>,
    pub(crate) known: DashMap<String, Instant>,
    /// Wakes the outbox drain (set when it starts): dead letters re-queued
    /// by a `retry` push are sent at once.
    pub(crate) wake: std::sync::OnceLock<std::sync::Arc<tokio::sync::Notify>>,
}

#[derive(Default, Clone)]
pub(crate) struct Health {
    pub(crate) status: &'static str,
    pub(crate) last_error: Option<String>,
    /// `(code, reason)` of the last item Odoo refused (parked) since start.
    pub(crate) last_refusal: Option<(String, String)>,
}

impl OdooBridge {
    pub fn from_config(c: &crate::config::Config) -> anyhow::Result<Option<Self>> {
        let Some(url) = &c.odoo_url else {
            return Ok(None);
        };
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| anyhow::anyhow!("ODOO_URL is set, so {name} must be set too"))
        };
        let client = OdooClient::new(OdooConfig {
            url: url.clone(),
            db: need(&c.odoo_db, "ODOO_DB")?,
            login: need(&c.odoo_user, "ODOO_USER")?,
            api_key: need(&c.odoo_api_key, "ODOO_API_KEY")?,
            timeout: Duration::from_millis(c.odoo_timeout_ms),
            max_concurrency: 8,
        })?;
        Ok(Some(Self {
            client,
            push_secret: c.odoo_push_secret.clone().filter(|s| !s.is_empty()),
            batch_size: c.odoo_batch_size.clamp(1, 500),
            retry_max: Duration::from_millis(c.odoo_retry_max_ms.max(100)),
            lookup_wait: Duration::from_millis(c.odoo_lookup_wait_ms),
            health: Mutex::new(Health {
                status: "starting",
                last_error: None,
                last_refusal: None,
            }),
            sessions: DashMap::new(),
            known: DashMap::new(),
            wake: std::sync::OnceLock::new(),
        }))
    }

    pub fn record_ok(&self) {
        let mut h = self.health.lock();
        h.status = "ok";
    }

    pub fn record_error(&self, e: &OdooError) {
        let mut h = self.health.lock();
        h.status = if e.is_access() {
            "unauthorized"
        } else {
            "down"
        };
        h.last_error = Some(e.to_string());
    }

    /// Remembers the last item Odoo refused for good, for `/health`.
    pub(crate) fn record_refusal(&self, code: &str, reason: &str) {
        self.health.lock().last_refusal = Some((code.to_owned(), reason.to_owned()));
    }

    pub fn forget_user(&self, id: &str) {
        self.known.remove(id);
        self.sessions.retain(|_, (who, _)| who.user_id != id);
    }
}
