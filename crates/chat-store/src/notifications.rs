//! Offline notifications' state (protocol §7): the Web Push subscriptions of
//! each user, and the notification windows (at most one notification per
//! user and conversation per window), kept in the store so that every node
//! pushes to the same browsers and counts the same windows.

use crate::StoreResult;
use async_trait::async_trait;
use chat_core::clock::Millis;

/// A browser's push subscription (`push:subscribe`), as validated by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscriptionRecord {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Keeps a subscription for `user`. An endpoint belongs to one user: a
    /// browser that subscribes again under another login moves it.
    async fn add_push_subscription(
        &self,
        user: &str,
        subscription: PushSubscriptionRecord,
        at: Millis,
    ) -> StoreResult<()>;
    /// Removes `user`'s subscription with this endpoint; `false` when `user`
    /// has none with it (another user's is never touched).
    async fn remove_push_subscription(&self, user: &str, endpoint: &str) -> StoreResult<bool>;
    /// Removes a subscription whoever it belongs to (the push service said
    /// it is gone, or it now points somewhere pushes may not go).
    async fn forget_push_endpoint(&self, endpoint: &str) -> StoreResult<()>;
    /// A user's subscriptions, oldest first.
    async fn push_subscriptions(&self, user: &str) -> StoreResult<Vec<PushSubscriptionRecord>>;
    /// Opens, at `at`, the notification window of each of `users` for a
    /// conversation, except those with a window opened less than
    /// `window_ms` before `at` (they are not notified now); returns the
    /// users whose window it opened. One write for all of them (a message
    /// to a large group). Atomic per user: of several nodes asking at once,
    /// one opens the window.
    async fn open_notify_windows(
        &self,
        users: &[String],
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
    ) -> StoreResult<Vec<String>>;
    /// Gives back the window opened at `opened_at` when nothing could be
    /// delivered in it, so the next message tries again. A window opened
    /// since (another time) is left alone.
    async fn release_notify_window(
        &self,
        user: &str,
        conversation_id: &str,
        opened_at: Millis,
    ) -> StoreResult<()>;
}
