//! Something done once across the cluster: an Odoo push may reach any node,
//! and Odoo retries it when unsure, so the node that applies an event claims
//! its id first (`SET NX`). A claim is short-lived while the event is being
//! applied (a node that dies mid-way lets a retry apply it) and kept a day
//! once done (Odoo's retries stop well before).

use crate::{redis_failed, Redis};
use async_trait::async_trait;
use fred::interfaces::KeysInterface;
use fred::types::{Expiration, SetOptions};
use std::time::Duration;

/// Whether this node should apply the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Apply it, then call [`Once::done`] (or [`Once::release`] if it failed).
    Mine,
    /// Applied, or being applied, elsewhere (or before).
    Taken,
}

#[async_trait]
pub trait Once: Send + Sync {
    async fn claim(&self, id: &str) -> Claim;
    /// Applied: later claims of `id` are `Taken` for a day.
    async fn done(&self, id: &str);
    /// Not applied: a later claim may try again.
    async fn release(&self, id: &str);
}

/// How long a claim holds while its event is being applied.
pub const CLAIM_TTL: Duration = Duration::from_secs(60);
/// How long an applied event's id is remembered.
pub const DONE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Claims in Redis, under `once:<scope>:<id>`.
pub struct RedisOnce {
    redis: Redis,
    scope: &'static str,
}

impl RedisOnce {
    pub fn new(redis: Redis, scope: &'static str) -> Self {
        Self { redis, scope }
    }

    fn key(&self, id: &str) -> String {
        self.redis.key(&format!("once:{}:{id}", self.scope))
    }
}

#[async_trait]
impl Once for RedisOnce {
    async fn claim(&self, id: &str) -> Claim {
        let set: Result<Option<String>, _> = self
            .redis
            .client()
            .set(
                self.key(id),
                self.redis.node(),
                Some(Expiration::PX(CLAIM_TTL.as_millis() as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await;
        match set {
            Ok(Some(_)) => Claim::Mine,
            Ok(None) => Claim::Taken,
            Err(e) => {
                // Applying twice is safe for what Odoo pushes (messages by
                // uuid, states compared before changing); never applying is
                // not.
                redis_failed("once", &e);
                Claim::Mine
            }
        }
    }

    async fn done(&self, id: &str) {
        let set: Result<Option<String>, _> = self
            .redis
            .client()
            .set(
                self.key(id),
                "done",
                Some(Expiration::PX(DONE_TTL.as_millis() as i64)),
                None,
                false,
            )
            .await;
        if let Err(e) = set {
            redis_failed("once", &e);
        }
    }

    async fn release(&self, id: &str) {
        if let Err(e) = self.redis.client().del::<i64, _>(self.key(id)).await {
            redis_failed("once", &e);
        }
    }
}
