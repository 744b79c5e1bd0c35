//! Recovery on open: read every segment, repair a torn tail, refuse (or,
//! if the user chose so, salvage) corruption anywhere else, and return the
//! records the sink has not applied yet, in order.

use super::format::{self, End};
use super::{RecoveryMode, Storage};
use crate::error::Error;
use crate::write::Record;

/// A segment found on disk.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub(crate) name: String,
    /// Highest seq in it (0 when it holds none).
    pub(crate) last_seq: u64,
    /// Bytes on disk.
    pub(crate) bytes: u64,
}

pub(crate) struct Recovered {
    pub(crate) segments: Vec<SegmentMeta>,
    /// Records with a seq above the writer's checkpoint, in order.
    pub(crate) records: Vec<Record>,
    /// Highest seq in the journal (0 if none).
    pub(crate) max_seq: u64,
    /// Index for the next segment.
    pub(crate) next_index: u64,
}

fn io_err(storage: &dyn Storage, name: &str, e: std::io::Error) -> Error {
    Error::Io { path: storage.path(name), source: e }
}

/// Reads the journal in `storage`.
pub(crate) fn recover(storage: &dyn Storage, last_applied: u64, mode: RecoveryMode) -> Result<Recovered, Error> {
    let names = super::segment_names(storage).map_err(|e| io_err(storage, "", e))?;
    let mut out = Recovered { segments: Vec::new(), records: Vec::new(), max_seq: 0, next_index: 1 };
    let count = names.len();
    let mut stop = false;
    for (pos, (index, name)) in names.into_iter().enumerate() {
        out.next_index = out.next_index.max(index + 1);
        let is_last = pos + 1 == count;
        if stop {
            // TruncateAtCorruption: everything after the damage goes.
            ::log::warn!(
                "backburner: journal {}: removed, as it follows the corruption",
                storage.path(&name).display()
            );
            storage.remove(&name).map_err(|e| io_err(storage, &name, e))?;
            continue;
        }
        let buf = storage.read(&name).map_err(|e| io_err(storage, &name, e))?;
        let scan = match format::scan(&buf) {
            Ok(s) => s,
            Err(reason) => {
                if is_last && format::data_end(&buf) <= format::HEADER_LEN {
                    // Created (and perhaps half written) just before a crash,
                    // holding no record: nothing to keep.
                    ::log::warn!(
                        "backburner: journal {}: no complete header ({reason}) and no record; removed",
                        storage.path(&name).display()
                    );
                    storage.remove(&name).map_err(|e| io_err(storage, &name, e))?;
                    continue;
                }
                match mode {
                    RecoveryMode::Strict => {
                        return Err(Error::JournalCorrupt { path: storage.path(&name), offset: 0, reason })
                    }
                    RecoveryMode::SkipCorrupt | RecoveryMode::TruncateAtCorruption => {
                        ::log::warn!(
                            "backburner: journal {}: unreadable header ({reason}); skipped as RecoveryMode allows",
                            storage.path(&name).display()
                        );
                        stop = mode == RecoveryMode::TruncateAtCorruption;
                        // Deleted with the others once the sink passes the
                        // seqs before it (at once: it holds none).
                        out.segments.push(SegmentMeta { name, last_seq: 0, bytes: buf.len() as u64 });
                        continue;
                    }
                }
            }
        };
        let mut found = scan.records;
        let mut end = scan.end;
        let mut last_seq = found.last().map_or(out.max_seq, |r| r.seq);
        loop {
            match end {
                End::Clean { .. } => break,
                End::Bad { offset, ref reason, valid_after: None } if is_last => {
                    ::log::warn!(
                        "backburner: journal {}: torn record at offset {offset} ({reason}) at the end of the journal; truncated there",
                        storage.path(&name).display()
                    );
                    storage.truncate(&name, offset).map_err(|e| io_err(storage, &name, e))?;
                    break;
                }
                End::Bad { offset, ref reason, valid_after } => match (mode, valid_after) {
                    (RecoveryMode::SkipCorrupt, Some(next)) => {
                        ::log::warn!(
                            "backburner: journal {}: bytes {offset}..{next} are corrupt ({reason}); skipped as RecoveryMode::SkipCorrupt allows",
                            storage.path(&name).display()
                        );
                        let (more, e) = format::scan_from(&buf, next, last_seq);
                        last_seq = more.last().map_or(last_seq, |r| r.seq);
                        found.extend(more);
                        end = e;
                    }
                    (RecoveryMode::Strict, _) => {
                        return Err(Error::JournalCorrupt { path: storage.path(&name), offset, reason: reason.clone() })
                    }
                    (RecoveryMode::SkipCorrupt, None) => {
                        // Nothing valid follows in this segment; later
                        // segments are read as usual.
                        ::log::warn!(
                            "backburner: journal {}: corrupt from offset {offset} to the end of the segment ({reason}); skipped as RecoveryMode::SkipCorrupt allows",
                            storage.path(&name).display()
                        );
                        break;
                    }
                    (_, _) => {
                        ::log::warn!(
                            "backburner: journal {}: corrupt at offset {offset} ({reason}); everything from there on is dropped as RecoveryMode allows",
                            storage.path(&name).display()
                        );
                        storage.truncate(&name, offset).map_err(|e| io_err(storage, &name, e))?;
                        stop = true;
                        break;
                    }
                },
            }
        }
        if let Some(first) = found.first() {
            if first.seq <= out.max_seq {
                let reason = format!("seq {} does not follow seq {} of the previous segment", first.seq, out.max_seq);
                if mode == RecoveryMode::Strict {
                    return Err(Error::JournalCorrupt { path: storage.path(&name), offset: first.offset, reason });
                }
                ::log::warn!(
                    "backburner: journal {}: {reason}; its records are skipped",
                    storage.path(&name).display()
                );
                found.clear();
            }
        }
        for r in &found {
            if r.seq > crate::write::MAX_SEQ {
                let reason =
                    format!("seq {} is beyond the largest backburner hands out ({})", r.seq, crate::write::MAX_SEQ);
                return Err(Error::JournalCorrupt { path: storage.path(&name), offset: r.offset, reason });
            }
            if r.seq > last_applied {
                let at = r.offset as usize;
                let payload = &buf[at + format::RECORD_HEADER..at + r.len as usize];
                // Checked by the scan already.
                let op = format::decode(payload).map_err(|reason| Error::JournalCorrupt {
                    path: storage.path(&name),
                    offset: r.offset,
                    reason,
                })?;
                out.records.push(Record { seq: r.seq, hash: 0, write: op, done: None });
            }
        }
        let seg_last = found.last().map_or(0, |r| r.seq);
        out.max_seq = out.max_seq.max(seg_last);
        out.segments.push(SegmentMeta { name, last_seq: seg_last, bytes: buf.len() as u64 });
    }
    Ok(out)
}
