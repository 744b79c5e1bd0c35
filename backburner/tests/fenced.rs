//! Guards what a fenced store does (another store opened its writer id):
//! it applies nothing more, its queued writes are not lost (without a
//! journal they are given up into the dead-letter file), and later calls
//! fail with `Error::Fenced`, handing the write back.

mod common;

use std::time::Duration;

use backburner::{Error, Store};
use common::{count, dead_lines};

#[test]
fn a_fenced_store_without_a_journal_gives_its_writes_up_into_the_dead_letter_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let dead = dir.path().join("dead.jsonl");
    let url = format!("sqlite://{}?writer=w", db.display());
    let old =
        Store::builder(&url).dead_letter(Some(dead.clone())).linger(Duration::from_secs(600)).build().expect("old");
    old.put("before", "1").expect("put").wait().expect("commit");
    // Queued, lingering: the batch meets the new epoch when it is applied.
    let pending: Vec<_> = (0..5).map(|i| old.put(format!("k{i}"), "v").expect("put")).collect();
    let new = Store::open(&url).expect("the new store fences the old");
    for t in &pending {
        match t.wait() {
            Err(Error::GaveUp { reason, dead_letter, .. }) => {
                assert!(reason.contains("fenced"), "{reason}");
                assert_eq!(dead_letter.as_deref(), Some(dead.as_path()));
            }
            other => panic!("expected GaveUp (fenced), got {other:?}"),
        }
    }
    let lines = dead_lines(&dead);
    assert_eq!(lines.len(), 5, "every queued write is in the dead-letter file");
    assert!(lines.iter().all(|l| l["kind"] == "gave_up"));
    match old.put("after", "2") {
        Err(e @ Error::Fenced { .. }) => {
            assert!(e.to_string().contains("writer `w`"), "{e}");
            assert_eq!(e.into_write().and_then(|w| w.key().map(<[u8]>::to_vec)), Some(b"after".to_vec()));
        }
        other => panic!("expected Fenced, got {other:?}"),
    }
    new.put("new", "3").expect("put").wait().expect("the new store writes");
    assert_eq!(count(&db, "backburner_kv"), 2, "before and new; nothing of the old store's after the fence");
    new.close().expect("close");
}
