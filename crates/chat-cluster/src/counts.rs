//! Counts that live nodes hold: how many sockets a user has open, how many
//! guest connections an address has, summed over every node, and taken back
//! when a node dies.
//!
//! Each node keeps its own counts in a hash (`counts:node:<id>:<set>`) beside
//! the cluster-wide totals (`counts:total:<set>`), and says it is alive by a
//! deadline in the sorted set `counts:nodes`: its heartbeat, every `ttl / 3`,
//! pushes the deadline `ttl - ttl / 6` ahead. Every node's reaper, every
//! `ttl / 6`, takes the nodes whose deadline passed out of the totals in one
//! Lua script, so each key that drops to zero is reported by exactly one
//! node, and a node that dies is counted out within `ttl` (a live node may
//! miss two beats in a row before it counts as dead). Redis' own clock (`TIME`) decides deadlines: nodes'
//! clocks may differ.
//!
//! This node also keeps its counts in memory: they are the truth Redis is
//! brought back to after Redis restarted empty, after a command whose outcome
//! is unknown (a timeout), or when the node was reaped while alive (a long
//! stall). That re-synchronisation runs under a write lock that every count
//! change takes for reading, so no change can slip between the snapshot and
//! the script that applies it.

use crate::{redis_failed, ClusterResult, Redis, NODES_REAPED_TOTAL};
use fred::interfaces::HashesInterface;
use fred::types::scripts::Script;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify, RwLock};

/// A key whose total crossed zero without a local socket event: it went to
/// zero because a dead node was reaped, or came back (or went) when a node
/// re-synchronised. The receiver re-checks and announces what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossed {
    pub set: &'static str,
    pub key: String,
}

/// The outcome of [`NodeCounts::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Counted; the cluster-wide total is now this.
    Counted(u64),
    /// The cap was reached; nothing was counted.
    Capped,
    /// Redis could not say: counted on this node only (within the cap as
    /// this node sees it); Redis is brought in line at the next heartbeat.
    CountedLocally,
}

static ADD: LazyLock<Script> = LazyLock::new(|| {
    Redis::script(
        r#"
-- KEYS: total hash, this node's hash, nodes zset. ARGV: key, delta, cap (0: none), node
if not redis.call('ZSCORE', KEYS[3], ARGV[4]) then return -2 end
local total = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local delta = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
if delta > 0 and cap > 0 and total + delta > cap then return -1 end
if delta < 0 then
  local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if mine + delta < 0 then delta = -mine end
end
if delta == 0 then return total end
if redis.call('HINCRBY', KEYS[2], ARGV[1], delta) <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
total = total + delta
if total > 0 then redis.call('HSET', KEYS[1], ARGV[1], total) else redis.call('HDEL', KEYS[1], ARGV[1]); total = 0 end
return total
"#,
    )
});

static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Redis::script(
        r#"
-- KEYS: nodes zset. ARGV: node, ttl ms. 1: the node was known; 0: (re)registered now.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if known then return 1 else return 0 end
"#,
    )
});

static RESYNC: LazyLock<Script> = LazyLock::new(|| {
    Redis::script(
        r#"
-- KEYS: total hash, this node's hash. ARGV: key, count, key, count ... (this node's truth).
-- Returns the keys whose total crossed zero (either way).
local delta = {}
local old = redis.call('HGETALL', KEYS[2])
for i = 1, #old, 2 do delta[old[i]] = -tonumber(old[i + 1]) end
redis.call('DEL', KEYS[2])
for i = 1, #ARGV, 2 do
  local c = tonumber(ARGV[i + 1])
  if c > 0 then
    redis.call('HSET', KEYS[2], ARGV[i], c)
    delta[ARGV[i]] = (delta[ARGV[i]] or 0) + c
  end
end
local crossed = {}
for k, d in pairs(delta) do
  if d ~= 0 then
    local before = tonumber(redis.call('HGET', KEYS[1], k) or '0')
    local after = before + d
    if after > 0 then redis.call('HSET', KEYS[1], k, after) else redis.call('HDEL', KEYS[1], k) end
    if (before > 0) ~= (after > 0) then table.insert(crossed, k) end
  end
end
return crossed
"#,
    )
});

static REAP: LazyLock<Script> = LazyLock::new(|| {
    Redis::script(
        r#"
-- KEYS: nodes zset. ARGV: key prefix, then the set names.
-- Takes nodes whose deadline passed (16 at a time) out of every total.
-- Returns: number of nodes reaped, then set, key pairs whose total fell to zero.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
local out = { #dead }
for _, node in ipairs(dead) do
  for s = 2, #ARGV do
    local set = ARGV[s]
    local held_key = ARGV[1] .. 'counts:node:' .. node .. ':' .. set
    local total_key = ARGV[1] .. 'counts:total:' .. set
    local held = redis.call('HGETALL', held_key)
    for i = 1, #held, 2 do
      local left = redis.call('HINCRBY', total_key, held[i], -tonumber(held[i + 1]))
      if left <= 0 then
        redis.call('HDEL', total_key, held[i])
        table.insert(out, set)
        table.insert(out, held[i])
      end
    end
    redis.call('DEL', held_key)
  end
  redis.call('ZREM', KEYS[1], node)
end
return out
"#,
    )
});

/// The counts of some named sets (e.g. `presence`, `guest_connections`)
/// held by this node, in Redis.
pub struct NodeCounts {
    redis: Redis,
    ttl: Duration,
    sets: Vec<&'static str>,
    /// This node's own counts: set → key → count.
    local: Mutex<HashMap<&'static str, HashMap<String, u64>>>,
    /// Count changes read-lock it; re-synchronisation write-locks it.
    gate: RwLock<()>,
    /// Set when Redis may disagree with `local` (asks the heartbeat to fix it).
    resync: Notify,
    crossed: mpsc::UnboundedSender<Crossed>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl NodeCounts {
    /// Registers this node (its counts start empty) and starts its heartbeat
    /// and reaper (see the module). The receiver gets the keys that crossed
    /// zero without a local event (see [`Crossed`]).
    pub async fn start(
        redis: Redis,
        ttl: Duration,
        sets: &[&'static str],
    ) -> ClusterResult<(Arc<Self>, mpsc::UnboundedReceiver<Crossed>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let counts = Arc::new(Self {
            redis,
            ttl: ttl.max(Duration::from_millis(300)),
            sets: sets.to_vec(),
            local: Mutex::new(HashMap::new()),
            gate: RwLock::new(()),
            resync: Notify::new(),
            crossed: tx,
            heartbeat: Mutex::new(None),
        });
        counts.beat().await?;
        counts.resynchronise().await?;
        let task = tokio::spawn(Self::run(Arc::downgrade(&counts)));
        if let Ok(mut h) = counts.heartbeat.lock() {
            *h = Some(task);
        }
        Ok((counts, rx))
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often the reaper runs; a heartbeat is every second run.
    fn reap_period(&self) -> Duration {
        self.ttl / 6
    }

    /// How far ahead a heartbeat puts the deadline: a node that dies just
    /// after a beat is reaped at most one reap period after it, so within
    /// `ttl` of its death.
    fn deadline_ahead(&self) -> Duration {
        self.ttl - self.reap_period()
    }

    /// The hash of `set`'s cluster-wide totals.
    pub(crate) fn total_key(&self, set: &str) -> String {
        self.redis.key(&format!("counts:total:{set}"))
    }

    fn node_key(&self, set: &str) -> String {
        self.redis
            .key(&format!("counts:node:{}:{set}", self.redis.node()))
    }

    /// The live nodes and their deadlines.
    pub fn nodes_key(&self) -> String {
        self.redis.key("counts:nodes")
    }

    fn local_change(&self, set: &'static str, key: &str, delta: i64) -> u64 {
        let Ok(mut local) = self.local.lock() else {
            return 0;
        };
        let counts = local.entry(set).or_default();
        let n = counts.get(key).copied().unwrap_or(0);
        let n = n.saturating_add_signed(delta);
        if n == 0 {
            counts.remove(key);
        } else {
            counts.insert(key.to_owned(), n);
        }
        n
    }

    fn local_count(&self, set: &str, key: &str) -> u64 {
        self.local
            .lock()
            .ok()
            .and_then(|l| l.get(set).and_then(|c| c.get(key).copied()))
            .unwrap_or(0)
    }

    /// Counts one more of `key` in `set` on this node, unless the
    /// cluster-wide total is already `cap`.
    pub async fn add(&self, set: &'static str, key: &str, cap: Option<u64>) -> Added {
        let _gate = self.gate.read().await;
        let args = vec![
            key.to_owned(),
            "1".to_owned(),
            cap.unwrap_or(0).to_string(),
            self.redis.node().to_owned(),
        ];
        let keys = vec![self.total_key(set), self.node_key(set), self.nodes_key()];
        match self.redis.eval::<i64, _, _>(&ADD, keys, args).await {
            Ok(-1) => Added::Capped,
            Ok(total) if total >= 0 => {
                self.local_change(set, key, 1);
                Added::Counted(total as u64)
            }
            outcome => {
                if let Err(e) = outcome {
                    redis_failed("count_add", &e);
                }
                // Unknown to Redis (not registered, or no answer): this node
                // decides alone, and the heartbeat re-synchronises.
                self.resync.notify_one();
                if cap.is_some_and(|c| self.local_count(set, key) >= c) {
                    return Added::Capped;
                }
                self.local_change(set, key, 1);
                Added::CountedLocally
            }
        }
    }

    /// Counts one less of `key` on this node. The cluster-wide total left,
    /// or `None` when Redis could not say (or this node held none).
    pub async fn remove(&self, set: &'static str, key: &str) -> Option<u64> {
        let _gate = self.gate.read().await;
        if self.local_count(set, key) == 0 {
            return None;
        }
        self.local_change(set, key, -1);
        let args = vec![
            key.to_owned(),
            "-1".to_owned(),
            "0".to_owned(),
            self.redis.node().to_owned(),
        ];
        let keys = vec![self.total_key(set), self.node_key(set), self.nodes_key()];
        match self.redis.eval::<i64, _, _>(&ADD, keys, args).await {
            Ok(total) if total >= 0 => Some(total as u64),
            outcome => {
                if let Err(e) = outcome {
                    redis_failed("count_remove", &e);
                }
                self.resync.notify_one();
                None
            }
        }
    }

    /// The cluster-wide total of `key`.
    pub async fn total(&self, set: &str, key: &str) -> ClusterResult<u64> {
        let n: Option<u64> = self.redis.client().hget(self.total_key(set), key).await?;
        Ok(n.unwrap_or(0))
    }

    /// The cluster-wide totals of `keys`, in their order.
    pub async fn totals(&self, set: &str, keys: &[String]) -> ClusterResult<Vec<u64>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let n: Vec<Option<u64>> = self
            .redis
            .client()
            .hmget(self.total_key(set), keys.to_vec())
            .await?;
        Ok(n.into_iter().map(|n| n.unwrap_or(0)).collect())
    }

    /// How many keys of `set` have a non-zero total (e.g. users online).
    pub async fn keys_counted(&self, set: &str) -> ClusterResult<u64> {
        Ok(self.redis.client().hlen(self.total_key(set)).await?)
    }

    /// How many keys of `set` this node holds (e.g. users with a socket here).
    pub fn keys_here(&self, set: &str) -> usize {
        self.local
            .lock()
            .ok()
            .and_then(|l| l.get(set).map(HashMap::len))
            .unwrap_or(0)
    }

    /// This node's own count of `key`.
    pub fn local(&self, set: &str, key: &str) -> u64 {
        self.local_count(set, key)
    }

    /// Pushes this node's deadline ahead; re-registers (and re-synchronises)
    /// it when Redis did not know it.
    async fn beat(&self) -> ClusterResult<bool> {
        let known: i64 = self
            .redis
            .eval(
                &HEARTBEAT,
                vec![self.nodes_key()],
                vec![
                    self.redis.node().to_owned(),
                    self.deadline_ahead().as_millis().to_string(),
                ],
            )
            .await?;
        Ok(known == 1)
    }

    /// Brings Redis' view of this node's counts back to `local`.
    async fn resynchronise(&self) -> ClusterResult<()> {
        let _gate = self.gate.write().await;
        for &set in &self.sets {
            let args: Vec<String> = self
                .local
                .lock()
                .ok()
                .and_then(|l| l.get(set).cloned())
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(k, n)| [k, n.to_string()])
                .collect();
            let crossed: Vec<String> = self
                .redis
                .eval(&RESYNC, vec![self.total_key(set), self.node_key(set)], args)
                .await?;
            for key in crossed {
                let _ = self.crossed.send(Crossed { set, key });
            }
        }
        Ok(())
    }

    /// Takes dead nodes out of the totals (any node may; each dead node is
    /// taken once). Returns how many were reaped.
    pub async fn reap(&self) -> ClusterResult<usize> {
        let mut args = vec![self.redis.prefix().to_owned()];
        args.extend(self.sets.iter().map(|s| s.to_string()));
        let out: Vec<fred::types::Value> =
            self.redis.eval(&REAP, vec![self.nodes_key()], args).await?;
        let reaped = out.first().and_then(|v| v.as_i64()).unwrap_or(0);
        for pair in out.get(1..).unwrap_or_default().chunks(2) {
            let (Some(set), Some(key)) = (
                pair.first().and_then(|v| v.as_string()),
                pair.get(1).and_then(|v| v.as_string()),
            ) else {
                continue;
            };
            if let Some(&set) = self.sets.iter().find(|s| **s == set) {
                let _ = self.crossed.send(Crossed { set, key });
            }
        }
        if reaped > 0 {
            metrics::counter!(NODES_REAPED_TOTAL).increment(reaped as u64);
            tracing::warn!(nodes = reaped, "took the counts of dead nodes back");
        }
        Ok(reaped.max(0) as usize)
    }

    /// One round: the heartbeat (when `beat`) with a re-synchronisation if
    /// needed, then reaping.
    async fn tick(&self, beat: bool, resync_asked: bool) -> ClusterResult<()> {
        if beat {
            let known = self.beat().await?;
            if !known || resync_asked {
                if !known {
                    tracing::warn!("Redis did not know this node (restarted, or it took us for dead): counting again");
                }
                self.resynchronise().await?;
            }
        }
        self.reap().await?;
        Ok(())
    }

    async fn run(this: std::sync::Weak<Self>) {
        let Some(period) = this.upgrade().map(|c| c.reap_period()) else {
            return;
        };
        let mut resync_asked = false;
        let mut round: u64 = 0;
        loop {
            let Some(counts) = this.upgrade() else { return };
            let woken = tokio::select! {
                _ = tokio::time::sleep(period) => false,
                _ = counts.resync.notified() => true,
            };
            resync_asked |= woken;
            round = round.wrapping_add(1);
            let beat = round.is_multiple_of(2) || resync_asked;
            match counts.tick(beat, resync_asked).await {
                Ok(()) => resync_asked = false,
                Err(e) => {
                    redis_failed("heartbeat", &e);
                    // Whatever happened meanwhile, Redis may now disagree.
                    resync_asked = true;
                    drop(counts);
                    // Not faster than the period while Redis is down.
                    tokio::time::sleep(period).await;
                }
            }
        }
    }

    /// Stops the heartbeat without telling Redis: what a killed node looks
    /// like to the others (tests).
    pub fn stop_heartbeat(&self) {
        if let Some(task) = self.heartbeat.lock().ok().and_then(|mut h| h.take()) {
            task.abort();
        }
    }

    /// A clean exit: takes this node's counts out of the totals and
    /// unregisters it. Returns the keys whose total fell to zero (the caller
    /// announces them: nobody else will).
    pub async fn leave(&self) -> ClusterResult<Vec<Crossed>> {
        self.stop_heartbeat();
        let _gate = self.gate.write().await;
        let mut crossed = Vec::new();
        for &set in &self.sets {
            let keys: Vec<String> = self
                .redis
                .eval(
                    &RESYNC,
                    vec![self.total_key(set), self.node_key(set)],
                    Vec::<String>::new(),
                )
                .await?;
            crossed.extend(keys.into_iter().map(|key| Crossed { set, key }));
        }
        if let Ok(mut local) = self.local.lock() {
            local.clear();
        }
        let _: i64 = fred::interfaces::SortedSetsInterface::zrem(
            self.redis.client(),
            self.nodes_key(),
            self.redis.node(),
        )
        .await?;
        Ok(crossed)
    }
}

impl Drop for NodeCounts {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}
