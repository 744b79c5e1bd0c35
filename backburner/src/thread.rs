//! The lifecycle of a worker thread, shared by the store's threads and the
//! logger's worker: started with a name, run under `catch_unwind`, and its
//! end (it returned, or the message of its panic) handed to its owner,
//! which latches itself on a panic (the store's `Progress::poison`, the
//! logger's `Shared::poison`) so that no caller waits for a thread that is
//! gone. It uses nothing else in the crate.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::thread::JoinHandle;

/// Starts a thread named `name` that runs `f`, then `end` with how `f`
/// ended: `Ok(())`, or `Err(reason)` if it panicked, the reason saying
/// which thread and the panic's message.
///
/// # Errors
///
/// When the operating system cannot start the thread.
pub(crate) fn spawn(
    name: &str,
    f: impl FnOnce() + Send + 'static,
    end: impl FnOnce(Result<(), String>) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let thread_name = name.to_string();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        STORE_THREAD.with(|t| t.set(true));
        let ended = std::panic::catch_unwind(AssertUnwindSafe(f));
        end(ended.map_err(|p| format!("the thread {thread_name} panicked: {}", message(&*p))));
    })
}

/// The message a panic carries (`panic!` with a literal or a format).
fn message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

thread_local! {
    /// Set on the threads this module starts (a store's worker and journal
    /// writer, a logger's worker), which run user code (a sink, a
    /// destination) that must not wait for the store it serves.
    static STORE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is one this module started.
pub(crate) fn is_store_thread() -> bool {
    STORE_THREAD.try_with(std::cell::Cell::get).unwrap_or(false)
}
