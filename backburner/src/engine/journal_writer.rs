//! The journal writer: a thread between the queue and the worker.
//!
//! It takes records from the queue in `Seq` order, appends every record it
//! has to the current segment in one write (group commit), syncs as the
//! [`Fsync`] policy says, publishes the journaled watermark (tickets'
//! `wait_journaled`), and passes the records on to the worker. It deletes
//! segments once the committed watermark has passed them, and stops taking
//! records while the journal is at its size cap (backpressure, never loss).
//! A failed write or sync latches the store (`Error::Poisoned`).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::intake::Intake;
use super::shared::Shared;
use super::ticket::{OPEN, POISONED};
use super::worker::Chunk;
use crate::journal::format;
use crate::journal::recovery::SegmentMeta;
use crate::journal::{segment_name, Fsync, SegmentFile, Storage};
use crate::write::Record;

/// Records per group at most.
const GROUP_MAX: usize = 16_384;

pub(crate) struct Limits {
    pub(crate) segment_bytes: u64,
    pub(crate) max_bytes: u64,
}

struct Current {
    meta: SegmentMeta,
    file: Box<dyn SegmentFile>,
    /// Where the next record goes (0: the header is not written yet).
    offset: u64,
}

pub(crate) struct Writer {
    intake: Intake,
    storage: Arc<dyn Storage>,
    shared: Arc<Shared>,
    feed: Sender<Chunk>,
    fsync: Fsync,
    limits: Limits,
    /// Closed segments, oldest first.
    closed: VecDeque<SegmentMeta>,
    /// Applied segments that could not be deleted (retried every second).
    stuck: Vec<String>,
    stuck_retry: Instant,
    current: Option<Current>,
    next_index: u64,
    pending: Vec<Record>,
    buf: Vec<u8>,
    /// Bytes written but not synced.
    unsynced: bool,
    last_sync: Instant,
    /// The highest `done` passed on to the worker.
    passed: u64,
}

impl Writer {
    #[allow(clippy::too_many_arguments)] // one constructor, called once
    pub(crate) fn new(
        intake: Intake,
        storage: Arc<dyn Storage>,
        shared: Arc<Shared>,
        feed: Sender<Chunk>,
        fsync: Fsync,
        limits: Limits,
        segments: Vec<SegmentMeta>,
        next_index: u64,
        passed: u64,
    ) -> Writer {
        Writer {
            intake,
            storage,
            shared,
            feed,
            fsync,
            limits,
            closed: segments.into(),
            stuck: Vec::new(),
            stuck_retry: Instant::now(),
            current: None,
            next_index,
            pending: Vec::new(),
            buf: Vec::new(),
            unsynced: false,
            last_sync: Instant::now(),
            passed,
        }
    }

    pub(crate) fn run(mut self) {
        if let Err(e) = self.run_inner() {
            self.shared.progress.poison(e);
        }
    }

    fn run_inner(&mut self) -> Result<(), String> {
        loop {
            let state = self.shared.progress.state.load(Ordering::SeqCst);
            if state == POISONED {
                return Ok(());
            }
            self.collect()?;
            if self.pending.is_empty() {
                self.intake.drain(&mut self.pending, GROUP_MAX);
            }
            if self.pending.is_empty() {
                let done = self.intake.done();
                if done > self.passed {
                    // Only cancelled seqs: let the worker move its watermark.
                    self.pass(Vec::new(), done);
                }
                if state != OPEN && done >= self.shared.close_target.load(Ordering::SeqCst) {
                    self.sync_now()?;
                    return Ok(());
                }
                let wait = match self.fsync {
                    Fsync::Interval(d) if self.unsynced => d.saturating_sub(self.last_sync.elapsed()),
                    _ => Duration::from_millis(250),
                };
                self.intake.wait(&mut self.pending, wait, usize::MAX);
                if self.pending.is_empty() {
                    if let Fsync::Interval(d) = self.fsync {
                        if self.unsynced && self.last_sync.elapsed() >= d {
                            self.sync_now()?;
                        }
                    }
                }
                continue;
            }
            self.write_group()?;
        }
    }

    /// Journals `pending` (as much as fits in the journal's cap) and passes
    /// it on.
    fn write_group(&mut self) -> Result<(), String> {
        let done_at_drain = self.intake.done();
        let mut start = 0;
        while start < self.pending.len() {
            let first_seq = self.pending[start].seq;
            let need = format::encoded_len(&self.pending[start].write) as u64;
            self.ensure_room(first_seq, need)?;
            let Some(cur) = self.current.as_mut() else {
                return Err("no open segment".into());
            };
            self.buf.clear();
            let mut pos = cur.offset;
            if pos == 0 {
                self.buf.extend_from_slice(&format::header(first_seq));
                pos = format::HEADER_LEN as u64;
            }
            let room = cur.meta.bytes;
            let mut end = start;
            while end < self.pending.len() {
                let r = &self.pending[end];
                let len = format::encoded_len(&r.write) as u64;
                if pos + len > room {
                    break;
                }
                format::encode(&mut self.buf, r.seq, &r.write);
                pos += len;
                end += 1;
            }
            cur.file
                .write_at(cur.offset, &self.buf)
                .map_err(|e| format!("journal write to {} failed: {e}", self.storage.path(&cur.meta.name).display()))?;
            cur.offset = pos;
            cur.meta.last_seq = self.pending[end - 1].seq;
            self.unsynced = true;
            let last = self.pending[end - 1].seq;
            match self.fsync {
                Fsync::EveryBatch => self.sync_now()?,
                Fsync::Interval(d) if self.last_sync.elapsed() >= d => self.sync_now()?,
                _ => {}
            }
            self.shared.progress.advance_journaled(last);
            let rest = self.pending.split_off(end);
            let group = std::mem::replace(&mut self.pending, rest);
            let done = if self.pending.is_empty() { done_at_drain } else { last };
            self.pass(group, done);
            start = 0;
        }
        Ok(())
    }

    fn pass(&mut self, records: Vec<Record>, done: u64) {
        self.passed = self.passed.max(done);
        // The worker gone means the store is poisoned or closing: nothing to do.
        let _ = self.feed.send(Chunk { records, done });
    }

    fn sync_now(&mut self) -> Result<(), String> {
        if !self.unsynced {
            return Ok(());
        }
        if let Some(cur) = self.current.as_mut() {
            cur.file
                .sync()
                .map_err(|e| format!("journal sync of {} failed: {e}", self.storage.path(&cur.meta.name).display()))?;
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn live_bytes(&self) -> u64 {
        self.closed.iter().map(|s| s.bytes).sum::<u64>() + self.current.as_ref().map_or(0, |c| c.meta.bytes)
    }

    /// Makes sure the current segment has `need` bytes free, rolling to a new
    /// one if not. Waits while the journal is at its cap (backpressure) or
    /// the disk is full (new writes are refused meanwhile).
    fn ensure_room(&mut self, first_seq: u64, need: u64) -> Result<(), String> {
        if let Some(cur) = &self.current {
            if cur.offset.max(format::HEADER_LEN as u64) + need <= cur.meta.bytes {
                return Ok(());
            }
        }
        // Roll: the old segment is synced before the next one takes writes,
        // so that the journal is durable in order.
        if self.current.is_some() {
            self.sync_now()?;
        }
        if let Some(cur) = self.current.take() {
            self.closed.push_back(cur.meta);
        }
        let size = self.limits.segment_bytes.max(format::HEADER_LEN as u64 + need);
        let mut logged = false;
        loop {
            self.collect()?;
            if self.shared.progress.state.load(Ordering::SeqCst) == POISONED {
                return Err(self.shared.progress.poison_reason().unwrap_or_default());
            }
            // After a close deadline the worker applies nothing more, so the
            // cap would never free: go past it (by at most the queue's
            // capacity) so that every accepted write is journaled, for the
            // next open.
            let abandoned = self.shared.abandon.load(Ordering::SeqCst);
            if !abandoned && self.live_bytes() + size > self.limits.max_bytes && !self.closed.is_empty() {
                // At the cap: wait for the worker to commit and free segments.
                if !logged {
                    ::log::info!(
                        "backburner: journal at its cap ({} bytes); waiting for the sink",
                        self.limits.max_bytes
                    );
                    logged = true;
                }
                self.shared.progress.hurry(self.passed);
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            let name = segment_name(self.next_index);
            match self.storage.create(&name, size) {
                Ok(file) => {
                    self.shared.queue.set_storage_full(false);
                    self.next_index += 1;
                    self.storage
                        .sync_dir()
                        .map_err(|e| format!("journal directory sync after creating {name} failed: {e}"))?;
                    let meta = SegmentMeta { name, last_seq: first_seq, bytes: size };
                    self.current = Some(Current { meta, file, offset: 0 });
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::StorageFull && abandoned => {
                    // A close deadline passed and the disk stays full: waiting
                    // would hang the close. The writes not journaled are lost
                    // with this process; say which.
                    let (lo, hi) = (first_seq, self.pending.last().map_or(first_seq, |r| r.seq));
                    return Err(format!(
                        "the journal's disk stayed full after the close deadline: {} accepted write(s) (seqs {lo}..={hi}) could not be journaled and were not applied; free disk space",
                        self.pending.len()
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::StorageFull => {
                    // New writes are refused with StorageFull until space frees.
                    if !self.shared.queue.storage_full() {
                        ::log::error!(
                            "backburner: journal disk full creating {name}: {e}; refusing new writes until space frees"
                        );
                    }
                    self.shared.queue.set_storage_full(true);
                    self.shared.progress.hurry(self.passed);
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(format!("cannot create journal segment {name}: {e}")),
            }
        }
    }

    /// Deletes closed segments whose every record is committed (for a sink
    /// with a local checkpoint: covered by the saved checkpoint). A segment
    /// that cannot be deleted stays (replay skips what the sink has): it is
    /// logged, not fatal.
    fn collect(&mut self) -> Result<(), String> {
        let wm = match &self.shared.checkpointed {
            Some(saved) => saved.load(Ordering::SeqCst),
            None => self.shared.progress.watermark(),
        };
        let mut removed = false;
        while self.closed.front().is_some_and(|s| s.last_seq <= wm) {
            let Some(s) = self.closed.pop_front() else { break };
            match self.storage.remove(&s.name) {
                Ok(()) => removed = true,
                // Applied already: it no longer counts toward the cap; retried
                // now and then, and said once.
                Err(e) => {
                    if self.stuck.is_empty() {
                        ::log::warn!(
                            "backburner: cannot delete journal segment {}: {e}; will retry",
                            self.storage.path(&s.name).display()
                        );
                    }
                    self.stuck.push(s.name);
                }
            }
        }
        if !self.stuck.is_empty() && self.stuck_retry.elapsed() >= Duration::from_secs(1) {
            self.stuck_retry = Instant::now();
            let storage = &self.storage;
            self.stuck.retain(|name| storage.remove(name).is_err());
        }
        if removed {
            if let Err(e) = self.storage.sync_dir() {
                ::log::warn!("backburner: journal directory sync after deleting segments failed: {e}");
            }
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // On a panic, latch the store before the intake (a field) is dropped:
        // the writes it drops then fail as Poisoned, not as Closed (which
        // would say they stay in the journal), as the worker does.
        if std::thread::panicking() {
            self.shared.progress.latch();
        }
    }
}
