//! Runs of puts go to SQLite 32 rows per statement (`sink::sqlite`'s
//! `put_chunk`): big batches of new keys, of keys already there (the
//! upsert's update), with deletes and statements between the runs, and
//! runs that end mid-chunk, all commit every value as written, in order.

mod common;

use backburner::Store;
use common::{committed, sqlite, Gate, GatedSink};

#[test]
fn runs_of_puts_commit_every_value_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let gate = Gate::new();
    let store = Store::builder("gated")
        .sink(GatedSink { inner: sqlite(&db), gate: gate.clone() })
        .batch_max(10_000)
        .build()
        .expect("open");
    let _open = gate.open_on_drop();
    // Held, so that these land in a few big batches.
    for i in 0..1000 {
        store.put(format!("k{i:04}"), format!("first {i}")).expect("put");
    }
    // Overwrites (the upsert's update) of every third key, a delete of
    // every seventh, and a statement that breaks the run of puts.
    for i in (0..1000).step_by(3) {
        store.put(format!("k{i:04}"), format!("second {i}")).expect("put");
    }
    store.execute("CREATE TABLE IF NOT EXISTS marker(n INTEGER)", []).expect("execute");
    for i in (0..1000).step_by(7) {
        store.delete(format!("k{i:04}")).expect("delete");
    }
    // 45 puts: one chunk of 32 and 13 one by one.
    for i in 1000..1045 {
        store.put(format!("k{i:04}"), format!("late {i}")).expect("put");
    }
    gate.open();
    store.flush().expect("flush");
    for i in 0..1045 {
        let want = if i >= 1000 {
            Some(format!("late {i}"))
        } else if i % 7 == 0 {
            None
        } else if i % 3 == 0 {
            Some(format!("second {i}"))
        } else {
            Some(format!("first {i}"))
        };
        let got = committed(&db, format!("k{i:04}").as_bytes()).map(|v| String::from_utf8(v).expect("utf-8"));
        assert_eq!(got, want, "key k{i:04}");
    }
    let st = store.stats();
    assert!(st.max_batch_size >= 64, "the writes came in big batches: {st:?}");
    store.close().expect("close");
}
