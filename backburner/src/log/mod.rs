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
//! **A worker that panics** (a [`Clock`] that panics, say) latches the
//! logger: [`Logger::flush`] and [`Logger::sync`] return
//! [`LogError::Poisoned`] at once, a caller waiting for room in a full
//! queue stops waiting, and every later log call drops its line and counts
//! it ([`LogStats::dropped`]). The lines not yet written are lost; build a
//! new logger.
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

// This file is the front end (`Logger`, `Builder`, `Guard`). Imports point
// down; from the top:
//   facade.rs, tracing_layer.rs   adapters over `Logger`
//   mod.rs                        the front end
//   exit.rs                       the end of the process, `OnSignal`
//   registry.rs                   `Handle` (owns the worker), the live loggers
//   worker.rs                     the worker thread
//   push.rs                       the log call's path into the rings
//   shared.rs                     `ThreadQueue`, `Shared`: flush, sync, stats
//   sink.rs                       the line handling over any destination
//   file.rs, stdio.rs             the destinations of the crate
//   destination.rs                the `Destination` trait
//   record.rs, format.rs, filter.rs, error.rs, prefault.rs
//   level.rs                      `Level`
mod destination;
mod error;
pub(crate) mod exit;
mod facade;
mod file;
mod filter;
mod format;
mod level;
#[doc(hidden)]
pub mod macros;
mod prefault;
mod push;
mod record;
mod registry;
mod shared;
mod sink;
mod stdio;
#[cfg(feature = "tracing")]
mod tracing_layer;
mod worker;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::backpressure::Backpressure;
pub use destination::Destination;
pub use error::{LogError, LogStats};
pub use exit::OnSignal;
pub use file::{Clock, Period, SystemClock};
pub use filter::Filter;
pub use format::Format;
pub use level::Level;
#[doc(hidden)]
pub use record::{ArgVal, Capture, CaptureCheap, CaptureFallback, Site, MAX_ARGS};
#[cfg(feature = "tracing")]
pub use tracing_layer::TracingLayer;

use self::file::FileDestination;
use self::record::{Entry, Message, Render};
use self::registry::Handle;
use self::shared::Shared;
use self::sink::Sink;

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
    Own(Box<dyn Destination>),
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder").field("format", &self.format).finish_non_exhaustive()
    }
}

impl Builder {
    /// Writes to `path` (appending; parent directories are created).
    /// Replaces an earlier choice of destination, as do
    /// [`stdout`](Builder::stdout), [`stderr`](Builder::stderr) and
    /// [`destination`](Builder::destination).
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
    /// Writes to a destination of your own (see [`Destination`]: the
    /// logger keeps its lines whole, counts them and reports its errors as
    /// for a file). The file's settings ([`rotate_bytes`](Builder::rotate_bytes),
    /// [`rotate_every`](Builder::rotate_every), [`keep`](Builder::keep),
    /// [`clock`](Builder::clock), `gzip`) do not apply to it; it rotates if
    /// it says so itself ([`Destination::rotation_due`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use backburner::log::{Destination, Logger};
    ///
    /// /// Lines to nowhere, counted.
    /// struct Count(usize);
    ///
    /// impl Destination for Count {
    ///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
    ///         self.0 += bytes.iter().filter(|&&b| b == b'\n').count();
    ///         Ok(bytes.len())
    ///     }
    /// }
    ///
    /// let log = Logger::builder().destination(Count(0)).build()?;
    /// backburner::info!(log, "counted");
    /// log.flush()?;
    /// assert_eq!(log.stats().written, 1);
    /// # Ok::<(), backburner::log::LogError>(())
    /// ```
    pub fn destination(mut self, dest: impl Destination) -> Builder {
        self.dest = Dest::Own(Box::new(dest));
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
        let dest: Box<dyn Destination> = match self.dest {
            Dest::File(path) => Box::new(
                FileDestination::open(path.clone(), self.rotate_bytes, self.period, self.keep, self.clock, self.gzip)
                    .map_err(|source| LogError::Open { path, source })?,
            ),
            Dest::Stdout => Box::new(stdio::Stdout::new()),
            Dest::Stderr => Box::new(stdio::Stderr::new()),
            Dest::Own(dest) => dest,
        };
        let sink = Sink::new(dest);
        let shared = Arc::new(Shared::new(filter, self.format, self.policy, self.per_thread, sink.gate()));
        let t = self::worker::spawn(&shared, sink, self.format, self.merge)
            .map_err(|source| LogError::Setup { what: "start the log worker thread", source })?;
        // The exit handler drains every logger of the process, and joins
        // a worker whose last clone was dropped on an executor thread (see
        // `registry::shutdown`): registered with the first logger.
        self::exit::register();
        Ok(Logger { handle: Handle::register(shared, t) })
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
        self.shared().enabled(site)
    }

    /// The time of a call, as the worker will read it.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.handle.shared.clock.raw()
    }

    #[inline]
    fn push(&self, entry: Entry) {
        self.handle.shared.push(entry);
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
    /// flush; [`LogError::Poisoned`], at once, if the worker panicked;
    /// [`LogError::Closed`] if the worker is gone, or frozen by the end of
    /// the process (the lines logged since may be lost).
    pub fn flush(&self) -> Result<(), LogError> {
        self.shared().flush(false)
    }

    /// Like [`flush`](Logger::flush), then syncs the file to disk.
    ///
    /// # Errors
    ///
    /// As [`flush`](Logger::flush).
    pub fn sync(&self) -> Result<(), LogError> {
        self.shared().flush(true)
    }

    /// The async form of [`flush`](Logger::flush): resolves once every line
    /// logged before the call is handed to the operating system, without
    /// blocking a thread, under any executor (the worker wakes the task).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels only the wait: the worker writes the
    /// lines all the same, and a write error it would have reported stays
    /// for the next flush.
    ///
    /// # Errors
    ///
    /// As [`flush`](Logger::flush).
    pub async fn flush_async(&self) -> Result<(), LogError> {
        self.shared().flush_async(false).await
    }

    /// The async form of [`sync`](Logger::sync); cancel safety and errors as
    /// [`flush_async`](Logger::flush_async).
    ///
    /// # Errors
    ///
    /// As [`flush`](Logger::flush).
    pub async fn sync_async(&self) -> Result<(), LogError> {
        self.shared().flush_async(true).await
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LogStats {
        self.shared().stats()
    }

    /// A guard without installing the `log` facade (the exit handler is
    /// registered all the same).
    pub fn guard(&self) -> Guard {
        self::exit::register();
        Guard { logger: self.clone() }
    }
}

/// Drains the logger when dropped. Keep it alive for the life of `main`.
///
/// Dropped on an ordinary thread, it waits until every line logged before
/// is handed to the operating system. Dropped inside a tokio runtime
/// (feature `tokio`, on by default), it never blocks the executor: it asks
/// the worker to write what is queued and returns; the exit handler that
/// the guard registered drains the rest before the process ends, whether
/// `main` returns or calls `std::process::exit`. To know that the lines are
/// written, `logger.flush_async().await` first.
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
        self::exit::signals(on).map_err(|source| LogError::Setup { what: "install the signal handlers", source })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if crate::drain::on_executor() {
            // An executor thread must not wait: the worker goes on writing,
            // and the exit handler (registered with the guard) drains what
            // is left before the process ends.
            self.logger.shared().flush_soon();
            return;
        }
        if let Err(e) = self.logger.flush() {
            eprintln!("backburner: log flush at exit failed: {e}");
        }
    }
}
