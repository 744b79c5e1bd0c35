//! Guards that tickets scale with the number of waiters: 100,000 tasks on
//! one executor thread, each awaiting its own ticket, all complete with the
//! right outcome, and so do 100,000 tickets waited for by a few threads.
//! (Each ticket has its own slot: the worker wakes exactly the waiter of
//! each write it commits, and scans no list of waiters per batch.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use backburner::{params, Store};
use common::count;

const N: u64 = 100_000;

fn open(dir: &std::path::Path) -> Store {
    Store::builder(&format!("sqlite://{}/t.db", dir.display()))
        .capacity(2 * N as usize)
        .batch_max(1000)
        .build()
        .expect("open")
}

#[test]
fn a_hundred_thousand_tasks_each_await_their_own_ticket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(dir.path()));
    store.execute("CREATE TABLE ev(id INTEGER PRIMARY KEY, n INTEGER)", []).expect("ddl").wait().expect("ddl");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let ids: Vec<(u64, i64)> = rt.block_on(async {
        let mut tasks = Vec::with_capacity(N as usize);
        for i in 0..N {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                // Half keyed writes, half statements with an outcome.
                if i % 2 == 0 {
                    store.put(format!("k{i}"), "v").expect("put").await.expect("committed");
                    (i, 0)
                } else {
                    let done = store
                        .execute("INSERT INTO ev(n) VALUES (?1)", params![i as i64])
                        .expect("execute")
                        .await
                        .expect("committed");
                    (i, done.last_insert_id().expect("an inserted row"))
                }
            }));
        }
        let mut out = Vec::with_capacity(N as usize);
        for t in tasks {
            out.push(tokio::time::timeout(Duration::from_secs(120), t).await.expect("a task hung").expect("task"));
        }
        out
    });
    assert_eq!(ids.len(), N as usize);
    let db = dir.path().join("t.db");
    assert_eq!(count(&db, "backburner_kv"), (N / 2) as i64);
    // Each statement's outcome names its own row.
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let mut stmt = conn.prepare("SELECT n FROM ev WHERE id = ?1").expect("prepare");
    for (i, id) in ids.iter().filter(|(i, _)| i % 2 == 1) {
        let n: i64 = stmt.query_row([id], |r| r.get(0)).expect("the row the outcome names");
        assert_eq!(n, *i as i64);
    }
    store.close().expect("close");
}

#[test]
fn a_hundred_thousand_tickets_waited_for_by_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let tickets: Vec<_> = (0..N).map(|i| store.put(format!("k{i}"), "v").expect("put")).collect();
    let chunks: Vec<Vec<_>> = {
        let mut it = tickets.into_iter();
        (0..4).map(|_| it.by_ref().take((N / 4) as usize).collect()).collect()
    };
    let threads: Vec<_> =
        chunks.into_iter().map(|c| std::thread::spawn(move || c.iter().filter(|t| t.wait().is_ok()).count())).collect();
    let ok: usize = threads.into_iter().map(|t| t.join().expect("waiter")).sum();
    assert_eq!(ok as u64, N);
    assert_eq!(count(&dir.path().join("t.db"), "backburner_kv"), N as i64);
    store.close().expect("close");
}
