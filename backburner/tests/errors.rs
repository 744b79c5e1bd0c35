//! Guards the error paths of the public API: a bad URL or option is refused
//! at open with a message that names the problem; after `close` every write
//! is refused with `Error::Closed` and handed back unchanged, reads and
//! flushes fail or return instead of hanging; and the SQLite WAL stays
//! bounded by `wal_limit_mb` / `checkpoint_rows` under a long run of writes.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use backburner::{params, Error, SqlValue, Store, Write};

fn url(dir: &Path, query: &str) -> String {
    format!("sqlite://{}/t.db{query}", dir.display())
}

/// Opens `url`, expects `Error::InvalidUrl`, and returns its reason.
fn invalid_url(url: &str) -> String {
    match Store::open(url) {
        Err(Error::InvalidUrl { url: u, reason }) => {
            assert_eq!(u, url, "the error names the URL as given");
            reason
        }
        Err(e) => panic!("{url}: expected InvalidUrl, got {e:?}"),
        Ok(_) => panic!("{url}: expected InvalidUrl, the store opened"),
    }
}

#[test]
fn bad_urls_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();

    let r = invalid_url(&format!("{d}/app.db"));
    assert!(r.contains("no scheme"), "{r}");

    let r = invalid_url(&format!("mysql://{d}/app.db"));
    assert!(r.contains("unknown scheme `mysql`"), "{r}");

    let r = invalid_url("postgres://user@127.0.0.1/db");
    assert!(r.contains("PostgreSQL"), "{r}");
    let r = invalid_url("postgresql://user@127.0.0.1/db");
    assert!(r.contains("PostgreSQL"), "{r}");

    let r = invalid_url("sqlite://");
    assert!(r.contains("no database path"), "{r}");
    let r = invalid_url("sqlite://?synchronous=full");
    assert!(r.contains("no database path"), "{r}");

    let r = invalid_url("sqlite://:memory:");
    assert!(r.contains("in-memory"), "{r}");

    let r = invalid_url(&url(dir.path(), "?frobnicate=1"));
    assert!(r.contains("unknown option `frobnicate`"), "{r}");

    let r = invalid_url(&url(dir.path(), "?synchronous=sometimes"));
    assert!(r.contains("synchronous") && r.contains("sometimes"), "{r}");

    let r = invalid_url(&url(dir.path(), "?busy_timeout_ms=soon"));
    assert!(r.contains("busy_timeout_ms") && r.contains("soon"), "{r}");

    let r = invalid_url(&url(dir.path(), "?synchronous"));
    assert!(r.contains("`synchronous` has no value"), "{r}");

    // None of the refused URLs created a database.
    assert!(!dir.path().join("t.db").exists());
    assert!(!dir.path().join("app.db").exists());

    // The good spellings open.
    Store::open(&url(dir.path(), "?synchronous=FULL&busy_timeout_ms=100&")).expect("options").close().expect("close");
    Store::open(&format!("sqlite:{d}/plain.db")).expect("no slashes").close().expect("close");
}

#[test]
fn bad_options_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let u = url(dir.path(), "");
    match Store::builder(&u).capacity(0).build() {
        Err(Error::InvalidOption { name, reason }) => {
            assert_eq!(name, "capacity");
            assert!(!reason.is_empty());
        }
        other => panic!("capacity 0: {other:?}"),
    }
    match Store::builder(&u).batch_max(0).build() {
        Err(Error::InvalidOption { name, .. }) => assert_eq!(name, "batch_max"),
        other => panic!("batch_max 0: {other:?}"),
    }
    match Store::builder(&u).backpressure(backburner::Backpressure::Timeout(Duration::ZERO)).build() {
        Err(Error::InvalidOption { name, .. }) => assert_eq!(name, "backpressure"),
        other => panic!("Timeout(0): {other:?}"),
    }
    // The message of each error says what is wrong.
    let e = Store::builder(&u).capacity(0).build().expect_err("capacity 0");
    assert!(e.to_string().contains("capacity"), "{e}");
}

#[test]
fn writes_after_close_are_refused_and_handed_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&url(dir.path(), "")).expect("open");
    let other = store.clone();
    store.put("a", "1").expect("put");
    store.close().expect("close");
    store.close().expect("closing again is harmless");

    let expect_closed = |r: backburner::Result<backburner::Ticket>, want: Write| match r {
        Err(e @ Error::Closed { .. }) => assert_eq!(e.into_write(), Some(want)),
        other => panic!("expected Closed, got {other:?}"),
    };
    expect_closed(other.put("k", b"\x00value"), Write::put("k", b"\x00value"));
    expect_closed(store.delete("gone"), Write::delete("gone"));
    expect_closed(
        other.execute("INSERT INTO x VALUES (?1, ?2)", params![7, "seven"]).map(backburner::Ticket::without_outcome),
        Write::execute("INSERT INTO x VALUES (?1, ?2)", vec![SqlValue::Integer(7), SqlValue::Text("seven".into())]),
    );

    // Reads and flushes after close must return, not wait for the refused
    // writes above (they took sequence numbers the worker never sees).
    let (tx, rx) = mpsc::channel();
    let s = store.clone();
    std::thread::spawn(move || {
        let q = s.query("SELECT count(*) FROM backburner_kv", []);
        let f = s.flush();
        let c = s.close();
        let _ = tx.send((q.map(|_| ()), f, c));
    });
    let (q, flush, close) = rx.recv_timeout(Duration::from_secs(20)).expect("query/flush/close after close hung");
    match q {
        Err(Error::Closed { write: None }) => {}
        other => panic!("query after close: expected Closed, got {other:?}"),
    }
    match flush {
        Err(Error::Closed { write: None }) => {}
        other => panic!("flush after close: expected Closed, got {other:?}"),
    }
    close.expect("close again after refused writes");
    match store.get("a") {
        Err(Error::Closed { write: None }) => {}
        other => panic!("get after close: expected Closed, got {other:?}"),
    }

    // The write accepted before close is there; none of the refused ones is.
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).expect("rusqlite");
    let rows: Vec<Vec<u8>> = conn
        .prepare("SELECT key FROM backburner_kv ORDER BY key")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows, vec![b"a".to_vec()]);
}

fn wal_size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn wal_stays_bounded() {
    const ROWS: usize = 200_000;
    const LIMIT: u64 = 8 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = Store::open(&url(dir.path(), "?wal_limit_mb=4&checkpoint_rows=20000")).expect("open");
    let value = [b'v'; 24];
    let mut max_seen = 0;
    for i in 0..ROWS {
        drop(store.put(format!("key:{i:08}"), value).expect("put"));
        if i % 50_000 == 49_999 {
            store.flush().expect("flush");
            let w = wal_size(&db);
            max_seen = max_seen.max(w);
            assert!(w <= LIMIT, "WAL is {w} bytes after {} rows", i + 1);
        }
    }
    store.close().expect("close");
    let w = wal_size(&db);
    assert!(w <= LIMIT, "WAL is {w} bytes after close");

    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let n: i64 = conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count");
    assert_eq!(n, ROWS as i64);
    // The WAL was used at all (else the bound proves nothing).
    assert!(max_seen > 0, "no WAL was seen during the run");
}
