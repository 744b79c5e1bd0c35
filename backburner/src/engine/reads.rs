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

/// The answer of one read, and the task waiting for it.
struct Answer<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The job ended without an answer: the read panicked, or the job was
    /// dropped unrun (no reader thread).
    lost: bool,
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
        let answer = Arc::new(Mutex::new(Answer { value: None, waker: None, lost: false }));
        let guard = Finish(Arc::clone(&answer));
        let job: Job = Box::new(move || {
            // Nobody waits any more (the future was dropped): skip the read.
            if Arc::strong_count(&guard.0) == 1 {
                return;
            }
            let v = read();
            guard.0.lock().value = Some(v);
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
) -> ThreadFuture<T> {
    let answer = Arc::new(Mutex::new(Answer { value: None, waker: None, lost: false }));
    let state = Arc::new(Mutex::new(Unheard { gone: false, to: Some(Box::new(unheard)) }));
    let guard = Finish(Arc::clone(&answer));
    let job = {
        let state = Arc::clone(&state);
        move || {
            let v = f();
            // Under the state's lock, so that the future's drop and this
            // agree on who hands the answer over.
            let mut st = state.lock();
            if st.gone {
                let to = st.to.take();
                drop(st);
                if let Some(to) = to {
                    to(v);
                }
                return;
            }
            guard.0.lock().value = Some(v);
            drop(st);
            // `guard` drops here and wakes the task.
        }
    };
    if std::thread::Builder::new().name(name.into()).spawn(job).is_err() {
        // The job (and its guard) dropped unrun: `lost` is set.
    }
    ThreadFuture { read: ReadFuture { answer }, state }
}

/// Where the answer of `on_thread` goes if its future is gone.
struct Unheard<T> {
    gone: bool,
    to: Option<Box<dyn FnOnce(T) + Send>>,
}

/// The future of `on_thread`.
pub(crate) struct ThreadFuture<T> {
    read: ReadFuture<T>,
    state: Arc<Mutex<Unheard<T>>>,
}

impl<T> Future for ThreadFuture<T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Both fields are `Unpin`.
        Pin::new(&mut self.get_mut().read).poll(cx)
    }
}

impl<T> Drop for ThreadFuture<T> {
    fn drop(&mut self) {
        let mut st = self.state.lock();
        st.gone = true;
        // An answer that arrived but was not taken.
        let v = self.read.answer.lock().value.take();
        let to = if v.is_some() { st.to.take() } else { None };
        drop(st);
        if let (Some(v), Some(to)) = (v, to) {
            to(v);
        }
    }
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

/// The future of a read on the pool.
pub(crate) struct ReadFuture<T> {
    answer: Arc<Mutex<Answer<T>>>,
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
