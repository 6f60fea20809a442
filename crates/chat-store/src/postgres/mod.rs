//! The PostgreSQL store, which several gateway nodes share
//! (`DATABASE_URL=postgres://…`).
//!
//! - **Driver**: tokio-postgres with a deadpool pool; every statement is
//!   prepared once per connection (`prepare_cached`).
//! - **Positions** (the `sync` cursor, see the crate doc): a transaction that
//!   creates, edits or deletes a message, or queues an outbox item, first
//!   locks the one row of `positions` and takes its positions from it; the row
//!   lock is held until COMMIT, so positions follow commit order across every
//!   connection and node. This serialises those commits (one at a time in the
//!   whole cluster); batching keeps that cheap.
//! - **Batching**: appends go through one task per node that takes whatever
//!   is queued (up to [`MAX_BATCH`](batch::MAX_BATCH)) into one transaction of a few
//!   array (`unnest`) statements, so under load one commit carries many
//!   messages. A write to a missing conversation is filtered out of the
//!   batch, not failed with it.
//! - **Idempotency** by the unique index `messages_client (author_id,
//!   client_id)`: `ON CONFLICT DO NOTHING`, then the earlier message is read.
//! - **Outbox**: one node drains at a time: the one holding a session-level
//!   advisory lock on its own connection; if it dies, its connection closes,
//!   the lock goes and another node's drainer takes over. Items are read by
//!   `seq`, a position, so in commit order.
//!
//! This file holds the store itself: options, opening, closing, error
//! mapping, and the [`Store`] impl, which forwards each method to the module
//! of its concept: `batch` (the append batcher), `positions`, `outbox`
//! (queueing and the drainer), `users`, `conversations` (and participants),
//! `support`, `messages` (writes) and `history` (reads, `sync`, read
//! markers).

mod attachments;
mod batch;
mod conversations;
mod history;
mod messages;
mod notifications;
mod outbox;
mod positions;
use positions::Positions;
mod rows;
pub mod schema;
mod support;
mod users;

use crate::{
    Appended, ConversationRecord, ConversationSummary, NewConversation, NewMessage, OutboxItem,
    Page, Store, StoreError, StoreResult, SupportStatus, SupportUpdate, UserRecord,
};
use async_trait::async_trait;
use batch::{batcher, Job};
use chat_core::clock::Millis;
use chat_core::model::{ConversationType, Message, Reactions};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use outbox::Drainer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_postgres::NoTls;

/// How the store connects and behaves; `Default` for production.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the pool.
    pub pool_size: usize,
    /// Test only: take positions from a sequence, i.e. before commit, with no
    /// lock. The contract suite shows that `sync` then skips messages.
    #[doc(hidden)]
    pub test_naive_positions: bool,
    /// Test only: each append batch waits a random time up to this long
    /// between taking its positions and committing.
    #[doc(hidden)]
    pub test_commit_delay: Option<Duration>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            test_naive_positions: false,
            test_commit_delay: None,
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match e.code() {
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(e.to_string()),
            Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound,
            Some(c)
                if *c == SqlState::DISK_FULL
                    || *c == SqlState::INSUFFICIENT_RESOURCES
                    || *c == SqlState::TOO_MANY_CONNECTIONS
                    || *c == SqlState::ADMIN_SHUTDOWN
                    || *c == SqlState::CANNOT_CONNECT_NOW
                    || *c == SqlState::READ_ONLY_SQL_TRANSACTION =>
            {
                StoreError::Unavailable(e.to_string())
            }
            Some(_) => StoreError::Database(e.to_string()),
            // No SQLSTATE: the connection failed or closed.
            None => StoreError::Unavailable(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// PostgreSQL refuses text with NUL bytes (SQLite keeps them); refused here,
/// per write, so one such value never fails a whole batch.
fn check_text<'a>(values: impl IntoIterator<Item = &'a str>) -> StoreResult<()> {
    if values.into_iter().any(|v| v.contains('\0')) {
        return Err(StoreError::Conflict("text contains a NUL character".into()));
    }
    Ok(())
}

pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    options: PgOptions,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    outbox: Arc<AtomicBool>,
    outbox_signal: Arc<Notify>,
    drainer: tokio::sync::Mutex<Drainer>,
    closed: AtomicBool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), migrates the
    /// schema and starts the append batcher.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, PgOptions::default()).await
    }

    pub async fn open_with(url: &str, options: PgOptions) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("DATABASE_URL: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .wait_timeout(Some(Duration::from_secs(10)))
            // A database that does not answer fails the call, not hangs it.
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        {
            let mut client = pool.get().await?;
            schema::migrate(&mut client).await?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox = Arc::new(AtomicBool::new(false));
        let outbox_signal = Arc::new(Notify::new());
        tokio::spawn(batcher(
            pool.clone(),
            options.clone(),
            outbox.clone(),
            outbox_signal.clone(),
            rx,
        ));
        Ok(Self {
            pool,
            config,
            options,
            jobs: Mutex::new(Some(tx)),
            outbox,
            outbox_signal,
            drainer: tokio::sync::Mutex::new(Drainer {
                client: None,
                leader: false,
            }),
            closed: AtomicBool::new(false),
        })
    }

    fn outbox_on(&self) -> bool {
        self.outbox.load(Ordering::Relaxed)
    }

    /// Locks the positions counter in `tx`: its first statement (see positions.rs).
    async fn lock_positions(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> StoreResult<Positions> {
        Positions::lock(tx, self.options.test_naive_positions).await
    }

    /// [`lock_positions`](Self::lock_positions) when the transaction takes
    /// positions only for what it queues in the outbox (`outbox`: it does).
    async fn lock_positions_if(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        outbox: bool,
    ) -> StoreResult<Option<Positions>> {
        Ok(if outbox {
            Some(self.lock_positions(tx).await?)
        } else {
            None
        })
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        Ok(self.pool.get().await?)
    }

    fn signal_outbox(&self) {
        if self.outbox_on() {
            self.outbox_signal.notify_one();
        }
    }

    fn submit(&self, job: Job) -> StoreResult<()> {
        let jobs = self.jobs.lock().map_err(|_| StoreError::Closed)?;
        let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }
}

/// Each method runs the inherent method of the same name, in the module of
/// its concept. An inherent method comes first in path resolution, so
/// `PgStore::x(self, …)` here calls it, not this impl again.
#[async_trait]
impl Store for PgStore {
    fn enable_outbox(&self) {
        self.outbox.store(true, Ordering::SeqCst);
    }

    fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut d) = self.drainer.try_lock() {
            // Dropping the connection releases the drain lock.
            d.client = None;
            d.leader = false;
        }
        self.pool.close();
    }

    async fn ping(&self) -> StoreResult<()> {
        let c = self.client().await?;
        c.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn flush(&self) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Flush(tx))?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    async fn upsert_user(&self, u: UserRecord) -> StoreResult<()> {
        PgStore::upsert_user(self, u).await
    }

    async fn upsert_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        PgStore::upsert_users(self, users).await
    }

    async fn users(&self, ids: &[String]) -> StoreResult<Vec<UserRecord>> {
        PgStore::users(self, ids).await
    }

    async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        PgStore::all_users(self).await
    }

    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        PgStore::create_conversation(self, new).await
    }

    async fn find_direct(&self, a: &str, b: &str) -> StoreResult<Option<String>> {
        PgStore::find_direct(self, a, b).await
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        PgStore::conversation(self, id).await
    }

    async fn add_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
        PgStore::add_participant(self, conversation_id, user_id).await
    }

    async fn add_participants(
        &self,
        conversation_id: &str,
        user_ids: &[String],
    ) -> StoreResult<()> {
        PgStore::add_participants(self, conversation_id, user_ids).await
    }

    async fn remove_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
        PgStore::remove_participant(self, conversation_id, user_id).await
    }

    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        PgStore::conversation_ids_of(self, user_id).await
    }

    async fn conversations_of(
        &self,
        user_id: &str,
        kind: Option<ConversationType>,
    ) -> StoreResult<Vec<ConversationSummary>> {
        PgStore::conversations_of(self, user_id, kind).await
    }

    async fn summary_for(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<ConversationSummary>> {
        PgStore::summary_for(self, conversation_id, user_id).await
    }

    async fn support_conversations(
        &self,
        status: SupportStatus,
    ) -> StoreResult<Vec<ConversationRecord>> {
        PgStore::support_conversations(self, status).await
    }

    async fn update_support(
        &self,
        conversation_id: &str,
        u: SupportUpdate,
    ) -> StoreResult<ConversationRecord> {
        PgStore::update_support(self, conversation_id, u).await
    }

    async fn agent_served(&self, agent_id: &str, user_id: &str) -> StoreResult<bool> {
        PgStore::agent_served(self, agent_id, user_id).await
    }

    async fn append_message(&self, m: NewMessage) -> StoreResult<Appended> {
        PgStore::append_message(self, m).await
    }

    async fn import_message(&self, m: NewMessage) -> StoreResult<Appended> {
        PgStore::import_message(self, m).await
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        PgStore::message(self, id).await
    }

    async fn edit_message(&self, id: &str, content: String, at: Millis) -> StoreResult<Message> {
        PgStore::edit_message(self, id, content, at).await
    }

    async fn delete_message(&self, id: &str, at: Millis) -> StoreResult<Message> {
        PgStore::delete_message(self, id, at).await
    }

    async fn toggle_reaction(
        &self,
        id: &str,
        user_id: &str,
        emoji: &str,
        at: Millis,
    ) -> StoreResult<(Message, Reactions)> {
        PgStore::toggle_reaction(self, id, user_id, emoji, at).await
    }

    async fn history(
        &self,
        conversation_id: &str,
        page: Page,
    ) -> StoreResult<(Vec<Message>, bool)> {
        PgStore::history(self, conversation_id, page).await
    }

    async fn sync(
        &self,
        user_id: &str,
        since: &str,
        limit: usize,
    ) -> StoreResult<(Vec<Message>, bool)> {
        PgStore::sync(self, user_id, since, limit).await
    }

    async fn transcript(&self, conversation_id: &str) -> StoreResult<Vec<Message>> {
        PgStore::transcript(self, conversation_id).await
    }

    async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        message_id: &str,
        at: Millis,
    ) -> StoreResult<()> {
        PgStore::mark_read(self, conversation_id, user_id, message_id, at).await
    }

    async fn newest_message_id(&self, conversation_id: &str) -> StoreResult<Option<String>> {
        PgStore::newest_message_id(self, conversation_id).await
    }

    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxItem>> {
        PgStore::outbox_peek(self, limit).await
    }

    async fn outbox_done(&self, seqs: &[i64]) -> StoreResult<()> {
        PgStore::outbox_done(self, seqs).await
    }

    async fn outbox_park(&self, seq: i64, code: &str, reason: &str) -> StoreResult<()> {
        PgStore::outbox_park(self, seq, code, reason).await
    }

    async fn outbox_last_dead(&self) -> StoreResult<Option<(String, String)>> {
        PgStore::outbox_last_dead(self).await
    }

    async fn outbox_requeue(&self, uuids: &[String]) -> StoreResult<u64> {
        PgStore::outbox_requeue(self, uuids).await
    }

    async fn outbox_counts(&self) -> StoreResult<(u64, u64)> {
        PgStore::outbox_counts(self).await
    }

    async fn record_transcript(
        &self,
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
        max: u32,
    ) -> StoreResult<bool> {
        PgStore::record_transcript(self, conversation_id, at, window_ms, max).await
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}
