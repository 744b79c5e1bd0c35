//! The bounded queue between callers and the worker, and what a full queue
//! does ([`Backpressure`]).
//!
//! Enqueue is: take a `Seq` (one atomic add), check that the store is open
//! (one atomic load), and send into a bounded `crossbeam-channel` (no lock,
//! no syscall unless the worker sleeps in `recv`). Two producers may send in
//! the other order than their `Seq`s; the worker puts records back in `Seq`
//! order, and a `Seq` whose write was refused after it was taken is reported
//! to the worker as cancelled so the watermark can pass it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;

use crate::error::Error;
use crate::overlay::Overlay;
use crate::ticket::{Progress, OPEN};
use crate::value::{KvBuf, SqlValue, Write};

/// What a write does when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backpressure {
    /// Wait for room (the default). Lossless: the caller slows down to the
    /// sink's pace, and no write is refused while the store is open.
    #[default]
    Block,
    /// Wait for room at most this long, then return [`Error::Timeout`] with
    /// the write handed back. Lossless too: a refused write is never
    /// accepted, and the caller holds it.
    Timeout(Duration),
    /// Never wait: a write that finds the queue full is refused with
    /// [`Error::QueueFull`] (the write handed back) and counted in
    /// [`Stats::dropped`](crate::Stats::dropped).
    DropNewest,
}

/// A statement and its parameters.
pub(crate) struct ExecOp {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlValue>,
}

pub(crate) enum Op {
    Put(KvBuf),
    Delete(KvBuf),
    Execute(Box<ExecOp>),
}

/// One write on its way to the sink.
pub(crate) struct Record {
    pub(crate) seq: u64,
    /// Hash of the key for keyed writes (computed once, at enqueue).
    pub(crate) hash: u64,
    pub(crate) op: Op,
}

impl Record {
    pub(crate) fn key(&self) -> Option<&KvBuf> {
        match &self.op {
            Op::Put(kv) | Op::Delete(kv) => Some(kv),
            Op::Execute(_) => None,
        }
    }

    pub(crate) fn to_write(&self) -> Write {
        match &self.op {
            Op::Put(kv) => Write::Put { key: kv.key().to_vec(), value: kv.value().to_vec() },
            Op::Delete(kv) => Write::Delete { key: kv.key().to_vec() },
            Op::Execute(e) => Write::Execute { sql: e.sql.clone(), params: e.params.clone() },
        }
    }
}

pub(crate) enum Msg {
    Write(Record),
    /// Wakes the worker (close); carries nothing.
    Wake,
}

/// The producer side of the queue.
pub(crate) struct Queue {
    tx: Sender<Msg>,
    /// The next `Seq` to hand out.
    next_seq: AtomicU64,
    policy: Backpressure,
    capacity: usize,
    /// Seqs taken by writes that were then refused.
    cancelled: Mutex<Vec<u64>>,
    pub(crate) dropped: AtomicU64,
    /// The journal's disk is full: new writes are refused with `StorageFull`.
    storage_full: AtomicBool,
    /// The first `Seq` of this queue.
    first_seq: u64,
    /// Seqs taken by writes that were then refused (any reason).
    refused: AtomicU64,
    /// Writes replayed from the journal at open (accepted by an earlier run).
    pub(crate) replayed: AtomicU64,
}

impl Queue {
    pub(crate) fn new(capacity: usize, policy: Backpressure, first_seq: u64) -> (Queue, Receiver<Msg>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let q = Queue {
            tx,
            next_seq: AtomicU64::new(first_seq),
            policy,
            capacity,
            cancelled: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            storage_full: AtomicBool::new(false),
            first_seq,
            refused: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
        };
        (q, rx)
    }

    /// The last `Seq` handed out so far.
    pub(crate) fn last_seq(&self) -> u64 {
        self.next_seq.load(Ordering::SeqCst) - 1
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn set_storage_full(&self, full: bool) {
        self.storage_full.store(full, Ordering::Relaxed);
    }

    pub(crate) fn storage_full(&self) -> bool {
        self.storage_full.load(Ordering::Relaxed)
    }

    /// Seqs cancelled since the last call.
    pub(crate) fn take_cancelled(&self, into: &mut Vec<u64>) {
        let mut c = self.cancelled.lock();
        into.append(&mut c);
    }

    /// Writes accepted so far: seqs handed out, less those of refused writes.
    pub(crate) fn accepted(&self) -> u64 {
        let taken = self.last_seq() + 1 - self.first_seq;
        taken.saturating_sub(self.refused()) + self.replayed.load(Ordering::Relaxed)
    }

    /// Writes refused after taking a seq, so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    fn cancel(&self, seq: u64, progress: &Progress, overlay: &Overlay) {
        overlay.refuse(seq, &progress.watermark);
        // Listed before counted: an Intake that sees the count move finds
        // the seq in the list (see `Intake::absorb_cancelled`).
        self.cancelled.lock().push(seq);
        self.refused.fetch_add(1, Ordering::SeqCst);
        self.wake_worker(progress);
    }

    /// Wakes the stages after the queue wherever they sleep: in `recv` (not
    /// woken by unpark) or lingering (not woken by a message).
    pub(crate) fn wake_worker(&self, progress: &Progress) {
        self.wake();
        if let Some(t) = progress.worker.get() {
            t.unpark();
        }
    }

    /// Wakes the stage that takes from the queue if it sleeps in `recv` (close,
    /// a refused write); does nothing if the queue is full (then it is busy anyway).
    pub(crate) fn wake(&self) {
        let _ = self.tx.try_send(Msg::Wake);
    }

    /// Takes a `Seq` for `rec` and sends it, as the policy says; then stages
    /// `keyed` (hash, key and value, tombstone) in the overlay.
    #[inline]
    pub(crate) fn enqueue(
        &self,
        progress: &Progress,
        overlay: &Overlay,
        mut rec: Record,
        keyed: Option<(u64, &KvBuf, bool)>,
    ) -> Result<u64, Error> {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        // Checked after taking the seq: `close` sets the state, then reads
        // `next_seq`; so either close sees this seq and waits for it, or this
        // sees the state and refuses (see `Store::close`).
        if progress.state.load(Ordering::SeqCst) != OPEN {
            self.cancel(seq, progress, overlay);
            return Err(refused_closed(progress, &rec));
        }
        if self.storage_full.load(Ordering::Relaxed) {
            self.cancel(seq, progress, overlay);
            return Err(Error::StorageFull { write: Box::new(rec.to_write()) });
        }
        rec.seq = seq;
        let rec = match self.tx.try_send(Msg::Write(rec)) {
            Ok(()) => {
                overlay.stage(seq, keyed, &progress.watermark);
                return Ok(seq);
            }
            Err(TrySendError::Full(Msg::Write(r))) => r,
            Err(TrySendError::Disconnected(Msg::Write(r))) => {
                self.cancel(seq, progress, overlay);
                return Err(refused_closed(progress, &r));
            }
            Err(_) => unreachable_wake(),
        };
        let seq = self.full(progress, overlay, seq, rec)?;
        overlay.stage(seq, keyed, &progress.watermark);
        Ok(seq)
    }

    #[cold]
    fn full(&self, progress: &Progress, overlay: &Overlay, seq: u64, rec: Record) -> Result<u64, Error> {
        // The worker may be lingering over a partial batch: tell it to commit now.
        progress.hurry(seq);
        let (back, timeout) = match self.policy {
            Backpressure::Block => match self.tx.send(Msg::Write(rec)) {
                Ok(()) => return Ok(seq),
                Err(e) => (e.0, None),
            },
            Backpressure::Timeout(d) => match self.tx.send_timeout(Msg::Write(rec), d) {
                Ok(()) => return Ok(seq),
                Err(SendTimeoutError::Timeout(m)) => (m, Some(d)),
                Err(SendTimeoutError::Disconnected(m)) => (m, None),
            },
            Backpressure::DropNewest => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.cancel(seq, progress, overlay);
                let write = Box::new(rec.to_write());
                return Err(Error::QueueFull { write, capacity: self.capacity });
            }
        };
        self.cancel(seq, progress, overlay);
        let Msg::Write(rec) = back else { unreachable_wake() };
        match timeout {
            Some(timeout) => Err(Error::Timeout { write: Box::new(rec.to_write()), timeout }),
            None => Err(refused_closed(progress, &rec)),
        }
    }
}

fn refused_closed(progress: &Progress, rec: &Record) -> Error {
    let write = Some(Box::new(rec.to_write()));
    match progress.poison_reason() {
        Some(reason) => Error::Poisoned { reason, write },
        None => Error::Closed { write },
    }
}

#[cold]
fn unreachable_wake() -> ! {
    // Only `Queue::wake` sends `Msg::Wake`, and it never gets it back.
    panic!("backburner: a wake-up message came back from a send of a write")
}
