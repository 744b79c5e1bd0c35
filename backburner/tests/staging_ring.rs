//! Guards the overlay's staging ring (small writes wait there, in `Seq`
//! order, until a read indexes them): with far more writes pending than the
//! ring has slots, every accepted write is still read back and every refused
//! one is not; and threads that read their own writes right after making
//! them, while other threads write and the ring is reused every few
//! milliseconds (or while the lingering worker indexes too), always see them.

mod common;

use std::time::Duration;

use backburner::{Backpressure, Error, Store};
use common::{committed, count, Gate, GatedSink};

/// Puts distinct keys while the sink holds its first batch, until `stop`
/// refusals; then checks every key through `get`, and after the sink opens,
/// in SQLite. Returns how many writes were accepted.
fn fill_past_the_ring(policy: Backpressure) -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let gate = Gate::new();
    let store = Store::builder("gated")
        .sink(GatedSink { inner: common::sqlite(&db), gate: gate.clone() })
        // 64 queue slots, so 64 ring slots: the ring is the smallest there is.
        .capacity(64)
        .batch_max(10_000)
        .linger(Duration::from_secs(600))
        .backpressure(policy)
        .build()
        .expect("open");
    let _open = gate.open_on_drop();

    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut i = 0u32;
    while refused.len() < 5 && i < 5_000 {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        match store.put(&k, &v) {
            Ok(t) => {
                drop(t);
                accepted.push(i);
            }
            Err(Error::QueueFull { .. } | Error::Timeout { .. }) => {
                refused.push(i);
                // Let the worker take what the queue holds into its batch.
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("put {k}: {e}"),
        }
        i += 1;
    }
    assert_eq!(refused.len(), 5, "the queue never filled up");
    // The worker holds one batch inside the sink and the queue is full: more
    // writes are pending than the ring has slots, so producers had to index
    // slots before reusing them.
    assert!(accepted.len() > 100, "only {} writes pending", accepted.len());
    for &i in &accepted {
        let got = store.get(format!("k{i}")).expect("get");
        assert_eq!(got.as_deref(), Some(format!("v{i}").as_bytes()), "accepted write k{i}");
    }
    for &i in &refused {
        assert_eq!(store.get(format!("k{i}")).expect("get"), None, "refused write k{i} is visible");
    }
    assert_eq!(store.stats().overlay_keys, accepted.len() as u64);

    gate.open();
    store.flush().expect("flush");
    assert_eq!(count(&db, "backburner_kv"), accepted.len() as i64);
    for &i in &refused {
        assert_eq!(committed(&db, format!("k{i}").as_bytes()), None);
    }
    assert_eq!(store.stats().overlay_keys, 0);
    store.close().expect("close");
    accepted.len()
}

#[test]
fn more_pending_writes_than_ring_slots_drop_newest() {
    fill_past_the_ring(Backpressure::DropNewest);
}

#[test]
fn more_pending_writes_than_ring_slots_timeout() {
    fill_past_the_ring(Backpressure::Timeout(Duration::from_millis(20)));
}

#[test]
fn each_thread_reads_its_own_writes_while_the_ring_turns_over() {
    // A small ring and small batches: slots are reused many times a second,
    // while reads index what producers staged.
    own_writes(64, 16, Duration::ZERO);
}

#[test]
fn each_thread_reads_its_own_writes_while_the_worker_indexes_as_it_lingers() {
    // Batches that wait up to 2 ms: meanwhile the worker indexes staged
    // writes too, concurrently with the readers.
    own_writes(4096, 1000, Duration::from_millis(2));
}

fn own_writes(capacity: usize, batch_max: usize, linger: Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::builder(&url).capacity(capacity).batch_max(batch_max).linger(linger).build().expect("open");
    const THREADS: u32 = 4;
    const OPS: u32 = 4_000;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let store = store.clone();
            s.spawn(move || {
                // Each write is read back right after it, or, every other
                // group of 8, after the whole group (so that staged writes
                // wait a while, for a read or for the worker to index them).
                let check = |j: u32| {
                    let key = format!("t{t}:{}", j % 37);
                    let got = store.get(&key).expect("get");
                    if j.is_multiple_of(11) {
                        assert_eq!(got, None, "{key} after delete {j}");
                    } else {
                        assert_eq!(got.as_deref(), Some(j.to_string().as_bytes()), "{key} after put {j}");
                    }
                };
                for j in 0..OPS {
                    let key = format!("t{t}:{}", j % 37);
                    if j % 11 == 0 {
                        drop(store.delete(&key).expect("delete"));
                    } else {
                        drop(store.put(&key, j.to_string()).expect("put"));
                    }
                    if (j / 8) % 2 == 0 {
                        check(j);
                    } else if j % 8 == 7 {
                        (j - 7..=j).for_each(check);
                    }
                    // Someone else's key: whatever it holds, the read must not fail.
                    store.get(format!("t{}:{}", (t + 1) % THREADS, j % 37)).expect("get");
                }
            });
        }
    });
    store.flush().expect("flush");
    for t in 0..THREADS {
        for k in 0..37 {
            let key = format!("t{t}:{k}");
            // The last op on this key: the largest j < OPS with j % 37 == k.
            let last = (0..OPS).rev().find(|j| j % 37 == k).expect("some op");
            let want = if last % 11 == 0 { None } else { Some(last.to_string().into_bytes()) };
            assert_eq!(committed(&db, key.as_bytes()), want, "{key}");
            assert_eq!(store.get(&key).expect("get").map(|v| v.to_vec()), want, "{key}");
        }
    }
    store.close().expect("close");
}
