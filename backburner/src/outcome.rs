//! What applying one write produced (its outcome), and the one-shot slot
//! that carries it from the worker to the write's [`Ticket`](crate::Ticket).
//!
//! Every accepted write has one [`Slot`], shared by its ticket and its
//! record (tokio's `sync/oneshot.rs` is the model): the worker completes
//! the slot through the record's [`Completer`] and wakes the one task or
//! thread waiting on it, if any. So a wake-up costs O(1) per ticket, no
//! store-wide map holds failures for tickets, and a dropped ticket leaves
//! nothing behind. A record dropped without being completed (the worker
//! stopped, panicked, or a close deadline left it in the journal)
//! completes its slot as [`Done::Lost`], so no waiter sleeps forever.
//!
//! The protocol has one atomic state byte and a mutex that only waiters and
//! slots with something to say take:
//!
//! * a waiter locks, registers its waker or thread, then sets `WAITING`
//!   with `fetch_or`; if that returns `DONE`, the outcome is there;
//! * the completer stores the outcome (under the lock, unless it is the
//!   plain success every `put` has), then sets `DONE` with `fetch_or`; if
//!   that returns `WAITING`, it locks and wakes the registered waiters.
//!
//! Either the waiter's `fetch_or` comes first (the completer sees `WAITING`
//! and wakes it; its waker was registered under the lock before) or the
//! completer's does (the waiter sees `DONE`): no wake-up is lost.

use std::path::PathBuf;
// The slot's `Arc` is std's in every build: loom checks the state byte, the
// lock and the waiters' wake-ups, which go through the shim.
use std::sync::Arc;
use std::task::Waker;

use crate::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use crate::sync::thread::Thread;
use crate::sync::Mutex;

/// What a statement run by [`Store::execute`](crate::Store::execute) did:
/// the outcome its [`Ticket`](crate::Ticket) resolves to.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}/t.db", dir.path().display());
/// let store = backburner::Store::open(&url)?;
/// store.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT)", [])?;
/// let done = store.execute("INSERT INTO events(kind) VALUES (?1)", backburner::params!["login"])?.wait()?;
/// assert_eq!(done.changes(), 1);
/// assert_eq!(done.last_insert_id(), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Executed {
    changes: u64,
    last_insert_id: Option<i64>,
}

impl Executed {
    /// An outcome: `changes` rows written, and the id of the row inserted, if
    /// the statement inserted one (for sinks that report outcomes).
    pub fn new(changes: u64, last_insert_id: Option<i64>) -> Executed {
        Executed { changes, last_insert_id }
    }

    /// Rows inserted, changed or deleted by the statement itself (SQLite's
    /// `changes()`: not rows written by triggers or foreign-key actions).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The id of the row the statement inserted (SQLite's rowid), if it was
    /// an `INSERT` or `REPLACE` that inserted a row; `None` otherwise.
    pub fn last_insert_id(&self) -> Option<i64> {
        self.last_insert_id
    }
}

/// What applying one write produced, as a sink reports it
/// ([`Outcomes::set`](crate::sink::Outcomes::set)).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Nothing to report (every keyed write; statements on sinks that do not
    /// report outcomes).
    #[default]
    None,
    /// A statement's changes and inserted id.
    Executed(Executed),
}

/// The types a [`Ticket`](crate::Ticket) can resolve to: `()` for keyed
/// writes, [`Executed`] for statements. Sealed.
pub trait TicketOutput: private::Sealed + Send + Sync + 'static {
    #[doc(hidden)]
    fn from_outcome(outcome: &Outcome) -> Self;
}

mod private {
    pub trait Sealed {}
    impl Sealed for () {}
    impl Sealed for super::Executed {}
}

impl TicketOutput for () {
    fn from_outcome(_: &Outcome) {}
}

impl TicketOutput for Executed {
    fn from_outcome(outcome: &Outcome) -> Executed {
        match outcome {
            Outcome::Executed(e) => *e,
            // A sink that reports no outcome: nothing is known of the rows.
            Outcome::None => Executed::default(),
        }
    }
}

/// Why one write failed. Shared by its slot (for its ticket) and the
/// store's list of failures not yet reported (for `flush` and `close`).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) seq: u64,
    pub(crate) reason: String,
    pub(crate) dead_letter: Option<PathBuf>,
    /// Given up while the sink was unavailable, not refused by it.
    pub(crate) gave_up: bool,
    /// A ticket's wait returned this failure: `flush` and `close` do not
    /// report it again.
    pub(crate) observed: AtomicBool,
}

/// How a write ended, as its slot holds it.
#[derive(Clone, Debug)]
pub(crate) enum Done {
    /// Applied (or superseded by a later write of its key in the same batch).
    Ok(Outcome),
    /// Refused by the sink or given up.
    Failed(Arc<Failure>),
    /// Dropped unapplied: the store was poisoned, or stopped with the write
    /// left in the journal. The ticket asks the store which.
    Lost,
}

const WAITING: u8 = 1;
const DONE: u8 = 2;

/// The one-shot slot of one write.
pub(crate) struct Slot {
    state: AtomicU8,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// `None` with `DONE` set: the plain success (`Done::Ok(Outcome::None)`).
    done: Option<Done>,
    /// Usually none or one; a ticket shared by several threads may have more.
    waiters: Vec<Waiter>,
}

/// Who waits for a slot.
pub(crate) enum Waiter {
    Thread(Thread),
    Task(Waker),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Thread(t) => t.unpark(),
            Waiter::Task(w) => w.wake(),
        }
    }
}

impl Slot {
    /// A new slot, and the completer that goes with the write's record.
    #[inline]
    pub(crate) fn new() -> (Arc<Slot>, Completer) {
        let slot = Arc::new(Slot { state: AtomicU8::new(0), inner: Mutex::new(Inner::default()) });
        let completer = Completer { slot: Some(Arc::clone(&slot)) };
        (slot, completer)
    }

    /// The outcome, if the write is done (never blocks on the worker).
    pub(crate) fn done(&self) -> Option<Done> {
        if self.state.load(Ordering::Acquire) & DONE == 0 {
            return None;
        }
        Some(self.inner.lock().done.clone().unwrap_or(Done::Ok(Outcome::None)))
    }

    /// Registers `waiter` unless the write is done; returns the outcome if it is.
    /// A waiter already registered (the same thread, or a waker that wakes
    /// the same task) is replaced, not added.
    pub(crate) fn register(&self, waiter: Waiter) -> Option<Done> {
        let mut inner = self.inner.lock();
        if self.state.load(Ordering::Acquire) & DONE != 0 {
            return Some(inner.done.clone().unwrap_or(Done::Ok(Outcome::None)));
        }
        let same = |w: &Waiter| match (w, &waiter) {
            (Waiter::Thread(a), Waiter::Thread(b)) => a.id() == b.id(),
            (Waiter::Task(a), Waiter::Task(b)) => a.will_wake(b),
            _ => false,
        };
        match inner.waiters.iter().position(same) {
            Some(i) => inner.waiters[i] = waiter,
            None => inner.waiters.push(waiter),
        }
        if self.state.fetch_or(WAITING, Ordering::AcqRel) & DONE != 0 {
            // Completed between the check and the flag (the plain success
            // path takes no lock).
            return Some(inner.done.clone().unwrap_or(Done::Ok(Outcome::None)));
        }
        None
    }

    /// Forgets the waiters of the current thread (a timed-out wait).
    pub(crate) fn unregister_thread(&self) {
        let me = crate::sync::thread::current().id();
        self.inner.lock().waiters.retain(|w| !matches!(w, Waiter::Thread(t) if t.id() == me));
    }

    fn complete(&self, done: Done) {
        let plain = matches!(done, Done::Ok(Outcome::None));
        if plain {
            if self.state.fetch_or(DONE, Ordering::AcqRel) & WAITING == 0 {
                return;
            }
            let waiters = std::mem::take(&mut self.inner.lock().waiters);
            for w in waiters {
                w.wake();
            }
            return;
        }
        let waiters = {
            let mut inner = self.inner.lock();
            inner.done = Some(done);
            self.state.fetch_or(DONE, Ordering::AcqRel);
            std::mem::take(&mut inner.waiters)
        };
        for w in waiters {
            w.wake();
        }
    }
}

/// The record's side of a slot: completes it once. Dropped without
/// completing (the record was dropped unapplied), it completes the slot as
/// [`Done::Lost`].
pub(crate) struct Completer {
    slot: Option<Arc<Slot>>,
}

impl Completer {
    /// Completes the slot with `done`, waking whoever waits.
    #[inline]
    pub(crate) fn complete(mut self, done: Done) {
        if let Some(slot) = self.slot.take() {
            slot.complete(done);
        }
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.complete(Done::Lost);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_completer_completes_its_slot_as_lost() {
        let (slot, c) = Slot::new();
        assert!(slot.done().is_none());
        drop(c);
        assert!(matches!(slot.done(), Some(Done::Lost)));
    }

    #[test]
    fn a_waiting_thread_is_woken_by_the_plain_success() {
        let (slot, c) = Slot::new();
        let s = Arc::clone(&slot);
        let t = std::thread::spawn(move || loop {
            if let Some(d) = s.register(Waiter::Thread(std::thread::current())) {
                return d;
            }
            std::thread::park();
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.complete(Done::Ok(Outcome::None));
        assert!(matches!(t.join().expect("waiter"), Done::Ok(Outcome::None)));
    }

    #[test]
    fn an_outcome_reaches_a_waiter_registered_before() {
        let (slot, c) = Slot::new();
        assert!(slot.register(Waiter::Thread(std::thread::current())).is_none());
        c.complete(Done::Ok(Outcome::Executed(Executed::new(1, Some(7)))));
        match slot.done() {
            Some(Done::Ok(Outcome::Executed(e))) => assert_eq!(e.last_insert_id(), Some(7)),
            _ => panic!("no outcome"),
        }
    }
}

/// Model checks of the slot's protocol under loom (`.ci/run`): every
/// interleaving of a waiter's registration with the completion, up to the
/// preemption bound, wakes the waiter with the right outcome, and a
/// completer dropped unused wakes it with `Lost`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::thread;

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(std::env::var("LOOM_MAX_PREEMPTIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(3));
        b.check(f);
    }

    /// What a blocking `Ticket::wait` does: register, park, until done.
    fn wait(slot: &Slot) -> Done {
        loop {
            if let Some(d) = slot.register(Waiter::Thread(thread::current())) {
                return d;
            }
            thread::park();
        }
    }

    #[test]
    fn loom_a_waiter_is_woken_by_the_plain_success() {
        model(|| {
            let (slot, c) = Slot::new();
            let w = thread::spawn(move || matches!(wait(&slot), Done::Ok(Outcome::None)));
            c.complete(Done::Ok(Outcome::None));
            assert!(w.join().expect("waiter"));
        });
    }

    #[test]
    fn loom_a_waiter_gets_the_outcome_stored_with_the_completion() {
        model(|| {
            let (slot, c) = Slot::new();
            let s = Arc::clone(&slot);
            let w = thread::spawn(move || match wait(&s) {
                Done::Ok(Outcome::Executed(e)) => e.last_insert_id(),
                _ => None,
            });
            c.complete(Done::Ok(Outcome::Executed(Executed::new(1, Some(9)))));
            assert_eq!(w.join().expect("waiter"), Some(9), "the outcome was lost");
            // Read again after the wait: the same outcome.
            assert!(matches!(slot.done(), Some(Done::Ok(Outcome::Executed(_)))));
        });
    }

    #[test]
    fn loom_a_dropped_completer_wakes_the_waiter_with_lost() {
        model(|| {
            let (slot, c) = Slot::new();
            let w = thread::spawn(move || matches!(wait(&slot), Done::Lost));
            drop(c);
            assert!(w.join().expect("waiter"));
        });
    }

    #[test]
    fn loom_two_waiters_are_both_woken() {
        // The waiters are the spawned threads and the main thread completes:
        // loom's `join` does not tolerate the stray unpark a woken waiter
        // may still hold (harmless with std's threads).
        model(|| {
            let (slot, c) = Slot::new();
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let s = Arc::clone(&slot);
                    thread::spawn(move || matches!(wait(&s), Done::Ok(_)))
                })
                .collect();
            c.complete(Done::Ok(Outcome::None));
            for w in waiters {
                assert!(w.join().expect("waiter"));
            }
        });
    }
}
