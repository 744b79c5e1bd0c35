//! Guards that reading is an optional capability of a sink: a sink that
//! takes writes only (no `SinkReader`) still takes writes, and `get` and
//! `query` on its store fail with a clear `Error::CannotRead` instead of
//! guessing.

use std::sync::{Arc, Mutex};

use backburner::{ApplyError, Batch, Error, Outcomes, Resume, Seq, Sink, SinkError, Store, Write};

/// Keeps the keys it was given, and nothing to read them with.
struct Collect {
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    last: u64,
}

impl Sink for Collect {
    fn open_writer(&mut self, _: &str) -> Result<Resume, SinkError> {
        Ok(Resume { last_applied: Seq(self.last), epoch: 0 })
    }
    fn apply(&mut self, batch: &Batch<'_>, _: &mut Outcomes<'_>) -> Result<(), ApplyError> {
        for (_, w) in batch.writes() {
            if let Write::Put(kv) = w {
                let key = kv.key();
                self.seen.lock().expect("seen").push(key.to_vec());
            }
        }
        self.last = batch.last_seq().get();
        Ok(())
    }
}

#[test]
fn a_write_only_sink_takes_writes_and_refuses_reads_clearly() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = Store::builder("collect").sink(Collect { seen: seen.clone(), last: 0 }).build().expect("open");
    store.put("a", "1").expect("put").wait().expect("applied");
    for r in [store.get("a").map(|_| ()), store.query("SELECT 1", []).map(|_| ())] {
        match r {
            Err(e @ Error::CannotRead { .. }) => assert!(e.to_string().contains("takes writes only"), "{e}"),
            other => panic!("expected CannotRead, got {other:?}"),
        }
    }
    store.close().expect("close");
    assert_eq!(*seen.lock().expect("seen"), vec![b"a".to_vec()]);
}
