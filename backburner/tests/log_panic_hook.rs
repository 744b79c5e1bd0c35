//! A panic hook that flushes the logger (a common hook: log the panic, then
//! flush) runs on the log worker's own thread when the worker panics: the
//! flush must not wait for the worker (that is, for itself), or the latch
//! never sets and every later flush hangs. Its own file: panic hooks are
//! process-wide.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use backburner::log::{Clock, LogError, Logger, Period};

/// Only a bound against hanging forever, never a speed check.
const HANG: Duration = Duration::from_secs(30);

/// A rotation clock that panics on the log worker once armed.
struct Trap(Mutex<bool>);

impl Clock for Trap {
    fn now(&self) -> SystemTime {
        let armed = *self.0.lock().expect("trap");
        if armed && std::thread::current().name() == Some("backburner-log") {
            panic!("the test clock panics on the log worker");
        }
        SystemTime::now()
    }
}

#[test]
fn a_panic_hook_that_flushes_on_the_worker_does_not_keep_the_latch_from_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trap = Arc::new(Trap(Mutex::new(false)));
    let log = Logger::builder()
        .file(dir.path().join("app.log"))
        .rotate_every(Period::Hourly)
        .clock(trap.clone())
        .build()
        .expect("logger");
    let (hook_tx, hook_rx) = mpsc::channel();
    let in_hook = log.clone();
    std::panic::set_hook(Box::new(move |_| {
        let _ = hook_tx.send(in_hook.flush().map_err(|e| e.to_string()));
    }));
    backburner::info!(log, "before");
    log.flush().expect("flush before the panic");
    *trap.0.lock().expect("trap") = true;
    backburner::info!(log, "this line makes the worker read the clock");
    let (tx, rx) = mpsc::channel();
    let flusher = log.clone();
    std::thread::spawn(move || {
        let _ = tx.send(flusher.flush());
    });
    let r = rx.recv_timeout(HANG).expect("flush hung: the hook's flush on the worker waited for itself");
    assert!(matches!(r, Err(LogError::Poisoned { .. })), "{r:?}");
    let in_hook = hook_rx.recv_timeout(HANG).expect("the hook ran");
    assert!(in_hook.is_err_and(|e| e.contains("worker's own thread")), "the hook's flush says why it did not wait");
    let _ = std::panic::take_hook();
}
