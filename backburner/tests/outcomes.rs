//! Guards the outcome a statement's ticket resolves to (`Ticket<Executed>`):
//! `changes()` is what the statement itself wrote, and `last_insert_id()`
//! is the rowid of the row it inserted, checked against the table read
//! with rusqlite, or `None` when it inserted nothing (an UPDATE, an upsert
//! that updated, an INSERT that was ignored, a table without rowids). Each
//! write of a batch gets its own outcome; awaiting the ticket gives the same
//! one as `wait()`; a rejected statement's ticket fails with `Rejected`.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use backburner::{params, Error, Executed, Store};
use common::count;

fn open(dir: &Path) -> (Store, PathBuf) {
    let db = dir.join("t.db");
    let store = Store::open(&format!("sqlite://{}", db.display())).expect("open");
    store
        .execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, n INTEGER)", [])
        .expect("ddl")
        .wait()
        .expect("ddl");
    (store, db)
}

/// The rowid of the row of `t` named `name`, read with a connection of our own.
fn rowid(db: &Path, table: &str, name: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("rusqlite open");
    conn.query_row(&format!("SELECT rowid FROM {table} WHERE name = ?1"), [name], |r| r.get(0)).expect("rowid")
}

fn run(store: &Store, sql: &str, p: impl backburner::IntoParams) -> Executed {
    store.execute(sql, p).expect("execute").wait().expect("commit")
}

#[test]
fn an_insert_reports_its_rowid_and_one_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, db) = open(dir.path());
    let a = run(&store, "INSERT INTO t(name, n) VALUES (?1, ?2)", params!["a", 1]);
    assert_eq!(a.changes(), 1);
    assert_eq!(a.last_insert_id(), Some(rowid(&db, "t", "a")));
    // An explicit rowid far from the first: the id is the row's, not a count.
    let b = run(&store, "INSERT INTO t(id, name, n) VALUES (1000, ?1, 2)", params!["b"]);
    assert_eq!((b.changes(), b.last_insert_id()), (1, Some(1000)));
    assert_eq!(rowid(&db, "t", "b"), 1000);
    let c = run(&store, "REPLACE INTO t(name, n) VALUES ('c', 3)", []);
    assert_eq!((c.changes(), c.last_insert_id()), (1, Some(rowid(&db, "t", "c"))));
    let d = run(&store, "WITH v(x) AS (SELECT 'd') INSERT INTO t(name, n) SELECT x, 4 FROM v", []);
    assert_eq!((d.changes(), d.last_insert_id()), (1, Some(rowid(&db, "t", "d"))));
    store.close().expect("close");
}

#[test]
fn statements_that_insert_nothing_report_no_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = open(dir.path());
    for name in ["a", "b", "c", "d"] {
        run(&store, "INSERT INTO t(name, n) VALUES (?1, 0)", params![name]);
    }
    let up = run(&store, "UPDATE t SET n = n + 1 WHERE name IN ('a', 'b', 'c')", []);
    assert_eq!((up.changes(), up.last_insert_id()), (3, None));
    let del = run(&store, "DELETE FROM t WHERE name = 'd'", []);
    assert_eq!((del.changes(), del.last_insert_id()), (1, None));
    let ignored = run(&store, "INSERT OR IGNORE INTO t(name, n) VALUES ('a', 9)", []);
    assert_eq!((ignored.changes(), ignored.last_insert_id()), (0, None));
    let nothing = run(&store, "INSERT INTO t(name, n) SELECT name, n FROM t WHERE 0", []);
    assert_eq!((nothing.changes(), nothing.last_insert_id()), (0, None));
    // DDL changes no row (SQLite's changes() would still hold the count of
    // the statement before it).
    let ddl = run(&store, "CREATE INDEX t_n ON t(n)", []);
    assert_eq!((ddl.changes(), ddl.last_insert_id()), (0, None));
    store.close().expect("close");
}

#[test]
fn an_upsert_reports_an_id_only_when_it_inserted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, db) = open(dir.path());
    let upsert = "INSERT INTO t(name, n) VALUES (?1, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1";
    let inserted = run(&store, upsert, params!["a"]);
    assert_eq!((inserted.changes(), inserted.last_insert_id()), (1, Some(rowid(&db, "t", "a"))));
    let updated = run(&store, upsert, params!["a"]);
    assert_eq!((updated.changes(), updated.last_insert_id()), (1, None));
    let inserted = run(&store, upsert, params!["b"]);
    assert_eq!(inserted.last_insert_id(), Some(rowid(&db, "t", "b")));
    // However the statement is laid out.
    let multiline = "INSERT INTO t(name, n) VALUES (?1, 1)\n  ON CONFLICT(name) DO\n    UPDATE SET n = n + 1";
    let updated = run(&store, multiline, params!["a"]);
    assert_eq!((updated.changes(), updated.last_insert_id()), (1, None), "{multiline:?} updated");
    let inserted = run(&store, multiline, params!["c"]);
    assert_eq!(inserted.last_insert_id(), Some(rowid(&db, "t", "c")), "{multiline:?} inserted");
    store.close().expect("close");
}

#[test]
fn an_upsert_that_inserts_the_rowid_of_the_previous_insert_still_reports_it() {
    // The rowid of the last insert (into another table) is the one the
    // upsert's new row gets: the id is not told apart by its change alone.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, db) = open(dir.path());
    run(&store, "CREATE TABLE u(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, n INTEGER)", []);
    let a = run(&store, "INSERT INTO t(name, n) VALUES ('a', 1)", []);
    assert_eq!(a.last_insert_id(), Some(1));
    let upsert = "INSERT INTO u(name, n) VALUES ('a', 1) ON CONFLICT(name) DO UPDATE SET n = n + 1";
    let inserted = run(&store, upsert, []);
    assert_eq!(rowid(&db, "u", "a"), 1);
    assert_eq!((inserted.changes(), inserted.last_insert_id()), (1, Some(1)), "the upsert inserted row 1 of u");
    let updated = run(&store, upsert, []);
    assert_eq!(updated.last_insert_id(), None);
    store.close().expect("close");
}

#[test]
fn an_insert_into_a_table_without_rowid_reports_no_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = open(dir.path());
    run(&store, "CREATE TABLE w(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID", []);
    let a = run(&store, "INSERT INTO t(name, n) VALUES ('a', 1)", []);
    assert_eq!(a.last_insert_id(), Some(1));
    let w = run(&store, "INSERT INTO w(k, v) VALUES ('x', 1)", []);
    assert_eq!(w.changes(), 1);
    assert_eq!(w.last_insert_id(), None, "a table without rowid has no id to report (not t's last one)");
    store.close().expect("close");
}

#[test]
fn each_insert_of_one_batch_gets_its_own_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    {
        let store = Store::open(&url).expect("open");
        store.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, n INTEGER)", []).expect("ddl");
        store.close().expect("close");
    }
    // A linger longer than the test: the batch is cut by the flush alone.
    let store = Store::builder(&url).linger(Duration::from_secs(600)).build().expect("open");
    let tickets: Vec<_> = (0..500)
        .map(|i| store.execute("INSERT INTO t(name, n) VALUES (?1, ?2)", params![format!("r{i}"), i]).expect("execute"))
        .collect();
    // Interleaved with other writes in the same batch.
    store.put("k", "v").expect("put");
    let up = store.execute("UPDATE t SET n = -n WHERE n < 10", []).expect("execute");
    let last = store.execute("INSERT INTO t(name, n) VALUES ('last', 0)", []).expect("execute");
    assert!(tickets.iter().all(|t| !t.is_committed()), "nothing commits before the flush");
    store.flush().expect("flush");
    assert_eq!(store.stats().batches, 1, "one batch held every write");

    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let mut ids = std::collections::HashSet::new();
    for (i, t) in tickets.iter().enumerate() {
        let e = t.wait().expect("committed");
        assert_eq!(e.changes(), 1);
        let id = e.last_insert_id().expect("an insert has an id");
        let name: String = conn.query_row("SELECT name FROM t WHERE rowid = ?1", [id], |r| r.get(0)).expect("row");
        assert_eq!(name, format!("r{i}"), "ticket {i}'s id is its own row's");
        assert!(ids.insert(id), "id {id} reported twice");
    }
    assert_eq!(up.wait().expect("update"), Executed::new(10, None));
    assert_eq!(last.wait().expect("insert").last_insert_id(), Some(rowid(&db, "t", "last")));
    store.close().expect("close");
}

#[test]
fn runs_of_one_statement_in_one_batch_each_get_their_own_outcome() {
    // The sink prepares a statement once for a run of writes with the same
    // SQL: an upsert run that inserts then updates the row it inserted, and
    // a run into a table without rowid after inserts into one with.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    {
        let store = Store::open(&url).expect("open");
        for ddl in [
            "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, n INTEGER)",
            "CREATE TABLE u(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, n INTEGER)",
            "CREATE TABLE w(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID",
        ] {
            run(&store, ddl, []);
        }
        store.close().expect("close");
    }
    let store = Store::builder(&url).linger(Duration::from_secs(600)).build().expect("open");
    let ins = |sql: &str, name: &str| store.execute(sql, params![name]).expect("execute");
    let t1 = ins("INSERT INTO t(name, n) VALUES (?1, 0)", "a");
    let t2 = ins("INSERT INTO t(name, n) VALUES (?1, 0)", "b");
    let upsert = "INSERT INTO u(name, n) VALUES (?1, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1";
    let u1 = ins(upsert, "x");
    let u2 = ins(upsert, "x");
    let u3 = ins(upsert, "y");
    let u4 = ins(upsert, "y");
    let w1 = ins("INSERT INTO w(k, v) VALUES (?1, 0)", "p");
    let w2 = ins("INSERT INTO w(k, v) VALUES (?1, 0)", "q");
    let r1 = ins("REPLACE INTO t(id, name, n) VALUES (7, ?1, 0)", "c");
    let r2 = ins("REPLACE INTO t(id, name, n) VALUES (7, ?1, 0)", "d");
    store.flush().expect("flush");
    assert_eq!(store.stats().batches, 1, "one batch held every write");
    let id = |t: &backburner::Ticket<Executed>| t.wait().expect("committed").last_insert_id();
    assert_eq!((id(&t1), id(&t2)), (Some(rowid(&db, "t", "a")), Some(rowid(&db, "t", "b"))));
    assert_eq!(id(&u1), Some(rowid(&db, "u", "x")), "the first upsert of x inserted");
    assert_eq!(id(&u2), None, "the second upsert of x updated");
    assert_eq!(id(&u3), Some(rowid(&db, "u", "y")), "the first upsert of y inserted");
    assert_eq!(id(&u4), None, "the second upsert of y updated");
    assert_eq!((id(&w1), id(&w2)), (None, None), "w has no rowid");
    assert_eq!((id(&r1), id(&r2)), (Some(7), Some(7)), "each REPLACE inserted row 7");
    assert_eq!(rowid(&db, "t", "d"), 7);
    store.close().expect("close");
}

#[test]
fn awaiting_a_ticket_gives_the_same_outcome_as_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::builder(&url).linger(Duration::from_secs(600)).build().expect("open");
    store.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, n INTEGER)", []).expect("ddl");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let awaited = rt.block_on(async {
        tokio::time::timeout(common::HANG, async {
            // Awaited while pending (the linger is long: the await itself hurries
            // the batch, and the worker wakes the task).
            let a = store.execute("INSERT INTO t(name, n) VALUES ('a', 1)", []).expect("execute").await.expect("await");
            assert_eq!((a.changes(), a.last_insert_id()), (1, Some(rowid(&db, "t", "a"))));
            // Awaited after `wait()` returned: the same outcome again.
            let t = store.execute("INSERT INTO t(name, n) VALUES ('b', 2)", []).expect("execute");
            let waited = t.wait().expect("wait");
            let awaited = t.await.expect("await");
            assert_eq!(waited, awaited);
            assert_eq!(awaited.last_insert_id(), Some(rowid(&db, "t", "b")));
            let up = store.execute("UPDATE t SET n = 0", []).expect("execute").await.expect("await");
            assert_eq!(up, Executed::new(2, None));
            // A rejected statement fails its awaited ticket too.
            let dup = store.execute("INSERT INTO t(name, n) VALUES ('a', 3)", []).expect("execute").await;
            assert!(matches!(dup, Err(Error::Rejected { .. })), "{dup:?}");
        })
        .await
    });
    awaited.expect("no await hangs: the worker wakes the task");
    store.close().expect("the rejection was seen through its ticket");
}

#[test]
fn a_rejected_insert_fails_its_ticket_and_its_neighbours_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::builder(&url).linger(Duration::from_secs(600)).build().expect("open");
    store.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, n INTEGER)", []).expect("ddl");
    let before = store.execute("INSERT INTO t(name, n) VALUES ('a', 1)", []).expect("execute");
    let bad = store.execute("INSERT INTO t(name, n) VALUES (NULL, 2)", []).expect("execute");
    let after = store.execute("INSERT INTO t(name, n) VALUES ('b', 3)", []).expect("execute");
    match bad.wait() {
        Err(Error::Rejected { seq, reason, .. }) => {
            assert_eq!(seq, bad.seq());
            assert!(reason.contains("NOT NULL"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(before.wait().expect("neighbour").last_insert_id(), Some(rowid(&db, "t", "a")));
    assert_eq!(after.wait().expect("neighbour").last_insert_id(), Some(rowid(&db, "t", "b")));
    assert_eq!(count(&db, "t"), 2);
    store.close().expect("the rejection was seen through its ticket");
}
