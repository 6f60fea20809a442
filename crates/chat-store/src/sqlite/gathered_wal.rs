//! A VFS that hands each commit's WAL frames to the kernel in one write.
//!
//! SQLite writes a WAL frame as two `pwrite`s, its 24-byte header and then
//! its page, so a group commit of 30 pages is 60 system calls, each going
//! through the file system's write path on its own (strace and perf of the
//! ack benchmark: the writer thread's `pwrite`s were about a third of its
//! time). This VFS is the platform's own (unix) VFS with one difference: the
//! WAL file's writes that follow one another are gathered in memory and
//! written at once, when SQLite syncs the file, reads it, asks its size,
//! truncates or closes it, or writes elsewhere in it.
//!
//! Why this keeps SQLite's guarantees: SQLite writes a commit's frames, then
//! (with `synchronous = FULL`) syncs the WAL, and only then publishes the
//! frames to other connections in the shared-memory index. The sync writes
//! what was gathered first, so nothing another connection can see is ever
//! still in memory, and nothing is acknowledged before it is on disk. A
//! process that dies with frames gathered dies before that commit's sync:
//! SQLite's recovery ignores an unfinished commit either way.
//!
//! A transaction that rolls back may have written frames (pages spilled
//! from a full cache) that were never synced. Written after the write lock
//! is released, they could land over frames another connection committed
//! since, at the same place in the file. SQLite reads the WAL back while it
//! rolls back, which writes them out under the lock, as it would have
//! itself; so that nothing gathered can outlive its transaction whatever
//! SQLite's path, the writer also drops what is left when each of its
//! transactions ends ([`forget_unsynced`]), and closing the file drops it
//! too (anything committed was written at its sync).
//!
//! With `synchronous = NORMAL` SQLite does not sync at commit, and frames
//! would be published while still gathered: the store then opens its
//! connections with the platform's VFS (see connection.rs).
//!
//! Only the WAL is wrapped; every other file is the platform VFS's own.
//! Layout: SQLite allocates `szOsFile` bytes per open file. This VFS asks
//! for the platform's size plus room for a [`Gathered`] after it, lets the
//! platform VFS fill the front, and for a WAL file keeps the platform's
//! methods in the [`Gathered`] and installs its own, which call them with
//! the same pointer.

use rusqlite::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

/// The name connections open with (`Connection::open_with_flags_and_vfs`).
pub(super) const NAME: &CStr = c"chat-gathered-wal";

/// The most one write may carry: the unix VFS cuts the length of each write
/// to 17 bits (`seekAndWriteFd`: `nBuf &= 0x1ffff`) and reports a longer one
/// as a full disk. A run that would grow past it is written out first, so a
/// large batch also never holds more than this in memory.
const MAX_GATHERED: usize = 0x1ffff;

/// What this VFS keeps after the platform's file struct, for a WAL file.
struct Gathered {
    /// The platform's methods for this file.
    real: *const ffi::sqlite3_io_methods,
    /// Bytes written by SQLite but not yet to the file, to go at `at`.
    pending: Vec<u8>,
    at: i64,
}

struct Registered {
    /// The platform's VFS, as an address (raw pointers are not `Sync`).
    base: usize,
    /// Where the [`Gathered`] starts within a file struct.
    offset: usize,
}

static REGISTERED: OnceLock<Result<Registered, c_int>> = OnceLock::new();

/// Registers the VFS once per process (not as the default); an error is
/// SQLite's code, and then the store opens with the platform's VFS.
pub(super) fn register() -> Result<(), c_int> {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: sqlite3_vfs_find initialises SQLite and returns the
            // default VFS, which lives as long as the process.
            let base = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
            if base.is_null() {
                return Err(ffi::SQLITE_ERROR);
            }
            // SAFETY: `base` is a valid VFS (above).
            let mut vfs: ffi::sqlite3_vfs = unsafe { std::ptr::read(base) };
            let align = std::mem::align_of::<Gathered>();
            let offset = (vfs.szOsFile as usize).div_ceil(align) * align;
            let size = offset + std::mem::size_of::<Gathered>();
            vfs.szOsFile = c_int::try_from(size).map_err(|_| ffi::SQLITE_ERROR)?;
            vfs.zName = NAME.as_ptr();
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            // The other entries stay the platform's: they do not use the VFS
            // pointer they are given beyond `pAppData`, which is copied too.
            let vfs = Box::leak(Box::new(vfs));
            // SAFETY: `vfs` is leaked, so it outlives every connection.
            let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
            Ok(Registered {
                base: base as usize,
                offset,
            })
        })
        .as_ref()
        .map(|_| ())
        .map_err(|rc| *rc)
}

/// The registration; files are only opened through a registered VFS.
fn registered() -> Option<&'static Registered> {
    REGISTERED.get().and_then(|r| r.as_ref().ok())
}

fn offset() -> usize {
    registered().map_or(0, |r| r.offset)
}

/// The [`Gathered`] of a WAL file opened by [`open`].
///
/// # Safety
/// `file` must be a WAL file opened by [`open`] and not yet closed.
unsafe fn gathered<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Gathered {
    &mut *((file as *mut u8).add(offset()) as *mut Gathered)
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(base) = registered().map(|r| r.base as *mut ffi::sqlite3_vfs) else {
        return ffi::SQLITE_ERROR;
    };
    let Some(base_open) = (*base).xOpen else {
        return ffi::SQLITE_ERROR;
    };
    let rc = base_open(base, name, file, flags, out_flags);
    if rc != ffi::SQLITE_OK || flags & ffi::SQLITE_OPEN_WAL == 0 || (*file).pMethods.is_null() {
        return rc;
    }
    let real = (*file).pMethods;
    if (*real).iVersion > METHODS.iVersion {
        return rc; // methods this VFS does not know how to pass on: leave it be
    }
    std::ptr::write(
        (file as *mut u8).add(offset()) as *mut Gathered,
        Gathered {
            real,
            pending: Vec::new(),
            at: 0,
        },
    );
    (*file).pMethods = &METHODS;
    rc
}

/// Writes what was gathered, if anything, with the platform's `xWrite`.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    let g = gathered(file);
    if g.pending.is_empty() {
        return ffi::SQLITE_OK;
    }
    let Some(write) = (*g.real).xWrite else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let Ok(len) = c_int::try_from(g.pending.len()) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let rc = write(file, g.pending.as_ptr() as *const c_void, len, g.at);
    g.pending.clear();
    rc
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    at: i64,
) -> c_int {
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if len > MAX_GATHERED {
        // Not from SQLite (its pages are at most 64 KiB), but pass it on whole.
        let rc = flush(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        return match (*gathered(file).real).xWrite {
            Some(f) => f(file, data, amount, at),
            None => ffi::SQLITE_IOERR_WRITE,
        };
    }
    let follows = {
        let g = gathered(file);
        !g.pending.is_empty()
            && at == g.at + g.pending.len() as i64
            && g.pending.len() + len <= MAX_GATHERED
    };
    if !follows {
        let rc = flush(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        gathered(file).at = at;
    }
    gathered(file)
        .pending
        .extend_from_slice(std::slice::from_raw_parts(data as *const u8, len));
    ffi::SQLITE_OK
}

/// Drops what was gathered: every commit's frames were written at its sync,
/// so what is left belongs to a transaction that did not commit.
unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let g = gathered(file);
    let real = g.real;
    std::ptr::drop_in_place(g as *mut Gathered);
    (*file).pMethods = real;
    match (*real).xClose {
        Some(close) => close(file),
        None => ffi::SQLITE_OK,
    }
}

/// Called when a transaction of `conn` has ended, committed or not: drops
/// the frames of a transaction that rolled back (see the module doc). After
/// a commit there is nothing to drop, its sync wrote everything.
pub(super) fn forget_unsynced(conn: &rusqlite::Connection) {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the handle is valid while `conn` is borrowed; this file control
    // only writes the WAL's file pointer (or the unopened journal's) to `file`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_JOURNAL_POINTER,
            &mut file as *mut *mut ffi::sqlite3_file as *mut c_void,
        )
    };
    if rc != ffi::SQLITE_OK || file.is_null() {
        return;
    }
    // SAFETY: `file` is this connection's journal file, open or not; only a
    // WAL opened by `open` has these methods and a `Gathered`.
    unsafe {
        if std::ptr::eq((*file).pMethods, &METHODS) {
            gathered(file).pending.clear();
        }
    }
}

/// The platform's method `$m` of `file`, called with `file` and `$args`
/// once what was gathered is written (when `$flush`).
macro_rules! pass_on {
    ($name:ident, $m:ident, flush, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let rc = flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match (*gathered(file).real).$m {
                Some(f) => f(file $(, $arg)*),
                None => $missing,
            }
        }
    };
    ($name:ident, $m:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            match (*gathered(file).real).$m {
                Some(f) => f(file $(, $arg)*),
                None => $missing,
            }
        }
    };
}

pass_on!(read, xRead, flush, (data: *mut c_void, amount: c_int, at: i64), ffi::SQLITE_IOERR_READ);
pass_on!(truncate, xTruncate, flush, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
pass_on!(sync, xSync, flush, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
pass_on!(file_size, xFileSize, flush, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
pass_on!(file_control, xFileControl, flush, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
pass_on!(lock, xLock, (level: c_int), ffi::SQLITE_OK);
pass_on!(unlock, xUnlock, (level: c_int), ffi::SQLITE_OK);
pass_on!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_OK);
pass_on!(sector_size, xSectorSize, (), 4096);
pass_on!(device_characteristics, xDeviceCharacteristics, (), 0);
pass_on!(shm_map, xShmMap, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void), ffi::SQLITE_IOERR_SHMMAP);
pass_on!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), ffi::SQLITE_IOERR_SHMLOCK);
pass_on!(shm_unmap, xShmUnmap, (delete: c_int), ffi::SQLITE_OK);
pass_on!(fetch, xFetch, flush, (at: i64, amount: c_int, out: *mut *mut c_void), ffi::SQLITE_OK);
pass_on!(unfetch, xUnfetch, (at: i64, page: *mut c_void), ffi::SQLITE_OK);

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    if let Some(f) = (*gathered(file).real).xShmBarrier {
        f(file);
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    fn gathering(path: &std::path::Path) -> Connection {
        register().expect("the VFS registers");
        let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "synchronous", "FULL").unwrap();
        c
    }

    fn count(c: &Connection) -> i64 {
        c.query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// Every commit is visible at once to a connection on the platform's
    /// VFS (which reads the WAL file itself), through small commits, one
    /// larger than what is gathered at most, one that spills pages to the
    /// WAL before it commits and reads them back, checkpoints, and a reopen.
    #[test]
    fn what_is_committed_is_in_the_file_for_everyone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let w = with_table(&path);
        let r = Connection::open(&path).unwrap();
        let mut expected = 0;
        for i in 0..200 {
            w.execute("INSERT INTO t (v) VALUES (?1)", [format!("row {i}")])
                .unwrap();
            expected += 1;
            assert_eq!(count(&r), expected, "after commit {i}");
            if i % 50 == 49 {
                w.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .unwrap();
            }
        }
        // More than MAX_GATHERED in one transaction, with a page cache so
        // small that SQLite writes pages to the WAL before the commit and
        // reads them back while it goes on.
        w.pragma_update(None, "cache_size", 10).unwrap();
        let big = "x".repeat(3000);
        w.execute_batch("BEGIN").unwrap();
        for _ in 0..1000 {
            w.execute("INSERT INTO t (v) VALUES (?1)", [&big]).unwrap();
        }
        w.execute("UPDATE t SET v = v || 'y' WHERE k % 7 = 0", [])
            .unwrap();
        assert_eq!(count(&r), expected, "nothing is seen before the commit");
        w.execute_batch("COMMIT").unwrap();
        expected += 1000;
        assert_eq!(count(&r), expected);
        let edited: i64 = r
            .query_row("SELECT count(*) FROM t WHERE v LIKE '%y'", [], |c| c.get(0))
            .unwrap();
        assert_eq!(edited, expected / 7);
        drop(w);
        let again = gathering(&path);
        assert_eq!(count(&again), expected);
        assert_whole(&again);
    }

    /// A connection of this VFS with the test's table.
    fn with_table(path: &std::path::Path) -> Connection {
        let c = gathering(path);
        c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .unwrap();
        c
    }

    /// A transaction of `n` rows of `fill` that rolls back, with a cache so
    /// small that SQLite writes frames to the WAL before it gives up.
    fn spill_and_roll_back(c: &Connection, n: usize, fill: &str) {
        c.pragma_update(None, "cache_size", 10).unwrap();
        c.execute_batch("BEGIN").unwrap();
        for _ in 0..n {
            c.execute("INSERT INTO t (v) VALUES (?1)", [fill]).unwrap();
        }
        c.execute_batch("ROLLBACK").unwrap();
    }

    fn assert_whole(c: &Connection) {
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    /// A transaction that spilled frames and rolled back, then another
    /// connection's commit in the same part of the file, then this one's:
    /// the other connection's rows are all there, and the file is whole.
    #[test]
    fn a_rollback_does_not_overwrite_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let a = with_table(&path);
        spill_and_roll_back(&a, 300, &"a".repeat(2000));
        // What the writer does after every transaction.
        forget_unsynced(&a);
        // One transaction, so that each of its pages has one frame, in the
        // part of the file the rolled-back frames were meant for.
        let b = Connection::open(&path).unwrap();
        let fill = "b".repeat(2000);
        b.execute_batch("BEGIN").unwrap();
        for _ in 0..300 {
            b.execute("INSERT INTO t (v) VALUES (?1)", [&fill]).unwrap();
        }
        b.execute_batch("COMMIT").unwrap();
        a.execute("INSERT INTO t (v) VALUES ('a, after')", [])
            .unwrap();
        drop(a);
        drop(b);
        let r = Connection::open(&path).unwrap();
        assert_whole(&r);
        assert_eq!(count(&r), 301);
        let bs: i64 = r
            .query_row("SELECT count(*) FROM t WHERE v = ?1", [&fill], |c| c.get(0))
            .unwrap();
        assert_eq!(bs, 300, "the other writer's rows are whole");
    }

    /// A rolled-back transaction leaves nothing behind, and the next commit
    /// is whole (the frames of the rollback are not written over it).
    #[test]
    fn a_rollback_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let w = with_table(&path);
        spill_and_roll_back(&w, 500, &"z".repeat(2000));
        w.execute("INSERT INTO t (v) VALUES ('kept')", []).unwrap();
        let r = Connection::open(&path).unwrap();
        assert_eq!(count(&r), 1);
        assert_whole(&r);
    }
}
