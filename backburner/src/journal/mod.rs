//! The local journal: writes survive a crash of the process (and, with
//! `Fsync::EveryBatch`, of the machine) before they reach the sink.
//!
//! Append-only segment files, one record per write (length, CRC32C, `Seq`,
//! payload; see [`format`](self#format)), written in groups by a journal
//! thread, synced per [`Fsync`], replayed on open after the writer's
//! checkpoint (its last applied `Seq`), and deleted once the committed
//! watermark has passed them (for a `Checkpoint::Local` sink, once the saved
//! checkpoint has). A journal holds one writer's writes; its `WRITER` file
//! names it. `docs/design.md` gives the byte format, the recovery protocol and
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

/// The file in a journal's directory that names the writer whose seqs the
/// journal holds (written when a store first opens the journal).
pub(crate) const WRITER_FILE: &str = "WRITER";

/// The writer a journal belongs to: as its `WRITER` file says, or the
/// default writer for segments written before journals named their writer;
/// `None` for a journal with neither (a new one). A store opens a journal
/// only as its writer.
///
/// # Errors
///
/// When the directory or the file cannot be read.
pub fn journal_writer(storage: &dyn Storage) -> std::io::Result<Option<String>> {
    let names = storage.list()?;
    if !names.iter().any(|n| n == WRITER_FILE) {
        let segments = names.iter().any(|n| parse_name(n).is_some());
        return Ok(segments.then(|| crate::sink::DEFAULT_WRITER.to_string()));
    }
    let bytes = storage.read(WRITER_FILE)?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(Some(text.trim_end_matches(['\0', '\n']).to_string()))
}

/// Checks that the journal in `storage` belongs to `writer`, and records
/// that it does if its directory does not say yet (a new journal, or one
/// written by a version without writers, whose seqs were the default writer's).
pub(crate) fn claim_journal(storage: &dyn Storage, writer: &str) -> Result<(), crate::Error> {
    let io = |source| crate::Error::Io { path: storage.path(WRITER_FILE), source };
    let named = storage.list().map_err(io)?.iter().any(|n| n == WRITER_FILE);
    match journal_writer(storage).map_err(io)? {
        Some(owner) if owner == writer && named => Ok(()),
        Some(owner) if owner == writer => write_writer(storage, writer),
        Some(owner) => Err(crate::Error::InvalidOption {
            name: "writer",
            reason: format!(
                "the journal {} holds the writes of writer `{owner}`, not `{writer}`: open it as `{owner}` (Builder::writer or ?writer={owner}), or give writer `{writer}` a journal of its own (Builder::journal)",
                storage.path("").display()
            ),
        }),
        None => write_writer(storage, writer),
    }
}

fn write_writer(storage: &dyn Storage, writer: &str) -> Result<(), crate::Error> {
    let io = |source| crate::Error::Io { path: storage.path(WRITER_FILE), source };
    let line = format!("{writer}\n");
    let mut f = storage.create(WRITER_FILE, line.len() as u64).map_err(io)?;
    f.write_at(0, line.as_bytes()).map_err(io)?;
    f.sync().map_err(io)
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
