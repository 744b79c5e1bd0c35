//! The bounded queue between callers and the worker, and what a full queue
//! does (as its [`Backpressure`] says).
//!
//! Enqueue is: take a `Seq` (one atomic add), check that the store is open
//! (one atomic load), and send into a bounded `crossbeam-channel` (no lock,
//! no syscall unless the worker sleeps in `recv`). Two producers may send in
//! the other order than their `Seq`s; the worker puts records back in `Seq`
//! order, and a `Seq` whose write was refused after it was taken is reported
//! to the worker as cancelled so the watermark can pass it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;

use crate::backpressure::Backpressure;
use crate::engine::ticket::{Progress, OPEN};
use crate::error::Error;
use crate::wakers::Wakers;
use crate::write::Record;

pub(crate) enum Msg {
    Write(Record),
    /// Wakes the worker (close); carries nothing.
    Wake,
}

/// The producer side of the queue.
pub(crate) struct Queue {
    tx: Sender<Msg>,
    /// The lane of writes admitted with a permit (`Store::reserve_async`):
    /// unbounded, as `room` bounds it; the intake takes from both.
    lane: Sender<Msg>,
    /// Permits left: `capacity` less the permits held and the writes of
    /// the lane not yet taken by the intake.
    room: AtomicUsize,
    /// Tasks waiting for a permit. Every release wakes them all (each takes
    /// a permit or registers again): no entry can be left behind by a
    /// waiter that gave up or took room by another way.
    room_wakers: Wakers,
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
    /// The intake is in (or about to enter) the main channel's `recv`,
    /// where only a message wakes it: a permit's write into the lane then
    /// sends a `Msg::Wake` (see `admit_reserved` and `Intake::wait`).
    pub(crate) intake_waiting: AtomicBool,
}

impl Queue {
    pub(crate) fn new(capacity: usize, policy: Backpressure, first_seq: u64) -> (Queue, Receiver<Msg>, Receiver<Msg>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let (lane, lane_rx) = crossbeam_channel::unbounded();
        let q = Queue {
            tx,
            lane,
            room: AtomicUsize::new(capacity),
            room_wakers: Wakers::default(),
            next_seq: AtomicU64::new(first_seq),
            policy,
            intake_waiting: AtomicBool::new(false),
            capacity,
            cancelled: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            storage_full: AtomicBool::new(false),
            first_seq,
            refused: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
        };
        (q, rx, lane_rx)
    }

    /// Takes a permit if one is left, else registers the task and returns
    /// `Pending` (woken by [`release`](Queue::release)). Refused on a
    /// store that is closing or poisoned.
    pub(crate) fn poll_reserve(&self, progress: &Progress, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if progress.state.load(Ordering::SeqCst) != OPEN {
                return Poll::Ready(Err(progress.poisoned().unwrap_or(Error::Closed { write: None })));
            }
            if self.take_room() {
                return Poll::Ready(Ok(()));
            }
            // Room came back, or the store closed, meanwhile: try again.
            let changed = || self.room.load(Ordering::SeqCst) > 0 || progress.state.load(Ordering::SeqCst) != OPEN;
            if !self.room_wakers.register_unless(cx.waker(), changed) {
                return Poll::Pending;
            }
        }
    }

    fn take_room(&self) -> bool {
        self.room.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1)).is_ok()
    }

    /// Gives `n` permits back (a permit dropped unused, a write refused, or
    /// writes of the lane taken by the intake) and wakes the waiters.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.room.fetch_add(n, Ordering::SeqCst);
        self.wake_room();
    }

    /// Wakes every task waiting for a permit (room came back, or the store
    /// is closing or stopped).
    pub(crate) fn wake_room(&self) {
        self.room_wakers.wake_all();
    }

    /// Admits a write under a permit taken with `poll_reserve`: into the
    /// lane, which never refuses for room. A refused write's room stays with
    /// its permit (given back when the permit is dropped).
    #[allow(clippy::result_large_err)] // as `admit`
    pub(crate) fn admit_reserved(&self, progress: &Progress, mut rec: Record) -> Result<u64, Refused> {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let refused = |rec, why| Err(Refused { seq, rec, why });
        if progress.state.load(Ordering::SeqCst) != OPEN {
            return refused(rec, Why::Closed);
        }
        if self.storage_full.load(Ordering::Relaxed) {
            return refused(rec, Why::StorageFull);
        }
        rec.seq = seq;
        match self.lane.send(Msg::Write(rec)) {
            Ok(()) => {
                // Only an intake asleep in the main channel's `recv` needs a
                // wake-up: one that lingers over a partial batch, or is busy,
                // takes the lane at its next pass (within a millisecond),
                // and a wake-up per write would cost a context switch per
                // write. Store-buffering with `Intake::wait`: the send, then
                // the flag here; the flag, then the lane's emptiness there,
                // each pair ordered by a SeqCst fence, so one of the two
                // sides sees the other.
                std::sync::atomic::fence(Ordering::SeqCst);
                // The load first: most writes find the flag off, and a load
                // does not take the cache line from the intake.
                if self.intake_waiting.load(Ordering::SeqCst) && self.intake_waiting.swap(false, Ordering::SeqCst) {
                    self.wake();
                }
                Ok(seq)
            }
            Err(e) => match e.0 {
                Msg::Write(rec) => refused(rec, Why::Closed),
                Msg::Wake => unreachable_wake(),
            },
        }
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

    /// Reports a `Seq` taken by a write that was then refused, so that the
    /// stage after the queue can pass it. The submit path marks it refused
    /// in the overlay first (see `Shared::submit`).
    pub(crate) fn cancel(&self, seq: u64, progress: &Progress) {
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

    /// Takes a `Seq` for `rec` and sends it, as the policy says. A refused
    /// write comes back with its `Seq` (which the caller must
    /// [`cancel`](Queue::cancel)) and the reason.
    #[inline]
    // The refused write comes back by value: boxing it would allocate on a
    // path that must hand the write back even when memory is short, and the
    // accepted path writes only the seq.
    #[allow(clippy::result_large_err)]
    pub(crate) fn admit(&self, progress: &Progress, mut rec: Record) -> Result<u64, Refused> {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        // Checked after taking the seq: `close` sets the state, then reads
        // `next_seq`; so either close sees this seq and waits for it, or this
        // sees the state and refuses (see `Store::close`).
        if progress.state.load(Ordering::SeqCst) != OPEN {
            return Err(Refused { seq, rec, why: Why::Closed });
        }
        if self.storage_full.load(Ordering::Relaxed) {
            return Err(Refused { seq, rec, why: Why::StorageFull });
        }
        rec.seq = seq;
        match self.tx.try_send(Msg::Write(rec)) {
            Ok(()) => Ok(seq),
            Err(TrySendError::Full(Msg::Write(r))) => self.full(progress, seq, r),
            Err(TrySendError::Disconnected(Msg::Write(rec))) => Err(Refused { seq, rec, why: Why::Closed }),
            Err(_) => unreachable_wake(),
        }
    }

    #[cold]
    #[allow(clippy::result_large_err)] // as `admit`
    fn full(&self, progress: &Progress, seq: u64, rec: Record) -> Result<u64, Refused> {
        // The worker may be lingering over a partial batch: tell it to commit now.
        progress.hurry(seq);
        let (back, why) = match self.policy {
            Backpressure::Block => match self.tx.send(Msg::Write(rec)) {
                Ok(()) => return Ok(seq),
                Err(e) => (e.0, Why::Closed),
            },
            Backpressure::Timeout(d) => match self.tx.send_timeout(Msg::Write(rec), d) {
                Ok(()) => return Ok(seq),
                Err(SendTimeoutError::Timeout(m)) => (m, Why::Timeout(d)),
                Err(SendTimeoutError::Disconnected(m)) => (m, Why::Closed),
            },
            Backpressure::DropNewest => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Err(Refused { seq, rec, why: Why::QueueFull });
            }
        };
        let Msg::Write(rec) = back else { unreachable_wake() };
        Err(Refused { seq, rec, why })
    }
}

/// A write the queue did not take, with the `Seq` it had taken.
pub(crate) struct Refused {
    pub(crate) seq: u64,
    pub(crate) rec: Record,
    pub(crate) why: Why,
}

/// Why the queue did not take a write.
pub(crate) enum Why {
    Closed,
    StorageFull,
    QueueFull,
    Timeout(Duration),
}

impl Refused {
    /// The error that hands the write back.
    #[cold]
    pub(crate) fn into_error(self, progress: &Progress, capacity: usize) -> Error {
        let mut rec = self.rec;
        // No ticket was issued: its slot goes unseen.
        drop(rec.done.take());
        let write = Box::new(rec.write);
        match self.why {
            Why::Closed => refused_closed(progress, write),
            Why::StorageFull => Error::StorageFull { write },
            Why::QueueFull => Error::QueueFull { write, capacity },
            Why::Timeout(timeout) => Error::Timeout { write, timeout },
        }
    }
}

fn refused_closed(progress: &Progress, write: Box<crate::write::Write>) -> Error {
    match progress.poisoned() {
        Some(e) => e.with_write(write),
        None => Error::Closed { write: Some(write) },
    }
}

#[cold]
fn unreachable_wake() -> ! {
    // Only `Queue::wake` sends `Msg::Wake`, and it never gets it back.
    panic!("backburner: a wake-up message came back from a send of a write")
}
