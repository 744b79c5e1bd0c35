//! Guards the auto traits of the public types: handles (the store's and
//! the logger's), tickets, errors and values must cross threads (`Send +
//! Sync`) and futures must be `Unpin`, so that a `Store` can be cloned into
//! worker threads and a `Ticket` awaited under any executor. Also guards
//! that a `Ticket` can be awaited without tokio, under a hand-written
//! `block_on`.

use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use backburner::sink::sqlite::{SqliteOptions, SqliteSink, Synchronous};
use backburner::{
    ApplyError, Backpressure, Batch, Builder, Durability, Error, Executed, JournaledFuture, KeyValue, Outcome,
    Outcomes, SinkError, SinkReader, SqlValue, Statement, Stats, Store, Ticket, TicketFuture, Value, Write,
};

fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn public_types_are_send_and_sync() {
    // The futures of the async calls are Send: they run under tokio::spawn.
    fn send_future<F: std::future::Future + Send>(_: F) {}
    fn store_futures(store: &Store) {
        send_future(store.reserve_async());
        send_future(store.flush_async());
        send_future(store.close_async());
        send_future(store.get_async("k"));
        send_future(store.query_async("SELECT 1", []));
        send_future(store.query_async("SELECT ?1", backburner::params![1u64]));
        send_future(store.query_map_async("SELECT 1", [], |row| row.get::<i64>(0)));
    }
    let _ = store_futures;
    send_sync::<Store>();
    send_sync::<Ticket>();
    send_sync::<TicketFuture>();
    send_sync::<Error>();
    send_sync::<backburner::Result<()>>();
    send_sync::<Stats>();
    send_sync::<Value>();
    send_sync::<SqlValue>();
    send_sync::<backburner::Param>();
    send_sync::<backburner::ParamError>();
    send_sync::<backburner::Row<'static>>();
    send_sync::<backburner::FromSqlError>();
    send_sync::<Write>();
    send_sync::<backburner::Seq>();
    send_sync::<Backpressure>();
    send_sync::<Durability>();
    send_sync::<SinkError>();
    send_sync::<ApplyError>();
    send_sync::<Box<dyn SinkReader>>();
    send_sync::<Batch<'static>>();
    send_sync::<Ticket<Executed>>();
    send_sync::<TicketFuture<Executed>>();
    send_sync::<JournaledFuture<'static>>();
    send_sync::<Executed>();
    send_sync::<Outcome>();
    send_sync::<Outcomes<'static>>();
    send_sync::<KeyValue>();
    send_sync::<Statement>();
    send_sync::<backburner::Permit<'static>>();
    send_sync::<SqliteOptions>();
    send_sync::<Synchronous>();
    // A builder holds the custom `Sink`, which the worker thread owns and so
    // only needs to be `Send` (a SQLite connection is not `Sync`): a builder
    // moves to another thread but is not shared. It is consumed by `build`,
    // so sharing it would be of no use.
    send::<Builder>();
    send::<SqliteSink>();
    send::<Box<dyn backburner::Sink>>();
    // The logger: the same for its `Destination`, which its worker owns.
    send_sync::<backburner::log::Logger>();
    send_sync::<backburner::log::Guard>();
    send_sync::<backburner::log::LogError>();
    send::<backburner::log::Builder>();
    send::<Box<dyn backburner::log::Destination>>();
}

#[test]
fn public_types_are_unpin() {
    unpin::<Store>();
    unpin::<Builder>();
    unpin::<Ticket>();
    unpin::<TicketFuture>();
    unpin::<Error>();
    unpin::<Value>();
    unpin::<Write>();
}

#[test]
fn ticket_future_is_a_send_future() {
    fn future<F: Future<Output = backburner::Result<()>> + Send + Sync + Unpin + 'static>() {}
    fn into_future<T: IntoFuture<IntoFuture = TicketFuture>>() {}
    future::<TicketFuture>();
    into_future::<Ticket>();
}

/// Wakes the thread that runs `block_on`, and records that it was woken.
struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs a future to completion on this thread; no runtime.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Arc::new(ThreadWaker { thread: std::thread::current(), woken: AtomicBool::new(false) });
    let w = Waker::from(Arc::clone(&waker));
    let mut cx = Context::from_waker(&w);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        // A spurious unpark just polls again; a missed wake-up would hang here.
        while !waker.woken.swap(false, Ordering::SeqCst) {
            std::thread::park();
        }
    }
}

fn url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/t.db", dir.path().display())
}

#[test]
fn ticket_can_be_awaited_without_a_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A long linger: the ticket is pending when first polled, so the future
    // must register its waker and be woken by the worker.
    let store = Store::builder(&url(&dir)).linger(std::time::Duration::from_secs(30)).build().expect("open");
    let s = store.clone();
    let r = block_on(async move {
        let t = s.put("k", "v")?;
        let seq = t.seq();
        t.await?;
        let u = s.put("k2", "v2")?;
        assert!(u.seq() > seq);
        u.into_future().await?;
        s.get("k")
    });
    assert_eq!(r.expect("await").as_deref(), Some(&b"v"[..]));

    // Committed, as seen by another connection.
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).expect("rusqlite");
    let n: i64 = conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 2);

    // A future polled only after the commit is ready at once.
    let t = store.put("k3", "v3").expect("put");
    store.flush().expect("flush");
    block_on(t.into_future()).expect("ready");
    store.close().expect("close");
}

#[test]
fn tickets_awaited_from_many_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&url(&dir)).expect("open");
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                block_on(async move {
                    for i in 0..50 {
                        s.put(format!("t{t}:{i}"), format!("{i}"))?.await?;
                    }
                    Ok::<(), Error>(())
                })
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread").expect("awaits");
    }
    store.close().expect("close");
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).expect("rusqlite");
    let n: i64 = conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 200);
}
