//! `Seq`, `Ticket` and the watermark they are measured against.
//!
//! Tickets are cheap: a `Seq` and a shared pointer to the store's
//! [`Progress`]. The worker advances one watermark per batch; a ticket is
//! committed once the watermark has passed its `Seq` and it is not among the
//! (rare) failed writes. Waiting is a condition variable for threads and a
//! waker list for futures, both touched once per batch by the worker, never
//! by the enqueue path.

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::write::Seq;

/// Which watermark a waiter waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Committed,
    Journaled,
}

pub(crate) const OPEN: u8 = 0;
pub(crate) const CLOSING: u8 = 1;
pub(crate) const POISONED: u8 = 2;

/// Why one write failed, kept until its ticket is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) reason: String,
    pub(crate) dead_letter: Option<PathBuf>,
    /// Given up while the sink was unavailable, not refused by it.
    pub(crate) gave_up: bool,
}

impl Failure {
    fn to_error(&self, seq: u64) -> Error {
        let (reason, dead_letter) = (self.reason.clone(), self.dead_letter.clone());
        match self.gave_up {
            true => Error::GaveUp { seq: Seq(seq), reason, dead_letter },
            false => Error::Rejected { seq: Seq(seq), reason, dead_letter },
        }
    }
}

/// Progress shared by the store handles, the worker and the tickets.
pub(crate) struct Progress {
    /// Every write with `seq <= watermark` has been processed (committed, or
    /// failed and recorded in `failures`).
    pub(crate) watermark: AtomicU64,
    /// `OPEN`, `CLOSING` or `POISONED`.
    pub(crate) state: AtomicU8,
    /// The highest seq some waiter wants now: the worker stops lingering.
    pub(crate) urgent: AtomicU64,
    /// Number of entries in `failures` (a cheap check on the success path).
    failed_now: AtomicU64,
    /// Total failed writes since open (for flush reports and stats).
    pub(crate) failed_total: AtomicU64,
    /// Failed writes whose tickets may still ask. Removed when the ticket drops.
    failures: Mutex<HashMap<u64, Arc<Failure>>>,
    /// Failures neither reported by a flush nor seen through their ticket,
    /// by seq (a flush or close empties it).
    /// (One shared record per failure: the two maps hold pointers.)
    unreported: Mutex<std::collections::BTreeMap<u64, Arc<Failure>>>,
    lock: Mutex<()>,
    cond: Condvar,
    wakers: Mutex<Vec<(u64, Waker)>>,
    poison: OnceLock<String>,
    /// Set when the worker has stopped after a drain: a seq still above the
    /// watermark then was taken by a write that `close` refused, and will
    /// never be processed.
    stopped: AtomicBool,
    /// Whether the store journals its writes.
    journal: bool,
    /// Every write up to this seq is in the journal (as its `Fsync` says).
    journaled: AtomicU64,
    pub(crate) worker: OnceLock<Thread>,
}

impl Progress {
    pub(crate) fn new(watermark: u64, journal: bool, journaled: u64) -> Progress {
        Progress {
            watermark: AtomicU64::new(watermark),
            state: AtomicU8::new(OPEN),
            urgent: AtomicU64::new(0),
            failed_now: AtomicU64::new(0),
            failed_total: AtomicU64::new(0),
            failures: Mutex::new(HashMap::new()),
            unreported: Mutex::new(std::collections::BTreeMap::new()),
            lock: Mutex::new(()),
            cond: Condvar::new(),
            wakers: Mutex::new(Vec::new()),
            poison: OnceLock::new(),
            stopped: AtomicBool::new(false),
            journal,
            journaled: AtomicU64::new(journaled),
            worker: OnceLock::new(),
        }
    }

    pub(crate) fn watermark(&self) -> u64 {
        self.watermark.load(Ordering::SeqCst)
    }

    /// Records a failed write. Must happen before the watermark passes `seq`.
    pub(crate) fn fail(&self, seq: u64, failure: Failure) {
        self.failed_total.fetch_add(1, Ordering::Relaxed);
        let failure = Arc::new(failure);
        self.unreported.lock().insert(seq, Arc::clone(&failure));
        self.failures.lock().insert(seq, failure);
        self.failed_now.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes the failures not yet reported by a flush, as an error.
    pub(crate) fn take_unreported(&self) -> Result<()> {
        let un = std::mem::take(&mut *self.unreported.lock());
        let gave_up = un.values().filter(|f| f.gave_up).count() as u64;
        let count = un.len() as u64;
        match un.into_iter().next() {
            None => Ok(()),
            Some((first, f)) => Err(Error::WritesFailed {
                count,
                gave_up,
                first: Seq(first),
                reason: f.reason.clone(),
                dead_letter: f.dead_letter.clone(),
            }),
        }
    }

    /// Publishes a new watermark and wakes whoever waits for it.
    pub(crate) fn advance(&self, watermark: u64) {
        self.watermark.store(watermark, Ordering::SeqCst);
        self.wake_all(|seq| seq <= watermark);
    }

    fn wake_all(&self, ready: impl Fn(u64) -> bool) {
        {
            let _g = self.lock.lock();
            self.cond.notify_all();
        }
        // Wakers run executor code: call them with no lock held.
        let due: Vec<Waker> = {
            let mut wakers = self.wakers.lock();
            if wakers.is_empty() {
                return;
            }
            let mut due = Vec::new();
            let mut i = 0;
            while i < wakers.len() {
                if ready(wakers[i].0) {
                    due.push(wakers.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
            due
        };
        for w in due {
            w.wake();
        }
    }

    /// Latches the store as poisoned and wakes every waiter.
    pub(crate) fn poison(&self, reason: String) {
        let _ = self.poison.set(reason);
        self.latch();
    }

    /// Latches the store as poisoned without a reason yet (a panicking
    /// thread, whose wrapper then gives the panic's message).
    pub(crate) fn latch(&self) {
        self.state.store(POISONED, Ordering::SeqCst);
        self.wake_all(|_| true);
    }

    /// Records that the worker drained and stopped, and wakes every waiter.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake_all(|_| true);
    }

    pub(crate) fn poison_reason(&self) -> Option<String> {
        match self.poison.get() {
            Some(r) => Some(r.clone()),
            None if self.state.load(Ordering::SeqCst) == POISONED => Some("a store thread panicked".into()),
            None => None,
        }
    }

    pub(crate) fn poisoned(&self) -> Option<Error> {
        self.poison_reason().map(|reason| Error::Poisoned { reason, write: None })
    }

    /// Asks the worker to commit everything up to `seq` without lingering.
    pub(crate) fn hurry(&self, seq: u64) {
        if self.urgent.fetch_max(seq, Ordering::SeqCst) < seq {
            if let Some(t) = self.worker.get() {
                t.unpark();
            }
        }
    }

    /// The outcome of `seq`, if it is known.
    pub(crate) fn outcome(&self, seq: u64) -> Option<Result<()>> {
        // Loaded before the watermark: the worker publishes its last
        // watermark before it stops.
        let stopped = self.stopped.load(Ordering::SeqCst);
        if self.watermark() >= seq {
            if self.failed_now.load(Ordering::SeqCst) != 0 {
                if let Some(f) = self.failures.lock().get(&seq) {
                    return Some(Err(f.to_error(seq)));
                }
            }
            return Some(Ok(()));
        }
        self.unfinished(stopped)
    }

    /// Blocks until `seq` is processed or `deadline` passes.
    pub(crate) fn wait(&self, seq: u64, deadline: Option<Instant>) -> Option<Result<()>> {
        self.wait_for(seq, deadline, Mark::Committed)
    }

    /// The journal outcome of `seq`, if it is known.
    pub(crate) fn outcome_journaled(&self, seq: u64) -> Option<Result<()>> {
        if !self.journal {
            return Some(Err(Error::NoJournal));
        }
        let stopped = self.stopped.load(Ordering::SeqCst);
        if self.journaled.load(Ordering::SeqCst) >= seq {
            return Some(Ok(()));
        }
        self.unfinished(stopped)
    }

    /// The outcome of a write the worker did not get to: poisoned, or
    /// closed if the worker had stopped (`stopped` read before the watermark).
    fn unfinished(&self, stopped: bool) -> Option<Result<()>> {
        match self.poisoned() {
            Some(e) => Some(Err(e)),
            None if stopped => Some(Err(Error::Closed { write: None })),
            None => None,
        }
    }

    /// Publishes a new journaled watermark and wakes whoever waits for it.
    pub(crate) fn advance_journaled(&self, seq: u64) {
        self.journaled.fetch_max(seq, Ordering::SeqCst);
        let _g = self.lock.lock();
        self.cond.notify_all();
    }

    pub(crate) fn wait_for(&self, seq: u64, deadline: Option<Instant>, mark: Mark) -> Option<Result<()>> {
        let outcome = |p: &Progress| match mark {
            Mark::Committed => p.outcome(seq),
            Mark::Journaled => p.outcome_journaled(seq),
        };
        if let Some(r) = outcome(self) {
            return Some(r);
        }
        if mark == Mark::Committed {
            self.hurry(seq);
        }
        let mut g = self.lock.lock();
        loop {
            if let Some(r) = outcome(self) {
                return Some(r);
            }
            match deadline {
                None => self.cond.wait(&mut g),
                Some(d) => {
                    if self.cond.wait_until(&mut g, d).timed_out() {
                        drop(g);
                        return outcome(self);
                    }
                }
            }
        }
    }

    /// A ticket's wait saw its write fail: flush and close no longer
    /// report that failure (it was reported to whoever waited).
    pub(crate) fn observed(&self, seq: u64, r: &Result<()>) {
        if matches!(r, Err(Error::Rejected { .. } | Error::GaveUp { .. })) {
            self.unreported.lock().remove(&seq);
        }
    }

    fn forget(&self, seq: u64) {
        if self.failed_now.load(Ordering::Relaxed) != 0 && self.failures.lock().remove(&seq).is_some() {
            self.failed_now.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A handle to one accepted write.
///
/// Dropping a ticket does not cancel the write: it is applied all the same.
/// Waiting on a ticket (or awaiting it) also tells the worker not to linger
/// over the batch that holds it.
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}/t.db", dir.path().display());
/// let store = backburner::Store::open(&url)?;
/// let ticket = store.put("k", "v")?;
/// ticket.wait()?;                  // committed in SQLite
/// assert!(ticket.is_committed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ticket {
    seq: u64,
    progress: Arc<Progress>,
}

impl Ticket {
    pub(crate) fn new(seq: u64, progress: Arc<Progress>) -> Ticket {
        Ticket { seq, progress }
    }

    /// The write's sequence number.
    pub fn seq(&self) -> Seq {
        Seq(self.seq)
    }

    /// Blocks until the write is committed in the sink.
    ///
    /// `Ok` means the batch holding the write was committed: it is visible to
    /// readers of the sink. Whether it also survives a power loss depends on
    /// the sink's settings (see [`Durability`](crate::Durability)).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] if the sink refused the write (it is in the
    /// dead-letter file), [`Error::GaveUp`] if it was given up while the
    /// sink was unavailable (a retry budget or a close deadline; it is in
    /// the dead-letter file too), [`Error::Poisoned`] if the worker stopped
    /// before applying it, [`Error::Closed`] if a close deadline
    /// ([`Store::close_timeout`](crate::Store::close_timeout), the drop's
    /// drain timeout) stopped a store with a journal first: the write stays
    /// in the journal and is applied at the next open. A failure returned
    /// here is not reported again by
    /// [`Store::flush`](crate::Store::flush) or
    /// [`Store::close`](crate::Store::close).
    pub fn wait(&self) -> Result<()> {
        let r = self.progress.wait(self.seq, None).unwrap_or_else(|| Err(self.lost()));
        self.progress.observed(self.seq, &r);
        r
    }

    /// Like [`wait`](Ticket::wait), but gives up after `timeout`:
    /// `Ok(true)` committed, `Ok(false)` not yet.
    ///
    /// # Errors
    ///
    /// As [`wait`](Ticket::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        // A timeout too large for an Instant means no deadline.
        let deadline = Instant::now().checked_add(timeout);
        match self.progress.wait(self.seq, deadline) {
            None => Ok(false),
            Some(r) => {
                self.progress.observed(self.seq, &r);
                r.map(|()| true)
            }
        }
    }

    /// Blocks until the write is in the local journal: from then on it
    /// survives a crash of the process (`kill -9`), and with
    /// [`Fsync::EveryBatch`](crate::journal::Fsync::EveryBatch) a crash of
    /// the machine, and is applied to the sink exactly once, after a restart
    /// if need be.
    ///
    /// `Ok` does not mean the write is in the sink: [`wait`](Ticket::wait) for that.
    ///
    /// # Errors
    ///
    /// [`Error::NoJournal`] if the store has no journal
    /// ([`Durability::Memory`](crate::Durability::Memory));
    /// [`Error::Poisoned`] if the journal failed before the write was in it.
    pub fn wait_journaled(&self) -> Result<()> {
        self.progress.wait_for(self.seq, None, Mark::Journaled).unwrap_or_else(|| Err(self.lost()))
    }

    /// Whether the write is committed in the sink now (never blocks).
    pub fn is_committed(&self) -> bool {
        matches!(self.progress.outcome(self.seq), Some(Ok(())))
    }

    fn lost(&self) -> Error {
        self.progress.poisoned().unwrap_or(Error::Poisoned { reason: "the worker stopped".into(), write: None })
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").field("seq", &self.seq).field("committed", &self.is_committed()).finish()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.progress.forget(self.seq);
    }
}

/// Awaiting a ticket waits for the commit without blocking a thread; it works
/// under any executor (the worker wakes the task's `Waker`).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}/t.db", dir.path().display());
/// # let store = backburner::Store::open(&url)?;
/// async fn save(store: &backburner::Store) -> backburner::Result<()> {
///     store.put("k", "v")?.await
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl IntoFuture for Ticket {
    type Output = Result<()>;
    type IntoFuture = TicketFuture;
    fn into_future(self) -> TicketFuture {
        TicketFuture { ticket: self }
    }
}

/// The future of an awaited [`Ticket`].
#[must_use = "futures do nothing unless awaited"]
pub struct TicketFuture {
    ticket: Ticket,
}

impl fmt::Debug for TicketFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TicketFuture").field(&self.ticket).finish()
    }
}

impl Future for TicketFuture {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let t = &self.ticket;
        let p = &t.progress;
        if let Some(r) = p.outcome(t.seq) {
            p.observed(t.seq, &r);
            return Poll::Ready(r);
        }
        {
            let mut wakers = p.wakers.lock();
            // Checked again under the lock: the worker publishes the watermark
            // before it takes this lock, so no wake-up is lost.
            if let Some(r) = p.outcome(t.seq) {
                drop(wakers);
                p.observed(t.seq, &r);
                return Poll::Ready(r);
            }
            match wakers.iter_mut().find(|(s, w)| *s == t.seq && w.will_wake(cx.waker())) {
                Some(_) => {}
                None => wakers.push((t.seq, cx.waker().clone())),
            }
        }
        p.hurry(t.seq);
        Poll::Pending
    }
}
