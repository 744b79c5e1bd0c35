//! Guards typed reading: `query_map` and `query_map_async` map each row
//! with the caller's closure, which reads columns as Rust types with
//! `Row::get` (values round-trip through SQLite exactly); they see every
//! earlier write (read-your-writes, with a statement still pending); a
//! column that is not the type asked for is an `Error::Column` saying what
//! it holds and what was expected.

use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backburner::{params, Error, Row, SqlValue, Store};

fn open(dir: &std::path::Path) -> Store {
    // A long linger: a write is pending until something waits for it.
    Store::builder(&format!("sqlite://{}/t.db", dir.display())).linger(Duration::from_secs(30)).build().expect("open")
}

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_764_628_800, 123_456_000) // 2025-12-01T22:40:00.123456Z
}

#[derive(Debug, PartialEq)]
struct Everything {
    i64: i64,
    i32: i32,
    u32: u32,
    u64: u64,
    usize: usize,
    f64: f64,
    bool: bool,
    string: String,
    bytes: Vec<u8>,
    none: Option<i64>,
    some: Option<String>,
    at: SystemTime,
    any: SqlValue,
}

const SELECT: &str = "SELECT a, b, c, d, e, f, g, h, i, j, k, l, m FROM t ORDER BY a";

fn everything(row: &Row<'_>) -> backburner::Result<Everything> {
    Ok(Everything {
        i64: row.get(0)?,
        i32: row.get(1)?,
        u32: row.get(2)?,
        u64: row.get(3)?,
        usize: row.get(4)?,
        f64: row.get(5)?,
        bool: row.get(6)?,
        string: row.get(7)?,
        bytes: row.get(8)?,
        none: row.get(9)?,
        some: row.get(10)?,
        at: row.get(11)?,
        any: row.get(12)?,
    })
}

fn expected() -> Vec<Everything> {
    vec![
        Everything {
            i64: i64::MIN,
            i32: i32::MIN,
            u32: u32::MAX,
            u64: i64::MAX as u64,
            usize: 0,
            f64: -1.5,
            bool: true,
            string: "héllo".into(),
            bytes: vec![0, 255, 7],
            none: None,
            some: Some("x".into()),
            at: at(),
            any: SqlValue::Blob(vec![1]),
        },
        Everything {
            i64: 2,
            i32: i32::MAX,
            u32: 0,
            u64: 9,
            usize: 12,
            f64: 3.0,
            bool: false,
            string: String::new(),
            bytes: b"text".to_vec(),
            none: None,
            some: None,
            at: UNIX_EPOCH,
            any: SqlValue::Real(0.25),
        },
    ]
}

fn insert(store: &Store) {
    store.execute("CREATE TABLE t(a, b, c, d, e, f, g, h, i, j, k, l, m)", []).expect("ddl");
    let insert = "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    store
        .execute(
            insert,
            params![
                i64::MIN,
                i32::MIN,
                u32::MAX,
                i64::MAX as u64,
                0usize,
                -1.5,
                true,
                "héllo",
                vec![0u8, 255, 7],
                None::<i64>,
                Some("x"),
                at(),
                SqlValue::Blob(vec![1])
            ],
        )
        .expect("insert");
    // The second row: an integer read as f64, text read as bytes, SQLite's
    // own datetime() text read as a SystemTime.
    store
        .execute(
            "INSERT INTO t VALUES (2, ?1, 0, ?2, ?3, 3, false, '', 'text', NULL, NULL, datetime(0, 'unixepoch'), 0.25)",
            params![i32::MAX, 9u64, 12usize],
        )
        .expect("insert");
}

#[test]
fn rows_round_trip_through_query_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    insert(&store);
    // Neither insert was awaited: query_map waits for them.
    let rows = store.query_map(SELECT, [], everything).expect("query_map");
    assert_eq!(rows, expected());
    // The closure runs on the calling thread: it may borrow and need not be Send.
    let seen = Rc::new(std::cell::Cell::new(0));
    let ids = store
        .query_map("SELECT a FROM t WHERE a > ?1 ORDER BY a", params![0u64], |row| {
            seen.set(seen.get() + 1);
            row.get::<i64>(0)
        })
        .expect("query_map");
    assert_eq!((ids, seen.get()), (vec![2], 1));
    let none: Vec<i64> = store.query_map("SELECT a FROM t WHERE 0", [], |r| r.get(0)).expect("no rows");
    assert!(none.is_empty());
    store.close().expect("close");
}

#[test]
fn rows_round_trip_through_query_map_async() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        insert(&store);
        let rows = store.query_map_async(SELECT, [], everything).await.expect("query_map_async");
        assert_eq!(rows, expected());
        let local = Rc::new(10i64); // not Send: the closure runs in this task
        let sums = store
            .query_map_async("SELECT a + ?1 FROM t ORDER BY a", params![1usize], |row| Ok(row.get::<i64>(0)? + *local))
            .await
            .expect("query_map_async");
        assert_eq!(sums, [i64::MIN + 11, 13]);
    });
    store.close().expect("close");
}

#[test]
fn query_map_sees_a_statement_executed_just_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.execute("CREATE TABLE ev(n INTEGER)", []).expect("ddl").wait().expect("ddl committed");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    for i in 1..=5u64 {
        store.execute("INSERT INTO ev VALUES (?1)", params![i]).expect("insert"); // not awaited
        let n: Vec<u64> = store.query_map("SELECT count(*) FROM ev", [], |r| r.get(0)).expect("query_map");
        assert_eq!(n, [i * 2 - 1], "query_map missed the pending insert");
        store.execute("INSERT INTO ev VALUES (?1)", params![i]).expect("insert");
        let n: Vec<u64> =
            rt.block_on(store.query_map_async("SELECT count(*) FROM ev", [], |r| r.get(0))).expect("async");
        assert_eq!(n, [i * 2], "query_map_async missed the pending insert");
    }
    store.close().expect("close");
}

/// The `Error::Column` of reading column `column` of `sql`'s first row as a `T`.
fn column_error<T: backburner::FromSql + std::fmt::Debug>(store: &Store, sql: &str, column: usize) -> String {
    match store.query_map(sql, [], |row| row.get::<T>(column)) {
        Err(e @ Error::Column { .. }) => {
            let Error::Column { column: c, .. } = &e else { unreachable!() };
            assert_eq!(*c, column);
            e.to_string()
        }
        other => panic!("{sql}: column {column}: expected Error::Column, got {other:?}"),
    }
}

#[test]
fn a_column_of_another_type_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let any = "(`row.get::<SqlValue>(2)` takes any value) or convert it in the SQL (CAST)";
    assert_eq!(
        column_error::<i64>(&store, "SELECT 1, 2, 'x'", 2),
        format!("column 2 is Text(\"x\"), expected an integer; read it as the type it holds {any}")
    );
    assert_eq!(
        column_error::<u64>(&store, "SELECT 1, 2, -1", 2),
        format!(
            "column 2 is Integer(-1), expected an integer from 0 to 9223372036854775807 (u64); read it as the type it holds {any}"
        )
    );
    assert_eq!(
        column_error::<i32>(&store, "SELECT 1, 2, 5000000000", 2),
        format!(
            "column 2 is Integer(5000000000), expected an integer from -2147483648 to 2147483647 (i32); read it as the type it holds {any}"
        )
    );
    assert!(
        column_error::<u32>(&store, "SELECT 1, 2, -1", 2).contains("expected an integer from 0 to 4294967295 (u32)")
    );
    assert!(column_error::<usize>(&store, "SELECT 1, 2, -3", 2).contains("is Integer(-3), expected an integer from 0"));
    assert!(
        column_error::<i64>(&store, "SELECT 1, 2, 1.5", 2).starts_with("column 2 is Real(1.5), expected an integer;")
    );
    assert!(column_error::<bool>(&store, "SELECT 1, 2, 2", 2)
        .starts_with("column 2 is Integer(2), expected a boolean (Integer 0 or 1);"));
    assert!(column_error::<String>(&store, "SELECT 1, 2, x'00ff'", 2)
        .starts_with("column 2 is Blob(2 bytes), expected text;"));
    assert!(
        column_error::<f64>(&store, "SELECT 1, 2, 'x'", 2).starts_with("column 2 is Text(\"x\"), expected a number;")
    );
    assert!(column_error::<Vec<u8>>(&store, "SELECT 1, 2, 3", 2)
        .starts_with("column 2 is Integer(3), expected a blob or text;"));
    assert!(column_error::<SystemTime>(&store, "SELECT 1, 2, 'yesterday'", 2)
        .starts_with("column 2 is Text(\"yesterday\"), expected a timestamp: text as `2025-12-01T22:40:00.123456Z`"));
    assert!(column_error::<SystemTime>(&store, "SELECT 1, 2, 1764628800", 2)
        .contains("for unix seconds, read an i64 and add it to UNIX_EPOCH"));
    // NULL is not a value of a type: read an Option.
    assert_eq!(
        column_error::<String>(&store, "SELECT NULL", 0),
        "column 0 is Null, expected text; read it as an Option (NULL is None)"
    );
    assert!(column_error::<Option<i64>>(&store, "SELECT 'x'", 0)
        .starts_with("column 0 is Text(\"x\"), expected an integer;"));
    // No such column.
    assert_eq!(
        column_error::<i64>(&store, "SELECT 1, 2, 3", 3),
        "column 3 does not exist: the row has 3 columns, 0 to 2 (columns count from 0)"
    );
    assert_eq!(
        column_error::<i64>(&store, "SELECT 1", 1),
        "column 1 does not exist: the row has 1 column, column 0 (columns count from 0)"
    );
    // A long text is cut short in the message.
    let long = column_error::<i64>(&store, "SELECT printf('%.100c', 'a')", 0);
    assert!(
        long.starts_with(&format!("column 0 is Text(\"{}\"…, 100 bytes), expected an integer;", "a".repeat(40))),
        "{long}"
    );
    // The same through query_map_async.
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let r = rt.block_on(store.query_map_async("SELECT 1, 2, 'x'", [], |row| row.get::<i64>(2)));
    assert!(
        matches!(&r, Err(Error::Column { column: 2, reason }) if reason.starts_with("is Text(\"x\"), expected an integer")),
        "{r:?}"
    );
    store.close().expect("close");
}

#[test]
fn the_closures_first_error_ends_the_mapping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut calls = 0;
    let r = store.query_map("SELECT 1 UNION ALL SELECT 'two' UNION ALL SELECT 3", [], |row| {
        calls += 1;
        row.get::<i64>(0)
    });
    assert!(matches!(r, Err(Error::Column { column: 0, .. })), "{r:?}");
    assert_eq!(calls, 2, "the third row was not mapped");
    store.close().expect("close");
}

#[test]
fn keys_are_blobs_matched_as_the_sink_docs_say() {
    // `backburner_kv.key` is a BLOB: the two forms the SQLite sink's docs
    // give find keys by prefix (a plain `key LIKE` may match nothing).
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path());
    for k in ["user:1", "user:2", "other:1"] {
        store.put(k, "v").expect("put");
    }
    for sql in [
        "SELECT count(*) FROM backburner_kv WHERE CAST(key AS TEXT) LIKE 'user:%'",
        "SELECT count(*) FROM backburner_kv WHERE substr(key, 1, 5) = CAST('user:' AS BLOB)",
    ] {
        let n: Vec<i64> = store.query_map(sql, [], |r| r.get(0)).expect("query");
        assert_eq!(n, vec![2], "{sql}");
    }
    store.close().expect("close");
}
