//! A producer slower than the sink still gets batches: the worker lingers
//! for `linger` before committing a partial batch instead of paying one
//! commit per trickle of rows; a waiting ticket cuts the linger short.

use std::time::Duration;

use backburner::Store;

#[test]
fn paced_producer_is_batched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = Store::builder(&url).linger(Duration::from_millis(200)).build().expect("open");
    // 1,000 puts spread over at least 100 ms (sleeps of 1 ms every 10 puts):
    // without lingering that is ~100 trickles, each its own commit.
    for i in 0..1_000u32 {
        drop(store.put(i.to_be_bytes(), "v").expect("put"));
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    store.flush().expect("flush");
    let st = store.stats();
    assert_eq!(st.committed, 1_000);
    // A sleep only lengthens the run, so more time per linger window means
    // fewer batches, never more: bound by the run's length over the linger.
    assert!(st.batches <= 20, "{} batches for 1,000 paced puts", st.batches);
    store.close().expect("close");
}

#[test]
fn waiting_ticket_cuts_the_linger_short() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = Store::builder(&url).linger(Duration::from_secs(3600)).build().expect("open");
    let t = store.put("k", "v").expect("put");
    // Without the nudge this would wait an hour; the bound only guards a hang.
    assert!(t.wait_timeout(Duration::from_secs(60)).expect("wait").is_some());
    assert_eq!(store.stats().batches, 1);
    store.close().expect("close");
}
