//! Guards coalescing: writes to one key inside one batch collapse to the
//! last one, in per-key order (a delete after a put removes, a put after a
//! delete restores), and are counted in `stats().coalesced`; an `execute`
//! is a barrier, so a statement that reads the key/value table sees the
//! keyed writes enqueued before it and none enqueued after it.

mod common;

use std::time::Duration;

use backburner::{params, Store};
use common::{committed, count};

/// A store whose writes wait for `flush` to make a batch.
fn open(dir: &tempfile::TempDir) -> Store {
    Store::builder(&format!("sqlite://{}/t.db", dir.path().display()))
        .linger(Duration::from_secs(600))
        .build()
        .expect("open")
}

#[test]
fn writes_to_one_key_collapse_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = open(&dir);
    // Committed state before the batch: j and m exist.
    drop(store.put("j", "0").expect("put"));
    drop(store.put("m", "0").expect("put"));
    store.flush().expect("flush");
    let before = store.stats();

    let tickets = vec![
        store.put("k", "1").expect("put"),
        store.delete("k").expect("delete"),
        store.put("k", "2").expect("put"),
        store.put("j", "1").expect("put"),
        store.delete("j").expect("delete"),
        store.delete("m").expect("delete"),
        store.put("m", "3").expect("put"),
        store.put("m", "4").expect("put"),
        store.put("solo", "s").expect("put"),
    ];
    // Pending: the overlay answers with the last write of each key.
    assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"2"[..]));
    assert_eq!(store.get("j").expect("get"), None);
    assert_eq!(store.get("m").expect("get").as_deref(), Some(&b"4"[..]));
    store.flush().expect("flush");

    let st = store.stats();
    assert_eq!(st.batches, before.batches + 1, "one batch: {st:?}");
    // k: 2 superseded, j: 1, m: 2.
    assert_eq!(st.coalesced - before.coalesced, 5, "{st:?}");
    assert_eq!(st.committed - before.committed, 9, "{st:?}");
    for t in &tickets {
        assert!(t.is_committed(), "a superseded write counts as committed");
    }
    assert_eq!(committed(&db, b"k").as_deref(), Some(&b"2"[..]));
    assert_eq!(committed(&db, b"j"), None);
    assert_eq!(committed(&db, b"m").as_deref(), Some(&b"4"[..]));
    assert_eq!(committed(&db, b"solo").as_deref(), Some(&b"s"[..]));
    assert_eq!(count(&db, "backburner_kv"), 3);
    assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"2"[..]));
    assert_eq!(store.get("j").expect("get"), None);
    store.close().expect("close");
}

#[test]
fn execute_is_a_barrier() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = open(&dir);
    store.execute("CREATE TABLE seen(tag TEXT, value BLOB)", []).expect("ddl").wait().expect("ddl");
    let before = store.stats();
    let snap = "INSERT INTO seen SELECT ?1, value FROM backburner_kv WHERE key = ?2";

    drop(store.put("k", "v1").expect("put"));
    drop(store.execute(snap, params!["after v1", b"k".as_slice()]).expect("execute"));
    drop(store.put("k", "v2").expect("put"));
    drop(store.delete("k").expect("delete"));
    drop(store.execute(snap, params!["after delete", b"k".as_slice()]).expect("execute"));
    drop(store.put("k", "v3").expect("put"));
    drop(store.execute(snap, params!["after v3", b"k".as_slice()]).expect("execute"));
    drop(store.put("k", "v4").expect("put"));
    store.flush().expect("flush");

    let st = store.stats();
    assert_eq!(st.batches, before.batches + 1, "one batch: {st:?}");
    // Only v2 is superseded (by the delete) without a statement between them.
    assert_eq!(st.coalesced - before.coalesced, 1, "{st:?}");

    let rows = store.query("SELECT tag, value FROM seen ORDER BY rowid", []).expect("query");
    let got: Vec<(String, Vec<u8>)> = rows
        .iter()
        .map(|r| (r[0].as_str().expect("tag").to_string(), r[1].as_bytes().expect("value").to_vec()))
        .collect();
    assert_eq!(got, vec![("after v1".to_string(), b"v1".to_vec()), ("after v3".to_string(), b"v3".to_vec()),]);
    assert_eq!(committed(&db, b"k").as_deref(), Some(&b"v4"[..]));
    store.close().expect("close");
}

#[test]
fn coalescing_keeps_the_last_write_under_concurrency() {
    // Many threads overwrite a few keys; each thread ends with a known
    // value for its own keys, whatever the batches were.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display())).expect("open");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    let key = format!("t{t}:{}", i % 5);
                    if i % 7 == 3 {
                        drop(s.delete(&key).expect("delete"));
                    } else {
                        drop(s.put(&key, format!("{i}")).expect("put"));
                    }
                }
            })
        })
        .collect();
    for h in threads {
        h.join().expect("thread");
    }
    store.close().expect("close");
    for t in 0..4 {
        for k in 0..5 {
            // The last i with i % 5 == k below 2000.
            let last = (0..2_000).rev().find(|i| i % 5 == k).expect("last");
            let want = (last % 7 != 3).then(|| format!("{last}").into_bytes());
            assert_eq!(committed(&db, format!("t{t}:{k}").as_bytes()), want);
        }
    }
}
