//! Support records in the SQLite store: the desk's queues by status, the
//! updates of a support chat (agent, status, end, rating), and the limit on
//! transcripts sent by e-mail.

use super::outbox;
use super::rows::*;
use super::SqliteStore;
use crate::{ConversationRecord, StoreError, StoreResult, SupportStatus, SupportUpdate};
use chat_core::clock::Millis;
use chat_core::model::ConversationType;
use rusqlite::{params, OptionalExtension};

impl SqliteStore {
    pub(super) async fn support_conversations(
        &self,
        status: SupportStatus,
    ) -> StoreResult<Vec<ConversationRecord>> {
        self.read(move |c| {
            conversations_where(
                c,
                "kind = 'support' AND status = ?1 ORDER BY started_at, id",
                &[&status.as_str()],
            )
        })
        .await
    }

    pub(super) async fn update_support(
        &self,
        conversation_id: &str,
        u: SupportUpdate,
    ) -> StoreResult<ConversationRecord> {
        let conv = conversation_id.to_owned();
        let ob = self.outbox_on();
        self.write(move |c| {
            let exists = get_conversation(c, &conv)?.ok_or(StoreError::NotFound)?;
            if exists.kind != ConversationType::Support {
                return Err(StoreError::Conflict("not a support conversation".into()));
            }
            if let Some(agent) = &u.agent_id {
                c.execute(
                    "UPDATE conversations SET agent_id = ?2 WHERE id = ?1",
                    params![conv, agent],
                )?;
            }
            if let Some(status) = u.status {
                c.execute(
                    "UPDATE conversations SET status = ?2 WHERE id = ?1",
                    params![conv, status.as_str()],
                )?;
            }
            if let Some(at) = u.ended_at {
                c.execute(
                    "UPDATE conversations SET ended_at = ?2 WHERE id = ?1",
                    params![conv, at],
                )?;
            }
            if let Some((rating, comment)) = &u.rating {
                c.execute(
                    "UPDATE conversations SET rating = ?2, rating_comment = ?3 WHERE id = ?1",
                    params![conv, rating, comment],
                )?;
            }
            if ob {
                if u.status == Some(SupportStatus::Ended) {
                    let at = u.ended_at.unwrap_or_else(chat_core::clock::now_millis);
                    outbox::enqueue(c, Some(&conv), outbox::end(&conv, at))?;
                } else if u.status.is_some() || u.agent_id.is_some() {
                    outbox::enqueue(c, Some(&conv), outbox::conversation_state(c, &conv)?)?;
                }
                if let Some((rating, comment)) = &u.rating {
                    outbox::enqueue(
                        c,
                        Some(&conv),
                        outbox::rating(&conv, *rating, comment.as_deref()),
                    )?;
                }
            }
            get_conversation(c, &conv)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    pub(super) async fn agent_served(&self, agent_id: &str, user_id: &str) -> StoreResult<bool> {
        let (agent, user) = (agent_id.to_owned(), user_id.to_owned());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM conversations WHERE kind = 'support' AND agent_id = ?1 AND visitor_id = ?2 LIMIT 1",
            )?
            .query_row(params![agent, user], |_| Ok(()))
            .optional()?
            .is_some())
        })
        .await
    }

    pub(super) async fn record_transcript(
        &self,
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
        max: u32,
    ) -> StoreResult<bool> {
        let conv = conversation_id.to_owned();
        self.write(move |c| {
            let recent: i64 = c
                .prepare_cached("SELECT count(*) FROM transcripts_sent WHERE conversation_id = ?1 AND sent_at > ?2")?
                .query_row(params![conv, at - window_ms], |r| r.get(0))?;
            if recent >= max as i64 {
                return Ok(false);
            }
            c.prepare_cached("INSERT INTO transcripts_sent (conversation_id, sent_at) VALUES (?1, ?2)")?
                .execute(params![conv, at])?;
            Ok(true)
        })
        .await
    }
}
