//! Guards what a full queue does under each `Backpressure` policy: `Block`
//! makes the writer wait for room (and then accepts the write), `Timeout(d)`
//! refuses with `Error::Timeout` and hands the write back, `DropNewest`
//! refuses at once with `Error::QueueFull` and counts every drop in
//! `stats().dropped`; a refused write is never visible and never committed,
//! and every accepted write is committed once the sink moves again.
//!
//! The sink is the real SQLite sink behind a gate that holds each batch, so
//! "the queue is full" is a fact of the test, not a matter of speed.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use backburner::{Backpressure, Error, Store, Ticket, Write};
use common::{committed, count, Gate, GatedSink, HANG};

/// A store with room for 4 writes, 1 write per batch, whose first batch is
/// held at the gate: after this returns, the worker holds `k0` in `apply`
/// and the queue is empty, so exactly 4 more writes fit.
fn held_store(dir: &tempfile::TempDir, policy: Backpressure) -> (Store, std::sync::Arc<Gate>) {
    let db = dir.path().join("t.db");
    let gate = Gate::new();
    let store = Store::builder("gated")
        .sink(GatedSink { inner: common::sqlite(&db), gate: gate.clone() })
        .capacity(4)
        .batch_max(1)
        .linger(Duration::ZERO)
        .backpressure(policy)
        .build()
        .expect("open");
    drop(store.put("k0", "v0").expect("put k0"));
    gate.wait_entered(1);
    (store, gate)
}

/// Fills the 4 free places of a held store with `k1`..`k4`.
fn fill(store: &Store) -> Vec<Ticket> {
    (1..=4).map(|i| store.put(format!("k{i}"), format!("v{i}")).expect("room for 4")).collect()
}

fn put_write(i: u32) -> Write {
    Write::put(format!("k{i}"), format!("v{i}"))
}

#[test]
fn block_waits_for_room_then_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let (store, gate) = held_store(&dir, Backpressure::Block);
    let _open = gate.open_on_drop();
    let mut tickets = fill(&store);

    let (tx, rx) = mpsc::channel();
    let s = store.clone();
    let writer = std::thread::spawn(move || {
        let r = s.put("k5", "v5");
        let _ = tx.send(());
        r
    });
    // The writer is blocked: the queue is full and the sink holds its batch.
    // (Not returning within this time proves nothing about speed; returning
    // would prove that the write was not blocked.)
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(300)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "put returned while the queue was full under Backpressure::Block"
    );
    assert!(!writer.is_finished());
    assert_eq!(store.stats().dropped, 0);

    gate.open();
    rx.recv_timeout(HANG).expect("the blocked put never returned");
    let t5 = writer.join().expect("writer").expect("accepted after the wait");
    assert_eq!(t5.seq().get(), 6, "k0..k4 took seqs 1..5");
    tickets.push(t5);
    store.flush().expect("flush");
    for t in &tickets {
        assert!(t.is_committed());
    }
    assert_eq!(count(&db, "backburner_kv"), 6);
    assert_eq!(committed(&db, b"k5").as_deref(), Some(&b"v5"[..]));
    let st = store.stats();
    assert_eq!((st.dropped, st.committed, st.enqueued), (0, 6, 6), "{st:?}");
    store.close().expect("close");
}

#[test]
fn block_is_lossless_with_many_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let (store, gate) = held_store(&dir, Backpressure::Block);
    let _open = gate.open_on_drop();
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                for i in 0..300 {
                    drop(s.put(format!("t{t}:{i}"), "v").expect("Block never refuses"));
                }
            })
        })
        .collect();
    // Let the sink go only once the writers are stuck on the full queue.
    while store.stats().queue_depth < 5 {
        std::thread::yield_now();
    }
    gate.open();
    for w in writers {
        w.join().expect("writer");
    }
    store.close().expect("close");
    assert_eq!(count(&db, "backburner_kv"), 1 + 4 * 300);
}

#[test]
fn timeout_refuses_and_hands_the_write_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let wait = Duration::from_millis(50);
    let (store, gate) = held_store(&dir, Backpressure::Timeout(wait));
    let _open = gate.open_on_drop();
    let tickets = fill(&store);

    for i in 5..8 {
        match store.put(format!("k{i}"), format!("v{i}")) {
            Err(e @ Error::Timeout { .. }) => {
                let Error::Timeout { timeout, .. } = &e else { unreachable!() };
                assert_eq!(*timeout, wait);
                assert!(e.to_string().contains("handed back"), "{e}");
                assert_eq!(e.into_write(), Some(put_write(i)));
            }
            other => panic!("k{i}: expected Timeout, got {other:?}"),
        }
        // A refused write is not visible through the store.
        assert_eq!(store.get(format!("k{i}")).expect("get"), None);
    }
    match store.delete("k1") {
        Err(e @ Error::Timeout { .. }) => assert_eq!(e.into_write(), Some(Write::delete("k1"))),
        other => panic!("delete: expected Timeout, got {other:?}"),
    }
    assert_eq!(store.get("k1").expect("get").as_deref(), Some(&b"v1"[..]));
    assert_eq!(store.stats().dropped, 0, "a timeout is not a drop");

    gate.open();
    store.flush().expect("flush");
    for t in &tickets {
        t.wait().expect("accepted writes commit");
    }
    assert_eq!(count(&db, "backburner_kv"), 5);
    for i in 5..8 {
        assert_eq!(committed(&db, format!("k{i}").as_bytes()), None);
    }
    assert_eq!(committed(&db, b"k1").as_deref(), Some(&b"v1"[..]));
    store.close().expect("close");
}

#[test]
fn drop_newest_refuses_at_once_and_counts_each_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let (store, gate) = held_store(&dir, Backpressure::DropNewest);
    let _open = gate.open_on_drop();
    let tickets = fill(&store);

    for i in 5..12 {
        match store.put(format!("k{i}"), format!("v{i}")) {
            Err(e @ Error::QueueFull { capacity: 4, .. }) => {
                assert_eq!(e.into_write(), Some(put_write(i)));
            }
            other => panic!("k{i}: expected QueueFull, got {other:?}"),
        }
        assert_eq!(store.stats().dropped, u64::from(i) - 4);
        assert_eq!(store.get(format!("k{i}")).expect("get"), None);
    }
    match store.execute("CREATE TABLE t(x)", []) {
        Err(e @ Error::QueueFull { .. }) => {
            assert_eq!(e.into_write(), Some(Write::execute("CREATE TABLE t(x)", vec![])))
        }
        other => panic!("execute: expected QueueFull, got {other:?}"),
    }
    let st = store.stats();
    assert_eq!(st.dropped, 8, "{st:?}");
    assert_eq!(st.enqueued, 5, "{st:?}");

    gate.open();
    store.flush().expect("no accepted write failed");
    for t in &tickets {
        assert!(t.is_committed());
    }
    let st = store.stats();
    assert_eq!((st.dropped, st.committed, st.queue_depth), (8, 5, 0), "{st:?}");
    assert_eq!(count(&db, "backburner_kv"), 5);
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 't'", [], |r| r.get(0)).expect("count");
    assert_eq!(tables, 0, "a dropped statement was applied");

    // With room again, writes are accepted and the count does not move.
    store.put("after", "x").expect("room").wait().expect("commit");
    assert_eq!(store.stats().dropped, 8);
    store.close().expect("close");
}
