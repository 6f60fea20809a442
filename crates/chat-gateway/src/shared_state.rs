//! What the nodes of a cluster share — presence, typing, rate limits, the
//! room cache's invalidations, once-only Odoo events — chosen at start-up:
//! in memory for one node, in Redis (crate `chat-cluster`) when `REDIS_URL`
//! is set. Keys, TTLs and failure modes: docs/cluster.md.

use crate::config::Config;
use crate::limits::{RateLimits, GUEST_CONNECTIONS};
use crate::local_once::LocalOnce;
use crate::presence::{LocalPresence, Presence};
use crate::typing::LocalTyping;
use anyhow::Context;
use chat_cluster::counts::{Crossed, NodeCounts};
use chat_cluster::invalidation::{Invalidated, Invalidations, RedisInvalidations, SingleNode};
use chat_cluster::once::{Once, RedisOnce};
use chat_cluster::presence::RedisPresence;
use chat_cluster::rate_limit::RateLimit;
use chat_cluster::sets::SharedSets;
use chat_cluster::typing::{RedisTyping, Typing};
use chat_cluster::Redis;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The shared state, for the app (state.rs).
pub struct Shared {
    pub presence: Presence,
    pub typing: Arc<dyn Typing>,
    pub rate_limits: RateLimits,
    pub message_limiter: Arc<dyn RateLimit>,
    pub connection_limiter: Arc<dyn RateLimit>,
    /// Guest connections per address over every node (`None`: this node's).
    pub guest_connections: Option<Arc<NodeCounts>>,
    /// Guests' queued support chats per address over every node.
    pub guest_queued: Option<SharedSets>,
    pub invalidations: Arc<dyn Invalidations>,
    /// Claims of Odoo push events.
    pub once: Arc<dyn Once>,
    pub cluster: Option<Cluster>,
}

/// The Redis side, when there is one.
pub struct Cluster {
    pub redis: Redis,
    pub counts: Arc<NodeCounts>,
    /// Keeps the subscription alive.
    _invalidations: Arc<RedisInvalidations>,
}

/// What other nodes cause here, handled once the app exists (by
/// `crate::feeds::spawn`).
pub struct Feeds {
    pub(crate) crossed: Option<mpsc::UnboundedReceiver<Crossed>>,
    pub(crate) invalidated: Option<mpsc::UnboundedReceiver<Invalidated>>,
}

/// Opens the shared state for node `node` (its id must differ from every
/// other running node's; a restarted node should take a new one, which
/// [`node_id`] does).
pub async fn open(config: &Config, node: &str) -> anyhow::Result<(Shared, Feeds)> {
    let per_minute = chat_cluster::rate_limit::Quota::per_minute;
    let message_quota = per_minute(config.message_rate_per_minute, config.message_burst);
    let connection_quota = per_minute(
        config.connection_rate_per_minute,
        config.connection_rate_per_minute,
    );
    let typing_timeout = Duration::from_millis(config.typing_timeout_ms);
    let Some(url) = config.redis_url.as_deref().filter(|u| !u.is_empty()) else {
        let rate_limits = RateLimits::new(None);
        return Ok((
            Shared {
                presence: Presence::new(Arc::new(LocalPresence::default())),
                typing: Arc::new(LocalTyping::new(typing_timeout)),
                message_limiter: rate_limits.limit("messages", message_quota),
                connection_limiter: rate_limits.limit("connections", connection_quota),
                rate_limits,
                guest_connections: None,
                guest_queued: None,
                invalidations: Arc::new(SingleNode),
                once: Arc::new(LocalOnce::default()),
                cluster: None,
            },
            Feeds {
                crossed: None,
                invalidated: None,
            },
        ));
    };
    let redis = Redis::connect(url, node, chat_cluster::Settings::default())
        .await
        .context("cannot reach Redis (REDIS_URL)")?;
    let ttl = Duration::from_secs(config.presence_ttl_secs.max(1));
    let (counts, crossed) = NodeCounts::start(
        redis.clone(),
        ttl,
        &[chat_cluster::presence::SET, GUEST_CONNECTIONS],
    )
    .await
    .context("cannot register this node in Redis")?;
    let (tx, invalidated) = mpsc::unbounded_channel();
    let invalidations = Arc::new(
        RedisInvalidations::start(redis.clone(), move |what| {
            let _ = tx.send(what);
        })
        .await
        .context("cannot subscribe to invalidations in Redis")?,
    );
    tracing::info!(%node, presence_ttl_secs = ttl.as_secs(), "shared state in Redis");
    let rate_limits = RateLimits::new(Some(redis.clone()));
    Ok((
        Shared {
            presence: Presence::new(Arc::new(RedisPresence::new(redis.clone(), counts.clone()))),
            typing: Arc::new(RedisTyping::new(redis.clone(), typing_timeout)),
            message_limiter: rate_limits.limit("messages", message_quota),
            connection_limiter: rate_limits.limit("connections", connection_quota),
            rate_limits,
            guest_connections: Some(counts.clone()),
            // A day: longer than any chat waits in the queue; entries are
            // also dropped as soon as their chat leaves it.
            guest_queued: Some(SharedSets::new(
                redis.clone(),
                "guest_queued",
                Duration::from_secs(24 * 3600),
            )),
            invalidations: invalidations.clone(),
            once: Arc::new(RedisOnce::new(redis.clone(), "odoo_event")),
            cluster: Some(Cluster {
                redis,
                counts,
                _invalidations: invalidations,
            }),
        },
        Feeds {
            crossed: Some(crossed),
            invalidated: Some(invalidated),
        },
    ))
}
