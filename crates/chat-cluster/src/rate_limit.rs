//! Rate limits that hold across nodes: GCRA (the algorithm `governor` uses
//! in process) in one Lua script, so a user or an address connected to two
//! nodes draws on one allowance.
//!
//! A key `rl:<limit>:<who>` holds the theoretical arrival time (ms, Redis'
//! clock) and expires when the budget is full again, so idle keys cost
//! nothing. While Redis does not answer, the limit falls back to this node's
//! in-process limiter: per-node limits, never none. A check waits for Redis
//! 200 ms at most, and after a failure the fallback answers alone for a
//! second, so a stalled Redis does not hold every message.

use crate::{redis_failed, Redis};
use async_trait::async_trait;
use fred::types::scripts::Script;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// `burst` at once, then one every `period / burst`... more precisely: one
/// cell every `interval`, at most `burst` cells ahead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Time for one cell to come back.
    pub interval: Duration,
    /// Cells that may be spent at once.
    pub burst: u32,
}

impl Quota {
    /// `n` per `period`, all of them at once at most.
    pub fn per(n: u32, period: Duration) -> Self {
        let n = n.max(1);
        Self {
            interval: (period / n).max(Duration::from_nanos(1)),
            burst: n,
        }
    }

    /// `rate` per minute, `burst` at once.
    pub fn per_minute(rate: u32, burst: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / rate.max(1),
            burst: burst.max(1),
        }
    }
}

/// A keyed rate limit, in process or shared.
#[async_trait]
pub trait RateLimit: Send + Sync {
    /// Takes `cost` cells of `key`'s budget; `false` (and nothing taken)
    /// when they are not there.
    async fn check(&self, key: &str, cost: u32) -> bool;
}

static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Redis::script(
        r#"
-- KEYS: the limit's key. ARGV: interval ms (may be fractional), burst, cost. 1: allowed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local after = tat + cost * interval
if after - now > burst * interval then return 0 end
redis.call('SET', KEYS[1], string.format('%.3f', after), 'PX', math.max(1, math.ceil(after - now)))
return 1
"#,
    )
});

/// How long a check waits for Redis before the in-process fallback answers.
/// A limit sits on the path of every message: a stalled Redis must not hold
/// each of them for the client's whole command timeout (2 s).
const CHECK_DEADLINE: Duration = Duration::from_millis(200);
/// After Redis failed or was late, how long the fallback answers alone before
/// Redis is asked again: one slow check per window, not one per message.
const FALLBACK_WINDOW: Duration = Duration::from_secs(1);

/// A limit in Redis, named `name` (part of its keys).
pub struct RedisRateLimit {
    redis: Redis,
    name: &'static str,
    quota: Quota,
    /// Used while Redis does not answer.
    fallback: Arc<dyn RateLimit>,
    /// Until when the fallback answers without asking Redis (see
    /// [`FALLBACK_WINDOW`]); `None` while Redis answers.
    fallback_until: Mutex<Option<Instant>>,
}

impl RedisRateLimit {
    pub fn new(
        redis: Redis,
        name: &'static str,
        quota: Quota,
        fallback: Arc<dyn RateLimit>,
    ) -> Self {
        Self {
            redis,
            name,
            quota,
            fallback,
            fallback_until: Mutex::new(None),
        }
    }

    /// Whether a recent failure has the fallback answer alone for now.
    fn in_fallback_window(&self) -> bool {
        let Ok(until) = self.fallback_until.lock() else {
            return false;
        };
        until.is_some_and(|t| Instant::now() < t)
    }

    fn open_fallback_window(&self) {
        if let Ok(mut until) = self.fallback_until.lock() {
            *until = Some(Instant::now() + FALLBACK_WINDOW);
        }
    }
}

#[async_trait]
impl RateLimit for RedisRateLimit {
    async fn check(&self, key: &str, cost: u32) -> bool {
        if cost > self.quota.burst {
            return false; // never fits, however long one waits
        }
        let args = vec![
            format!("{:.6}", self.quota.interval.as_secs_f64() * 1000.0),
            self.quota.burst.to_string(),
            cost.to_string(),
        ];
        if self.in_fallback_window() {
            return self.fallback.check(key, cost).await;
        }
        let keys = vec![self.redis.key(&format!("rl:{}:{key}", self.name))];
        let asked = self.redis.eval::<i64, _, _>(&GCRA, keys, args);
        match tokio::time::timeout(CHECK_DEADLINE, asked).await {
            Ok(Ok(n)) => n == 1,
            Ok(Err(e)) => {
                redis_failed("rate_limit", &e);
                self.open_fallback_window();
                self.fallback.check(key, cost).await
            }
            Err(_) => {
                redis_failed("rate_limit", &"no answer within the check's deadline");
                self.open_fallback_window();
                self.fallback.check(key, cost).await
            }
        }
    }
}
