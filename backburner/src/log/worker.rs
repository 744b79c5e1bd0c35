//! The worker: one thread per logger, "backburner-log", that drains every
//! thread's ring, formats the lines and hands them to the [`Sink`]; and,
//! for a waited-for backlog, a second formatting thread
//! (`Worker::write_parallel`). It answers flush and sync requests through
//! [`Shared`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::format::{self, Format};
use super::level::Level;
use super::prefault;
use super::record::Entry;
use super::shared::{Shared, ThreadQueue};
use super::sink::{Sink, Wrote};

/// Starts the worker of `shared` on a thread of its own, writing to
/// `sink`; if the worker panics, the logger is latched
/// ([`Shared::poison`]).
///
/// # Errors
///
/// When the thread cannot be started.
pub(super) fn spawn(shared: &Arc<Shared>, sink: Sink, format: Format, merge: bool) -> std::io::Result<JoinHandle<()>> {
    let worker = Worker {
        shared: Arc::clone(shared),
        sink,
        format,
        merge,
        stamp: format::Stamp::default(),
        anchor: (shared.base.0, format::epoch_ns(shared.base.1)),
        clock: shared.clock.clone(),
        par_text: String::new(),
        par_ends: Vec::new(),
    };
    let latch = Arc::clone(shared);
    let t = crate::thread::spawn(
        "backburner-log",
        move || worker.run(),
        move |ended| {
            if let Err(reason) = ended {
                latch.poison(reason);
            }
        },
    )?;
    let _ = shared.worker.set(t.thread().clone());
    Ok(t)
}

/// Lines taken from one ring per pass outside a flush.
const PASS_MAX: usize = 4096;

/// A waited-for backlog at least this long is formatted on two threads.
const PAR_MIN: usize = 8192;

/// Wall-clock nanoseconds of a raw clock reading, from an anchor pair.
fn wall(anchor: (u64, u64), clock: &quanta::Clock, at: u64) -> u64 {
    let (raw, wall) = anchor;
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if at >= raw {
        wall.saturating_add(ns(clock.delta(raw, at)))
    } else {
        wall.saturating_sub(ns(clock.delta(at, raw)))
    }
}

/// Appends one entry's line to `out`.
fn format_entry(out: &mut String, stamp: &mut format::Stamp, fmt: Format, ts: u64, e: &Entry, thread: &str) {
    let render = |o: &mut String| e.render(o);
    let line = format::Line {
        ts,
        level: e.level(),
        target: e.target(),
        thread,
        msg: &render,
        fields: e.fields(),
        spans: e.spans(),
    };
    format::write_line(out, stamp, fmt, &line);
}

/// Calls `f` on each entry, with the entries a few ahead already on their
/// way into the cache: they were written by another core, and reading them
/// one by one waited for each transfer (the worker formatted a backlog about
/// twice as slowly as the same entries already in its cache).
#[inline]
fn write_entries<'a, R: std::borrow::Borrow<Entry>>(entries: &'a [R], mut f: impl FnMut(&'a Entry)) {
    const AHEAD: usize = 8;
    for (i, e) in entries.iter().enumerate() {
        if let Some(next) = entries.get(i + AHEAD) {
            let next: *const Entry = next.borrow();
            prefault::prefetch(next);
            prefault::prefetch(next.cast::<u8>().wrapping_add(64));
        }
        f(e.borrow());
    }
}

/// The worker: drains every thread's queue, formats, writes.
struct Worker {
    shared: Arc<Shared>,
    sink: Sink,
    format: Format,
    merge: bool,
    stamp: format::Stamp,
    /// A raw clock reading and the wall-clock time (ns since the epoch) at the same moment.
    anchor: (u64, u64),
    /// The logger's clock (a copy: read for every line).
    clock: quanta::Clock,
    /// The second formatting thread's text and line ends (reused).
    par_text: String,
    par_ends: Vec<usize>,
}

impl Worker {
    fn run(mut self) {
        let mut batch: Vec<(Entry, Arc<ThreadQueue>)> = Vec::new();
        let mut idle_rounds = 0u32;
        let mut dirty = false;
        let mut queues: Vec<Arc<ThreadQueue>> = Vec::new();
        let mut seen_version = usize::MAX;
        loop {
            self.reanchor();
            let flush_target = self.shared.flush_req.load(Ordering::SeqCst);
            let stop = self.shared.stop.load(Ordering::SeqCst);
            let version = self.shared.queues_version.load(Ordering::SeqCst);
            if version != seen_version {
                queues = self.shared.queues.lock().clone();
                seen_version = version;
            }
            let mut gone = false;
            let mut n = 0;
            // A flush is answered after one pass that took everything the
            // rings held when it began (what was logged before the flush
            // call), even while other threads keep logging.
            let flushing = flush_target > self.shared.flush_done.load(Ordering::SeqCst);
            let mut rest = false;
            let mut behind = false;
            for q in &queues {
                // Drop notices first, in place of the lines they stand for.
                let d = q.dropped.swap(0, Ordering::Relaxed);
                if d > 0 {
                    self.shared.dropped.fetch_add(d, Ordering::Relaxed);
                    self.notice(q, d);
                }
                let name: &str = &q.name;
                let mut c = q.consumer.lock();
                // The thread ended and its ring is empty: forget it.
                gone |= c.is_abandoned() && c.is_empty();
                // Up to 4096 lines per ring and pass (all of them while a
                // flush waits), so that one busy thread does not starve others.
                let take = if flushing { c.slots() } else { c.slots().min(PASS_MAX) };
                if flushing && !self.merge && take >= PAR_MIN {
                    // Someone waits for a backlog: format it on two threads
                    // (the flushing caller is idle meanwhile, and with it a core).
                    // Formatted in place in the ring (no copy), then released.
                    if let Ok(rc) = c.read_chunk(take) {
                        let (a, b) = rc.as_slices();
                        let entries: Vec<&Entry> = a.iter().chain(b).collect();
                        n += entries.len();
                        self.write_parallel(&entries, name);
                        rc.commit_all();
                    }
                    rest |= !c.is_empty();
                    continue;
                }
                // Popped one by one (not formatted in place): an entry may
                // own a heap string (a `tracing` event, a line formatted on
                // the caller), and releasing thousands at once made the
                // callers' allocations wait on the allocator (tracing layer
                // p99.9 3.7 -> 11-15 µs).
                for _ in 0..take {
                    let Ok(e) = c.pop() else { break };
                    n += 1;
                    if self.merge {
                        batch.push((e, Arc::clone(q)));
                    } else {
                        self.write_entry(&e, name);
                    }
                }
                rest |= !c.is_empty();
                // Capped at 4,096 with more behind: thousands of lines behind.
                behind |= take == PASS_MAX && !c.is_empty();
            }
            if gone {
                let shared = &self.shared;
                shared.queues.lock().retain(|q| {
                    let c = q.consumer.lock();
                    let keep = !(c.is_abandoned() && c.is_empty());
                    if !keep {
                        shared.retired_pushed.fetch_add(q.pushed.load(Ordering::Relaxed), Ordering::Relaxed);
                        shared.dropped.fetch_add(q.dropped.swap(0, Ordering::Relaxed), Ordering::Relaxed);
                    }
                    keep
                });
                self.shared.queues_version.fetch_add(1, Ordering::SeqCst);
            }
            if self.merge && !batch.is_empty() {
                batch.sort_by_key(|(e, _)| e.at);
                for (e, q) in batch.drain(..) {
                    self.write_entry(&e, &q.name);
                }
            }
            if n > 0 {
                dirty = true;
                idle_rounds = 0;
            }
            if n > 0 && !flushing && self.maybe_sync() {
                self.shared.wake_flushers();
            }
            if n > 0 && !flushing {
                // Do not chase the producers line by line: a worker reading a
                // slot right after it was written makes every push miss the
                // cache. Let the queues fill a while (they hold thousands of
                // lines), unless a flush waits or a queue is half full.
                // A pass that stopped at its cap with more lines waiting is
                // far enough behind the producers to go on at once
                // (thousands of lines apart); one that merely found a few
                // new lines at its end naps.
                let pressed = behind || queues.iter().any(|q| q.consumer.lock().slots() * 2 >= q.capacity);
                if !pressed && !stop && flush_target <= self.shared.flush_done.load(Ordering::SeqCst) {
                    std::thread::park_timeout(Duration::from_micros(200));
                }
                continue;
            }
            // Queues empty, or a flush waits: hand the buffer to the OS, answer it.
            if dirty {
                let w = self.sink.flush();
                self.count(w);
                dirty = false;
            }
            self.shared.rotations.store(self.sink.rotations(), Ordering::Relaxed);
            let mut answered = false;
            if flushing {
                self.shared.flush_done.store(flush_target, Ordering::SeqCst);
                answered = true;
            }
            answered |= self.maybe_sync();
            if answered {
                self.shared.wake_flushers();
            }
            if n > 0 || rest {
                // A flush pass that left lines behind: go on draining.
                continue;
            }
            if stop {
                break;
            }
            // Park: short naps first, then long sleeps that producers end.
            idle_rounds += 1;
            if idle_rounds > 100 {
                self.shared.sleeping.store(true, Ordering::SeqCst);
                if !self.any_pending() {
                    std::thread::park_timeout(Duration::from_millis(10));
                }
                self.shared.sleeping.store(false, Ordering::SeqCst);
            } else {
                std::thread::park_timeout(Duration::from_micros(500));
            }
        }
        let w = self.sink.sync();
        self.count(w);
        self.shared.flush_done.store(u64::MAX, Ordering::SeqCst);
        self.shared.sync_done.store(u64::MAX, Ordering::SeqCst);
        self.shared.wake_flushers();
    }

    /// Wall-clock time of a raw reading, from the anchor (re-taken every
    /// second, so that calibration drift cannot add up).
    fn wall(&self, at: u64) -> u64 {
        wall(self.anchor, &self.clock, at)
    }

    /// Formats `entries` (one ring's, in order): the last 55 % on a scoped
    /// thread into a text of its own, the rest here; then appends that text
    /// (`Sink::append_lines`: in one block, or line by line if a rotation
    /// falls inside it, so rotation stays between lines).
    fn write_parallel(&mut self, entries: &[&Entry], thread: &str) {
        // The second thread gets a little more: this one also writes.
        let (first, second) = entries.split_at(entries.len() * 9 / 20);
        let (anchor, clock, fmt) = (self.anchor, self.clock.clone(), self.format);
        // Reused between flushes: its pages are touched once.
        let mut text = std::mem::take(&mut self.par_text);
        let mut ends = std::mem::take(&mut self.par_ends);
        let other = std::thread::scope(|s| {
            let spawned = std::thread::Builder::new().name("backburner-log-fmt".into()).spawn_scoped(s, move || {
                let mut stamp = format::Stamp::default();
                text.clear();
                ends.clear();
                // Room for the whole half at once (lines are rarely longer
                // than 128 bytes), mapped in one call: growing the text
                // copied it at each doubling and faulted its pages in one by one.
                let want = second.len() * 128;
                if text.capacity() < want {
                    text.reserve(want);
                    prefault::populate(text.as_ptr() as usize, want);
                }
                ends.reserve(second.len());
                write_entries(second, |e| {
                    format_entry(&mut text, &mut stamp, fmt, wall(anchor, &clock, e.at), e, thread);
                    ends.push(text.len());
                });
                (text, ends)
            });
            write_entries(first, |e| self.write_entry(e, thread));
            spawned.ok().and_then(|h| h.join().ok())
        });
        match other {
            Some((text, ends)) => {
                let w = self.sink.append_lines(&text, &ends);
                self.count(w);
                self.par_text = text;
                self.par_ends = ends;
            }
            // No thread (or it failed): format the rest here.
            None => {
                for e in second {
                    self.write_entry(e, thread);
                }
            }
        }
    }

    fn reanchor(&mut self) {
        let now = self.clock.raw();
        if self.clock.delta(self.anchor.0, now) >= Duration::from_secs(1) {
            self.anchor = (self.clock.raw(), format::epoch_ns(SystemTime::now()));
        }
    }

    /// `Logger::sync`: once the lines of a sync request are written (its
    /// flush answered), sync the file. Called on every pass, busy or not, so
    /// a sync asked just after its flush was answered is not kept waiting.
    fn maybe_sync(&mut self) -> bool {
        let want = self.shared.sync_req.load(Ordering::SeqCst);
        if want > self.shared.sync_done.load(Ordering::SeqCst) && self.shared.flush_done.load(Ordering::SeqCst) >= want
        {
            let w = self.sink.sync();
            self.count(w);
            self.shared.sync_done.store(want, Ordering::SeqCst);
            return true;
        }
        false
    }

    fn any_pending(&self) -> bool {
        self.shared.flush_req.load(Ordering::SeqCst) > self.shared.flush_done.load(Ordering::SeqCst)
            || self.shared.stop.load(Ordering::SeqCst)
            || self.shared.queues.lock().iter().any(|q| !q.consumer.lock().is_empty())
    }

    fn write_entry(&mut self, e: &Entry, thread: &str) {
        let ts = self.wall(e.at);
        let buf = self.sink.buf();
        let start = buf.len();
        format_entry(buf, &mut self.stamp, self.format, ts, e, thread);
        let w = self.sink.commit(start);
        self.count(w);
    }

    /// Formats a line at the end of the sink's buffer and commits it.
    fn emit(&mut self, line: &format::Line<'_>) {
        let buf = self.sink.buf();
        let start = buf.len();
        format::write_line(buf, &mut self.stamp, self.format, line);
        let w = self.sink.commit(start);
        self.count(w);
    }

    /// Counts what the sink wrote (only what reached the OS counts as
    /// written) or lost.
    fn count(&self, w: Wrote) {
        if w.lines > 0 {
            self.shared.written.fetch_add(w.lines, Ordering::Relaxed);
        }
        if let Some(e) = w.error {
            self.failed(w.lost, &e.to_string());
        }
    }

    fn notice(&mut self, q: &ThreadQueue, dropped: u64) {
        let ts = format::epoch_ns(SystemTime::now());
        let policy = self.shared.policy;
        let text = format!(
            "{dropped} log line(s) from this thread were dropped: its queue was full (Backpressure::{policy:?})"
        );
        let msg = |out: &mut String| out.push_str(&text);
        let line = format::Line {
            ts,
            level: Level::Warn,
            target: "backburner::log",
            thread: &q.name,
            msg: &msg,
            fields: &[],
            spans: ("", ""),
        };
        self.emit(&line);
    }

    fn failed(&self, lines: u64, message: &str) {
        self.shared.write_errors.fetch_add(lines, Ordering::Relaxed);
        let mut e = self.shared.error.lock();
        match &mut *e {
            Some((n, _)) => *n += lines,
            None => *e = Some((lines, message.to_string())),
        }
    }
}
