//! "This changed: drop your copy", to every node, over Redis pub/sub.
//!
//! Pub/sub delivers to whoever listens now and keeps nothing: a node that
//! was disconnected from Redis may have missed some, so after every
//! (re)subscription it is told [`Invalidated::Everything`] and drops all
//! it caches.

use crate::{redis_failed, Redis, INVALIDATIONS_RECEIVED_TOTAL};
use async_trait::async_trait;
use fred::interfaces::{EventInterface, PubsubInterface};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Invalidated {
    /// A conversation's record (members, support state).
    Room(String),
    /// What Odoo said about a user (role, courses, session).
    User(String),
    /// Anything: this node may have missed messages.
    Everything,
}

/// Tells the other nodes. (In process, for one node, there is nobody to tell.)
#[async_trait]
pub trait Invalidations: Send + Sync {
    async fn publish(&self, what: Invalidated);
}

/// Nobody else to tell.
pub struct SingleNode;

#[async_trait]
impl Invalidations for SingleNode {
    async fn publish(&self, _: Invalidated) {}
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    node: String,
    #[serde(flatten)]
    what: Invalidated,
}

/// Invalidations over Redis pub/sub.
pub struct RedisInvalidations {
    redis: Redis,
    channel: String,
    subscriber: fred::clients::SubscriberClient,
    /// The listening and resubscribing tasks, stopped with this.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RedisInvalidations {
    /// Subscribes; `apply` is called with what other nodes invalidate (never
    /// this node's own), and with `Everything` after each reconnection.
    pub async fn start(
        redis: Redis,
        apply: impl Fn(Invalidated) + Send + Sync + 'static,
    ) -> crate::ClusterResult<Self> {
        let channel = redis.key("invalidate");
        let subscriber = redis.subscriber().await?;
        let apply = Arc::new(apply);
        let mut messages = subscriber.message_rx();
        let mut reconnects = subscriber.reconnect_rx();
        let (me, ch) = (redis.node().to_owned(), channel.clone());
        let on_message = apply.clone();
        let listen = tokio::spawn(async move {
            loop {
                let message = match messages.recv().await {
                    Ok(m) => m,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Some were dropped on this side: drop everything.
                        on_message(Invalidated::Everything);
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if *message.channel != *ch {
                    continue;
                }
                let Some(text) = message.value.as_str() else {
                    continue;
                };
                match serde_json::from_str::<Envelope>(&text) {
                    Ok(e) if e.node != me => {
                        metrics::counter!(INVALIDATIONS_RECEIVED_TOTAL).increment(1);
                        on_message(e.what)
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "ignored a malformed invalidation"),
                }
            }
        });
        let cleared = tokio::spawn(async move {
            while reconnects.recv().await.is_ok() {
                apply(Invalidated::Everything);
            }
        });
        // Resubscribes after every reconnection.
        let resubscribe = subscriber.manage_subscriptions();
        subscriber.subscribe(channel.clone()).await?;
        Ok(Self {
            redis,
            channel,
            subscriber,
            tasks: vec![listen, cleared, resubscribe],
        })
    }
}

#[async_trait]
impl Invalidations for RedisInvalidations {
    async fn publish(&self, what: Invalidated) {
        let envelope = Envelope {
            node: self.redis.node().to_owned(),
            what,
        };
        let Ok(text) = serde_json::to_string(&envelope) else {
            return;
        };
        if let Err(e) = self
            .redis
            .client()
            .publish::<i64, _, _>(self.channel.clone(), text)
            .await
        {
            // The other nodes keep a stale copy until their subscription
            // reconnects (which drops everything).
            redis_failed("invalidate", &e);
        }
    }
}

impl Drop for RedisInvalidations {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let subscriber = self.subscriber.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = fred::interfaces::ClientLike::quit(&subscriber).await;
            });
        }
    }
}
