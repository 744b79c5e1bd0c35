//! Guards the async forms of the store's waiting calls: `flush_async` and
//! `close_async` wait for a held sink without blocking the executor thread
//! (a timer task on the same current-thread runtime keeps ticking), resolve
//! when the writes are committed, and a cancelled `flush_async` loses
//! nothing.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use backburner::{Error, Store};
use common::{count, sqlite, with_ticker, Gate, GatedSink};

/// The sink is held this long; a call that blocked the executor thread
/// would stop the ticker for about as long.
const HELD: Duration = Duration::from_millis(300);

fn held_store(dir: &std::path::Path) -> (Store, Arc<Gate>) {
    let gate = Gate::new();
    let store = Store::builder("gated")
        .sink(GatedSink { inner: sqlite(&dir.join("t.db")), gate: gate.clone() })
        .build()
        .expect("open");
    (store, gate)
}

/// A held store with 100 puts queued, whose sink opens `HELD` from now
/// (and at the latest when the guard drops).
fn held_with_writes(dir: &std::path::Path) -> (Store, common::OpenOnDrop) {
    let (store, gate) = held_store(dir);
    let open = gate.open_on_drop();
    for i in 0..100 {
        store.put(format!("k{i}"), "v").expect("put");
    }
    open_later(&gate);
    (store, open)
}

fn open_later(gate: &Arc<Gate>) {
    let gate = gate.clone();
    std::thread::spawn(move || {
        std::thread::sleep(HELD);
        gate.open();
    });
}

#[test]
fn flush_async_waits_for_a_held_sink_without_blocking_the_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _open) = held_with_writes(dir.path());
    let started = Instant::now();
    let (r, gap) = with_ticker(store.flush_async());
    r.expect("flush");
    assert!(started.elapsed() >= HELD, "flush_async returned before the sink took the writes");
    assert_eq!(count(&dir.path().join("t.db"), "backburner_kv"), 100);
    // A wide margin: a blocking flush stops the ticker for the whole HELD.
    assert!(gap < HELD / 3, "the executor thread was blocked for {gap:?}");
    store.close().expect("close");
}

#[test]
fn close_async_drains_without_blocking_the_executor_and_refuses_later_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _open) = held_with_writes(dir.path());
    let (r, gap) = with_ticker(store.close_async());
    r.expect("close");
    assert_eq!(count(&dir.path().join("t.db"), "backburner_kv"), 100);
    assert!(gap < HELD / 3, "the executor thread was blocked for {gap:?}");
    assert!(matches!(store.put("late", "v"), Err(Error::Closed { .. })));
    store.close().expect("a second close is harmless");
}

#[test]
fn a_cancelled_flush_async_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, gate) = held_store(dir.path());
    let _open = gate.open_on_drop();
    let tickets: Vec<_> = (0..10).map(|i| store.put(format!("k{i}"), "v").expect("put")).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        // The flush cannot finish while the gate is shut: the timeout wins
        // and drops it.
        let r = tokio::time::timeout(Duration::from_millis(20), store.flush_async()).await;
        assert!(r.is_err(), "the flush finished with the sink held");
        gate.open();
        tokio::time::timeout(Duration::from_secs(30), store.flush_async()).await.expect("flush hung").expect("flush");
    });
    assert!(tickets.iter().all(|t| t.is_committed()));
    store.close().expect("close");
}

/// The SQLite sink, whose `open_writer` takes `HELD` (a slow connection,
/// a journal's replay).
struct SlowOpen(backburner::sink::sqlite::SqliteSink);

impl backburner::sink::Sink for SlowOpen {
    fn open_writer(&mut self, writer: &str) -> Result<backburner::Resume, backburner::SinkError> {
        std::thread::sleep(HELD);
        self.0.open_writer(writer)
    }
    fn apply(
        &mut self,
        batch: &backburner::sink::Batch<'_>,
        outcomes: &mut backburner::Outcomes<'_>,
    ) -> Result<(), backburner::sink::ApplyError> {
        self.0.apply(batch, outcomes)
    }
    fn reader(&mut self) -> Result<Option<Box<dyn backburner::sink::SinkReader>>, backburner::SinkError> {
        self.0.reader()
    }
}

#[test]
fn build_async_opens_a_slow_sink_without_blocking_the_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let started = Instant::now();
    let (store, gap) = with_ticker(Store::builder("slow").sink(SlowOpen(sqlite(&db))).build_async());
    let store = store.expect("open");
    assert!(started.elapsed() >= HELD, "build_async resolved before the sink was open");
    assert!(gap < HELD / 3, "the executor thread was blocked for {gap:?}");
    store.put("k", "v").expect("put").wait().expect("commit");
    assert_eq!(count(&db, "backburner_kv"), 1);
    store.close().expect("close");
}

#[test]
fn open_async_reports_a_bad_url_as_open_does() {
    let (r, _) = with_ticker(Store::open_async("mysql://nowhere"));
    let async_err = r.expect_err("a bad URL").to_string();
    let sync_err = Store::open("mysql://nowhere").expect_err("a bad URL").to_string();
    assert_eq!(async_err, sync_err);
}

#[test]
fn close_timeout_async_drains_a_held_sink_without_blocking_the_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _open) = held_with_writes(dir.path());
    let started = Instant::now();
    let (r, gap) = with_ticker(store.close_timeout_async(Duration::from_secs(30)));
    r.expect("close");
    assert!(started.elapsed() >= HELD, "close_timeout_async returned before the sink took the writes");
    assert_eq!(count(&dir.path().join("t.db"), "backburner_kv"), 100);
    assert!(gap < HELD / 3, "the executor thread was blocked for {gap:?}");
    assert!(matches!(store.put("late", "v"), Err(Error::Closed { .. })));
}
