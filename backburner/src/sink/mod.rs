//! The `Sink` trait: where batches go.
//!
//! A sink applies one batch atomically together with the batch's last `Seq`,
//! and reports that `Seq` back when the store is opened again, so a write is
//! applied once. The worker owns the sink; reads go through a separate
//! [`SinkReader`] that callers use from their own threads.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;
pub use crate::error::SinkError;

use crate::value::SqlValue;
use crate::write::{Op, Record};
use crate::Seq;

#[cfg(feature = "sqlite")]
pub mod sqlite;
pub(crate) mod statement;

/// One write of a batch, as the sink sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum BatchWrite<'a> {
    /// Set `key` to `value` in the managed key/value table.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove `key` from the managed key/value table.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Run a write statement.
    Execute {
        /// The statement.
        sql: &'a str,
        /// Its parameters.
        params: &'a [SqlValue],
    },
}

/// A batch of writes, in enqueue order, to apply in one transaction.
///
/// Writes superseded inside the batch (an earlier put or delete of a key
/// that the batch writes again) and writes already rejected are left out;
/// [`last_seq`](Batch::last_seq) still covers them.
pub struct Batch<'a> {
    pub(crate) records: &'a [Record],
    pub(crate) live: &'a [u32],
    pub(crate) last_seq: u64,
}

impl<'a> Batch<'a> {
    /// The `Seq` to store with this batch: after it commits, every write up
    /// to this one has been handled.
    pub fn last_seq(&self) -> Seq {
        Seq(self.last_seq)
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
    /// this iteration ([`ApplyError::Rejected`]).
    pub fn writes(&self) -> impl ExactSizeIterator<Item = (Seq, BatchWrite<'a>)> + 'a {
        let records = self.records;
        self.live.iter().map(move |&i| {
            let r = &records[i as usize];
            let w = match &r.op {
                Op::Put(kv) => BatchWrite::Put { key: kv.key(), value: kv.value() },
                Op::Delete(kv) => BatchWrite::Delete { key: kv.key() },
                Op::Execute(e) => BatchWrite::Execute { sql: &e.sql, params: &e.params },
            };
            (Seq(r.seq), w)
        })
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch").field("len", &self.len()).field("last_seq", &self.last_seq).finish()
    }
}

/// Why a batch was not applied. The sink must have rolled back everything
/// of the batch before returning either.
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
}

/// A destination for batches. The worker thread owns it.
pub trait Sink: Send + 'static {
    /// The last `Seq` stored by [`apply`](Sink::apply), or 0 if none.
    ///
    /// # Errors
    ///
    /// When the sink cannot be read.
    fn last_applied_seq(&mut self) -> Result<u64, SinkError>;

    /// Applies every write of `batch` and stores `batch.last_seq()`, all in one
    /// atomic step: either all of it is visible afterwards, or none of it.
    ///
    /// # Errors
    ///
    /// See [`ApplyError`].
    fn apply(&mut self, batch: &Batch<'_>) -> Result<(), ApplyError>;

    /// Called by the worker between batches, at most once per batch, so the
    /// sink can do maintenance (SQLite checkpoints its WAL here). `idle` is
    /// true when no write is waiting.
    fn maintain(&mut self, _idle: bool) {}

    /// The largest write this sink can ever take, in bytes (key and value,
    /// or statement and parameters), if it has a limit below
    /// [`MAX_WRITE`](crate::MAX_WRITE). The store refuses a larger write at
    /// the call ([`Error::TooLarge`](crate::Error::TooLarge)) instead of
    /// accepting it and having it refused later.
    fn max_write_bytes(&self) -> Option<usize> {
        None
    }

    /// A reader for this sink's data, used by `get` and `query`, or `None`
    /// for a sink that takes writes only (the default): a store over it
    /// answers `get` and `query` with [`Error::CannotRead`](crate::Error::CannotRead).
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
}

/// Opens the sink a URL names (one file per scheme parses its own URLs).
pub(crate) fn open_url(url: &str) -> Result<Destination, Error> {
    let bad = |reason: String| Error::InvalidUrl { url: url.to_string(), reason };
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(bad("no scheme; write sqlite://PATH (for example sqlite://data/app.db)".into()));
    };
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => sqlite::open_url(url, rest),
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => {
            let _ = rest;
            Err(bad("backburner was built without the `sqlite` feature; enable it in Cargo.toml".into()))
        }
        "postgres" | "postgresql" => {
            Err(bad("the PostgreSQL sink is not available in this version; use sqlite://PATH".into()))
        }
        other => Err(bad(format!("unknown scheme `{other}`; supported: sqlite://PATH"))),
    }
}
