//! The local journal: writes survive a crash of the process (and, with
//! `Fsync::EveryBatch`, of the machine) before they reach the sink.
//!
//! Append-only segment files, one record per write (length, CRC32C, `Seq`,
//! payload; see [`format`](self#format)), written in groups by a journal
//! thread, synced per [`Fsync`], replayed on open after the sink's
//! `last_applied_seq`, and deleted once the committed watermark has passed
//! them. `docs/design.md` gives the byte format, the recovery protocol and
//! why it is correct, and what is assumed of the disk.

use std::sync::Arc;
use std::time::Duration;

pub(crate) mod checkpoint;
#[cfg(any(test, feature = "testing"))]
pub mod fault;
pub(crate) mod format;
pub(crate) mod recovery;
mod storage;

pub(crate) use format::encoded_len;
pub use format::{scan, scan_from, End, Found, Scan, HEADER_LEN, MAGIC, RECORD_HEADER, VERSION};
pub(crate) use storage::dir_error;
pub use storage::{FsStorage, SegmentFile, Storage};

/// When the journal syncs what it wrote.
///
/// Every policy survives a crash of the process (`kill -9`, a panic, an
/// abort) for every write whose ticket says journaled: the bytes are in the
/// operating system's cache. They differ in what survives a crash of the
/// machine (power loss, kernel panic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fsync {
    /// Never sync: a machine crash may lose any write not yet committed in the sink.
    Never,
    /// Sync every group before its tickets say journaled (group commit: all
    /// the writes that arrived while the previous sync ran share one sync).
    /// Survives a machine crash.
    EveryBatch,
    /// Sync at most this often: a machine crash loses at most about this
    /// long of writes; tickets say journaled once written.
    Interval(Duration),
}

/// What recovery does with corruption that is not a torn tail.
///
/// A torn record at the very end of the journal (a write cut short by the
/// crash) is always truncated, with a warning naming the file and offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Refuse to open: [`Error::JournalCorrupt`](crate::Error::JournalCorrupt)
    /// names the file and offset. The default: nothing is dropped silently.
    #[default]
    Strict,
    /// Skip damaged bytes and go on with the next valid record (each skip
    /// is logged). Writes in the damaged bytes are lost.
    SkipCorrupt,
    /// Drop everything from the first damage on (logged). Writes after it are lost.
    TruncateAtCorruption,
}

/// Journal settings of a store.
#[derive(Clone)]
pub(crate) struct JournalConfig {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) fsync: Fsync,
    pub(crate) segment_bytes: u64,
    pub(crate) max_bytes: u64,
    pub(crate) recovery: RecoveryMode,
}

/// File name of segment `index`.
pub(crate) fn segment_name(index: u64) -> String {
    format!("{index:020}.bbj")
}

/// The index of a segment file name.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".bbj")?;
    if stem.len() != 20 {
        return None;
    }
    stem.parse().ok()
}

/// The segment files of a journal, with their indexes, oldest first (other
/// files, such as `LOCK`, are not segments).
pub(crate) fn segment_names(storage: &dyn Storage) -> std::io::Result<Vec<(u64, String)>> {
    let mut names: Vec<(u64, String)> =
        storage.list()?.into_iter().filter_map(|n| parse_name(&n).map(|i| (i, n))).collect();
    names.sort();
    Ok(names)
}

/// One segment as [`inspect`] sees it.
#[derive(Debug, Clone)]
pub struct SegmentReport {
    /// File name.
    pub name: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// Valid records.
    pub records: usize,
    /// Lowest and highest seq of the valid records.
    pub seqs: Option<(u64, u64)>,
    /// How the data ends, or why the segment is unreadable.
    pub status: Result<End, String>,
}

/// Reads every segment of a journal without changing anything.
///
/// # Errors
///
/// When the directory or a file cannot be read.
pub fn inspect(storage: &dyn Storage) -> std::io::Result<Vec<SegmentReport>> {
    let mut out = Vec::new();
    for (_, name) in segment_names(storage)? {
        let buf = storage.read(&name)?;
        let (records, seqs, status) = match scan(&buf) {
            Ok(s) => {
                let seqs = s.records.first().zip(s.records.last()).map(|(a, b)| (a.seq, b.seq));
                (s.records.len(), seqs, Ok(s.end))
            }
            Err(e) => (0, None, Err(e)),
        };
        out.push(SegmentReport { name, bytes: buf.len() as u64, records, seqs, status });
    }
    Ok(out)
}
