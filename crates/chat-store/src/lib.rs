//! Where chat data lives.
//!
//! The gateway talks to a [`Store`] trait object only: the embedded SQLite
//! store (the default, [`sqlite::SqliteStore`]) or the PostgreSQL store that
//! several gateway nodes share ([`postgres::PgStore`]). The contract every
//! implementation keeps, checked by one suite against both
//! (`tests/contract.rs`):
//!
//! - a write's future resolves only once the write is durable (committed);
//! - every message creation, edit and deletion takes a **position** from one
//!   counter, in commit order: a change that commits later has a larger
//!   position, whichever connection or node wrote it, so the positions a
//!   reader can see always form a prefix. `sync` returns what changed after
//!   the creation position of the message the client names, by position, and
//!   so never skips a change that committed late (docs/protocol.md, "The
//!   sync cursor").
//!
//! Beside the chat itself the store keeps what else the gateway persists,
//! so every node sees it: attachment metadata ([`AttachmentStore`]) and
//! notification state ([`NotificationStore`]), both part of [`Store`].

pub mod attachments;
pub mod notifications;
pub mod outbox_items;
pub mod postgres;
pub mod records;
pub mod sqlite;

use async_trait::async_trait;
use chat_core::clock::Millis;
use chat_core::model::{ConversationType, Message, Reactions};
use std::sync::Arc;
use tokio::sync::Notify;

/// Histogram: how many writes one group commit carried (SQLite: every write
/// of a batch; PostgreSQL: the appends of a batch), recorded once the batch
/// committed. Commits that carry few writes each pay a whole fsync: under
/// load, a falling median says the store's writer is the bottleneck.
pub const COMMIT_WRITES: &str = "chat_store_commit_writes";

pub use attachments::{AttachmentRecord, AttachmentStore, SweptAttachments};
pub use notifications::{NotificationStore, PushSubscriptionRecord};
pub use records::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database refused or failed the operation (the driver's message).
    #[error("database error: {0}")]
    Database(String),
    /// The store cannot take the operation now: storage full, database
    /// unreachable or out of connections. Worth retrying later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The database or its disk is full (SQLITE_FULL): nothing was written;
    /// writes succeed again once there is space.
    #[error("the store is full")]
    Full,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a client may ask of a room's history.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: usize,
}

/// A page from messages fetched with `LIMIT limit + 1` (both backends ask for
/// one more than they return): at most `limit` messages, and whether there
/// were more.
pub(crate) fn into_page(mut messages: Vec<Message>, limit: usize) -> (Vec<Message>, bool) {
    let has_more = messages.len() > limit;
    messages.truncate(limit);
    (messages, has_more)
}

#[async_trait]
pub trait Store: AttachmentStore + NotificationStore + Send + Sync + 'static {
    /// From now on, every change also queues its ingest item for Odoo, in the
    /// same transaction (Odoo mode).
    fn enable_outbox(&self);
    /// Notified after a commit of this handle that may have queued outbox items.
    fn outbox_signal(&self) -> Arc<Notify>;
    /// Stops taking writes once those accepted are committed (shutdown).
    fn close(&self);

    /// Is the store usable right now? (For `/health`.)
    async fn ping(&self) -> StoreResult<()>;
    /// Waits until everything accepted so far is durable.
    async fn flush(&self) -> StoreResult<()>;

    // --- users -------------------------------------------------------------
    async fn upsert_user(&self, user: UserRecord) -> StoreResult<()>;
    /// Many users in one transaction (start-up with a large directory).
    async fn upsert_users(&self, users: Vec<UserRecord>) -> StoreResult<()>;
    async fn users(&self, ids: &[String]) -> StoreResult<Vec<UserRecord>>;
    async fn all_users(&self) -> StoreResult<Vec<UserRecord>>;

    // --- conversations -----------------------------------------------------
    /// Creates a conversation. For a `direct` one, returns the existing
    /// conversation of the same two people instead (`created == false`).
    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)>;
    async fn find_direct(&self, a: &str, b: &str) -> StoreResult<Option<String>>;
    async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>>;
    /// Adds a participant; `false` when it already was one.
    async fn add_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool>;
    /// Adds many participants at once (already present ones are skipped).
    async fn add_participants(&self, conversation_id: &str, user_ids: &[String])
        -> StoreResult<()>;
    /// Removes a participant; `false` when it was not one.
    async fn remove_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool>;
    /// Every conversation of a user (ids only), for joining its sockets' rooms.
    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// The user's conversations with unread count and last message, newest activity first.
    async fn conversations_of(
        &self,
        user_id: &str,
        kind: Option<ConversationType>,
    ) -> StoreResult<Vec<ConversationSummary>>;
    /// A conversation's summary as seen by one user.
    async fn summary_for(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<ConversationSummary>>;
    /// Support conversations in a given status, oldest first (agent console, queue rebuild).
    async fn support_conversations(
        &self,
        status: SupportStatus,
    ) -> StoreResult<Vec<ConversationRecord>>;
    async fn update_support(
        &self,
        conversation_id: &str,
        update: SupportUpdate,
    ) -> StoreResult<ConversationRecord>;
    /// Did `agent` ever serve a support chat with `user`? (routing policy)
    async fn agent_served(&self, agent_id: &str, user_id: &str) -> StoreResult<bool>;

    // --- messages ----------------------------------------------------------
    /// Appends a message, or returns the earlier one with the same `(author, clientId)`.
    /// The store assigns the message's id, time and position (see the crate doc).
    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended>;
    /// Stores a message written in Odoo, idempotently by its id, without
    /// queueing it back to Odoo. `Duplicate` when it was stored before.
    async fn import_message(&self, new: NewMessage) -> StoreResult<Appended>;
    async fn message(&self, id: &str) -> StoreResult<Option<Message>>;
    async fn edit_message(&self, id: &str, content: String, at: Millis) -> StoreResult<Message>;
    async fn delete_message(&self, id: &str, at: Millis) -> StoreResult<Message>;
    /// Adds the reaction, or removes it when the user had already made it.
    async fn toggle_reaction(
        &self,
        id: &str,
        user_id: &str,
        emoji: &str,
        at: Millis,
    ) -> StoreResult<(Message, Reactions)>;
    /// A page of a room's history and whether there is more in that direction.
    async fn history(&self, conversation_id: &str, page: Page)
        -> StoreResult<(Vec<Message>, bool)>;
    /// Everything created, edited or deleted in the user's rooms after the
    /// message `since` was created, by position (commit order), each message
    /// once at its latest change. An id the store does not know reads as
    /// "from the beginning".
    async fn sync(
        &self,
        user_id: &str,
        since: &str,
        limit: usize,
    ) -> StoreResult<(Vec<Message>, bool)>;
    /// All messages of a room, oldest first (transcripts).
    async fn transcript(&self, conversation_id: &str) -> StoreResult<Vec<Message>>;
    /// Records that `user` has read the room up to `message_id` (never moves backwards).
    async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        message_id: &str,
        at: Millis,
    ) -> StoreResult<()>;
    /// The newest message id of a room, if any.
    async fn newest_message_id(&self, conversation_id: &str) -> StoreResult<Option<String>>;

    // --- the outbox to Odoo (empty unless enabled) --------------------------
    /// The oldest queued items, in commit order. With several nodes on one
    /// database only one of them drains at a time: the others get nothing.
    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxItem>>;
    /// Removes delivered items.
    async fn outbox_done(&self, seqs: &[i64]) -> StoreResult<()>;
    /// Moves an item Odoo refused for good to the dead letters.
    async fn outbox_park(&self, seq: i64, code: &str, reason: &str) -> StoreResult<()>;
    /// (items waiting, items parked)
    async fn outbox_counts(&self) -> StoreResult<(u64, u64)>;
    /// `(code, reason)` of the most recently parked dead letter, if any.
    async fn outbox_last_dead(&self) -> StoreResult<Option<(String, String)>>;
    /// Moves the dead letters whose item has one of these `uuid`s back into
    /// the outbox, at their original place in the order (a retry asked from
    /// Odoo's back office once the cause is fixed); returns how many moved.
    async fn outbox_requeue(&self, uuids: &[String]) -> StoreResult<u64>;

    // --- support bookkeeping -----------------------------------------------
    /// Records a transcript send, refusing when `max` were sent in the last `window_ms`.
    async fn record_transcript(
        &self,
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
        max: u32,
    ) -> StoreResult<bool>;
}
