//! Guards what a store without a journal does while its sink is
//! unavailable: it waits the outage out (retrying with capped backoff for as
//! long as the store is open) instead of dead-lettering writes it accepted;
//! it gives up only when told to (a retry budget, `close_timeout`, the
//! drop's drain timeout), and then says so with `Error::GaveUp`, not
//! `Error::Rejected`, with every given-up write in the dead-letter file.
//! With a journal, a close deadline leaves the writes in the journal and the
//! next open applies them exactly once.

mod common;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backburner::{params, Durability, Error, Fsync, Store};
use common::{count, dead_lines, sqlite, Down, FlakySink};

/// The case: another connection holds SQLite's write lock for
/// longer than the old retry budget (10 tries, about 5.5 s with a 100 ms
/// busy timeout). Every accepted write commits once the lock is gone;
/// nothing is dead-lettered.
#[test]
fn a_locked_database_is_waited_out_not_dead_lettered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let dead = dir.path().join("dead.jsonl");
    let url = format!("sqlite://{}?busy_timeout_ms=100", db.display());
    let store = Store::builder(&url).dead_letter(Some(dead.clone())).build().expect("open");
    store.execute("CREATE TABLE t(id INTEGER)", []).expect("ddl").wait().expect("ddl");

    let locker = rusqlite::Connection::open(&db).expect("open");
    locker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let locked_at = Instant::now();
    let tickets: Vec<_> =
        (0..1000).map(|i| store.execute("INSERT INTO t VALUES (?1)", params![i]).expect("insert")).collect();
    // Hold the lock for 7 s: past the old budget.
    let released = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(7).saturating_sub(locked_at.elapsed()));
        locker.execute_batch("ROLLBACK").expect("unlock");
    });
    for t in &tickets {
        t.wait().unwrap_or_else(|e| panic!("write {} was given up during the outage: {e}", t.seq()));
    }
    released.join().expect("locker");
    let st = store.stats();
    assert!(st.retries > 10, "the worker retried past the old budget: {st:?}");
    assert_eq!(st.dead_letters, 0, "{st:?}");
    assert!(!dead.exists(), "nothing may be dead-lettered");
    store.close().expect("close");
    assert_eq!(count(&db, "t"), 1000);
}

#[test]
fn a_retry_budget_gives_up_with_its_own_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let store = Store::builder("flaky")
        .sink(FlakySink {
            inner: sqlite(&dir.path().join("t.db")),
            fail_first: u64::MAX,
            calls: Arc::new(AtomicU64::new(0)),
        })
        .dead_letter(Some(dead.clone()))
        .linger(Duration::from_secs(600))
        .retries(2, Duration::from_millis(1), Duration::from_millis(2))
        .build()
        .expect("open");
    let a = store.put("a", "1").expect("put");
    let b = store.execute("INSERT INTO t VALUES (?1)", params![7]).expect("execute").without_outcome();
    match store.flush() {
        Err(Error::WritesFailed { count: 2, gave_up: 2, first, .. }) => assert_eq!(first, a.seq()),
        other => panic!("expected WritesFailed with 2 given up, got {other:?}"),
    }
    for t in [&a, &b] {
        match t.wait() {
            Err(e @ Error::GaveUp { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("retry budget") && msg.contains("injected transient failure"), "{msg}");
                assert!(msg.contains("dead-letter replay"), "the message says how to replay: {msg}");
            }
            other => panic!("expected GaveUp, got {other:?}"),
        }
    }
    let lines = dead_lines(&dead);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["kind"] == "gave_up"), "{lines:?}");
    store.close().expect("both failures were reported by the flush");
}

#[test]
fn close_timeout_gives_up_what_is_left_into_the_dead_letter_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let store = Store::builder("down")
        .sink(Down(sqlite(&dir.path().join("t.db"))))
        .dead_letter(Some(dead.clone()))
        .build()
        .expect("open");
    let tickets: Vec<_> = (0..100).map(|i| store.put(format!("k{i}"), format!("v{i}")).expect("put")).collect();
    // A second handle's writes are refused once the close begins; this
    // one's were accepted and must be accounted for.
    match store.close_timeout(Duration::from_millis(300)) {
        Err(Error::WritesFailed { count: 100, gave_up: 100, first, .. }) => assert_eq!(first, tickets[0].seq()),
        other => panic!("expected 100 writes given up, got {other:?}"),
    }
    for t in &tickets {
        assert!(matches!(t.wait(), Err(Error::GaveUp { .. })), "{t:?}");
    }
    let lines = dead_lines(&dead);
    assert_eq!(lines.len(), 100);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["key"], format!("k{i}"));
        assert_eq!(l["kind"], "gave_up");
    }
}

#[test]
fn drop_while_the_sink_is_down_gives_up_after_the_drain_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let store = Store::builder("down")
        .sink(Down(sqlite(&dir.path().join("t.db"))))
        .dead_letter(Some(dead.clone()))
        .drain_timeout(Duration::from_millis(300))
        .build()
        .expect("open");
    let t = store.put("k", "v").expect("put");
    store.execute("INSERT INTO t VALUES (1)", []).expect("execute");
    drop(store);
    assert!(matches!(t.wait(), Err(Error::GaveUp { .. })), "{t:?}");
    let lines = dead_lines(&dead);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["op"], "put");
    assert_eq!(lines[1]["op"], "execute");
    assert!(lines.iter().all(|l| l["kind"] == "gave_up"));
}

#[test]
fn a_long_drain_into_a_working_sink_is_not_cut_by_the_drain_timeout() {
    // The drain timeout counts time without progress, not the whole drain.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let gate = common::Gate::new();
    let store = Store::builder("gated")
        .sink(common::GatedSink { inner: sqlite(&db), gate: gate.clone() })
        .batch_max(10)
        .drain_timeout(Duration::from_millis(400))
        .build()
        .expect("open");
    for i in 0..100 {
        store.put(format!("k{i}"), "v").expect("put");
    }
    // One batch every 100 ms: ten batches take about 1 s, well past 400 ms.
    let g = gate.clone();
    let feeder = std::thread::spawn(move || {
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            g.allow(1);
            if g.entered() >= 10 {
                break;
            }
        }
        g.open();
    });
    drop(store);
    feeder.join().expect("feeder");
    assert_eq!(count(&db, "backburner_kv"), 100);
    assert!(!dir.path().join("t.db.dead-letter.jsonl").exists());
}

#[test]
fn with_a_journal_close_timeout_leaves_the_writes_for_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let journal = dir.path().join("journal");
    let durability = Durability::Journal { fsync: Fsync::EveryBatch };
    {
        let mut s = sqlite(&db);
        use backburner::Sink as _;
        assert_eq!(s.open_writer("default").expect("seq").last_applied.get(), 0);
    }
    let store =
        Store::builder("down").sink(Down(sqlite(&db))).journal(&journal).durability(durability).build().expect("open");
    let tickets: Vec<_> = (0..50).map(|i| store.put(format!("k{i}"), "v").expect("put")).collect();
    for t in &tickets {
        t.wait_journaled().expect("journaled");
    }
    match store.close_timeout(Duration::from_millis(300)) {
        Err(e @ Error::Unfinished { count: 50, .. }) => {
            assert!(e.to_string().contains("applied when the store is opened again"), "{e}")
        }
        other => panic!("expected Unfinished, got {other:?}"),
    }
    assert!(!dir.path().join("t.db.dead-letter.jsonl").exists(), "nothing is dead-lettered with a journal");
    // The next open, with the sink back, applies them once.
    let store = Store::builder(&format!("sqlite://{}", db.display()))
        .journal(&journal)
        .durability(durability)
        .build()
        .expect("reopen");
    store.flush().expect("flush");
    assert_eq!(store.get("k49").expect("get").as_deref(), Some(&b"v"[..]));
    store.close().expect("close");
    assert_eq!(count(&db, "backburner_kv"), 50);
}

#[test]
fn a_close_deadline_with_the_journal_at_its_cap_does_not_hang() {
    // The sink is down long enough for the journal to reach its cap; the
    // journal thread must not wait for room that the stopped worker will
    // never free.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let journal = dir.path().join("journal");
    let durability = Durability::Journal { fsync: Fsync::Never };
    let store = Store::builder("down")
        .sink(Down(sqlite(&db)))
        .journal(&journal)
        .durability(durability)
        .journal_limits(4096, 8192)
        .build()
        .expect("open");
    let value = vec![7u8; 200];
    let tickets: Vec<_> = (0..500).map(|i| store.put(format!("k{i}"), &value).expect("put")).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let closer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let r = store.close_timeout(Duration::from_millis(300));
            let _ = tx.send(r.map_err(|e| e.to_string()));
        })
    };
    let r = rx.recv_timeout(common::HANG).expect("close_timeout hung with the journal at its cap");
    closer.join().expect("closer");
    match r {
        Err(msg) => assert!(msg.contains("500 journaled write(s)"), "{msg}"),
        Ok(()) => panic!("the writes cannot have been applied"),
    }
    store.close().expect("a second close does not repeat the report");
    drop(tickets);
    drop(store);
    let store = Store::builder(&format!("sqlite://{}", db.display()))
        .journal(&journal)
        .durability(durability)
        .build()
        .expect("reopen");
    store.flush().expect("flush");
    store.close().expect("close");
    assert_eq!(count(&db, "backburner_kv"), 500, "every accepted write reached the journal, then the sink");
}
