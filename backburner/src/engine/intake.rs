//! Intake: takes records from the queue and puts them back in `Seq` order.
//!
//! Two producers may send in the other order than their `Seq`s, and a
//! producer may take a `Seq` and then be refused (closed store, full queue):
//! its `Seq` is reported as cancelled. Intake hands out records strictly in
//! `Seq` order and knows `done()`: every `Seq` up to it has been handed out
//! or was cancelled. The first stage after the queue owns it: the worker
//! (`Durability::Memory`) or the journal writer (`Durability::Journal`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::engine::queue::Msg;
use crate::engine::shared::Shared;
use crate::write::Record;

pub(crate) struct Intake {
    rx: Receiver<Msg>,
    /// The lane of writes admitted with a permit.
    lane: Receiver<Msg>,
    shared: Arc<Shared>,
    /// The next `Seq` to hand out.
    next: u64,
    /// Records that arrived before a lower `Seq`.
    early: BTreeMap<u64, Record>,
    /// Seqs whose writes were refused after the seq was taken.
    cancelled: BTreeSet<u64>,
    cancelled_buf: Vec<u64>,
    /// `Queue::refused` when the cancelled list was last taken.
    refused_seen: u64,
}

impl Intake {
    pub(crate) fn new(rx: Receiver<Msg>, lane: Receiver<Msg>, shared: Arc<Shared>, first_seq: u64) -> Intake {
        Intake {
            rx,
            lane,
            shared,
            next: first_seq,
            early: BTreeMap::new(),
            cancelled: BTreeSet::new(),
            cancelled_buf: Vec::new(),
            refused_seen: 0,
        }
    }

    /// Every `Seq` up to this one was handed out or cancelled.
    pub(crate) fn done(&self) -> u64 {
        self.next - 1
    }

    /// Whether producers find the queue full.
    pub(crate) fn is_full(&self) -> bool {
        self.rx.is_full()
    }

    /// Moves what the channel holds, without blocking, to `out` in order,
    /// until `out` holds `max` records.
    pub(crate) fn drain(&mut self, out: &mut Vec<Record>, max: usize) {
        while out.len() < max {
            match self.rx.try_recv() {
                Ok(m) => self.accept(m, out),
                Err(_) => break,
            }
        }
        self.drain_lane(out, max);
        if !self.early.is_empty() || self.shared.queue.refused() != self.refused_seen {
            self.absorb_cancelled(out);
        }
    }

    /// Waits up to `timeout` for one message (less when a gap is open: a
    /// producer between taking its seq and sending closes it within
    /// microseconds, or cancels it). Returns false if the queue is gone.
    pub(crate) fn wait(&mut self, out: &mut Vec<Record>, timeout: Duration, max: usize) -> bool {
        if self.shared.queue.refused() != self.refused_seen {
            let before = out.len();
            self.absorb_cancelled(out);
            if out.len() > before || self.early.is_empty() {
                return true;
            }
        }
        let timeout = if self.early.is_empty() { timeout } else { timeout.min(Duration::from_millis(1)) };
        // A permit's write into the lane wakes this `recv` only if it sees
        // the flag (see `Queue::admit_reserved`): set it, then look at the
        // lane once more.
        self.shared.queue.intake_waiting.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        let alive = if !self.lane.is_empty() {
            true
        } else {
            match self.rx.recv_timeout(timeout) {
                Ok(m) => {
                    self.accept(m, out);
                    true
                }
                Err(RecvTimeoutError::Timeout) => true,
                Err(RecvTimeoutError::Disconnected) => false,
            }
        };
        self.shared.queue.intake_waiting.store(false, Ordering::SeqCst);
        self.drain_lane(out, max);
        self.absorb_cancelled(out);
        alive
    }

    /// Takes writes of the lane until `out` holds `max` records, as for the
    /// channel, and gives their permits back: a permit is room in the queue,
    /// so it comes back only when its write leaves the queue for a batch.
    fn drain_lane(&mut self, out: &mut Vec<Record>, max: usize) {
        let mut n = 0;
        while out.len() < max {
            match self.lane.try_recv() {
                Ok(m) => {
                    n += 1;
                    self.accept(m, out);
                }
                Err(_) => break,
            }
        }
        self.shared.queue.release(n);
    }

    fn accept(&mut self, m: Msg, out: &mut Vec<Record>) {
        let Msg::Write(rec) = m else { return };
        if rec.seq == self.next {
            out.push(rec);
            self.next += 1;
            self.catch_up(out);
        } else {
            self.early.insert(rec.seq, rec);
        }
    }

    fn absorb_cancelled(&mut self, out: &mut Vec<Record>) {
        // Read before taking the list: a refusal after this is seen next time.
        self.refused_seen = self.shared.queue.refused();
        self.shared.queue.take_cancelled(&mut self.cancelled_buf);
        if self.cancelled_buf.is_empty() {
            return;
        }
        self.cancelled.extend(self.cancelled_buf.drain(..));
        self.catch_up(out);
    }

    /// Moves records that are next in order from `early`; skips cancelled seqs.
    fn catch_up(&mut self, out: &mut Vec<Record>) {
        loop {
            if self.cancelled.remove(&self.next) {
                self.next += 1;
            } else if let Some(rec) = self.early.remove(&self.next) {
                out.push(rec);
                self.next += 1;
            } else {
                return;
            }
        }
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        // The stage that takes writes is gone: nobody will give permits
        // back; waiters for one look at the store again (closed, poisoned).
        self.shared.queue.wake_room();
    }
}
