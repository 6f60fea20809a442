//! Async locks by key (a message id, a visitor id…), created on demand and
//! dropped when nobody holds or waits for them.

use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Default)]
pub struct KeyedLocks {
    locks: DashMap<String, Arc<Mutex<()>>>,
}

pub struct KeyedGuard<'a> {
    owner: &'a KeyedLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub async fn lock(&self, key: &str) -> KeyedGuard<'_> {
        let lock = self.locks.entry(key.to_owned()).or_default().clone();
        let guard = lock.lock_owned().await;
        KeyedGuard {
            owner: self,
            key: key.to_owned(),
            guard: Some(guard),
        }
    }

    pub fn len(&self) -> usize {
        self.locks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }
}

impl Drop for KeyedGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Only the map's own reference left: no holder, no waiter.
        self.owner
            .locks
            .remove_if(&self.key, |_, l| Arc::strong_count(l) == 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_key_waits_other_keys_do_not_and_idle_locks_go_away() {
        let locks = Arc::new(KeyedLocks::default());
        let a = locks.lock("a").await;
        let b = locks.lock("b").await; // another key is not blocked
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("a").await;
            let _ = tx.send(());
        });
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err(), "the second holder of 'a' must wait");
        drop(a);
        waiter.await.unwrap();
        assert!(rx.try_recv().is_ok());
        drop(b);
        assert!(locks.is_empty());
    }
}
