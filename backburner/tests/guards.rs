//! Guards against misuse that would lose or duplicate writes: a statement
//! that controls the transaction is rejected (its neighbours commit once);
//! two stores cannot share a journal; a store opened without a journal
//! refuses a journal that holds unapplied writes; a huge timeout does not panic.

mod common;

use std::time::Duration;

use backburner::{params, Durability, Error, Fsync, Store};
use common::{count, sqlite};

#[test]
fn transaction_statements_are_rejected_and_neighbours_commit_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::builder(&url).linger(Duration::from_secs(600)).build().expect("open");
    store.execute("CREATE TABLE t(x INTEGER)", []).expect("ddl").wait().expect("ddl");
    let a = store.execute("INSERT INTO t VALUES (?1)", params![1]).expect("insert");
    let commit = store.execute("COMMIT", []).expect("queued");
    let b = store.execute("INSERT INTO t VALUES (?1)", params![2]).expect("insert");
    let begin = store.execute("BEGIN", []).expect("queued");
    let c = store.execute("INSERT INTO t VALUES (?1)", params![3]).expect("insert");
    assert!(matches!(store.flush(), Err(Error::WritesFailed { count: 2, .. })));
    for t in [&a, &b, &c] {
        t.wait().expect("the inserts commit");
    }
    for t in [&commit, &begin] {
        match t.wait() {
            Err(Error::Rejected { reason, .. }) => assert!(reason.contains("transaction"), "{reason}"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
    store.close().expect("close");
    assert_eq!(count(&db, "t"), 3, "each insert exactly once");
}

#[test]
fn one_store_per_journal_and_no_silent_skip_of_a_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let journal = Durability::Journal { fsync: Fsync::EveryBatch };
    // A store whose sink is down journals a write, then "dies" (is leaked:
    // its lock stays held, as a live process's would).
    let first = Store::builder(&url)
        .sink(common::Down(sqlite(&db)))
        .journal(dir.path().join("t.db.journal"))
        .durability(journal)
        // The exit handler drains it into its down sink when the binary
        // ends: give up after 100 ms, not the default 10 s.
        .drain_timeout(std::time::Duration::from_millis(100))
        .build()
        .expect("open");
    first.put("k", "v").expect("put").wait_journaled().expect("journaled");
    // A second store on the same journal is refused while the first holds it.
    match Store::builder(&url).durability(journal).build() {
        Err(e @ Error::Locked { .. }) => assert!(e.to_string().contains("in use by another store"), "{e}"),
        other => panic!("expected Locked, got {other:?}"),
    }
    // Opening without the journal would skip the journaled write: refused.
    match Store::open(&url) {
        Err(e @ Error::JournalPresent { .. }) => assert!(e.to_string().contains("Durability::Journal"), "{e}"),
        other => panic!("expected JournalPresent, got {other:?}"),
    }
    std::mem::forget(first);
}

#[test]
fn huge_timeouts_do_not_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display())).expect("open");
    let t = store.put("k", "v").expect("put");
    assert!(t.wait_timeout(Duration::MAX).expect("wait").is_some());
    store.close().expect("close");
}
