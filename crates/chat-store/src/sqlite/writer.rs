//! The writer thread and its group commit: queued writes run one batch per
//! transaction, each in its own savepoint, and are answered once the batch
//! has committed; the open transaction's position counter ([`Tx`]); and the
//! checkpointer thread that copies the WAL into the database when the writer
//! goes quiet. The module doc of `sqlite` says why it works this way.

use super::SqliteStore;
use crate::{StoreError, StoreResult};
use rusqlite::Connection;
use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::oneshot;

/// How many queued writes one transaction takes at most.
const MAX_BATCH: usize = 1024;

/// How often the checkpointer thread looks whether the writer has gone
/// quiet, to copy the WAL into the database then.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// How a batch's COMMIT ended, as each of its writes is told.
#[derive(Debug)]
pub(super) enum Committed {
    Yes,
    /// SQLITE_FULL: the disk or `max_page_count`.
    Full,
    Failed(String),
}

/// Answers one write's caller once its batch has committed (or not).
pub(super) type Reply = Box<dyn FnOnce(&Committed) + Send>;

/// Where the writer sends each committed batch's replies: a task on the
/// tokio runtime the store was opened on (see [`answer`]).
pub(super) type Answerer = tokio::sync::mpsc::UnboundedSender<(Committed, Vec<Reply>)>;

/// A queued write: runs in the batch's transaction and returns how to answer
/// its caller once the batch commits, and whether it failed for want of
/// space (SQLite then rolls back the whole transaction, not only the write).
pub(super) type Job = Box<dyn FnOnce(&Tx) -> (Reply, bool) + Send>;

/// The writer's open transaction: its connection (what a write mostly uses,
/// through `Deref`) and its position counter.
///
/// Positions are read from `positions` by the first write of a transaction
/// that needs one, counted up here, and stored back once by the writer just
/// before COMMIT: one UPDATE per batch instead of one `UPDATE … RETURNING`
/// per message (≈20k instructions each under the ack benchmark, callgrind;
/// 11 % of the gateway's user-space instructions). The write lock, held from
/// `BEGIN IMMEDIATE` to COMMIT, keeps other stores on the same file out
/// meanwhile, so positions still follow commit order. A write that fails
/// after taking a position leaves a gap, which `sync` does not mind: it only
/// compares positions.
pub(crate) struct Tx<'c> {
    conn: &'c Connection,
    /// The last position handed out in this transaction, once one was.
    position: Cell<Option<i64>>,
}

impl<'c> Tx<'c> {
    fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            position: Cell::new(None),
        }
    }

    /// The next position; see [`Tx`].
    pub(super) fn next_position(&self) -> StoreResult<i64> {
        let last = match self.position.get() {
            Some(p) => p,
            None => self
                .conn
                .prepare_cached("SELECT v FROM positions WHERE id = 1")?
                .query_row([], |r| r.get(0))?,
        };
        let next = last + 1;
        self.position.set(Some(next));
        Ok(next)
    }

    /// Stores the counter back if this transaction took positions; the
    /// writer's last statement before COMMIT.
    fn store_positions(&self) -> rusqlite::Result<()> {
        if let Some(p) = self.position.get() {
            self.conn
                .prepare_cached("UPDATE positions SET v = ?1 WHERE id = 1")?
                .execute([p])?;
        }
        Ok(())
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// SQLITE_FULL: "database or disk is full" (the disk, or `max_page_count`).
fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}

/// Copies what the WAL gained into the database once the writer has gone
/// quiet: when no transaction committed during the last [`CHECKPOINT_EVERY`]
/// (`commits`, counted by the writer, did not move) but some did since the
/// last checkpoint. While the writer keeps committing, its own checkpoints
/// do this (see `configure`); checkpointing here too would copy the same hot
/// pages twice as often. PASSIVE: it never waits for the writer or the
/// readers; the writer restarts the WAL from its start once a checkpoint has
/// copied all of it. Stops when `stop` is dropped (the writer has stopped).
pub(super) fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>, commits: &AtomicU64) {
    let mut seen = commits.load(Ordering::Relaxed);
    let mut checkpointed = seen;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let now = commits.load(Ordering::Relaxed);
        let quiet = now == seen;
        seen = now;
        if !quiet || now == checkpointed {
            continue;
        }
        checkpointed = now;
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

fn in_savepoint<R>(conn: &Tx, f: impl FnOnce(&Tx) -> StoreResult<R>) -> StoreResult<R> {
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

/// Starts the task that answers committed batches (see [`answer`]), on the
/// tokio runtime the store is opened on; none outside of one.
pub(super) fn start_answerer() -> Option<Answerer> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Committed, Vec<Reply>)>();
    runtime.spawn(async move {
        while let Some((committed, replies)) = rx.recv().await {
            for reply in replies {
                reply(&committed);
            }
        }
    });
    Some(tx)
}

/// Answers the writes of one batch, all together.
///
/// The writer hands the whole batch to one task on the runtime: one
/// wake-up from this thread per commit, and that task's answers wake the
/// callers from inside the runtime, onto its own run queues. Answered from
/// here, every caller was a wake-up across threads (perf: futex wake-ups were
/// 6 % of the gateway's CPU under the ack benchmark, all in the writer).
/// Without a runtime, or once it is gone, the writer answers itself.
fn answer(answerer: Option<&Answerer>, committed: Committed, replies: Vec<Reply>) {
    let (committed, replies) = match answerer {
        Some(a) => match a.send((committed, replies)) {
            Ok(()) => return,
            Err(tokio::sync::mpsc::error::SendError(batch)) => batch,
        },
        None => (committed, replies),
    };
    for reply in replies {
        reply(&committed);
    }
}

pub(super) fn writer_loop(
    conn: Connection,
    jobs: mpsc::Receiver<Job>,
    commit_delay_us: Arc<AtomicU64>,
    commits: &AtomicU64,
    answerer: Option<Answerer>,
) {
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
        let tx = Tx::new(&conn);
        for job in batch {
            if conn.is_autocommit() {
                // SQLite rolled the transaction back (a full disk): the rest
                // of the batch must not run outside of it, one autocommit at
                // a time. Dropping a job answers its caller with `Closed`.
                continue;
            }
            let (reply, job_full) = job(&tx);
            full |= job_full;
            replies.push(reply);
        }
        // Outside of any job's savepoint: a failure here fails the batch (it
        // can only be the disk's), through the COMMIT below.
        let stored = if conn.is_autocommit() {
            Ok(())
        } else {
            tx.store_positions()
        };
        let delay = commit_delay_us.load(Ordering::Relaxed);
        if delay > 0 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64)
                .unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_micros(nanos % delay));
        }
        let commit = stored
            .and_then(|()| conn.prepare_cached("COMMIT"))
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
        let committed = match &commit {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
                // Before the answers: whoever got its ack sees the commit counted.
                metrics::histogram!(crate::COMMIT_WRITES).record(replies.len() as f64);
                Committed::Yes
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                let _ = conn.execute_batch("ROLLBACK");
                if is_full(e) {
                    Committed::Full
                } else {
                    Committed::Failed(e.to_string())
                }
            }
        };
        // Whatever the outcome: a rolled-back batch's gathered WAL frames go.
        super::gathered_wal::forget_unsynced(&conn);
        answer(answerer.as_ref(), committed, replies);
    }
    tracing::debug!("sqlite writer stopped");
}

impl SqliteStore {
    pub(super) async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tx) -> StoreResult<R> + Send + 'static,
    {
        self.write_job(f, true).await
    }

    /// Queues `f` for the writer. `writes` is false for jobs that store
    /// nothing (a flush), whose success says nothing about free space.
    pub(super) async fn write_job<R, F>(&self, f: F, writes: bool) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tx) -> StoreResult<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<R>>();
        let job: Job = Box::new(move |conn: &Tx| {
            // A full disk comes back as StoreError::Full (From<rusqlite::Error>).
            let result = in_savepoint(conn, f);
            let full = matches!(result, Err(StoreError::Full));
            let reply: Reply = Box::new(move |commit: &Committed| {
                let outcome = match commit {
                    Committed::Yes => result,
                    Committed::Full => Err(StoreError::Full),
                    Committed::Failed(e) => {
                        Err(StoreError::Conflict(format!("commit failed: {e}")))
                    }
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
}
