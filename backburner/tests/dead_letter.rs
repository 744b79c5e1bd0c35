//! Guards the handling of writes the sink refuses: a poison write (a
//! constraint violation, bad SQL) is moved to the dead-letter file, one JSON
//! line naming its seq, statement, parameters and error, and fails its own
//! ticket with `Error::Rejected`, while the writes of its batch commit;
//! `flush` reports the failure once, and only if no ticket's `wait` saw it.
//! A transient failure retries the whole batch until it commits; a sink
//! that keeps failing has its writes dead-lettered, as given up
//! (`Error::GaveUp`), after the configured retry budget. Binary data goes
//! into the file as base64, not escaped character by character.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backburner::{params, Error, Store, Ticket};
use common::{count, dead_lines, FlakySink};

fn expect_rejected<T: backburner::TicketOutput + std::fmt::Debug>(t: &Ticket<T>, dead: &Path) -> String {
    match t.wait() {
        Err(Error::Rejected { seq, reason, dead_letter }) => {
            assert_eq!(seq, t.seq());
            assert_eq!(dead_letter.as_deref(), Some(dead));
            assert!(!t.is_committed());
            reason
        }
        other => panic!("ticket {}: expected Rejected, got {other:?}", t.seq()),
    }
}

/// Opens a store whose writes wait for `flush` (or a ticket) to make a
/// batch, and creates `t(x INTEGER UNIQUE CHECK (x > 0))`.
fn open(dir: &Path, dead: Option<PathBuf>) -> Store {
    let mut b = Store::builder(&format!("sqlite://{}/t.db", dir.display())).linger(Duration::from_secs(600));
    if let Some(p) = dead {
        b = b.dead_letter(Some(p));
    }
    let store = b.build().expect("open");
    store.execute("CREATE TABLE t(x INTEGER UNIQUE CHECK (x > 0))", []).expect("execute").wait().expect("ddl");
    store
}

#[test]
fn poison_write_is_dead_lettered_while_its_batch_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    // The default path: beside the database.
    let dead = PathBuf::from(format!("{}.dead-letter.jsonl", db.display()));
    let store = open(dir.path(), None);
    let batches = store.stats().batches;

    let good1 = store.execute("INSERT INTO t VALUES (?1)", params![1]).expect("execute");
    let put = store.put("k", "v").expect("put");
    let bad = store.execute("INSERT INTO t VALUES (?1)", params![-5]).expect("execute");
    let good2 = store.execute("INSERT INTO t VALUES (?1)", params![2]).expect("execute");
    assert!(!dead.exists());
    match store.flush() {
        Err(Error::WritesFailed { count: 1, first, .. }) => assert_eq!(first, bad.seq()),
        other => panic!("expected WritesFailed, got {other:?}"),
    }
    store.flush().expect("reported once");
    assert_eq!(store.stats().batches, batches + 1, "one batch");

    let reason = expect_rejected(&bad, &dead);
    assert!(reason.contains("CHECK"), "{reason}");
    good1.wait().expect("good1");
    good2.wait().expect("good2");
    put.wait().expect("put");
    assert_eq!(count(&db, "t"), 2);
    assert_eq!(count(&db, "backburner_kv"), 1);

    let lines = dead_lines(&dead);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l["seq"], bad.seq().get());
    assert_eq!(l["op"], "execute");
    assert_eq!(l["sql"], "INSERT INTO t VALUES (?1)");
    assert_eq!(l["params"], serde_json::json!([-5]));
    assert!(l["error"].as_str().is_some_and(|e| e.contains("CHECK")), "{l}");

    let st = store.stats();
    assert_eq!(st.dead_letters, 1, "{st:?}");
    assert_eq!(st.committed + st.dead_letters, st.enqueued, "{st:?}");
    store.close().expect("nothing unreported is left");
}

#[test]
fn flush_reports_a_failure_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("custom.jsonl");
    let store = open(dir.path(), Some(dead.clone()));
    drop(store.execute("INSERT INTO t VALUES (1)", []).expect("execute"));
    let bad = store.execute("INSERT INTO t VALUES (1)", []).expect("execute");
    drop(store.execute("INSERT INTO t VALUES (3)", []).expect("execute"));
    match store.flush() {
        Err(Error::WritesFailed { count, first, reason, dead_letter, .. }) => {
            assert_eq!(count, 1);
            assert_eq!(first, bad.seq());
            assert!(reason.contains("UNIQUE"), "{reason}");
            assert_eq!(dead_letter.as_deref(), Some(dead.as_path()));
        }
        other => panic!("expected WritesFailed, got {other:?}"),
    }
    store.flush().expect("reported once");
    store.flush().expect("still nothing new");
    // The ticket still knows, after the flush reported it.
    expect_rejected(&bad, &dead);
    assert_eq!(dead_lines(&dead).len(), 1);
    assert!(!dir.path().join("t.db.dead-letter.jsonl").exists());

    // A failure its ticket's wait returned is not reported again by flush.
    let seen = store.execute("INSERT INTO t VALUES (-1)", []).expect("execute");
    expect_rejected(&seen, &dead);
    store.flush().expect("the failure was seen through its ticket");

    // A failure nobody saw is reported by close.
    let bad2 = store.execute("INSERT INTO t VALUES (0)", []).expect("execute");
    let seen2 = store.execute("INSERT INTO t VALUES (1)", []).expect("execute");
    expect_rejected(&seen2, &dead);
    match store.close() {
        Err(Error::WritesFailed { count: 1, gave_up: 0, first, .. }) => assert_eq!(first, bad2.seq()),
        other => panic!("close: expected WritesFailed, got {other:?}"),
    }
    expect_rejected(&bad2, &dead);
    assert_eq!(dead_lines(&dead).len(), 4);
    assert_eq!(count(&dir.path().join("t.db"), "t"), 2);
}

#[test]
fn bad_sql_is_dead_lettered_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let dead = dir.path().join("dead.jsonl");
    let store = open(dir.path(), Some(dead.clone()));
    let good = store.execute("INSERT INTO t VALUES (5)", []).expect("execute");
    let syntax = store.execute("INSERT INTO t VALUE (?1, ?2)", params!["a", b"\x00\xff".as_slice()]).expect("execute");
    let no_table = store.execute("INSERT INTO nowhere VALUES (1)", []).expect("execute");
    let put = store.put("after", "bad sql").expect("put");
    match store.flush() {
        Err(Error::WritesFailed { count: 2, first, .. }) => assert_eq!(first, syntax.seq()),
        other => panic!("expected WritesFailed, got {other:?}"),
    }
    good.wait().expect("good");
    put.wait().expect("put");
    let r = expect_rejected(&syntax, &dead);
    assert!(r.contains("syntax"), "{r}");
    let r = expect_rejected(&no_table, &dead);
    assert!(r.contains("nowhere"), "{r}");
    assert_eq!(count(&db, "t"), 1);
    assert_eq!(store.get("after").expect("get").as_deref(), Some(&b"bad sql"[..]));

    let lines = dead_lines(&dead);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["seq"], syntax.seq().get());
    assert_eq!(lines[0]["sql"], "INSERT INTO t VALUE (?1, ?2)");
    assert_eq!(lines[0]["params"], serde_json::json!(["a", {"blob_base64": "AP8="}]));
    assert!(lines.iter().all(|l| l["kind"] == "rejected"), "{lines:?}");
    assert_eq!(lines[1]["seq"], no_table.seq().get());
    assert_eq!(lines[1]["params"], serde_json::json!([]));
    for l in &lines {
        assert!(l["error"].as_str().is_some_and(|e| !e.is_empty()), "{l}");
    }
    store.close().expect("close");
}

#[test]
fn rejected_writes_are_not_saved_when_the_dead_letter_file_is_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::builder(&format!("sqlite://{}/t.db", dir.path().display())).dead_letter(None).build().expect("open");
    let bad = store.execute("NOT SQL", []).expect("execute");
    match bad.wait() {
        Err(Error::Rejected { dead_letter, .. }) => assert_eq!(dead_letter, None),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!dir.path().join("t.db.dead-letter.jsonl").exists());
    store.close().expect("the failure was seen through its ticket: close does not report it again");
}

fn flaky_store(dir: &Path, fail_first: u64, retries: u32) -> (Store, Arc<AtomicU64>) {
    let db = dir.join("t.db");
    let calls = Arc::new(AtomicU64::new(0));
    let store = Store::builder("flaky")
        .sink(FlakySink { inner: common::sqlite(&db), fail_first, calls: calls.clone() })
        .dead_letter(Some(dir.join("dead.jsonl")))
        .linger(Duration::from_secs(600))
        .retries(retries, Duration::from_millis(1), Duration::from_millis(2))
        .build()
        .expect("open");
    (store, calls)
}

#[test]
fn transient_failures_are_retried_until_the_batch_commits() {
    const K: u64 = 3;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let (store, calls) = flaky_store(dir.path(), K, 10);
    let tickets: Vec<Ticket> = (0..20).map(|i| store.put(format!("k{i}"), format!("v{i}")).expect("put")).collect();
    store.flush().expect("the batch commits in the end");
    for t in &tickets {
        assert!(t.is_committed());
    }
    let st = store.stats();
    assert!(st.retries >= K, "{st:?}");
    assert_eq!(st.dead_letters, 0, "{st:?}");
    assert_eq!(st.committed, 20, "{st:?}");
    assert_eq!(calls.load(Ordering::SeqCst), K + 1, "K failures, then one commit");
    assert_eq!(count(&db, "backburner_kv"), 20);
    assert!(!dir.path().join("dead.jsonl").exists());
    store.close().expect("close");
}

#[test]
fn a_sink_that_keeps_failing_dead_letters_the_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let dead = dir.path().join("dead.jsonl");
    let (store, calls) = flaky_store(dir.path(), u64::MAX, 2);
    let a = store.put("a", "1").expect("put");
    let b = store.delete("b").expect("delete");
    let c = store.execute("INSERT INTO whatever VALUES (?1)", params![1.5]).expect("execute").without_outcome();
    match store.flush() {
        Err(Error::WritesFailed { count: 3, gave_up: 3, .. }) => {}
        other => panic!("expected WritesFailed, got {other:?}"),
    }
    for t in [&a, &b, &c] {
        match t.wait() {
            Err(Error::GaveUp { seq, reason, dead_letter }) => {
                assert_eq!(seq, t.seq());
                assert_eq!(dead_letter.as_deref(), Some(dead.as_path()));
                assert!(reason.contains("injected transient failure"), "{reason}");
            }
            other => panic!("expected GaveUp, got {other:?}"),
        }
    }
    // 1 try and 2 retries, then given up.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let st = store.stats();
    assert_eq!(st.retries, 3, "{st:?}");
    assert_eq!(st.dead_letters, 3, "{st:?}");
    assert_eq!(st.queue_depth, 0, "{st:?}");
    // Not pending any more: the failed put is not visible.
    assert_eq!(store.get("a").expect("get"), None);

    let lines = dead_lines(&dead);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["op"], "put");
    assert_eq!(lines[0]["key"], "a");
    assert_eq!(lines[0]["value"], "1");
    assert_eq!(lines[1]["op"], "delete");
    assert_eq!(lines[1]["key"], "b");
    assert_eq!(lines[2]["params"], serde_json::json!([1.5]));
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, vec![a.seq().get(), b.seq().get(), c.seq().get()]);
    assert!(lines.iter().all(|l| l["kind"] == "gave_up"), "{lines:?}");
    store.close().expect("close");
    assert_eq!(count(&db, "backburner_kv"), 0);
}

#[test]
fn binary_values_go_in_compactly_and_read_back() {
    // A zeroed buffer is valid UTF-8, and escaped as JSON text it took six
    // bytes per byte (`\u0000`); non-UTF-8 bytes took two (hex).
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let dead = dir.path().join("dead.jsonl");
    let conn = rusqlite::Connection::open(&db).expect("open");
    drop(conn);
    let store = open(dir.path(), Some(dead.clone()));
    store
        .execute(
            "CREATE TRIGGER no_big BEFORE INSERT ON backburner_kv WHEN length(NEW.value) > 1000 \
             BEGIN SELECT RAISE(ABORT, 'too big for this table'); END",
            [],
        )
        .expect("trigger")
        .wait()
        .expect("trigger");
    let zeros = vec![0u8; 1 << 20];
    let binary: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let blob = store.execute("INSERT INTO nowhere VALUES (?1)", params![binary.clone()]).expect("execute");
    for (k, v) in [(&b"zeros"[..], &zeros), (&[0xff, 0xfe][..], &binary)] {
        let t = store.put(k, v).expect("put");
        expect_rejected(&t, &dead);
    }
    expect_rejected(&blob, &dead);
    let size = std::fs::metadata(&dead).expect("dead-letter file").len();
    // Three 1 MiB values in base64: about 4.2 MB, not 6 MB (zeros escaped) + 2 MB + 2 MB (hex).
    assert!(size < 4_400_000, "dead-letter file is {size} bytes");
    let found = backburner::dead_letter::read(&dead).expect("read back");
    assert!(found.unreadable.is_empty(), "{:?}", found.unreadable);
    let entries = found.entries;
    assert_eq!(entries.len(), 3);
    // In seq order: the statement, then the two puts (no assert_eq on
    // megabyte values: a failure would print them).
    let blob_back = matches!(&entries[0].write,
        backburner::Write::Execute(st) if st.params() == [backburner::SqlValue::Blob(binary.clone())]);
    assert!(blob_back, "the blob parameter did not read back");
    assert!(entries[1].write == backburner::Write::put("zeros", zeros), "zeros did not read back");
    assert!(entries[2].write == backburner::Write::put([0xff, 0xfe], binary), "binary did not read back");
    assert!(entries[0].error.contains("nowhere"), "{}", entries[0].error);
    assert!(entries[1..].iter().all(|e| e.error.contains("too big for this table")), "{}", entries[1].error);
    assert!(entries.iter().all(|e| !e.gave_up));
    store.close().expect("every failure was seen");
}

#[test]
fn a_torn_last_line_neither_glues_the_next_entry_nor_hides_the_others() {
    // A process killed in the middle of an append leaves a piece of a line.
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let store = open(dir.path(), Some(dead.clone()));
    let first = store.execute("INSERT INTO t VALUES (-1)", []).expect("execute");
    expect_rejected(&first, &dead);
    store.close().expect("close");
    let mut f = std::fs::OpenOptions::new().append(true).open(&dead).expect("open");
    std::io::Write::write_all(&mut f, b"{\"seq\":99,\"op\":\"exe").expect("torn piece");
    drop(f);
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = Store::builder(&url).dead_letter(Some(dead.clone())).build().expect("reopen");
    let second = store.execute("INSERT INTO nowhere VALUES (?1)", params![f64::NAN]).expect("execute");
    let third = store.execute("INSERT INTO nowhere VALUES (?1)", params![0.1 + 0.2]).expect("execute");
    expect_rejected(&second, &dead);
    expect_rejected(&third, &dead);
    store.close().expect("close");
    let found = backburner::dead_letter::read(&dead).expect("read");
    assert_eq!(found.unreadable.len(), 1, "the torn piece, alone: {:?}", found.unreadable);
    assert_eq!(found.unreadable[0].0, 2, "on its own line");
    let seqs: Vec<u64> = found.entries.iter().map(|e| e.seq.get()).collect();
    assert_eq!(seqs, vec![first.seq().get(), second.seq().get(), third.seq().get()]);
    // Reals read back exactly, non-finite ones as reals too.
    let real = |i: usize| match &found.entries[i].write {
        backburner::Write::Execute(st) => st.params()[0].as_f64().expect("a real"),
        other => panic!("{other:?}"),
    };
    assert!(real(1).is_nan());
    assert_eq!(real(2).to_bits(), (0.1f64 + 0.2).to_bits());
}
