//! Support records in the PostgreSQL store: the desk's queues by status, the
//! updates of a support chat (agent, status, end, rating), and the limit on
//! transcripts sent by e-mail.

use super::conversations::get_conversation;
use super::outbox::enqueue;
use super::rows::*;
use super::{check_text, PgStore};
use crate::outbox_items;
use crate::{ConversationRecord, StoreError, StoreResult, SupportStatus, SupportUpdate};
use chat_core::clock::{now_millis, Millis};
use chat_core::model::ConversationType;

impl PgStore {
    pub(super) async fn support_conversations(
        &self,
        status: SupportStatus,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
                 WHERE c.kind = 'support' AND c.status = $1 ORDER BY c.started_at, c.id"
            ))
            .await?;
        c.query(&stmt, &[&status.as_str()])
            .await?
            .iter()
            .map(conversation)
            .collect()
    }

    pub(super) async fn update_support(
        &self,
        conversation_id: &str,
        u: SupportUpdate,
    ) -> StoreResult<ConversationRecord> {
        if let Some((_, Some(comment))) = &u.rating {
            check_text([comment.as_str()])?;
        }
        if let Some(Some(agent)) = &u.agent_id {
            check_text([agent.as_str()])?;
        }
        let ob = self.outbox_on();
        let conv = conversation_id;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = self.lock_positions_if(&tx, ob).await?;
        let stmt = tx
            .prepare_cached("SELECT kind FROM conversations WHERE id = $1 FOR UPDATE")
            .await?;
        let kind: String = tx
            .query_opt(&stmt, &[&conv])
            .await?
            .ok_or(StoreError::NotFound)?
            .get(0);
        if kind != ConversationType::Support.as_str() {
            return Err(StoreError::Conflict("not a support conversation".into()));
        }
        let stmt = tx
            .prepare_cached(
                "UPDATE conversations SET \
                 agent_id = CASE WHEN $2 THEN $3 ELSE agent_id END, \
                 status = coalesce($4, status), \
                 ended_at = coalesce($5, ended_at), \
                 rating = CASE WHEN $6 THEN $7 ELSE rating END, \
                 rating_comment = CASE WHEN $6 THEN $8 ELSE rating_comment END \
                 WHERE id = $1",
            )
            .await?;
        let rating = u.rating.as_ref().map(|(r, _)| *r as i32);
        let comment = u.rating.as_ref().and_then(|(_, c)| c.clone());
        tx.execute(
            &stmt,
            &[
                &conv,
                &u.agent_id.is_some(),
                &u.agent_id.clone().flatten(),
                &u.status.map(|s| s.as_str()),
                &u.ended_at,
                &u.rating.is_some(),
                &rating,
                &comment,
            ],
        )
        .await?;
        let record = get_conversation(&tx, conv)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(mut p) = positions.take() {
            if u.status == Some(SupportStatus::Ended) {
                let at = u.ended_at.unwrap_or_else(now_millis);
                enqueue(&tx, &mut p, Some(conv), outbox_items::end(conv, at)).await?;
            } else if u.status.is_some() || u.agent_id.is_some() {
                let item = outbox_items::conversation_state(&record);
                enqueue(&tx, &mut p, Some(conv), item).await?;
            }
            if let Some((rating, comment)) = &u.rating {
                let item = outbox_items::rating(conv, *rating, comment.as_deref());
                enqueue(&tx, &mut p, Some(conv), item).await?;
            }
            p.save(&tx).await?;
        }
        tx.commit().await?;
        self.signal_outbox();
        Ok(record)
    }

    pub(super) async fn agent_served(&self, agent_id: &str, user_id: &str) -> StoreResult<bool> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT 1 FROM conversations WHERE kind = 'support' AND agent_id = $1 \
                 AND visitor_id = $2 LIMIT 1",
            )
            .await?;
        Ok(c.query_opt(&stmt, &[&agent_id, &user_id]).await?.is_some())
    }

    pub(super) async fn record_transcript(
        &self,
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
        max: u32,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Nodes counting at once take turns on the conversation's row.
        let stmt = tx
            .prepare_cached("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE")
            .await?;
        tx.query_opt(&stmt, &[&conversation_id]).await?;
        let stmt = tx
            .prepare_cached(
                "SELECT count(*) FROM transcripts_sent WHERE conversation_id = $1 AND sent_at > $2",
            )
            .await?;
        let recent: i64 = tx
            .query_one(&stmt, &[&conversation_id, &(at - window_ms)])
            .await?
            .get(0);
        if recent >= max as i64 {
            return Ok(false);
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO transcripts_sent (conversation_id, sent_at) VALUES ($1, $2)",
            )
            .await?;
        tx.execute(&stmt, &[&conversation_id, &at]).await?;
        tx.commit().await?;
        Ok(true)
    }
}
