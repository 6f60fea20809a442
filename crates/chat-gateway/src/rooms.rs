//! A cache of conversations (who is in which room), so the hot path — a message,
//! a typing event — checks membership without a database read. Every change of
//! membership goes through the gateway, which refreshes the entry.

use chat_store::{ConversationRecord, Store, StoreResult};
use dashmap::DashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct Rooms {
    cache: DashMap<String, Arc<ConversationRecord>>,
}

impl Rooms {
    pub async fn get(
        &self,
        store: &dyn Store,
        id: &str,
    ) -> StoreResult<Option<Arc<ConversationRecord>>> {
        if let Some(hit) = self.cache.get(id) {
            return Ok(Some(hit.clone()));
        }
        let Some(record) = store.conversation(id).await? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        self.cache.insert(id.to_owned(), record.clone());
        Ok(Some(record))
    }

    /// Replaces the cached entry with what the store now says.
    pub async fn refresh(
        &self,
        store: &dyn Store,
        id: &str,
    ) -> StoreResult<Option<Arc<ConversationRecord>>> {
        self.cache.remove(id);
        self.get(store, id).await
    }

    pub fn put(&self, record: ConversationRecord) -> Arc<ConversationRecord> {
        let record = Arc::new(record);
        self.cache.insert(record.id.clone(), record.clone());
        record
    }
}
