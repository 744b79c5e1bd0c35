//! Model checks of the staging ring, the scan and the index under `loom`
//! (run by `.ci/run`; by hand: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom
//! cargo test -p backburner --no-default-features --release --lib loom`).
//!
//! Each model runs the overlay as the engine does, with the parts around it
//! reduced to what the overlay's rules speak of: the seq counter
//! (`Queue::next_seq`), the watermark (`Progress::watermark`), and in the
//! second model the queue to the worker and the sink. The ring has two
//! slots, so from the third seq on each one reuses a slot. Every value is
//! the seq of its write, so a value read from a torn or stale slot shows.
//!
//! loom explores every schedule with at most `PREEMPTIONS` preemptions
//! (`LOOM_MAX_PREEMPTIONS` overrides it, for a deeper run by hand).

use std::collections::HashMap;

use loom::model::Builder;

use super::{Lookup, Overlay, TOMBSTONE};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{thread, Arc, Mutex};
use crate::value::KvBuf;

const PREEMPTIONS: usize = 2;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = Builder::new();
    builder.preemption_bound.get_or_insert(PREEMPTIONS);
    builder.check(f);
}

/// The overlay and the engine state its rules speak of.
struct Engine {
    overlay: Overlay,
    /// The next seq to hand out.
    next: AtomicU64,
    watermark: AtomicU64,
    /// What each seq was taken for: by which thread, and its key (`None`
    /// if refused). The checker's own notes, kept out of loom's sight (a
    /// `std` lock, held for no loom operation): they order nothing in the
    /// model.
    taken: std::sync::Mutex<HashMap<u64, Taken>>,
    /// Seqs sent to the worker and not yet taken by it, in seq order.
    queue: Mutex<Vec<u64>>,
    /// The sink: each key's newest committed seq.
    sink: Mutex<HashMap<Vec<u8>, u64>>,
}

/// A thread of a model.
type Who = u8;

/// What a seq was taken for.
struct Taken {
    who: Who,
    /// `None`: a write the queue refused.
    key: Option<Vec<u8>>,
}

impl Engine {
    fn new(ring: usize) -> Engine {
        Engine {
            overlay: Overlay::with_ring(ring, 1),
            next: AtomicU64::new(1),
            watermark: AtomicU64::new(0),
            taken: std::sync::Mutex::new(HashMap::new()),
            queue: Mutex::new(Vec::new()),
            sink: Mutex::new(HashMap::new()),
        }
    }

    fn last(&self) -> u64 {
        self.next.load(Ordering::SeqCst) - 1
    }

    /// Takes a seq for a write of `key` by `who` (`None`: a write the
    /// queue will refuse).
    fn take(&self, who: Who, key: Option<&[u8]>) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        self.taken.lock().expect("notes").insert(seq, Taken { who, key: key.map(<[u8]>::to_vec) });
        seq
    }

    /// `Shared::submit` of a put of `key` by `who`, whose value is its seq:
    /// admitted (sent to the worker if `send`), then staged. Returns the seq.
    fn put(&self, who: Who, key: &[u8], send: bool) -> u64 {
        let seq = self.take(who, Some(key));
        if send {
            self.queue.lock().push(seq);
        }
        let kv = KvBuf::new(key, &seq.to_le_bytes());
        self.overlay.stage(seq, Some((self.overlay.hash(key), &kv, false)), &self.watermark);
        seq
    }

    /// `Shared::submit` of a write the queue refuses.
    fn refused(&self, who: Who) -> u64 {
        let seq = self.take(who, None);
        self.overlay.refuse(seq, &self.watermark);
        seq
    }

    /// The key that `seq` was taken for.
    fn key_of(&self, seq: u64) -> Option<Vec<u8>> {
        self.taken.lock().expect("notes").get(&seq).and_then(|t| t.key.clone())
    }

    /// The newest seq at or below `upto` taken for a write of `key` (by
    /// `who`, or by anyone).
    fn newest(&self, key: &[u8], who: Option<Who>, upto: u64) -> Option<u64> {
        let taken = self.taken.lock().expect("notes");
        let mine = |t: &Taken| who.is_none_or(|who| who == t.who) && t.key.as_deref() == Some(key);
        taken.iter().filter(|&(&s, t)| s <= upto && mine(t)).map(|(&s, _)| s).max()
    }

    /// `Store::get`: the seq of the value read, from the overlay or the sink.
    fn get(&self, key: &[u8]) -> Option<u64> {
        let hash = self.overlay.hash(key);
        self.overlay.sync(self.last(), &self.watermark);
        match self.overlay.get(hash, key, &self.watermark) {
            Lookup::Value(v) => {
                let seq = u64::from_le_bytes(v.to_vec().try_into().expect("an 8-byte value"));
                assert_eq!(
                    self.key_of(seq).as_deref(),
                    Some(key),
                    "a value of seq {seq}, which did not write this key"
                );
                Some(seq)
            }
            Lookup::Deleted => panic!("a delete, and none was made"),
            Lookup::Miss => self.sink.lock().get(key).copied(),
        }
    }

    /// A read of `key` by a thread that knows that the writes of `who` up
    /// to seq `seen` returned: it sees the newest of them, or a newer one.
    fn read_your_writes(&self, key: &[u8], who: Who, seen: u64) {
        let got = self.get(key);
        if let Some(want) = self.newest(key, Some(who), seen) {
            assert!(got >= Some(want), "read {got:?}, after the write of seq {want} returned");
        }
    }

    /// Every index entry holds the write of its own seq: the key it was
    /// taken for and its value, never a refused seq's.
    fn check_index(&self) {
        for shard in self.overlay.shards.iter() {
            for e in shard.lock().iter() {
                let seq = e.seq();
                assert_eq!(e.tagged & TOMBSTONE, 0, "a tombstone, and no delete was made");
                let key = self.key_of(seq);
                assert!(key.is_some(), "an entry for seq {seq}, which wrote nothing");
                assert_eq!(Some(e.kv.key()), key.as_deref(), "the entry of seq {seq} has another write's key");
                assert_eq!(e.kv.value(), seq.to_le_bytes(), "the entry of seq {seq} has another write's value");
            }
        }
    }

    /// One batch of the worker (`Worker::commit`): what was sent, applied
    /// to the sink in seq order, then the watermark published, then the
    /// overlay trimmed of what was indexed.
    fn commit(&self) {
        let batch = std::mem::take(&mut *self.queue.lock());
        let Some(&upto) = batch.last() else { return };
        {
            let mut sink = self.sink.lock();
            for &seq in &batch {
                sink.insert(self.key_of(seq).expect("a sent write"), seq);
            }
        }
        self.watermark.store(upto, Ordering::SeqCst);
        let scanned = self.overlay.scanned();
        for &seq in batch.iter().filter(|&&s| s <= scanned) {
            let key = self.key_of(seq).expect("a sent write");
            self.overlay.remove_committed(self.overlay.hash(&key), &key, upto);
        }
    }
}

/// Two producers stage writes at once, one of them a refused seq, through
/// a ring of two slots (so slots are reused, and a producer indexes the
/// write before its own to free a slot), while a reader that has seen some
/// of them return reads them. Nothing is committed: every write stays in
/// the overlay. The reader sees each write it knows returned, or a newer
/// write of the key; no entry ever holds a refused seq or another seq's
/// write; and at the end each key reads back its newest write.
#[test]
fn loom_two_producers_and_a_reader() {
    const A: Who = 0;
    const B: Who = 1;
    model(|| {
        let e = Arc::new(Engine::new(2));
        let a_done = Arc::new(AtomicU64::new(0));
        let b_done = Arc::new(AtomicU64::new(0));
        let a = {
            let (e, done) = (Arc::clone(&e), Arc::clone(&a_done));
            thread::spawn(move || {
                done.store(e.put(A, b"x", false), Ordering::Release);
                done.store(e.put(A, b"a", false), Ordering::Release);
            })
        };
        let b = {
            let (e, done) = (Arc::clone(&e), Arc::clone(&b_done));
            thread::spawn(move || {
                done.store(e.refused(B), Ordering::Release);
                done.store(e.put(B, b"x", false), Ordering::Release);
            })
        };
        // A's writes returned up to `seen_a`, B's up to `seen_b`.
        let (seen_a, seen_b) = (a_done.load(Ordering::Acquire), b_done.load(Ordering::Acquire));
        e.read_your_writes(b"x", A, seen_a);
        e.read_your_writes(b"x", B, seen_b);
        e.read_your_writes(b"a", A, seen_a);
        e.check_index();
        a.join().expect("producer a");
        b.join().expect("producer b");
        let last = e.last();
        for key in [&b"x"[..], b"a"] {
            assert_eq!(e.get(key), e.newest(key, None, last), "the newest write of {key:?}");
        }
        assert_eq!(e.overlay.len(last, &e.watermark), 2);
        e.check_index();
    });
}

/// One producer writes four seqs through a ring of two slots (seq and
/// seq + 2 share a slot; the keys differ, so a stale slot shows), sending
/// each to the worker before staging it, as `Shared::submit` does. The
/// worker indexes while it lingers (`index_some`), then commits a batch:
/// the watermark moves, so a producer may reuse a slot whose write was
/// never indexed, and the scan must skip what is committed. A reader
/// reads meanwhile. The indexer never takes a write from a slot that holds
/// another seq, reads see their own writes or newer (from the overlay or
/// the sink), and at the end every key reads back its newest write.
#[test]
fn loom_wrap_around_while_the_watermark_moves() {
    const KEYS: [&[u8]; 3] = [b"a", b"b", b"c"];
    const P: Who = 0;
    let key = |i: u64| KEYS[(i % 3) as usize];
    model(move || {
        let e = Arc::new(Engine::new(2));
        let done = Arc::new(AtomicU64::new(0));
        let producer = {
            let (e, done) = (Arc::clone(&e), Arc::clone(&done));
            thread::spawn(move || {
                for i in 1..=4 {
                    done.store(e.put(P, key(i), true), Ordering::Release);
                }
            })
        };
        let worker = {
            let e = Arc::clone(&e);
            thread::spawn(move || {
                e.overlay.index_some(e.last(), 4096, &e.watermark);
                e.commit();
                e.check_index();
            })
        };
        let seen = done.load(Ordering::Acquire);
        for k in KEYS {
            e.read_your_writes(k, P, seen);
        }
        e.check_index();
        producer.join().expect("producer");
        worker.join().expect("worker");
        let last = e.last();
        for k in KEYS {
            assert_eq!(e.get(k), e.newest(k, None, last), "the newest write of {k:?}");
        }
        e.check_index();
    });
}
