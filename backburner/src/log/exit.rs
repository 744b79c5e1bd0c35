//! Draining at `std::process::exit` (an `atexit` handler) and, opt-in, on
//! SIGTERM, SIGINT and SIGABRT. Each drain that ends the process goes
//! through [`end`], which freezes the loggers after draining them, so that
//! no write is cut by the process's end.
//!
//! SIGTERM and SIGINT are handled by a thread (signal-hook's iterator).
//! With `OnSignal::Exit` it drains every logger, closes every open store
//! (`crate::drain::drain_all`), drains the loggers again, then lets the
//! signal end the process as it would have. With `OnSignal::Continue` the
//! first signal of each kind only drains the loggers (the program handles
//! the signal itself); a second one of the same kind does what `Exit` does. SIGABRT (`std::process::abort`, a panic with `panic =
//! "abort"`) ends the process as soon as its handler returns, so its
//! handler asks a flusher thread to drain, through a pipe, and waits for
//! the answer on another pipe (at most 5 s): `write`, `poll` and `read` are
//! async-signal-safe. [`OnSignal`] (re-exported as `backburner::log::OnSignal`)
//! is defined here; the loggers are reached through `registry`.

#![allow(unsafe_code)] // libc `atexit`, and the SIGABRT handler; see each SAFETY note.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Once, OnceLock};

use super::registry::{flush_all, freeze_all, note_all};

/// What SIGTERM and SIGINT do once [`Guard::handle_signals_with`](crate::log::Guard::handle_signals_with) handles
/// them. Either way SIGABRT drains the loggers, and the process then ends
/// (an `abort` cannot be survived).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnSignal {
    /// Drain and end (the default; what [`Guard::handle_signals`](crate::log::Guard::handle_signals) does):
    /// drain every logger, close every open [`Store`](crate::Store), which
    /// drains the writes it accepted, drain the loggers again, then end the
    /// process as the signal would have (killed by it; exit status
    /// `128 + signal` if it survives that). What survives: every line
    /// logged before the signal and every write a store accepted before its
    /// close. What does not: the program's own shutdown code (it never
    /// runs), lines logged after the last drain (lost, never cut short),
    /// and writes refused because the store was closed.
    #[default]
    Exit,
    /// For a program that handles the signal itself (`tokio::signal`,
    /// axum's `with_graceful_shutdown`, `ctrlc`): drain every logger and
    /// log a warning that says so; do not close the stores and do not end
    /// the process. The program's own shutdown runs, the logger keeps
    /// taking lines meanwhile, and the [`Guard`](crate::log::Guard)'s drop (or the exit
    /// handler) drains the rest. What survives: every line, and every
    /// write the program's shutdown lets its stores drain (it closes them,
    /// or their drop does). A second signal of the same kind does what
    /// [`OnSignal::Exit`] does (an impatient operator, a stuck shutdown); a
    /// program that does not handle the signal at all keeps running until
    /// then.
    Continue,
}

extern "C" fn at_exit() {
    // The stores too: one still open (in a `static`, on a thread still
    // running, or closing in the background after a drop on an async
    // runtime's thread, see `Store`'s drop) drains before the process ends.
    // A panic must not unwind out of an `extern "C"` function (it would
    // abort): a close logs into the user's loggers, which may panic.
    if std::panic::catch_unwind(|| end(true)).is_err() {
        eprintln!("backburner: the drain at the end of the process panicked; some lines or writes may be lost");
    }
}

/// The end of the process: drains every logger; with `stores`, closes
/// every open store (draining its accepted writes; closing may log) and
/// drains the loggers again; then freezes the loggers (each worker's write
/// in flight finishes and no other starts; see `freeze_all`), so that
/// every line in the file is whole however the process then ends, with
/// other threads still logging. Runs once: a later call (the exit handler
/// after a signal's drain) waits for the first to finish and returns.
pub(super) fn end(stores: bool) {
    static ENDED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut ended = ENDED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if *ended {
        return;
    }
    flush_all();
    if stores {
        crate::drain::drain_all();
        flush_all();
    }
    freeze_all();
    *ended = true;
}

/// What the signal thread does on the first SIGTERM or SIGINT: an
/// `OnSignal` as a number (0 `Exit`, 1 `Continue`), set by each
/// `Guard::handle_signals_with` call.
static ON_SIGNAL: AtomicU8 = AtomicU8::new(0);
const CONTINUE: u8 = 1;

/// Registers the exit handler once per process: from a logger's `install`
/// and `guard`, and from each store's open.
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `atexit` takes a plain `extern "C" fn()` with no
        // arguments, which `at_exit` is; it runs on the exiting thread while
        // other threads (the log workers) still run, and only flushes.
        let rc = unsafe { libc::atexit(at_exit) };
        if rc != 0 {
            eprintln!("backburner: could not register the exit handler; std::process::exit may lose log lines and writes still queued in open stores");
        }
    });
}

/// The line each logger gets on a first SIGTERM or SIGINT with `OnSignal::Continue`.
const CONTINUE_TERM: &str = "SIGTERM received: logs drained; the program's own shutdown goes on (OnSignal::Continue); a second SIGTERM ends the process";
const CONTINUE_INT: &str = "SIGINT received: logs drained; the program's own shutdown goes on (OnSignal::Continue); a second SIGINT ends the process";

/// Pipes between the SIGABRT handler and the flusher thread.
struct AbortPipes {
    ask_w: libc::c_int,
    done_r: libc::c_int,
}

static ABORT: OnceLock<AbortPipes> = OnceLock::new();

fn pipe() -> std::io::Result<(libc::c_int, libc::c_int)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for `pipe` to fill.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((fds[0], fds[1]))
}

fn on_abort() {
    let Some(p) = ABORT.get() else { return };
    let one = [1u8];
    // SAFETY: async-signal-safe calls only (write, poll, read) on file
    // descriptors that stay open for the life of the process, with buffers
    // that live on this stack frame.
    unsafe {
        if libc::write(p.ask_w, one.as_ptr().cast(), 1) != 1 {
            return;
        }
        let mut pfd = libc::pollfd { fd: p.done_r, events: libc::POLLIN, revents: 0 };
        if libc::poll(&mut pfd, 1, 5_000) == 1 {
            let mut b = [0u8];
            let _ = libc::read(p.done_r, b.as_mut_ptr().cast(), 1);
        }
    }
    // The loggers are frozen: end the process as SIGABRT does (`abort`
    // would go on to that itself; a SIGABRT sent by `kill` would otherwise
    // be swallowed by this handler). Async-signal-safe.
    let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGABRT);
}

/// Starts the signal handling once per process; `on` applies from now on
/// (the last call's choice wins).
pub(super) fn signals(on: OnSignal) -> std::io::Result<()> {
    use signal_hook::consts::{SIGABRT, SIGINT, SIGTERM};
    // Held for the whole set-up: two callers at once install one set.
    static STARTED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut started = STARTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    ON_SIGNAL.store(
        match on {
            OnSignal::Exit => 0,
            OnSignal::Continue => CONTINUE,
        },
        Ordering::SeqCst,
    );
    if *started {
        return Ok(());
    }
    let mut sigs = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new().name("backburner-signals".into()).spawn(move || {
        // Whether a SIGTERM, a SIGINT came before.
        let mut seen = [false; 2];
        for sig in sigs.forever() {
            let again = std::mem::replace(&mut seen[usize::from(sig == SIGINT)], true);
            if !again && ON_SIGNAL.load(Ordering::SeqCst) == CONTINUE {
                // The program handles the signal: drain the logs, and let
                // its own shutdown go on (logging as it likes).
                note_all(if sig == SIGINT { CONTINUE_INT } else { CONTINUE_TERM });
                flush_all();
                continue;
            }
            end(true);
            // End the process as the signal would have.
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            std::process::exit(128 + sig);
        }
    })?;

    let (ask_r, ask_w) = pipe()?;
    let (done_r, done_w) = pipe()?;
    let _ = ABORT.set(AbortPipes { ask_w, done_r });
    std::thread::Builder::new().name("backburner-abort".into()).spawn(move || {
        let mut b = [0u8];
        // SAFETY: reading one byte into a live buffer from our own pipe.
        while unsafe { libc::read(ask_r, b.as_mut_ptr().cast(), 1) } == 1 {
            end(false);
            let one = [1u8];
            // SAFETY: writing one byte from a live buffer to our own pipe.
            let _ = unsafe { libc::write(done_w, one.as_ptr().cast(), 1) };
        }
    })?;
    // SAFETY: `on_abort` only makes async-signal-safe calls (see there).
    unsafe { signal_hook::low_level::register(SIGABRT, on_abort) }?;
    *started = true;
    Ok(())
}
