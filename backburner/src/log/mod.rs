//! A non-blocking logger: the log call costs the caller a copy into a
//! per-thread queue; formatting and file I/O happen on a worker thread.
//!
//! ```
//! use backburner::log::{Format, Logger};
//! # let dir = tempfile::tempdir()?;
//! let log = Logger::builder()
//!     .file(dir.path().join("app.log"))
//!     .rotate_bytes(64 << 20)
//!     .keep(10)
//!     .format(Format::Json)
//!     .build()?;
//! let guard = log.install()?;                      // also the `log` facade's logger
//! backburner::info!(log, "order {} filled at {}", 42u64, 99.5f64); // copied, formatted later
//! ::log::warn!("through the log facade");
//! guard.flush()?;                                  // fallible: write errors are reported
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **What is never lost.** With the default [`Backpressure::Block`] a full
//! per-thread queue makes the caller wait; nothing is dropped. Dropping the
//! [`Guard`] (returning from `main`, or a panic unwinding through it) drains
//! every queue; [`Logger::install`] also registers an exit handler, so
//! `std::process::exit` drains too; [`Guard::handle_signals`] drains on
//! SIGTERM and SIGINT (and closes every open [`Store`](crate::Store),
//! draining its accepted writes) before the process ends. A program that
//! shuts down on SIGTERM itself (`tokio::signal`, axum's graceful
//! shutdown) uses [`Guard::handle_signals_with`]`(`[`OnSignal::Continue`]`)`:
//! the signal drains the logs, the program's shutdown runs and logs, and
//! the guard's drop drains the rest. With
//! [`Backpressure::DropNewest`] lines are dropped when a queue is full
//! (with [`Backpressure::Timeout`], when it stays full that long),
//! counted, and a line saying how many is written when there is room.
//!
//! **Whole lines.** Lines reach the file whole or not at all. At the end of
//! the process (the exit handler, the signal drains), once the drain is
//! done, the worker finishes the write it is in and starts no other, so a
//! process that ends while other threads still log leaves no line cut
//! short; lines logged after the drain may be lost.
//!
//! **What `kill -9` can lose.** Lines still in the per-thread queues, and
//! lines formatted but not yet handed to the operating system (the worker
//! writes through a 64 KiB buffer, flushed whenever the queues are empty).
//! Nothing that reached the worker's `write` call is lost: it is in the
//! operating system's cache. (A machine crash loses what was not synced:
//! see [`Logger::sync`].) A write under way can be cut short, leaving a
//! piece of a line at the end of the file: a logger that opens a file
//! ending inside a line writes a newline first, so that its first line is
//! a line of its own.

mod filter;
mod format;
#[doc(hidden)]
pub mod macros;
mod prefault;
mod record;
mod sink;
#[cfg(feature = "tracing")]
mod tracing_layer;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};

pub use crate::backpressure::Backpressure;
pub use filter::Filter;
pub use format::Format;
#[doc(hidden)]
pub use record::{ArgVal, Capture, CaptureCheap, CaptureFallback, Site, MAX_ARGS};
pub use sink::{Clock, Period, SystemClock};
#[cfg(feature = "tracing")]
pub use tracing_layer::TracingLayer;

use record::{Entry, FacadeMsg, Message, Render};
use sink::{FileSink, Sink};

/// A level, from the most to the least severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Errors.
    Error = 1,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging detail.
    Debug,
    /// Tracing detail.
    Trace,
}

impl Level {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    fn to_log_filter(max: Option<Level>) -> ::log::LevelFilter {
        match max {
            None => ::log::LevelFilter::Off,
            Some(Level::Error) => ::log::LevelFilter::Error,
            Some(Level::Warn) => ::log::LevelFilter::Warn,
            Some(Level::Info) => ::log::LevelFilter::Info,
            Some(Level::Debug) => ::log::LevelFilter::Debug,
            Some(Level::Trace) => ::log::LevelFilter::Trace,
        }
    }

    fn from_log(l: ::log::Level) -> Level {
        match l {
            ::log::Level::Error => Level::Error,
            ::log::Level::Warn => Level::Warn,
            ::log::Level::Info => Level::Info,
            ::log::Level::Debug => Level::Debug,
            ::log::Level::Trace => Level::Trace,
        }
    }
}

/// What SIGTERM and SIGINT do once [`Guard::handle_signals_with`] handles
/// them. Either way SIGABRT drains the loggers, and the process then ends
/// (an `abort` cannot be survived).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnSignal {
    /// Drain and end (the default; what [`Guard::handle_signals`] does):
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
    /// taking lines meanwhile, and the [`Guard`]'s drop (or the exit
    /// handler) drains the rest. What survives: every line, and every
    /// write the program's shutdown lets its stores drain (it closes them,
    /// or their drop does). A second signal of the same kind does what
    /// [`OnSignal::Exit`] does (an impatient operator, a stuck shutdown); a
    /// program that does not handle the signal at all keeps running until
    /// then.
    Continue,
}

/// Errors of the logger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log file could not be opened.
    #[error("cannot open the log file {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing lines failed since the last flush (a full disk, an I/O
    /// error). The lost lines are not in the file, not even in part: a
    /// write cut short is cut back to its last whole line (or, where that
    /// cannot be done, the cut line is finished first by the next write).
    #[error("{lines} log line(s) could not be written since the last flush: {message}; free disk space or check the log destination")]
    Write {
        /// Lines lost.
        lines: u64,
        /// The first error.
        message: String,
    },
    /// A filter directive was not understood.
    #[error("invalid log filter: {0}")]
    Filter(String),
    /// The `log` facade already has a logger.
    #[error("another logger is already installed for the `log` facade")]
    AlreadyInstalled,
    /// A thread or a signal handler could not be set up.
    #[error("cannot {what}: {source}")]
    Setup {
        /// What failed.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The logger was shut down.
    #[error("the logger is shut down")]
    Closed,
}

/// A snapshot of a logger's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// Lines accepted from log calls.
    pub logged: u64,
    /// Lines written to the destination: exactly the lines it holds (a
    /// write cut short, on a full disk, leaves no piece of a line; see
    /// [`LogError::Write`]).
    pub written: u64,
    /// Lines dropped because a queue was full (`DropNewest`).
    pub dropped: u64,
    /// Lines lost to write errors (not in the destination).
    pub write_errors: u64,
    /// Rotations of the log file.
    pub rotations: u64,
    /// Threads that have logged.
    pub threads: u64,
}

/// One thread's queue.
///
/// A single-producer ring (rtrb): the producer keeps a cached copy of the
/// consumer's position and touches shared memory only when it looks full,
/// so a log call does no atomic read-modify-write. Memory is reserved for
/// `capacity` entries but pages are touched only as the ring is used.
struct ThreadQueue {
    /// Taken only by the worker (and `stats`): uncontended.
    consumer: Mutex<rtrb::Consumer<Entry>>,
    capacity: usize,
    /// Lines pushed (written only by the owning thread), on its own cache line.
    pushed: CachePadded<AtomicU64>,
    dropped: CachePadded<AtomicU64>,
    name: Box<str>,
}

/// A thread's producer half for one logger.
struct Local {
    id: usize,
    producer: rtrb::Producer<Entry>,
    q: Arc<ThreadQueue>,
}

struct Shared {
    id: usize,
    filter: Filter,
    /// Most verbose level enabled (0: none).
    max_level: AtomicU8,
    policy: Backpressure,
    per_thread: usize,
    queues: Mutex<Vec<Arc<ThreadQueue>>>,
    /// Threads that have logged (for stats).
    queue_count: AtomicUsize,
    /// Bumped when a queue is added or removed: the worker refreshes its list.
    queues_version: AtomicUsize,
    /// Lines pushed by threads whose queues are gone.
    retired_pushed: AtomicU64,
    worker: OnceLock<Thread>,
    /// The worker sleeps long: a producer must wake it.
    sleeping: AtomicBool,
    stop: AtomicBool,
    flush_req: AtomicU64,
    flush_done: AtomicU64,
    /// The highest flush request that wants the file synced too, and the
    /// highest one whose lines have been synced. A `sync` caller waits for both.
    sync_req: AtomicU64,
    sync_done: AtomicU64,
    flush_lock: Mutex<()>,
    flush_cv: Condvar,
    error: Mutex<Option<(u64, String)>>,
    written: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
    rotations: AtomicU64,
    /// Reads the CPU's time-stamp counter (~8 ns here, against ~17 ns for
    /// `Instant::now()`), calibrated against the monotonic clock.
    clock: quanta::Clock,
    /// A raw reading and the wall-clock time at the same moment.
    base: (u64, SystemTime),
    /// The sink's lock around each write to the OS (see `Sink`): taken and
    /// kept by the end of the process, which freezes the worker.
    gate: Arc<Mutex<()>>,
    /// Set once the gate is kept: no line is written any more.
    frozen: AtomicBool,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Loggers alive in this process, drained by the exit handler.
fn registry() -> &'static Mutex<Vec<Weak<Handle>>> {
    static R: OnceLock<Mutex<Vec<Weak<Handle>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Vec::new()))
}

thread_local! {
    static LOCAL: std::cell::RefCell<Vec<Local>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Owns the worker thread; the last [`Logger`] clone dropped drains and stops it.
struct Handle {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        shutdown(&self.shared, &self.thread);
    }
}

fn shutdown(shared: &Shared, thread: &Mutex<Option<JoinHandle<()>>>) {
    shared.stop.store(true, Ordering::SeqCst);
    if let Some(t) = shared.worker.get() {
        t.unpark();
    }
    if shared.frozen.load(Ordering::SeqCst) {
        // The process is ending and the worker waits for the gate forever.
        return;
    }
    if let Some(h) = thread.lock().take() {
        let _ = h.join();
    }
}

/// A non-blocking logger. Cheap to clone; see the [module docs](self).
#[derive(Clone)]
pub struct Logger {
    handle: Arc<Handle>,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger").field("filter", &self.handle.shared.filter).finish_non_exhaustive()
    }
}

/// Configures a [`Logger`].
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder {
    dest: Dest,
    format: Format,
    filter: Result<Filter, String>,
    rotate_bytes: Option<u64>,
    period: Option<Period>,
    keep: Option<usize>,
    clock: Arc<dyn Clock>,
    policy: Backpressure,
    per_thread: usize,
    merge: bool,
    gzip: bool,
}

enum Dest {
    File(PathBuf),
    Stdout,
    Stderr,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder").field("format", &self.format).finish_non_exhaustive()
    }
}

impl Builder {
    /// Writes to `path` (appending; parent directories are created).
    pub fn file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.dest = Dest::File(path.into());
        self
    }
    /// Writes to standard output.
    pub fn stdout(mut self) -> Builder {
        self.dest = Dest::Stdout;
        self
    }
    /// Writes to standard error (the default).
    pub fn stderr(mut self) -> Builder {
        self.dest = Dest::Stderr;
        self
    }
    /// Text (default) or JSON lines.
    pub fn format(mut self, f: Format) -> Builder {
        self.format = f;
        self
    }
    /// A `RUST_LOG`-style filter (default `info`), e.g. `warn,my_app=debug`.
    pub fn filter(mut self, spec: &str) -> Builder {
        self.filter = Filter::parse(spec);
        self
    }
    /// The filter from the `RUST_LOG` environment variable, or `default` if unset.
    pub fn filter_from_env(self, default: &str) -> Builder {
        let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_string());
        self.filter(&spec)
    }
    /// Rotates the file when it would pass `bytes`.
    pub fn rotate_bytes(mut self, bytes: u64) -> Builder {
        self.rotate_bytes = Some(bytes);
        self
    }
    /// Rotates the file at every hour or day (UTC).
    pub fn rotate_every(mut self, p: Period) -> Builder {
        self.period = Some(p);
        self
    }
    /// Keeps at most `n` rotated files (the oldest are deleted).
    pub fn keep(mut self, n: usize) -> Builder {
        self.keep = Some(n);
        self
    }
    /// The clock used for time-based rotation (tests move it by hand).
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Builder {
        self.clock = c;
        self
    }
    /// What a full per-thread queue does (default [`Backpressure::Block`]).
    pub fn backpressure(mut self, b: Backpressure) -> Builder {
        self.policy = b;
        self
    }
    /// Lines each thread's queue holds (default 16,384).
    pub fn queue_capacity(mut self, n: usize) -> Builder {
        self.per_thread = n.max(1);
        self
    }
    /// Compresses rotated files to `.gz` (on a background thread; feature `gzip`).
    #[cfg(feature = "gzip")]
    pub fn gzip(mut self, yes: bool) -> Builder {
        self.gzip = yes;
        self
    }

    /// Writes the lines of all threads in timestamp order (per batch) instead
    /// of thread by thread. Lines of one thread are in order either way.
    pub fn merge_threads(mut self, yes: bool) -> Builder {
        self.merge = yes;
        self
    }

    /// Opens the destination and starts the worker.
    ///
    /// # Errors
    ///
    /// [`LogError::Open`] when the file cannot be opened, [`LogError::Filter`]
    /// for a bad filter, [`LogError::Setup`] when the worker thread cannot start.
    pub fn build(self) -> Result<Logger, LogError> {
        let filter = self.filter.map_err(LogError::Filter)?;
        let sink = match self.dest {
            Dest::File(path) => Sink::file(
                FileSink::open(path.clone(), self.rotate_bytes, self.period, self.keep, self.clock, self.gzip)
                    .map_err(|source| LogError::Open { path, source })?,
            ),
            Dest::Stdout => Sink::stdout(),
            Dest::Stderr => Sink::stderr(),
        };
        let gate = sink.gate();
        let clock = quanta::Clock::new();
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            max_level: AtomicU8::new(filter.max_level().map_or(0, |l| l as u8)),
            filter,
            policy: self.policy,
            per_thread: self.per_thread,
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
            error: Mutex::new(None),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            base: (clock.raw(), SystemTime::now()),
            clock,
            gate,
            frozen: AtomicBool::new(false),
        });
        let worker = Worker {
            shared: Arc::clone(&shared),
            sink,
            format: self.format,
            merge: self.merge,
            stamp: format::Stamp::default(),
            anchor: (shared.base.0, format::epoch_ns(shared.base.1)),
            clock: shared.clock.clone(),
            par_text: String::new(),
            par_ends: Vec::new(),
        };
        let t = std::thread::Builder::new()
            .name("backburner-log".into())
            .spawn(move || worker.run())
            .map_err(|source| LogError::Setup { what: "start the log worker thread", source })?;
        let _ = shared.worker.set(t.thread().clone());
        let handle = Arc::new(Handle { shared, thread: Mutex::new(Some(t)) });
        registry().lock().push(Arc::downgrade(&handle));
        Ok(Logger { handle })
    }
}

impl Logger {
    /// A builder: standard error, text, `info`, lossless.
    pub fn builder() -> Builder {
        Builder {
            dest: Dest::Stderr,
            format: Format::Text,
            filter: Ok(Filter::default()),
            rotate_bytes: None,
            period: None,
            keep: None,
            clock: Arc::new(SystemClock),
            policy: Backpressure::Block,
            per_thread: 16_384,
            merge: false,
            gzip: false,
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Whether a call at this site would be logged.
    #[inline]
    pub fn enabled(&self, site: &Site) -> bool {
        let s = self.shared();
        (site.level as u8) <= s.max_level.load(Ordering::Relaxed) && s.filter.enabled(site.level, site.target)
    }

    /// The time of a call, as the worker will read it.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.handle.shared.clock.raw()
    }

    #[inline]
    fn push(&self, entry: Entry) {
        let id = self.handle.shared.id;
        let mut entry = Some(entry);
        let _ = LOCAL.try_with(|l| {
            let Ok(mut v) = l.try_borrow_mut() else {
                return;
            };
            let local = match v.iter_mut().position(|x| x.id == id) {
                Some(i) => &mut v[i],
                None => {
                    v.push(self.new_local());
                    let last = v.len() - 1;
                    &mut v[last]
                }
            };
            if let Some(e) = entry.take() {
                self.push_to(&mut local.producer, &local.q, e);
            }
        });
        if let Some(e) = entry {
            // No thread-local storage (the thread is exiting, or a log call
            // from inside a log call): a ring of its own for this line.
            let mut local = self.new_local();
            self.push_to(&mut local.producer, &local.q, e);
        }
    }

    #[inline]
    fn push_to(&self, p: &mut rtrb::Producer<Entry>, q: &ThreadQueue, entry: Entry) {
        let s = &self.handle.shared;
        match p.push(entry) {
            Ok(()) => {}
            Err(rtrb::PushError::Full(back)) => {
                if !self.full(p, q, back) {
                    return;
                }
            }
        }
        // Only this thread writes its counter: no read-modify-write needed.
        q.pushed.store(q.pushed.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if s.sleeping.load(Ordering::Relaxed) {
            if let Some(t) = s.worker.get() {
                t.unpark();
            }
        }
    }

    /// A line that found its ring full: waits for room, or drops the line
    /// and counts it, as the policy says. Whether the line went in.
    #[cold]
    fn full(&self, p: &mut rtrb::Producer<Entry>, q: &ThreadQueue, mut back: Entry) -> bool {
        let s = &self.handle.shared;
        // `None`: wait as long as it takes (also for a wait too long to
        // have an end).
        let deadline = match s.policy {
            Backpressure::Block => None,
            Backpressure::Timeout(d) if !d.is_zero() => Instant::now().checked_add(d),
            Backpressure::Timeout(_) | Backpressure::DropNewest => {
                q.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        let mut round = 0u32;
        loop {
            if let Some(t) = s.worker.get() {
                t.unpark();
            }
            match deadline {
                // Block: yield until there is room (the worker is woken).
                None => std::thread::yield_now(),
                // Timeout: yield a few times, then sleep in growing naps
                // (at most 1 ms, and never past the deadline).
                Some(end) => {
                    if round < 16 {
                        std::thread::yield_now();
                    } else {
                        let nap = Duration::from_micros(1 << (round - 16).min(10));
                        std::thread::sleep(nap.min(end.saturating_duration_since(Instant::now())));
                    }
                    round = round.saturating_add(1);
                }
            }
            match p.push(back) {
                Ok(()) => return true,
                Err(rtrb::PushError::Full(b)) => back = b,
            }
            if s.stop.load(Ordering::SeqCst) && s.worker_gone() {
                return false;
            }
            if deadline.is_some_and(|end| Instant::now() >= end) {
                q.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
    }

    #[cold]
    fn new_local(&self) -> Local {
        let s = self.shared();
        let name = std::thread::current()
            .name()
            .map(Box::from)
            .unwrap_or_else(|| format!("{:?}", std::thread::current().id()).into_boxed_str());
        let (producer, consumer) = rtrb::RingBuffer::new(s.per_thread);
        let q = Arc::new(ThreadQueue {
            consumer: Mutex::new(consumer),
            capacity: s.per_thread,
            pushed: CachePadded::new(AtomicU64::new(0)),
            dropped: CachePadded::new(AtomicU64::new(0)),
            name,
        });
        s.queues.lock().push(Arc::clone(&q));
        s.queue_count.fetch_add(1, Ordering::Relaxed);
        s.queues_version.fetch_add(1, Ordering::SeqCst);
        Local { id: s.id, producer, q }
    }

    #[doc(hidden)]
    #[inline]
    pub fn push_deferred(&self, site: &'static Site, render: Render, args: [ArgVal; MAX_ARGS]) {
        let at = self.now();
        self.push(Entry { at, site, msg: Message::Deferred { render, args } });
    }

    #[doc(hidden)]
    #[inline]
    pub fn push_static(&self, site: &'static Site, msg: &'static str) {
        let at = self.now();
        self.push(Entry { at, site, msg: Message::Static(msg) });
    }

    #[doc(hidden)]
    #[cold]
    pub fn push_formatted(&self, site: &'static Site, args: fmt::Arguments<'_>) {
        let at = self.now();
        let msg = Message::Formatted(args.to_string().into_boxed_str());
        self.push(Entry { at, site, msg });
    }

    /// Blocks until every line logged before the call is written to the
    /// destination (handed to the operating system).
    ///
    /// # Errors
    ///
    /// [`LogError::Write`] if lines could not be written since the last
    /// flush; [`LogError::Closed`] if the worker is gone, or frozen by the
    /// end of the process (the lines logged since may be lost).
    pub fn flush(&self) -> Result<(), LogError> {
        self.flush_inner(false)
    }

    /// Like [`flush`](Logger::flush), then syncs the file to disk.
    ///
    /// # Errors
    ///
    /// As [`flush`](Logger::flush).
    pub fn sync(&self) -> Result<(), LogError> {
        self.flush_inner(true)
    }

    fn flush_inner(&self, sync: bool) -> Result<(), LogError> {
        let s = self.shared();
        let req = s.flush_req.fetch_add(1, Ordering::SeqCst) + 1;
        if sync {
            s.sync_req.fetch_max(req, Ordering::SeqCst);
        }
        if let Some(t) = s.worker.get() {
            t.unpark();
        }
        let done = |s: &Shared| {
            s.flush_done.load(Ordering::SeqCst) >= req && (!sync || s.sync_done.load(Ordering::SeqCst) >= req)
        };
        let mut g = s.flush_lock.lock();
        while !done(s) {
            if s.worker_gone() || s.frozen.load(Ordering::SeqCst) {
                return Err(LogError::Closed);
            }
            s.flush_cv.wait_for(&mut g, Duration::from_millis(50));
        }
        drop(g);
        match s.error.lock().take() {
            None => Ok(()),
            Some((lines, message)) => Err(LogError::Write { lines, message }),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LogStats {
        let s = self.shared();
        // One lock, released before the counters are read (a guard held across
        // two `lock()` calls in one expression deadlocks).
        let (logged, queued_drops) = {
            let queues = s.queues.lock();
            queues
                .iter()
                .fold((0, 0), |(l, d), q| (l + q.pushed.load(Ordering::Relaxed), d + q.dropped.load(Ordering::Relaxed)))
        };
        LogStats {
            logged: logged + s.retired_pushed.load(Ordering::Relaxed),
            written: s.written.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed) + queued_drops,
            write_errors: s.write_errors.load(Ordering::Relaxed),
            rotations: s.rotations.load(Ordering::Relaxed),
            threads: s.queue_count.load(Ordering::Relaxed) as u64,
        }
    }

    /// Makes this logger the `log` facade's logger, and registers an exit
    /// handler that drains it on `std::process::exit`. Keep the guard
    /// alive until the end of `main`: dropping it drains the logger.
    ///
    /// # Errors
    ///
    /// [`LogError::AlreadyInstalled`] if the facade has a logger already.
    pub fn install(&self) -> Result<Guard, LogError> {
        ::log::set_boxed_logger(Box::new(Facade { logger: self.clone() })).map_err(|_| LogError::AlreadyInstalled)?;
        ::log::set_max_level(Level::to_log_filter(self.shared().filter.max_level()));
        exit::register();
        Ok(Guard { logger: self.clone() })
    }

    /// A guard without installing the `log` facade (the exit handler is
    /// registered all the same).
    pub fn guard(&self) -> Guard {
        exit::register();
        Guard { logger: self.clone() }
    }

    fn log_record(&self, record: &::log::Record<'_>) {
        let level = Level::from_log(record.level());
        let target = record.target();
        if !self.shared().filter.enabled(level, target) {
            return;
        }
        let site = runtime_site(level);
        let at = self.now();
        let text = match record.args().as_str() {
            Some(s) => Box::from(s),
            None => record.args().to_string().into_boxed_str(),
        };
        let mut fields = Vec::new();
        let _ = record.key_values().visit(&mut KvCollect(&mut fields));
        let msg = Message::Facade(Box::new(FacadeMsg {
            msg: text,
            target: target.into(),
            fields: fields.into_boxed_slice(),
        }));
        self.push(Entry { at, site, msg });
    }
}

/// The site of records whose target and place come at run time (the `log`
/// facade, `tracing`): only the level is static.
pub(crate) fn runtime_site(level: Level) -> &'static Site {
    static SITES: [Site; 5] = [
        Site { level: Level::Error, target: "", file: "", line: 0 },
        Site { level: Level::Warn, target: "", file: "", line: 0 },
        Site { level: Level::Info, target: "", file: "", line: 0 },
        Site { level: Level::Debug, target: "", file: "", line: 0 },
        Site { level: Level::Trace, target: "", file: "", line: 0 },
    ];
    &SITES[level as usize - 1]
}

struct KvCollect<'a>(&'a mut Vec<(Box<str>, Box<str>)>);

impl<'kvs> ::log::kv::VisitSource<'kvs> for KvCollect<'_> {
    fn visit_pair(&mut self, key: ::log::kv::Key<'kvs>, value: ::log::kv::Value<'kvs>) -> Result<(), ::log::kv::Error> {
        self.0.push((key.as_str().into(), value.to_string().into_boxed_str()));
        Ok(())
    }
}

impl Shared {
    /// Wakes the callers waiting in `flush` or `sync`.
    fn wake_flushers(&self) {
        let _g = self.flush_lock.lock();
        self.flush_cv.notify_all();
    }

    fn worker_gone(&self) -> bool {
        self.worker.get().is_none() || self.flush_done.load(Ordering::SeqCst) == u64::MAX
    }
}

/// The `log` facade's logger.
struct Facade {
    logger: Logger,
}

impl ::log::Log for Facade {
    fn enabled(&self, m: &::log::Metadata<'_>) -> bool {
        self.logger.shared().filter.enabled(Level::from_log(m.level()), m.target())
    }
    fn log(&self, record: &::log::Record<'_>) {
        self.logger.log_record(record);
    }
    fn flush(&self) {
        let _ = self.logger.flush();
    }
}

/// Drains the logger when dropped. Keep it alive for the life of `main`.
#[must_use = "dropping the guard drains and flushes the logger; keep it until the end of main"]
#[derive(Debug)]
pub struct Guard {
    logger: Logger,
}

impl Guard {
    /// Flushes now; see [`Logger::flush`].
    ///
    /// # Errors
    ///
    /// As [`Logger::flush`].
    pub fn flush(&self) -> Result<(), LogError> {
        self.logger.flush()
    }

    /// On SIGTERM and SIGINT, drains and ends the process (opt-in): drains
    /// every logger of the process, closes every open
    /// [`Store`](crate::Store) (draining the writes it accepted), drains the
    /// loggers again (closing may log), then ends the process as the signal
    /// would have. Also drains the loggers on SIGABRT (`abort`, a panic with
    /// `panic = "abort"`), which then ends the process. The same as
    /// [`handle_signals_with(OnSignal::Exit)`](Guard::handle_signals_with).
    ///
    /// For a program that handles SIGTERM itself (a graceful shutdown),
    /// use [`OnSignal::Continue`].
    ///
    /// Ok does not promise that a line logged after the drain reaches the
    /// file (it is then lost, never cut short), nor that a store's drain
    /// succeeds (a failure is printed on standard error).
    ///
    /// # Errors
    ///
    /// [`LogError::Setup`] when the signal thread, its pipes or the SIGABRT
    /// handler cannot be set up.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let log = backburner::log::Logger::builder().file("logs/app.log").build()?;
    /// let guard = log.install()?;
    /// guard.handle_signals()?; // SIGTERM: logs and stores drained, then the process ends
    /// # Ok(())
    /// # }
    /// ```
    pub fn handle_signals(&self) -> Result<(), LogError> {
        self.handle_signals_with(OnSignal::Exit)
    }

    /// Handles SIGTERM and SIGINT as `on` says (see [`OnSignal`]), and
    /// SIGABRT as [`handle_signals`](Guard::handle_signals) does. Set up
    /// once per process; a later call only changes what the signals do.
    ///
    /// The handlers go through signal-hook's registry, as `tokio::signal`'s
    /// do, so both are called, in any order of set-up. A handler installed
    /// with `sigaction` directly (the `ctrlc` crate) replaces this one if it
    /// is installed after it: call this after installing it.
    ///
    /// Ok does not promise more than [`handle_signals`](Guard::handle_signals) does.
    ///
    /// # Errors
    ///
    /// [`LogError::Setup`] when the signal thread, its pipes or the SIGABRT
    /// handler cannot be set up.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use backburner::log::{Logger, OnSignal};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let log = Logger::builder().file("logs/app.log").build()?;
    /// let guard = log.install()?;
    /// // The program's own SIGTERM handler (axum's graceful shutdown, say)
    /// // stops the server and closes the store; the logger drains on the
    /// // signal and keeps taking lines meanwhile.
    /// guard.handle_signals_with(OnSignal::Continue)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn handle_signals_with(&self, on: OnSignal) -> Result<(), LogError> {
        exit::signals(on).map_err(|source| LogError::Setup { what: "install the signal handlers", source })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.logger.flush() {
            eprintln!("backburner: log flush at exit failed: {e}");
        }
    }
}

/// Freezes every live logger at the end of the process: takes each one's
/// gate and keeps it, once the write in flight (if any) is done, so that no
/// write is under way when the process ends and none starts after. Lines
/// logged from then on stay in the rings.
fn freeze_all() {
    let loggers: Vec<Arc<Handle>> = registry().lock().iter().filter_map(Weak::upgrade).collect();
    for h in loggers {
        std::mem::forget(h.shared.gate.lock());
        h.shared.frozen.store(true, Ordering::SeqCst);
        // Not dropped (the last clone would join the frozen worker).
        std::mem::forget(h);
    }
}

/// Logs `msg` as a warning of `backburner::log` to every live logger whose
/// filter lets it through (the signal thread's notes).
fn note_all(msg: &'static str) {
    static SITE: Site = Site { level: Level::Warn, target: "backburner::log", file: file!(), line: line!() };
    let loggers: Vec<Arc<Handle>> = registry().lock().iter().filter_map(Weak::upgrade).collect();
    for h in loggers {
        let l = Logger { handle: h };
        if l.enabled(&SITE) {
            l.push_static(&SITE, msg);
        }
        // Not dropped here (the last clone would join the worker).
        std::mem::forget(l);
    }
}

/// Flushes every live logger (exit handler, signals).
fn flush_all() {
    let loggers: Vec<Arc<Handle>> = registry().lock().iter().filter_map(Weak::upgrade).collect();
    for h in loggers {
        let l = Logger { handle: h };
        if let Err(e) = l.flush() {
            eprintln!("backburner: log flush failed: {e}");
        }
        // Not dropped here (the last clone would join the worker from an exit handler).
        std::mem::forget(l);
    }
}

mod exit;

/// Lines taken from one ring per pass outside a flush.
const PASS_MAX: usize = 4096;

/// A waited-for backlog at least this long is formatted on two threads.
const PAR_MIN: usize = 8192;

/// Wall-clock nanoseconds of a raw clock reading, from an anchor pair.
fn wall(anchor: (u64, u64), clock: &quanta::Clock, at: u64) -> u64 {
    let (raw, wall) = anchor;
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if at >= raw {
        wall.saturating_add(ns(clock.delta(raw, at)))
    } else {
        wall.saturating_sub(ns(clock.delta(at, raw)))
    }
}

/// Appends one entry's line to `out`.
fn format_entry(out: &mut String, stamp: &mut format::Stamp, fmt: Format, ts: u64, e: &Entry, thread: &str) {
    let render = |o: &mut String| e.render(o);
    let line = format::Line { ts, level: e.level(), target: e.target(), thread, msg: &render, fields: e.fields() };
    format::write_line(out, stamp, fmt, &line);
}

/// Calls `f` on each entry, with the entries a few ahead already on their
/// way into the cache: they were written by another core, and reading them
/// one by one waited for each transfer (the worker formatted a backlog about
/// twice as slowly as the same entries already in its cache).
#[inline]
fn write_entries<'a, R: std::borrow::Borrow<Entry>>(entries: &'a [R], mut f: impl FnMut(&'a Entry)) {
    const AHEAD: usize = 8;
    for (i, e) in entries.iter().enumerate() {
        if let Some(next) = entries.get(i + AHEAD) {
            let next: *const Entry = next.borrow();
            prefault::prefetch(next);
            prefault::prefetch(next.cast::<u8>().wrapping_add(64));
        }
        f(e.borrow());
    }
}

/// The worker: drains every thread's queue, formats, writes.
struct Worker {
    shared: Arc<Shared>,
    sink: Sink,
    format: Format,
    merge: bool,
    stamp: format::Stamp,
    /// A raw clock reading and the wall-clock time (ns since the epoch) at the same moment.
    anchor: (u64, u64),
    /// The logger's clock (a copy: read for every line).
    clock: quanta::Clock,
    /// The second formatting thread's text and line ends (reused).
    par_text: String,
    par_ends: Vec<usize>,
}

impl Worker {
    fn run(mut self) {
        let mut batch: Vec<(Entry, Arc<ThreadQueue>)> = Vec::new();
        let mut idle_rounds = 0u32;
        let mut dirty = false;
        let mut queues: Vec<Arc<ThreadQueue>> = Vec::new();
        let mut seen_version = usize::MAX;
        loop {
            self.reanchor();
            let flush_target = self.shared.flush_req.load(Ordering::SeqCst);
            let stop = self.shared.stop.load(Ordering::SeqCst);
            let version = self.shared.queues_version.load(Ordering::SeqCst);
            if version != seen_version {
                queues = self.shared.queues.lock().clone();
                seen_version = version;
            }
            let mut gone = false;
            let mut n = 0;
            // A flush is answered after one pass that took everything the
            // rings held when it began (what was logged before the flush
            // call), even while other threads keep logging.
            let flushing = flush_target > self.shared.flush_done.load(Ordering::SeqCst);
            let mut rest = false;
            let mut behind = false;
            for q in &queues {
                // Drop notices first, in place of the lines they stand for.
                let d = q.dropped.swap(0, Ordering::Relaxed);
                if d > 0 {
                    self.shared.dropped.fetch_add(d, Ordering::Relaxed);
                    self.notice(q, d);
                }
                let name: &str = &q.name;
                let mut c = q.consumer.lock();
                // The thread ended and its ring is empty: forget it.
                gone |= c.is_abandoned() && c.is_empty();
                // Up to 4096 lines per ring and pass (all of them while a
                // flush waits), so that one busy thread does not starve others.
                let take = if flushing { c.slots() } else { c.slots().min(PASS_MAX) };
                if flushing && !self.merge && take >= PAR_MIN {
                    // Someone waits for a backlog: format it on two threads
                    // (the flushing caller is idle meanwhile, and with it a core).
                    // Formatted in place in the ring (no copy), then released.
                    if let Ok(rc) = c.read_chunk(take) {
                        let (a, b) = rc.as_slices();
                        let entries: Vec<&Entry> = a.iter().chain(b).collect();
                        n += entries.len();
                        self.write_parallel(&entries, name);
                        rc.commit_all();
                    }
                    rest |= !c.is_empty();
                    continue;
                }
                // Popped one by one (not formatted in place): an entry may
                // own a heap string (a `tracing` event, a line formatted on
                // the caller), and releasing thousands at once made the
                // callers' allocations wait on the allocator (tracing layer
                // p99.9 3.7 -> 11-15 µs).
                for _ in 0..take {
                    let Ok(e) = c.pop() else { break };
                    n += 1;
                    if self.merge {
                        batch.push((e, Arc::clone(q)));
                    } else {
                        self.write_entry(&e, name);
                    }
                }
                rest |= !c.is_empty();
                // Capped at 4,096 with more behind: thousands of lines behind.
                behind |= take == PASS_MAX && !c.is_empty();
            }
            if gone {
                let shared = &self.shared;
                shared.queues.lock().retain(|q| {
                    let c = q.consumer.lock();
                    let keep = !(c.is_abandoned() && c.is_empty());
                    if !keep {
                        shared.retired_pushed.fetch_add(q.pushed.load(Ordering::Relaxed), Ordering::Relaxed);
                        shared.dropped.fetch_add(q.dropped.swap(0, Ordering::Relaxed), Ordering::Relaxed);
                    }
                    keep
                });
                self.shared.queues_version.fetch_add(1, Ordering::SeqCst);
            }
            if self.merge && !batch.is_empty() {
                batch.sort_by_key(|(e, _)| e.at);
                for (e, q) in batch.drain(..) {
                    self.write_entry(&e, &q.name);
                }
            }
            if n > 0 {
                dirty = true;
                idle_rounds = 0;
            }
            if n > 0 && !flushing && self.maybe_sync() {
                self.shared.wake_flushers();
            }
            if n > 0 && !flushing {
                // Do not chase the producers line by line: a worker reading a
                // slot right after it was written makes every push miss the
                // cache. Let the queues fill a while (they hold thousands of
                // lines), unless a flush waits or a queue is half full.
                // A pass that stopped at its cap with more lines waiting is
                // far enough behind the producers to go on at once
                // (thousands of lines apart); one that merely found a few
                // new lines at its end naps.
                let pressed = behind || queues.iter().any(|q| q.consumer.lock().slots() * 2 >= q.capacity);
                if !pressed && !stop && flush_target <= self.shared.flush_done.load(Ordering::SeqCst) {
                    std::thread::park_timeout(Duration::from_micros(200));
                }
                continue;
            }
            // Queues empty, or a flush waits: hand the buffer to the OS, answer it.
            if dirty {
                let w = self.sink.flush();
                self.count(w);
                dirty = false;
            }
            self.shared.rotations.store(self.sink.rotations(), Ordering::Relaxed);
            let mut answered = false;
            if flushing {
                self.shared.flush_done.store(flush_target, Ordering::SeqCst);
                answered = true;
            }
            answered |= self.maybe_sync();
            if answered {
                self.shared.wake_flushers();
            }
            if n > 0 || rest {
                // A flush pass that left lines behind: go on draining.
                continue;
            }
            if stop {
                break;
            }
            // Park: short naps first, then long sleeps that producers end.
            idle_rounds += 1;
            if idle_rounds > 100 {
                self.shared.sleeping.store(true, Ordering::SeqCst);
                if !self.any_pending() {
                    std::thread::park_timeout(Duration::from_millis(10));
                }
                self.shared.sleeping.store(false, Ordering::SeqCst);
            } else {
                std::thread::park_timeout(Duration::from_micros(500));
            }
        }
        let w = self.sink.sync();
        self.count(w);
        self.shared.flush_done.store(u64::MAX, Ordering::SeqCst);
        self.shared.sync_done.store(u64::MAX, Ordering::SeqCst);
        self.shared.wake_flushers();
    }

    /// Wall-clock time of a raw reading, from the anchor (re-taken every
    /// second, so that calibration drift cannot add up).
    fn wall(&self, at: u64) -> u64 {
        wall(self.anchor, &self.clock, at)
    }

    /// Formats `entries` (one ring's, in order): the last 55 % on a scoped
    /// thread into a text of its own, the rest here; then appends that text
    /// (`Sink::append_lines`: in one block, or line by line if a rotation
    /// falls inside it, so rotation stays between lines).
    fn write_parallel(&mut self, entries: &[&Entry], thread: &str) {
        // The second thread gets a little more: this one also writes.
        let (first, second) = entries.split_at(entries.len() * 9 / 20);
        let (anchor, clock, fmt) = (self.anchor, self.clock.clone(), self.format);
        // Reused between flushes: its pages are touched once.
        let mut text = std::mem::take(&mut self.par_text);
        let mut ends = std::mem::take(&mut self.par_ends);
        let other = std::thread::scope(|s| {
            let spawned = std::thread::Builder::new().name("backburner-log-fmt".into()).spawn_scoped(s, move || {
                let mut stamp = format::Stamp::default();
                text.clear();
                ends.clear();
                // Room for the whole half at once (lines are rarely longer
                // than 128 bytes), mapped in one call: growing the text
                // copied it at each doubling and faulted its pages in one by one.
                let want = second.len() * 128;
                if text.capacity() < want {
                    text.reserve(want);
                    prefault::populate(text.as_ptr() as usize, want);
                }
                ends.reserve(second.len());
                write_entries(second, |e| {
                    format_entry(&mut text, &mut stamp, fmt, wall(anchor, &clock, e.at), e, thread);
                    ends.push(text.len());
                });
                (text, ends)
            });
            write_entries(first, |e| self.write_entry(e, thread));
            spawned.ok().and_then(|h| h.join().ok())
        });
        match other {
            Some((text, ends)) => {
                let w = self.sink.append_lines(&text, &ends);
                self.count(w);
                self.par_text = text;
                self.par_ends = ends;
            }
            // No thread (or it failed): format the rest here.
            None => {
                for e in second {
                    self.write_entry(e, thread);
                }
            }
        }
    }

    fn reanchor(&mut self) {
        let now = self.clock.raw();
        if self.clock.delta(self.anchor.0, now) >= Duration::from_secs(1) {
            self.anchor = (self.clock.raw(), format::epoch_ns(SystemTime::now()));
        }
    }

    /// `Logger::sync`: once the lines of a sync request are written (its
    /// flush answered), sync the file. Called on every pass, busy or not, so
    /// a sync asked just after its flush was answered is not kept waiting.
    fn maybe_sync(&mut self) -> bool {
        let want = self.shared.sync_req.load(Ordering::SeqCst);
        if want > self.shared.sync_done.load(Ordering::SeqCst) && self.shared.flush_done.load(Ordering::SeqCst) >= want
        {
            let w = self.sink.sync();
            self.count(w);
            self.shared.sync_done.store(want, Ordering::SeqCst);
            return true;
        }
        false
    }

    fn any_pending(&self) -> bool {
        self.shared.flush_req.load(Ordering::SeqCst) > self.shared.flush_done.load(Ordering::SeqCst)
            || self.shared.stop.load(Ordering::SeqCst)
            || self.shared.queues.lock().iter().any(|q| !q.consumer.lock().is_empty())
    }

    fn write_entry(&mut self, e: &Entry, thread: &str) {
        let ts = self.wall(e.at);
        let buf = self.sink.buf();
        let start = buf.len();
        format_entry(buf, &mut self.stamp, self.format, ts, e, thread);
        let w = self.sink.commit(start);
        self.count(w);
    }

    /// Formats a line at the end of the sink's buffer and commits it.
    fn emit(&mut self, line: &format::Line<'_>) {
        let buf = self.sink.buf();
        let start = buf.len();
        format::write_line(buf, &mut self.stamp, self.format, line);
        let w = self.sink.commit(start);
        self.count(w);
    }

    /// Counts what the sink wrote (only what reached the OS counts as
    /// written) or lost.
    fn count(&self, w: sink::Wrote) {
        if w.lines > 0 {
            self.shared.written.fetch_add(w.lines, Ordering::Relaxed);
        }
        if let Some(e) = w.error {
            self.failed(w.lost, &e.to_string());
        }
    }

    fn notice(&mut self, q: &ThreadQueue, dropped: u64) {
        let ts = format::epoch_ns(SystemTime::now());
        let policy = self.shared.policy;
        let text = format!(
            "{dropped} log line(s) from this thread were dropped: its queue was full (Backpressure::{policy:?})"
        );
        let msg = |out: &mut String| out.push_str(&text);
        let line =
            format::Line { ts, level: Level::Warn, target: "backburner::log", thread: &q.name, msg: &msg, fields: &[] };
        self.emit(&line);
    }

    fn failed(&self, lines: u64, message: &str) {
        self.shared.write_errors.fetch_add(lines, Ordering::Relaxed);
        let mut e = self.shared.error.lock();
        match &mut *e {
            Some((n, _)) => *n += lines,
            None => *e = Some((lines, message.to_string())),
        }
    }
}
