//! Guards the sink-neutral parameter cases: booleans, timestamps and JSON
//! are values of their own (not SQLite's storage classes), mapped by the
//! SQLite sink to what its functions read, and kept exactly through the
//! journal and the dead-letter file.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backburner::{params, Durability, Fsync, SqlValue, Store, Write};

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_764_628_800, 123_456_789) // 2025-12-01T22:40:00.123456789Z
}

#[test]
fn bool_timestamp_and_json_reach_sqlite_as_its_functions_read_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display())).expect("open");
    store.execute("CREATE TABLE t(flag, at, doc)", []).expect("ddl");
    store
        .execute(
            "INSERT INTO t VALUES (?1, ?2, ?3)",
            params![true, at(), SqlValue::json(r#"{"plan":"pro","n":[1,2]}"#)],
        )
        .expect("insert")
        .wait()
        .expect("commit");
    let rows = store
        .query(
            "SELECT flag, typeof(flag), at, unixepoch(at), json_extract(doc, '$.plan'), json_extract(doc, '$.n[1]') FROM t",
            [],
        )
        .expect("query");
    let r = &rows[0];
    assert_eq!(r[0].as_i64(), Some(1), "a boolean is INTEGER 1");
    assert_eq!(r[1].as_str(), Some("integer"));
    assert_eq!(r[2].as_str(), Some("2025-12-01T22:40:00.123456Z"), "RFC 3339, UTC, microseconds");
    assert_eq!(r[3].as_i64(), Some(1_764_628_800), "SQLite's date functions read it");
    assert_eq!(r[4].as_str(), Some("pro"), "SQLite's JSON functions read it");
    assert_eq!(r[5].as_i64(), Some(2));
    // Before 1970, as it is (not clamped to 1970).
    let before = UNIX_EPOCH - Duration::from_secs(86_400);
    store.execute("INSERT INTO t VALUES (NULL, ?1, NULL)", params![before]).expect("insert").wait().expect("commit");
    let rows = store.query("SELECT at, unixepoch(at) FROM t WHERE flag IS NULL", []).expect("query");
    assert_eq!(rows[0][0].as_str(), Some("1969-12-31T00:00:00.000000Z"));
    assert_eq!(rows[0][1].as_i64(), Some(-86_400));
    store.close().expect("close");
}

#[test]
fn they_survive_the_journal_and_the_dead_letter_file_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let journal = dir.path().join("journal");
    let dead = dir.path().join("dead.jsonl");
    let durability = Durability::Journal { fsync: Fsync::EveryBatch };
    let before_1970 = UNIX_EPOCH - Duration::new(86_400, 1);
    let values =
        vec![SqlValue::Bool(false), SqlValue::Timestamp(at()), SqlValue::Timestamp(before_1970), SqlValue::json("[1]")];
    // Journaled while the sink is down, applied by the next open.
    {
        let store = Store::builder("down")
            .sink(common::Down(common::sqlite(&db)))
            .journal(&journal)
            .durability(durability)
            .build()
            .expect("open");
        store
            .execute("INSERT INTO nowhere VALUES (?1, ?2, ?3, ?4)", values.clone())
            .expect("execute")
            .wait_journaled()
            .expect("journaled");
        let _ = store.close_timeout(Duration::from_millis(100));
    }
    let store = Store::builder(&format!("sqlite://{}", db.display()))
        .journal(&journal)
        .durability(durability)
        .dead_letter(Some(dead.clone()))
        .build()
        .expect("reopen");
    let _ = store.flush();
    store.close().expect("close");
    // Replayed from the journal, refused by SQLite (no table): dead-lettered
    // with the parameters as they were handed over.
    let found = backburner::dead_letter::read(&dead).expect("read");
    assert!(found.unreadable.is_empty(), "{:?}", found.unreadable);
    assert_eq!(found.entries.len(), 1);
    match &found.entries[0].write {
        Write::Execute(st) => assert_eq!(st.params(), &values[..]),
        other => panic!("{other:?}"),
    }
}
