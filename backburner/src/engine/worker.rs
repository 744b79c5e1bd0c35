//! The worker: one thread per store that owns the sink.
//!
//! It puts records back in `Seq` order, cuts batches by size (`batch_max`)
//! or time (`linger`, cut short when someone waits), coalesces writes to the
//! same key inside a batch, applies the batch with retries, moves rejected
//! writes to the dead-letter file, then publishes the watermark, wakes
//! tickets and trims the overlay, in that order.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use hashbrown::HashTable;

use crate::dead_letter::DeadLetters;
use crate::engine::intake::Intake;
use crate::engine::overlay::Overlay;
use crate::engine::shared::Shared;
use crate::engine::ticket::{OPEN, POISONED};
use crate::journal::checkpoint::LocalCheckpoint;
use crate::outcome::{Done, Failure, Outcome};
use crate::sink::{ApplyError, Batch, Outcomes, Sink};
use crate::value::KvBuf;
use crate::write::Record;

/// Worker settings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) batch_max: usize,
    pub(crate) linger: Duration,
    pub(crate) max_retries: u32,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) dead_letter: Option<PathBuf>,
    /// The writer whose checkpoint the batches advance, and its epoch.
    pub(crate) writer: String,
    pub(crate) epoch: u64,
}

/// Where the worker takes records from, in `Seq` order.
pub(crate) enum Source {
    /// Straight from the queue (`Durability::Memory`).
    Queue(Intake),
    /// From the journal writer, after it journaled them.
    Journal(Feed),
}

/// Records journaled and passed on by the journal writer, with the `Seq`
/// up to which every write was passed on or cancelled.
pub(crate) struct Chunk {
    pub(crate) records: Vec<Record>,
    pub(crate) done: u64,
}

pub(crate) struct Feed {
    pub(crate) rx: Receiver<Chunk>,
    pub(crate) done: u64,
    /// Records of a chunk not yet taken.
    pub(crate) rest: std::collections::VecDeque<Record>,
    /// `done` of the chunk in `rest`, once it is empty.
    pub(crate) rest_done: u64,
}

impl Feed {
    pub(crate) fn new(rx: Receiver<Chunk>, done: u64) -> Feed {
        Feed { rx, done, rest: Default::default(), rest_done: done }
    }

    fn take(&mut self, chunk: Chunk, out: &mut Vec<Record>, max: usize) {
        self.rest.extend(chunk.records);
        self.rest_done = chunk.done;
        self.move_rest(out, max);
    }

    fn move_rest(&mut self, out: &mut Vec<Record>, max: usize) {
        while out.len() < max {
            match self.rest.pop_front() {
                Some(r) => {
                    self.done = r.seq;
                    out.push(r);
                }
                None => {
                    self.done = self.rest_done;
                    return;
                }
            }
        }
    }
}

impl Source {
    fn done(&self) -> u64 {
        match self {
            Source::Queue(i) => i.done(),
            Source::Journal(f) => f.done,
        }
    }

    fn drain(&mut self, out: &mut Vec<Record>, max: usize) {
        match self {
            Source::Queue(i) => i.drain(out, max),
            Source::Journal(f) => {
                f.move_rest(out, max);
                while out.len() < max && f.rest.is_empty() {
                    match f.rx.try_recv() {
                        Ok(c) => f.take(c, out, max),
                        Err(_) => break,
                    }
                }
            }
        }
    }

    /// Waits for input; false when the source is gone for good.
    fn wait(&mut self, out: &mut Vec<Record>, timeout: Duration, max: usize) -> bool {
        match self {
            Source::Queue(i) => i.wait(out, timeout, max),
            Source::Journal(f) => match f.rx.recv_timeout(timeout) {
                Ok(c) => {
                    f.take(c, out, max);
                    true
                }
                Err(RecvTimeoutError::Timeout) => true,
                Err(RecvTimeoutError::Disconnected) => false,
            },
        }
    }

    /// Whether the stage before is held up by the worker.
    fn pressed(&self) -> bool {
        match self {
            Source::Queue(i) => i.is_full(),
            Source::Journal(f) => !f.rest.is_empty() || !f.rx.is_empty(),
        }
    }
}

pub(crate) struct Worker {
    source: Source,
    sink: Box<dyn Sink>,
    shared: Arc<Shared>,
    cfg: Config,
    dead: DeadLetters,
    /// Records in `Seq` order, not yet applied.
    ready: Vec<Record>,
    /// When the oldest record in `ready` arrived.
    since: Option<Instant>,
    batch: Vec<Record>,
    live: Vec<u32>,
    /// Per record of `batch`: rejected by the sink.
    rejected: Vec<bool>,
    /// Per record of `batch`: left out of `live` (rejected or superseded).
    skip: Vec<bool>,
    keys: HashTable<u32>,
    /// Per record of `batch`: what applying it produced.
    results: Vec<Outcome>,
    /// Per write of one apply (`live` order), as the sink sets them.
    outcomes: Vec<Outcome>,
    /// Where the checkpoint goes for a sink that cannot store it.
    local: Option<LocalCheckpoint>,
    /// When a read last found staged writes to index (see `linger`).
    read_at: Option<Instant>,
    /// Retries and drops already published (feature `metrics`).
    #[cfg(feature = "metrics")]
    published: (u64, u64),
}

/// How long after a read had to index staged writes the worker goes on
/// indexing while it lingers.
const READS_RECENT: Duration = Duration::from_secs(10);

/// At most this many staged writes are left unindexed while nobody reads
/// (a later read indexes them itself: 0.1 to 0.2 ms).
const UNINDEXED_MAX: u64 = 1024;

impl Worker {
    pub(crate) fn new(
        source: Source,
        sink: Box<dyn Sink>,
        shared: Arc<Shared>,
        cfg: Config,
        local: Option<LocalCheckpoint>,
    ) -> Worker {
        let dead = DeadLetters::new(cfg.dead_letter.clone());
        Worker {
            source,
            sink,
            shared,
            dead,
            ready: Vec::with_capacity(cfg.batch_max.min(1 << 16)),
            since: None,
            batch: Vec::with_capacity(cfg.batch_max.min(1 << 16)),
            live: Vec::with_capacity(cfg.batch_max.min(1 << 16)),
            rejected: Vec::with_capacity(cfg.batch_max.min(1 << 16)),
            skip: Vec::with_capacity(cfg.batch_max.min(1 << 16)),
            keys: HashTable::new(),
            results: Vec::new(),
            outcomes: Vec::new(),
            local,
            read_at: None,
            #[cfg(feature = "metrics")]
            published: (0, 0),
            cfg,
        }
    }

    pub(crate) fn run(mut self) {
        let mut maintained = true;
        loop {
            self.drain();
            let progress = &self.shared.progress;
            let state = progress.state.load(Ordering::SeqCst);
            if state == POISONED {
                // Fenced without a journal: give up into the dead-letter file
                // what is queued (see `attempt`), then stop.
                let give_up = progress.is_fenced() && matches!(self.source, Source::Queue(_));
                if !give_up || self.ready.is_empty() {
                    // The journal failed, or the store was fenced with one:
                    // what it holds is replayed on reopen; applying more now
                    // could claim what is not durable.
                    break;
                }
                self.process();
                continue;
            }
            if matches!(self.source, Source::Journal(_)) && self.shared.abandon.load(Ordering::SeqCst) {
                // A close deadline passed: the journal keeps what is left,
                // and the next open applies it.
                break;
            }
            let closing = state != OPEN;
            if self.ready.is_empty() {
                // Everything up to `done` is processed or cancelled.
                let done = self.source.done();
                if done > progress.watermark() {
                    progress.advance(done);
                }
                // Idle: let the saved checkpoint catch up, so that the
                // journal can delete what it covers.
                self.save_checkpoint(false);
                if closing && done >= self.shared.close_target.load(Ordering::SeqCst) {
                    break;
                }
                if !maintained {
                    self.sink.maintain(true);
                    maintained = true;
                }
                let max = self.cfg.batch_max;
                if !self.source.wait(&mut self.ready, Duration::from_millis(250), max) {
                    break;
                }
                if !self.ready.is_empty() {
                    self.since = Some(Instant::now());
                }
                continue;
            }
            let since = *self.since.get_or_insert_with(Instant::now);
            let full = self.ready.len() >= self.cfg.batch_max;
            let urgent =
                closing || progress.urgent.load(Ordering::SeqCst) >= self.ready[0].seq || self.source.pressed();
            let waited = since.elapsed();
            if !(full || urgent || waited >= self.cfg.linger) {
                self.linger(self.cfg.linger - waited);
                continue;
            }
            // Under steady load `ready` is empty after each batch (the next
            // writes are still in the channel) and the loop never passes the
            // idle branch: maintain here, between batches, or the WAL grows
            // without bound.
            if !maintained {
                self.sink.maintain(false);
            }
            self.process();
            maintained = false;
        }
        self.sink.maintain(true);
        self.save_checkpoint(true);
    }

    /// Idle until the batch is due (for at most `left`). While reads come,
    /// index what producers staged meanwhile, a chunk at a time, so that
    /// the next read finds little left to index (see `overlay`). A store
    /// that is only written to indexes only writes beyond the newest
    /// `UNINDEXED_MAX`: the rest commit before anyone asks, and a read that
    /// comes later indexes what is still pending itself.
    fn linger(&mut self, left: Duration) {
        let overlay = &self.shared.overlay;
        if overlay.take_read_behind() {
            self.read_at = Some(Instant::now());
        }
        let reading = self.read_at.is_some_and(|t| t.elapsed() < READS_RECENT);
        let last = self.shared.queue.last_seq();
        // While nobody reads, index only what lies beyond the newest
        // `UNINDEXED_MAX` writes (what a read arriving later indexes
        // itself), and never a quarter of the ring or more: a producer
        // whose slot still holds an unindexed pending write indexes it
        // itself, under the scan mutex (a small `capacity`).
        let keep = UNINDEXED_MAX.min(overlay.ring_size() / 4);
        let upto = if reading { last } else { last.saturating_sub(keep) };
        if overlay.index_some(upto, 4096, &self.shared.progress.watermark) {
            return;
        }
        // Producers do not wake a lingering worker; `hurry` does. It wakes
        // every millisecond to index what was staged since (a burst of puts
        // stages 10,000 writes a millisecond).
        std::thread::park_timeout(left.min(Duration::from_millis(1)));
    }

    /// Saves the local checkpoint (of a `Checkpoint::Local` sink) at the
    /// watermark, `now` or if the last save is old enough, and tells the
    /// journal how far it may delete.
    fn save_checkpoint(&mut self, now: bool) {
        let (Some(local), Some(saved)) = (&mut self.local, &self.shared.checkpointed) else {
            return;
        };
        let wm = self.shared.progress.watermark();
        match now {
            true => local.save(wm),
            false => local.save_soon(wm),
        }
        saved.store(local.saved(), Ordering::SeqCst);
    }

    /// Publishes one batch through the `metrics` facade (feature `metrics`):
    /// counters `backburner_committed_total`, `backburner_dead_letters_total`,
    /// `backburner_retries_total`, `backburner_dropped_total`, `backburner_batches_total`;
    /// histograms `backburner_batch_size`, `backburner_commit_seconds`; gauge
    /// `backburner_queue_depth`. Once per batch, on the worker: never on the
    /// enqueue path.
    #[cfg(feature = "metrics")]
    fn publish(&mut self, size: u64, committed: u64, dead: u64, elapsed: Duration) {
        let c = &self.shared.counters;
        let retries = c.retries.load(Ordering::Relaxed);
        let dropped = self.shared.queue.dropped.load(Ordering::Relaxed);
        metrics::counter!("backburner_batches_total").increment(1);
        metrics::counter!("backburner_committed_total").increment(committed);
        metrics::counter!("backburner_dead_letters_total").increment(dead);
        metrics::counter!("backburner_retries_total").increment(retries - self.published.0);
        metrics::counter!("backburner_dropped_total").increment(dropped - self.published.1);
        self.published = (retries, dropped);
        metrics::histogram!("backburner_batch_size").record(size as f64);
        metrics::histogram!("backburner_commit_seconds").record(elapsed.as_secs_f64());
        let pending = self
            .shared
            .queue
            .accepted()
            .saturating_sub(c.committed.load(Ordering::Relaxed) + c.dead_letters.load(Ordering::Relaxed));
        metrics::gauge!("backburner_queue_depth").set(pending as f64);
    }

    /// Takes what the source holds without blocking, up to a full batch.
    fn drain(&mut self) {
        let was_empty = self.ready.is_empty();
        self.source.drain(&mut self.ready, self.cfg.batch_max);
        if was_empty && !self.ready.is_empty() {
            self.since = Some(Instant::now());
        }
    }

    /// Applies one batch from the front of `ready`.
    fn process(&mut self) {
        let n = self.ready.len().min(self.cfg.batch_max);
        self.batch.clear();
        self.batch.extend(self.ready.drain(..n));
        let upto = match self.ready.first() {
            Some(r) => r.seq - 1,
            None => self.source.done(),
        };
        self.since = if self.ready.is_empty() { None } else { Some(Instant::now()) };
        self.rejected.clear();
        let coalesced = self.coalesce();
        let started = Instant::now();
        let Some((mut rejected, upto)) = self.apply(upto) else {
            // Stopped by a close deadline (with a journal) before any of the
            // batch was applied: the journal keeps it for the next open.
            self.batch.clear();
            return;
        };
        let elapsed = started.elapsed();
        // Stopped part way through (the one-by-one pass): publish what was
        // handled, up to `upto`; the rest stays in the journal.
        let batch = &self.batch;
        rejected.retain(|r| batch[r.index as usize].seq <= upto);
        let handled = self.batch.partition_point(|r| r.seq <= upto);
        self.batch.truncate(handled);

        let progress = Arc::clone(&self.shared.progress);
        let counters = &self.shared.counters;
        let mut failed = Vec::with_capacity(rejected.len());
        if !rejected.is_empty() {
            let mut gave_up = 0u64;
            for r in &rejected {
                let seq = self.batch[r.index as usize].seq;
                if r.gave_up {
                    gave_up += 1;
                } else {
                    ::log::warn!("backburner: write {seq} rejected by the sink: {}", r.reason);
                }
                let failure = Arc::new(Failure {
                    seq,
                    reason: r.reason.clone(),
                    dead_letter: r.dead_letter.clone(),
                    gave_up: r.gave_up,
                    observed: Default::default(),
                });
                progress.fail(&failure);
                failed.push((r.index, failure));
            }
            if gave_up > 0 {
                // One line per batch, not per write: an outage gives up thousands.
                let r = rejected.iter().find(|r| r.gave_up).map_or("", |r| r.reason.as_str());
                let to = match rejected.iter().find_map(|r| r.dead_letter.as_ref()) {
                    Some(p) => format!("saved to {}", p.display()),
                    None => "NOT saved (no dead-letter file)".to_string(),
                };
                ::log::error!("backburner: gave up {gave_up} write(s) while the sink was unavailable ({to}): {r}");
            }
            counters.dead_letters.fetch_add(rejected.len() as u64, Ordering::Relaxed);
        }
        let size = self.batch.len() as u64;
        counters.batch(size, coalesced, size - rejected.len() as u64, elapsed);
        #[cfg(feature = "metrics")]
        self.publish(size, size - rejected.len() as u64, rejected.len() as u64, elapsed);

        // Complete each write's slot (so that a flush that returns finds every
        // ticket it covers done), publish the watermark, then trim the
        // overlay (see `overlay` for why this order).
        for (i, f) in failed {
            if let Some(done) = self.batch[i as usize].done.take() {
                done.complete(Done::Failed(f));
            }
        }
        for (rec, outcome) in self.batch.iter_mut().zip(self.results.iter_mut()) {
            if let Some(done) = rec.done.take() {
                done.complete(Done::Ok(std::mem::take(outcome)));
            }
        }
        progress.advance(upto);
        self.save_checkpoint(false);
        let overlay: &Overlay = &self.shared.overlay;
        // Read after the watermark is published: writes above it were never
        // indexed (small ones wait in the staging ring until a read), so
        // there is nothing to trim for them.
        let scanned = overlay.scanned();
        for rec in &self.batch {
            if let Some(kv) = rec.key() {
                if rec.seq <= scanned || matches!(kv, KvBuf::Shared { .. }) {
                    overlay.remove_committed(rec.hash, kv.key(), upto);
                }
            }
        }
        self.batch.clear();
    }

    /// Fills `live` with the writes to send: not rejected, and not superseded
    /// by a later write of the same key in the batch (coalescing). An
    /// `execute` is a barrier: keyed writes are not merged across it, since
    /// the statement may read them. Returns how many were superseded.
    fn coalesce(&mut self) -> u64 {
        let batch = &self.batch;
        let skip = &mut self.skip;
        skip.clear();
        skip.extend(self.rejected.iter().copied());
        skip.resize(batch.len(), false);
        self.keys.clear();
        let mut n = 0;
        for (i, rec) in batch.iter().enumerate() {
            if skip[i] {
                continue;
            }
            let Some(kv) = rec.key() else {
                self.keys.clear();
                continue;
            };
            let same = |&j: &u32| {
                let other = &batch[j as usize];
                other.hash == rec.hash && other.key().map(|k| k.key()) == Some(kv.key())
            };
            match self.keys.find_mut(rec.hash, same) {
                Some(j) => {
                    skip[*j as usize] = true;
                    *j = i as u32;
                    n += 1;
                }
                None => {
                    self.keys.insert_unique(rec.hash, i as u32, |&j| batch[j as usize].hash);
                }
            }
        }
        self.live.clear();
        self.live.extend((0..batch.len() as u32).filter(|&i| !skip[i as usize]));
        n
    }

    /// Applies the batch, retrying transient errors and splitting out
    /// rejected writes. Returns the rejected writes (index, reason).
    ///
    /// A rejected write that had superseded earlier writes of its key brings
    /// them back (coalescing is redone without it), so that each write's
    /// outcome is the one it would have had unbatched.
    /// `None` when a close deadline stopped it (with a journal) before any
    /// of the batch was applied; else the failed writes and the `Seq` up to
    /// which the batch was handled (`upto`, or less if it stopped part way).
    fn apply(&mut self, upto: u64) -> Option<(Vec<Rejected>, u64)> {
        self.rejected.clear();
        self.rejected.resize(self.batch.len(), false);
        self.results.clear();
        self.results.resize(self.batch.len(), Outcome::None);
        let mut out = Vec::new();
        loop {
            let live = std::mem::take(&mut self.live);
            let r = self.attempt(&live, upto);
            self.live = live;
            match r {
                Attempt::Done => return Some((out, upto)),
                Attempt::Stopped => return None,
                Attempt::Rejected(pos, reason) => {
                    let i = self.live[pos];
                    self.reject_all(&[i], &reason, false, &mut out);
                    self.coalesce();
                }
                Attempt::Unattributed(reason) => {
                    ::log::warn!(
                        "backburner: a batch of {} write(s) failed for good without naming the write ({reason}); applying them one by one",
                        self.live.len()
                    );
                    return self.one_by_one(upto, &mut out).map(|reached| (out, reached));
                }
                Attempt::GaveUp(reason) => {
                    // Every write not yet rejected fails, superseded ones too:
                    // none of them reached the sink.
                    let all: Vec<u32> = (0..self.batch.len() as u32).filter(|&i| !self.rejected[i as usize]).collect();
                    self.reject_all(&all, &reason, true, &mut out);
                    return Some((out, upto));
                }
            }
        }
    }

    /// Marks writes failed (refused by the sink, or given up while it was
    /// unavailable) and saves them to the dead-letter file now, before the
    /// batch that covers them commits: with a journal, a crash in between
    /// replays the batch and fails the write again (a second line in the
    /// file), but never loses it.
    fn reject_all(&mut self, idx: &[u32], reason: &str, gave_up: bool, out: &mut Vec<Rejected>) {
        if idx.is_empty() {
            return;
        }
        let recs: Vec<(&Record, &str)> = idx.iter().map(|&i| (&self.batch[i as usize], reason)).collect();
        let path = self.dead.write(&recs, gave_up);
        for &i in idx {
            self.rejected[i as usize] = true;
            out.push(Rejected { index: i, reason: reason.to_string(), dead_letter: path.clone(), gave_up });
        }
    }

    /// Applies every write not yet rejected in its own transaction (no
    /// coalescing), to find the ones the sink refuses.
    /// Returns the `Seq` up to which the batch was handled: `upto`, or, when
    /// a close deadline stopped it (with a journal) part way, the last write
    /// handled (`None` if none was).
    fn one_by_one(&mut self, upto: u64, out: &mut Vec<Rejected>) -> Option<u64> {
        let order: Vec<u32> = (0..self.batch.len() as u32).filter(|&i| !self.rejected[i as usize]).collect();
        let mut stored_upto = false;
        for (k, &i) in order.iter().enumerate() {
            let last = if k + 1 == order.len() { upto } else { self.batch[i as usize].seq };
            match self.attempt(&[i], last) {
                Attempt::Done => stored_upto = last == upto,
                Attempt::Rejected(_, reason) | Attempt::Unattributed(reason) => {
                    self.reject_all(&[i], &reason, false, out)
                }
                Attempt::GaveUp(reason) => {
                    self.reject_all(&order[k..], &reason, true, out);
                    return Some(upto);
                }
                Attempt::Stopped => return k.checked_sub(1).map(|j| self.batch[order[j] as usize].seq),
            }
        }
        if !stored_upto {
            // Record that the batch was handled, so a reopened store resumes after it.
            match self.attempt(&[], upto) {
                Attempt::GaveUp(reason) | Attempt::Unattributed(reason) => {
                    ::log::error!("backburner: could not record seq {upto} as applied: {reason}");
                }
                // Every write was handled; only the record of `upto` is missing.
                Attempt::Stopped => return order.last().map(|&j| self.batch[j as usize].seq),
                Attempt::Done | Attempt::Rejected(..) => {}
            }
        }
        Some(upto)
    }

    /// One apply of `live`, with retries of transient errors.
    fn attempt(&mut self, live: &[u32], last_seq: u64) -> Attempt {
        let mut attempt = 0u32;
        let mut last_error = None;
        loop {
            if self.shared.progress.is_fenced() && matches!(self.source, Source::Queue(_)) {
                // No journal to keep them: the dead-letter file does.
                let reason = self.shared.progress.poisoned().map(|e| e.to_string()).unwrap_or_default();
                return Attempt::GaveUp(format!("not applied: {reason}"));
            }
            if self.shared.progress.state.load(Ordering::SeqCst) == POISONED {
                // The journal failed (or the store was fenced) while this
                // batch was retried: stop; a journal keeps what it holds.
                return Attempt::Stopped;
            }
            if self.shared.abandon.load(Ordering::SeqCst) {
                if matches!(self.source, Source::Journal(_)) {
                    return Attempt::Stopped;
                }
                let last = last_error.map_or(String::new(), |e| format!("; the sink's last error: {e}"));
                return Attempt::GaveUp(format!(
                    "the store was closed with a deadline (Store::close_timeout, or the drop's drain timeout) before the sink took it{last}"
                ));
            }
            let batch = Batch { records: &self.batch, live, last_seq, writer: &self.cfg.writer, epoch: self.cfg.epoch };
            self.outcomes.clear();
            self.outcomes.resize(live.len(), Outcome::None);
            let error = match self.sink.apply(&batch, &mut Outcomes { outcomes: &mut self.outcomes }) {
                Ok(()) => {
                    for (&i, o) in live.iter().zip(self.outcomes.drain(..)) {
                        self.results[i as usize] = o;
                    }
                    return Attempt::Done;
                }
                Err(ApplyError::Rejected { position, error }) if position < live.len() => {
                    return Attempt::Rejected(position, error.to_string())
                }
                Err(ApplyError::Unattributed(error)) if live.len() == 1 => {
                    return Attempt::Rejected(0, error.to_string())
                }
                Err(ApplyError::Unattributed(error)) => return Attempt::Unattributed(error.to_string()),
                Err(ApplyError::Fenced { current }) => {
                    // Another store took this writer over: apply nothing more.
                    ::log::error!(
                        "backburner: writer `{}` was opened by another store (epoch {current}, this store has {}); this store is fenced and stops",
                        self.cfg.writer,
                        self.cfg.epoch
                    );
                    self.shared.progress.fence(&self.cfg.writer, self.cfg.epoch, current);
                    // Without a journal, given up into the dead-letter file;
                    // with one, stopped (both at the top of the loop).
                    continue;
                }
                // A position outside the batch is a sink bug: treat it as transient.
                Err(ApplyError::Rejected { error, .. }) | Err(ApplyError::Transient(error)) => error,
            };
            attempt = attempt.saturating_add(1);
            self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            if self.cfg.max_retries != u32::MAX && attempt > self.cfg.max_retries {
                let reason = format!("the sink kept failing ({attempt} attempts, the retry budget): {error}");
                return Attempt::GaveUp(reason);
            }
            let backoff = self.cfg.backoff_base.saturating_mul(1 << (attempt - 1).min(20)).min(self.cfg.backoff_max);
            ::log::warn!("backburner: batch failed (attempt {attempt}), retrying in {backoff:?}: {error}");
            // Parked, not slept: a close deadline unparks the worker.
            // (A backoff too large for an Instant waits until told to stop.)
            let until = Instant::now().checked_add(backoff);
            while !self.shared.abandon.load(Ordering::SeqCst)
                && self.shared.progress.state.load(Ordering::SeqCst) != POISONED
            {
                let now = Instant::now();
                match until {
                    Some(u) if now >= u => break,
                    Some(u) => std::thread::park_timeout(u - now),
                    None => std::thread::park_timeout(Duration::from_secs(1)),
                }
            }
            last_error = Some(error.to_string());
        }
    }
}

/// A write the sink refused, and where it was saved.
struct Rejected {
    index: u32,
    reason: String,
    dead_letter: Option<PathBuf>,
    /// Given up while the sink was unavailable, not refused by it.
    gave_up: bool,
}

/// What one apply (with its retries) came to.
enum Attempt {
    Done,
    Rejected(usize, String),
    Unattributed(String),
    GaveUp(String),
    /// A close deadline passed on a store with a journal, or the store was
    /// fenced: nothing of the batch is applied or failed; a journal keeps it.
    Stopped,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // On a panic, latch the store before the receiver (a field) is
        // dropped, so that producers blocked on a full queue get `Poisoned`.
        if std::thread::panicking() {
            self.shared.progress.latch();
        }
    }
}
