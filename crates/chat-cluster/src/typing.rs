//! Who is typing where, with expiry, shared by every node.
//!
//! One hash per user (`typing:<user>`: room → `<generation>:<deadline ms>`),
//! expiring with the user's latest start. A start returns a generation; the
//! node that took the start runs the timer, and its `expire` ends the typing
//! only if no newer start or stop happened since, whichever node took them.
//! Generations come from one Redis counter, so they are unique cluster-wide.

use crate::{redis_failed, Redis};
use async_trait::async_trait;
use fred::interfaces::HashesInterface;
use fred::types::scripts::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// Typing as the gateway uses it, one node (in memory) or many (Redis).
#[async_trait]
pub trait Typing: Send + Sync {
    /// A start with no stop ends by itself after this long.
    fn timeout(&self) -> Duration;
    /// Records a start; returns the generation the expiry timer must match.
    async fn start(&self, room: &str, user: &str) -> u64;
    /// Records a stop; `true` if the user was typing there.
    async fn stop(&self, room: &str, user: &str) -> bool;
    /// The timer's check: ends the typing if `generation` is still the latest.
    async fn expire(&self, room: &str, user: &str, generation: u64) -> bool;
    /// Rooms the user is typing in (to stop them when it goes offline).
    async fn rooms_of(&self, user: &str) -> Vec<String>;
    /// Answered at once, without a round trip: `true` when `user` is surely
    /// not typing in `room`, so that a [`Typing::stop`] would do nothing.
    /// A shared store cannot know without asking: `false` (ask with `stop`).
    /// Every message stops its author's typing; most authors were not
    /// typing through the gateway, and this spares them a task each.
    fn surely_idle(&self, _room: &str, _user: &str) -> bool {
        false
    }
}

static START: LazyLock<Script> = LazyLock::new(|| {
    Redis::script(
        r#"
-- KEYS: the user's typing hash, the generation counter. ARGV: room, timeout ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local g = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], g .. ':' .. (now + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return g
"#,
    )
});

static EXPIRE: LazyLock<Script> = LazyLock::new(|| {
    Redis::script(
        r#"
-- KEYS: the user's typing hash. ARGV: room, generation. 1: ended now.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
if string.match(v, '^(%d+):') == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
"#,
    )
});

/// Typing in Redis, for several nodes.
pub struct RedisTyping {
    redis: Redis,
    timeout: Duration,
}

impl RedisTyping {
    pub fn new(redis: Redis, timeout: Duration) -> Self {
        Self {
            redis,
            timeout: timeout.max(Duration::from_millis(1)),
        }
    }

    fn key(&self, user: &str) -> String {
        self.redis.key(&format!("typing:{user}"))
    }
}

#[async_trait]
impl Typing for RedisTyping {
    fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn start(&self, room: &str, user: &str) -> u64 {
        let keys = vec![self.key(user), self.redis.key("typing:generation")];
        let args = vec![room.to_owned(), self.timeout.as_millis().to_string()];
        match self.redis.eval::<u64, _, _>(&START, keys, args).await {
            Ok(g) => g,
            Err(e) => {
                // Relayed but not recorded: generation 0 never expires
                // anything, so the client's own stop (or its timeout) ends it.
                redis_failed("typing", &e);
                0
            }
        }
    }

    async fn stop(&self, room: &str, user: &str) -> bool {
        match self
            .redis
            .client()
            .hdel::<u64, _, _>(self.key(user), room)
            .await
        {
            Ok(n) => n > 0,
            Err(e) => {
                redis_failed("typing", &e);
                // Saying "stopped" once too often is harmless.
                true
            }
        }
    }

    async fn expire(&self, room: &str, user: &str, generation: u64) -> bool {
        let args = vec![room.to_owned(), generation.to_string()];
        match self
            .redis
            .eval::<i64, _, _>(&EXPIRE, vec![self.key(user)], args)
            .await
        {
            Ok(n) => n == 1,
            Err(e) => {
                redis_failed("typing", &e);
                false
            }
        }
    }

    async fn rooms_of(&self, user: &str) -> Vec<String> {
        match self.redis.client().hkeys(self.key(user)).await {
            Ok(rooms) => rooms,
            Err(e) => {
                redis_failed("typing", &e);
                Vec::new()
            }
        }
    }
}
