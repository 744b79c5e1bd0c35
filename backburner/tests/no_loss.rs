//! Guards "nothing accepted is lost": many threads writing through clones of
//! one store, then `close`, leave exactly one row per accepted write in the
//! SQLite file, with the right values, for keyed puts and for `execute`
//! statements alike, including when the queue is small and writers block.

mod common;

use std::path::Path;

use backburner::{params, Store};
use common::{committed, count};

const THREADS: usize = 8;
const PER_THREAD: usize = 5_000;

fn hammer(store: &Store, write: fn(&Store, usize, usize)) {
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    write(&s, t, i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
}

fn value(t: usize, i: usize) -> String {
    format!("value of {t}/{i}")
}

fn put(s: &Store, t: usize, i: usize) {
    drop(s.put(format!("t{t}:{i:05}"), value(t, i)).expect("put"));
}

fn check_kv(db: &Path) {
    assert_eq!(count(db, "backburner_kv"), (THREADS * PER_THREAD) as i64);
    for t in 0..THREADS {
        for i in [0, 1, PER_THREAD / 3, PER_THREAD / 2, PER_THREAD - 1] {
            assert_eq!(committed(db, format!("t{t}:{i:05}").as_bytes()), Some(value(t, i).into_bytes()), "t{t}:{i}");
        }
    }
}

#[test]
fn puts_from_many_threads_are_all_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::open(&format!("sqlite://{}", db.display())).expect("open");
    hammer(&store, put);
    store.close().expect("close");
    check_kv(&db);
}

#[test]
fn puts_through_a_small_queue_are_all_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::builder(&format!("sqlite://{}", db.display())).capacity(16).batch_max(50).build().expect("open");
    hammer(&store, put);
    // The last handle's drop drains too.
    drop(store);
    check_kv(&db);
}

#[test]
fn statements_from_many_threads_are_all_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::open(&format!("sqlite://{}", db.display())).expect("open");
    store.execute("CREATE TABLE events(t INTEGER, i INTEGER, v TEXT)", []).expect("ddl").wait().expect("ddl");
    hammer(&store, |s, t, i| {
        drop(
            s.execute("INSERT INTO events(t, i, v) VALUES (?1, ?2, ?3)", params![t as i64, i as i64, value(t, i)])
                .expect("execute"),
        );
    });
    store.close().expect("close");

    assert_eq!(count(&db, "events"), (THREADS * PER_THREAD) as i64);
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    // One row per (t, i): none lost, none doubled.
    let distinct: i64 =
        conn.query_row("SELECT count(*) FROM (SELECT DISTINCT t, i FROM events)", [], |r| r.get(0)).expect("distinct");
    assert_eq!(distinct, (THREADS * PER_THREAD) as i64);
    let per_thread: Vec<(i64, i64, i64)> = conn
        .prepare("SELECT t, count(*), sum(i) FROM events GROUP BY t ORDER BY t")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let sum: i64 = (0..PER_THREAD as i64).sum();
    let want: Vec<(i64, i64, i64)> = (0..THREADS as i64).map(|t| (t, PER_THREAD as i64, sum)).collect();
    assert_eq!(per_thread, want);
    let v: String = conn.query_row("SELECT v FROM events WHERE t = 3 AND i = 4321", [], |r| r.get(0)).expect("row");
    assert_eq!(v, value(3, 4321));
}
