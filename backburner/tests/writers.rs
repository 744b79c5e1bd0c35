//! Guards the checkpoint per writer id: several stores, each its own writer
//! (`Builder::writer`, `?writer=` in the URL) with its own journal, write
//! into one database and each resumes exactly once after its own last
//! applied seq (replaying from its journal only what its row lacks);
//! opening a writer again fences the store that had it (`Error::Fenced`,
//! nothing more of it applied); the single checkpoint of the old layout
//! (`backburner_meta.last_applied_seq`) becomes the writer `default`'s,
//! once; and a writer id that cannot be one is refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use backburner::{params, Durability, Error, Fsync, Store, Write};
use common::{committed, sqlite, Down};

fn url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

/// The rows of `backburner_writers`: (writer, epoch, last_seq), by writer.
fn writers(db: &Path) -> Vec<(String, i64, i64)> {
    let conn = rusqlite::Connection::open(db).expect("rusqlite open");
    let mut st =
        conn.prepare("SELECT writer, epoch, last_seq FROM backburner_writers ORDER BY writer").expect("prepare");
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("query");
    rows.map(|r| r.expect("row")).collect()
}

/// (rows, distinct n, min n, max n) of `events` written by `writer`.
fn events(db: &Path, writer: &str) -> (i64, i64, i64, i64) {
    let conn = rusqlite::Connection::open(db).expect("rusqlite open");
    conn.query_row(
        "SELECT count(*), count(DISTINCT n), coalesce(min(n), -1), coalesce(max(n), -1) FROM events WHERE writer = ?1",
        [writer],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .expect("events")
}

const JOURNAL: Durability = Durability::Journal { fsync: Fsync::EveryBatch };

/// Inserts events `from..to` of `writer`, waiting for every 50th if
/// `wait`; returns the last ticket's seq.
fn insert(store: &Store, writer: &str, from: i64, to: i64, wait: bool) -> u64 {
    let mut last = 0;
    for n in from..to {
        let t = store.execute("INSERT INTO events(writer, n) VALUES (?1, ?2)", params![writer, n]).expect("execute");
        if wait && n % 50 == 0 {
            t.wait().expect("commit");
        }
        last = t.seq().get();
    }
    last
}

#[test]
fn two_writers_share_one_database_and_each_resumes_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let (ja, jb): (PathBuf, PathBuf) = (dir.path().join("journal-a"), dir.path().join("journal-b"));
    {
        let conn = rusqlite::Connection::open(&db).expect("rusqlite");
        conn.execute_batch("CREATE TABLE events(writer TEXT NOT NULL, n INTEGER NOT NULL)").expect("table");
    }
    let open_a = || Store::builder(&url(&db)).writer("a").durability(JOURNAL).journal(&ja).build().expect("open a");
    let open_b =
        || Store::builder(&format!("{}?writer=b", url(&db))).durability(JOURNAL).journal(&jb).build().expect("open b");

    // Both at once, from two threads: 300 writes of a, 200 of b.
    let (a, b) = (open_a(), open_b());
    let (last_a, last_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| insert(&a, "a", 0, 300, true));
        let tb = s.spawn(|| insert(&b, "b", 0, 200, true));
        (ta.join().expect("a"), tb.join().expect("b"))
    });
    a.close().expect("close a");
    b.close().expect("close b");
    assert_eq!((last_a, last_b), (300, 200), "each writer numbers its own writes from 1");
    assert_eq!(writers(&db), vec![("a".into(), 1, 300), ("b".into(), 1, 200)], "one row per writer, its own seq");
    assert_eq!(events(&db, "a"), (300, 300, 0, 299));
    assert_eq!(events(&db, "b"), (200, 200, 0, 199));

    // Reopened, each resumes after its own seq: a's journal (which still
    // holds its writes) replays nothing, and its seqs continue.
    let a = open_a();
    assert_eq!(a.watermark().get(), 300);
    let t = a.execute("INSERT INTO events(writer, n) VALUES ('a', 300)", []).expect("execute");
    assert_eq!(t.seq().get(), 301);
    insert(&a, "a", 301, 350, true);
    a.close().expect("close a");
    assert_eq!(events(&db, "a"), (350, 350, 0, 349), "nothing of a doubled, nothing missing");
    assert_eq!(events(&db, "b"), (200, 200, 0, 199), "b untouched");

    // b, with the database down: its next 40 writes stay in its journal.
    let down = Store::builder("down")
        .sink(Down(sqlite(&db)))
        .writer("b")
        .durability(JOURNAL)
        .journal(&jb)
        .build()
        .expect("open b, down");
    assert_eq!(insert(&down, "b", 200, 240, false), 240);
    match down.close_timeout(Duration::from_millis(200)) {
        Err(Error::Unfinished { count: 40, .. }) => {}
        other => panic!("expected 40 writes left in b's journal, got {other:?}"),
    }
    assert_eq!(events(&db, "b"), (200, 200, 0, 199));
    // Reopened on the real database, b replays exactly those 40.
    let b = open_b();
    b.flush().expect("replayed");
    b.close().expect("close b");
    assert_eq!(events(&db, "b"), (240, 240, 0, 239), "b's journal replayed once, after b's own seq");
    assert_eq!(events(&db, "a"), (350, 350, 0, 349), "a untouched");
    for _ in 0..2 {
        open_a().close().expect("close a");
        open_b().close().expect("close b");
    }
    assert_eq!(events(&db, "a"), (350, 350, 0, 349));
    assert_eq!(events(&db, "b"), (240, 240, 0, 239));
    let rows = writers(&db);
    let seqs: Vec<(&str, i64)> = rows.iter().map(|(w, _, s)| (w.as_str(), *s)).collect();
    assert_eq!(seqs, vec![("a", 350), ("b", 240)]);
}

#[test]
fn opening_a_writer_again_fences_the_store_that_had_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let open = || Store::builder(&url(&db)).writer("w").build().expect("open");

    let a = open();
    a.put("before", "a").expect("put").wait().expect("a commits while it holds the writer");
    let b = open();
    assert_eq!(b.watermark().get(), 1, "b resumes after a's last write");

    let zombie = a.put("zombie", "a").expect("put: accepted, the fence is found at the batch");
    // Without a journal, the fenced store gives its queued writes up (into
    // the dead-letter file, tests/fenced.rs) with the fence as the reason.
    match zombie.wait().expect_err("a is fenced") {
        Error::GaveUp { reason, .. } => assert!(reason.contains("writer `w` was opened by another store"), "{reason}"),
        other => panic!("expected GaveUp (fenced), got {other:?}"),
    }
    let e = a.flush().expect_err("a is fenced");
    match &e {
        Error::Fenced { writer, epoch, current, .. } => assert_eq!((writer.as_str(), *epoch, *current), ("w", 1, 2)),
        other => panic!("expected Fenced, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("writer `w` was opened by another store"), "{msg}");
    assert!(msg.contains("give each instance its own writer id") && msg.contains("reopen"), "{msg}");

    // Every later call on a says so; a write is handed back.
    match a.put("later", "a") {
        Err(e @ Error::Fenced { .. }) => assert_eq!(e.into_write(), Some(Write::put("later", "a"))),
        other => panic!("expected Fenced for a put, got {other:?}"),
    }
    assert!(matches!(a.execute("DELETE FROM backburner_kv", []), Err(Error::Fenced { .. })));
    assert!(matches!(a.flush(), Err(Error::Fenced { .. })));
    assert!(matches!(a.get("before"), Err(Error::Fenced { .. })));
    assert!(matches!(a.close(), Err(Error::Fenced { .. })));

    // b goes on; nothing of a after the fence reached the database.
    let t = b.put("k", "b").expect("put");
    assert_eq!(t.seq().get(), 2);
    t.wait().expect("b commits");
    b.close().expect("close b");
    assert_eq!(committed(&db, b"zombie"), None, "the fenced batch was rolled back");
    assert_eq!(committed(&db, b"before").as_deref(), Some(&b"a"[..]));
    assert_eq!(committed(&db, b"k").as_deref(), Some(&b"b"[..]));
    assert_eq!(writers(&db), vec![("w".into(), 2, 2)]);
}

#[test]
fn the_old_single_checkpoint_becomes_the_default_writers_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    {
        // The layout of the version before writers had their own rows.
        let conn = rusqlite::Connection::open(&db).expect("rusqlite");
        conn.execute_batch(
            "CREATE TABLE backburner_kv(key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
             CREATE TABLE backburner_meta(name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO backburner_meta VALUES ('last_applied_seq', 40);
             INSERT INTO backburner_kv VALUES (CAST('old' AS BLOB), CAST('kept' AS BLOB));",
        )
        .expect("old layout");
    }
    let store = Store::open(&url(&db)).expect("open");
    assert_eq!(store.watermark().get(), 40, "the writer `default` resumes at the old checkpoint");
    assert_eq!(store.get("old").expect("get").as_deref(), Some(&b"kept"[..]));
    let t = store.put("k", "v").expect("put");
    assert_eq!(t.seq().get(), 41);
    t.wait().expect("commit");
    store.close().expect("close");

    let other = Store::builder(&url(&db)).writer("other").build().expect("open other");
    assert_eq!(other.watermark().get(), 0, "another writer starts afresh");
    let t = other.put("o", "v").expect("put");
    assert_eq!(t.seq().get(), 1);
    other.close().expect("close other");
    assert_eq!(writers(&db), vec![("default".into(), 1, 41), ("other".into(), 1, 1)]);

    // Reopened, `default` resumes from its own row, not the old one again.
    let store = Store::open(&url(&db)).expect("reopen");
    assert_eq!(store.watermark().get(), 41);
    assert_eq!(store.put("k", "w").expect("put").seq().get(), 42);
    store.close().expect("close");
    assert_eq!(writers(&db), vec![("default".into(), 2, 42), ("other".into(), 1, 1)]);
}

#[test]
fn a_writer_id_that_cannot_be_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let refused = |r: backburner::Result<Store>, what: &str| match r {
        Err(e @ Error::InvalidOption { name: "writer", .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("1 to 200 ASCII letters, digits"), "{what}: {msg}");
        }
        Err(e) => panic!("{what}: expected InvalidOption {{ name: \"writer\" }}, got {e:?}"),
        Ok(s) => {
            let _ = s.close();
            panic!("{what}: the store opened");
        }
    };
    for id in [
        String::new(),
        "x".repeat(201),
        "a\u{7}b".into(),
        "line\nbreak".into(),
        "del\u{7f}".into(),
        "é".into(),
        "a b".into(),
        "a/b".into(),
        ".hidden".into(),
    ] {
        refused(Store::builder(&url(&db)).writer(id.clone()).build(), &format!("Builder::writer({id:?})"));
    }
    refused(Store::open(&format!("{}?writer=", url(&db))), "?writer=");
    refused(Store::open(&format!("{}?writer=a\tb", url(&db))), "?writer=a<TAB>b");
    refused(Store::open(&format!("{}?writer={}", url(&db), "y".repeat(201))), "?writer=201 chars");

    // Ids name files (a writer's default journal): the edges are fine.
    for id in ["x".repeat(200), "web-1".into(), "eu_west.2".into(), "A-Z".into()] {
        let store = Store::builder(&url(&db)).writer(id.clone()).build().unwrap_or_else(|e| panic!("{id:?}: {e}"));
        store.put("k", "v").expect("put").wait().expect("commit");
        store.close().expect("close");
    }
    let ids: Vec<String> = writers(&db).into_iter().map(|(w, _, _)| w).collect();
    assert_eq!(ids.len(), 4, "a row for each id accepted, none for the refused ones: {ids:?}");
}
