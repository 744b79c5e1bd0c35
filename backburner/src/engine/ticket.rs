//! `Ticket<T>` and the store's progress (the watermark and the state).
//!
//! A ticket is its write's `Seq`, the write's one-shot [`Slot`] (see
//! `outcome`) and a pointer to the store's [`Progress`]. The worker
//! completes each write's slot after its batch commits, waking only that
//! write's waiter: no list of waiters is scanned per batch, and no
//! store-wide map keeps outcomes for tickets. The watermark stays for what
//! is about the store as a whole: `flush`, `close`, reads that wait for
//! earlier statements, and the overlay.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::thread::Thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::outcome::{Done, Failure, Slot, TicketOutput, Waiter};
use crate::wakers::{SeqWakers, Wakers};
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

/// Failures kept for `flush` and `close` to report, at most this many.
const UNREPORTED: usize = 4096;

/// Failures not yet reported (see `Progress::unreported`).
#[derive(Default)]
struct Unreported {
    list: Vec<Arc<Failure>>,
    /// Set when the list was full of failures no ticket saw: later ones are
    /// only counted, whether or not a ticket sees them.
    full: bool,
    overflow: u64,
    overflow_gave_up: u64,
    /// The first failure only counted, for a report whose list is empty.
    first_overflow: Option<Arc<Failure>>,
}

/// Progress shared by the store handles, the worker and the tickets.
pub(crate) struct Progress {
    /// Every write with `seq <= watermark` has been processed (committed, or
    /// failed and its slot completed).
    pub(crate) watermark: AtomicU64,
    /// `OPEN`, `CLOSING` or `POISONED`.
    pub(crate) state: AtomicU8,
    /// The highest seq some waiter wants now: the worker stops lingering.
    pub(crate) urgent: AtomicU64,
    /// Total failed writes since open (for stats).
    pub(crate) failed_total: AtomicU64,
    /// Failures that neither a flush nor a ticket's wait has reported yet,
    /// in seq order (a flush or close empties it; a ticket's wait marks its
    /// failure observed). At most `UNREPORTED` are kept; beyond, they are
    /// only counted (`overflow`).
    unreported: Mutex<Unreported>,
    lock: Mutex<()>,
    cond: Condvar,
    /// Tasks awaiting the journal, by the seq they wait for.
    journal_wakers: SeqWakers,
    /// Tasks awaiting the watermark (`flush_async`, `close_async`), by the
    /// seq they wait for; woken by `advance`, and all by `wake_all`.
    commit_wakers: SeqWakers,
    /// Tasks of `close_async`, waiting for every store thread's end.
    end_wakers: Wakers,
    poison: OnceLock<String>,
    /// Set when another store opened this store's writer: the error calls get.
    fenced: OnceLock<(String, u64, u64)>,
    /// Set when the worker has stopped after a drain: a seq still above the
    /// watermark then was taken by a write that `close` refused, or left in
    /// the journal by a close deadline, and will not be processed by this run.
    stopped: AtomicBool,
    /// Whether the store journals its writes.
    journal: bool,
    /// Every write up to this seq is in the journal (as its `Fsync` says).
    journaled: AtomicU64,
    pub(crate) worker: OnceLock<Thread>,
    /// Store threads started and not yet ended.
    threads_running: std::sync::atomic::AtomicUsize,
}

impl Progress {
    pub(crate) fn new(watermark: u64, journal: bool, journaled: u64) -> Progress {
        Progress {
            watermark: AtomicU64::new(watermark),
            state: AtomicU8::new(OPEN),
            urgent: AtomicU64::new(0),
            failed_total: AtomicU64::new(0),
            unreported: Mutex::new(Unreported::default()),
            lock: Mutex::new(()),
            cond: Condvar::new(),
            journal_wakers: SeqWakers::default(),
            commit_wakers: SeqWakers::default(),
            end_wakers: Wakers::default(),
            poison: OnceLock::new(),
            fenced: OnceLock::new(),
            stopped: AtomicBool::new(false),
            journal,
            journaled: AtomicU64::new(journaled),
            worker: OnceLock::new(),
            threads_running: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub(crate) fn watermark(&self) -> u64 {
        self.watermark.load(Ordering::SeqCst)
    }

    /// Records a failed write for `flush` and `close` to report (its slot
    /// carries it to its ticket). Must happen before the watermark passes it.
    pub(crate) fn fail(&self, failure: &Arc<Failure>) {
        self.failed_total.fetch_add(1, Ordering::Relaxed);
        let mut un = self.unreported.lock();
        if un.list.len() >= UNREPORTED && !un.full {
            // Nobody flushes: drop what tickets saw; if most were not seen,
            // count the rest instead of keeping them (until the next flush).
            un.list.retain(|f| !f.observed.load(Ordering::Relaxed));
            un.full = un.list.len() >= UNREPORTED / 2;
        }
        if un.full {
            un.overflow += 1;
            un.overflow_gave_up += u64::from(failure.gave_up);
            un.first_overflow.get_or_insert_with(|| Arc::clone(failure));
            return;
        }
        un.list.push(Arc::clone(failure));
    }

    /// Takes the failures not yet reported by a flush or a ticket, as an error.
    pub(crate) fn take_unreported(&self) -> Result<()> {
        let un = std::mem::take(&mut *self.unreported.lock());
        let mut list = un.list;
        list.retain(|f| !f.observed.load(Ordering::SeqCst));
        list.sort_by_key(|f| f.seq);
        let gave_up = list.iter().filter(|f| f.gave_up).count() as u64 + un.overflow_gave_up;
        let count = list.len() as u64 + un.overflow;
        match list.first().or(un.first_overflow.as_ref()) {
            None => Ok(()),
            Some(f) => Err(Error::WritesFailed {
                count,
                gave_up,
                first: Seq(f.seq),
                reason: f.reason.clone(),
                dead_letter: f.dead_letter.clone(),
            }),
        }
    }

    /// Publishes a new watermark and wakes the store-wide waiters (flush).
    pub(crate) fn advance(&self, watermark: u64) {
        self.watermark.store(watermark, Ordering::SeqCst);
        {
            let _g = self.lock.lock();
            self.cond.notify_all();
        }
        self.commit_wakers.wake_upto(watermark);
    }

    /// The awaitable form of `wait(seq, None)`: ready once every write up to
    /// `seq` is processed, or the store will not get there (its error).
    pub(crate) fn poll_processed(&self, seq: u64, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut out = None;
        if self.commit_wakers.register_unless(seq, cx.waker(), || {
            out = self.processed(seq);
            out.is_some()
        }) {
            return Poll::Ready(out.unwrap_or(Ok(())));
        }
        self.hurry(seq);
        Poll::Pending
    }

    /// Wakes the store-wide waiters and the tasks awaiting the journal, for
    /// a poisoned or stopped store. (Tickets need no wake-up: every record
    /// is either completed or dropped, and a dropped record completes its
    /// slot as `Lost`; crossbeam's channels drop what they hold when their
    /// receiver goes, and refuse what is sent after.)
    fn wake_all(&self) {
        {
            let _g = self.lock.lock();
            self.cond.notify_all();
        }
        self.journal_wakers.wake_all();
        self.commit_wakers.wake_all();
    }

    /// A store thread is about to start.
    pub(crate) fn thread_started(&self) {
        self.threads_running.fetch_add(1, Ordering::SeqCst);
    }

    /// A store thread ended (the last thing it does): wakes the tasks of
    /// `close_async`.
    pub(crate) fn thread_ended(&self) {
        self.threads_running.fetch_sub(1, Ordering::SeqCst);
        self.end_wakers.wake_all();
    }

    /// Ready once no store thread runs (`close_async`).
    pub(crate) fn poll_threads_ended(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self.end_wakers.register_unless(cx.waker(), || self.threads_running.load(Ordering::SeqCst) == 0) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }

    /// Latches the store as poisoned and wakes every waiter.
    pub(crate) fn poison(&self, reason: String) {
        let _ = self.poison.set(reason);
        self.latch();
    }

    /// Latches the store as fenced: another store opened `writer` with a
    /// newer epoch.
    pub(crate) fn fence(&self, writer: &str, epoch: u64, current: u64) {
        let _ = self.fenced.set((writer.to_string(), epoch, current));
        let _ = self
            .poison
            .set(format!("fenced: another store opened writer `{writer}` (epoch {current}, this store has {epoch})"));
        self.latch();
    }

    /// Whether another store took this store's writer over.
    pub(crate) fn is_fenced(&self) -> bool {
        self.fenced.get().is_some()
    }

    /// Latches the store as poisoned without a reason yet (a panicking
    /// thread, whose wrapper then gives the panic's message).
    pub(crate) fn latch(&self) {
        self.state.store(POISONED, Ordering::SeqCst);
        self.wake_all();
    }

    /// Records that the worker drained and stopped, and wakes every waiter.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    pub(crate) fn poison_reason(&self) -> Option<String> {
        match self.poison.get() {
            Some(r) => Some(r.clone()),
            None if self.state.load(Ordering::SeqCst) == POISONED => Some("a store thread panicked".into()),
            None => None,
        }
    }

    /// The error of a poisoned (or fenced) store.
    pub(crate) fn poisoned(&self) -> Option<Error> {
        if let Some((writer, epoch, current)) = self.fenced.get() {
            return Some(Error::Fenced { writer: writer.clone(), epoch: *epoch, current: *current, write: None });
        }
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

    /// Whether every write up to `seq` is processed, if that is known: the
    /// error of a store that will not get there.
    fn processed(&self, seq: u64) -> Option<Result<()>> {
        // Loaded before the watermark: the worker publishes its last
        // watermark before it stops.
        let stopped = self.stopped.load(Ordering::SeqCst);
        if self.watermark() >= seq {
            return Some(Ok(()));
        }
        self.unfinished(stopped)
    }

    /// Blocks until every write up to `seq` is processed (committed or
    /// failed), or `deadline` passes.
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
    /// closed if the worker had stopped (`stopped` read before the mark).
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
        {
            let _g = self.lock.lock();
            self.cond.notify_all();
        }
        self.journal_wakers.wake_upto(seq);
    }

    pub(crate) fn wait_for(&self, seq: u64, deadline: Option<Instant>, mark: Mark) -> Option<Result<()>> {
        let outcome = |p: &Progress| match mark {
            Mark::Committed => p.processed(seq),
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
}

/// The error a ticket returns for its failed write.
fn failure_error(f: &Failure) -> Error {
    let (seq, reason, dead_letter) = (Seq(f.seq), f.reason.clone(), f.dead_letter.clone());
    match f.gave_up {
        true => Error::GaveUp { seq, reason, dead_letter },
        false => Error::Rejected { seq, reason, dead_letter },
    }
}

/// A handle to one accepted write, resolving to its outcome `T`: `()` for
/// [`put`](crate::Store::put) and [`delete`](crate::Store::delete),
/// [`Executed`](crate::Executed) for [`execute`](crate::Store::execute).
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
pub struct Ticket<T: TicketOutput = ()> {
    seq: u64,
    slot: Arc<Slot>,
    progress: Arc<Progress>,
    _out: PhantomData<fn() -> T>,
}

impl<T: TicketOutput> Ticket<T> {
    pub(crate) fn new(seq: u64, slot: Arc<Slot>, progress: Arc<Progress>) -> Ticket<T> {
        Ticket { seq, slot, progress, _out: PhantomData }
    }

    /// The write's sequence number.
    pub fn seq(&self) -> Seq {
        Seq(self.seq)
    }

    /// Blocks until the write is committed in the sink, and returns its outcome.
    ///
    /// `Ok` means the batch holding the write was committed: it is visible to
    /// readers of the sink. Whether it also survives a power loss depends on
    /// the sink's settings (see [`Durability`](crate::Durability)).
    ///
    /// Blocks the calling thread: in async code, `.await` the ticket instead.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] if the sink refused the write (it is in the
    /// dead-letter file), [`Error::GaveUp`] if it was given up while the
    /// sink was unavailable (a retry budget or a close deadline; it is in
    /// the dead-letter file too), [`Error::Poisoned`] if the worker stopped
    /// before applying it, [`Error::Fenced`] if another store took over this
    /// store's writer first, [`Error::Closed`] if a close deadline
    /// ([`Store::close_timeout`](crate::Store::close_timeout), the drop's
    /// drain timeout) stopped a store with a journal first: the write stays
    /// in the journal and is applied at the next open. A failure returned
    /// here is not reported again by
    /// [`Store::flush`](crate::Store::flush) or
    /// [`Store::close`](crate::Store::close).
    pub fn wait(&self) -> Result<T> {
        self.wait_until(None).unwrap_or_else(|| Err(self.lost()))
    }

    /// Like [`wait`](Ticket::wait), but gives up after `timeout`:
    /// `Ok(Some(outcome))` committed, `Ok(None)` not yet.
    ///
    /// # Errors
    ///
    /// As [`wait`](Ticket::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<T>> {
        // A timeout too large for an Instant means no deadline.
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_until(Some(deadline)).transpose(),
            None => self.wait().map(Some),
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Option<Result<T>> {
        if let Some(d) = self.slot.done() {
            return Some(self.resolve(d));
        }
        self.progress.hurry(self.seq);
        // Only the slot decides: while the worker lives, a poisoned store may
        // still commit the batch in hand (its ticket must then say Ok).
        loop {
            if let Some(d) = self.slot.register(Waiter::Thread(crate::sync::thread::current())) {
                return Some(self.resolve(d));
            }
            match deadline {
                None => crate::sync::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        self.slot.unregister_thread();
                        return self.slot.done().map(|d| self.resolve(d));
                    }
                    // (loom has no timed park; its builds run only the models.)
                    #[cfg(not(loom))]
                    std::thread::park_timeout(d - now);
                    #[cfg(loom)]
                    crate::sync::thread::yield_now();
                }
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
    /// Blocks the calling thread: in async code, await
    /// [`wait_journaled_async`](Ticket::wait_journaled_async).
    ///
    /// # Errors
    ///
    /// [`Error::NoJournal`] if the store has no journal
    /// ([`Durability::Memory`](crate::Durability::Memory));
    /// [`Error::Poisoned`] if the journal failed before the write was in it.
    pub fn wait_journaled(&self) -> Result<()> {
        self.progress.wait_for(self.seq, None, Mark::Journaled).unwrap_or_else(|| Err(self.lost()))
    }

    /// The awaitable form of [`wait_journaled`](Ticket::wait_journaled):
    /// resolves once the write is in the local journal, without blocking a
    /// thread, under any executor (the journal thread wakes the task).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels only the wait: the write is journaled
    /// and applied all the same.
    ///
    /// # Errors
    ///
    /// As [`wait_journaled`](Ticket::wait_journaled).
    pub fn wait_journaled_async(&self) -> JournaledFuture<'_> {
        JournaledFuture { seq: self.seq, progress: &self.progress }
    }

    /// The same ticket, resolving to `()` instead of the outcome (to keep
    /// tickets of statements and keyed writes in one list).
    pub fn without_outcome(self) -> Ticket {
        Ticket { seq: self.seq, slot: self.slot, progress: self.progress, _out: PhantomData }
    }

    /// Whether the write is committed in the sink now (never blocks).
    pub fn is_committed(&self) -> bool {
        matches!(self.slot.done(), Some(Done::Ok(_)))
    }

    fn resolve(&self, done: Done) -> Result<T> {
        match done {
            Done::Ok(o) => Ok(T::from_outcome(&o)),
            Done::Failed(f) => {
                f.observed.store(true, Ordering::SeqCst);
                Err(failure_error(&f))
            }
            Done::Lost => Err(self.lost()),
        }
    }

    fn lost(&self) -> Error {
        self.progress.poisoned().unwrap_or(Error::Closed { write: None })
    }
}

impl<T: TicketOutput> fmt::Debug for Ticket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").field("seq", &self.seq).field("committed", &self.is_committed()).finish()
    }
}

/// Awaiting a ticket waits for the commit without blocking a thread, and
/// resolves to the write's outcome; it works under any executor (the worker
/// wakes the task's `Waker`).
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
///
/// # Cancel safety
///
/// Dropping the future (a `select!` that took another branch, a timeout)
/// cancels only the wait: the write is applied all the same.
impl<T: TicketOutput> IntoFuture for Ticket<T> {
    type Output = Result<T>;
    type IntoFuture = TicketFuture<T>;
    fn into_future(self) -> TicketFuture<T> {
        TicketFuture { ticket: self, hurried: false }
    }
}

/// The future of an awaited [`Ticket`].
#[must_use = "futures do nothing unless awaited"]
pub struct TicketFuture<T: TicketOutput = ()> {
    ticket: Ticket<T>,
    /// Whether the worker was told not to linger over this write.
    hurried: bool,
}

impl<T: TicketOutput> fmt::Debug for TicketFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TicketFuture").field(&self.ticket).finish()
    }
}

impl<T: TicketOutput> Future for TicketFuture<T> {
    type Output = Result<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        let t = &this.ticket;
        if let Some(d) = t.slot.done() {
            return Poll::Ready(t.resolve(d));
        }
        if !this.hurried {
            this.hurried = true;
            t.progress.hurry(t.seq);
        }
        match t.slot.register(Waiter::Task(cx.waker().clone())) {
            Some(d) => Poll::Ready(t.resolve(d)),
            None => Poll::Pending,
        }
    }
}

/// The future of [`Ticket::wait_journaled_async`].
#[must_use = "futures do nothing unless awaited"]
pub struct JournaledFuture<'a> {
    seq: u64,
    progress: &'a Progress,
}

impl fmt::Debug for JournaledFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournaledFuture").field("seq", &self.seq).finish()
    }
}

impl Future for JournaledFuture<'_> {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let p = self.progress;
        let mut out = None;
        match p.journal_wakers.register_unless(self.seq, cx.waker(), || {
            out = p.outcome_journaled(self.seq);
            out.is_some()
        }) {
            true => Poll::Ready(out.unwrap_or(Ok(()))),
            false => Poll::Pending,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn failure(seq: u64) -> Arc<Failure> {
        Arc::new(Failure {
            seq,
            reason: format!("no {seq}"),
            dead_letter: None,
            gave_up: seq.is_multiple_of(2),
            observed: AtomicBool::new(false),
        })
    }

    #[test]
    fn unreported_failures_stay_bounded_and_are_all_counted() {
        let p = Progress::new(0, false, 0);
        let n = 3 * UNREPORTED as u64;
        for seq in 1..=n {
            p.fail(&failure(seq));
        }
        assert!(p.unreported.lock().list.len() <= UNREPORTED, "the list is bounded");
        match p.take_unreported() {
            Err(Error::WritesFailed { count, gave_up, first, .. }) => {
                assert_eq!((count, gave_up, first), (n, n / 2, Seq(1)));
            }
            other => panic!("{other:?}"),
        }
        assert!(p.take_unreported().is_ok(), "reported once");
    }

    #[test]
    fn failures_a_ticket_saw_are_not_reported_and_make_room() {
        let p = Progress::new(0, false, 0);
        for seq in 1..=(2 * UNREPORTED as u64) {
            let f = failure(seq);
            f.observed.store(seq != 7, Ordering::SeqCst);
            p.fail(&f);
        }
        match p.take_unreported() {
            Err(Error::WritesFailed { count, first, .. }) => assert_eq!((count, first), (1, Seq(7))),
            other => panic!("{other:?}"),
        }
    }
}
