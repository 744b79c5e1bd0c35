//! The read pool: threads owned by the store that run the sink's reads for
//! `get_async` and `query_async`, so that no executor thread blocks on the
//! sink and no user future owns a sink connection (a dropped future leaves
//! its read to finish on the pool, and the answer is dropped).
//!
//! Started on the first async read; its threads end when the store's last
//! handle goes (the job channel closes).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

type Job = Box<dyn FnOnce() + Send>;

/// Reader threads of one store.
pub(crate) struct ReadPool {
    jobs: OnceLock<Sender<Job>>,
    threads: usize,
}

/// The answer of one job, and the task waiting for it.
struct Answer<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The job ended without an answer: the read panicked, or the job was
    /// dropped unrun (no reader thread).
    lost: bool,
    /// The future is gone: nobody will take the answer.
    gone: bool,
    /// Where an answer nobody takes goes (`on_thread`); a read's is dropped.
    unheard: Option<Box<dyn FnOnce(T) + Send>>,
}

impl<T> Answer<T> {
    fn new(unheard: Option<Box<dyn FnOnce(T) + Send>>) -> Arc<Mutex<Answer<T>>> {
        Arc::new(Mutex::new(Answer { value: None, waker: None, lost: false, gone: false, unheard }))
    }
}

/// Hands `v` to the future, or to `unheard` if the future is gone (decided
/// under the answer's lock, as the future's drop decides).
fn answer<T>(cell: &Mutex<Answer<T>>, v: T) {
    let mut a = cell.lock();
    if !a.gone {
        a.value = Some(v);
        return;
    }
    let to = a.unheard.take();
    drop(a);
    if let Some(to) = to {
        to(v);
    }
}

impl ReadPool {
    pub(crate) fn new(threads: usize) -> ReadPool {
        ReadPool { jobs: OnceLock::new(), threads: threads.max(1) }
    }

    fn sender(&self) -> Option<&Sender<Job>> {
        if let Some(tx) = self.jobs.get() {
            return Some(tx);
        }
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..self.threads {
            let rx: Receiver<Job> = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("backburner-reader-{i}")).spawn(move || {
                for job in rx {
                    // A panicking reader fails its read (the job's guard
                    // says so), not the pool.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
            if spawned.is_err() && i == 0 {
                return None;
            }
        }
        // Another caller may have started a pool meanwhile: then this one's
        // threads see their channel close and end.
        let _ = self.jobs.set(tx);
        self.jobs.get()
    }

    /// Runs `read` on a reader thread; the future resolves to its answer,
    /// or to `None` if it panicked or no reader thread could run it. A read
    /// whose future is gone before it starts is skipped.
    pub(crate) fn run<T: Send + 'static>(&self, read: impl FnOnce() -> T + Send + 'static) -> ReadFuture<T> {
        let answer = Answer::new(None);
        let guard = Finish(Arc::clone(&answer));
        let job: Job = Box::new(move || {
            // Nobody waits any more (the future was dropped): skip the read.
            if guard.0.lock().gone {
                return;
            }
            let v = read();
            self::answer(&guard.0, v);
            // `guard` drops here and wakes the task.
        });
        let sent = self.sender().is_some_and(|tx| tx.send(job).is_ok());
        if !sent {
            answer.lock().lost = true;
        }
        ReadFuture { answer }
    }
}

/// Runs `f` on a thread of its own, named `name`; the future resolves to
/// its answer, or to `None` if it panicked or the thread could not start.
/// Unlike a read, `f` runs even if the future is dropped first (the async
/// forms of open and of a bounded close: the work goes on); an answer
/// nobody awaits any more goes to `unheard` (a close's report is printed,
/// an opened store is closed), on whichever thread finds the future gone.
pub(crate) fn on_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
    unheard: impl FnOnce(T) + Send + 'static,
) -> ReadFuture<T> {
    let answer = Answer::new(Some(Box::new(unheard)));
    let guard = Finish(Arc::clone(&answer));
    let job = move || {
        self::answer(&guard.0, f());
        // `guard` drops here and wakes the task.
    };
    // A thread that cannot start drops the job (and its guard) unrun: `lost`.
    let _ = std::thread::Builder::new().name(name.into()).spawn(job);
    ReadFuture { answer }
}

/// Wakes the read's task when its job ends, with the answer or (the read
/// panicked, or the job was dropped unrun) without one.
struct Finish<T>(Arc<Mutex<Answer<T>>>);

impl<T> Drop for Finish<T> {
    fn drop(&mut self) {
        let waker = {
            let mut a = self.0.lock();
            if a.value.is_none() {
                a.lost = true;
            }
            a.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The future of a read on the pool, or of `on_thread`.
pub(crate) struct ReadFuture<T> {
    answer: Arc<Mutex<Answer<T>>>,
}

impl<T> Drop for ReadFuture<T> {
    fn drop(&mut self) {
        let mut a = self.answer.lock();
        a.gone = true;
        // An answer that arrived but was not taken.
        let (v, to) = match a.value.take() {
            Some(v) => (Some(v), a.unheard.take()),
            None => (None, None),
        };
        drop(a);
        if let (Some(v), Some(to)) = (v, to) {
            to(v);
        }
    }
}

impl<T> Future for ReadFuture<T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut a = self.answer.lock();
        if let Some(v) = a.value.take() {
            return Poll::Ready(Some(v));
        }
        if a.lost {
            return Poll::Ready(None);
        }
        a.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
