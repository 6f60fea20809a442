//! Push subscriptions and notification windows in the SQLite store (schema
//! migration 6).

use super::SqliteStore;
use crate::{NotificationStore, PushSubscriptionRecord, StoreResult};
use async_trait::async_trait;
use chat_core::clock::Millis;
use rusqlite::{params, OptionalExtension};
use std::collections::BTreeSet;

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn add_push_subscription(
        &self,
        user: &str,
        s: PushSubscriptionRecord,
        at: Millis,
    ) -> StoreResult<()> {
        let user = user.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(endpoint) DO UPDATE SET user_id = ?2, p256dh = ?3, auth = ?4",
            )?
            .execute(params![s.endpoint, user, s.p256dh, s.auth, at])?;
            Ok(())
        })
        .await
    }

    async fn remove_push_subscription(&self, user: &str, endpoint: &str) -> StoreResult<bool> {
        let (user, endpoint) = (user.to_owned(), endpoint.to_owned());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM push_subscriptions WHERE endpoint = ?1 AND user_id = ?2",
                )?
                .execute(params![endpoint, user])?;
            Ok(n > 0)
        })
        .await
    }

    async fn forget_push_endpoint(&self, endpoint: &str) -> StoreResult<()> {
        let endpoint = endpoint.to_owned();
        self.write(move |c| {
            c.prepare_cached("DELETE FROM push_subscriptions WHERE endpoint = ?1")?
                .execute([endpoint])?;
            Ok(())
        })
        .await
    }

    async fn push_subscriptions(&self, user: &str) -> StoreResult<Vec<PushSubscriptionRecord>> {
        let user = user.to_owned();
        self.read(move |c| {
            let subs = c
                .prepare_cached(
                    "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = ?1 \
                     ORDER BY created_at, endpoint",
                )?
                .query_map([user], |r| {
                    Ok(PushSubscriptionRecord {
                        endpoint: r.get(0)?,
                        p256dh: r.get(1)?,
                        auth: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(subs)
        })
        .await
    }

    async fn open_notify_windows(
        &self,
        users: &[String],
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
    ) -> StoreResult<Vec<String>> {
        let (users, room) = (users.to_vec(), conversation_id.to_owned());
        self.write(move |c| {
            // The upsert writes only when no window is open; RETURNING says whether it did.
            let mut upsert = c.prepare_cached(
                    "INSERT INTO notify_windows (user_id, conversation_id, opened_at) \
                     VALUES (?1, ?2, ?3) \
                     ON CONFLICT(user_id, conversation_id) DO UPDATE SET opened_at = excluded.opened_at \
                     WHERE notify_windows.opened_at <= excluded.opened_at - ?4 \
                     RETURNING 1",
            )?;
            let mut opened = Vec::new();
            for user in users.into_iter().collect::<BTreeSet<_>>() {
                let written = upsert
                    .query_row(params![user, room, at, window_ms], |_| Ok(()))
                    .optional()?;
                if written.is_some() {
                    opened.push(user);
                }
            }
            Ok(opened)
        })
        .await
    }

    async fn release_notify_window(
        &self,
        user: &str,
        conversation_id: &str,
        opened_at: Millis,
    ) -> StoreResult<()> {
        let (user, room) = (user.to_owned(), conversation_id.to_owned());
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM notify_windows WHERE user_id = ?1 AND conversation_id = ?2 AND opened_at = ?3",
            )?
            .execute(params![user, room, opened_at])?;
            Ok(())
        })
        .await
    }
}
