//! SQLite's short path for the two database calls every console sign-in makes: the
//! generations read (`cache.rs`) and the grouped audit insert (`audit_queue.rs`).
//!
//! Through sqlx each of them is a hand-off to a connection's worker thread and back, and on a
//! machine whose cores are busy signing, each hand-off waits for the scheduler on both sides.
//! Measured with `benches/console.sh` on two cores: either wait alone held the broker at ~0.44
//! of the RSA limit with ~10 % of the time idle; without both, 0.63–0.68. So, for SQLite only:
//!
//! - **Generations** are read on the request's own thread, from a connection of this module
//!   kept under a lock: a read of nine small rows takes microseconds, less than waking another
//!   thread. The read starts after the request arrived, so a request still sees every write
//!   committed before it began. Should the database be busy beyond [`READ_BUSY_WAIT`] (a
//!   checkpoint, a recovery), the caller falls back to the pool instead of stalling its worker.
//! - **Audit events** go to one writer thread that owns a connection: it takes every event
//!   queued, inserts them in one transaction (`synchronous = FULL`, like the pool: an answered
//!   sign-in's event survives a power cut) and only then tells each request its event is
//!   stored. A thread of its own runs as soon as the events are there, whereas a task on a
//!   worker waits for that worker's current signature.
//!
//! PostgreSQL keeps the pool's path: its calls are network round trips, not thread hand-offs.
//! The thread ends when the last clone of the store is dropped or the store is closed.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::audit_queue::{Pending, MAX_BATCH};
use super::cache::Generations;
use super::StoreError;

/// How long a generations read on a request's thread waits for a busy database before the
/// request takes the pool's path (which waits on the pool's thread instead).
const READ_BUSY_WAIT: Duration = Duration::from_millis(20);

/// The writer's wait for the database's write lock, as the pool's connections wait.
const WRITE_BUSY_WAIT: Duration = Duration::from_secs(5);

/// The generations query (the same as the pool's path runs).
pub(super) const GENERATIONS_SQL: &str = "SELECT name, generation FROM cache_generations \
     UNION ALL SELECT 'mapping_rules', generation FROM rule_set_state WHERE id = 1";

/// The reader connection and the audit writer's queue of one SQLite database.
pub(super) struct Embedded {
    reader: Mutex<Option<Connection>>,
    writer: Mutex<Option<Sender<Pending>>>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Embedded")
    }
}

impl Embedded {
    /// Opens the reader and starts the writer for the database file at `path` (already created
    /// by the pool). `None` for an in-memory database, which another connection cannot share.
    pub fn open(path: &Path) -> Result<Option<Embedded>, StoreError> {
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Ok(None);
        }
        let reader = open(path, READ_BUSY_WAIT)?;
        reader
            .pragma_update(None, "query_only", true)
            .map_err(unavailable)?;
        let writer = open(path, WRITE_BUSY_WAIT)?;
        let (queue, events) = mpsc::channel();
        std::thread::Builder::new()
            .name("fedbroker-audit".into())
            .spawn(move || write_events(writer, events))
            .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        Ok(Some(Embedded {
            reader: Mutex::new(Some(reader)),
            writer: Mutex::new(Some(queue)),
        }))
    }

    /// The generations, read now on this thread; `None` when busy or closed: the caller takes
    /// the pool's path, which waits elsewhere or reports the failure.
    pub fn generations(&self) -> Option<Generations> {
        let guard = self.reader.lock().ok()?;
        let conn = guard.as_ref()?;
        let read = || -> rusqlite::Result<Vec<(String, i64)>> {
            let mut statement = conn.prepare_cached(GENERATIONS_SQL)?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        };
        match read() {
            Ok(rows) => Some(Generations::from_rows(&rows)),
            Err(e) => {
                tracing::debug!(error = %e, "generations read on the short path missed; using the pool");
                None
            }
        }
    }

    /// Queues an event for the writer; gives it back when the writer is gone (closed store).
    pub fn queue(&self, pending: Pending) -> Option<Pending> {
        let Ok(writer) = self.writer.lock() else {
            return Some(pending);
        };
        match writer.as_ref() {
            Some(queue) => queue.send(pending).err().map(|e| e.0),
            None => Some(pending),
        }
    }

    /// Closes the reader and lets the writer finish what is queued, then stop.
    pub fn close(&self) {
        if let Ok(mut reader) = self.reader.lock() {
            reader.take();
        }
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(e.to_string())))
}

/// A connection with the pool's settings (the journal mode is the file's own: WAL).
fn open(path: &Path, busy: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(unavailable)?;
    conn.busy_timeout(busy).map_err(unavailable)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(unavailable)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(unavailable)?;
    Ok(conn)
}

/// The writer thread: every event queued, in one transaction per batch, each request told
/// once its event is committed. A batch that fails is answered with each event given back,
/// and each request writes its own alone (so one bad event cannot lose another's).
fn write_events(mut conn: Connection, events: Receiver<Pending>) {
    while let Ok(first) = events.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match events.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let written = insert(&mut conn, &batch);
        if let Err(e) = &written {
            tracing::warn!(error = %e, events = batch.len(),
                "grouped audit insert failed; each event is retried alone");
        }
        for p in batch {
            let answer = match &written {
                Ok(()) => Ok(()),
                Err(_) => Err(p.event),
            };
            let _ = p.done.send(answer);
        }
    }
}

fn insert(conn: &mut Connection, batch: &[Pending]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO audit_events (at, event_type, actor, subject, role_arn, account_id, \
             outcome, source_addr, user_agent, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for p in batch {
            let e = &p.event;
            insert.execute(rusqlite::params![
                p.at,
                e.event_type,
                e.actor,
                e.subject,
                e.role_arn,
                e.account_id,
                e.outcome,
                e.source_addr,
                e.user_agent,
                e.details.to_string(),
            ])?;
        }
    }
    tx.commit()
}
