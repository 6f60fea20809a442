//! The claims of Odoo push events on one node (no `REDIS_URL`): each event
//! id is applied once, and a failed one may be claimed again. With several
//! nodes the claims are in Redis instead ([`chat_cluster::once`]). The push
//! endpoint (odoo/push/) claims through the app's `once`; shared_state.rs
//! chooses this one or Redis's.

use async_trait::async_trait;
use chat_cluster::once::{Claim, Once};
use dashmap::DashMap;
use std::time::Instant;

/// Claims of one node: event ids handled (or being handled) here.
#[derive(Default)]
pub struct LocalOnce {
    /// id → (done, since when).
    claims: DashMap<String, (bool, Instant)>,
}

impl LocalOnce {
    /// Forgets what no retry will ask about any more.
    fn sweep(&self) {
        self.claims.retain(|_, (done, since)| {
            let ttl = if *done {
                chat_cluster::once::DONE_TTL
            } else {
                chat_cluster::once::CLAIM_TTL
            };
            since.elapsed() < ttl
        });
    }
}

#[async_trait]
impl Once for LocalOnce {
    async fn claim(&self, id: &str) -> Claim {
        // Bounded memory: swept now and then, on the way.
        if self.claims.len() % 1024 == 1023 {
            self.sweep();
        }
        match self.claims.entry(id.to_owned()) {
            dashmap::Entry::Occupied(mut held) => {
                let (done, since) = *held.get();
                if !done && since.elapsed() >= chat_cluster::once::CLAIM_TTL {
                    held.insert((false, Instant::now()));
                    Claim::Mine
                } else {
                    Claim::Taken
                }
            }
            dashmap::Entry::Vacant(free) => {
                free.insert((false, Instant::now()));
                Claim::Mine
            }
        }
    }

    async fn done(&self, id: &str) {
        self.claims.insert(id.to_owned(), (true, Instant::now()));
    }

    async fn release(&self, id: &str) {
        self.claims.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_event_is_applied_once_unless_it_failed() {
        let once = LocalOnce::default();
        assert_eq!(once.claim("e1").await, Claim::Mine);
        assert_eq!(once.claim("e1").await, Claim::Taken, "being applied");
        once.release("e1").await;
        assert_eq!(once.claim("e1").await, Claim::Mine, "it failed: again");
        once.done("e1").await;
        assert_eq!(once.claim("e1").await, Claim::Taken, "applied");
    }
}
