//! Guards the integer parameters wider than SQLite's: `u64`, `usize`,
//! `u128`, `i128` and `isize` go through `params!`; a value that fits in
//! `i64` is stored exactly, and one that does not is refused at the call
//! with `Error::InvalidStatement` naming its position and value and saying
//! what to do, the write handed back and nothing queued or committed
//! (never wrapped, never turned into a real). Every older form of
//! parameters still works.

mod common;

use std::path::{Path, PathBuf};

use backburner::{params, params_from_iter, Error, IntoParams, Param, SqlValue, Store, Write};

fn open(dir: &Path) -> (Store, PathBuf) {
    let db = dir.join("t.db");
    // A small queue: the permits below go round it.
    let store = Store::builder(&format!("sqlite://{}", db.display())).capacity(4).build().expect("open");
    store.execute("CREATE TABLE t(n, m)", []).expect("ddl").wait().expect("ddl");
    (store, db)
}

const INSERT: &str = "INSERT INTO t VALUES (?1, ?2)";

/// What every refusal of an integer above `i64::MAX` says after its
/// position, value and type.
const ABOVE: &str = ", above i64::MAX, the largest integer SQLite stores; it is neither wrapped nor stored as a real: \
                     store it in a TEXT or BLOB column (SQLite turns digits bound into an INTEGER, NUMERIC or REAL \
                     column into a rounded REAL), as text (`n.to_string()`) or as a blob \
                     (`n.to_be_bytes().to_vec()`), or as an i64 if your values fit (`i64::try_from(n)`)";

/// `execute` is refused with `InvalidStatement`, nothing enqueued; returns
/// the reason and the write handed back.
fn refused(
    store: &Store,
    call: impl FnOnce() -> backburner::Result<backburner::Ticket<backburner::Executed>>,
) -> (String, Write) {
    let before = store.stats().enqueued;
    match call() {
        Err(e @ Error::InvalidStatement { write: Some(_), .. }) => {
            let msg = e.to_string();
            assert!(msg.ends_with("; the write was not accepted (it is handed back in this error)"), "{msg}");
            let Error::InvalidStatement { reason, .. } = &e else { unreachable!() };
            let reason = reason.clone();
            assert_eq!(
                msg,
                format!("invalid statement: {reason}; the write was not accepted (it is handed back in this error)")
            );
            assert_eq!(store.stats().enqueued, before, "nothing was enqueued");
            (reason, e.into_write().expect("the write"))
        }
        Err(e) => panic!("expected InvalidStatement with the write, got {e:?}"),
        Ok(t) => panic!("expected InvalidStatement, it was queued ({:?})", t.wait()),
    }
}

#[test]
fn a_u64_up_to_i64_max_is_stored_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, db) = open(dir.path());
    let max = i64::MAX as u64;
    let id: u64 = 42;
    store.execute(INSERT, params![id, max]).expect("insert").wait().expect("commit");
    store.close().expect("close");
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let (n, m, ty): (i64, i64, String) =
        conn.query_row("SELECT n, m, typeof(m) FROM t", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("row");
    assert_eq!((n, m, ty.as_str()), (42, i64::MAX, "integer"), "an INTEGER, not a REAL");
}

#[test]
fn a_u64_above_i64_max_is_refused_at_the_call_and_handed_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, db) = open(dir.path());
    store.execute(INSERT, params![1, 2]).expect("insert").wait().expect("commit");
    let over = i64::MAX as u64 + 1;
    let (reason, write) = refused(&store, || store.execute(INSERT, params![7, over]));
    assert_eq!(reason, format!("parameter 2 is 9223372036854775808 (u64){ABOVE}"));
    assert_eq!(
        write,
        Write::execute(INSERT, vec![SqlValue::Integer(7), SqlValue::Text("9223372036854775808".into())]),
        "the write comes back, the refused integer as its decimal text"
    );
    let (reason, _) = refused(&store, || store.execute(INSERT, params![u64::MAX, 1]));
    assert_eq!(reason, format!("parameter 1 is 18446744073709551615 (u64){ABOVE}"));
    // The first refused parameter is named; the others come back as text too.
    let (reason, write) = refused(&store, || store.execute(INSERT, params![u64::MAX, over]));
    assert!(reason.starts_with("parameter 1 is 18446744073709551615 (u64), above"), "{reason}");
    assert_eq!(write.params().expect("params")[1], SqlValue::Text("9223372036854775808".into()));
    // Through a permit: refused the same way, and its room is given back.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    for _ in 0..store.capacity() * 2 {
        let permit = rt.block_on(async { tokio::time::timeout(common::HANG, store.reserve_async()).await });
        let permit = permit.expect("no room: a refused write kept its permit's room").expect("room");
        let (reason, _) = refused(&store, || permit.execute(INSERT, params![1, over]));
        assert!(reason.starts_with("parameter 2 is 9223372036854775808 (u64)"), "{reason}");
    }
    // Nothing refused reached the database.
    store.flush().expect("nothing failed: nothing refused was queued");
    store.close().expect("close");
    assert_eq!(common::count(&db, "t"), 1, "only the first insert");
}

#[test]
fn a_query_parameter_above_i64_max_is_refused_before_the_query_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = open(dir.path());
    match store.query("SELECT ?1", params![u64::MAX]) {
        Err(Error::InvalidStatement { write: None, reason }) => {
            assert_eq!(reason, format!("parameter 1 is 18446744073709551615 (u64){ABOVE}"))
        }
        other => panic!("expected InvalidStatement, got {other:?}"),
    }
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let r = rt.block_on(store.query_async("SELECT ?1", params![usize::MAX]));
    assert!(matches!(r, Err(Error::InvalidStatement { write: None, .. })), "{r:?}");
    let r = store.query_map("SELECT ?1", params![u64::MAX], |row| row.get::<i64>(0));
    assert!(matches!(r, Err(Error::InvalidStatement { write: None, .. })), "{r:?}");
    let rows = store.query("SELECT ?1, typeof(?1)", params![i64::MAX as u64]).expect("query");
    assert_eq!(rows[0], [SqlValue::Integer(i64::MAX), SqlValue::Text("integer".into())]);
    store.close().expect("close");
}

#[test]
fn usize_and_the_other_wide_integers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, db) = open(dir.path());
    let n: usize = 3;
    store.execute(INSERT, params![n, 5u128]).expect("insert");
    store.execute(INSERT, params![-4isize, -6i128]).expect("insert");
    store.execute(INSERT, params![Some(8u64), None::<u64>]).expect("insert");
    let (reason, _) = refused(&store, || store.execute(INSERT, params![1, usize::MAX]));
    assert_eq!(reason, format!("parameter 2 is {} (usize){ABOVE}", usize::MAX));
    let (reason, _) = refused(&store, || store.execute(INSERT, params![u128::MAX, 1]));
    assert_eq!(reason, format!("parameter 1 is {} (u128){ABOVE}", u128::MAX));
    let (reason, _) = refused(&store, || store.execute(INSERT, params![Some(u64::MAX), 1]));
    assert_eq!(reason, format!("parameter 1 is 18446744073709551615 (u64){ABOVE}"));
    let below = i64::MIN as i128 - 1;
    let (reason, write) = refused(&store, || store.execute(INSERT, params![1, below]));
    assert_eq!(
        reason,
        "parameter 2 is -9223372036854775809 (i128), below i64::MIN, the smallest integer SQLite stores; it is \
         neither wrapped nor stored as a real: store it in a TEXT or BLOB column (SQLite turns digits bound into \
         an INTEGER, NUMERIC or REAL column into a rounded REAL), as text (`n.to_string()`) or as a blob \
         (`n.to_be_bytes().to_vec()`), or as an i64 if your values fit (`i64::try_from(n)`)"
    );
    assert_eq!(write.params().expect("params")[1], SqlValue::Text("-9223372036854775809".into()));
    store.execute(INSERT, params![i64::MIN as i128, i64::MAX as u128]).expect("the ends of the range fit");
    store.close().expect("close");
    let conn = rusqlite::Connection::open(&db).expect("rusqlite");
    let mut st = conn.prepare("SELECT n, m FROM t ORDER BY rowid").expect("prepare");
    let rows: Vec<(Option<i64>, Option<i64>)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("rows").collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows, [(Some(3), Some(5)), (Some(-4), Some(-6)), (Some(8), None), (Some(i64::MIN), Some(i64::MAX))]);
}

#[test]
fn every_form_of_parameters_still_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, db) = open(dir.path());
    let values = vec![SqlValue::Integer(1), SqlValue::Text("a".into())];
    store.execute("INSERT INTO t VALUES (0, 0)", []).expect("[]");
    store.execute("INSERT INTO t VALUES (0, 0)", ()).expect("()");
    store.execute("INSERT INTO t VALUES (0, 0)", params![]).expect("params![]");
    store.execute(INSERT, values.clone()).expect("Vec<SqlValue>");
    store.execute(INSERT, values.as_slice()).expect("&[SqlValue]");
    store.execute(INSERT, [SqlValue::Integer(2), SqlValue::Null]).expect("[SqlValue; 2]");
    store.execute(INSERT, params![SqlValue::Integer(3), 4u8]).expect("params! of a SqlValue");
    store.execute(INSERT, params_from_iter(vec![Param::from(5u64), Param::from("b")])).expect("params_from_iter");
    store.execute(INSERT, params_from_iter([6usize, 7])).expect("params_from_iter of usize");
    let rows = store.query("SELECT count(*) FROM t WHERE n = ?1", params![1u64]).expect("query");
    assert_eq!(rows[0][0].as_i64(), Some(2));
    assert_eq!(params![7u64].into_params(), Ok(vec![SqlValue::Integer(7)]));
    store.close().expect("close");
    assert_eq!(common::count(&db, "t"), 9);
}

#[test]
fn the_advised_text_form_keeps_every_digit_in_a_text_column() {
    // What the refusal advises, followed: the value as text into a TEXT
    // column comes back whole (into an INTEGER column SQLite would make it
    // a rounded REAL, which the message warns of).
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display())).expect("open");
    store.execute("CREATE TABLE big(n TEXT)", []).expect("create").wait().expect("commit");
    store.execute("INSERT INTO big VALUES (?1)", params![u64::MAX.to_string()]).expect("insert");
    let back = store
        .query_map("SELECT n, typeof(n) FROM big", [], |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)))
        .expect("read");
    assert_eq!(back, [(u64::MAX.to_string(), "text".to_string())]);
    // An integer above 2^53 is not read as an f64 that rounds it.
    store.execute("INSERT INTO big VALUES (?1)", params![(1i64 << 53) + 1]).expect("insert");
    let err = store
        .query_map(
            "SELECT CAST(n AS INTEGER) FROM big WHERE typeof(n) = 'text' AND n != ?1",
            params![u64::MAX.to_string()],
            |r| r.get::<f64>(0),
        )
        .expect_err("rounded");
    assert!(err.to_string().contains("an f64 holds exactly"), "{err}");
    store.close().expect("close");
}
