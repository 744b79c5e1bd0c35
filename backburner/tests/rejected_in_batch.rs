//! A write rejected inside a batch leaves every other write's outcome as it
//! would have been without batching: a write it had superseded (coalescing)
//! is applied after all, and a batch the sink refuses without naming the
//! culprit is retried one write at a time so only the culprit fails.

mod common;

use std::time::Duration;

use backburner::{ApplyError, Batch, Error, Sink, SinkError, SinkReader, Store, Write};
use common::{committed, count, sqlite};

fn url(db: &std::path::Path) -> String {
    format!("sqlite://{}", db.display())
}

#[test]
fn superseded_write_is_applied_when_its_successor_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    {
        let store = Store::open(&url(&db)).expect("open");
        store.put("setup", "x").expect("put").wait().expect("commit");
        store.close().expect("close");
    }
    // A trigger makes the sink refuse the value "bad" for good.
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch(
        "CREATE TRIGGER no_bad_insert BEFORE INSERT ON backburner_kv WHEN NEW.value = CAST('bad' AS BLOB)
         BEGIN SELECT RAISE(ABORT, 'bad value'); END;
         CREATE TRIGGER no_bad_update BEFORE UPDATE ON backburner_kv WHEN NEW.value = CAST('bad' AS BLOB)
         BEGIN SELECT RAISE(ABORT, 'bad value'); END;",
    )
    .expect("triggers");
    drop(conn);

    let store = Store::builder(&url(&db)).linger(Duration::from_secs(600)).build().expect("open");
    let good = store.put("k", "good").expect("put");
    let bad = store.put("k", "bad").expect("put");
    let other = store.put("j", "fine").expect("put");
    assert!(matches!(store.flush(), Err(Error::WritesFailed { count: 1, .. })));
    good.wait().expect("the superseded write is applied after all");
    assert!(matches!(bad.wait(), Err(Error::Rejected { .. })));
    other.wait().expect("the neighbour commits");
    assert_eq!(committed(&db, b"k").as_deref(), Some(&b"good"[..]));
    assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"good"[..]));
    assert_eq!(committed(&db, b"j").as_deref(), Some(&b"fine"[..]));
    assert_eq!(store.stats().dead_letters, 1);
    store.close().expect("close");
}

/// Refuses, without naming the write, any batch holding a statement that
/// mentions "poison" (as SQLite does for a deferred constraint at COMMIT).
struct CommitTimeRefusal {
    inner: backburner::sink::sqlite::SqliteSink,
}

impl Sink for CommitTimeRefusal {
    fn open_writer(&mut self, writer: &str) -> Result<backburner::Resume, SinkError> {
        self.inner.open_writer(writer)
    }
    fn apply(&mut self, batch: &Batch<'_>, outcomes: &mut backburner::Outcomes<'_>) -> Result<(), ApplyError> {
        let poisoned = batch.writes().any(|(_, w)| matches!(w, Write::Execute(st) if st.sql().contains("poison")));
        if poisoned {
            return Err(ApplyError::Unattributed(SinkError::new("deferred constraint failed")));
        }
        self.inner.apply(batch, outcomes)
    }
    fn reader(&mut self) -> Result<Option<Box<dyn SinkReader>>, SinkError> {
        self.inner.reader()
    }
}

#[test]
fn unattributed_refusal_is_narrowed_to_the_culprit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::builder(&url(&db))
        .sink(CommitTimeRefusal { inner: sqlite(&db) })
        .linger(Duration::from_secs(600))
        .dead_letter(Some(dir.path().join("dead.jsonl")))
        .build()
        .expect("open");
    store.execute("CREATE TABLE t(x INTEGER)", []).expect("ddl").wait().expect("ddl commits");
    let mut tickets = Vec::new();
    for i in 0..10 {
        let sql = if i == 6 { "INSERT INTO t VALUES (?1) -- poison" } else { "INSERT INTO t VALUES (?1)" };
        tickets.push(store.execute(sql, backburner::params![i]).expect("execute"));
    }
    let last = tickets.last().map(|t| t.seq()).expect("tickets");
    assert!(matches!(store.flush(), Err(Error::WritesFailed { count: 1, .. })));
    for (i, t) in tickets.iter().enumerate() {
        assert_eq!(t.wait().is_ok(), i != 6, "ticket {i}");
    }
    store.close().expect("close");
    assert_eq!(count(&db, "t"), 9);
    let conn = rusqlite::Connection::open(&db).expect("open");
    let stored: i64 = conn
        .query_row("SELECT last_seq FROM backburner_writers WHERE writer = 'default'", [], |r| r.get(0))
        .expect("last_applied_seq");
    assert_eq!(stored as u64, last.get());
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).expect("dead letters");
    assert_eq!(dead.lines().count(), 1);
    assert!(dead.contains("poison"), "{dead}");
}
