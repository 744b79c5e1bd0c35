//! Guards the drain: dropping the last `Store` handle commits every accepted
//! write (and only the last handle closes the store); `flush` returns only
//! once everything accepted before it is committed and visible to another
//! SQLite connection; tickets outlive the store and still report their
//! commit; and a `close` racing with writers and flushers neither loses an
//! accepted write nor leaves anyone waiting forever.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use backburner::{Error, Store};

fn url(dir: &Path) -> String {
    format!("sqlite://{}/t.db", dir.display())
}

fn count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("rusqlite");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("count")
}

#[test]
fn dropping_the_last_handle_drains() {
    const N: usize = 3_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    // A linger far longer than the test: only the drain can commit these.
    let store =
        Store::builder(&url(dir.path())).linger(Duration::from_secs(600)).batch_max(100_000).build().expect("open");
    let clone = store.clone();
    let mut tickets = Vec::new();
    for i in 0..N {
        tickets.push(store.put(format!("k{i}"), format!("v{i}")).expect("put"));
    }
    tickets.push(store.execute("CREATE TABLE t(x INTEGER)", []).expect("execute").without_outcome());
    tickets
        .push(store.execute("INSERT INTO t VALUES (?1)", backburner::params![7]).expect("execute").without_outcome());
    assert_eq!(store.stats().queue_depth, N as u64 + 2);
    assert_eq!(count(&db, "backburner_kv"), 0, "nothing committed yet");

    // Dropping one of two handles does not close the store.
    drop(store);
    let t = clone.put("after-first-drop", "x").expect("still open");
    assert_eq!(clone.get("after-first-drop").expect("get").as_deref(), Some(&b"x"[..]));
    tickets.push(t);

    drop(clone);
    assert_eq!(count(&db, "backburner_kv"), N as i64 + 1);
    assert_eq!(count(&db, "t"), 1);
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    for i in [0, 1, N / 2, N - 1] {
        let v: Vec<u8> = conn
            .query_row("SELECT value FROM backburner_kv WHERE key = ?1", [format!("k{i}").into_bytes()], |r| r.get(0))
            .expect("row");
        assert_eq!(v, format!("v{i}").into_bytes());
    }

    // Tickets outlive the store and report the commit.
    for t in &tickets {
        assert!(t.is_committed(), "ticket {} not committed", t.seq());
        t.wait().expect("wait after drop");
        assert!(t.wait_timeout(Duration::ZERO).expect("wait_timeout").is_some());
    }
    let last = tickets.pop().expect("tickets");
    futures_ready(last);
}

/// A ticket awaited after the store is gone is ready at the first poll.
fn futures_ready(t: backburner::Ticket) {
    use std::future::{Future, IntoFuture};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut f = t.into_future();
    let mut cx = Context::from_waker(&waker);
    match std::pin::Pin::new(&mut f).poll(&mut cx) {
        Poll::Ready(r) => r.expect("committed"),
        Poll::Pending => panic!("a committed ticket's future is pending"),
    }
}

#[test]
fn flush_returns_only_when_everything_is_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store =
        Store::builder(&url(dir.path())).linger(Duration::from_secs(600)).batch_max(1_000).build().expect("open");
    store.execute("CREATE TABLE t(x INTEGER)", []).expect("execute").wait().expect("ddl");
    for round in 0..5i64 {
        for i in 0..2_500i64 {
            drop(store.put(format!("r{round}:{i}"), "v").expect("put"));
            drop(store.execute("INSERT INTO t VALUES (?1)", backburner::params![i]).expect("execute"));
        }
        store.flush().expect("flush");
        let st = store.stats();
        assert_eq!(st.queue_depth, 0, "{st:?}");
        assert_eq!(st.overlay_keys, 0, "{st:?}");
        assert_eq!(st.watermark, st.enqueued, "{st:?}");
        assert_eq!(count(&db, "backburner_kv"), (round + 1) * 2_500);
        assert_eq!(count(&db, "t"), (round + 1) * 2_500);
    }
    store.close().expect("close");
}

#[test]
fn flushes_from_many_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::builder(&url(dir.path())).linger(Duration::from_secs(600)).build().expect("open");
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = store.clone();
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    drop(s.put(format!("t{t}:{i}"), "v").expect("put"));
                    if i % 100 == 99 {
                        s.flush().expect("flush");
                        // Everything this thread wrote so far is in the file.
                        let conn = rusqlite::Connection::open(&db).expect("rusqlite");
                        let n: i64 = conn
                            .query_row(
                                "SELECT count(*) FROM backburner_kv WHERE key >= ?1 AND key < ?2",
                                [format!("t{t}:").into_bytes(), format!("t{t};").into_bytes()],
                                |r| r.get(0),
                            )
                            .expect("count");
                        assert_eq!(n, i + 1);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    store.close().expect("close");
    assert_eq!(count(&db, "backburner_kv"), 2_000);
}

#[test]
fn close_racing_with_writers_loses_nothing_and_hangs_no_one() {
    for round in 0..5 {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("t.db");
        let store = Store::builder(&url(dir.path())).capacity(64).batch_max(32).build().expect("open");
        let (tx, rx) = mpsc::channel();
        for t in 0..4 {
            let s = store.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut accepted = 0u64;
                let mut i = 0u64;
                let outcome = loop {
                    match s.put(format!("t{t}:{i}"), "v") {
                        Ok(ticket) => {
                            accepted += 1;
                            drop(ticket);
                        }
                        Err(e @ Error::Closed { .. }) => {
                            assert!(e.into_write().is_some(), "the write is handed back");
                            break Ok(());
                        }
                        Err(e) => break Err(format!("put: {e}")),
                    }
                    i += 1;
                    if i % 16 == 15 {
                        match s.flush() {
                            Ok(()) => {}
                            Err(Error::Closed { write: None }) => break Ok(()),
                            Err(e) => break Err(format!("flush: {e}")),
                        }
                    }
                };
                let _ = tx.send(outcome.map(|()| accepted));
            });
        }
        drop(tx);
        // Let the writers get going, then close under them.
        while store.stats().committed < 200 {
            std::thread::yield_now();
        }
        store.close().expect("close");
        let mut accepted = 0;
        for _ in 0..4 {
            let r = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("round {round}: a writer hung after close: {e}"));
            accepted += r.unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        assert_eq!(count(&db, "backburner_kv"), accepted as i64, "round {round}");
    }
}
