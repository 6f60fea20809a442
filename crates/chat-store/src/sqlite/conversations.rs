//! Conversations and their participants in the SQLite store: creation (a
//! direct conversation at most once per pair), membership, and each user's
//! view of them (unread count, last message).

use super::outbox;
use super::rows::*;
use super::SqliteStore;
use crate::{ConversationRecord, ConversationSummary, NewConversation, StoreError, StoreResult};
use chat_core::model::ConversationType;
use rusqlite::{params, Connection};

fn summarise(
    c: &Connection,
    record: ConversationRecord,
    user: &str,
) -> StoreResult<ConversationSummary> {
    let unread_count = unread_count(c, &record.id, user)?;
    let last_message = last_message(c, &record.id)?;
    Ok(ConversationSummary {
        record,
        unread_count,
        last_message,
    })
}

impl SqliteStore {
    pub(super) async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        let ob = self.outbox_on();
        self.write(move |c| {
            let key = match (new.kind, new.participants.as_slice()) {
                (ConversationType::Direct, [a, b]) => Some(direct_key(a, b)),
                (ConversationType::Direct, _) => {
                    return Err(StoreError::Conflict("a direct conversation has two participants".into()))
                }
                _ => None,
            };
            if let (Some(_), [a, b]) = (&key, new.participants.as_slice()) {
                if let Some(existing) = find_direct(c, a, b)? {
                    let record = get_conversation(c, &existing)?.ok_or(StoreError::NotFound)?;
                    return Ok((record, false));
                }
            }
            let s = new.support.as_ref();
            c.prepare_cached(
                "INSERT INTO conversations (id, kind, name, created_by, created_at, last_activity_at, \
                 direct_key, visitor_id, visitor_name, visitor_email, query_type, department, agent_id, \
                 status, started_at, page_url) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                new.id,
                new.kind.as_str(),
                new.name,
                new.created_by,
                new.at,
                key,
                s.map(|s| &s.visitor_id),
                s.map(|s| &s.visitor_name),
                s.map(|s| &s.visitor_email),
                s.map(|s| &s.query_type),
                s.map(|s| &s.department),
                s.and_then(|s| s.agent_id.as_ref()),
                s.map(|s| s.status.as_str()),
                s.map(|s| s.started_at),
                s.and_then(|s| s.page_url.as_ref()),
            ])?;
            let mut stmt = c.prepare_cached(
                "INSERT OR IGNORE INTO participants (conversation_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
            )?;
            for p in &new.participants {
                stmt.execute(params![new.id, p, new.at])?;
            }
            if ob {
                outbox::enqueue(c, Some(&new.id), outbox::conversation_state(c, &new.id)?)?;
            }
            let record = get_conversation(c, &new.id)?.ok_or(StoreError::NotFound)?;
            Ok((record, true))
        })
        .await
    }

    pub(super) async fn find_direct(&self, a: &str, b: &str) -> StoreResult<Option<String>> {
        let (a, b) = (a.to_owned(), b.to_owned());
        self.read(move |c| find_direct(c, &a, &b)).await
    }

    pub(super) async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        let id = id.to_owned();
        self.read(move |c| get_conversation(c, &id)).await
    }

    pub(super) async fn add_participant(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        let (conv, user) = (conversation_id.to_owned(), user_id.to_owned());
        let ob = self.outbox_on();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO participants (conversation_id, user_id, joined_at) \
                     SELECT id, ?2, ?3 FROM conversations WHERE id = ?1",
                )?
                .execute(params![conv, user, chat_core::clock::now_millis()])?;
            if n == 1 && ob && !chat_core::ConversationId::is_broadcast_id(&conv) {
                outbox::enqueue(c, Some(&conv), outbox::conversation_state(c, &conv)?)?;
            }
            Ok(n == 1)
        })
        .await
    }

    pub(super) async fn add_participants(
        &self,
        conversation_id: &str,
        user_ids: &[String],
    ) -> StoreResult<()> {
        let (conv, users) = (conversation_id.to_owned(), user_ids.to_vec());
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "INSERT OR IGNORE INTO participants (conversation_id, user_id, joined_at) \
                 SELECT id, ?2, ?3 FROM conversations WHERE id = ?1",
            )?;
            let now = chat_core::clock::now_millis();
            for u in &users {
                stmt.execute(params![conv, u, now])?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn remove_participant(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        let (conv, user) = (conversation_id.to_owned(), user_id.to_owned());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM participants WHERE conversation_id = ?1 AND user_id = ?2",
                )?
                .execute(params![conv, user])?;
            Ok(n == 1)
        })
        .await
    }

    pub(super) async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let user = user_id.to_owned();
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT conversation_id FROM participants WHERE user_id = ?1")?;
            let ids = stmt
                .query_map([user], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })
        .await
    }

    pub(super) async fn conversations_of(
        &self,
        user_id: &str,
        kind: Option<ConversationType>,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let user = user_id.to_owned();
        self.read(move |c| {
            let records = conversations_where(
                c,
                "id IN (SELECT conversation_id FROM participants WHERE user_id = ?1) \
                 AND (?2 IS NULL OR kind = ?2) ORDER BY last_activity_at DESC, id DESC",
                &[&user, &kind.map(|k| k.as_str())],
            )?;
            records
                .into_iter()
                .map(|record| summarise(c, record, &user))
                .collect()
        })
        .await
    }

    pub(super) async fn summary_for(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<ConversationSummary>> {
        let (conv, user) = (conversation_id.to_owned(), user_id.to_owned());
        self.read(move |c| match get_conversation(c, &conv)? {
            Some(record) => Ok(Some(summarise(c, record, &user)?)),
            None => Ok(None),
        })
        .await
    }
}
