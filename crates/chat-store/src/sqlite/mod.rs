//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go to a single writer thread that drains its queue into one
//! transaction at a time (group commit): under load, hundreds of messages share
//! one fsync instead of paying one each. Each write runs inside its own
//! savepoint, so one failing write does not spoil the others of its batch, and
//! its caller is answered only after the batch's COMMIT — an acked message is
//! on disk. Reads run on a small pool of separate connections (WAL lets them
//! proceed while the writer writes).
//!
//! Positions (the `sync` cursor, see the crate doc) come from the one-row
//! table `positions`, counted inside the write transaction: SQLite lets one
//! transaction write at a time (`BEGIN IMMEDIATE`), so positions follow
//! commit order even with several stores open on the same file. The writer
//! reads the counter once per transaction, counts in memory
//! ([`Tx`](writer::Tx)) and stores it back just before COMMIT.
//!
//! What a write costs is mostly how many distinct pages it dirties: a group
//! commit writes each changed page once, as a WAL frame, and checksums it. A
//! new message dirties the last leaf of the table and of `messages_new`
//! (both ordered by creation, so shared with the rest of its commit) and one
//! leaf of `messages_room` in its room; edits and deletions also enter
//! `messages_changed`. Under the ack benchmark (one message per room per
//! commit) that is about 1.9 frames per message (schema migration 7; 3.1
//! when every message was also indexed by room and position). SQLite writes
//! each frame as two `pwrite`s (header, page); with `synchronous = FULL` the
//! writer's WAL goes through `gathered_wal`, a VFS that writes a commit's
//! frames as one run before the commit's fsync.
//!
//! This file holds the store itself: opening, shutting, and the [`Store`]
//! impl, which forwards each method to the module of its concept:
//! `writer` (the writer thread, group commit, checkpoints), `connection`
//! (pragmas, reader pool), `gathered_wal` (the writer's WAL writes),
//! `users`, `conversations` (and participants), `support`, `messages`
//! (writes), `history` (reads, `sync`, read markers) and `outbox`.

mod attachments;
mod connection;
mod conversations;
mod gathered_wal;
mod history;
mod messages;
mod notifications;
mod outbox;
mod rows;
pub mod schema;
mod support;
mod users;
mod writer;

pub use connection::Synchronous;

use crate::{
    Appended, ConversationRecord, ConversationSummary, NewConversation, NewMessage, OutboxItem,
    Page, Store, StoreError, StoreResult, SupportStatus, SupportUpdate, UserRecord,
};
use async_trait::async_trait;
use chat_core::clock::Millis;
use chat_core::model::{ConversationType, Message, Reactions};
use connection::{configure, open_checkpointer, open_writer};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::Notify;
use writer::{checkpoint_loop, start_answerer, writer_loop, Job};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            // The disk, or `max_page_count`: nothing was written; writes
            // succeed again once there is space.
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    /// Test only: the writer waits up to this long (µs, random) before each
    /// COMMIT, holding the write lock, to interleave several stores' commits.
    commit_delay_us: Arc<AtomicU64>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    outbox: AtomicBool,
    outbox_signal: Arc<Notify>,
    /// The last write failed for want of space; cleared by the next write
    /// that commits. `ping` reports it, so `/health` shows the store degraded.
    full: AtomicBool,
}

impl SqliteStore {
    fn outbox_on(&self) -> bool {
        self.outbox.load(Ordering::Relaxed)
    }

    /// Test only (the contract suite's concurrency test): before each COMMIT
    /// the writer waits a random time up to `max`, holding the write lock.
    #[doc(hidden)]
    pub fn set_test_commit_delay(&self, max: std::time::Duration) {
        self.commit_delay_us
            .store(max.as_micros() as u64, Ordering::Relaxed);
    }

    /// Opens (creating if needed) `dir/chat.db`, migrates it and starts the
    /// writer, with `synchronous = FULL`. Opened on a tokio runtime, the
    /// store answers its writes from a task on that runtime (see `answer`),
    /// which must then keep running while the store is used.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Self::open_with(dir, Synchronous::Full)
    }

    /// [`open`](Self::open) with a choice of when a commit counts as on disk.
    pub fn open_with(dir: &Path, sync: Synchronous) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("chat.db");
        let mut conn = open_writer(&path, sync)?;
        configure(&conn, sync)?;
        schema::migrate(&mut conn)?;
        // When the writer goes quiet, a thread of its own copies the WAL into
        // the database, so that readers do not wade through a long WAL while
        // nothing is written; under load the writer's own checkpoints (see
        // `configure`) do it. See `checkpoint_loop`.
        let checkpointer = open_checkpointer(&path, sync)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let commit_delay_us = Arc::new(AtomicU64::new(0));
        let delay = commit_delay_us.clone();
        let commits = Arc::new(AtomicU64::new(0));
        let committed = commits.clone();
        let answerer = start_answerer();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stop_rx, &commits))?;
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                writer_loop(conn, rx, delay, &committed, answerer);
                drop(stop_tx); // stops the checkpointer
            })?;
        Ok(Self {
            path,
            commit_delay_us,
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            outbox: AtomicBool::new(false),
            outbox_signal: Arc::new(Notify::new()),
            full: AtomicBool::new(false),
        })
    }

    /// Stops accepting writes, lets the writer finish its queue, and waits for it.
    pub fn shut(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// Caps the database file at `pages` pages (`PRAGMA max_page_count` of
    /// the writer; 0 leaves it as it is). Past it, writes fail with
    /// [`StoreError::Full`] as on a full disk.
    pub async fn set_max_page_count(&self, pages: u64) -> StoreResult<()> {
        if pages == 0 {
            return Ok(());
        }
        self.write_job(
            move |c| {
                c.pragma_update(
                    None,
                    "max_page_count",
                    i64::try_from(pages).unwrap_or(i64::MAX),
                )?;
                Ok(())
            },
            false,
        )
        .await
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Each method runs the inherent method of the same name, in the module of
/// its concept. An inherent method comes first in path resolution, so
/// `SqliteStore::x(self, …)` here calls it, not this impl again.
#[async_trait]
impl Store for SqliteStore {
    fn enable_outbox(&self) {
        self.outbox.store(true, Ordering::SeqCst);
    }

    fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }

    fn close(&self) {
        self.shut();
    }

    async fn ping(&self) -> StoreResult<()> {
        if self.full.load(Ordering::Relaxed) {
            return Err(StoreError::Full);
        }
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .map(|_| ())
    }

    async fn flush(&self) -> StoreResult<()> {
        self.write_job(|_| Ok(()), false).await
    }

    async fn upsert_user(&self, u: UserRecord) -> StoreResult<()> {
        SqliteStore::upsert_user(self, u).await
    }

    async fn upsert_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        SqliteStore::upsert_users(self, users).await
    }

    async fn users(&self, ids: &[String]) -> StoreResult<Vec<UserRecord>> {
        SqliteStore::users(self, ids).await
    }

    async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        SqliteStore::all_users(self).await
    }

    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        SqliteStore::create_conversation(self, new).await
    }

    async fn find_direct(&self, a: &str, b: &str) -> StoreResult<Option<String>> {
        SqliteStore::find_direct(self, a, b).await
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        SqliteStore::conversation(self, id).await
    }

    async fn add_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
        SqliteStore::add_participant(self, conversation_id, user_id).await
    }

    async fn add_participants(
        &self,
        conversation_id: &str,
        user_ids: &[String],
    ) -> StoreResult<()> {
        SqliteStore::add_participants(self, conversation_id, user_ids).await
    }

    async fn remove_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
        SqliteStore::remove_participant(self, conversation_id, user_id).await
    }

    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        SqliteStore::conversation_ids_of(self, user_id).await
    }

    async fn conversations_of(
        &self,
        user_id: &str,
        kind: Option<ConversationType>,
    ) -> StoreResult<Vec<ConversationSummary>> {
        SqliteStore::conversations_of(self, user_id, kind).await
    }

    async fn summary_for(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<ConversationSummary>> {
        SqliteStore::summary_for(self, conversation_id, user_id).await
    }

    async fn support_conversations(
        &self,
        status: SupportStatus,
    ) -> StoreResult<Vec<ConversationRecord>> {
        SqliteStore::support_conversations(self, status).await
    }

    async fn update_support(
        &self,
        conversation_id: &str,
        u: SupportUpdate,
    ) -> StoreResult<ConversationRecord> {
        SqliteStore::update_support(self, conversation_id, u).await
    }

    async fn agent_served(&self, agent_id: &str, user_id: &str) -> StoreResult<bool> {
        SqliteStore::agent_served(self, agent_id, user_id).await
    }

    async fn append_message(&self, m: NewMessage) -> StoreResult<Appended> {
        SqliteStore::append_message(self, m).await
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        SqliteStore::message(self, id).await
    }

    async fn edit_message(&self, id: &str, content: String, at: Millis) -> StoreResult<Message> {
        SqliteStore::edit_message(self, id, content, at).await
    }

    async fn delete_message(&self, id: &str, at: Millis) -> StoreResult<Message> {
        SqliteStore::delete_message(self, id, at).await
    }

    async fn toggle_reaction(
        &self,
        id: &str,
        user_id: &str,
        emoji: &str,
        at: Millis,
    ) -> StoreResult<(Message, Reactions)> {
        SqliteStore::toggle_reaction(self, id, user_id, emoji, at).await
    }

    async fn history(
        &self,
        conversation_id: &str,
        page: Page,
    ) -> StoreResult<(Vec<Message>, bool)> {
        SqliteStore::history(self, conversation_id, page).await
    }

    async fn sync(
        &self,
        user_id: &str,
        since: &str,
        limit: usize,
    ) -> StoreResult<(Vec<Message>, bool)> {
        SqliteStore::sync(self, user_id, since, limit).await
    }

    async fn transcript(&self, conversation_id: &str) -> StoreResult<Vec<Message>> {
        SqliteStore::transcript(self, conversation_id).await
    }

    async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        message_id: &str,
        at: Millis,
    ) -> StoreResult<()> {
        SqliteStore::mark_read(self, conversation_id, user_id, message_id, at).await
    }

    async fn newest_message_id(&self, conversation_id: &str) -> StoreResult<Option<String>> {
        SqliteStore::newest_message_id(self, conversation_id).await
    }

    async fn import_message(&self, m: NewMessage) -> StoreResult<Appended> {
        SqliteStore::import_message(self, m).await
    }

    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxItem>> {
        SqliteStore::outbox_peek(self, limit).await
    }

    async fn outbox_done(&self, seqs: &[i64]) -> StoreResult<()> {
        SqliteStore::outbox_done(self, seqs).await
    }

    async fn outbox_park(&self, seq: i64, code: &str, reason: &str) -> StoreResult<()> {
        SqliteStore::outbox_park(self, seq, code, reason).await
    }

    async fn outbox_counts(&self) -> StoreResult<(u64, u64)> {
        SqliteStore::outbox_counts(self).await
    }

    async fn outbox_last_dead(&self) -> StoreResult<Option<(String, String)>> {
        SqliteStore::outbox_last_dead(self).await
    }

    async fn outbox_requeue(&self, uuids: &[String]) -> StoreResult<u64> {
        SqliteStore::outbox_requeue(self, uuids).await
    }

    async fn record_transcript(
        &self,
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
        max: u32,
    ) -> StoreResult<bool> {
        SqliteStore::record_transcript(self, conversation_id, at, window_ms, max).await
    }
}

#[cfg(test)]
mod tests;
