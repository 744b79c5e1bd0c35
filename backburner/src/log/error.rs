//! What the logger reports: its errors ([`LogError`]) and its counters
//! ([`LogStats`]). Uses nothing else of the logger.

use std::path::PathBuf;

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
    /// The worker thread panicked: the logger is latched. `flush` and
    /// `sync` return this at once, every time; the lines not yet written
    /// when it panicked are lost, and every later log call drops its line
    /// (counted in [`LogStats::dropped`]). Build a new logger.
    #[error("the log worker stopped: {reason}; the lines not yet written are lost and later lines are dropped; build a new logger")]
    Poisoned {
        /// What stopped the worker (the thread and its panic's message).
        reason: String,
    },
    /// `flush` or `sync` was called on the log worker's own thread (from a
    /// panic hook, a [`Clock`](crate::log::Clock), or a `log` call the
    /// worker makes): the worker cannot wait for itself, so the call
    /// returns at once without flushing.
    #[error("flush or sync was called on the log worker's own thread (a panic hook or a Clock running there); the worker cannot wait for itself, so nothing was flushed")]
    OnWorker,
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
    /// Lines dropped: a queue was full (`DropNewest`), or stayed full for
    /// the whole wait (`Timeout`); or the line was logged after the worker
    /// panicked ([`LogError::Poisoned`]). Not counted in `logged`.
    pub dropped: u64,
    /// Lines lost to write errors (not in the destination).
    pub write_errors: u64,
    /// Rotations of the log file.
    pub rotations: u64,
    /// Threads that have logged.
    pub threads: u64,
}
