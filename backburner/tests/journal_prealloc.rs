//! A torn record at the end of a real, preallocated 64 MiB segment (the
//! default size): recovery treats it as a torn tail, as when the file ends
//! at the cut, truncates it with a warning and replays every record before
//! it. (The work recovery does over the zeros after the data is bounded by
//! a unit test in `src/journal/format.rs`, which counts the offsets probed.)

mod common;

use std::sync::Arc;

use backburner::journal::fault::MemStorage;
use backburner::journal::{scan, End, FsStorage, Storage, RECORD_HEADER};
use backburner::{params, Durability, Fsync, RecoveryMode, Store};

const SEGMENT: u64 = 64 << 20;

#[test]
fn a_torn_tail_in_a_preallocated_segment_is_truncated_and_the_rest_replayed() {
    common::capture_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute_batch("CREATE TABLE t(id INTEGER NOT NULL)").expect("ddl");
    drop(c);
    let url = format!("sqlite://{}", db.display());

    // 60 journaled inserts that the sink (down) never applied, in one segment.
    let mem = MemStorage::new();
    let store = Store::builder(&url)
        .sink(common::Down(common::sqlite(&db)))
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal_storage(Arc::new(mem.clone()))
        .journal_limits(1 << 20, 4 << 20)
        // Forgotten (a crash), the store is still drained by the exit
        // handler when the test binary ends: into a sink that stays down,
        // it gives up after this long instead of the default 10 s.
        .drain_timeout(std::time::Duration::from_millis(100))
        .build()
        .expect("open");
    for i in 0..60i64 {
        store
            .execute("INSERT INTO t(id) VALUES (?1)", params![i])
            .expect("insert")
            .wait_journaled()
            .expect("journaled");
    }
    let snap = mem.snapshot();
    std::mem::forget(store);
    let names = snap.names();
    assert_eq!(names.len(), 1, "one segment: {names:?}");
    let name = &names[0];
    let bytes = snap.bytes(name).expect("bytes");
    let s = scan(&bytes).expect("scan");
    assert!(matches!(s.end, End::Clean { .. }), "{:?}", s.end);
    assert_eq!(s.records.len(), 60);
    let last = *s.records.last().expect("records");

    // The same segment on disk, preallocated to 64 MiB, the last record's
    // write cut short after its header and three bytes of payload.
    let jdir = dir.path().join("t.db.journal");
    let fs = FsStorage::new(&jdir).expect("journal dir");
    let cut = last.offset as usize + RECORD_HEADER + 3;
    let mut seg = fs.create(name, SEGMENT).expect("create segment");
    seg.write_at(0, &bytes[..cut]).expect("write");
    seg.sync().expect("sync");
    drop(seg);
    assert_eq!(std::fs::metadata(jdir.join(name)).expect("stat").len(), SEGMENT);

    let store = Store::builder(&url)
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal(&jdir)
        .recovery(RecoveryMode::Strict)
        .build()
        .expect("a torn tail before the zeros does not stop the open");
    let rows = store.query("SELECT id FROM t ORDER BY rowid", []).expect("query");
    store.close().expect("close");
    let ids: Vec<i64> = rows.iter().map(|r| r[0].as_i64().expect("int")).collect();
    assert_eq!(ids, (0..59).collect::<Vec<_>>());
    let w = common::warnings_about("torn record");
    assert!(
        w.iter().any(|l| l.contains(name.as_str()) && l.contains(&format!("offset {}", last.offset))),
        "no warning naming {name} and offset {}: {w:?}",
        last.offset
    );
}
