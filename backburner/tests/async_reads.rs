//! Guards the async reads: `query_async` and `get_async` of a committed key
//! run on the store's reader threads, so a slow read does not block the
//! executor thread (a timer task on the same current-thread runtime keeps
//! ticking); they see every earlier write (read-your-writes); a cancelled
//! read leaves the store working.

mod common;

use std::time::{Duration, Instant};

use backburner::{params, Error, Store};
use common::with_ticker;

/// A statement that keeps SQLite busy for a good while (a recursive count).
const SLOW: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) SELECT sum(x) FROM c";

fn open(dir: &std::path::Path) -> Store {
    Store::open(&format!("sqlite://{}/t.db", dir.display())).expect("open")
}

#[test]
fn a_slow_query_async_does_not_block_the_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    // How long the statement takes here, run inline (a blocking call would
    // stop the ticker about that long).
    let n: i64 = 3_000_000;
    let started = Instant::now();
    store.query(SLOW, params![n]).expect("inline");
    let inline = started.elapsed();
    let (rows, gap) = with_ticker(store.query_async(SLOW, params![n]));
    let rows = rows.expect("query_async");
    assert_eq!(rows[0][0].as_i64(), Some(n * (n + 1) / 2));
    assert!(inline > Duration::from_millis(60), "the statement is too fast here to show anything: {inline:?}");
    assert!(gap < inline / 2, "the executor thread was blocked for {gap:?} (the statement takes {inline:?})");
    store.close().expect("close");
}

#[test]
fn async_reads_see_every_earlier_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        store.put("committed", "c").expect("put").await.expect("commit");
        store.put("pending", "p").expect("put");
        store.delete("committed").expect("delete");
        assert_eq!(store.get_async("pending").await.expect("get").as_deref(), Some(&b"p"[..]));
        assert_eq!(store.get_async("committed").await.expect("get"), None, "the pending delete");
        store.flush_async().await.expect("flush");
        assert_eq!(store.get_async("pending").await.expect("get").as_deref(), Some(&b"p"[..]), "from the sink");
        assert_eq!(store.get_async("never").await.expect("get"), None);
        store.execute("CREATE TABLE ev(n INTEGER)", []).expect("ddl");
        store.execute("INSERT INTO ev VALUES (7)", []).expect("insert");
        let rows = store.query_async("SELECT n FROM ev", []).await.expect("query sees the pending insert");
        assert_eq!(rows[0][0].as_i64(), Some(7));
        assert!(matches!(store.query_async("SELECT 1; SELECT 2", []).await, Err(Error::InvalidStatement { .. })));
    });
    store.close().expect("close");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    assert!(matches!(rt.block_on(store.get_async("pending")), Err(Error::Closed { .. })));
}

#[test]
fn a_cancelled_async_read_leaves_the_store_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        let r = tokio::time::timeout(Duration::from_millis(5), store.query_async(SLOW, params![5_000_000i64])).await;
        assert!(r.is_err(), "the slow query finished within 5 ms");
        store.put("k", "v").expect("put").await.expect("commit");
        let rows =
            tokio::time::timeout(Duration::from_secs(60), store.query_async("SELECT count(*) FROM backburner_kv", []))
                .await
                .expect("query hung")
                .expect("query");
        assert_eq!(rows[0][0].as_i64(), Some(1));
    });
    store.close().expect("close");
}
