//! Guards the scenario a new user hit in an axum service: another
//! connection holds SQLite's write lock (here 1.5 s), the queue fills, and
//! with blocking admission every task on the runtime froze, a `/health`
//! handler that touches no database included. With `reserve_async`, the
//! producers wait for room without blocking the executor thread: the
//! "health" task keeps answering on time, and every write lands once the
//! lock is released.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backburner::Store;

const LOCK: Duration = Duration::from_millis(1500);

#[test]
fn a_locked_database_does_not_freeze_the_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Arc::new(
        Store::builder(&format!("sqlite://{}?busy_timeout_ms=50", db.display()))
            .capacity(64)
            .batch_max(16)
            .build()
            .expect("open"),
    );
    store.put("warm", "up").expect("put").wait().expect("commit");
    // Another connection takes the write lock and keeps it.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = {
        let db = db.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).expect("rusqlite");
            conn.execute_batch("BEGIN IMMEDIATE").expect("lock");
            locked_tx.send(()).expect("tell");
            std::thread::sleep(LOCK);
            conn.execute_batch("COMMIT").expect("unlock");
        })
    };
    locked_rx.recv().expect("locked");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let (late, answered) = rt.block_on(async {
        // "GET /health": answers every 10 ms; count the answers late by more
        // than 100 ms (a request timing out).
        let late = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let health = {
            let (late, answered) = (late.clone(), answered.clone());
            tokio::spawn(async move {
                let end = Instant::now() + LOCK + Duration::from_millis(300);
                let mut last = Instant::now();
                while Instant::now() < end {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    let now = Instant::now();
                    if now - last > Duration::from_millis(110) {
                        late.fetch_add(1, Ordering::SeqCst);
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                    last = now;
                }
            })
        };
        // "POST /events": far more writes than the queue holds.
        let posts: Vec<_> = (0..8)
            .map(|p| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..100 {
                        let permit = store.reserve_async().await.expect("room");
                        permit.put(format!("e{p}-{i}"), "v").expect("put");
                    }
                })
            })
            .collect();
        for p in posts {
            tokio::time::timeout(Duration::from_secs(60), p).await.expect("a producer hung").expect("producer");
        }
        health.await.expect("health");
        (late.load(Ordering::SeqCst), answered.load(Ordering::SeqCst))
    });
    holder.join().expect("holder");
    store.flush().expect("flush");
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let n: i64 = conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 801, "every write, and the warm-up");
    assert_eq!(late, 0, "the health task was late {late} times ({answered} answers)");
    store.close().expect("close");
}
