//! Guards the scenario a new user hit in an axum service: another
//! connection holds SQLite's write lock (here 1.5 s), the queue fills, and
//! with blocking admission every task on the runtime froze, a `/health`
//! handler that touches no database included. With `reserve_async`, the
//! producers wait for room without blocking the executor thread: the
//! "health" task keeps answering on time, and every write lands once the
//! lock is released.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use backburner::Store;
use common::with_ticker;

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
    // "GET /health" is the ticker beside the producers: a request that
    // waited more than 110 ms for the executor thread timed out.
    let end = Instant::now() + LOCK + Duration::from_millis(300);
    let ((), gap) = with_ticker(async {
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
        // The health checks go on as long as before: through the lock and after.
        tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    });
    holder.join().expect("holder");
    store.flush().expect("flush");
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let n: i64 = conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 801, "every write, and the warm-up");
    assert!(gap <= Duration::from_millis(110), "a health check waited {gap:?} for the executor thread");
    store.close().expect("close");
}
