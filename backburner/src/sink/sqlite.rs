//! The SQLite sink (the embedded default).
//!
//! * WAL mode, `synchronous=NORMAL` by default: a committed batch is visible
//!   to readers and survives a crash of the process; the last batches may be
//!   lost on power loss until the next checkpoint. `synchronous=FULL` syncs
//!   the WAL on every commit (once per batch, never per write).
//! * Keyed writes go to a managed table `backburner_kv(key BLOB PRIMARY KEY,
//!   value BLOB)`. Keys and values are BLOBs: in SQL, compare them as
//!   text with `CAST(key AS TEXT) LIKE 'user:%'` or as bytes with
//!   `substr(key, 1, 5) = CAST('user:' AS BLOB)`; a plain `key LIKE …`
//!   matches nothing in SQLite builds with `LIKE_DOESNT_MATCH_BLOBS`
//!   (Debian's among them). Each writer's checkpoint is a row of
//!   `backburner_writers(writer, epoch, last_seq)`, updated in the batch's
//!   own transaction only while the row's epoch is the store's (a store
//!   whose writer was opened again elsewhere is fenced). A database written
//!   by an older version, with `backburner_meta.last_applied_seq`, gives that
//!   seq to the writer `default` the first time it opens.
//! * A statement's outcome is its `changes()` and, for an `INSERT` or
//!   `REPLACE` (or a `WITH`) that inserted a row into a rowid table,
//!   `last_insert_rowid()` (set to a sentinel before the statement, so that
//!   one that inserted nothing is told apart).
//! * Automatic checkpoints are off; the worker checkpoints between batches
//!   (every `checkpoint_rows` rows, and when idle), and `journal_size_limit`
//!   truncates the WAL after a checkpoint, so the WAL stays bounded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};

use super::statement::{self, Call};
use super::{ApplyError, Batch, Executed, Outcome, Outcomes, Resume, Sink, SinkError, SinkReader};
use crate::value::SqlValue;
use crate::write::Write;

/// What `last_insert_rowid()` is set to before an `INSERT`, `REPLACE` or
/// `WITH` statement, so that one that inserted no row (an upsert that
/// updated, a `WITH ... UPDATE`, an insert into a table `WITHOUT ROWID`) is
/// told apart from one whose new row has the rowid of the previous insert
/// (the first row of another table). A row inserted with this rowid named
/// explicitly is reported without an id.
///
/// Set before the first of a run of writes with the same SQL, and before
/// each of an upsert's or a `WITH`'s run (which may update the row the
/// previous one inserted). A run of a plain `INSERT` or `REPLACE` needs it
/// once: each inserts into the same table, so its rowid moves off the
/// sentinel (a rowid table) or stays on it (`WITHOUT ROWID`).
const NO_ROWID: i64 = i64::MIN;
/// Sets `last_insert_rowid()` to [`NO_ROWID`] (SQLite's C API has
/// `sqlite3_set_last_insert_rowid`, which rusqlite does not offer), on a
/// one-row table of the sink's connection's own temporary schema.
const RESET_ROWID: &str = "INSERT OR REPLACE INTO temp.backburner_rowid(rowid) VALUES (-9223372036854775808)";

/// A statement that may update a row instead of inserting one: an upsert
/// (its `ON CONFLICT` clause; the word anywhere else only costs a reset) or
/// a `WITH`.
fn may_update(sql: &str) -> bool {
    statement::first_word(sql).as_deref() == Some("WITH")
        || sql.as_bytes().windows(8).any(|w| w.eq_ignore_ascii_case(b"CONFLICT"))
}

/// The managed key/value table.
pub const KV_TABLE: &str = "backburner_kv";
/// The table that held `last_applied_seq` before writers had their own
/// rows (read once, to migrate it to the writer `default`).
pub const META_TABLE: &str = "backburner_meta";
/// The table of writers: one row per writer id, with its epoch and last applied seq.
pub const WRITERS_TABLE: &str = "backburner_writers";

const UPSERT: &str = "INSERT INTO backburner_kv(key, value) VALUES (?1, ?2) \
                      ON CONFLICT(key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM backburner_kv WHERE key = ?1";
/// Puts in a row taken `CHUNK` at a time by one statement (`upsert_chunk`):
/// SQLite's per-statement work (bind, step, halt, reset) then comes once
/// per `CHUNK` rows.
const CHUNK: usize = 32;

/// `UPSERT` for `CHUNK` rows.
fn upsert_chunk() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let rows = vec!["(?, ?)"; CHUNK].join(", ");
        format!(
            "INSERT INTO backburner_kv(key, value) VALUES {rows} ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        )
    })
}
const SET_SEQ: &str = "UPDATE backburner_writers SET last_seq = ?1 WHERE writer = ?2 AND epoch = ?3";
const GET: &str = "SELECT value FROM backburner_kv WHERE key = ?1";

/// SQLite's `synchronous` setting: what a commit survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// No syncs: a commit survives a crash of the process, not of the machine.
    Off,
    /// The default: in WAL mode, a commit survives a crash of the process; a
    /// power loss may lose the commits since the last checkpoint.
    #[default]
    Normal,
    /// The WAL is synced at every commit (once per batch): a commit survives a power loss.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Settings of the SQLite sink, also given as URL options
/// (`sqlite://app.db?synchronous=full&busy_timeout_ms=5000`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// `synchronous=off|normal|full`.
    pub synchronous: Synchronous,
    /// `busy_timeout_ms=N`: how long a statement waits for a lock held by another connection.
    pub busy_timeout: Duration,
    /// `wal_limit_mb=N`: the WAL is truncated to this size after a checkpoint.
    pub wal_limit_bytes: u64,
    /// `checkpoint_rows=N`: checkpoint after this many rows.
    pub checkpoint_rows: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            wal_limit_bytes: 64 << 20,
            checkpoint_rows: 100_000,
        }
    }
}

impl SqliteOptions {
    /// Applies one `name=value` URL option.
    pub(crate) fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let num = |v: &str| v.parse::<u64>().map_err(|_| format!("option `{name}` wants a whole number, got `{v}`"));
        match name {
            "synchronous" => {
                self.synchronous = match value.to_ascii_lowercase().as_str() {
                    "off" => Synchronous::Off,
                    "normal" => Synchronous::Normal,
                    "full" => Synchronous::Full,
                    _ => return Err(format!("synchronous must be off, normal or full, got `{value}`")),
                }
            }
            "busy_timeout_ms" => self.busy_timeout = Duration::from_millis(num(value)?),
            "wal_limit_mb" => self.wal_limit_bytes = num(value)?.saturating_mul(1 << 20),
            "checkpoint_rows" => self.checkpoint_rows = num(value)?.max(1),
            _ => {
                return Err(format!(
                    "unknown option `{name}`; SQLite takes synchronous, busy_timeout_ms, wal_limit_mb, checkpoint_rows, writer"
                ))
            }
        }
        Ok(())
    }
}

/// Opens `sqlite://PATH?options`; the journal and the dead-letter file go
/// beside the database by default (`PATH.journal/`, `PATH.dead-letter.jsonl`;
/// for a writer other than the default one, `PATH.WRITER.journal/` and
/// `PATH.WRITER.dead-letter.jsonl`, so that several writers of one database
/// do not share them).
pub(crate) fn open_url(url: &str, rest: &str, writer: Option<&str>) -> Result<super::Destination, crate::Error> {
    use crate::Error;
    let bad = |reason: String| Error::InvalidUrl { url: url.to_string(), reason };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(bad("no database path; write sqlite://data/app.db or sqlite:///abs/path/app.db".into()));
    }
    if path == ":memory:" {
        return Err(bad(
            "in-memory SQLite is not supported: reads use their own connections; use a file (a temporary directory works)"
                .into(),
        ));
    }
    let mut opts = SqliteOptions::default();
    let mut writer_in_url = None;
    for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
        let (k, v) =
            pair.split_once('=').ok_or_else(|| bad(format!("option `{pair}` has no value; write name=value")))?;
        match k {
            "writer" => writer_in_url = Some(v.to_string()),
            _ => opts.set(k, v).map_err(bad)?,
        }
    }
    let writer = writer.map(str::to_string).or(writer_in_url);
    let base = match writer.as_deref() {
        Some(w) if w != super::DEFAULT_WRITER => {
            super::check_writer(w).map_err(|reason| Error::InvalidOption { name: "writer", reason })?;
            format!("{path}.{w}")
        }
        _ => path.to_string(),
    };
    let sink = SqliteSink::open(path, opts)?;
    Ok(super::Destination {
        sink: Box::new(sink),
        journal: Some(PathBuf::from(format!("{base}.journal"))),
        dead_letter: Some(PathBuf::from(format!("{base}.dead-letter.jsonl"))),
        writer,
    })
}

/// Writes batches into a SQLite database file.
pub struct SqliteSink {
    conn: Connection,
    path: PathBuf,
    opts: SqliteOptions,
    rows_since_checkpoint: u64,
    batches_since_checkpoint: u64,
}

/// What the sink was doing when SQLite failed, for messages.
#[derive(Clone, Copy)]
enum Step {
    Open,
    Configure,
    Wal,
    SetUp,
    ReadSeq,
    OpenReader,
}

/// Why SQLite could not open or set up the database at `path`, and what to
/// do. SQLite's message names the symptom ("unable to open database file",
/// "file is not a database"); the cause is looked for on the file system:
/// a directory, a read-only file system, missing write permission.
fn open_err(path: &Path, step: Step, e: rusqlite::Error) -> SinkError {
    let db = path.display();
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    let diagnosed = match code {
        Some(ErrorCode::NotADatabase) => Some((
            format!("{db} is not a SQLite database"),
            "check the path in the URL, or move the file away so that a new database is created there".to_string(),
        )),
        Some(
            ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::SystemIoFailure,
        ) => unwritable(path),
        _ => None,
    };
    if let Some((cause, todo)) = diagnosed {
        return SinkError::new(format!("{cause} (SQLite: {e}); {todo}"));
    }
    let what = match step {
        Step::Open => format!("cannot open the SQLite database {db}"),
        Step::Configure => format!("cannot set the busy timeout of the SQLite database {db}"),
        Step::Wal => format!("cannot switch the SQLite database {db} to WAL mode"),
        Step::SetUp => format!("cannot create backburner's tables in the SQLite database {db}"),
        Step::ReadSeq => {
            format!("cannot claim the writer (read its checkpoint, bump its epoch) in the SQLite database {db}")
        }
        Step::OpenReader => format!("cannot open the SQLite database {db} for reading"),
    };
    SinkError::with_source(what, e)
}

/// Why the database at `path` cannot be written, and what to do, if the
/// file system tells: SQLite writes the file and, in WAL mode, creates the
/// `-wal` and `-shm` files beside it.
fn unwritable(path: &Path) -> Option<(String, String)> {
    use rustix::fs::{accessat, Access, AtFlags, CWD};
    use rustix::io::Errno;
    let db = path.display();
    if path.is_dir() {
        return Some((
            format!("{db} is a directory, not a database file"),
            format!("the URL must name a file, for example sqlite://{}", path.join("app.db").display()),
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let writable = |p: &Path| accessat(CWD, p, Access::WRITE_OK, AtFlags::EACCESS);
    let file = if path.exists() { writable(path) } else { Ok(()) };
    match (writable(dir), file) {
        (Err(Errno::ROFS), _) | (_, Err(Errno::ROFS)) => Some((
            format!(
                "the SQLite database {db} is on a read-only file system, and SQLite writes the database and \
                 creates its -wal and -shm files beside it"
            ),
            "remount it read-write, or give a path on a writable file system".to_string(),
        )),
        (Err(Errno::ACCESS | Errno::PERM), _) => Some((
            format!(
                "no permission to create files in {}, where SQLite creates the -wal and -shm files of {db}",
                dir.display()
            ),
            "give the store's user write permission on that directory, or give a path in another".to_string(),
        )),
        (_, Err(Errno::ACCESS | Errno::PERM)) => Some((
            format!("no permission to write the SQLite database {db}"),
            "give the store's user write permission on the file, or give another path".to_string(),
        )),
        _ => None,
    }
}

impl SqliteSink {
    /// Opens (creating if needed) the database at `path` and its managed tables.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or created, is not a database, or cannot
    /// use WAL mode.
    pub fn open(path: impl AsRef<Path>, opts: SqliteOptions) -> Result<SqliteSink, SinkError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                SinkError::with_source(format!("cannot create the directory {} for the database", dir.display()), e)
            })?;
        }
        let conn = Connection::open(&path).map_err(|e| open_err(&path, Step::Open, e))?;
        conn.busy_timeout(opts.busy_timeout).map_err(|e| open_err(&path, Step::Configure, e))?;
        let mode: String =
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| open_err(&path, Step::Wal, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SinkError::new(format!(
                "the SQLite database {} refused WAL mode (journal_mode is {mode}); is it on a file system without shared memory?",
                path.display()
            )));
        }
        let setup = format!(
            "PRAGMA synchronous={};
             PRAGMA journal_size_limit={};
             PRAGMA wal_autocheckpoint=0;
             CREATE TABLE IF NOT EXISTS {KV_TABLE} (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS {WRITERS_TABLE} (writer TEXT PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL, last_seq INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TEMP TABLE IF NOT EXISTS backburner_rowid (x);",
            opts.synchronous.pragma(),
            opts.wal_limit_bytes,
        );
        conn.execute_batch(&setup).map_err(|e| open_err(&path, Step::SetUp, e))?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(SqliteSink { conn, path, opts, rows_since_checkpoint: 0, batches_since_checkpoint: 0 })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn apply_writes(&mut self, batch: &Batch<'_>, outcomes: &mut Outcomes<'_>) -> Result<(), ApplyError> {
        let conn = &self.conn;
        // Consecutive writes of one kind reuse one prepared statement.
        let mut current: Option<(&str, rusqlite::CachedStatement<'_>)> = None;
        let mut inserts = false;
        let mut counts = false;
        let mut reset_each = false;
        let writes: Vec<&Write> = batch.writes().map(|(_, w)| w).collect();
        // Positions below this go one by one (a chunk that SQLite refused:
        // the write to blame is found by its own statement).
        let mut single_until = 0;
        // Where the run of puts that `pos` is in ends (counted once a run).
        let mut puts_end = 0;
        let mut next = 0;
        while next < writes.len() {
            let (pos, w) = (next, writes[next]);
            next += 1;
            if matches!(w, Write::Put(_)) && pos >= puts_end {
                puts_end = pos + writes[pos..].iter().take_while(|w| matches!(w, Write::Put(_))).count();
            }
            if pos >= single_until && puts_end >= pos + CHUNK {
                // SQLite takes the rows of one INSERT in order, each
                // upserted as its own statement would have been.
                current = None;
                match put_chunk(conn, &writes[pos..pos + CHUNK]) {
                    Ok(()) => {
                        next = pos + CHUNK;
                        continue;
                    }
                    Err(e) => match classify(e, Some(pos)) {
                        ApplyError::Rejected { .. } => single_until = pos + CHUNK,
                        e => return Err(e),
                    },
                }
            }
            let (sql, params): (&str, Params<'_>) = match w {
                Write::Put(kv) => (UPSERT, Params::Kv(kv.key(), Some(kv.value()))),
                Write::Delete(kv) => (DELETE, Params::Kv(kv.key(), None)),
                Write::Execute(st) => (st.sql(), Params::Sql(st.params())),
            };
            let same = matches!(&current, Some((p, _)) if *p == sql);
            if !same {
                let reject = |reason: String| ApplyError::Rejected { position: pos, error: SinkError::new(reason) };
                if matches!(params, Params::Sql(_)) {
                    // What prepare cannot see. `Store::execute` refuses
                    // these, but a journal written before it did may hold some.
                    statement::nul_or_empty(sql, Call::Execute).map_err(reject)?;
                }
                let stmt = conn.prepare_cached(sql).map_err(|e| match e {
                    rusqlite::Error::MultipleStatement => reject(multiple(sql, Call::Execute)),
                    e => classify(e, Some(pos)),
                })?;
                if matches!(params, Params::Sql(_)) && stmt.readonly() {
                    // SELECT, and the transaction statements (BEGIN, COMMIT,
                    // ROLLBACK, SAVEPOINT, RELEASE), which SQLite reports as
                    // read-only: ending the batch's transaction would commit
                    // writes without their `last_applied_seq` (applied twice
                    // on retry) or drop writes whose tickets say committed.
                    return Err(ApplyError::Rejected {
                        position: pos,
                        error: SinkError::new(format!(
                            "execute() takes write statements; `{sql}` reads or controls the transaction \
                             (backburner runs each batch in its own transaction: use query() for reads)"
                        )),
                    });
                }
                let word = statement::first_word(sql);
                inserts =
                    matches!(params, Params::Sql(_)) && matches!(word.as_deref(), Some("INSERT" | "REPLACE" | "WITH"));
                // SQLite's `changes()` counts only INSERT, UPDATE and DELETE: a
                // DDL statement leaves the previous statement's count in place.
                counts = inserts || matches!(word.as_deref(), Some("UPDATE" | "DELETE"));
                reset_each = inserts && may_update(sql);
                current = Some((sql, stmt));
            }
            let Some((_, stmt)) = current.as_mut() else {
                continue;
            };
            if let Params::Sql(p) = params {
                if let Err(reason) = param_count(sql, stmt, p.len()) {
                    return Err(ApplyError::Rejected { position: pos, error: SinkError::new(reason) });
                }
            }
            if inserts && (!same || reset_each) && conn.last_insert_rowid() != NO_ROWID {
                conn.prepare_cached(RESET_ROWID).and_then(|mut s| s.execute([])).map_err(|e| classify(e, None))?;
            }
            let r = match params {
                Params::Kv(key, Some(value)) => stmt.execute((key, value)),
                Params::Kv(key, None) => stmt.execute([key]),
                Params::Sql(p) => stmt.execute(rusqlite::params_from_iter(p.iter())),
            };
            let changes = match r {
                Ok(n) => n as u64,
                Err(e) => return Err(classify(e, Some(pos))),
            };
            if let Params::Sql(_) = params {
                // Inserted a row only if the rowid moved off NO_ROWID (an
                // upsert may have updated instead; a WITH may be an UPDATE;
                // a table WITHOUT ROWID has no rowid to report).
                let id = conn.last_insert_rowid();
                let inserted = inserts && changes > 0 && id != NO_ROWID;
                let changes = if counts { changes } else { 0 };
                outcomes.set(pos, Outcome::Executed(Executed::new(changes, inserted.then_some(id))));
            }
            if conn.is_autocommit() {
                // A statement ended the transaction anyway (none should).
                return Err(ApplyError::Transient(SinkError::new(format!(
                    "the statement at position {pos} ended the batch's transaction"
                ))));
            }
        }
        drop(current);
        let seq = i64::try_from(batch.last_seq().get()).unwrap_or(i64::MAX);
        let epoch = i64::try_from(batch.epoch()).unwrap_or(i64::MAX);
        let stored = conn
            .prepare_cached(SET_SEQ)
            .and_then(|mut s| s.execute(rusqlite::params![seq, batch.writer(), epoch]))
            .map_err(|e| classify(e, None))?;
        if stored == 0 {
            // Another store claimed the writer since (or its row was deleted).
            use rusqlite::OptionalExtension as _;
            let current: Option<i64> = conn
                .query_row("SELECT epoch FROM backburner_writers WHERE writer = ?1", [batch.writer()], |r| r.get(0))
                .optional()
                .map_err(|e| classify(e, None))?;
            return Err(ApplyError::Fenced { current: current.and_then(|c| u64::try_from(c).ok()).unwrap_or(0) });
        }
        Ok(())
    }

    /// Claims `writer` in one transaction: creates its row (from the old
    /// single checkpoint for `default`), bumps its epoch, reads it back.
    fn claim(&mut self, writer: &str) -> rusqlite::Result<(i64, i64)> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let old: i64 = if writer == crate::sink::DEFAULT_WRITER {
            let meta: bool = tx.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'backburner_meta'",
                [],
                |r| r.get(0),
            )?;
            match meta {
                true => tx
                    .query_row("SELECT value FROM backburner_meta WHERE name = 'last_applied_seq'", [], |r| r.get(0))
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(0),
                        e => Err(e),
                    })?,
                false => 0,
            }
        } else {
            0
        };
        tx.execute(
            "INSERT OR IGNORE INTO backburner_writers(writer, epoch, last_seq) VALUES (?1, 0, ?2)",
            rusqlite::params![writer, old],
        )?;
        tx.execute("UPDATE backburner_writers SET epoch = epoch + 1 WHERE writer = ?1", [writer])?;
        let row = tx.query_row("SELECT epoch, last_seq FROM backburner_writers WHERE writer = ?1", [writer], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        tx.commit()?;
        Ok(row)
    }

    fn checkpoint(&mut self) {
        if let Err(e) = self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            ::log::warn!("backburner: checkpoint of {} failed: {e}", self.path.display());
        }
        self.rows_since_checkpoint = 0;
        self.batches_since_checkpoint = 0;
    }
}

/// Applies `CHUNK` puts with one statement.
fn put_chunk(conn: &Connection, run: &[&Write]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(upsert_chunk())?;
    for (i, w) in run.iter().enumerate() {
        if let Write::Put(kv) = w {
            stmt.raw_bind_parameter(2 * i + 1, kv.key())?;
            stmt.raw_bind_parameter(2 * i + 2, kv.value())?;
        }
    }
    stmt.raw_execute()?;
    Ok(())
}

/// The reason for SQL in which rusqlite found a second statement.
fn multiple(sql: &str, call: Call) -> String {
    let name = call.name();
    format!("{name} takes one statement per call, and `{sql}` holds more than one; call {name} once for each statement")
}

/// Checks that `given` parameters are what `stmt` (prepared from `sql`) takes.
fn param_count(sql: &str, stmt: &rusqlite::Statement<'_>, given: usize) -> Result<(), String> {
    let takes = stmt.parameter_count();
    if takes == given {
        return Ok(());
    }
    let s = |n: usize| if n == 1 { "" } else { "s" };
    Err(format!(
        "`{sql}` takes {takes} parameter{}, {given} given; pass one value for each parameter (up to the highest ?N)",
        s(takes)
    ))
}

enum Params<'a> {
    Kv(&'a [u8], Option<&'a [u8]>),
    Sql(&'a [SqlValue]),
}

/// How SQLite stores each parameter: the five storage classes as they are;
/// a boolean as INTEGER 0 or 1; a timestamp as RFC 3339 text in UTC with
/// microseconds (`2026-12-01T22:40:00.123456Z`, which `datetime()` and the
/// other date functions read for years 0000 to 9999); JSON as
/// TEXT (which the JSON functions read).
impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Integer(i) => ValueRef::Integer(*i),
            SqlValue::Real(f) => ValueRef::Real(*f),
            SqlValue::Text(s) | SqlValue::Json(s) => ValueRef::Text(s.as_bytes()),
            SqlValue::Blob(b) => ValueRef::Blob(b),
            SqlValue::Bool(b) => ValueRef::Integer(i64::from(*b)),
            SqlValue::Timestamp(t) => {
                let mut s = String::with_capacity(27);
                crate::time::rfc3339_micros(&mut s, *t);
                return Ok(ToSqlOutput::Owned(rusqlite::types::Value::Text(s)));
            }
        }))
    }
}

fn from_sql(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

/// Whether an error may pass if the batch is tried again.
fn is_transient(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
        ),
        _ => false,
    }
}

/// Sorts a failed statement into "retry the batch" or "reject this write".
fn classify(e: rusqlite::Error, pos: Option<usize>) -> ApplyError {
    match pos {
        Some(position) if !is_transient(&e) => {
            ApplyError::Rejected { position, error: SinkError::with_source("SQLite rejected the write", e) }
        }
        None if !is_transient(&e) => ApplyError::Unattributed(SinkError::with_source("SQLite refused the batch", e)),
        _ => ApplyError::Transient(SinkError::with_source("SQLite could not commit the batch", e)),
    }
}

impl Sink for SqliteSink {
    fn open_writer(&mut self, writer: &str) -> Result<Resume, SinkError> {
        let (epoch, last) = self.claim(writer).map_err(|e| open_err(&self.path, Step::ReadSeq, e))?;
        let last = u64::try_from(last).map_err(|_| {
            SinkError::new(format!(
                "backburner_writers.last_seq of writer `{writer}` in {} is {last}, below 0: the table was changed by hand; fix it before opening",
                self.path.display()
            ))
        })?;
        Ok(Resume { last_applied: crate::Seq(last), epoch: u64::try_from(epoch).unwrap_or(0) })
    }

    fn apply(&mut self, batch: &Batch<'_>, outcomes: &mut Outcomes<'_>) -> Result<(), ApplyError> {
        // Prepared once (`execute_batch` parses its SQL at every call: a
        // few µs a batch, which counts when batches are small).
        let control = |conn: &Connection, sql: &str| {
            conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop).map_err(|e| classify(e, None))
        };
        control(&self.conn, "BEGIN IMMEDIATE")?;
        let r = self.apply_writes(batch, outcomes).and_then(|()| control(&self.conn, "COMMIT"));
        if r.is_err() && !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                ::log::warn!("backburner: rollback on {} failed: {e}", self.path.display());
            }
        }
        if r.is_ok() {
            self.rows_since_checkpoint += batch.len() as u64;
            self.batches_since_checkpoint += 1;
        }
        r
    }

    fn maintain(&mut self, idle: bool) {
        let due = self.rows_since_checkpoint >= self.opts.checkpoint_rows || self.batches_since_checkpoint >= 1000;
        let idle_due = idle && (self.rows_since_checkpoint >= 1024 || self.batches_since_checkpoint >= 64);
        if due || idle_due {
            self.checkpoint();
        }
    }

    fn max_write_bytes(&self) -> Option<usize> {
        // SQLite refuses a string or blob longer than SQLITE_LIMIT_LENGTH
        // ("string or blob too big"), and a statement longer than
        // SQLITE_LIMIT_SQL_LENGTH; both are 1,000,000,000 by default.
        use rusqlite::limits::Limit;
        let length = self.conn.limit(Limit::SQLITE_LIMIT_LENGTH).ok()?;
        let sql = self.conn.limit(Limit::SQLITE_LIMIT_SQL_LENGTH).ok()?;
        usize::try_from(length.min(sql)).ok()
    }

    fn reader(&mut self) -> Result<Option<Box<dyn SinkReader>>, SinkError> {
        let r = SqliteReader { path: self.path.clone(), busy: self.opts.busy_timeout, pool: Mutex::new(Vec::new()) };
        // Open one connection now so that a bad path fails at open, not at the first read.
        let c = r.connect()?;
        r.pool.lock().push(c);
        Ok(Some(Box::new(r)))
    }
}

/// Reads from the database through a small pool of read-only connections.
struct SqliteReader {
    path: PathBuf,
    busy: Duration,
    pool: Mutex<Vec<Connection>>,
}

const POOL_MAX: usize = 8;

impl SqliteReader {
    fn connect(&self) -> Result<Connection, SinkError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let c =
            Connection::open_with_flags(&self.path, flags).map_err(|e| open_err(&self.path, Step::OpenReader, e))?;
        c.busy_timeout(self.busy).map_err(|e| open_err(&self.path, Step::Configure, e))?;
        Ok(c)
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, SinkError>) -> Result<T, SinkError> {
        let conn = match self.pool.lock().pop() {
            Some(c) => c,
            None => self.connect()?,
        };
        let r = f(&conn);
        let mut pool = self.pool.lock();
        if pool.len() < POOL_MAX {
            pool.push(conn);
        }
        r
    }
}

impl SinkReader for SqliteReader {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SinkError> {
        self.with(|c| {
            let mut st = c.prepare_cached(GET).map_err(|e| SinkError::with_source("cannot read a key", e))?;
            let mut rows = st.query([key]).map_err(|e| SinkError::with_source("cannot read a key", e))?;
            match rows.next() {
                Ok(Some(row)) => row.get(0).map(Some).map_err(|e| SinkError::with_source("cannot read a key", e)),
                Ok(None) => Ok(None),
                Err(e) => Err(SinkError::with_source("cannot read a key", e)),
            }
        })
    }

    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SinkError> {
        statement::nul_or_empty(sql, Call::Query).map_err(SinkError::new)?;
        self.with(|c| {
            let err = |e| SinkError::with_source(format!("query `{sql}` failed"), e);
            let mut st = c.prepare_cached(sql).map_err(|e| match e {
                rusqlite::Error::MultipleStatement => SinkError::new(multiple(sql, Call::Query)),
                e => err(e),
            })?;
            if !st.readonly() {
                return Err(SinkError::new(format!(
                    "query() runs reads only, and `{sql}` writes; use execute() for writes"
                )));
            }
            param_count(sql, &st, params.len()).map_err(SinkError::new)?;
            let n = st.column_count();
            let mut rows = st.query(rusqlite::params_from_iter(params.iter())).map_err(err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(err)? {
                let mut r = Vec::with_capacity(n);
                for i in 0..n {
                    r.push(from_sql(row.get_ref(i).map_err(err)?));
                }
                out.push(r);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::fallible_iterator::FallibleIterator;

    use super::*;
    use crate::write::{Record, Write};

    fn open(dir: &Path) -> SqliteSink {
        let sink = SqliteSink::open(dir.join("t.db"), SqliteOptions::default()).expect("open");
        sink.conn.execute_batch("CREATE TABLE t(id INTEGER, s TEXT); CREATE TABLE u(id INTEGER)").expect("tables");
        sink
    }

    fn apply(sink: &mut SqliteSink, seq: u64, sql: &str, params: Vec<SqlValue>) -> Result<(), ApplyError> {
        let records = [Record { seq, hash: 0, write: Write::execute(sql, params), done: None }];
        let epoch = sink.open_writer("default").expect("writer").epoch;
        let mut outcomes = [Outcome::None];
        let batch = Batch { records: &records, live: &[0], last_seq: seq, writer: "default", epoch };
        sink.apply(&batch, &mut Outcomes { outcomes: &mut outcomes })
    }

    #[test]
    fn the_sink_refuses_what_is_not_one_statement_when_it_prepares_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = open(dir.path());
        let cases: [(&str, Vec<SqlValue>, &str); 6] = [
            ("INSERT INTO t VALUES (26, 'nul')\0; DELETE FROM t", vec![], "NUL byte at byte 32"),
            ("INSERT INTO t VALUES (1, 'a'); DELETE FROM t", vec![], "execute() takes one statement per call"),
            ("", vec![], "holds no statement"),
            (" -- only a comment", vec![], "holds no statement"),
            (
                "INSERT INTO t VALUES (?1, ?2)",
                vec![SqlValue::Integer(1)],
                "`INSERT INTO t VALUES (?1, ?2)` takes 2 parameters, 1 given",
            ),
            (
                "INSERT INTO t VALUES (?1, 'x')",
                vec![SqlValue::Integer(1), SqlValue::Integer(2)],
                "1 parameter, 2 given",
            ),
        ];
        for (i, (sql, params, needle)) in cases.into_iter().enumerate() {
            match apply(&mut sink, i as u64 + 1, sql, params) {
                Err(ApplyError::Rejected { position: 0, error }) => {
                    let e = error.to_string();
                    assert!(e.contains(needle), "{sql:?}: {e}");
                }
                other => panic!("{sql:?}: expected a rejection, got {other:?}"),
            }
        }
        let n: i64 = sink.conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 0, "no part of a refused statement ran");

        let reader = sink.reader().expect("reader").expect("SQLite can be read");
        let cases: [(&str, Vec<SqlValue>, &str); 4] = [
            ("SELECT count(*) FROM t\0 WHERE 0", vec![], "NUL byte at byte 22"),
            ("SELECT 1; SELECT 2", vec![], "query() takes one statement per call"),
            ("/* nothing */", vec![], "holds no statement"),
            ("SELECT ?1 + ?2", vec![SqlValue::Integer(1)], "`SELECT ?1 + ?2` takes 2 parameters, 1 given"),
        ];
        for (sql, params, needle) in cases {
            match reader.query(sql, &params) {
                Err(e) => assert!(e.to_string().contains(needle), "{sql:?}: {e}"),
                Ok(rows) => panic!("{sql:?}: expected an error, got {rows:?}"),
            }
        }
    }

    /// How SQLite reads `sql`: `Some(n)` statements (the empty ones not
    /// counted), `None` if it cannot compile the first one.
    fn statements(conn: &Connection, sql: &str) -> Option<usize> {
        let mut batch = rusqlite::Batch::new(conn, sql);
        let mut n = 0;
        loop {
            match batch.next() {
                Ok(Some(_)) => n += 1,
                Ok(None) => return Some(n),
                // A second statement that does not compile is still a second statement.
                Err(_) if n > 0 => return Some(n + 1),
                Err(_) => return None,
            }
        }
    }

    #[test]
    fn the_call_time_check_agrees_with_sqlite_on_where_the_first_statement_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = open(dir.path());
        let stmts = [
            "INSERT INTO t VALUES (1, 'a;b')",
            "INSERT INTO \"t\" VALUES (2, 'it''s; -- not a comment')",
            "UPDATE t SET s = 'x' /* ; */ WHERE id = 1",
            "DELETE FROM t -- ; a comment\n",
            "CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN UPDATE t SET s = ';' WHERE id = new.id; DELETE FROM u; END",
            "create temp trigger if not exists tt after delete on t begin select case when 1 then 2 end; end",
            "INSERT INTO [t] VALUES ($a(x;y), :b)",
            "INSERT INTO `t` VALUES ($a(--), ?2)",
            "SELECT 1",
            "",
            "-- nothing",
        ];
        let glue = ["", ";", " ;; ", "; -- c\n", ";/* c */", "\n"];
        let mut compared = 0;
        for a in stmts {
            for g in glue {
                for b in stmts {
                    let sql = format!("{a}{g}{b}");
                    let ours = statement::check(&sql, Call::Execute);
                    match statements(&sink.conn, &sql) {
                        Some(1) => assert_eq!(ours, Ok(()), "{sql:?}: SQLite reads one statement"),
                        Some(n) => assert!(ours.is_err(), "{sql:?}: SQLite reads {n} statements"),
                        None => continue,
                    }
                    compared += 1;
                }
            }
        }
        assert!(compared > 300, "only {compared} compared");
    }
}
