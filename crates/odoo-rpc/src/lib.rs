//! A typed client of Odoo 17's JSON-RPC (`/jsonrpc`, `/web/session/...`) and of
//! the one model the gateway talks to, `seitech.chat.gateway` (API v1, see
//! `docs/odoo-gateway-api.md`).
//!
//! Odoo answers HTTP 200 for results and for errors; errors come in an
//! envelope whose `error.data.name` is the Python exception. [`OdooError`]
//! maps that to what the caller needs to decide: retry (transport trouble,
//! database concurrency) or not (access, validation, version mismatch).

mod error;
pub mod gateway_api;

pub use error::OdooError;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OnceCell, Semaphore};

/// Where Odoo is and who the gateway is there.
#[derive(Debug, Clone)]
pub struct OdooConfig {
    pub url: String,
    pub db: String,
    pub login: String,
    pub api_key: String,
    pub timeout: Duration,
    /// Calls in flight at most.
    pub max_concurrency: usize,
}

#[derive(Clone)]
pub struct OdooClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: OdooConfig,
    http: reqwest::Client,
    uid: OnceCell<i64>,
    next_id: AtomicU64,
    permits: Semaphore,
}

impl OdooClient {
    pub fn new(config: OdooConfig) -> Result<Self, OdooError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| OdooError::Transport(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(config.max_concurrency.max(1)),
                config,
                http,
                uid: OnceCell::new(),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    pub fn config(&self) -> &OdooConfig {
        &self.inner.config
    }

    /// One JSON-RPC `call` to `path`, with an optional session cookie.
    async fn rpc(
        &self,
        path: &str,
        params: Value,
        cookie: Option<&str>,
    ) -> Result<Value, OdooError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| OdooError::Transport("client closed".into()))?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "method": "call", "params": params, "id": id });
        let url = format!("{}{}", self.inner.config.url.trim_end_matches('/'), path);
        let mut request = self.inner.http.post(&url).json(&body);
        if let Some(session) = cookie {
            request = request.header(reqwest::header::COOKIE, format!("session_id={session}"));
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                OdooError::Timeout
            } else {
                OdooError::Transport(e.to_string())
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(OdooError::Http(status.as_u16()));
        }
        let envelope: Value = response
            .json()
            .await
            .map_err(|e| OdooError::Decode(format!("not a JSON-RPC answer: {e}")))?;
        error::unwrap_envelope(envelope)
    }

    /// `common.version`: Odoo's server version (no login needed).
    pub async fn version(&self) -> Result<Value, OdooError> {
        self.rpc(
            "/jsonrpc",
            json!({ "service": "common", "method": "version", "args": [] }),
            None,
        )
        .await
    }

    /// The technical user's uid, logging in on first use.
    pub async fn uid(&self) -> Result<i64, OdooError> {
        self.inner
            .uid
            .get_or_try_init(|| async {
                let c = &self.inner.config;
                let result = self
                    .rpc(
                        "/jsonrpc",
                        json!({ "service": "common", "method": "authenticate",
                                "args": [c.db, c.login, c.api_key, {}] }),
                        None,
                    )
                    .await?;
                // `false` (not an error envelope) means a wrong login or key.
                result.as_i64().ok_or(OdooError::LoginRefused)
            })
            .await
            .copied()
    }

    /// `object.execute_kw` on `model.method(*args, **kwargs)`.
    pub async fn execute_kw<T: DeserializeOwned>(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<T, OdooError> {
        let uid = self.uid().await?;
        let c = &self.inner.config;
        let result = self
            .rpc(
                "/jsonrpc",
                json!({ "service": "object", "method": "execute_kw",
                        "args": [c.db, uid, c.api_key, model, method, args, kwargs] }),
                None,
            )
            .await?;
        serde_json::from_value(result)
            .map_err(|e| OdooError::Decode(format!("{model}.{method}: {e}")))
    }

    /// Who owns an Odoo session cookie: its uid, or `SessionExpired`.
    pub async fn session_uid(&self, session_id: &str) -> Result<i64, OdooError> {
        let info = self
            .rpc("/web/session/get_session_info", json!({}), Some(session_id))
            .await?;
        if let Some(db) = info.get("db").and_then(Value::as_str) {
            if db != self.inner.config.db {
                return Err(OdooError::SessionExpired);
            }
        }
        info.get("uid")
            .and_then(Value::as_i64)
            .ok_or(OdooError::SessionExpired)
    }
}

/// Exponential backoff with full jitter: a random wait in `[0, min(cap, base·2^attempt)]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    use rand::Rng;
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let ceiling = exp.min(cap).as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let cap = Duration::from_secs(30);
        let base = Duration::from_millis(100);
        for attempt in 0..40 {
            let d = backoff(attempt, base, cap);
            assert!(d <= cap, "{d:?}");
            let ceiling = base.saturating_mul(1 << attempt.min(16)).min(cap);
            assert!(
                d >= ceiling / 2,
                "attempt {attempt}: {d:?} < half of {ceiling:?}"
            );
        }
    }
}
