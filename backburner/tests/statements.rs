//! SQL that is not one statement SQLite reads whole is refused at the call,
//! with `Error::InvalidStatement` naming the problem, and a refused write is
//! handed back: a NUL byte (SQLite stops reading there, so the rest would be
//! dropped silently), text after the first statement, no statement at all.
//! Semicolons that literals, quoted identifiers, comments and triggers hide
//! are no such text. A wrong number of parameters names the statement.

use std::path::Path;

use backburner::{params, Error, SqlValue, Store, Write};

fn open(dir: &Path) -> Store {
    let store = Store::open(&format!("sqlite://{}/t.db", dir.display())).expect("open");
    store.execute("CREATE TABLE t(id INTEGER, s TEXT)", []).expect("ddl").wait().expect("ddl");
    store.execute("INSERT INTO t VALUES (1, 'one')", []).expect("insert").wait().expect("insert");
    store
}

fn count(store: &Store) -> i64 {
    store.query("SELECT count(*) FROM t", []).expect("count")[0][0].as_i64().expect("int")
}

/// `execute(sql, params)` is refused with `InvalidStatement`, the write
/// handed back unchanged; returns the reason.
fn refused(store: &Store, sql: &str, params: Vec<SqlValue>) -> String {
    match store.execute(sql, params.clone()) {
        Err(e @ Error::InvalidStatement { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("handed back"), "{msg}");
            let Error::InvalidStatement { reason, .. } = &e else { unreachable!() };
            let reason = reason.clone();
            assert_eq!(e.into_write(), Some(Write::execute(sql, params)));
            reason
        }
        Err(e) => panic!("{sql:?}: expected InvalidStatement, got {e:?}"),
        Ok(t) => panic!("{sql:?}: expected InvalidStatement, it was queued ({:?})", t.wait()),
    }
}

/// `query(sql)` is refused with `InvalidStatement`; returns the reason.
fn refused_query(store: &Store, sql: &str) -> String {
    match store.query(sql, []) {
        Err(Error::InvalidStatement { write: None, reason }) => reason,
        other => panic!("{sql:?}: expected InvalidStatement, got {other:?}"),
    }
}

#[test]
fn sql_with_a_nul_byte_is_refused_at_the_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let r = refused(&store, "INSERT INTO t VALUES (26,'nul')\0; DELETE FROM t", vec![]);
    assert!(r.contains("NUL byte at byte 31") && r.contains("dropped silently"), "{r}");
    let r = refused(&store, "INSERT INTO t VALUES (?1, 'a\0b')", vec![SqlValue::Integer(2)]);
    assert!(r.contains("NUL byte"), "{r}");
    let r = refused_query(&store, "SELECT count(*) FROM t\0 WHERE 0");
    assert!(r.contains("NUL byte at byte 22"), "{r}");
    store.flush().expect("nothing failed: nothing was queued");
    assert_eq!(count(&store), 1, "neither the INSERT nor the DELETE ran");
    // A NUL byte in a parameter is data, and fine.
    store.execute("INSERT INTO t VALUES (?1, ?2)", params![3, "a\0b"]).expect("insert").wait().expect("insert");
    let rows = store.query("SELECT s FROM t WHERE id = 3", []).expect("query");
    assert_eq!(rows[0][0], SqlValue::Text("a\0b".into()));
    store.close().expect("close");
}

#[test]
fn text_after_the_first_statement_is_refused_at_the_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let r = refused(&store, "INSERT INTO t VALUES (2, 'two'); DELETE FROM t", vec![]);
    assert!(r.contains("execute() takes one statement per call") && r.contains("`DELETE FROM t`"), "{r}");
    let r = refused(
        &store,
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t WHERE id = 1; END; DELETE FROM t",
        vec![],
    );
    assert!(r.contains("one statement per call") && r.contains("`DELETE FROM t`"), "{r}");
    let r = refused_query(&store, "SELECT 1; SELECT 2");
    assert!(r.contains("query() takes one statement per call"), "{r}");
    store.flush().expect("nothing failed: nothing was queued");
    assert_eq!(count(&store), 1);
    store.close().expect("close");
}

#[test]
fn sql_without_a_statement_is_refused_at_the_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for sql in ["", "  \n", ";", "-- a comment", "/* a comment */ ;"] {
        let r = refused(&store, sql, vec![]);
        assert!(r.contains("holds no statement") && r.contains("execute() takes one SQL statement"), "{r}");
        let r = refused_query(&store, sql);
        assert!(r.contains("query() takes one SQL statement"), "{r}");
    }
    store.flush().expect("nothing failed: nothing was queued");
    store.close().expect("close");
}

#[test]
fn semicolons_hidden_by_literals_identifiers_comments_and_triggers_are_taken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let ok = |sql: &str| store.execute(sql, []).unwrap_or_else(|e| panic!("{sql:?}: {e}")).wait().expect(sql);
    ok("CREATE TABLE \"odd;name\"([a;b] INTEGER, `c;d` TEXT)");
    ok("CREATE TRIGGER bump AFTER INSERT ON t BEGIN \
        INSERT INTO \"odd;name\" VALUES (new.id, 'from; the trigger'); \
        UPDATE \"odd;name\" SET `c;d` = `c;d` || ';' WHERE [a;b] = new.id; END");
    ok("INSERT INTO t VALUES (10, 'a;b; DELETE FROM t') -- ; DELETE FROM t");
    ok("INSERT INTO t VALUES (11, 'it''s; \\0 fine') /* ; DELETE FROM t */;");
    ok("INSERT INTO t VALUES (12, ';');; -- done");
    assert_eq!(count(&store), 4);
    let rows = store.query("SELECT `c;d` FROM \"odd;name\" ORDER BY [a;b]", []).expect("query");
    let got: Vec<&str> = rows.iter().map(|r| r[0].as_str().expect("text")).collect();
    assert_eq!(got, ["from; the trigger;"; 3]);
    let rows = store.query("SELECT s FROM t WHERE id = 11; -- a comment", []).expect("query");
    assert_eq!(rows[0][0].as_str(), Some("it's; \\0 fine"));
    store.close().expect("close");
}

#[test]
fn a_wrong_number_of_parameters_names_the_statement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t = store.execute("INSERT INTO t VALUES (?1, ?2)", params![2]).expect("queued");
    match t.wait() {
        Err(Error::Rejected { reason, .. }) => {
            assert!(reason.contains("`INSERT INTO t VALUES (?1, ?2)` takes 2 parameters, 1 given"), "{reason}")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    store.flush().expect("the failure was seen through its ticket: not reported again");
    match store.query("SELECT id FROM t WHERE id = ?1", params![1, 2]) {
        Err(e @ Error::Sink(_)) => {
            let m = e.to_string();
            assert!(m.contains("`SELECT id FROM t WHERE id = ?1` takes 1 parameter, 2 given"), "{m}");
        }
        other => panic!("expected Sink, got {other:?}"),
    }
    assert_eq!(count(&store), 1);
    store.close().expect("close");
}
