//! Guards the awaitable journaled wait: `Ticket::wait_journaled_async`
//! resolves once the write is in the journal, while the sink still holds
//! it back (no thread blocked: one executor thread runs everything), and
//! says `NoJournal` for a store without one.

mod common;

use std::time::Duration;

use backburner::{Durability, Error, Fsync, Store};
use common::{sqlite, Gate, GatedSink};

#[test]
fn a_journaled_wait_resolves_while_the_sink_holds_the_write_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Gate::new();
    let store = Store::builder("gated")
        .sink(GatedSink { inner: sqlite(&dir.path().join("t.db")), gate: gate.clone() })
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal(dir.path().join("j"))
        .build()
        .expect("open");
    let _open = gate.open_on_drop();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        let tickets: Vec<_> = (0..50).map(|i| store.put(format!("k{i}"), "v").expect("put")).collect();
        for t in &tickets {
            tokio::time::timeout(Duration::from_secs(30), t.wait_journaled_async())
                .await
                .expect("the journaled wait never resolved")
                .expect("journaled");
        }
        assert!(tickets.iter().all(|t| !t.is_committed()), "the sink holds every batch");
        // A journaled wait dropped before it resolves cancels only the wait.
        let t = store.put("late", "v").expect("put");
        drop(t.wait_journaled_async());
        gate.open();
        for t in tickets {
            tokio::time::timeout(Duration::from_secs(30), t).await.expect("commit hung").expect("committed");
        }
        tokio::time::timeout(Duration::from_secs(30), t).await.expect("commit hung").expect("committed");
    });
    store.close().expect("close");
}

#[test]
fn without_a_journal_the_journaled_wait_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display())).expect("open");
    let t = store.put("k", "v").expect("put");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    assert!(matches!(rt.block_on(t.wait_journaled_async()), Err(Error::NoJournal)));
    store.close().expect("close");
}
