//! The `Sink` trait: where batches go, and what a sink can do besides
//! taking writes (its capabilities).
//!
//! A sink applies one batch of [`Write`]s, the crate's one write type, and
//! reports an [`Outcome`] per write where it has one (an inserted row's id).
//! Its checkpoint is a capability ([`Checkpoint`]): a transactional sink
//! stores the batch's last `Seq` in the batch's own transaction, in one row
//! per **writer** (one writing instance: many stores can write into one
//! database, each replaying exactly once), with an **epoch** bumped at every
//! open that fences a zombie writer; a sink that cannot (an HTTP endpoint)
//! leaves the checkpoint to the store's local journal, and gets at-least-once
//! delivery with an idempotency key per write. Reading is a capability too
//! ([`Sink::reader`]). The worker owns the sink; reads go through a separate
//! [`SinkReader`] that callers use from their own threads.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;
pub use crate::error::SinkError;

pub use crate::outcome::{Executed, Outcome};
use crate::value::SqlValue;
use crate::write::{Record, Write};
use crate::Seq;

#[cfg(feature = "sqlite")]
pub mod sqlite;
pub(crate) mod statement;

/// The writer id a store uses unless told otherwise
/// ([`Builder::writer`](crate::Builder::writer), or `?writer=` in the URL).
pub const DEFAULT_WRITER: &str = "default";

/// A batch of writes, in enqueue order, to apply in one transaction.
///
/// Writes superseded inside the batch (an earlier put or delete of a key
/// that the batch writes again) and writes already rejected are left out;
/// [`last_seq`](Batch::last_seq) still covers them.
pub struct Batch<'a> {
    pub(crate) records: &'a [Record],
    pub(crate) live: &'a [u32],
    pub(crate) last_seq: u64,
    pub(crate) writer: &'a str,
    pub(crate) epoch: u64,
}

impl<'a> Batch<'a> {
    /// The `Seq` to store with this batch: after it commits, every write up
    /// to this one has been handled.
    pub fn last_seq(&self) -> Seq {
        Seq(self.last_seq)
    }

    /// The writer whose checkpoint this batch advances.
    pub fn writer(&self) -> &str {
        self.writer
    }

    /// The writer's epoch, as [`Sink::open_writer`] returned it: a
    /// transactional sink stores the checkpoint only if the epoch is still
    /// the writer's current one, and answers [`ApplyError::Fenced`] if not.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A key that names the write `seq` of this writer for good, the same
    /// on every delivery (`writer:seq`): a sink without a transactional
    /// checkpoint sends it so that the receiver can drop a repeated delivery.
    pub fn idempotency_key(&self, seq: Seq) -> String {
        format!("{}:{}", self.writer, seq.0)
    }

    /// Number of writes to apply.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether there is nothing to apply (the batch still carries `last_seq`).
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The writes, in order. A sink that rejects one reports its position in
    /// this iteration ([`ApplyError::Rejected`]), and sets its outcome at the
    /// same position ([`Outcomes::set`]).
    pub fn writes(&self) -> impl ExactSizeIterator<Item = (Seq, &'a Write)> + 'a {
        let records = self.records;
        self.live.iter().map(move |&i| {
            let r = &records[i as usize];
            (Seq(r.seq), &r.write)
        })
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("len", &self.len())
            .field("last_seq", &self.last_seq)
            .field("writer", &self.writer)
            .field("epoch", &self.epoch)
            .finish()
    }
}

/// The outcome of each write of a batch, filled in by [`Sink::apply`]
/// (every write starts as [`Outcome::None`]). Outcomes of a batch that
/// fails are thrown away.
pub struct Outcomes<'a> {
    pub(crate) outcomes: &'a mut [Outcome],
}

impl Outcomes<'_> {
    /// Sets the outcome of the write at `position` (in [`Batch::writes`]
    /// order). A position outside the batch is ignored.
    pub fn set(&mut self, position: usize, outcome: Outcome) {
        if let Some(o) = self.outcomes.get_mut(position) {
            *o = outcome;
        }
    }
}

impl fmt::Debug for Outcomes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outcomes").field("len", &self.outcomes.len()).finish()
    }
}

/// Why a batch was not applied. The sink must have rolled back everything
/// of the batch before returning any of these.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApplyError {
    /// The whole batch failed for a reason that may pass (the database is
    /// busy or locked, an I/O error, a full disk): the worker retries it
    /// with backoff.
    Transient(SinkError),
    /// The write at `position` (in [`Batch::writes`] order) can never be
    /// applied (a constraint violation, bad SQL): the worker moves it to the
    /// dead-letter file and applies the rest.
    Rejected {
        /// Position of the write in the batch.
        position: usize,
        /// Why.
        error: SinkError,
    },
    /// The batch can never be applied, but the sink cannot tell which write
    /// is to blame (SQLite reports a deferred foreign-key violation only at
    /// `COMMIT`): the worker applies the writes one at a time to find out.
    Unattributed(SinkError),
    /// The writer's epoch is no longer [`Batch::epoch`]: another store opened
    /// the same writer since. This store is fenced: it applies nothing more
    /// and its calls fail with [`Error::Fenced`].
    Fenced {
        /// The writer's current epoch in the sink.
        current: u64,
    },
}

/// Where a sink's checkpoint (the last applied `Seq` of each writer) lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checkpoint {
    /// In the sink, stored by [`Sink::apply`] in the batch's own
    /// transaction: a write is applied exactly once, across crashes.
    InTransaction,
    /// The sink cannot store it with the writes (an HTTP endpoint): the
    /// store keeps it in its journal's directory, after each batch, and a
    /// store over such a sink needs a journal. After a crash the writes since
    /// the last saved checkpoint are delivered again: at-least-once, each
    /// with the same [`Batch::idempotency_key`].
    Local,
}

/// What [`Sink::open_writer`] found for a writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The writer's last applied `Seq` (0 for a new writer, or for a sink
    /// whose checkpoint is [`Checkpoint::Local`]).
    pub last_applied: Seq,
    /// The writer's epoch from now on (0 for a sink that does not fence).
    pub epoch: u64,
}

/// A destination for batches. The worker thread owns it.
pub trait Sink: Send + 'static {
    /// Claims `writer` for this store: bumps its epoch (so a store that
    /// holds the previous epoch is fenced at its next batch) and returns its
    /// last applied `Seq` with the new epoch. Called once, at open.
    ///
    /// # Errors
    ///
    /// When the sink cannot be read or written.
    fn open_writer(&mut self, writer: &str) -> Result<Resume, SinkError>;

    /// Where the checkpoint lives: [`Checkpoint::InTransaction`] (the
    /// default) or [`Checkpoint::Local`].
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::InTransaction
    }

    /// Applies every write of `batch`, setting each write's outcome in
    /// `outcomes`, and (for [`Checkpoint::InTransaction`]) stores
    /// `batch.last_seq()` as the checkpoint of `batch.writer()` if its epoch
    /// is still `batch.epoch()`, all in one atomic step: either all of it is
    /// visible afterwards, or none of it.
    ///
    /// # Errors
    ///
    /// See [`ApplyError`].
    fn apply(&mut self, batch: &Batch<'_>, outcomes: &mut Outcomes<'_>) -> Result<(), ApplyError>;

    /// Called by the worker between batches, at most once per batch, so the
    /// sink can do maintenance (SQLite checkpoints its WAL here). `idle` is
    /// true when no write is waiting.
    fn maintain(&mut self, _idle: bool) {}

    /// The largest write this sink can ever take, in bytes (key and value,
    /// or statement and parameters), if it has a limit below
    /// [`MAX_WRITE`](crate::MAX_WRITE). The store refuses a larger write at
    /// the call ([`Error::TooLarge`]) instead of
    /// accepting it and having it refused later.
    fn max_write_bytes(&self) -> Option<usize> {
        None
    }

    /// A reader for this sink's data, used by `get` and `query`, or `None`
    /// for a sink that takes writes only (the default): a store over it
    /// answers `get` and `query` with [`Error::CannotRead`].
    ///
    /// # Errors
    ///
    /// When the sink can be read from but the reader cannot be opened.
    fn reader(&mut self) -> Result<Option<Box<dyn SinkReader>>, SinkError> {
        Ok(None)
    }
}

/// Reads from a sink, from any thread.
pub trait SinkReader: Send + Sync + 'static {
    /// The committed value of `key` in the managed key/value table.
    ///
    /// # Errors
    ///
    /// When the read fails.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SinkError>;

    /// Runs a read-only statement and returns its rows.
    ///
    /// # Errors
    ///
    /// When the statement fails or is not a read.
    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SinkError>;
}

/// A sink opened from a URL, with its scheme's default places for the
/// journal and the dead-letter file (SQLite: beside the database).
pub(crate) struct Destination {
    pub(crate) sink: Box<dyn Sink>,
    /// Where the journal goes unless `Builder::journal` says otherwise.
    pub(crate) journal: Option<PathBuf>,
    /// Where the dead-letter file goes unless `Builder::dead_letter` says otherwise.
    pub(crate) dead_letter: Option<PathBuf>,
    /// The writer id: the builder's, else the URL's (`?writer=`), if either names one.
    pub(crate) writer: Option<String>,
}

/// Whether `id` is a writer id: 1 to 200 ASCII letters, digits, `.`, `_`
/// or `-` (it names files: the default journal and dead-letter file of a
/// writer other than the default one).
pub(crate) fn check_writer(id: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 200 || !id.chars().all(ok) || id.starts_with('.') {
        return Err(format!(
            "`{}` is not a writer id: use 1 to 200 ASCII letters, digits, '.', '_' or '-' (not starting with '.')",
            id.escape_debug()
        ));
    }
    Ok(())
}

/// Opens the sink a URL names (one file per scheme parses its own URLs);
/// `writer` is the writer id given to the builder, which wins over the URL's.
pub(crate) fn open_url(url: &str, writer: Option<&str>) -> Result<Destination, Error> {
    let bad = |reason: String| Error::InvalidUrl { url: url.to_string(), reason };
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(bad("no scheme; write sqlite://PATH (for example sqlite://data/app.db)".into()));
    };
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => sqlite::open_url(url, rest, writer),
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => {
            let _ = (rest, writer);
            Err(bad("backburner was built without the `sqlite` feature; enable it in Cargo.toml".into()))
        }
        "postgres" | "postgresql" => {
            Err(bad("the PostgreSQL sink is not available in this version; use sqlite://PATH".into()))
        }
        other => Err(bad(format!("unknown scheme `{other}`; supported: sqlite://PATH"))),
    }
}
