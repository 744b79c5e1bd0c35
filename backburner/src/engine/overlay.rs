//! The overlay: pending keyed writes, consulted by `get` before the sink.
//!
//! Two parts:
//!
//! * the **index**: sharded maps from key to the newest pending write
//!   (value or tombstone) and its `Seq`;
//! * the **staging ring**: one slot per `Seq` (modulo its size), where `put`
//!   leaves a small write. `put` does not touch the index: a random write
//!   into a table of tens of thousands of entries cost it two cache misses
//!   (about 150 ns of a 240 ns put with 50,000 keys pending), while the ring
//!   is written in `Seq` order. Whoever reads next (a `get`, `stats`, or a
//!   producer that needs the slot back) first moves the staged writes into
//!   the index, under one lock ([`Overlay::catch_up`]). Writes too large to
//!   stage go to the index at once.
//!
//! Rules that keep reads exact:
//!
//! * an entry is inserted only if its `Seq` is above the watermark, checked
//!   under the shard lock, and never replaces an entry with a higher `Seq`;
//! * the worker publishes the watermark *before* it removes the entries of a
//!   committed batch, and removes an entry only if its `Seq` is at or below
//!   that watermark (a newer pending write of the same key stays);
//! * a `put` stages its write before it returns, and a `get` first indexes
//!   every staged write up to the last `Seq` handed out (a write still being
//!   staged by another thread did not happen before the `get`; it is
//!   remembered and indexed later);
//! * a slot is reused only once its write is indexed, or committed.
//!
//! So an entry is either present while its write is pending, or its write is
//! already visible in the sink; never both absent.
//!
//! The ring, the scan and the index are model-checked under `loom`
//! (`loom_tests` below, run by `.ci/run`): every atomic and lock here comes
//! from `crate::sync`.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{hint, thread, Mutex};
use crate::value::{KvBuf, Value};

/// Under loom, two: each shard is a lock the model tracks.
const SHARDS: usize = if cfg!(loom) { 2 } else { 1024 };

/// foldhash with a random per-store seed: a few ns per key (SipHash took a
/// sixth of the put path), and the seed keeps keys chosen by an attacker
/// from colliding on purpose across runs.
#[cfg(not(loom))]
type Hasher = hashbrown::DefaultHashBuilder;
/// A fixed hash under loom: a model must run the same way every time it
/// replays a schedule, and the hash picks the shard.
#[cfg(loom)]
type Hasher = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// The watermark as the overlay reads it: always `SeqCst` (see `claim`).
/// A trait so that the engine's `Progress::watermark` (a `std` atomic) and
/// a model's loom atomic both fit; in a normal build they are one type.
pub(crate) trait Watermark {
    /// Every write with a seq up to this one is processed.
    fn get(&self) -> u64;
}

impl Watermark for AtomicU64 {
    #[inline]
    fn get(&self) -> u64 {
        self.load(Ordering::SeqCst)
    }
}

/// The engine's own watermark in a loom build (which runs no engine; it
/// only has to compile).
#[cfg(loom)]
impl Watermark for std::sync::atomic::AtomicU64 {
    fn get(&self) -> u64 {
        self.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// 72 bytes: the hash is recomputed from the key when a table grows, and
/// the tombstone flag lives in the top bit of the seq, so that more entries
/// share a cache line.
struct Entry {
    /// `seq | TOMBSTONE` for a pending delete.
    tagged: u64,
    kv: KvBuf,
}

const TOMBSTONE: u64 = 1 << 63;

impl Entry {
    #[inline]
    fn seq(&self) -> u64 {
        self.tagged & !TOMBSTONE
    }
    #[inline]
    fn tag(seq: u64, tombstone: bool) -> u64 {
        if tombstone {
            seq | TOMBSTONE
        } else {
            seq
        }
    }
}

// A slot's stamp: `seq << 3 | tombstone << 2 | state`. Zero: never used.
/// Claimed by the producer of this seq, being written.
const WRITING: u64 = 0;
/// Holds a staged write, not yet indexed.
const READY: u64 = 1;
/// Being copied into the index (by the holder of the index lock).
const INDEXING: u64 = 2;
/// Nothing (more) to index: indexed, a statement, a large write, or refused.
const DONE: u64 = 3;
const STATE: u64 = 3;
const TOMB_BIT: u64 = 4;

#[inline]
fn stamp(seq: u64, state: u64, tombstone: bool) -> u64 {
    seq << 3 | u64::from(tombstone) << 2 | state
}

/// One staged write: 80 bytes, aligned to a cache line so that producers
/// writing neighbouring seqs do not share lines. Atomics (relaxed, ordered
/// by the stamp) keep it free of `unsafe`.
#[repr(align(64))]
struct Slot {
    stamp: AtomicU64,
    hash: AtomicU64,
    words: [AtomicU64; 8],
}

pub(crate) struct Overlay {
    shards: Box<[Mutex<HashTable<Entry>>]>,
    hasher: Hasher,
    ring: Box<[Slot]>,
    mask: u64,
    /// The first seq of this run: slots are fresh until it has gone round once.
    first: u64,
    /// The index lock: seqs handed out but not yet staged when a scan passed
    /// them.
    scan: Mutex<Vec<u64>>,
    /// Every seq up to this one is indexed, has nothing to index, or is in
    /// `scan`'s list. Stored only under the index lock.
    scanned: AtomicU64,
    /// The length of `scan`'s list, for the lock-free check of a read.
    skipped: AtomicUsize,
    /// A read found staged writes to index since the worker last asked
    /// ([`Overlay::take_read_behind`]): the worker indexes while it lingers
    /// only while reads come, so that a store nobody reads from never pays
    /// for an index (each write indexed, then removed at commit, was a
    /// sixth of the worker's CPU in a write-only service).
    read_behind: AtomicBool,
}

/// What the overlay knows of a key.
pub(crate) enum Lookup {
    /// A pending put.
    Value(Value),
    /// A pending delete.
    Deleted,
    /// Nothing pending: read the sink.
    Miss,
}

impl Overlay {
    /// An overlay for a store whose first seq is `first`, with a staging
    /// ring of at least `capacity` slots.
    pub(crate) fn new(capacity: usize, first: u64) -> Overlay {
        // At most 65,536 slots (8 MiB): with more writes pending than slots, a
        // producer indexes a quarter of the ring before it reuses a slot.
        Overlay::with_ring(capacity.clamp(64, 1 << 16).next_power_of_two(), first)
    }

    /// An overlay with a ring of exactly `size` slots, a power of two (the
    /// loom models use two, so that slots are reused).
    fn with_ring(size: usize, first: u64) -> Overlay {
        debug_assert!(size.is_power_of_two() && first > 0);
        // Tables start empty and grow: a table sized for the whole queue up
        // front was sparse, and its cache misses doubled the put and get
        // times (measured: put p50 258 ns against 157 ns).
        let shards = (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect();
        let ring = (0..size)
            .map(|_| Slot { stamp: AtomicU64::new(0), hash: AtomicU64::new(0), words: Default::default() })
            .collect();
        Overlay {
            shards,
            hasher: Default::default(),
            ring,
            mask: size as u64 - 1,
            first,
            scan: Mutex::new(Vec::new()),
            scanned: AtomicU64::new(first - 1),
            skipped: AtomicUsize::new(0),
            read_behind: AtomicBool::new(false),
        }
    }

    /// The staging ring's number of slots.
    pub(crate) fn ring_size(&self) -> u64 {
        self.mask + 1
    }

    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Mutex<HashTable<Entry>> {
        // Middle bits: hashbrown uses the low bits for the bucket and the top
        // seven for its control bytes.
        &self.shards[(hash >> 40) as usize % SHARDS]
    }

    #[inline]
    fn slot(&self, seq: u64) -> &Slot {
        &self.ring[(seq & self.mask) as usize]
    }

    /// Records a pending write in the index unless the watermark has already
    /// passed it.
    #[inline]
    pub(crate) fn insert(&self, hash: u64, seq: u64, kv: KvBuf, tombstone: bool, watermark: &impl Watermark) {
        let hasher = &self.hasher;
        let mut shard = self.shard(hash).lock();
        let wm = watermark.get();
        if wm >= seq {
            return;
        }
        let key = kv.key();
        match shard.find_mut(hash, |e| e.kv.key() == key) {
            Some(e) => {
                if e.seq() < seq {
                    e.tagged = Entry::tag(seq, tombstone);
                    e.kv = kv;
                }
            }
            None => {
                if shard.len() == shard.capacity() {
                    // About to grow: drop committed entries first (the worker
                    // trims only what it knows was indexed; see `scanned`).
                    shard.retain(|e| e.seq() > wm);
                }
                shard.insert_unique(hash, Entry { tagged: Entry::tag(seq, tombstone), kv }, |e| {
                    hasher.hash_one(e.kv.key())
                });
            }
        }
    }

    /// Stages the write of `seq` (just accepted by the queue) for the index:
    /// in the ring if it is small (`packed`), else straight into the index.
    /// `None` for a statement, so the slot can be reused.
    #[inline]
    pub(crate) fn stage(&self, seq: u64, write: Option<(u64, &KvBuf, bool)>, watermark: &impl Watermark) {
        let slot = self.claim(seq, watermark);
        match write {
            Some((hash, kv, tombstone)) => match kv.pack() {
                Some(words) => {
                    slot.hash.store(hash, Ordering::Relaxed);
                    for (w, v) in slot.words.iter().zip(words) {
                        w.store(v, Ordering::Relaxed);
                    }
                    slot.stamp.store(stamp(seq, READY, tombstone), Ordering::Release);
                }
                None => {
                    self.insert(hash, seq, kv.clone(), tombstone, watermark);
                    slot.stamp.store(stamp(seq, DONE, false), Ordering::Release);
                }
            },
            None => slot.stamp.store(stamp(seq, DONE, false), Ordering::Release),
        }
    }

    /// Marks `seq`, taken by a write that was then refused: nothing to index.
    pub(crate) fn refuse(&self, seq: u64, watermark: &impl Watermark) {
        self.stage(seq, None, watermark);
    }

    /// Takes the slot of `seq` for writing, once the write before it in the
    /// slot is indexed or committed (indexing it if need be).
    #[inline]
    fn claim(&self, seq: u64, watermark: &impl Watermark) -> &Slot {
        let slot = self.slot(seq);
        let size = self.mask + 1;
        let prev = if seq - self.first < size { 0 } else { seq - size };
        let mut spins = 0u32;
        loop {
            let cur = slot.stamp.load(Ordering::Acquire);
            let (held, state) = (cur >> 3, cur & STATE);
            let free = if prev == 0 {
                cur == 0
            } else {
                held == prev && (state == DONE || (state == READY && prev <= watermark.get()))
            };
            if free {
                if slot
                    .stamp
                    // SeqCst, not just Acquire: a reader that later sees
                    // this slot reused concludes the previous write is
                    // committed, and must then see the watermark that this
                    // producer saw (x86 makes no difference).
                    .compare_exchange(cur, stamp(seq, WRITING, false), Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    return slot;
                }
                continue;
            }
            if held == prev && state == READY {
                // The previous write is pending and not indexed: index it (and
                // the next few slots, so this is rare) to free its slot.
                self.catch_up((prev + size / 4).min(seq - 1), watermark);
                continue;
            }
            // The previous writer of this slot is still staging it.
            spins += 1;
            if spins < 64 {
                hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
    }

    /// Indexes every staged write up to `last` (the last seq handed out),
    /// so that a read sees every write that returned before it.
    #[inline]
    pub(crate) fn sync(&self, last: u64, watermark: &impl Watermark) {
        if self.indexed(last) {
            return;
        }
        // Load first: readers that find it set do not take the line.
        if !self.read_behind.load(Ordering::Relaxed) {
            self.read_behind.store(true, Ordering::Relaxed);
        }
        self.catch_up(last, watermark);
    }

    /// Every write up to `last` is indexed, or has nothing to index.
    #[inline]
    fn indexed(&self, last: u64) -> bool {
        self.scanned.load(Ordering::SeqCst) >= last && self.skipped.load(Ordering::SeqCst) == 0
    }

    /// Whether a read had to index staged writes since the last call (for
    /// the worker: see `read_behind`).
    pub(crate) fn take_read_behind(&self) -> bool {
        self.read_behind.load(Ordering::Relaxed) && self.read_behind.swap(false, Ordering::Relaxed)
    }

    /// Indexes up to `max` staged writes, up to `last` (the last seq handed
    /// out), if any wait. Returns whether there were some. For the worker
    /// while it lingers (see `Worker::linger` for when); it does not retry
    /// skipped seqs, which reads do.
    pub(crate) fn index_some(&self, last: u64, max: u64, watermark: &impl Watermark) -> bool {
        let from = self.scanned.load(Ordering::SeqCst).max(watermark.get());
        if from >= last {
            return false;
        }
        self.catch_up(last.min(from + max), watermark);
        true
    }

    /// No staged write above this seq has been indexed yet: the worker
    /// trims the index only for writes at or below it (and for large writes,
    /// which are indexed at once). An entry that a concurrent scan adds after
    /// this is read is committed already: reads treat it as a miss, and
    /// `insert` drops it before its table grows.
    pub(crate) fn scanned(&self) -> u64 {
        self.scanned.load(Ordering::SeqCst)
    }

    /// Indexes the staged writes up to `target` (no higher than the last seq
    /// handed out).
    #[cold]
    fn catch_up(&self, target: u64, watermark: &impl Watermark) {
        let mut skipped = self.scan.lock();
        let wm = watermark.get();
        skipped.retain(|&t| t > wm && !self.index_one(t, watermark));
        let scanned = self.scanned.load(Ordering::SeqCst);
        // Seqs at or below the watermark are in the sink: nothing to index.
        for t in scanned.max(wm) + 1..=target {
            if !self.index_one(t, watermark) {
                skipped.push(t);
            }
        }
        self.skipped.store(skipped.len(), Ordering::SeqCst);
        self.scanned.store(scanned.max(target), Ordering::SeqCst);
    }

    /// Moves the staged write of `t` into the index. False if it is not
    /// staged yet (its producer is between taking the seq and staging).
    fn index_one(&self, t: u64, watermark: &impl Watermark) -> bool {
        let slot = self.slot(t);
        loop {
            let cur = slot.stamp.load(Ordering::SeqCst);
            let held = cur >> 3;
            if held > t {
                // Reused: `t` was indexed or committed before.
                return true;
            }
            if held < t || cur & STATE == WRITING {
                return false;
            }
            if cur & STATE != READY {
                return true;
            }
            let indexing = (cur & !STATE) | INDEXING;
            if slot.stamp.compare_exchange(cur, indexing, Ordering::Acquire, Ordering::Relaxed).is_err() {
                continue;
            }
            let mut words = [0u64; 8];
            for (v, w) in words.iter_mut().zip(&slot.words) {
                *v = w.load(Ordering::Relaxed);
            }
            let hash = slot.hash.load(Ordering::Relaxed);
            self.insert(hash, t, KvBuf::unpack(&words), cur & TOMB_BIT != 0, watermark);
            slot.stamp.store(stamp(t, DONE, false), Ordering::Release);
            return true;
        }
    }

    /// What is pending for `key` in the index (call [`sync`](Overlay::sync)
    /// first). An entry at or below the watermark is no longer pending (its
    /// batch is committed, and a later `execute` in that batch may have
    /// changed the key): it is a miss even before the worker trims it.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &[u8], watermark: &impl Watermark) -> Lookup {
        let shard = self.shard(hash).lock();
        match shard.find(hash, |e| e.kv.key() == key) {
            None => Lookup::Miss,
            Some(e) if e.seq() <= watermark.get() => Lookup::Miss,
            Some(e) if e.tagged & TOMBSTONE != 0 => Lookup::Deleted,
            Some(e) => Lookup::Value(Value::from_kv(&e.kv)),
        }
    }

    /// Removes the entry of `key` if its write is at or below `watermark`.
    pub(crate) fn remove_committed(&self, hash: u64, key: &[u8], watermark: u64) {
        let mut shard = self.shard(hash).lock();
        if let Ok(e) = shard.find_entry(hash, |e| e.kv.key() == key) {
            if e.get().seq() <= watermark {
                e.remove();
            }
        }
    }

    /// Number of keys with a pending write (entries above the watermark;
    /// the worker trims the others just after it publishes the watermark).
    pub(crate) fn len(&self, last: u64, watermark: &impl Watermark) -> usize {
        // Not `sync`: counting is not reading, and a monitor's `stats` should
        // not start the worker indexing.
        if !self.indexed(last) {
            self.catch_up(last, watermark);
        }
        self.shards
            .iter()
            .map(|s| {
                let shard = s.lock();
                let wm = watermark.get();
                shard.iter().filter(|e| e.seq() > wm).count()
            })
            .sum()
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
