//! Connections to the database file: the writer's pragmas (WAL, when a
//! commit is on disk, when it checkpoints), the checkpointer's and the
//! readers' connections, and the small pool that reads run on.

use super::SqliteStore;
use crate::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

const READERS: usize = 4;

/// WAL size (pages) at which the writer checkpoints, between transactions.
/// Each checkpoint copies every page the WAL holds a version of, however many
/// versions: under a steady load the same few hundred pages (the rightmost
/// leaves of each room's indexes, the counters) are rewritten by every
/// commit, so a longer WAL copies each of them once for more commits. 4000
/// pages (16 MB at 4 KiB pages) instead of SQLite's 1000: callgrind and perf
/// of the ack benchmark, see crates/chat-bench/results/SUMMARY.md.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 4000;

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

pub(super) fn configure(conn: &Connection, sync: Synchronous) -> StoreResult<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL (default): a committed transaction survives power loss, not only a
    // crash of the process. Group commit keeps its cost to one fsync per batch.
    // NORMAL: no fsync at commit; survives a process crash, not a power loss.
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Under a steady write load the writer checkpoints itself, between its
    // transactions: its checkpoint completes and lets the WAL restart from
    // its start. (A checkpointer thread running beside the writer never
    // caught up with it, so the WAL kept growing and every frame landed on a
    // new file block, which ext4 zeroes first: perf showed ~20 % of the
    // gateway's CPU in `zero_user_segments`. It also copied the same hot
    // pages again every 250 ms: with both, checkpoints were 6.8 % of the
    // gateway's CPU under the ack benchmark.) See WAL_AUTOCHECKPOINT_PAGES.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// The writer's connection. With `synchronous = FULL` its WAL writes go
/// through the gathering VFS (gathered_wal.rs: one `pwrite` per commit
/// instead of two per page); with NORMAL, or if that VFS could not be
/// registered, through the platform's.
pub(super) fn open_writer(path: &Path, sync: Synchronous) -> StoreResult<Connection> {
    if sync == Synchronous::Full {
        match super::gathered_wal::register() {
            Ok(()) => {
                return Ok(Connection::open_with_flags_and_vfs(
                    path,
                    OpenFlags::default(),
                    super::gathered_wal::NAME,
                )?)
            }
            Err(rc) => tracing::warn!(
                rc,
                "the gathering WAL VFS is unavailable; using SQLite's own"
            ),
        }
    }
    Ok(Connection::open(path)?)
}

pub(super) fn open_checkpointer(path: &Path, sync: Synchronous) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl SqliteStore {
    pub(super) async fn read<R, F>(&self, f: F) -> StoreResult<R>
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
