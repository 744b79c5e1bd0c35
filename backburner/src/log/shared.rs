//! What the callers and the worker share: each thread's queue
//! ([`ThreadQueue`]), the logger's state ([`Shared`]: the queue list, the
//! flush and sync requests and answers, the counters, the gate), and the
//! callers' side of flush, sync and stats. The log call's path into the
//! queues is in `push.rs`, the worker in `worker.rs`.

use crate::wakers::Wakers;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, SystemTime};

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};

use super::error::{LogError, LogStats};
use super::filter::Filter;
use super::format::Format;
use super::record::{Entry, Site};
use crate::backpressure::Backpressure;

/// One thread's queue.
///
/// A single-producer ring (rtrb): the producer keeps a cached copy of the
/// consumer's position and touches shared memory only when it looks full,
/// so a log call does no atomic read-modify-write. Memory is reserved for
/// `capacity` entries but pages are touched only as the ring is used.
pub(super) struct ThreadQueue {
    /// Taken only by the worker (and `stats`): uncontended.
    pub(super) consumer: Mutex<rtrb::Consumer<Entry>>,
    pub(super) capacity: usize,
    /// Lines pushed (written only by the owning thread), on its own cache line.
    pub(super) pushed: CachePadded<AtomicU64>,
    pub(super) dropped: CachePadded<AtomicU64>,
    pub(super) name: Box<str>,
}

/// The state of one logger, shared by its callers and its worker.
pub(super) struct Shared {
    pub(super) id: usize,
    pub(super) filter: Filter,
    /// How lines are written (the `tracing` layer prepares span fields in it).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))] // read by the `tracing` layer only
    pub(super) format: Format,
    /// Most verbose level enabled (0: none).
    pub(super) max_level: AtomicU8,
    pub(super) policy: Backpressure,
    pub(super) per_thread: usize,
    pub(super) queues: Mutex<Vec<Arc<ThreadQueue>>>,
    /// Threads that have logged (for stats).
    pub(super) queue_count: AtomicUsize,
    /// Bumped when a queue is added or removed: the worker refreshes its list.
    pub(super) queues_version: AtomicUsize,
    /// Lines pushed by threads whose queues are gone.
    pub(super) retired_pushed: AtomicU64,
    pub(super) worker: OnceLock<Thread>,
    /// The worker sleeps long: a producer must wake it.
    pub(super) sleeping: AtomicBool,
    pub(super) stop: AtomicBool,
    pub(super) flush_req: AtomicU64,
    pub(super) flush_done: AtomicU64,
    /// The highest flush request that wants the file synced too, and the
    /// highest one whose lines have been synced. A `sync` caller waits for both.
    pub(super) sync_req: AtomicU64,
    pub(super) sync_done: AtomicU64,
    flush_lock: Mutex<()>,
    flush_cv: Condvar,
    /// Tasks awaiting a flush (`flush_async`, `sync_async`): woken with the
    /// threads, by `wake_flushers`.
    flush_wakers: Wakers,
    pub(super) error: Mutex<Option<(u64, String)>>,
    pub(super) written: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) write_errors: AtomicU64,
    pub(super) rotations: AtomicU64,
    /// Reads the CPU's time-stamp counter (~8 ns here, against ~17 ns for
    /// `Instant::now()`), calibrated against the monotonic clock.
    pub(super) clock: quanta::Clock,
    /// A raw reading and the wall-clock time at the same moment.
    pub(super) base: (u64, SystemTime),
    /// The sink's lock around each write to the OS (see `Sink`): taken and
    /// kept by the end of the process, which freezes the worker.
    pub(super) gate: Arc<Mutex<()>>,
    /// Set once the gate is kept: no line is written any more.
    pub(super) frozen: AtomicBool,
    /// Set if the worker panicked (the reason): the latch.
    poison: OnceLock<String>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

impl Shared {
    /// The state of a new logger (with an id of its own in the process),
    /// before its worker starts.
    pub(super) fn new(
        filter: Filter,
        format: Format,
        policy: Backpressure,
        per_thread: usize,
        gate: Arc<Mutex<()>>,
    ) -> Shared {
        let clock = quanta::Clock::new();
        Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            max_level: AtomicU8::new(filter.max_level().map_or(0, |l| l as u8)),
            filter,
            format,
            policy,
            per_thread,
            queues: Mutex::new(Vec::new()),
            queue_count: AtomicUsize::new(0),
            queues_version: AtomicUsize::new(0),
            retired_pushed: AtomicU64::new(0),
            worker: OnceLock::new(),
            sleeping: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            flush_req: AtomicU64::new(0),
            flush_done: AtomicU64::new(0),
            sync_req: AtomicU64::new(0),
            sync_done: AtomicU64::new(0),
            flush_lock: Mutex::new(()),
            flush_cv: Condvar::new(),
            flush_wakers: Wakers::default(),
            error: Mutex::new(None),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            base: (clock.raw(), SystemTime::now()),
            clock,
            gate,
            frozen: AtomicBool::new(false),
            poison: OnceLock::new(),
        }
    }

    /// Whether a call at this site would be logged.
    #[inline]
    pub(super) fn enabled(&self, site: &Site) -> bool {
        (site.level as u8) <= self.max_level.load(Ordering::Relaxed) && self.filter.enabled(site.level, site.target)
    }

    /// Waits until every line logged before the call is handed to the
    /// operating system (and, with `sync`, synced), then reports the write
    /// errors since the last report.
    ///
    /// # Errors
    ///
    /// [`LogError::Write`] if lines could not be written since the last
    /// report; [`LogError::Poisoned`] at once if the worker panicked;
    /// [`LogError::Closed`] if the worker is gone or frozen.
    pub(super) fn flush(&self, sync: bool) -> Result<(), LogError> {
        let req = self.request_flush(sync)?;
        let mut g = self.flush_lock.lock();
        // The latch and the worker's end wake this wait; the 50 ms poll is
        // for a frozen worker, which wakes nobody.
        let r = loop {
            if let Some(r) = self.flush_answer(req, sync) {
                break r;
            }
            self.flush_cv.wait_for(&mut g, Duration::from_millis(50));
        };
        drop(g);
        r?;
        self.take_error()
    }

    /// How the flush numbered `req` ended, if it has: done, the latch's
    /// error, or `Closed` for a worker that is gone or frozen.
    fn flush_answer(&self, req: u64, sync: bool) -> Option<Result<(), LogError>> {
        if self.flushed(req, sync) {
            return Some(Ok(()));
        }
        if let Some(e) = self.poisoned() {
            return Some(Err(e));
        }
        if self.worker_gone() || self.frozen.load(Ordering::SeqCst) {
            return Some(Err(LogError::Closed));
        }
        None
    }

    /// Asks the worker for a flush and does not wait for it (a guard
    /// dropped on an executor thread).
    pub(super) fn flush_soon(&self) {
        let _ = self.request_flush(false);
    }

    /// Asks the worker for a flush (and a sync); the request's number.
    fn request_flush(&self, sync: bool) -> Result<u64, LogError> {
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        if self.on_worker() {
            // A panic hook or a Clock on the worker's thread: waiting for
            // the worker would wait forever (and keep the latch from setting).
            return Err(LogError::OnWorker);
        }
        let req = self.flush_req.fetch_add(1, Ordering::SeqCst) + 1;
        if sync {
            self.sync_req.fetch_max(req, Ordering::SeqCst);
        }
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
        Ok(req)
    }

    fn flushed(&self, req: u64, sync: bool) -> bool {
        self.flush_done.load(Ordering::SeqCst) >= req && (!sync || self.sync_done.load(Ordering::SeqCst) >= req)
    }

    fn take_error(&self) -> Result<(), LogError> {
        match self.error.lock().take() {
            None => Ok(()),
            Some((lines, message)) => Err(LogError::Write { lines, message }),
        }
    }

    /// The awaitable form of [`flush`](Shared::flush).
    pub(super) async fn flush_async(&self, sync: bool) -> Result<(), LogError> {
        let req = self.request_flush(sync)?;
        std::future::poll_fn(|cx| {
            let mut out = None;
            match self.flush_wakers.register_unless(cx.waker(), || {
                out = self.flush_answer(req, sync);
                out.is_some()
            }) {
                true => std::task::Poll::Ready(out.unwrap_or(Ok(()))),
                false => std::task::Poll::Pending,
            }
        })
        .await?;
        self.take_error()
    }

    /// Latches the logger: its worker panicked (`reason` says how). Keeps
    /// `sleeping` set, so that every log call from now on takes the path
    /// that wakes the worker, where it finds the latch and drops its line
    /// (see `push.rs`); wakes the callers waiting in `flush` or `sync`.
    pub(super) fn poison(&self, reason: String) {
        let _ = self.poison.set(reason);
        self.sleeping.store(true, Ordering::SeqCst);
        self.wake_flushers();
    }

    /// Whether the worker panicked.
    #[inline]
    pub(super) fn is_poisoned(&self) -> bool {
        self.poison.get().is_some()
    }

    /// The error of a latched logger, if it is.
    pub(super) fn poisoned(&self) -> Option<LogError> {
        self.poison.get().map(|reason| LogError::Poisoned { reason: reason.clone() })
    }

    /// Wakes the callers waiting in `flush` or `sync`.
    pub(super) fn wake_flushers(&self) {
        {
            let _g = self.flush_lock.lock();
            self.flush_cv.notify_all();
        }
        self.flush_wakers.wake_all();
    }

    /// Whether the worker has stopped (or never started).
    /// Whether the calling thread is this logger's worker.
    #[cold]
    pub(super) fn on_worker(&self) -> bool {
        self.worker.get().is_some_and(|t| t.id() == std::thread::current().id())
    }

    pub(super) fn worker_gone(&self) -> bool {
        self.worker.get().is_none() || self.flush_done.load(Ordering::SeqCst) == u64::MAX
    }

    /// A snapshot of the counters.
    pub(super) fn stats(&self) -> LogStats {
        // One lock, released before the counters are read (a guard held across
        // two `lock()` calls in one expression deadlocks).
        let (logged, queued_drops) = {
            let queues = self.queues.lock();
            queues
                .iter()
                .fold((0, 0), |(l, d), q| (l + q.pushed.load(Ordering::Relaxed), d + q.dropped.load(Ordering::Relaxed)))
        };
        LogStats {
            logged: logged + self.retired_pushed.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed) + queued_drops,
            write_errors: self.write_errors.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            threads: self.queue_count.load(Ordering::Relaxed) as u64,
        }
    }
}
