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
//! table `positions`, incremented inside the write transaction: SQLite lets
//! one transaction write at a time (`BEGIN IMMEDIATE`), so positions follow
//! commit order even with several stores open on the same file.

mod outbox;
mod rows;
pub mod schema;

use crate::{
    Appended, ConversationRecord, ConversationSummary, NewConversation, NewMessage, OutboxItem,
    Page, Store, StoreError, StoreResult, SupportStatus, SupportUpdate, UserRecord,
};
use async_trait::async_trait;
use chat_core::clock::Millis;
use chat_core::model::{ConversationType, Message, Reactions};
use rows::*;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::{oneshot, Notify};

/// How many queued writes one transaction takes at most.
const MAX_BATCH: usize = 1024;
const READERS: usize = 4;
/// How often the checkpointer thread copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// When a commit is on disk (`PRAGMA synchronous` of the writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync of the WAL at every group commit: an acked write survives a
    /// power loss or an OS crash, not only a crash of the process. The default.
    #[default]
    Full,
    /// No fsync at commit (WAL mode): an acked write survives a crash or kill
    /// of the process, since it is in the OS's page cache, but the last
    /// commits before a power loss or kernel crash may be lost (the database
    /// stays consistent). Faster acks, less CPU; see docs/gateway-cli.md.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

impl std::str::FromStr for Synchronous {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            other => Err(format!("{other:?}: expected full or normal")),
        }
    }
}

type Reply = Box<dyn FnOnce(Result<(), &rusqlite::Error>) + Send>;
/// A queued write: runs in the batch's transaction and returns how to answer
/// its caller once the batch commits, and whether it failed for want of
/// space (SQLite then rolls back the whole transaction, not only the write).
type Job = Box<dyn FnOnce(&Connection) -> (Reply, bool) + Send>;

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

/// SQLITE_FULL: "database or disk is full" (the disk, or `max_page_count`).
fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
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
    /// writer, with `synchronous = FULL`.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Self::open_with(dir, Synchronous::Full)
    }

    /// [`open`](Self::open) with a choice of when a commit counts as on disk.
    pub fn open_with(dir: &Path, sync: Synchronous) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("chat.db");
        let mut conn = Connection::open(&path)?;
        configure(&conn, sync)?;
        schema::migrate(&mut conn)?;
        // Checkpoints run on their own thread and connection, off the writer's
        // serial path: a 1000-page checkpoint (with its fsync) inside a commit
        // stalled every message waiting on that commit (perf: 8.6 % of the
        // gateway's CPU under the ack benchmark, all of it in the writer).
        let checkpointer = open_checkpointer(&path, sync)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let commit_delay_us = Arc::new(AtomicU64::new(0));
        let delay = commit_delay_us.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stop_rx))?;
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                writer_loop(conn, rx, delay);
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

    async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        self.write_job(f, true).await
    }

    /// Queues `f` for the writer. `writes` is false for jobs that store
    /// nothing (a flush), whose success says nothing about free space.
    async fn write_job<R, F>(&self, f: F, writes: bool) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<R>>();
        let job: Job = Box::new(move |conn: &Connection| {
            // A full disk comes back as StoreError::Full (From<rusqlite::Error>).
            let result = in_savepoint(conn, f);
            let full = matches!(result, Err(StoreError::Full));
            let reply: Reply = Box::new(move |commit: Result<(), &rusqlite::Error>| {
                let outcome = match commit {
                    Ok(()) => result,
                    Err(e) if is_full(e) => Err(StoreError::Full),
                    Err(e) => Err(StoreError::Conflict(format!("commit failed: {e}"))),
                };
                let _ = tx.send(outcome);
            });
            (reply, full)
        });
        {
            let jobs = self.jobs.lock().map_err(|_| StoreError::Closed)?;
            let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        let result = rx.await.map_err(|_| StoreError::Closed)?;
        match &result {
            Err(StoreError::Full) => self.full.store(true, Ordering::Relaxed),
            Ok(_) if writes => self.full.store(false, Ordering::Relaxed),
            _ => {}
        }
        if result.is_ok() && self.outbox_on() {
            self.outbox_signal.notify_one();
        }
        result
    }

    async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match readers.lock().ok().and_then(|mut p| p.pop()) {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            // Each read is its own snapshot.
            let result = f(&conn);
            if let Ok(mut pool) = readers.lock() {
                if pool.len() < READERS {
                    pool.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("read task failed: {e}")))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.shut();
    }
}

fn configure(conn: &Connection, sync: Synchronous) -> StoreResult<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL (default): a committed transaction survives power loss, not only a
    // crash of the process. Group commit keeps its cost to one fsync per batch.
    // NORMAL: no fsync at commit; survives a process crash, not a power loss.
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The checkpointer thread does most of this work (see `checkpoint_loop`),
    // but under a steady write load its PASSIVE checkpoints never catch up
    // with the writer, so the WAL is never restarted and keeps growing; every
    // frame then lands on a new file block, which ext4 zeroes first (perf:
    // ~20 % of the gateway's CPU in `zero_user_segments` under the ack
    // benchmark). The writer's own checkpoint at 1000 pages runs between its
    // transactions, completes, and lets the WAL restart from its start.
    conn.pragma_update(None, "wal_autocheckpoint", 1000)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

fn open_checkpointer(path: &Path, sync: Synchronous) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Every [`CHECKPOINT_EVERY`], copies what the WAL gained into the database.
/// PASSIVE: it never waits for the writer or the readers, and the writer goes
/// on committing meanwhile (WAL mode allows a checkpointer beside the writer);
/// the writer restarts the WAL from its start once a checkpoint has copied
/// all of it. With nothing new in the WAL a round costs a few µs. Stops when
/// `stop` is dropped (the writer has stopped).
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<R>,
) -> StoreResult<R> {
    // Cached statements: `execute_batch` parses its SQL at every call, and
    // this runs twice per write.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match f(conn) {
        Ok(r) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(r)
        }
        Err(e) => {
            // SQLITE_FULL (and I/O errors) may roll back the whole
            // transaction, savepoint included: then the rollback fails, and
            // the write's own error is still the one to report.
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            }
            Err(e)
        }
    }
}

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Job>, commit_delay_us: Arc<AtomicU64>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
        {
            tracing::error!(error = %e, "cannot begin a write transaction");
            for job in batch {
                // Run nothing; answer every caller with the failure.
                drop(job);
            }
            continue;
        }
        let mut full = false;
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        for job in batch {
            if conn.is_autocommit() {
                // SQLite rolled the transaction back (a full disk): the rest
                // of the batch must not run outside of it, one autocommit at
                // a time. Dropping a job answers its caller with `Closed`.
                continue;
            }
            let (reply, job_full) = job(&conn);
            full |= job_full;
            replies.push(reply);
        }
        let delay = commit_delay_us.load(Ordering::Relaxed);
        if delay > 0 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64)
                .unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_micros(nanos % delay));
        }
        let commit = conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]).map(|_| ()))
            .map_err(|e| {
                if full {
                    // SQLITE_FULL rolled the whole batch back: its other writes
                    // were lost for the same reason, not for a conflict.
                    rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                        Some(format!("database or disk is full ({e})")),
                    )
                } else {
                    e
                }
            });
        if let Err(e) = &commit {
            tracing::error!(error = %e, "group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(commit.as_ref().map(|_| ()));
        }
    }
    tracing::debug!("sqlite writer stopped");
}

/// The next position (see the module doc); only ever called in the writer's
/// transaction, which holds SQLite's write lock until COMMIT.
fn next_position(c: &Connection) -> StoreResult<i64> {
    Ok(
        c.prepare_cached("UPDATE positions SET v = v + 1 WHERE id = 1 RETURNING v")?
            .query_row([], |r| r.get(0))?,
    )
}

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
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO users (id, name, role, email, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                 email = coalesce(excluded.email, users.email), updated_at = excluded.updated_at \
                 WHERE users.name IS NOT excluded.name OR users.role IS NOT excluded.role \
                 OR (excluded.email IS NOT NULL AND users.email IS NOT excluded.email)",
            )?
            .execute(params![u.id, u.name, u.role.as_str(), u.email, chat_core::clock::now_millis()])?;
            Ok(())
        })
        .await
    }

    async fn upsert_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "INSERT INTO users (id, name, role, email, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                 email = coalesce(excluded.email, users.email), updated_at = excluded.updated_at",
            )?;
            let now = chat_core::clock::now_millis();
            for u in &users {
                stmt.execute(params![u.id, u.name, u.role.as_str(), u.email, now])?;
            }
            Ok(())
        })
        .await
    }

    async fn users(&self, ids: &[String]) -> StoreResult<Vec<UserRecord>> {
        let ids = ids.to_vec();
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name, role, email FROM users WHERE id = ?1")?;
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(u) = stmt.query_row([id], user_from_row).optional()? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name, role, email FROM users ORDER BY id")?;
            let users = stmt
                .query_map([], user_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(users)
        })
        .await
    }

    async fn create_conversation(
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

    async fn find_direct(&self, a: &str, b: &str) -> StoreResult<Option<String>> {
        let (a, b) = (a.to_owned(), b.to_owned());
        self.read(move |c| find_direct(c, &a, &b)).await
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        let id = id.to_owned();
        self.read(move |c| get_conversation(c, &id)).await
    }

    async fn add_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
        let (conv, user) = (conversation_id.to_owned(), user_id.to_owned());
        let ob = self.outbox_on();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO participants (conversation_id, user_id, joined_at) \
                     SELECT id, ?2, ?3 FROM conversations WHERE id = ?1",
                )?
                .execute(params![conv, user, chat_core::clock::now_millis()])?;
            if n == 1 && ob && !conv.starts_with("broadcast-") {
                outbox::enqueue(c, Some(&conv), outbox::conversation_state(c, &conv)?)?;
            }
            Ok(n == 1)
        })
        .await
    }

    async fn add_participants(
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

    async fn remove_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
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

    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
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

    async fn conversations_of(
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

    async fn summary_for(
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

    async fn support_conversations(
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

    async fn update_support(
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

    async fn agent_served(&self, agent_id: &str, user_id: &str) -> StoreResult<bool> {
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

    async fn append_message(&self, m: NewMessage) -> StoreResult<Appended> {
        let ob = self.outbox_on();
        self.write(move |c| {
            if let Some(client_id) = &m.client_id {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE author_id = ?1 AND client_id = ?2"
                );
                if let Some(existing) = c
                    .prepare_cached(&sql)?
                    .query_row(params![m.author_id, client_id], message_from_row)
                    .optional()?
                {
                    return Ok(Appended::Duplicate(existing));
                }
            }
            // The id is made here, by the writer, so a room's ids (its
            // history order) follow the order messages were stored in.
            let id = chat_core::clock::new_id();
            let at = chat_core::clock::id_millis(&id).unwrap_or(m.at);
            let m = NewMessage { id, at, ..m };
            insert_message(c, &m, m.at)?;
            // The author has read its own message.
            c.prepare_cached(
                "UPDATE participants SET last_read_id = ?3, last_read_at = ?4 \
                 WHERE conversation_id = ?1 AND user_id = ?2 AND (last_read_id IS NULL OR last_read_id < ?3)",
            )?
            .execute(params![m.conversation_id, m.author_id, m.id, m.at])?;
            // What was just written, without reading it back (the writer is the bottleneck).
            let stored = stored_message(m);
            if ob {
                outbox::enqueue(c, Some(&stored.room_id), outbox::message(&stored))?;
            }
            Ok(Appended::New(stored))
        })
        .await
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        let id = id.to_owned();
        self.read(move |c| get_message(c, &id)).await
    }

    async fn edit_message(&self, id: &str, content: String, at: Millis) -> StoreResult<Message> {
        let id = id.to_owned();
        let ob = self.outbox_on();
        self.write(move |c| {
            let pos = next_position(c)?;
            let n = c
                .prepare_cached(
                    "UPDATE messages SET content = ?2, edited_at = ?3, changed_at = ?3, pos = ?4 \
                     WHERE id = ?1 AND deleted_at IS NULL",
                )?
                .execute(params![id, content, at, pos])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            if ob {
                let room: String = c.query_row(
                    "SELECT conversation_id FROM messages WHERE id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                outbox::enqueue(c, Some(&room), outbox::edit(&id, &content, at))?;
            }
            get_message(c, &id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn delete_message(&self, id: &str, at: Millis) -> StoreResult<Message> {
        let id = id.to_owned();
        let ob = self.outbox_on();
        self.write(move |c| {
            let pos = next_position(c)?;
            let n = c
                .prepare_cached(
                    "UPDATE messages SET deleted_at = ?2, changed_at = ?2, content = '', attachments = '[]', \
                     pos = ?3 WHERE id = ?1 AND deleted_at IS NULL",
                )?
                .execute(params![id, at, pos])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            if ob {
                let room: String = c.query_row(
                    "SELECT conversation_id FROM messages WHERE id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                outbox::enqueue(c, Some(&room), outbox::delete(&id, at))?;
            }
            get_message(c, &id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn toggle_reaction(
        &self,
        id: &str,
        user_id: &str,
        emoji: &str,
        at: Millis,
    ) -> StoreResult<(Message, Reactions)> {
        let (id, user, emoji) = (id.to_owned(), user_id.to_owned(), emoji.to_owned());
        let ob = self.outbox_on();
        self.write(move |c| {
            let mut message = get_message(c, &id)?.ok_or(StoreError::NotFound)?;
            if message.deleted_at.is_some() {
                return Err(StoreError::NotFound);
            }
            let users = message.reactions.entry(emoji.clone()).or_default();
            let added = if let Some(pos) = users.iter().position(|u| *u == user) {
                users.remove(pos);
                if users.is_empty() {
                    message.reactions.remove(&emoji);
                }
                false
            } else {
                users.push(user.clone());
                true
            };
            if ob {
                outbox::enqueue(c, Some(&message.room_id), outbox::reaction(&id, &user, &emoji, added))?;
            }
            let json = serde_json::to_string(&message.reactions).map_err(|e| corrupt(e.to_string()))?;
            c.prepare_cached("UPDATE messages SET reactions = ?2, changed_at = max(changed_at, ?3) WHERE id = ?1")?
                .execute(params![id, json, at])?;
            let reactions = message.reactions.clone();
            Ok((message, reactions))
        })
        .await
    }

    async fn history(
        &self,
        conversation_id: &str,
        page: Page,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let conv = conversation_id.to_owned();
        self.read(move |c| {
            let limit = page.limit.clamp(1, 100);
            let (cond, order, cursor) = match (&page.before, &page.after) {
                (_, Some(after)) => ("id > ?2", "ASC", after.clone()),
                (Some(before), None) => ("id < ?2", "DESC", before.clone()),
                (None, None) => ("?2 = ''", "DESC", String::new()),
            };
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND {cond} \
                 AND deleted_at IS NULL ORDER BY id {order} LIMIT ?3"
            );
            let mut messages = c
                .prepare_cached(&sql)?
                .query_map(params![conv, cursor, (limit + 1) as i64], message_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = messages.len() > limit;
            messages.truncate(limit);
            Ok((messages, has_more))
        })
        .await
    }

    async fn sync(
        &self,
        user_id: &str,
        since: &str,
        limit: usize,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let (user, since) = (user_id.to_owned(), since.to_owned());
        self.read(move |c| {
            let from: i64 = c
                .prepare_cached("SELECT seq FROM messages WHERE id = ?1")?
                .query_row([&since], |r| r.get::<_, Option<i64>>(0))
                .optional()?
                .flatten()
                .unwrap_or(0);
            let sql = sync_sql();
            let mut messages = c
                .prepare_cached(&sql)?
                .query_map(params![user, from, (limit + 1) as i64], message_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = messages.len() > limit;
            messages.truncate(limit);
            Ok((messages, has_more))
        })
        .await
    }

    async fn transcript(&self, conversation_id: &str) -> StoreResult<Vec<Message>> {
        let conv = conversation_id.to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND deleted_at IS NULL ORDER BY id"
            );
            let messages = c
                .prepare_cached(&sql)?
                .query_map([conv], message_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(messages)
        })
        .await
    }

    async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        message_id: &str,
        at: Millis,
    ) -> StoreResult<()> {
        let (conv, user, msg) = (
            conversation_id.to_owned(),
            user_id.to_owned(),
            message_id.to_owned(),
        );
        let ob = self.outbox_on();
        self.write(move |c| {
            let in_room: Option<String> = c
                .prepare_cached("SELECT conversation_id FROM messages WHERE id = ?1")?
                .query_row([&msg], |r| r.get(0))
                .optional()?;
            if in_room.as_deref() != Some(conv.as_str()) {
                return Err(StoreError::NotFound);
            }
            let moved = c
                .prepare_cached(
                "UPDATE participants SET last_read_id = ?3, last_read_at = ?4 \
                 WHERE conversation_id = ?1 AND user_id = ?2 AND (last_read_id IS NULL OR last_read_id < ?3)",
            )?
                .execute(params![conv, user, msg, at])?;
            if moved == 1 && ob {
                outbox::enqueue(c, Some(&conv), outbox::read(&conv, &msg, &user, at))?;
            }
            Ok(())
        })
        .await
    }

    async fn newest_message_id(&self, conversation_id: &str) -> StoreResult<Option<String>> {
        let conv = conversation_id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT max(id) FROM messages WHERE conversation_id = ?1")?
                    .query_row([conv], |r| r.get::<_, Option<String>>(0))?,
            )
        })
        .await
    }

    async fn import_message(&self, m: NewMessage) -> StoreResult<Appended> {
        self.write(move |c| {
            if let Some(existing) = get_message(c, &m.id)? {
                return Ok(Appended::Duplicate(existing));
            }
            // Odoo's clock is not ours: `sync` finds it by when it arrived.
            insert_message(c, &m, chat_core::clock::now_millis().max(m.at))?;
            let stored = get_message(c, &m.id)?.ok_or(StoreError::NotFound)?;
            Ok(Appended::New(stored))
        })
        .await
    }

    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxItem>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT seq, item FROM outbox ORDER BY seq LIMIT ?1")?;
            let rows = stmt
                .query_map([limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(seq, text)| {
                    let item = serde_json::from_str(&text)
                        .map_err(|e| corrupt(format!("outbox item {seq}: {e}")))?;
                    Ok(OutboxItem { seq, item })
                })
                .collect()
        })
        .await
    }

    async fn outbox_done(&self, seqs: &[i64]) -> StoreResult<()> {
        let seqs = seqs.to_vec();
        self.write(move |c| {
            let mut stmt = c.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for s in &seqs {
                stmt.execute([s])?;
            }
            Ok(())
        })
        .await
    }

    async fn outbox_park(&self, seq: i64, code: &str, reason: &str) -> StoreResult<()> {
        let (code, reason) = (code.to_owned(), reason.to_owned());
        self.write(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO dead_letters (seq, item, code, reason, parked_at) \
                 SELECT seq, item, ?2, ?3, ?4 FROM outbox WHERE seq = ?1",
                params![seq, code, reason, chat_core::clock::now_millis()],
            )?;
            c.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
            Ok(())
        })
        .await
    }

    async fn outbox_counts(&self) -> StoreResult<(u64, u64)> {
        self.read(|c| {
            let backlog: i64 = c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
            let dead: i64 = c.query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))?;
            Ok((backlog as u64, dead as u64))
        })
        .await
    }

    async fn outbox_last_dead(&self) -> StoreResult<Option<(String, String)>> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT code, reason FROM dead_letters ORDER BY parked_at DESC, seq DESC LIMIT 1",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        ))
                    },
                )
                .optional()?;
            Ok(row)
        })
        .await
    }

    async fn outbox_requeue(&self, uuids: &[String]) -> StoreResult<u64> {
        let uuids = uuids.to_vec();
        self.write(move |c| {
            let mut moved = 0u64;
            // The original seq puts the item back where it was in the order:
            // a refused conversation goes before its refused messages again.
            let mut back = c.prepare_cached(
                "INSERT OR IGNORE INTO outbox (seq, conversation_id, item, created_at) \
                 SELECT seq, json_extract(item, '$.conversation_id'), item, ?2 FROM dead_letters \
                 WHERE json_extract(item, '$.uuid') = ?1",
            )?;
            let mut gone = c.prepare_cached(
                "DELETE FROM dead_letters WHERE json_extract(item, '$.uuid') = ?1 \
                 AND seq IN (SELECT seq FROM outbox)",
            )?;
            let now = chat_core::clock::now_millis();
            for uuid in &uuids {
                back.execute(params![uuid, now])?;
                moved += gone.execute([uuid])? as u64;
            }
            Ok(moved)
        })
        .await
    }

    async fn record_transcript(
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

/// `sync`'s query: the messages of `?1`'s conversations whose latest change
/// has a position after `?2`, at most `?3`, by position: one search of
/// `messages_pos` per conversation.
fn sync_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id IN \
         (SELECT conversation_id FROM participants WHERE user_id = ?1) \
         AND pos > ?2 ORDER BY pos LIMIT ?3"
    )
}

/// The message as `insert_message` stored it.
fn stored_message(m: NewMessage) -> Message {
    Message {
        id: m.id,
        room_id: m.conversation_id,
        author_id: m.author_id,
        author_name: m.author_name,
        content: m.content,
        kind: m.kind,
        attachments: m.attachments,
        parent_id: m.parent_id,
        client_id: m.client_id,
        created_at: m.at,
        edited_at: None,
        reactions: Default::default(),
        deleted_at: None,
    }
}

/// Inserts a new message and marks its conversation active. `changed_at` is
/// what `sync` scans by: the creation time for our messages, the arrival time
/// for imported ones.
fn insert_message(c: &Connection, m: &NewMessage, changed_at: Millis) -> StoreResult<()> {
    let attachments = serde_json::to_string(&m.attachments).map_err(|e| corrupt(e.to_string()))?;
    let pos = next_position(c)?;
    c.prepare_cached(
        "INSERT INTO messages (id, conversation_id, author_id, author_name, content, kind, \
         attachments, parent_id, client_id, created_at, changed_at, seq, pos) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )?
    .execute(params![
        m.id,
        m.conversation_id,
        m.author_id,
        m.author_name,
        m.content,
        m.kind.as_str(),
        attachments,
        m.parent_id,
        m.client_id,
        m.at,
        changed_at,
        pos
    ])?;
    c.prepare_cached(
        "UPDATE conversations SET last_activity_at = max(last_activity_at, ?2) WHERE id = ?1",
    )?
    .execute(params![m.conversation_id, changed_at])?;
    Ok(())
}

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

#[cfg(test)]
mod tests;
