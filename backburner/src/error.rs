//! The error type of every fallible operation.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::write::Write;
use crate::Seq;

/// Everything that can go wrong in a [`Store`](crate::Store).
///
/// Errors that refuse a write hand the write back (`write`), so nothing the
/// caller handed over is lost silently: it was either accepted (and a
/// [`Ticket`](crate::Ticket) was issued) or it is in the error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store was closed (by [`Store::close`](crate::Store::close) or by
    /// dropping the last handle) before the call.
    #[error("the store is closed: {}", if .write.is_some() { "the write was not accepted (it is handed back in this error); open the store again to write" } else { "open it again to read, write or flush" })]
    Closed {
        /// The write that was refused, for writes; `None` for reads and flushes.
        write: Option<Box<Write>>,
    },

    /// The queue was full and the store uses [`Backpressure::DropNewest`](crate::Backpressure::DropNewest).
    #[error("the queue is full (capacity {capacity}) and the policy is DropNewest: the write was dropped and counted; it is handed back in this error. Raise the capacity or use Backpressure::Block to never drop")]
    QueueFull {
        /// The write that was dropped.
        write: Box<Write>,
        /// The queue's capacity.
        capacity: usize,
    },

    /// The queue stayed full for the whole [`Backpressure::Timeout`](crate::Backpressure::Timeout).
    #[error("the queue stayed full for {timeout:?}: the write was not accepted (it is handed back in this error); the sink is slower than the producers, raise the timeout or the capacity")]
    Timeout {
        /// The write that was not accepted.
        write: Box<Write>,
        /// The timeout that expired.
        timeout: Duration,
    },

    /// The sink rejected this write for good (a constraint violation, bad
    /// SQL, …) or, without a journal, kept failing after every retry. The
    /// write was moved to the dead-letter file. When only this write was
    /// refused, the writes around it were committed; when the sink kept
    /// failing, the whole batch was given up.
    #[error("write {seq} was not applied: {reason}; {}", dead_letter_note(.dead_letter))]
    Rejected {
        /// The write's sequence number.
        seq: Seq,
        /// What the sink said.
        reason: String,
        /// Where the write was saved, if it could be saved.
        dead_letter: Option<PathBuf>,
    },

    /// The sink stayed unavailable (locked, down, its disk full) and the
    /// write was given up without the sink refusing it: by the retry budget
    /// ([`Builder::retries`](crate::Builder::retries)), by
    /// [`Store::close_timeout`](crate::Store::close_timeout), or by the drain
    /// timeout of the last handle's drop
    /// ([`Builder::drain_timeout`](crate::Builder::drain_timeout)). The write
    /// was moved to the dead-letter file: replay it with `backburner
    /// dead-letter replay FILE --to URL` once the sink is back. Unlike
    /// [`Error::Rejected`], the write itself may be fine (a service answers
    /// 503, not 422).
    #[error("write {seq} was given up while the sink was unavailable: {reason}; {}; once the sink is back, replay it with `backburner dead-letter replay FILE --to URL`", dead_letter_note(.dead_letter))]
    GaveUp {
        /// The write's sequence number.
        seq: Seq,
        /// Why it was given up, and the sink's last error.
        reason: String,
        /// Where the write was saved, if it could be saved.
        dead_letter: Option<PathBuf>,
    },

    /// Some writes covered by a `flush` or `close` were not applied, and
    /// nobody saw it through their tickets: a failure observed through its
    /// ticket's `wait` (or `.await`) is reported there and not again here.
    #[error("{count} write(s) since the previous flush were not applied and no ticket reported it ({} refused by the sink, {gave_up} given up while the sink was unavailable; first: seq {first}: {reason}); {}", .count - .gave_up, dead_letter_note(.dead_letter))]
    WritesFailed {
        /// How many writes failed.
        count: u64,
        /// How many of them were given up ([`Error::GaveUp`]) rather than
        /// refused by the sink ([`Error::Rejected`]).
        gave_up: u64,
        /// The first failed write's sequence number.
        first: Seq,
        /// The first failure's reason.
        reason: String,
        /// The dead-letter file.
        dead_letter: Option<PathBuf>,
    },

    /// A store URL could not be used.
    #[error("invalid store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it and what would work.
        reason: String,
    },

    /// A builder option had a value that cannot work.
    #[error("invalid option `{name}`: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// What is wrong and what would work.
        reason: String,
    },

    /// The SQL given to [`Store::execute`](crate::Store::execute) or
    /// [`Store::query`](crate::Store::query) is not one statement SQLite
    /// reads whole: it has a NUL byte (SQLite stops reading there), text
    /// after its first statement, or no statement at all; or one of its
    /// parameters is an integer that SQLite cannot store (outside `i64`,
    /// see [`ParamError`](crate::ParamError)), which is neither wrapped nor
    /// turned into a real. Nothing was queued or run; a write is handed
    /// back (a refused integer parameter as its decimal text, the only
    /// `SqlValue` that holds it whole).
    #[error("invalid statement: {reason}{}", if .write.is_some() { "; the write was not accepted (it is handed back in this error)" } else { "" })]
    InvalidStatement {
        /// The write that was refused, for `execute`; `None` for `query`.
        write: Option<Box<Write>>,
        /// What is wrong and what to do instead.
        reason: String,
    },

    /// A column of a row read with [`Store::query_map`](crate::Store::query_map)
    /// could not be read as the type asked for ([`Row::get`](crate::Row::get)):
    /// it holds another type, a value out of the type's range, or `NULL`
    /// (read an `Option` for that), or the row has no such column.
    #[error("column {column} {reason}")]
    Column {
        /// The column's index, from 0.
        column: usize,
        /// What it holds, what was expected, and what to do (it reads after "column N").
        reason: String,
    },

    /// The journal's directory cannot be used: it is a file, is on a
    /// read-only file system, or cannot be written.
    #[error("cannot use {} as the journal directory: {reason}", path.display())]
    JournalDir {
        /// The journal directory.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
        /// The error.
        source: std::io::Error,
    },

    /// The sink failed while opening, reading or querying.
    #[error(transparent)]
    Sink(#[from] SinkError),

    /// The store's worker stopped on an unrecoverable error; every later call
    /// fails with this error. Reopen the store.
    #[error("the store is poisoned: {reason}; pending writes were not applied; reopen the store")]
    Poisoned {
        /// What stopped the worker.
        reason: String,
        /// The write that was refused, for writes.
        write: Option<Box<Write>>,
    },

    /// Another store opened this store's writer (the same writer id, in the
    /// same sink) since this one opened, so this store's epoch is no longer
    /// current: it is fenced and applies nothing more (a zombie writer must
    /// not overwrite its successor's work). Its pending writes were not
    /// applied; with a journal they stay in it. Give each instance its own
    /// writer id ([`Builder::writer`](crate::Builder::writer), or
    /// `?writer=NAME` in the URL), or stop the old one before opening the new.
    #[error("writer `{writer}` was opened by another store (its epoch is now {current}; this store has {epoch}): this store is fenced and applies nothing more; give each instance its own writer id (Builder::writer or ?writer=NAME) and reopen")]
    Fenced {
        /// The writer id.
        writer: String,
        /// This store's epoch.
        epoch: u64,
        /// The writer's current epoch in the sink.
        current: u64,
        /// The write that was refused, for writes.
        write: Option<Box<Write>>,
    },

    /// The write is larger than the sink takes (SQLite: its length limit,
    /// 1,000,000,000 bytes by default) or than backburner takes
    /// ([`MAX_WRITE`](crate::MAX_WRITE) bytes), whichever is smaller.
    #[error("the write is {size} bytes, more than the {limit} bytes {what}: it was not accepted (it is handed back in this error); store large objects elsewhere and write a reference")]
    TooLarge {
        /// The write.
        write: Box<Write>,
        /// Its size in bytes (key and value, or statement and parameters).
        size: usize,
        /// The limit.
        limit: usize,
        /// Who sets the limit ("the sink takes", …).
        what: &'static str,
    },

    /// The journal's disk is full: the write was not accepted (no ticket was
    /// issued, nothing of it was written) and is handed back. Writes already
    /// accepted wait in memory until space frees; new ones are accepted
    /// again as soon as the journal can reserve its next segment.
    #[error("the journal's disk is full: the write was not accepted (it is handed back in this error); free disk space, or commit faster so the journal can delete segments")]
    StorageFull {
        /// The write that was refused.
        write: Box<Write>,
    },

    /// The journal is damaged somewhere other than a torn tail.
    #[error("the journal {} is corrupt at offset {offset}: {reason}; nothing was opened. Inspect it with `backburner journal inspect`; to open anyway, choose a RecoveryMode that skips or truncates (writes in the damaged part are lost)", path.display())]
    JournalCorrupt {
        /// The segment file.
        path: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// Another store (in this process or another) has this journal open.
    #[error("the journal {} is in use by another store (its LOCK file is held); close that store first: two stores on one journal would replay and delete each other's writes", path.display())]
    Locked {
        /// The journal directory.
        path: PathBuf,
    },

    /// A store opened without a journal found one holding writes.
    #[error("the journal {} holds writes that were acknowledged as journaled and may not be in the database yet; open the store with Durability::Journal to replay them (or `backburner journal replay`), or move the journal away", path.display())]
    JournalPresent {
        /// The journal directory.
        path: PathBuf,
    },

    /// [`Store::close_timeout`](crate::Store::close_timeout) (or the drop of
    /// the last handle) ran out of time on a store with a journal: the writes
    /// not yet in the sink stay in the journal, nothing is lost, and they are
    /// applied (exactly once) when the store is opened again.
    #[error("{count} journaled write(s) were not applied to the sink before the close deadline; they stay in the journal {} and are applied when the store is opened again{}", journal.display(), also(.failed))]
    Unfinished {
        /// Writes accepted but not yet applied.
        count: u64,
        /// The journal directory that holds them.
        journal: PathBuf,
        /// Failures since the last report that no ticket saw
        /// ([`Error::WritesFailed`]), if there were any.
        failed: Option<Box<Error>>,
    },

    /// `get` or `query` on a store whose sink takes writes only (it offers
    /// no [`SinkReader`](crate::SinkReader), as an HTTP endpoint cannot).
    #[error("`{what}` needs a sink that can be read, and this store's sink takes writes only; read from the destination itself, or wait on the write's ticket")]
    CannotRead {
        /// The call: `get` or `query`.
        what: &'static str,
    },

    /// [`Ticket::wait_journaled`](crate::Ticket::wait_journaled) on a store
    /// without a journal.
    #[error("this store has no journal (Durability::Memory); use Ticket::wait for the commit, or open the store with Durability::Journal")]
    NoJournal,

    /// An I/O error on one of the store's own files.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn also(failed: &Option<Box<Error>>) -> String {
    match failed {
        Some(e) => format!("; besides, {e}"),
        None => String::new(),
    }
}

fn dead_letter_note(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("the write was saved to the dead-letter file {}", p.display()),
        None => "the write could not be saved to a dead-letter file (see the log)".to_string(),
    }
}

impl Error {
    /// This error (of a closed, poisoned or fenced store) handing back `write`.
    pub(crate) fn with_write(self, w: Box<Write>) -> Error {
        match self {
            Error::Closed { .. } => Error::Closed { write: Some(w) },
            Error::Poisoned { reason, .. } => Error::Poisoned { reason, write: Some(w) },
            Error::Fenced { writer, epoch, current, .. } => Error::Fenced { writer, epoch, current, write: Some(w) },
            other => other,
        }
    }

    /// The write this error hands back, if it refused one.
    pub fn into_write(self) -> Option<Write> {
        match self {
            Error::Closed { write }
            | Error::Poisoned { write, .. }
            | Error::Fenced { write, .. }
            | Error::InvalidStatement { write, .. } => write.map(|w| *w),
            Error::QueueFull { write, .. }
            | Error::Timeout { write, .. }
            | Error::StorageFull { write }
            | Error::TooLarge { write, .. } => Some(*write),
            _ => None,
        }
    }
}

/// A parameter that no `SqlValue` holds, from a query: nothing to hand back.
impl From<crate::value::ParamError> for Error {
    fn from(e: crate::value::ParamError) -> Error {
        Error::InvalidStatement { write: None, reason: e.to_string() }
    }
}

/// An error from a sink, with a message that says what happened.
#[derive(Debug)]
pub struct SinkError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SinkError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> SinkError {
        SinkError { message: message.into(), source: None }
    }
    /// An error with a message and the underlying cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> SinkError {
        SinkError { message: message.into(), source: Some(Box::new(source)) }
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(s) => write!(f, "{}: {}", self.message, s),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
