//! Guards that a write the sink can never take is refused at the call, with
//! its size and the sink's limit in the error and the write handed back,
//! instead of being accepted and refused a minute later by the worker
//! (SQLite takes strings and blobs of at most 1,000,000,000 bytes).

use backburner::{params, Error, Store, Write};

#[test]
fn a_write_above_the_sinks_limit_is_refused_at_the_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display())).expect("open");
    // Above SQLite's default limit, below backburner's own MAX_WRITE.
    let size = 1_000_000_100usize;
    assert!(size < backburner::MAX_WRITE);
    let big = vec![0u8; size - 1];
    match store.put("k", &big) {
        Err(e @ Error::TooLarge { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("1000000100 bytes"), "the message gives the write's size: {msg}");
            assert!(msg.contains("1000000000 bytes the sink takes"), "the message gives the limit: {msg}");
            if let Error::TooLarge { size: s, limit, .. } = &e {
                assert_eq!((*s, *limit), (size, 1_000_000_000));
            }
            // Handed back, not lost (compared by length: a failure must not print a gigabyte).
            match e.into_write() {
                Some(Write::Put(kv)) => assert!(kv.key() == b"k" && kv.value().len() == size - 1, "not the write"),
                other => panic!("the put is handed back: {:?}", other.is_some()),
            }
        }
        Ok(_) => panic!("a 1,000,000,100-byte put was accepted"),
        Err(e) => panic!("expected TooLarge, got {e}"),
    }
    let text = "x".repeat(size - 30);
    match store.execute("INSERT INTO t VALUES (?1)", params![text]) {
        Err(e @ Error::TooLarge { .. }) => match e.into_write() {
            Some(Write::Execute(st)) => assert_eq!(st.params()[0].as_str().map(str::len), Some(size - 30)),
            other => panic!("the statement is handed back: {:?}", other.is_some()),
        },
        Ok(_) => panic!("a statement with a 1 GB parameter was accepted"),
        Err(e) => panic!("expected TooLarge, got {e}"),
    }
    assert_eq!(store.stats().enqueued, 0, "nothing was accepted");
    store.put("small", "fine").expect("small writes still go").wait().expect("commit");
    store.close().expect("close");
}
