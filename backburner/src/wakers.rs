//! Lists of tasks waiting for something the engine's threads publish (room
//! in the queue, a watermark, a flush), shared by every async call.
//!
//! One protocol for all of them: a waiter checks, then, under the list's
//! lock, checks again and registers its waker; the publisher publishes
//! first (an atomic store), then takes the lock to take the wakers out and
//! wakes them with no lock held. Either the waiter's second check sees the
//! news, or its waker is in the list when the publisher takes it: no
//! wake-up is lost.

use std::collections::BTreeMap;
use std::task::Waker;

use parking_lot::Mutex;

/// Tasks waiting for one event; each wake-up wakes them all.
#[derive(Default)]
pub(crate) struct Wakers(Mutex<Vec<Waker>>);

impl Wakers {
    /// Registers `waker` unless `ready()`, checked under the lock; returns
    /// whether it was ready. A waker that wakes the same task is not added twice.
    pub(crate) fn register_unless(&self, waker: &Waker, ready: impl FnOnce() -> bool) -> bool {
        let mut w = self.0.lock();
        if ready() {
            return true;
        }
        if !w.iter().any(|x| x.will_wake(waker)) {
            w.push(waker.clone());
        }
        false
    }

    /// Wakes every registered task.
    pub(crate) fn wake_all(&self) {
        let woken = std::mem::take(&mut *self.0.lock());
        for w in woken {
            w.wake();
        }
    }
}

/// Tasks waiting for a mark (a watermark) to reach their `Seq`.
#[derive(Default)]
pub(crate) struct SeqWakers(Mutex<BTreeMap<u64, Vec<Waker>>>);

impl SeqWakers {
    /// Registers `waker` for `seq` unless `ready()`, checked under the lock;
    /// returns whether it was ready.
    pub(crate) fn register_unless(&self, seq: u64, waker: &Waker, ready: impl FnOnce() -> bool) -> bool {
        let mut w = self.0.lock();
        if ready() {
            return true;
        }
        let list = w.entry(seq).or_default();
        if !list.iter().any(|x| x.will_wake(waker)) {
            list.push(waker.clone());
        }
        false
    }

    /// Wakes exactly the tasks waiting for a `Seq` up to `mark`.
    pub(crate) fn wake_upto(&self, mark: u64) {
        let due = {
            let mut w = self.0.lock();
            if w.is_empty() {
                return;
            }
            let later = w.split_off(&mark.saturating_add(1));
            std::mem::replace(&mut *w, later)
        };
        for w in due.into_values().flatten() {
            w.wake();
        }
    }

    /// Wakes every registered task.
    pub(crate) fn wake_all(&self) {
        let woken = std::mem::take(&mut *self.0.lock());
        for w in woken.into_values().flatten() {
            w.wake();
        }
    }
}
