//! The journal's size cap turns into backpressure, never into loss: with the
//! sink down and the journal full, new writes wait (and, with a timeout
//! policy, are refused with the write handed back); every accepted write is
//! committed once the sink is back, and segments are freed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backburner::{
    params, ApplyError, Backpressure, Batch, Durability, Error, Fsync, Sink, SinkError, SinkReader, Store,
};

struct Switch {
    inner: backburner::sink::sqlite::SqliteSink,
    up: Arc<AtomicBool>,
}

impl Sink for Switch {
    fn open_writer(&mut self, writer: &str) -> Result<backburner::Resume, SinkError> {
        self.inner.open_writer(writer)
    }
    fn apply(&mut self, b: &Batch<'_>, outcomes: &mut backburner::Outcomes<'_>) -> Result<(), ApplyError> {
        if !self.up.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
            return Err(ApplyError::Transient(SinkError::new("down")));
        }
        self.inner.apply(b, outcomes)
    }
    fn reader(&mut self) -> Result<Option<Box<dyn SinkReader>>, SinkError> {
        self.inner.reader()
    }
}

#[test]
fn full_journal_is_backpressure_not_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute_batch("CREATE TABLE t(id INTEGER NOT NULL, pad TEXT)").expect("ddl");
    drop(c);
    let up = Arc::new(AtomicBool::new(false));
    let sink = backburner::sink::sqlite::SqliteSink::open(&db, Default::default()).expect("sink");
    let store = Store::builder(&format!("sqlite://{}", db.display()))
        .sink(Switch { inner: sink, up: Arc::clone(&up) })
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal(dir.path().join("j"))
        .journal_limits(8 << 10, 32 << 10)
        .capacity(16)
        .backpressure(Backpressure::Timeout(Duration::from_millis(100)))
        .build()
        .expect("open");
    let pad = "p".repeat(500);
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..200i64 {
        match store.execute("INSERT INTO t VALUES (?1, ?2)", params![i, pad.as_str()]) {
            Ok(t) => accepted.push((i, t)),
            Err(e @ Error::Timeout { .. }) => {
                let w = e.into_write().expect("handed back");
                assert!(matches!(w, backburner::Write::Execute { .. }));
                refused += 1;
                if refused >= 3 {
                    break;
                }
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert!(refused >= 3, "the cap never pushed back");
    // The journal holds at most its cap: 32 KiB of 500-byte writes, plus the queue.
    assert!(accepted.len() < 100, "{} writes accepted past a 32 KiB journal", accepted.len());
    let journal_bytes: u64 = std::fs::read_dir(dir.path().join("j"))
        .expect("dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bbj"))
        .map(|e| e.metadata().expect("meta").len())
        .sum();
    assert!(journal_bytes <= 32 << 10, "journal is {journal_bytes} bytes, over its cap");

    up.store(true, Ordering::SeqCst);
    for (_, t) in &accepted {
        t.wait().expect("every accepted write commits");
    }
    store.close().expect("close");
    let c = rusqlite::Connection::open(&db).expect("open");
    let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(n as usize, accepted.len());
}
