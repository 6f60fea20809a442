//! The support desk as the app holds it: the desk's state machine
//! (`chat_desk`, in process or in Redis) and this node's per-visitor start
//! locks. Carrying out what it decides is support/'s; this part sits below
//! the app so that state.rs need not import support/.

use chat_desk::Desk;
use std::sync::Arc;
use std::time::Duration;

/// The desk, and this node's per-visitor start locks.
pub struct SupportDesk {
    desk: Arc<dyn Desk>,
    /// One lock per visitor starting a chat on this node, so that a double
    /// submit from several tabs finds the first chat instead of opening
    /// another. (Across nodes, [`Desk::claim`] decides.)
    starting: dashmap::DashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

impl std::ops::Deref for SupportDesk {
    type Target = dyn Desk;
    fn deref(&self) -> &Self::Target {
        self.desk.as_ref()
    }
}

impl SupportDesk {
    pub fn new(desk: Arc<dyn Desk>) -> Self {
        Self {
            desk,
            starting: dashmap::DashMap::new(),
        }
    }

    /// The in-process desk (one node; tests).
    pub fn local(grace: Duration) -> Self {
        Self::new(Arc::new(chat_desk::LocalDesk::new(grace)))
    }

    /// Serialises `support:start` per visitor (held across the check for an
    /// open chat and the creation of a new one).
    pub async fn start_lock(&self, visitor: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.starting.entry(visitor.to_owned()).or_default().clone();
        lock.lock_owned().await
    }

    /// Forgets a visitor's start lock once its chat has ended.
    pub fn release_start_lock(&self, visitor: &str) {
        self.starting
            .remove_if(visitor, |_, l| Arc::strong_count(l) == 1);
    }
}
