//! A log worker that panics latches its logger: `flush` and `sync` return
//! `LogError::Poisoned` at once (they do not wait for a worker that will
//! never answer), a thread waiting for room in its full queue stops waiting
//! and counts its line as dropped, and later log calls are dropped and
//! counted instead of queued for nobody. The panic is a real one, through
//! the public API: a rotation clock that panics when the worker reads it
//! (under time-based rotation the worker reads the clock for every line).

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use backburner::log::{Clock, LogError, Logger, Period};

/// Only a bound against hanging forever, never a speed check.
const HANG: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Tell the time.
    Pass,
    /// Block the reader until the mode changes.
    Hold,
    /// Panic.
    Panic,
}

/// A rotation clock that does as its mode says when the log worker reads
/// it (other threads, `build` among them, always get the time).
struct TrapClock {
    /// (mode, readers blocked)
    state: Mutex<(Mode, u32)>,
    cv: Condvar,
}

impl Clock for TrapClock {
    fn now(&self) -> SystemTime {
        if std::thread::current().name() != Some("backburner-log") {
            return SystemTime::now();
        }
        let mut g = self.state.lock().expect("clock lock");
        loop {
            match g.0 {
                Mode::Pass => return SystemTime::now(),
                Mode::Hold => {
                    g.1 += 1;
                    self.cv.notify_all();
                    g = self.cv.wait(g).expect("clock lock");
                    g.1 -= 1;
                }
                Mode::Panic => {
                    // Unlocked first: the test goes on using the clock.
                    drop(g);
                    panic!("the test clock panics on the log worker");
                }
            }
        }
    }
}

impl TrapClock {
    fn new() -> Arc<TrapClock> {
        Arc::new(TrapClock { state: Mutex::new((Mode::Pass, 0)), cv: Condvar::new() })
    }
    fn set(&self, mode: Mode) {
        self.state.lock().expect("clock lock").0 = mode;
        self.cv.notify_all();
    }
    /// Waits until the worker is blocked in `now`.
    fn wait_blocked(&self) {
        let g = self.state.lock().expect("clock lock");
        let (g, t) = self.cv.wait_timeout_while(g, HANG, |s| s.1 == 0).expect("clock lock");
        assert!(!t.timed_out() && g.1 > 0, "the worker never read the clock");
    }
}

/// A logger whose worker reads `clock` for every line.
fn logger(path: &std::path::Path, clock: &Arc<TrapClock>, capacity: usize) -> Logger {
    Logger::builder()
        .file(path)
        .rotate_every(Period::Hourly)
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
        .queue_capacity(capacity)
        .build()
        .expect("logger")
}

/// Runs `f` on a thread of its own and returns what it returns, or fails
/// the test if it has not returned within `HANG`.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG) {
        Ok(v) => v,
        Err(_) => panic!("{what} did not return within {HANG:?} of the worker's panic"),
    }
}

fn assert_poisoned(r: Result<(), LogError>, what: &str) {
    match r {
        Err(e @ LogError::Poisoned { .. }) => {
            let LogError::Poisoned { reason } = &e else { unreachable!() };
            assert!(reason.contains("the test clock panics on the log worker"), "{what}: reason {reason:?}");
            let msg = e.to_string();
            assert!(msg.contains("lost") && msg.contains("new logger"), "{what}: message {msg:?}");
        }
        other => panic!("{what}: expected LogError::Poisoned, got {other:?}"),
    }
}

#[test]
fn flush_and_sync_return_poisoned_at_once_when_the_worker_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    let clock = TrapClock::new();
    let log = logger(&path, &clock, 64);
    backburner::info!(log, "before {}", 1u64);
    log.flush().expect("flush before the panic");

    clock.set(Mode::Panic);
    backburner::info!(log, "the line the worker panics on {}", 2u64);
    let l = log.clone();
    assert_poisoned(bounded("flush", move || l.flush()), "flush");
    // Latched: every later call answers the same, without a worker.
    let l = log.clone();
    assert_poisoned(bounded("sync", move || l.sync()), "sync");
    let l = log.clone();
    assert_poisoned(bounded("a second flush", move || l.flush()), "second flush");

    // Later log calls, far more than the queue holds, return; each line is
    // dropped and counted, not queued for a worker that is gone.
    let before = log.stats();
    let l = log.clone();
    bounded("logging after the panic", move || {
        for i in 0..1_000u64 {
            backburner::info!(l, "after {}", i);
        }
    });
    let after = log.stats();
    assert_eq!(after.logged, before.logged, "lines logged after the panic were queued: {after:?}");
    assert_eq!(after.dropped, before.dropped + 1_000, "{after:?}");

    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains("before 1\n"), "{text}");
    assert!(!text.contains("after "), "{text}");
}

#[test]
fn a_thread_waiting_on_a_full_queue_returns_when_the_worker_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    let clock = TrapClock::new();
    const CAPACITY: usize = 4;
    let log = logger(&path, &clock, CAPACITY);
    clock.set(Mode::Hold);

    // A thread (a queue of its own): line 0 holds the worker, lines 1 to 4
    // fill the queue, line 5 waits for room (Backpressure::Block).
    let (full_tx, full) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let (l, c) = (log.clone(), Arc::clone(&clock));
    std::thread::spawn(move || {
        backburner::info!(l, "line {}", 0u64);
        c.wait_blocked();
        for i in 1..=CAPACITY as u64 {
            backburner::info!(l, "line {}", i);
        }
        let _ = full_tx.send(());
        backburner::info!(l, "line {}", CAPACITY as u64 + 1);
        let _ = done_tx.send(());
    });
    full.recv_timeout(HANG).expect("the queue was never filled");
    assert!(done.recv_timeout(Duration::from_millis(100)).is_err(), "the call into the full queue did not wait");

    clock.set(Mode::Panic);
    done.recv_timeout(HANG).expect("the thread waiting for room never returned after the worker panicked");
    let st = log.stats();
    assert_eq!(st.logged, CAPACITY as u64 + 1, "{st:?}");
    assert_eq!(st.dropped, 1, "the line that waited is not counted as dropped: {st:?}");
    let l = log.clone();
    assert_poisoned(bounded("flush", move || l.flush()), "flush");
}
