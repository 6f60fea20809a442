//! Who is online: open sockets counted per user, so `user:online` goes out on a
//! user's first tab and `user:offline` after its last one closes.

use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Default)]
pub struct Presence {
    sockets: DashMap<String, usize>,
    /// Per user: whether others were last told it is online, behind a lock
    /// that orders the announcements of its tabs.
    announced: DashMap<String, Arc<Mutex<bool>>>,
}

impl Presence {
    /// Counts a new socket; `true` when it is the user's first.
    pub fn connect(&self, user: &str) -> bool {
        let mut n = self.sockets.entry(user.to_owned()).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Counts a closed socket; `true` when it was the user's last.
    pub fn disconnect(&self, user: &str) -> bool {
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

    pub fn is_online(&self, user: &str) -> bool {
        self.sockets.get(user).is_some_and(|n| *n > 0)
    }

    pub fn online_users(&self) -> usize {
        self.sockets.len()
    }

    /// Locks the user's announcement state (`true`: others were told "online").
    pub async fn announcement(&self, user: &str) -> OwnedMutexGuard<bool> {
        let lock = self.announced.entry(user.to_owned()).or_default().clone();
        lock.lock_owned().await
    }

    /// Drops the bookkeeping of a user who is offline and announced so.
    pub fn forget_if_idle(&self, user: &str) {
        if !self.is_online(user) {
            self.announced.remove_if(user, |_, l| {
                Arc::strong_count(l) == 1 && l.try_lock().is_ok_and(|a| !*a)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_on_first_tab_offline_after_last() {
        let p = Presence::default();
        assert!(p.connect("a"));
        assert!(!p.connect("a"));
        assert!(!p.connect("a"));
        assert!(!p.disconnect("a"));
        assert!(!p.disconnect("a"));
        assert!(p.is_online("a"));
        assert!(p.disconnect("a"));
        assert!(!p.is_online("a"));
        assert!(
            !p.disconnect("a"),
            "a stray disconnect is not a second offline"
        );
        assert_eq!(p.online_users(), 0);
    }
}
