//! Sink outage with a journal: while the database is locked by another
//! connection, writes keep landing in the journal, tickets stay pending, the
//! worker retries with backoff past its usual limit, and everything drains
//! once the database is back.

use std::time::Duration;

use backburner::{params, Durability, Fsync, Store};

#[test]
fn locked_database_then_drain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}?busy_timeout_ms=5", db.display());
    let store = Store::builder(&url)
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .retries(3, Duration::from_millis(1), Duration::from_millis(20))
        .build()
        .expect("open");
    store.execute("CREATE TABLE t(id INTEGER)", []).expect("ddl").wait().expect("ddl");

    // Another connection takes the write lock and keeps it.
    let locker = rusqlite::Connection::open(&db).expect("open");
    locker.execute_batch("BEGIN EXCLUSIVE").expect("lock");

    let tickets: Vec<_> =
        (0..500).map(|i| store.execute("INSERT INTO t VALUES (?1)", params![i]).expect("insert")).collect();
    for t in &tickets {
        t.wait_journaled().expect("journaled while the sink is down");
    }
    // Far more than `retries(3, ..)` would allow without a journal.
    std::thread::sleep(Duration::from_millis(300));
    assert!(tickets.iter().all(|t| !t.is_committed()), "committed while the database was locked");
    let st = store.stats();
    assert!(st.retries > 3, "the worker should keep retrying: {} retries", st.retries);
    assert_eq!(st.dead_letters, 0, "nothing is given up while the journal holds it");

    locker.execute_batch("COMMIT").expect("unlock");
    for t in &tickets {
        t.wait().expect("drained once the database is back");
    }
    store.close().expect("close");
    let c = rusqlite::Connection::open(&db).expect("open");
    let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 500);
}
