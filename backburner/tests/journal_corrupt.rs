//! Recovery from a damaged journal: a torn record at the very end is
//! truncated with a warning naming the file and offset; a checksum mismatch
//! anywhere else refuses to open, naming file and offset, unless the user
//! picks a RecoveryMode that skips or truncates (and then it says so).

mod common;

use std::sync::Arc;

use backburner::journal::fault::MemStorage;
use backburner::journal::{scan, End, RECORD_HEADER};
use backburner::{params, Durability, Error, Fsync, RecoveryMode, Store};

fn warnings_about(needle: &str) -> Vec<String> {
    common::warnings_about(needle)
}

/// A journal of 60 inserts (ids 0..60) over several segments, never applied.
fn journal(dir: &std::path::Path) -> (String, MemStorage) {
    let db = dir.join("t.db");
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute_batch("CREATE TABLE t(id INTEGER NOT NULL)").expect("ddl");
    drop(c);
    let url = format!("sqlite://{}", db.display());
    let mem = MemStorage::new();
    let sink = backburner::sink::sqlite::SqliteSink::open(&db, Default::default()).expect("sink");
    let store = Store::builder(&url)
        .sink(common::Down(sink))
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal_storage(Arc::new(mem.clone()))
        .journal_limits(4096, 1 << 20)
        // Forgotten (a crash), the store is still drained by the exit
        // handler when the test binary ends: into a sink that stays down,
        // it gives up after this long instead of the default 10 s.
        .drain_timeout(std::time::Duration::from_millis(100))
        .build()
        .expect("open");
    for i in 0..60i64 {
        let t = store.execute("INSERT INTO t(id) VALUES (?1) -- padding padding padding", params![i]).expect("insert");
        t.wait_journaled().expect("journaled");
    }
    let snap = mem.snapshot();
    std::mem::forget(store);
    (url, snap)
}

fn open(url: &str, mem: &MemStorage, mode: RecoveryMode) -> Result<Vec<i64>, Error> {
    let store = Store::builder(url)
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal_storage(Arc::new(mem.clone()))
        .recovery(mode)
        .build()?;
    let rows = store.query("SELECT id FROM t ORDER BY rowid", [])?;
    store.close()?;
    Ok(rows.iter().map(|r| r[0].as_i64().expect("int")).collect())
}

#[test]
fn torn_tail_is_truncated_with_a_warning() {
    common::capture_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, mem) = journal(dir.path());
    let names = mem.names();
    assert!(names.len() >= 2, "want several segments, got {names:?}");
    let last = names.last().expect("segments").clone();
    let bytes = mem.bytes(&last).expect("bytes");
    let s = scan(&bytes).expect("scan");
    let rec = *s.records.last().expect("records");
    // The crash cut the last record's write short: its tail never reached the disk.
    let cut = rec.offset as usize + RECORD_HEADER + 3;
    mem.corrupt(&last, cut, &vec![0u8; (rec.offset + rec.len) as usize - cut]);
    let ids = open(&url, &mem, RecoveryMode::Strict).expect("a torn tail does not stop the open");
    assert_eq!(ids, (0..59).collect::<Vec<_>>());
    let w = warnings_about("torn record");
    assert!(
        w.iter().any(|l| l.contains(&last) && l.contains(&format!("offset {}", rec.offset))),
        "no warning naming {last} and offset {}: {w:?}",
        rec.offset
    );
}

#[test]
fn corruption_in_the_middle_is_a_hard_error_unless_chosen_otherwise() {
    common::capture_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, mem) = journal(dir.path());
    let first = mem.names()[0].clone();
    let bytes = mem.bytes(&first).expect("bytes");
    let s = scan(&bytes).expect("scan");
    assert!(matches!(s.end, End::Clean { .. }));
    let victim = s.records[2];
    let lost_id = 2; // ids were journaled in order from 0
    mem.corrupt(&first, victim.offset as usize + RECORD_HEADER + 2, &[0xAB]);

    match open(&url, &mem, RecoveryMode::Strict) {
        Err(Error::JournalCorrupt { path, offset, reason }) => {
            assert!(path.ends_with(&first), "{path:?}");
            assert_eq!(offset, victim.offset);
            assert!(reason.contains("checksum"), "{reason}");
            let msg = Error::JournalCorrupt { path, offset, reason }.to_string();
            assert!(msg.contains("RecoveryMode"), "the message says how to go on: {msg}");
        }
        other => panic!("expected JournalCorrupt, got {other:?}"),
    }
    // Strict refused without changing anything: skipping still finds the rest.
    let skip = mem.snapshot();
    let ids = open(&url, &skip, RecoveryMode::SkipCorrupt).expect("skip");
    let want: Vec<i64> = (0..60).filter(|&i| i != lost_id).collect();
    assert_eq!(ids, want);
    assert!(!warnings_about("skipped as RecoveryMode::SkipCorrupt allows").is_empty());
}

#[test]
fn truncate_at_corruption_drops_the_rest_and_says_so() {
    common::capture_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, mem) = journal(dir.path());
    let first = mem.names()[0].clone();
    let s = scan(&mem.bytes(&first).expect("bytes")).expect("scan");
    let victim = s.records[2];
    mem.corrupt(&first, victim.offset as usize + 5, &[0x11, 0x22]);
    let ids = open(&url, &mem, RecoveryMode::TruncateAtCorruption).expect("truncate");
    assert_eq!(ids, vec![0, 1]);
    assert!(!warnings_about("everything from there on is dropped").is_empty());
}
