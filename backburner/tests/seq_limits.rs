//! The largest `Seq` a store hands out is 2^60 (the overlay keeps state bits
//! beside a `Seq`): a store resumed just below it works, reads included, past
//! a full turn of the overlay's staging ring; a sink whose stored last seq is
//! beyond it is refused at open with an error that says so.

use std::path::Path;

use backburner::{Error, Store};

const MAX_SEQ: u64 = 1 << 60;

fn set_last_applied(db: &Path, seq: u64) {
    let url = format!("sqlite://{}", db.display());
    let store = Store::open(&url).expect("open");
    store.put("seed", "x").expect("put").wait().expect("commit");
    store.close().expect("close");
    let c = rusqlite::Connection::open(db).expect("sqlite");
    let n = c
        .execute("UPDATE backburner_writers SET last_seq = ?1 WHERE writer = 'default'", [seq as i64])
        .expect("update");
    assert_eq!(n, 1);
}

#[test]
fn a_store_resumed_near_the_largest_seq_reads_and_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    set_last_applied(&db, MAX_SEQ - 1_000);
    let url = format!("sqlite://{}", db.display());
    // 64 queue slots: the ring has 64 slots and turns over many times.
    let store = Store::builder(&url).capacity(64).build().expect("open");
    for i in 0..500u32 {
        let t = store.put(format!("k{}", i % 50), i.to_string()).expect("put");
        assert!(t.seq().get() > MAX_SEQ - 1_000);
        let got = store.get(format!("k{}", i % 50)).expect("get");
        assert_eq!(got.as_deref(), Some(i.to_string().as_bytes()), "k{} after put {i}", i % 50);
    }
    store.flush().expect("flush");
    assert_eq!(store.get("k49").expect("get").as_deref(), Some(&b"499"[..]));
    store.close().expect("close");
}

#[test]
fn a_stored_seq_beyond_the_largest_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    set_last_applied(&db, MAX_SEQ + 1);
    let url = format!("sqlite://{}", db.display());
    match Store::open(&url) {
        Err(Error::Sink(e)) => assert!(e.to_string().contains("beyond the largest"), "{e}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a store whose next seq is beyond the largest"),
    }
}
