//! Who is online: open sockets counted per user, so `user:online` goes out on
//! a user's first tab and `user:offline` after its last one closes.
//!
//! One node counts in memory ([`LocalPresence`]); with `REDIS_URL` the counts
//! are cluster-wide ([`chat_cluster::presence::RedisPresence`]), and a node
//! that dies has its users counted out by another within the presence TTL.
//! Either way, what the others were last told is settled under a per-user
//! lock of this node, so this node's announcements for a user go out in the
//! order it decided them.

use crate::keyed_lock::{KeyedGuard, KeyedLocks};
use async_trait::async_trait;
use chat_cluster::presence::Presence as Backend;
use dashmap::{DashMap, DashSet};
use std::collections::HashSet;
use std::sync::Arc;

/// Presence as the handlers use it.
pub struct Presence {
    backend: Arc<dyn Backend>,
    /// Orders this node's announcements per user.
    order: KeyedLocks,
    /// Each user's sockets on this node: the node's own figures (the
    /// `chat_online_users` gauge, session durations), whatever the backend.
    here: DashMap<String, usize>,
}

impl Presence {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            order: KeyedLocks::default(),
            here: DashMap::new(),
        }
    }

    /// Counts a new socket; `true` when it is the user's first (anywhere).
    pub async fn connect(&self, user: &str) -> bool {
        let first_here = {
            let mut n = self.here.entry(user.to_owned()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first_here {
            crate::metrics::user_online(user);
        }
        self.backend.connect(user).await
    }

    /// Counts a closed socket; `true` when it was the user's last (anywhere).
    pub async fn disconnect(&self, user: &str) -> bool {
        let last_here = match self.here.get_mut(user) {
            Some(mut n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        };
        if last_here {
            self.here.remove_if(user, |_, n| *n == 0);
            crate::metrics::user_offline(user);
        }
        self.backend.disconnect(user).await
    }

    pub async fn is_online(&self, user: &str) -> bool {
        self.backend.is_online(user).await
    }

    /// Which of `users` are online, in one look-up.
    pub async fn online_among(&self, users: &[String]) -> HashSet<String> {
        self.backend.online_among(users).await
    }

    /// Users online (on every node).
    pub async fn online_users(&self) -> usize {
        self.backend.online_users().await
    }

    /// Users with a socket on this node.
    pub fn users_here(&self) -> usize {
        self.here.len()
    }

    /// Locks the user's announcements on this node; hold it around
    /// [`settle`](Self::settle) and the announcement.
    pub async fn order(&self, user: &str) -> KeyedGuard<'_> {
        self.order.lock(user).await
    }

    /// `Some(online)` when others must now be told so (see
    /// [`chat_cluster::presence::Presence::settle`]).
    pub async fn settle(&self, user: &str) -> Option<bool> {
        self.backend.settle(user).await
    }
}

/// Presence of one node, in memory.
#[derive(Default)]
pub struct LocalPresence {
    sockets: DashMap<String, usize>,
    /// Users the others were last told are online.
    announced: DashSet<String>,
}

#[async_trait]
impl Backend for LocalPresence {
    async fn connect(&self, user: &str) -> bool {
        let mut n = self.sockets.entry(user.to_owned()).or_insert(0);
        *n += 1;
        *n == 1
    }

    async fn disconnect(&self, user: &str) -> bool {
        let last = match self.sockets.get_mut(user) {
            Some(mut n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => return false,
        };
        if last {
            self.sockets.remove_if(user, |_, n| *n == 0);
        }
        last
    }

    async fn is_online(&self, user: &str) -> bool {
        self.sockets.get(user).is_some_and(|n| *n > 0)
    }

    async fn online_among(&self, users: &[String]) -> HashSet<String> {
        users
            .iter()
            .filter(|u| self.sockets.get(u.as_str()).is_some_and(|n| *n > 0))
            .cloned()
            .collect()
    }

    async fn online_users(&self) -> usize {
        self.sockets.len()
    }

    async fn settle(&self, user: &str) -> Option<bool> {
        let online = self.sockets.get(user).is_some_and(|n| *n > 0);
        let told = self.announced.contains(user);
        match (online, told) {
            (true, false) => {
                self.announced.insert(user.to_owned());
                Some(true)
            }
            (false, true) => {
                self.announced.remove(user);
                Some(false)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn online_on_first_tab_offline_after_last_and_each_said_once() {
        let p = Presence::new(Arc::new(LocalPresence::default()));
        assert!(p.connect("a").await);
        assert!(!p.connect("a").await);
        assert_eq!(p.settle("a").await, Some(true));
        assert_eq!(p.settle("a").await, None, "already said");
        assert!(!p.connect("a").await);
        assert!(!p.disconnect("a").await);
        assert!(!p.disconnect("a").await);
        assert!(p.is_online("a").await);
        assert!(p.disconnect("a").await);
        assert!(!p.is_online("a").await);
        assert!(
            !p.disconnect("a").await,
            "a stray disconnect is not a second offline"
        );
        assert_eq!(p.settle("a").await, Some(false));
        assert_eq!(p.settle("a").await, None);
        assert_eq!(p.online_users().await, 0);
    }
}
