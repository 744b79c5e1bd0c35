//! The loggers of the process: each logger's [`Handle`] (which owns its
//! worker thread and stops it when the last `Logger` clone goes), and the
//! process-wide list of live loggers that the end of the process drains
//! (`flush_all`), freezes (`freeze_all`) and notes a signal in (`note_all`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::level::Level;
use super::record::{Entry, Message, Site};
use super::shared::Shared;

/// Owns the worker thread; the last `Logger` clone dropped drains and stops it.
pub(super) struct Handle {
    pub(super) shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Handle {
    /// Registers a logger whose worker is `thread` in the process's list,
    /// and returns its handle.
    pub(super) fn register(shared: Arc<Shared>, thread: JoinHandle<()>) -> Arc<Handle> {
        let handle = Arc::new(Handle { shared, thread: Mutex::new(Some(thread)) });
        registry().lock().push(Arc::downgrade(&handle));
        handle
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        shutdown(&self.shared, &self.thread);
    }
}

/// A worker told to stop by a drop on an executor thread, not yet joined.
type Stopping = (Arc<Shared>, JoinHandle<()>);

/// The workers stopping in the background.
fn stopping() -> &'static Mutex<Vec<Stopping>> {
    static S: OnceLock<Mutex<Vec<Stopping>>> = OnceLock::new();
    S.get_or_init(|| Mutex::new(Vec::new()))
}

/// Stops the worker (it drains every ring first) and joins it, unless the
/// end of the process froze it. On an async runtime's thread, which must
/// not wait, the join is left to the end of the process (`flush_all`, from
/// the exit handler registered when the logger was built), so that `main`
/// returning cannot cut the drain short.
fn shutdown(shared: &Arc<Shared>, thread: &Mutex<Option<JoinHandle<()>>>) {
    shared.stop.store(true, Ordering::SeqCst);
    if let Some(t) = shared.worker.get() {
        t.unpark();
    }
    if shared.frozen.load(Ordering::SeqCst) {
        // The process is ending and the worker waits for the gate forever.
        return;
    }
    let Some(h) = thread.lock().take() else { return };
    if crate::drain::on_executor() {
        let mut list = stopping().lock();
        // Those that have ended need no join at exit (and would keep their
        // rings until then).
        list.retain(|(_, w)| !w.is_finished());
        list.push((Arc::clone(shared), h));
    } else {
        let _ = h.join();
    }
}

/// Loggers alive in this process, drained by the exit handler.
fn registry() -> &'static Mutex<Vec<Weak<Handle>>> {
    static R: OnceLock<Mutex<Vec<Weak<Handle>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Vec::new()))
}

/// The loggers still alive. The caller must not drop them (the last clone
/// would join a worker, from an exit handler): see [`keep`].
fn live() -> Vec<Arc<Handle>> {
    registry().lock().iter().filter_map(Weak::upgrade).collect()
}

/// Keeps a handle for the rest of the process instead of dropping it.
fn keep(h: Arc<Handle>) {
    std::mem::forget(h);
}

/// Freezes every live logger at the end of the process: takes each one's
/// gate and keeps it, once the write in flight (if any) is done, so that no
/// write is under way when the process ends and none starts after. Lines
/// logged from then on stay in the rings.
pub(super) fn freeze_all() {
    for h in live() {
        // On the worker's own thread (a destination, a clock or a panic
        // hook there ends the process), the gate may be held by this very
        // thread, and the worker makes no other call: waiting would hang.
        if !h.shared.on_worker() {
            std::mem::forget(h.shared.gate.lock());
        }
        h.shared.frozen.store(true, Ordering::SeqCst);
        // Not dropped (the last clone would join the frozen worker).
        keep(h);
    }
}

/// Logs `msg` as a warning of `backburner::log` to every live logger whose
/// filter lets it through (the signal thread's notes).
pub(super) fn note_all(msg: &'static str) {
    static SITE: Site = Site { level: Level::Warn, target: "backburner::log", file: file!(), line: line!() };
    for h in live() {
        let s = &h.shared;
        if s.enabled(&SITE) {
            s.push(Entry { at: s.clock.raw(), site: &SITE, msg: Message::Static(msg) });
        }
        // Not dropped here (the last clone would join the worker).
        keep(h);
    }
}

/// Flushes every live logger, and waits for the workers stopping in the
/// background to drain (exit handler, signals).
pub(super) fn flush_all() {
    for h in live() {
        if let Err(e) = h.shared.flush(false) {
            eprintln!("backburner: log flush failed: {e}");
        }
        // Not dropped here (the last clone would join the worker from an exit handler).
        keep(h);
    }
    let stopping = std::mem::take(&mut *stopping().lock());
    for (shared, worker) in stopping {
        // A worker that is this very thread (a destination ending the
        // process) cannot be waited for.
        if !shared.on_worker() && !shared.frozen.load(Ordering::SeqCst) {
            let _ = worker.join();
        }
    }
}
