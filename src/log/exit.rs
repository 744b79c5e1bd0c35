//! Draining at `std::process::exit` (an `atexit` handler) and, opt-in, on
//! SIGTERM and SIGINT.

#![allow(unsafe_code)] // the libc `atexit` call; see the SAFETY note.

use std::sync::Once;

extern "C" fn at_exit() {
    super::flush_all();
}

/// Registers the exit handler once per process.
pub(super) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `atexit` takes a plain `extern "C" fn()` with no
        // arguments, which `at_exit` is; it runs on the exiting thread while
        // other threads (the log workers) still run, and only flushes.
        let rc = unsafe { libc::atexit(at_exit) };
        if rc != 0 {
            eprintln!("backburner: could not register the log exit handler; std::process::exit may lose log lines");
        }
    });
}

/// Starts the signal thread once per process.
pub(super) fn signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    static STARTED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if STARTED.get().is_some() {
        return Ok(());
    }
    let mut sigs = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("backburner-signals".into())
        .spawn(move || {
            if let Some(sig) = sigs.forever().next() {
                super::flush_all();
                // End the process as the signal would have.
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        })?;
    let _ = STARTED.set(());
    Ok(())
}
