//! Guards admission that awaits room (`Store::reserve_async` and its
//! `Permit`): producers wait for room in a full queue without blocking the
//! executor thread (a timer task on the same current-thread runtime keeps
//! ticking), every write is applied once, and 100,000 rounds of `select!`
//! between waiting for room and a 1 µs timer lose nothing and apply
//! nothing twice.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backburner::{Error, Store};
use common::{count, sqlite, with_ticker, Gate, GatedSink};

/// How long the sink holds its batches in the first test.
const HELD: Duration = Duration::from_millis(300);

#[test]
fn producers_wait_for_room_without_blocking_the_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Gate::new();
    let store = Arc::new(
        Store::builder("gated")
            .sink(GatedSink { inner: sqlite(&dir.path().join("t.db")), gate: gate.clone() })
            .capacity(8)
            .batch_max(4)
            .build()
            .expect("open"),
    );
    let _open = gate.open_on_drop();
    {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(HELD);
            gate.open();
        });
    }
    let ((), gap) = with_ticker(async {
        // Far more writes than room (8 with a permit): the producers wait.
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..50 {
                        let permit = store.reserve_async().await.expect("room");
                        permit.put(format!("p{p}-{i}"), "v").expect("put");
                    }
                })
            })
            .collect();
        for p in producers {
            tokio::time::timeout(Duration::from_secs(60), p).await.expect("a producer hung").expect("producer");
        }
        store.flush_async().await.expect("flush");
    });
    assert_eq!(count(&dir.path().join("t.db"), "backburner_kv"), 200);
    assert!(gap < HELD / 3, "the executor thread was blocked for {gap:?}");
    store.close().expect("close");
}

#[test]
fn select_between_room_and_a_timer_loses_nothing_and_applies_nothing_twice() {
    const ROUNDS: i64 = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::builder(&format!("sqlite://{}", db.display())).capacity(64).batch_max(64).build().expect("open");
    store.execute("CREATE TABLE v(n INTEGER PRIMARY KEY)", []).expect("ddl").wait().expect("ddl");
    // The paused clock fires the 1 µs timer as soon as the runtime has
    // nothing else to do: the timer wins every round in which room is not
    // there at once, and the future waiting for room is dropped.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("rt");
    let (sent, handed_back) = rt.block_on(async {
        let mut sent = Vec::new();
        let mut handed_back = Vec::new();
        for n in 0..ROUNDS {
            tokio::select! {
                permit = store.reserve_async() => {
                    let permit = permit.expect("room");
                    permit.execute("INSERT INTO v(n) VALUES (?1)", backburner::params![n]).expect("insert");
                    sent.push(n);
                }
                _ = tokio::time::sleep(Duration::from_micros(1)) => handed_back.push(n),
            }
        }
        (sent, handed_back)
    });
    store.flush().expect("flush");
    assert_eq!(sent.len() + handed_back.len(), ROUNDS as usize);
    assert!(!sent.is_empty() && !handed_back.is_empty(), "both branches must win some rounds: {} sent", sent.len());
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let mut stmt = conn.prepare("SELECT n FROM v ORDER BY n").expect("prepare");
    let rows: Vec<i64> = stmt.query_map([], |r| r.get(0)).expect("rows").map(|r| r.expect("row")).collect();
    // The primary key refuses a second insert of a value: a value applied
    // twice would be a rejected write (flush would report it).
    assert_eq!(rows, sent, "exactly the values sent, once each");
    let kept: BTreeSet<i64> = handed_back.into_iter().collect();
    assert!(rows.iter().all(|n| !kept.contains(n)), "a value handed back was applied");
    store.close().expect("close");
}

#[test]
fn a_permit_dropped_unused_gives_its_room_back_and_close_wakes_waiters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Gate::new();
    let store = Store::builder("gated")
        .sink(GatedSink { inner: sqlite(&dir.path().join("t.db")), gate: gate.clone() })
        .capacity(2)
        .build()
        .expect("open");
    let _open = gate.open_on_drop();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        let a = store.reserve_async().await.expect("room 1");
        let b = store.reserve_async().await.expect("room 2");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), store.reserve_async()).await.is_err(),
            "a third permit with room for two"
        );
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), store.reserve_async())
            .await
            .expect("the dropped permit's room")
            .expect("room");
        drop((b, c));
        gate.open();
    });
    store.close().expect("close");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    assert!(matches!(rt.block_on(store.reserve_async()), Err(Error::Closed { .. })));
}

#[test]
fn room_stays_bounded_while_the_sink_is_slow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Gate::new();
    let store = Arc::new(
        Store::builder("gated")
            .sink(GatedSink { inner: sqlite(&dir.path().join("t.db")), gate: gate.clone() })
            .capacity(8)
            .batch_max(4)
            .build()
            .expect("open"),
    );
    let _open = gate.open_on_drop();
    // A slow sink: one batch every 10 ms; the worker loops between batches.
    let slow = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            for _ in 0..30 {
                std::thread::sleep(Duration::from_millis(10));
                gate.allow(1);
            }
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let pending = rt.block_on(async {
        let accepted = Arc::new(AtomicU64::new(0));
        let producer = {
            let (store, accepted) = (store.clone(), accepted.clone());
            tokio::spawn(async move {
                for i in 0..100_000 {
                    let permit = store.reserve_async().await.expect("room");
                    permit.put(format!("k{i}"), "v").expect("put");
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(250)).await;
        let pending = accepted.load(Ordering::SeqCst) - store.stats().committed;
        gate.open();
        tokio::time::timeout(Duration::from_secs(120), producer).await.expect("producer hung").expect("producer");
        pending
    });
    slow.join().expect("slow");
    // The batch in the sink, the next in the worker's hands, and the
    // permits' room: about 16, not a backlog that grows with every batch.
    assert!(pending <= 40, "{pending} writes accepted and not committed while the sink was slow");
    store.close().expect("close");
}

#[test]
fn a_waiter_that_gives_up_does_not_strand_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Gate::new();
    let store = Store::builder("gated")
        .sink(GatedSink { inner: sqlite(&dir.path().join("t.db")), gate: gate.clone() })
        .capacity(1)
        .build()
        .expect("open");
    let _open = gate.open_on_drop();
    gate.open();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        let held = store.reserve_async().await.expect("the only room");
        let waiter = store.reserve_async();
        tokio::pin!(waiter);
        // The waiter registers; then another gives up waiting.
        assert!(futures_poll_once(waiter.as_mut()).await.is_none());
        let gave_up = tokio::time::timeout(Duration::from_millis(10), store.reserve_async()).await;
        assert!(gave_up.is_err());
        drop(held);
        let permit = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("the waiter was stranded");
        drop(permit.expect("room"));
    });
    store.close().expect("close");
}

/// Polls `f` once: `Some` if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut f).poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

#[test]
fn a_permit_write_wakes_an_idle_worker() {
    permit_write_wakes(backburner::Durability::Memory);
}

#[test]
fn a_permit_write_wakes_an_idle_journal_thread() {
    // With a journal, the journal thread is the one asleep in `recv`.
    permit_write_wakes(backburner::Durability::Journal { fsync: backburner::Fsync::Never });
}

fn permit_write_wakes(durability: backburner::Durability) {
    // The worker, idle, sleeps in the queue's `recv` (up to 250 ms), which
    // only a message wakes; a write into the permits' lane must send one
    // (the lane's flag, `Queue::intake_waiting`). Without it each write
    // below waits out that sleep; with it, about a millisecond.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::builder(&format!("sqlite://{}/t.db", dir.path().display()))
        .durability(durability)
        .build()
        .expect("open");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut rounds: Vec<Duration> = rt.block_on(async {
        let mut rounds = Vec::new();
        for i in 0..15 {
            // Let the worker go idle.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let started = std::time::Instant::now();
            let permit = store.reserve_async().await.expect("room");
            permit.put(format!("k{i}"), "v").expect("put").await.expect("commit");
            rounds.push(started.elapsed());
        }
        rounds
    });
    rounds.sort();
    let median = rounds[rounds.len() / 2];
    assert!(
        median < Duration::from_millis(100),
        "a permit's write waited {median:?} (median) for an idle worker: {rounds:?}"
    );
    store.close().expect("close");
}
