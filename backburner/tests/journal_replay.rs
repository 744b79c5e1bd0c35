//! The journal: writes acknowledged as journaled survive the loss of the
//! process while the sink is down, are replayed on open exactly once and in
//! order, are visible to `get` right after the reopen, and the journal's
//! segments are deleted once the sink has them.

mod common;

use std::sync::Arc;

use backburner::journal::fault::MemStorage;
use backburner::{Durability, Fsync, Store};
use common::{committed, count, sqlite};

fn journal() -> Durability {
    Durability::Journal { fsync: Fsync::EveryBatch }
}

#[test]
fn journaled_writes_commit_and_segments_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::builder(&url).durability(journal()).journal_limits(64 << 10, 1 << 20).build().expect("open");
    let mut last = None;
    for i in 0..3_000u32 {
        last = Some(store.put(format!("k{i}"), format!("v{i}")).expect("put"));
    }
    let last = last.expect("ticket");
    last.wait_journaled().expect("journaled");
    last.wait().expect("committed");
    store.flush().expect("flush");
    store.close().expect("close");
    assert_eq!(count(&db, "backburner_kv"), 3_000);
    // Everything is committed: no segment is needed any more except at most
    // the one that was current.
    let left = std::fs::read_dir(dir.path().join("t.db.journal"))
        .expect("journal dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".bbj")))
        .count();
    assert!(left <= 1, "{left} segments left");
    // Reopening replays nothing twice.
    let store = Store::builder(&url).durability(journal()).build().expect("reopen");
    assert_eq!(store.get("k2999").expect("get").as_deref(), Some(&b"v2999"[..]));
    store.close().expect("close");
    assert_eq!(count(&db, "backburner_kv"), 3_000);
}

#[test]
fn journaled_writes_survive_the_process_and_replay_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    // Some writes committed before the outage.
    let mem = MemStorage::new();
    {
        let store =
            Store::builder(&url).durability(journal()).journal_storage(Arc::new(mem.clone())).build().expect("open");
        store.execute("CREATE TABLE ev(id INTEGER, note TEXT)", []).expect("ddl");
        for i in 0..100 {
            drop(store.execute("INSERT INTO ev VALUES (?1, 'before')", backburner::params![i]).expect("insert"));
        }
        store.close().expect("close");
    }
    // The sink goes down; writes keep landing in the journal.
    let store = Store::builder(&url)
        .sink(common::Down(sqlite(&db)))
        .durability(journal())
        .journal_storage(Arc::new(mem.clone()))
        .journal_limits(8 << 10, 1 << 20)
        // Forgotten (a crash), the store is still drained by the exit
        // handler when the test binary ends: into a sink that stays down,
        // it gives up after this long instead of the default 10 s.
        .drain_timeout(std::time::Duration::from_millis(100))
        .build()
        .expect("open during the outage");
    let mut tickets = Vec::new();
    for i in 100..600 {
        tickets.push(
            store
                .execute("INSERT INTO ev VALUES (?1, 'during')", backburner::params![i])
                .expect("insert")
                .without_outcome(),
        );
    }
    tickets.push(store.put("key", "journaled value").expect("put"));
    for t in &tickets {
        t.wait_journaled().expect("journaled");
        assert!(!t.is_committed(), "the sink is down");
    }
    // The process dies here (its memory is gone; what it wrote is in the
    // OS cache, which the snapshot keeps).
    let after_kill = mem.snapshot();
    std::mem::forget(store);

    let store = Store::builder(&url)
        .durability(journal())
        .journal_storage(Arc::new(after_kill))
        .build()
        .expect("reopen replays");
    // Read-your-writes across the restart: the replayed put is visible at once.
    assert_eq!(store.get("key").expect("get").as_deref(), Some(&b"journaled value"[..]));
    store.flush().expect("flush");
    let rows = store.query("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM ev", []).expect("query");
    let r: Vec<i64> = rows[0].iter().map(|v| v.as_i64().expect("int")).collect();
    assert_eq!(r, vec![600, 600, 0, 599]);
    // Applied in order: rowids follow the ids.
    let out_of_order =
        store.query("SELECT count(*) FROM ev a JOIN ev b ON a.rowid < b.rowid AND a.id > b.id", []).expect("query");
    assert_eq!(out_of_order[0][0].as_i64(), Some(0));
    store.close().expect("close");
    assert_eq!(committed(&db, b"key").as_deref(), Some(&b"journaled value"[..]));
    assert_eq!(count(&db, "ev"), 600);
}
