//! Fault injection over every I/O operation of the journal: for each N, a
//! short workload runs with the Nth operation failing (once, and from then
//! on), then the machine "loses power" (unsynced bytes dropped or torn) and
//! the store is reopened. Every write acknowledged as journaled must be in
//! the sink exactly once; no other row may appear twice; and after the
//! first failure the store must stay poisoned (no later call claims success).

use std::sync::Arc;

use backburner::journal::fault::{Fault, FaultyStorage, MemStorage};
use backburner::{params, Durability, Error, Fsync, Store};

const WRITES: i64 = 12;

#[derive(Debug, Default)]
struct Outcome {
    acked: Vec<i64>,
    issued: Vec<i64>,
    poisoned_seen: bool,
}

fn workload(url: &str, storage: Arc<FaultyStorage>) -> Outcome {
    let mut out = Outcome::default();
    let store = match Store::builder(url)
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal_storage(storage)
        .journal_limits(4096, 1 << 20)
        .build()
    {
        Ok(s) => s,
        Err(_) => return out, // the fault hit recovery: nothing was accepted
    };
    for i in 0..WRITES {
        let t = match store.execute("INSERT INTO t(id, pad) VALUES (?1, ?2)", params![i, "x".repeat(300)]) {
            Ok(t) => t,
            Err(Error::Poisoned { .. }) => {
                out.poisoned_seen = true;
                break;
            }
            Err(e) => panic!("unexpected enqueue error: {e}"),
        };
        out.issued.push(i);
        match t.wait_journaled() {
            Ok(()) => {
                assert!(!out.poisoned_seen, "a write was acknowledged after the store was poisoned");
                out.acked.push(i);
            }
            Err(Error::Poisoned { .. }) => out.poisoned_seen = true,
            Err(e) => panic!("unexpected ticket error: {e}"),
        }
        if i % 4 == 3 {
            let _ = store.flush();
        }
    }
    if out.poisoned_seen {
        // Latched: every later call fails, none claims success.
        assert!(matches!(store.put("after", "x"), Err(Error::Poisoned { .. })));
        assert!(matches!(store.flush(), Err(Error::Poisoned { .. })));
    }
    let _ = store.close();
    out
}

fn setup(dir: &std::path::Path) -> String {
    let db = dir.join("t.db");
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute_batch("CREATE TABLE IF NOT EXISTS t(id INTEGER NOT NULL, pad TEXT)").expect("ddl");
    format!("sqlite://{}", db.display())
}

fn rows(url: &str) -> Vec<i64> {
    let path = url.trim_start_matches("sqlite://");
    let c = rusqlite::Connection::open(path).expect("open");
    let mut st = c.prepare("SELECT id FROM t ORDER BY rowid").expect("prepare");
    let ids = st.query_map([], |r| r.get(0)).expect("query").collect::<Result<Vec<i64>, _>>().expect("rows");
    ids
}

#[test]
fn every_io_operation_fails_in_turn() {
    // Count the operations of a clean run.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = setup(dir.path());
    let clean = Arc::new(FaultyStorage::new(Arc::new(MemStorage::new()), Fault::never()));
    let out = workload(&url, Arc::clone(&clean));
    assert_eq!(out.acked.len() as i64, WRITES);
    let total = clean.ops();
    assert!(total > 2 * WRITES as u64, "only {total} I/O operations: the workload misses the journal");

    let mut poisoned_runs = 0;
    for persistent in [false, true] {
        for n in 1..=total + 1 {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = setup(dir.path());
            let mem = MemStorage::new();
            let fault = if persistent { Fault::from(n).persistent() } else { Fault::from(n) };
            let out = workload(&url, Arc::new(FaultyStorage::new(Arc::new(mem.clone()), fault)));
            poisoned_runs += u64::from(out.poisoned_seen);
            // Power loss: what was not synced is dropped, or torn at some byte.
            let mut cut = n as usize;
            mem.power_loss(|_, unsynced| {
                cut = cut.wrapping_mul(7919).wrapping_add(13);
                cut % (unsynced + 1)
            });
            let store = Store::builder(&url)
                .durability(Durability::Journal { fsync: Fsync::EveryBatch })
                .journal_storage(Arc::new(mem.clone()))
                .build()
                .unwrap_or_else(|e| panic!("fault at op {n} (persistent: {persistent}): reopen failed: {e}"));
            store.close().unwrap_or_else(|e| panic!("fault at op {n}: close after recovery failed: {e}"));
            let ids = rows(&url);
            let ctx = format!("fault at op {n} (persistent: {persistent}), outcome {out:?}, rows {ids:?}");
            let mut sorted = ids.clone();
            sorted.dedup();
            assert_eq!(sorted.len(), ids.len(), "{ctx}: a write was applied twice");
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ctx}: out of order");
            for a in &out.acked {
                assert!(ids.contains(a), "{ctx}: acknowledged write {a} lost");
            }
            for id in &ids {
                assert!(out.issued.contains(id), "{ctx}: row {id} was never written");
            }
        }
    }
    assert!(poisoned_runs > 0, "no fault ever reached the journal: the loop tested nothing");
}

#[test]
fn full_disk_refuses_new_writes_before_a_ticket_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = setup(dir.path());
    let mem = MemStorage::new();
    // Every create (segment reservation) from the 2nd on fails as a full disk would.
    struct FullAfterFirst {
        inner: MemStorage,
        creates: std::sync::atomic::AtomicU64,
        full: Arc<std::sync::atomic::AtomicBool>,
    }
    impl backburner::journal::Storage for FullAfterFirst {
        fn list(&self) -> std::io::Result<Vec<String>> {
            self.inner.list()
        }
        fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
            self.inner.read(name)
        }
        fn create(&self, name: &str, len: u64) -> std::io::Result<Box<dyn backburner::journal::SegmentFile>> {
            let n = self.creates.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n >= 1 && self.full.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device (simulated)",
                ));
            }
            self.inner.create(name, len)
        }
        fn remove(&self, name: &str) -> std::io::Result<()> {
            self.inner.remove(name)
        }
        fn truncate(&self, name: &str, len: u64) -> std::io::Result<()> {
            self.inner.truncate(name, len)
        }
        fn sync_dir(&self) -> std::io::Result<()> {
            self.inner.sync_dir()
        }
        fn path(&self, name: &str) -> std::path::PathBuf {
            self.inner.path(name)
        }
    }
    let full = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let storage = FullAfterFirst { inner: mem.clone(), creates: Default::default(), full: Arc::clone(&full) };
    let store = Store::builder(&url)
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal_storage(Arc::new(storage))
        .journal_limits(4096, 1 << 20)
        .build()
        .expect("open");
    let mut accepted = Vec::new();
    let mut refused = None;
    for i in 0..200i64 {
        match store.execute("INSERT INTO t(id, pad) VALUES (?1, ?2)", params![i, "y".repeat(200)]) {
            Ok(t) => accepted.push((i, t)),
            Err(e @ Error::StorageFull { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("disk is full"), "{msg}");
                let w = e.into_write().expect("the write is handed back");
                assert!(matches!(w, backburner::Write::Execute { .. }));
                refused = Some(i);
                break;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let refused = refused.expect("the full disk never refused a write");
    // Space frees: the accepted writes all land, and new writes are taken again.
    full.store(false, std::sync::atomic::Ordering::SeqCst);
    for (_, t) in &accepted {
        t.wait().expect("an accepted write commits once space frees");
    }
    let mut retry = None;
    for _ in 0..1000 {
        match store.execute("INSERT INTO t(id, pad) VALUES (?1, 'z')", params![refused]) {
            Ok(t) => {
                retry = Some(t);
                break;
            }
            Err(Error::StorageFull { .. }) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    retry.expect("writes are accepted again after space frees").wait().expect("commit");
    store.close().expect("close");
    let ids = rows(&url);
    assert_eq!(ids.len(), accepted.len() + 1, "every accepted write and the retried one, once each");
}
