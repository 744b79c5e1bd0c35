//! The ways of writing rows without backburner, measured beside it: one
//! transaction per row (the synchronous way), hand-written batched
//! transactions with a prepared statement (the ceiling), and a naive
//! fire-and-forget writer thread (the race).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::BoxError;

/// Same statement the SQLite sink uses for `put`.
pub const UPSERT: &str = "INSERT INTO backburner_kv(key, value) VALUES (?1, ?2) \
                          ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/// Row `i` of every benchmark: the same bytes for every candidate.
pub struct RowGen {
    key: String,
    value: String,
}

impl RowGen {
    pub fn new() -> RowGen {
        RowGen { key: String::with_capacity(32), value: String::with_capacity(64) }
    }

    /// Key `key:0000000042`, value of 40 bytes.
    #[inline]
    pub fn row(&mut self, i: u64) -> (&str, &str) {
        self.key.clear();
        self.value.clear();
        let _ = write!(self.key, "key:{i:010}");
        let _ = write!(self.value, "{{\"n\":{i:010},\"payload\":\"abcdefghijk\"}}");
        (&self.key, &self.value)
    }
}

/// Opens `path` the way the SQLite sink does (WAL, `synchronous=NORMAL`,
/// automatic checkpoints off, the same table), so baselines are comparable.
pub fn open_like_sink(path: &Path) -> Result<Connection, BoxError> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(5))?;
    let _: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    c.execute_batch(
        "PRAGMA synchronous=NORMAL;
         PRAGMA journal_size_limit=67108864;
         PRAGMA wal_autocheckpoint=0;
         CREATE TABLE IF NOT EXISTS backburner_kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;",
    )?;
    Ok(c)
}

/// Removes a database and its WAL files.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal", ".dead-letter.jsonl"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// How a per-row baseline opens its database.
#[derive(Clone, Copy, Debug)]
pub enum Settings {
    /// SQLite's defaults, as a plain application has them: rollback
    /// journal, `synchronous=FULL` (a sync per commit).
    Defaults,
    /// WAL and `synchronous=NORMAL` as the sink has them, with SQLite's
    /// automatic checkpoints as an application has them.
    Wal,
}

impl Settings {
    pub fn label(self) -> &'static str {
        match self {
            Settings::Defaults => "SQLite defaults (rollback journal, synchronous=FULL)",
            Settings::Wal => "WAL + synchronous=NORMAL, SQLite's automatic checkpoints",
        }
    }
}

/// Opens `path` with the given settings.
pub fn open(path: &Path, settings: Settings) -> Result<Connection, BoxError> {
    match settings {
        Settings::Wal => {
            // As an application in WAL mode runs: automatic checkpoints on
            // (every 1000 pages), or the WAL grows without bound.
            let c = open_like_sink(path)?;
            c.execute_batch("PRAGMA wal_autocheckpoint=1000;")?;
            Ok(c)
        }
        Settings::Defaults => {
            let c = Connection::open(path)?;
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS backburner_kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;",
            )?;
            Ok(c)
        }
    }
}

/// One autocommit transaction per row, at most `rows` rows or `cap` time:
/// returns the rows written and the time taken.
pub fn autocommit(
    path: &Path,
    settings: Settings,
    rows: u64,
    cap: Duration,
    mut tick: impl FnMut(u64),
) -> Result<(u64, Duration), BoxError> {
    let c = open(path, settings)?;
    let mut st = c.prepare(UPSERT)?;
    let mut g = RowGen::new();
    let t = Instant::now();
    let mut n = 0;
    while n < rows && t.elapsed() < cap {
        let (k, v) = g.row(n);
        st.execute((k.as_bytes(), v.as_bytes()))?;
        n += 1;
        tick(n);
    }
    Ok((n, t.elapsed()))
}

/// Hand-written batching: transactions of `batch` prepared upserts, a
/// passive checkpoint every `checkpoint_rows` (as the sink does).
pub fn hand_batched(path: &Path, rows: u64, batch: u64, checkpoint_rows: u64) -> Result<Duration, BoxError> {
    let mut c = open_like_sink(path)?;
    let mut g = RowGen::new();
    let t = Instant::now();
    let mut i = 0;
    let mut since = 0;
    while i < rows {
        let tx = c.transaction()?;
        {
            let mut st = tx.prepare_cached(UPSERT)?;
            let end = (i + batch).min(rows);
            while i < end {
                let (k, v) = g.row(i);
                st.execute((k.as_bytes(), v.as_bytes()))?;
                i += 1;
                since += 1;
            }
        }
        tx.commit()?;
        if since >= checkpoint_rows {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            since = 0;
        }
    }
    Ok(t.elapsed())
}

/// The naive fire-and-forget writer: a background thread with its own
/// connection inserts what it is sent; nobody waits for it.
pub struct NaiveWriter {
    tx: Option<mpsc::Sender<(String, String)>>,
    handle: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl NaiveWriter {
    pub fn start(path: &Path) -> Result<NaiveWriter, BoxError> {
        let c = open_like_sink(path)?;
        let (tx, rx) = mpsc::channel::<(String, String)>();
        let handle = std::thread::spawn(move || {
            let mut st = c.prepare(UPSERT).map_err(|e| e.to_string())?;
            for (k, v) in rx {
                st.execute((k.as_bytes(), v.as_bytes())).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        Ok(NaiveWriter { tx: Some(tx), handle: Some(handle) })
    }

    /// Fire and forget.
    pub fn write(&self, key: &str, value: &str) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((key.to_string(), value.to_string()));
        }
    }

    pub fn finish(mut self) -> Result<(), BoxError> {
        drop(self.tx.take());
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(Err(e))) => Err(e.into()),
            Some(Err(_)) => Err("the naive writer thread panicked".into()),
            _ => Ok(()),
        }
    }
}

/// Reads one key with a plain connection.
pub fn read_key(c: &Connection, key: &str) -> Result<Option<Vec<u8>>, BoxError> {
    let mut st = c.prepare_cached("SELECT value FROM backburner_kv WHERE key = ?1")?;
    let mut rows = st.query([key.as_bytes()])?;
    Ok(match rows.next()? {
        Some(r) => Some(r.get(0)?),
        None => None,
    })
}

/// Counts rows in the managed table.
pub fn count_rows(path: &Path) -> Result<u64, BoxError> {
    let c = Connection::open(path)?;
    let n: i64 = c.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0))?;
    Ok(u64::try_from(n)?)
}
