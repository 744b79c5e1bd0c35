//! The log call's path: each thread's producer halves (one per logger it
//! has logged to, in a thread-local), the push into its ring, what a full
//! ring does ([`Backpressure`]), and what a call does once the worker has
//! panicked (it drops its line, counted). Methods of [`Shared`], so that the
//! front end (`Logger`) and the process-wide notes (`registry`) both push.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::record::Entry;
use super::shared::{Shared, ThreadQueue};
use crate::backpressure::Backpressure;

/// A thread's producer half for one logger.
struct Local {
    id: usize,
    producer: rtrb::Producer<Entry>,
    q: Arc<ThreadQueue>,
}

thread_local! {
    static LOCAL: std::cell::RefCell<Vec<Local>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Shared {
    /// Queues `entry` in this thread's ring for this logger (created on the
    /// thread's first call), as the policy says when the ring is full.
    #[inline]
    pub(super) fn push(&self, entry: Entry) {
        let id = self.id;
        let mut entry = Some(entry);
        let _ = LOCAL.try_with(|l| {
            let Ok(mut v) = l.try_borrow_mut() else {
                return;
            };
            let local = match v.iter_mut().position(|x| x.id == id) {
                Some(i) => &mut v[i],
                None => {
                    v.push(self.new_local());
                    let last = v.len() - 1;
                    &mut v[last]
                }
            };
            if let Some(e) = entry.take() {
                self.push_to(&mut local.producer, &local.q, e);
            }
        });
        if let Some(e) = entry {
            // No thread-local storage (the thread is exiting, or a log call
            // from inside a log call): a ring of its own for this line.
            let mut local = self.new_local();
            self.push_to(&mut local.producer, &local.q, e);
        }
    }

    #[inline]
    fn push_to(&self, p: &mut rtrb::Producer<Entry>, q: &ThreadQueue, entry: Entry) {
        match p.push(entry) {
            Ok(()) => {}
            Err(rtrb::PushError::Full(back)) => {
                if !self.full(p, q, back) {
                    return;
                }
            }
        }
        // Only this thread writes its counter: no read-modify-write needed.
        q.pushed.store(q.pushed.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if self.sleeping.load(Ordering::Relaxed) {
            self.wake(q);
        }
    }

    /// After a push that found the worker asleep: wakes it. Or, once the
    /// worker panicked (the latch keeps `sleeping` set, so every push comes
    /// here), takes the line back as dropped and empties the ring, which
    /// nobody reads any more.
    #[cold]
    fn wake(&self, q: &ThreadQueue) {
        if !self.is_poisoned() {
            if let Some(t) = self.worker.get() {
                t.unpark();
            }
            return;
        }
        // Only this thread writes `pushed`: the line just counted is not logged.
        q.pushed.store(q.pushed.load(Ordering::Relaxed).saturating_sub(1), Ordering::Relaxed);
        q.dropped.fetch_add(1, Ordering::Relaxed);
        let mut c = q.consumer.lock();
        while c.pop().is_ok() {}
    }

    /// A line that found its ring full: waits for room, or drops the line
    /// and counts it, as the policy says. Whether the line went in.
    #[cold]
    fn full(&self, p: &mut rtrb::Producer<Entry>, q: &ThreadQueue, mut back: Entry) -> bool {
        // `None`: wait as long as it takes (also for a wait too long to
        // have an end).
        let deadline = match self.policy {
            Backpressure::Block => None,
            Backpressure::Timeout(d) if !d.is_zero() => Instant::now().checked_add(d),
            Backpressure::Timeout(_) | Backpressure::DropNewest => {
                q.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        if self.on_worker() {
            // The worker logging into its own full ring (a panic hook or a
            // Clock on its thread): no room can come while it waits here.
            q.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut round = 0u32;
        loop {
            if let Some(t) = self.worker.get() {
                t.unpark();
            }
            // Yield a few times (the worker, just woken, usually makes room
            // at once), then sleep in growing naps of at most 1 ms, never
            // past a Timeout's deadline: a producer held by a slow
            // destination waits without spinning a core.
            if round < 16 {
                std::thread::yield_now();
            } else {
                let nap = Duration::from_micros(1 << (round - 16).min(10)).min(Duration::from_millis(1));
                let nap = match deadline {
                    Some(end) => nap.min(end.saturating_duration_since(Instant::now())),
                    None => nap,
                };
                std::thread::sleep(nap);
            }
            round = round.saturating_add(1);
            match p.push(back) {
                Ok(()) => return true,
                Err(rtrb::PushError::Full(b)) => back = b,
            }
            if self.stop.load(Ordering::SeqCst) && self.worker_gone() {
                return false;
            }
            // The worker panicked: no room will come.
            if self.is_poisoned() {
                q.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            if deadline.is_some_and(|end| Instant::now() >= end) {
                q.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
    }

    /// This thread's first call to this logger: a ring of its own, added
    /// to the logger's list.
    #[cold]
    fn new_local(&self) -> Local {
        let name = std::thread::current()
            .name()
            .map(Box::from)
            .unwrap_or_else(|| format!("{:?}", std::thread::current().id()).into_boxed_str());
        let (producer, consumer) = rtrb::RingBuffer::new(self.per_thread);
        let q = Arc::new(ThreadQueue {
            consumer: Mutex::new(consumer),
            capacity: self.per_thread,
            pushed: CachePadded::new(AtomicU64::new(0)),
            dropped: CachePadded::new(AtomicU64::new(0)),
            name,
        });
        self.queues.lock().push(Arc::clone(&q));
        self.queue_count.fetch_add(1, Ordering::Relaxed);
        self.queues_version.fetch_add(1, Ordering::SeqCst);
        Local { id: self.id, producer, q }
    }
}
