//! Guards exactly-once across reopening: a store reopened on the same
//! database resumes after the last applied `Seq` stored with the last batch,
//! so no write is applied twice (counted in a table without a unique key,
//! where a replay would show as extra rows), and the new writes' seqs
//! continue after the old ones.

mod common;

use std::path::Path;

use backburner::{params, Store, Ticket};
use common::count;

fn last_applied(db: &Path) -> u64 {
    let conn = rusqlite::Connection::open(db).expect("rusqlite");
    let v: i64 = conn
        .query_row("SELECT last_seq FROM backburner_writers WHERE writer = 'default'", [], |r| r.get(0))
        .expect("last_applied_seq");
    u64::try_from(v).expect("non-negative")
}

fn insert_many(store: &Store, from: i64, n: i64) -> Vec<Ticket<backburner::Executed>> {
    (from..from + n).map(|i| store.execute("INSERT INTO events(n) VALUES (?1)", params![i]).expect("execute")).collect()
}

#[test]
fn reopening_resumes_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());

    let store = Store::open(&url).expect("open");
    let ddl = store.execute("CREATE TABLE events(n INTEGER)", []).expect("ddl");
    assert_eq!(ddl.seq().get(), 1, "a new database starts at seq 1");
    let first = insert_many(&store, 0, 1_500);
    let put = store.put("k", "first").expect("put");
    store.close().expect("close");
    let last_old = put.seq().get();
    assert_eq!(last_old, 1 + 1_500 + 1);
    assert_eq!(last_applied(&db), last_old);
    assert_eq!(count(&db, "events"), 1_500);
    for t in &first {
        assert!(t.is_committed());
    }

    // Reopen: seqs continue, nothing is replayed.
    let store = Store::open(&url).expect("reopen");
    assert_eq!(store.watermark().get(), last_old);
    assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"first"[..]));
    let more = insert_many(&store, 1_500, 700);
    assert_eq!(more[0].seq().get(), last_old + 1);
    assert!(more.windows(2).all(|w| w[1].seq() > w[0].seq()));
    let rows = store.query("SELECT count(*), sum(n) FROM events", []).expect("query");
    assert_eq!(rows[0][0].as_i64(), Some(2_200));
    assert_eq!(rows[0][1].as_i64(), Some((0..2_200).sum::<i64>()));
    let last = store.put("k", "second").expect("put");
    drop(store);
    assert_eq!(last_applied(&db), last.seq().get());
    assert_eq!(last.seq().get(), last_old + 700 + 1);

    // Reopening without writing changes nothing, however often.
    for _ in 0..3 {
        let store = Store::open(&url).expect("reopen");
        assert_eq!(store.watermark().get(), last.seq().get());
        assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"second"[..]));
        store.close().expect("close");
    }
    assert_eq!(count(&db, "events"), 2_200);
    assert_eq!(last_applied(&db), last.seq().get());

    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let distinct: i64 = conn.query_row("SELECT count(DISTINCT n) FROM events", [], |r| r.get(0)).expect("distinct");
    assert_eq!(distinct, 2_200, "a write was applied twice");
}

#[test]
fn seq_is_stored_with_each_batch() {
    // After each committed batch (even of writes that were all rejected),
    // the stored seq is the batch's last: a crash after any commit resumes
    // right after it.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::builder(&format!("sqlite://{}", db.display())).dead_letter(None).build().expect("open");
    for i in 0..20 {
        let t = store.put(format!("k{i}"), "v").expect("put");
        t.wait().expect("commit");
        assert_eq!(last_applied(&db), t.seq().get());
    }
    let bad = store.execute("NOT SQL", []).expect("execute");
    assert!(bad.wait().is_err());
    assert_eq!(last_applied(&db), bad.seq().get());
    store.close().expect("the rejected write was seen through its ticket: close does not report it again");

    let store = Store::open(&format!("sqlite://{}", db.display())).expect("reopen");
    let t = store.put("next", "v").expect("put");
    assert_eq!(t.seq().get(), bad.seq().get() + 1);
    store.close().expect("close");
}
