//! A store whose worker panics (a sink that panics in `apply`) is latched,
//! as the logger is (`tests/log_panic.rs`; both run their workers through
//! the same start-up, which catches the panic and records its message):
//! the waiting ticket, `flush` and a later write fail with
//! `Error::Poisoned`, whose reason comes to name the thread and the panic.

mod common;

use std::time::{Duration, Instant};

use backburner::{ApplyError, Batch, Error, Sink, SinkError, Store};

/// Only a bound against hanging forever, never a speed check.
const HANG: Duration = Duration::from_secs(30);

struct Panics;

impl Sink for Panics {
    fn open_writer(&mut self, _: &str) -> Result<backburner::Resume, SinkError> {
        Ok(backburner::Resume { last_applied: backburner::Seq(0), epoch: 0 })
    }
    fn apply(&mut self, _batch: &Batch<'_>, _: &mut backburner::Outcomes<'_>) -> Result<(), ApplyError> {
        panic!("the test sink panics in apply");
    }
}

fn reason<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) -> String {
    match r {
        Err(Error::Poisoned { reason, .. }) => reason,
        other => panic!("{what}: expected Error::Poisoned, got {other:?}"),
    }
}

#[test]
fn a_panicking_store_worker_latches_the_store_with_the_panic_message() {
    let store = Store::builder("panics").sink(Panics).build().expect("open");
    let ticket = store.put("a", "1").expect("put");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(ticket.wait());
    });
    // The worker latches the store while it unwinds (the reason is then
    // "a store thread panicked"); the thread's end records the message.
    reason(rx.recv_timeout(HANG).expect("the ticket's wait never returned"), "wait");
    let start = Instant::now();
    loop {
        let r = reason(store.flush(), "flush");
        if r.contains("the thread backburner-worker panicked: the test sink panics in apply") {
            break;
        }
        assert!(start.elapsed() < HANG, "the panic's message was never recorded: {r:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
    let r = reason(store.put("b", "2"), "a later put");
    assert!(r.contains("the test sink panics in apply"), "{r:?}");
}

#[test]
fn a_close_that_returned_the_poison_is_not_told_again_by_the_drop() {
    common::capture_logs();
    let store = Store::builder("panics-close").sink(Panics).build().expect("open");
    let ticket = store.put("a", "1").expect("put");
    reason(ticket.wait(), "wait");
    reason(store.close(), "close");
    drop(store);
    let told = common::warnings_about("closing the store panics-close");
    assert!(told.is_empty(), "the drop repeated what close returned: {told:?}");
}
