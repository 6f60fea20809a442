//! Small shared sets with an expiry: e.g. the support chats guests from one
//! client address have waiting in the queue, whichever node opened them.
//!
//! `set:<name>:<key>` is a Redis set; every addition pushes its expiry
//! ahead, so a key nobody adds to any more goes away by itself.

use crate::{ClusterResult, Redis};
use fred::interfaces::{KeysInterface, SetsInterface};
use std::time::Duration;

pub struct SharedSets {
    redis: Redis,
    name: &'static str,
    ttl: Duration,
}

impl SharedSets {
    /// Sets named `name`, each kept `ttl` after its last addition.
    pub fn new(redis: Redis, name: &'static str, ttl: Duration) -> Self {
        Self { redis, name, ttl }
    }

    fn key(&self, key: &str) -> String {
        self.redis.key(&format!("set:{}:{key}", self.name))
    }

    pub async fn members(&self, key: &str) -> ClusterResult<Vec<String>> {
        Ok(self.redis.client().smembers(self.key(key)).await?)
    }

    pub async fn add(&self, key: &str, member: &str) -> ClusterResult<()> {
        let k = self.key(key);
        let _: i64 = self.redis.client().sadd(&k, member).await?;
        let _: bool = self
            .redis
            .client()
            .pexpire(&k, self.ttl.as_millis() as i64, None)
            .await?;
        Ok(())
    }

    pub async fn remove(&self, key: &str, members: &[String]) -> ClusterResult<()> {
        if members.is_empty() {
            return Ok(());
        }
        let _: i64 = self
            .redis
            .client()
            .srem(self.key(key), members.to_vec())
            .await?;
        Ok(())
    }
}
