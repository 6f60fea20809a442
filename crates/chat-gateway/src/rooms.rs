//! A cache of conversations (who is in which room), so the hot path — a message,
//! a typing event — checks membership without a database read. Every change of
//! membership goes through a gateway, which refreshes its entry and, with
//! several nodes, tells the others to drop theirs (Redis pub/sub,
//! [`chat_cluster::invalidation`]); they read the store again on next use.

use chat_cluster::invalidation::{Invalidated, Invalidations};
use chat_store::{ConversationRecord, Store, StoreResult};
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct Rooms {
    cache: DashMap<String, Arc<ConversationRecord>>,
    /// Bumped by every invalidation from another node. A read of the store
    /// that started before one is not cached: it may predate the change.
    epoch: AtomicU64,
    others: Arc<dyn Invalidations>,
}

impl Rooms {
    /// `others`: how the other nodes are told of a change.
    pub fn new(others: Arc<dyn Invalidations>) -> Self {
        Self {
            cache: DashMap::new(),
            epoch: AtomicU64::new(0),
            others,
        }
    }

    pub async fn get(
        &self,
        store: &dyn Store,
        id: &str,
    ) -> StoreResult<Option<Arc<ConversationRecord>>> {
        if let Some(hit) = self.cache.get(id) {
            return Ok(Some(hit.clone()));
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let Some(record) = store.conversation(id).await? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.cache.insert(id.to_owned(), record.clone());
        }
        Ok(Some(record))
    }

    /// Replaces the cached entry with what the store now says (after this
    /// node changed it), and tells the other nodes.
    pub async fn refresh(
        &self,
        store: &dyn Store,
        id: &str,
    ) -> StoreResult<Option<Arc<ConversationRecord>>> {
        self.cache.remove(id);
        let record = self.get(store, id).await;
        self.others.publish(Invalidated::Room(id.to_owned())).await;
        record
    }

    /// Caches the record this node just stored, and tells the other nodes.
    pub async fn put(&self, record: ConversationRecord) -> Arc<ConversationRecord> {
        let record = Arc::new(record);
        self.cache.insert(record.id.clone(), record.clone());
        self.others
            .publish(Invalidated::Room(record.id.clone()))
            .await;
        record
    }

    /// Another node changed something (see [`Invalidated`]).
    pub fn invalidated(&self, what: &Invalidated) {
        match what {
            Invalidated::Room(id) => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
                self.cache.remove(id);
            }
            Invalidated::Everything => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
                self.cache.clear();
            }
            Invalidated::User(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_cluster::invalidation::RedisInvalidations;
    use chat_cluster::testing::RedisServer;
    use chat_core::model::ConversationType;
    use chat_store::NewConversation;
    use std::time::{Duration, Instant};

    /// Two nodes' caches over one store and a real Redis: a member added
    /// through node a is seen by node b, which had the room cached before.
    #[tokio::test]
    async fn a_change_on_one_node_drops_the_other_nodes_copy() {
        let server = RedisServer::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(chat_store::sqlite::SqliteStore::open(dir.path()).unwrap());
        let node = |name: &'static str| {
            let url = server.url();
            async move {
                chat_cluster::Redis::connect(&url, name, chat_cluster::Settings::default())
                    .await
                    .unwrap()
            }
        };
        let rooms_b = Arc::new(Rooms::new(Arc::new(chat_cluster::invalidation::SingleNode)));
        let to_b = rooms_b.clone();
        let _b = RedisInvalidations::start(node("b").await, move |what| to_b.invalidated(&what))
            .await
            .unwrap();
        let a_bus = RedisInvalidations::start(node("a").await, |_| {})
            .await
            .unwrap();
        let rooms_a = Rooms::new(Arc::new(a_bus));

        let (record, _) = store
            .create_conversation(NewConversation {
                id: "room1".into(),
                kind: ConversationType::Group,
                name: Some("Group".into()),
                created_by: "1".into(),
                participants: vec!["1".into(), "2".into()],
                support: None,
                at: 1,
            })
            .await
            .unwrap();
        rooms_a.put(record).await;
        let cached = rooms_b.get(store.as_ref(), "room1").await.unwrap().unwrap();
        assert!(!cached.participants.contains(&"3".to_string()));

        store.add_participant("room1", "3").await.unwrap();
        let on_a = rooms_a
            .refresh(store.as_ref(), "room1")
            .await
            .unwrap()
            .unwrap();
        assert!(on_a.participants.contains(&"3".to_string()));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = rooms_b.get(store.as_ref(), "room1").await.unwrap().unwrap();
            if seen.participants.contains(&"3".to_string()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node b still has the old members"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
