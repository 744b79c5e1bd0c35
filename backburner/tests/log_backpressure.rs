//! What a full per-thread queue does under `Backpressure::Timeout`: a log
//! call waits for room at most that long, then drops its line and counts
//! it (a notice in the file says so); a line that finds room within the
//! wait is written. The worker is held by a clock that blocks it (the
//! worker reads the clock for every line under time-based rotation).

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use backburner::log::{Backpressure, Clock, Logger, Period};

/// Only a bound against hanging forever, never a speed check.
const HANG: Duration = Duration::from_secs(30);

/// A clock that, while held, blocks whoever reads it.
#[derive(Default)]
struct HeldClock {
    /// (held, readers blocked in `now`)
    state: Mutex<(bool, u32)>,
    cv: Condvar,
}

impl Clock for HeldClock {
    fn now(&self) -> SystemTime {
        let mut g = self.state.lock().expect("clock lock");
        g.1 += 1;
        self.cv.notify_all();
        while g.0 {
            g = self.cv.wait(g).expect("clock lock");
        }
        g.1 -= 1;
        SystemTime::now()
    }
}

impl HeldClock {
    fn hold(&self) {
        self.state.lock().expect("clock lock").0 = true;
    }
    fn release(&self) {
        self.state.lock().expect("clock lock").0 = false;
        self.cv.notify_all();
    }
    /// Waits until a reader (the worker) is blocked in `now`.
    fn wait_blocked(&self) {
        let g = self.state.lock().expect("clock lock");
        let (g, t) = self.cv.wait_timeout_while(g, HANG, |s| s.1 == 0).expect("clock lock");
        assert!(!t.timed_out() && g.1 > 0, "the worker never read the clock");
    }
}

const CAPACITY: usize = 4;

/// A logger over a [`HeldClock`]; dropped, it releases the clock first (a
/// failed assertion must not leave the drop joining a held worker).
struct Held {
    log: Logger,
    clock: Arc<HeldClock>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.clock.release();
    }
}

fn held(path: &std::path::Path, policy: Backpressure) -> Held {
    let clock = Arc::new(HeldClock::default());
    let log = Logger::builder()
        .file(path)
        .rotate_every(Period::Hourly)
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .queue_capacity(CAPACITY)
        .backpressure(policy)
        .build()
        .expect("logger");
    Held { log, clock }
}

/// On a thread of its own (a thread has a queue of its own): logs line 0,
/// which the worker takes and is blocked on, then lines 1 to `CAPACITY`,
/// which fill the queue; says so on the first receiver; then logs line
/// `CAPACITY + 1` into the full queue, and sends how long that call took on
/// the second.
fn fill_then_log(h: &Held) -> (mpsc::Receiver<()>, mpsc::Receiver<Duration>) {
    h.clock.hold();
    let (log, clock) = (h.log.clone(), Arc::clone(&h.clock));
    let (full_tx, full) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        backburner::info!(log, "line {}", 0u64);
        clock.wait_blocked();
        for i in 1..=CAPACITY as u64 {
            backburner::info!(log, "line {}", i);
        }
        let _ = full_tx.send(());
        let t = Instant::now();
        backburner::info!(log, "line {}", CAPACITY as u64 + 1);
        let _ = done_tx.send(t.elapsed());
    });
    full.recv_timeout(HANG).expect("the queue was never filled");
    (full, done)
}

#[test]
fn timeout_drops_and_counts_a_line_when_the_queue_stays_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    let wait = Duration::from_millis(100);
    let h = held(&path, Backpressure::Timeout(wait));
    let (_full, done) = fill_then_log(&h);
    let took = done.recv_timeout(HANG).expect("the log call into a full queue never returned");
    assert!(took >= wait, "the call returned after {took:?}, before its timeout of {wait:?}");
    let n = CAPACITY as u64 + 1;
    let st = h.log.stats();
    assert_eq!((st.logged, st.dropped), (n, 1), "{st:?}");

    h.clock.release();
    h.log.flush().expect("flush");
    let text = std::fs::read_to_string(&path).expect("read");
    for i in 0..n {
        assert!(text.contains(&format!("line {i}\n")), "line {i} missing:\n{text}");
    }
    assert!(!text.contains(&format!("line {n}\n")), "the dropped line was written:\n{text}");
    assert!(
        text.contains("1 log line(s) from this thread were dropped: its queue was full (Backpressure::Timeout(100ms))"),
        "no drop notice:\n{text}"
    );
    assert_eq!(h.log.stats().dropped, 1);
}

#[test]
fn timeout_writes_a_line_that_finds_room_in_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    let h = held(&path, Backpressure::Timeout(HANG));
    let (_full, done) = fill_then_log(&h);
    // Still waiting for room while the worker is held...
    assert!(done.recv_timeout(Duration::from_millis(100)).is_err(), "the call did not wait for room");
    // ...and in once the worker makes room.
    h.clock.release();
    done.recv_timeout(HANG).expect("the log call never returned after the worker made room");
    h.log.flush().expect("flush");
    let n = CAPACITY as u64 + 1;
    let st = h.log.stats();
    assert_eq!((st.logged, st.dropped), (n + 1, 0), "{st:?}");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(&format!("line {n}\n")), "the line that waited is missing:\n{text}");
}

#[test]
fn the_logger_and_the_store_share_one_backpressure_type() {
    let store_side: backburner::Backpressure = Backpressure::Timeout(Duration::from_millis(5));
    let log = Logger::builder().stderr().backpressure(store_side).build().expect("logger");
    drop(log);
    assert_eq!(backburner::log::Backpressure::default(), backburner::Backpressure::Block);
}
