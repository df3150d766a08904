//! SQLite statements run on the calling thread, for the two on every API command's path: the
//! bearer-token lookup and the audit append.
//!
//! Through sqlx, each statement is handed to its connection's worker thread and the answer
//! handed back: two thread wake-ups, about 25 µs each on a 2-core VM, around a few
//! microseconds of SQLite work. These connections run the statement right here instead. They
//! never wait for a lock (`busy_timeout` 0): when SQLite is busy, or anything else fails, the
//! caller goes through the pool as before, where waiting happens off the async runtime. Nor do
//! they checkpoint the WAL themselves (an fsync on the request path): the appender asks the
//! pool for a checkpoint in the background every [`CHECKPOINT_EVERY`] appends. And they do not
//! memory-map the file, unlike the pool: SQLite unmaps a connection's whole map whenever
//! another connection has written, and the munmap's TLB shootdowns cost the token lookup
//! after each audit append about 25 µs.
//!
//! Reads run on the writer connection when it is free, and on a reader of their own when it
//! is not (see [`InlineSqlite`]).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::audit::AuditRecord;

/// Appends between background WAL checkpoints: about 5,000 pages (22 MiB) of WAL, which is
/// then reused from its beginning. SQLite's own auto-checkpoint runs every 1,000 pages; ours
/// run five times less often because each one holds appends for a moment (see
/// `checkpoint_wal`) and competes with requests for a core: at one every 200 appends they
/// showed in the API's p99 on a 2-core VM.
pub(super) const CHECKPOINT_EVERY: u32 = 1000;

/// Where to open the inline connections, and the connections when open.
///
/// Reads go to the writer when it is free: SQLite drops a connection's page cache whenever
/// another connection has written, so a separate reader would read every page again after
/// each audit append (about 20 µs for the token lookup), while the writer's cache stays warm
/// across its own appends.
#[derive(Debug)]
pub(super) struct InlineSqlite {
    path: PathBuf,
    writer: parking_lot::Mutex<Option<Connection>>,
    reader: parking_lot::Mutex<Option<Connection>>,
}

impl InlineSqlite {
    /// Inline connections to the database file at `path` (opened when first used).
    pub(super) fn new(path: &Path) -> InlineSqlite {
        InlineSqlite {
            path: path.to_path_buf(),
            writer: parking_lot::Mutex::new(None),
            reader: parking_lot::Mutex::new(None),
        }
    }

    /// A new connection with the pool's settings, except that it never waits for a lock and
    /// never checkpoints.
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(&format!(
            "PRAGMA busy_timeout = 0; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {};",
            super::SQLITE_WAL_LIMIT_BYTES
        ))?;
        Ok(conn)
    }

    /// Runs the read `f` on the writer if it is free, else on the reader if that is free.
    /// `None` means: use the pool (both were busy, SQLite was busy, or it failed).
    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let mut slot = self.writer.try_lock().or_else(|| self.reader.try_lock())?;
        self.run(&mut slot, f)
    }

    /// Runs the write `f` on the writer, waiting for a read that holds it (a few
    /// microseconds). `None` means: use the pool (SQLite was busy, or it failed).
    pub(super) fn write<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        self.run(&mut self.writer.lock(), f)
    }

    /// Opens the connection in `slot` if needed and runs `f` on it; after a failure other
    /// than a busy database, the connection is reopened next time.
    fn run<T>(
        &self,
        slot: &mut Option<Connection>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        if slot.is_none() {
            *slot = self
                .open()
                .map_err(|e| tracing::debug!("inline SQLite connection: {e}"))
                .ok();
        }
        match f(slot.as_ref()?) {
            Ok(v) => Some(v),
            Err(e) => {
                if !is_busy(&e) {
                    tracing::debug!("inline SQLite statement failed, using the pool: {e}");
                    *slot = None;
                }
                None
            }
        }
    }

    /// Closes both connections.
    pub(super) fn close(&self) {
        self.writer.lock().take();
        self.reader.lock().take();
    }
}

/// Whether SQLite refused because another connection holds a lock.
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// An audit row in `audit_columns!()` order.
pub(super) fn audit_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        at_ms: r.get(1)?,
        actor: r.get(2)?,
        actor_role: r.get(3)?,
        via: r.get(4)?,
        source: r.get(5)?,
        action: r.get(6)?,
        target: r.get(7)?,
        params: r.get(8)?,
        result: r.get(9)?,
        prev_hash: r.get(10)?,
        hash: r.get(11)?,
    })
}
