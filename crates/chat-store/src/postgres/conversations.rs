//! Conversations and their participants in the PostgreSQL store: creation
//! (a direct conversation at most once per pair), membership, and each
//! user's view of them (unread count, last message) in one query.

use super::outbox::enqueue;
use super::rows::*;
use super::{check_text, PgStore};
use crate::outbox_items;
use crate::{ConversationRecord, ConversationSummary, NewConversation, StoreError, StoreResult};
use chat_core::clock::now_millis;
use chat_core::model::ConversationType;

/// One conversation, through a pooled client or inside a transaction.
pub(super) async fn get_conversation(
    c: &impl deadpool_postgres::GenericClient,
    id: &str,
) -> StoreResult<Option<ConversationRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1"
        ))
        .await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .map(|r| conversation(&r))
        .transpose()
}

pub(super) fn direct_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}\n{b}")
    } else {
        format!("{b}\n{a}")
    }
}

/// A user's view of conversations: the record, its unread count for `$1` and
/// its last message, in one query.
fn summary_sql(clause: &str) -> String {
    format!(
        "SELECT {CONVERSATION_COLUMNS}, \
         (SELECT count(*) FROM messages u WHERE u.conversation_id = c.id \
          AND u.id > coalesce((SELECT p.last_read_id FROM participants p \
                               WHERE p.conversation_id = c.id AND p.user_id = $1), '') \
          AND u.author_id <> $1 AND u.deleted_at IS NULL AND u.kind <> 'system'), \
         {MESSAGE_COLUMNS} \
         FROM conversations c LEFT JOIN LATERAL \
         (SELECT * FROM messages l WHERE l.conversation_id = c.id AND l.deleted_at IS NULL \
          ORDER BY l.id DESC LIMIT 1) m ON true \
         WHERE {clause}"
    )
}

fn summary_from_row(r: &tokio_postgres::Row) -> StoreResult<ConversationSummary> {
    let record = conversation(r)?;
    let unread: i64 = get(r, CONVERSATION_WIDTH)?;
    let at = CONVERSATION_WIDTH + 1;
    let last_message = match get::<Option<String>>(r, at)? {
        Some(_) => Some(message_at(r, at)?),
        None => None,
    };
    Ok(ConversationSummary {
        record,
        unread_count: unread.max(0) as u64,
        last_message,
    })
}

impl PgStore {
    pub(super) async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        let key = match (new.kind, new.participants.as_slice()) {
            (ConversationType::Direct, [a, b]) => Some(direct_key(a, b)),
            (ConversationType::Direct, _) => {
                return Err(StoreError::Conflict(
                    "a direct conversation has two participants".into(),
                ))
            }
            _ => None,
        };
        let s = new.support.as_ref();
        check_text(
            [new.id.as_str(), &new.created_by]
                .into_iter()
                .chain(new.name.as_deref())
                .chain(new.participants.iter().map(String::as_str))
                .chain(s.iter().flat_map(|s| {
                    [
                        s.visitor_id.as_str(),
                        &s.visitor_name,
                        &s.visitor_email,
                        &s.query_type,
                        &s.department,
                    ]
                    .into_iter()
                    .chain(s.page_url.as_deref())
                })),
        )?;
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = self.lock_positions_if(&tx, ob).await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO conversations (id, kind, name, created_by, created_at, last_activity_at, \
                 direct_key, visitor_id, visitor_name, visitor_email, query_type, department, agent_id, \
                 status, started_at, page_url) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (direct_key) DO NOTHING",
            )
            .await?;
        let n = tx
            .execute(
                &stmt,
                &[
                    &new.id,
                    &new.kind.as_str(),
                    &new.name,
                    &new.created_by,
                    &new.at,
                    &key,
                    &s.map(|s| &s.visitor_id),
                    &s.map(|s| &s.visitor_name),
                    &s.map(|s| &s.visitor_email),
                    &s.map(|s| &s.query_type),
                    &s.map(|s| &s.department),
                    &s.and_then(|s| s.agent_id.as_ref()),
                    &s.map(|s| s.status.as_str()),
                    &s.map(|s| s.started_at),
                    &s.and_then(|s| s.page_url.as_ref()),
                ],
            )
            .await?;
        if n == 0 {
            // The pair already has its direct conversation.
            let stmt = tx
                .prepare_cached("SELECT id FROM conversations WHERE direct_key = $1")
                .await?;
            let existing: String = tx.query_one(&stmt, &[&key]).await?.get(0);
            let record = get_conversation(&tx, &existing)
                .await?
                .ok_or(StoreError::NotFound)?;
            tx.commit().await?;
            return Ok((record, false));
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO participants (conversation_id, user_id, joined_at) \
                 SELECT $1, u, $3 FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(&stmt, &[&new.id, &new.participants, &new.at])
            .await?;
        let record = get_conversation(&tx, &new.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(p) = positions.as_mut() {
            enqueue(
                &tx,
                p,
                Some(&new.id),
                outbox_items::conversation_state(&record),
            )
            .await?;
        }
        if let Some(p) = positions {
            p.save(&tx).await?;
        }
        tx.commit().await?;
        self.signal_outbox();
        Ok((record, true))
    }

    pub(super) async fn find_direct(&self, a: &str, b: &str) -> StoreResult<Option<String>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT id FROM conversations WHERE direct_key = $1")
            .await?;
        Ok(c.query_opt(&stmt, &[&direct_key(a, b)])
            .await?
            .map(|r| r.get(0)))
    }

    pub(super) async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        let c = self.client().await?;
        get_conversation(&c, id).await
    }

    pub(super) async fn add_participant(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        check_text([user_id])?;
        let ob = self.outbox_on() && !chat_core::ConversationId::is_broadcast_id(conversation_id);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = self.lock_positions_if(&tx, ob).await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO participants (conversation_id, user_id, joined_at) \
                 SELECT id, $2, $3 FROM conversations WHERE id = $1 ON CONFLICT DO NOTHING",
            )
            .await?;
        let n = tx
            .execute(&stmt, &[&conversation_id, &user_id, &now_millis()])
            .await?;
        if let (1, Some(mut p)) = (n, positions.take()) {
            let record = get_conversation(&tx, conversation_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            let item = outbox_items::conversation_state(&record);
            enqueue(&tx, &mut p, Some(conversation_id), item).await?;
            p.save(&tx).await?;
        }
        tx.commit().await?;
        if n == 1 {
            self.signal_outbox();
        }
        Ok(n == 1)
    }

    pub(super) async fn add_participants(
        &self,
        conversation_id: &str,
        user_ids: &[String],
    ) -> StoreResult<()> {
        let users: Vec<&str> = user_ids
            .iter()
            .map(String::as_str)
            .filter(|u| !u.contains('\0'))
            .collect();
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO participants (conversation_id, user_id, joined_at) \
                 SELECT c.id, u, $3 FROM conversations c, unnest($2::text[]) AS u \
                 WHERE c.id = $1 ON CONFLICT DO NOTHING",
            )
            .await?;
        c.execute(&stmt, &[&conversation_id, &users, &now_millis()])
            .await?;
        Ok(())
    }

    pub(super) async fn remove_participant(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM participants WHERE conversation_id = $1 AND user_id = $2")
            .await?;
        Ok(c.execute(&stmt, &[&conversation_id, &user_id]).await? == 1)
    }

    pub(super) async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT conversation_id FROM participants WHERE user_id = $1")
            .await?;
        Ok(c.query(&stmt, &[&user_id])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    pub(super) async fn conversations_of(
        &self,
        user_id: &str,
        kind: Option<ConversationType>,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&summary_sql(
                "c.id IN (SELECT conversation_id FROM participants WHERE user_id = $1) \
                 AND ($2::text IS NULL OR c.kind = $2) \
                 ORDER BY c.last_activity_at DESC, c.id DESC",
            ))
            .await?;
        c.query(&stmt, &[&user_id, &kind.map(|k| k.as_str())])
            .await?
            .iter()
            .map(summary_from_row)
            .collect()
    }

    pub(super) async fn summary_for(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<ConversationSummary>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&summary_sql("c.id = $2")).await?;
        c.query_opt(&stmt, &[&user_id, &conversation_id])
            .await?
            .map(|r| summary_from_row(&r))
            .transpose()
    }
}
