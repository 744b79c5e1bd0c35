//! Counters kept by the worker and the public [`Stats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Counters written by the worker, read by `stats()`.
pub(crate) struct Counters {
    pub(crate) committed: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) last_batch: AtomicU64,
    pub(crate) max_batch: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) dead_letters: AtomicU64,
    /// Time to apply one batch, in microseconds.
    pub(crate) apply_us: Mutex<Histogram<u64>>,
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            committed: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            last_batch: AtomicU64::new(0),
            max_batch: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            // 1 µs .. 1 hour, 2 significant digits: a few KiB.
            apply_us: Mutex::new(Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap_or_else(|_| {
                Histogram::new(2).unwrap_or_else(|_| unreachable!("2 significant digits are valid"))
            })),
        }
    }

    pub(crate) fn batch(&self, size: u64, coalesced: u64, committed: u64, apply: Duration) {
        self.batches.fetch_add(1, Relaxed);
        self.last_batch.store(size, Relaxed);
        self.max_batch.fetch_max(size, Relaxed);
        self.coalesced.fetch_add(coalesced, Relaxed);
        self.committed.fetch_add(committed, Relaxed);
        let us = u64::try_from(apply.as_micros()).unwrap_or(u64::MAX).max(1);
        self.apply_us.lock().saturating_record(us);
    }
}

/// A snapshot of a store's counters ([`Store::stats`](crate::Store::stats)).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Writes accepted since open (a ticket was issued for each).
    pub enqueued: u64,
    /// Writes committed in the sink (including writes superseded by a later
    /// write of the same key inside one batch).
    pub committed: u64,
    /// Of `committed`, writes superseded inside their batch and so not sent.
    pub coalesced: u64,
    /// Writes accepted but not yet processed.
    pub queue_depth: u64,
    /// Keys with a pending write in the overlay.
    pub overlay_keys: u64,
    /// Batches applied.
    pub batches: u64,
    /// Writes in the last batch.
    pub last_batch_size: u64,
    /// Writes in the largest batch.
    pub max_batch_size: u64,
    /// Mean writes per batch.
    pub mean_batch_size: f64,
    /// Time to apply and commit one batch: median.
    pub commit_p50: Duration,
    /// Time to apply and commit one batch: 99th percentile.
    pub commit_p99: Duration,
    /// Time to apply and commit one batch: maximum.
    pub commit_max: Duration,
    /// Batch attempts retried after a transient sink error.
    pub retries: u64,
    /// Writes moved to the dead-letter file (their tickets failed).
    pub dead_letters: u64,
    /// Writes refused because the queue was full (`Backpressure::DropNewest`).
    pub dropped: u64,
    /// The watermark: every write up to this `Seq` has been processed.
    pub watermark: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        let h = self.apply_us.lock();
        let batches = self.batches.load(Relaxed);
        let committed = self.committed.load(Relaxed);
        let dead = self.dead_letters.load(Relaxed);
        Stats {
            committed,
            coalesced: self.coalesced.load(Relaxed),
            batches,
            last_batch_size: self.last_batch.load(Relaxed),
            max_batch_size: self.max_batch.load(Relaxed),
            mean_batch_size: if batches == 0 { 0.0 } else { (committed + dead) as f64 / batches as f64 },
            commit_p50: Duration::from_micros(h.value_at_quantile(0.5)),
            commit_p99: Duration::from_micros(h.value_at_quantile(0.99)),
            commit_max: Duration::from_micros(h.max()),
            retries: self.retries.load(Relaxed),
            dead_letters: dead,
            ..Stats::default()
        }
    }
}
