//! Guards the overlay of pending keyed writes that makes reads see earlier
//! writes: `get` of a pending key answers with the pending value while the
//! sink holds its batch; an entry is dropped only once its write is
//! committed and only if no newer write of the key is pending (a newer put
//! made while the older batch is applied stays visible after that commit);
//! `stats().overlay_keys` is 0 once everything is flushed; and `get` sees
//! the effect of a pending `execute` that writes `backburner_kv` directly,
//! also right after that statement commits.

mod common;

use std::time::Duration;

use backburner::{params, Store};
use common::{committed, Gate, GatedSink};

#[test]
fn pending_value_is_served_while_the_sink_holds_the_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let gate = Gate::new();
    let store = Store::builder("gated")
        .sink(GatedSink { inner: common::sqlite(&db), gate: gate.clone() })
        .linger(Duration::from_secs(600))
        .build()
        .expect("open");
    let _open = gate.open_on_drop();

    let old = store.put("k", "old").expect("put");
    drop(store.put("gone", "x").expect("put"));
    drop(store.delete("gone").expect("delete"));
    // Waiting (without blocking) tells the worker to cut the batch now.
    assert!(old.wait_timeout(Duration::ZERO).expect("wait").is_none());
    gate.wait_entered(1);
    // Batch 1 (k=old, gone deleted) is inside `apply`, not committed.
    assert_eq!(committed(&db, b"k"), None);
    assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"old"[..]));
    assert_eq!(store.get("gone").expect("get"), None);
    assert_eq!(store.stats().overlay_keys, 2);

    // A newer write of the same key while batch 1 is being applied.
    let new = store.put("k", "new").expect("put");
    assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"new"[..]));

    // Let batch 1 through, and hold batch 2 (k=new).
    gate.allow(1);
    old.wait().expect("old commits");
    assert!(new.wait_timeout(Duration::ZERO).expect("wait").is_none());
    gate.wait_entered(2);
    assert_eq!(committed(&db, b"k").as_deref(), Some(&b"old"[..]));
    assert!(!new.is_committed());
    // The commit of the older write must not have removed the newer one.
    assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"new"[..]));
    assert_eq!(store.stats().overlay_keys, 1, "only k=new is pending");

    gate.open();
    store.flush().expect("flush");
    assert!(new.is_committed());
    assert_eq!(store.stats().overlay_keys, 0);
    assert_eq!(committed(&db, b"k").as_deref(), Some(&b"new"[..]));
    assert_eq!(store.get("k").expect("get").as_deref(), Some(&b"new"[..]));
    store.close().expect("close");
}

#[test]
fn overlay_is_empty_after_each_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::builder(&format!("sqlite://{}/t.db", dir.path().display())).batch_max(64).build().expect("open");
    for round in 0..20 {
        for i in 0..300 {
            let key = format!("k{}", (i * 7 + round) % 101);
            if i % 5 == 4 {
                drop(store.delete(&key).expect("delete"));
            } else {
                drop(store.put(&key, format!("{round}:{i}")).expect("put"));
            }
        }
        store.flush().expect("flush");
        let st = store.stats();
        assert_eq!(st.overlay_keys, 0, "round {round}: {st:?}");
        assert_eq!(st.queue_depth, 0, "round {round}: {st:?}");
    }
    store.close().expect("close");
}

#[test]
fn get_sees_a_pending_execute_on_the_kv_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    // A long linger: the statement would stay pending if `get` did not wait.
    let store =
        Store::builder(&format!("sqlite://{}", db.display())).linger(Duration::from_secs(600)).build().expect("open");
    let upsert = "INSERT INTO backburner_kv(key, value) VALUES (?1, ?2) \
                  ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    drop(store.execute(upsert, params![b"raw".as_slice(), b"from sql".as_slice()]).expect("execute"));
    assert_eq!(store.get("raw").expect("get").as_deref(), Some(&b"from sql"[..]));

    // A pending put, then a statement that changes the same key: the read
    // must show the statement's effect, not the put it overwrote, every
    // time (also in the moment right after the batch commits).
    for i in 0..500 {
        let key = format!("k{i}");
        drop(store.put(&key, "put").expect("put"));
        drop(
            store
                .execute(
                    "UPDATE backburner_kv SET value = ?2 WHERE key = ?1",
                    params![key.as_bytes(), b"updated".as_slice()],
                )
                .expect("execute"),
        );
        assert_eq!(store.get(&key).expect("get").as_deref(), Some(&b"updated"[..]), "key {key}");
        drop(store.execute("DELETE FROM backburner_kv WHERE key = ?1", params![key.as_bytes()]).expect("execute"));
        assert_eq!(store.get(&key).expect("get"), None, "key {key}");
    }
    store.close().expect("close");
}
