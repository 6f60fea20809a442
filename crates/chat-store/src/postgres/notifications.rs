//! Push subscriptions and notification windows in the PostgreSQL store
//! (schema migration 3).

use super::rows::get;
use super::{check_text, PgStore};
use crate::{NotificationStore, PushSubscriptionRecord, StoreResult};
use async_trait::async_trait;
use chat_core::clock::Millis;
use std::collections::BTreeSet;

#[async_trait]
impl NotificationStore for PgStore {
    async fn add_push_subscription(
        &self,
        user: &str,
        s: PushSubscriptionRecord,
        at: Millis,
    ) -> StoreResult<()> {
        check_text([user, &s.endpoint, &s.p256dh, &s.auth])?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (endpoint) DO UPDATE SET user_id = $2, p256dh = $3, auth = $4",
            )
            .await?;
        c.execute(&stmt, &[&s.endpoint, &user, &s.p256dh, &s.auth, &at])
            .await?;
        Ok(())
    }

    async fn remove_push_subscription(&self, user: &str, endpoint: &str) -> StoreResult<bool> {
        if check_text([user, endpoint]).is_err() {
            return Ok(false);
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2")
            .await?;
        Ok(c.execute(&stmt, &[&endpoint, &user]).await? > 0)
    }

    async fn forget_push_endpoint(&self, endpoint: &str) -> StoreResult<()> {
        if check_text([endpoint]).is_err() {
            return Ok(());
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM push_subscriptions WHERE endpoint = $1")
            .await?;
        c.execute(&stmt, &[&endpoint]).await?;
        Ok(())
    }

    async fn push_subscriptions(&self, user: &str) -> StoreResult<Vec<PushSubscriptionRecord>> {
        if check_text([user]).is_err() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = $1 \
                 ORDER BY created_at, endpoint",
            )
            .await?;
        c.query(&stmt, &[&user])
            .await?
            .iter()
            .map(|r| {
                Ok(PushSubscriptionRecord {
                    endpoint: get(r, 0)?,
                    p256dh: get(r, 1)?,
                    auth: get(r, 2)?,
                })
            })
            .collect()
    }

    async fn open_notify_windows(
        &self,
        users: &[String],
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
    ) -> StoreResult<Vec<String>> {
        check_text(users.iter().map(String::as_str).chain([conversation_id]))?;
        // One row per user: an upsert may not touch a row twice.
        let users: Vec<String> = users
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let c = self.client().await?;
        // The upsert writes only when no window is open; of several nodes
        // asking at once, the row lock lets one write and the others see
        // its window.
        let stmt = c
            .prepare_cached(
                "INSERT INTO notify_windows AS w (user_id, conversation_id, opened_at) \
                 SELECT u, $2, $3 FROM unnest($1::text[]) u \
                 ON CONFLICT (user_id, conversation_id) DO UPDATE SET opened_at = excluded.opened_at \
                 WHERE w.opened_at <= excluded.opened_at - $4 \
                 RETURNING w.user_id",
            )
            .await?;
        c.query(&stmt, &[&users, &conversation_id, &at, &window_ms])
            .await?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }

    async fn release_notify_window(
        &self,
        user: &str,
        conversation_id: &str,
        opened_at: Millis,
    ) -> StoreResult<()> {
        if check_text([user, conversation_id]).is_err() {
            return Ok(());
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "DELETE FROM notify_windows \
                 WHERE user_id = $1 AND conversation_id = $2 AND opened_at = $3",
            )
            .await?;
        c.execute(&stmt, &[&user, &conversation_id, &opened_at])
            .await?;
        Ok(())
    }
}
