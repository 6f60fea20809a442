//! Typing indicators with expiry: a start with no stop ends by itself after the
//! timeout, so a client that vanishes mid-sentence does not type forever.
//!
//! One node keeps them in memory ([`LocalTyping`]); with `REDIS_URL` they
//! are shared ([`chat_cluster::typing::RedisTyping`]), so a stop or a
//! disconnect on one node ends a start taken on another.

use async_trait::async_trait;
use chat_cluster::typing::Typing;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct LocalTyping {
    timeout: Duration,
    /// (room, user) → generation of the latest start; a timer fires only if
    /// no newer start or stop happened since it was set.
    active: DashMap<(String, String), u64>,
    /// Generations are unique for the process, so a timer of a start that was
    /// stopped can never match a later start.
    next: AtomicU64,
}

impl LocalTyping {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            active: DashMap::new(),
            next: AtomicU64::new(1),
        }
    }
}

#[async_trait]
impl Typing for LocalTyping {
    fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn start(&self, room: &str, user: &str) -> u64 {
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        self.active
            .insert((room.to_owned(), user.to_owned()), generation);
        generation
    }

    async fn stop(&self, room: &str, user: &str) -> bool {
        self.active
            .remove(&(room.to_owned(), user.to_owned()))
            .is_some()
    }

    async fn expire(&self, room: &str, user: &str, generation: u64) -> bool {
        self.active
            .remove_if(&(room.to_owned(), user.to_owned()), |_, g| *g == generation)
            .is_some()
    }

    fn surely_idle(&self, room: &str, user: &str) -> bool {
        !self
            .active
            .contains_key(&(room.to_owned(), user.to_owned()))
    }

    async fn rooms_of(&self, user: &str) -> Vec<String> {
        self.active
            .iter()
            .filter(|e| e.key().1 == user)
            .map(|e| e.key().0.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_latest_start_expires() {
        let t = LocalTyping::new(Duration::from_secs(6));
        let g1 = t.start("r", "u").await;
        let g2 = t.start("r", "u").await;
        assert!(
            !t.expire("r", "u", g1).await,
            "an older timer must not end a newer start"
        );
        assert!(t.expire("r", "u", g2).await);
        assert!(!t.stop("r", "u").await);
        assert!(t.surely_idle("r", "u"));
        t.start("r", "u").await;
        assert!(!t.surely_idle("r", "u"), "a start is known at once");
        assert!(t.surely_idle("r2", "u") && t.surely_idle("r", "u2"));
        assert_eq!(t.rooms_of("u").await, vec!["r".to_string()]);
        assert!(t.stop("r", "u").await);
        // A stop then a new start: the first start's timer must not end it.
        let old = t.start("r", "u").await;
        t.stop("r", "u").await;
        let new = t.start("r", "u").await;
        assert!(!t.expire("r", "u", old).await);
        assert!(t.expire("r", "u", new).await);
    }
}
