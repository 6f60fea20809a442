//! State that several gateway nodes share through Redis.
//!
//! One gateway process keeps presence, typing, rate limits and its room
//! cache in memory; two processes behind a load balancer would each see only
//! half the truth. Each concept here is a small trait (implemented in process
//! by the gateway for a single node) and a Redis implementation for a cluster:
//!
//! - [`presence`]: who is online anywhere, and a node that dies has its
//!   sockets counted out within a bounded time ([`counts`] does the counting);
//! - [`typing`]: who is typing where, with its expiry;
//! - [`rate_limit`]: GCRA limits held in Redis, so a user on two nodes gets
//!   one allowance;
//! - [`invalidation`]: "this changed, drop your copy", to every node;
//! - [`once`]: a key claimed by one node only (an Odoo push applied once);
//! - [`sets`]: small shared sets (a client address's queued support chats).
//!
//! Keys, TTLs and what happens while Redis is down: docs/cluster.md.

pub mod counts;
pub mod invalidation;
pub mod once;
pub mod presence;
pub mod rate_limit;
mod redis;
pub mod sets;
pub mod testing;
pub mod typing;

pub use crate::redis::{Redis, Settings};

/// What can go wrong talking to Redis. Callers degrade rather than fail a
/// chat event on it (see each module), and count it in
/// `chat_cluster_redis_errors_total`.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("REDIS_URL is not a usable Redis address: {0}")]
    BadUrl(String),
    #[error("Redis answered something unexpected to {op}: {detail}")]
    Unexpected { op: &'static str, detail: String },
}

pub type ClusterResult<T> = Result<T, ClusterError>;

/// Counts a failed Redis operation, by what it was for, and logs it.
pub(crate) fn redis_failed(op: &'static str, error: &dyn std::fmt::Display) {
    metrics::counter!(REDIS_ERRORS_TOTAL, "op" => op).increment(1);
    tracing::warn!(op, %error, "Redis operation failed; degrading");
}

/// Redis operations that failed (the caller then degrades as documented).
pub const REDIS_ERRORS_TOTAL: &str = "chat_cluster_redis_errors_total";
/// Nodes whose heartbeat stopped and whose counts another node took back.
pub const NODES_REAPED_TOTAL: &str = "chat_cluster_nodes_reaped_total";
/// Invalidations received from other nodes.
pub const INVALIDATIONS_RECEIVED_TOTAL: &str = "chat_cluster_invalidations_received_total";
