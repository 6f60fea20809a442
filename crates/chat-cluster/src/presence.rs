//! Who is online: a user is online while any node holds one of its sockets.
//!
//! The sockets are counted by [`NodeCounts`] under the set `presence`, so a
//! node that dies has its users counted out by another node within the
//! heartbeat TTL. Whether the others were last told "online" or "offline" is
//! kept in Redis too (`presence:announced`), and flipped by one script, so
//! each transition is announced by exactly one node, whichever node saw it.

use crate::counts::{Added, NodeCounts};
use crate::{redis_failed, Redis};
use async_trait::async_trait;
use fred::types::scripts::Script;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

/// The set name presence counts under in [`NodeCounts`].
pub const SET: &str = "presence";

/// Presence as the gateway uses it, one node (in memory) or many (Redis).
#[async_trait]
pub trait Presence: Send + Sync {
    /// A socket of `user` opened on this node; `true` when it is the user's
    /// first anywhere.
    async fn connect(&self, user: &str) -> bool;
    /// A socket of `user` on this node closed; `true` when it was the user's
    /// last anywhere.
    async fn disconnect(&self, user: &str) -> bool;
    async fn is_online(&self, user: &str) -> bool;
    /// Which of `users` are online (one round trip).
    async fn online_among(&self, users: &[String]) -> HashSet<String>;
    /// Users online (on every node).
    async fn online_users(&self) -> usize;
    /// Brings "what the others were told" in line with whether `user` is
    /// online now: `Some(true)` means announce `user:online`, `Some(false)`
    /// `user:offline`, `None` nothing (already said). The caller holds a
    /// per-user lock of its node around this and the announcement.
    async fn settle(&self, user: &str) -> Option<bool>;
}

static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Redis::script(
        r#"
-- KEYS: presence totals, announced hash. ARGV: user.
-- 1: announce online, 0: announce offline, -1: nothing to announce.
local online = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') > 0
local told = redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1
if online == told then return -1 end
if online then redis.call('HSET', KEYS[2], ARGV[1], 1); return 1 end
redis.call('HDEL', KEYS[2], ARGV[1])
return 0
"#,
    )
});

/// Presence in Redis, for several nodes.
pub struct RedisPresence {
    redis: Redis,
    counts: Arc<NodeCounts>,
}

impl RedisPresence {
    /// `counts` must count the set [`SET`].
    pub fn new(redis: Redis, counts: Arc<NodeCounts>) -> Self {
        Self { redis, counts }
    }
}

#[async_trait]
impl Presence for RedisPresence {
    async fn connect(&self, user: &str) -> bool {
        // `CountedLocally`: Redis could not say; the re-synchronisation
        // reports the user as crossed, and the settle then announces.
        matches!(self.counts.add(SET, user, None).await, Added::Counted(1))
    }

    async fn disconnect(&self, user: &str) -> bool {
        self.counts.remove(SET, user).await == Some(0)
    }

    async fn is_online(&self, user: &str) -> bool {
        match self.counts.total(SET, user).await {
            Ok(n) => n > 0,
            Err(e) => {
                redis_failed("presence_read", &e);
                // What this node knows: its own sockets.
                self.counts.local(SET, user) > 0
            }
        }
    }

    async fn online_among(&self, users: &[String]) -> HashSet<String> {
        match self.counts.totals(SET, users).await {
            Ok(totals) => users
                .iter()
                .zip(totals)
                .filter(|(_, n)| *n > 0)
                .map(|(u, _)| u.clone())
                .collect(),
            Err(e) => {
                redis_failed("presence_read", &e);
                users
                    .iter()
                    .filter(|u| self.counts.local(SET, u) > 0)
                    .cloned()
                    .collect()
            }
        }
    }

    async fn online_users(&self) -> usize {
        match self.counts.keys_counted(SET).await {
            Ok(n) => n as usize,
            Err(e) => {
                redis_failed("presence_read", &e);
                self.counts.keys_here(SET)
            }
        }
    }

    async fn settle(&self, user: &str) -> Option<bool> {
        let keys = vec![
            self.counts.total_key(SET),
            self.redis.key("presence:announced"),
        ];
        match self
            .redis
            .eval::<i64, _, _>(&SETTLE, keys, vec![user.to_owned()])
            .await
        {
            Ok(1) => Some(true),
            Ok(0) => Some(false),
            Ok(_) => None,
            Err(e) => {
                // Nothing is announced; the next change of this user's
                // presence (or a re-synchronisation) settles it again.
                redis_failed("presence_settle", &e);
                None
            }
        }
    }
}
