//! Crash safety with real processes: a child writes with
//! `Journal { fsync: EveryBatch }` and reports each write journaled; the
//! parent kills it with SIGKILL at a random instant, reopens the store
//! (replaying the journal), and checks against the child's reports that
//! every write acknowledged as journaled is in SQLite exactly once, that no
//! write is half applied or applied twice, and that writes are in order.
//!
//! `BACKBURNER_CRASH_ROUNDS` sets the number of rounds (default 200; the
//! long mode runs thousands), `BACKBURNER_CRASH_SEED` the random seed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use backburner::{Durability, Fsync, Store};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn q(conn: &rusqlite::Connection, sql: &str, p: impl rusqlite::Params) -> i64 {
    conn.query_row(sql, p, |r| r.get(0)).expect(sql)
}

/// Starts the crash child writing ids from `start` (as `writer`, if given),
/// and a thread that collects the ids it acknowledges as journaled.
fn start_child(
    db: &std::path::Path,
    journal: &std::path::Path,
    start: u64,
    writer: Option<&str>,
) -> (std::process::Child, std::thread::JoinHandle<Vec<u64>>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backburner-test-child"));
    cmd.args(["crash-child", "--db"]).arg(db).arg("--journal").arg(journal).args(["--start", &start.to_string()]);
    if let Some(w) = writer {
        cmd.args(["--writer", w]);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn the child");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next().and_then(|s| s.parse::<u64>().ok())) {
                (Some("J"), Some(id)) => acked.push(id),
                (Some("F"), Some(id)) => panic!("write {id} failed in the child: {line}"),
                _ => panic!("unexpected line from the child: {line}"),
            }
        }
        acked
    });
    (child, reader)
}

#[test]
fn kill_9_loses_no_journaled_write_and_duplicates_none() {
    let rounds: u64 = std::env::var("BACKBURNER_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let seed: u64 = std::env::var("BACKBURNER_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("crash test: {rounds} rounds, BACKBURNER_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("crash.db");
    let journal = dir.path().join("journal");
    let url = format!("sqlite://{}", db.display());
    let mut start: u64 = 1;
    let (mut acked_total, mut killed_with_unacked) = (0u64, 0u64);
    for round in 0..rounds {
        let (mut child, reader) = start_child(&db, &journal, start, None);
        // Kill at a random instant: during start-up and replay, or mid-stream.
        std::thread::sleep(Duration::from_micros(2_000 + rng.next() % 60_000));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let acked = reader.join().expect("reader");
        // Journaled in order: the acknowledged ids are start, start+1, ...
        for (k, id) in acked.iter().enumerate() {
            assert_eq!(*id, start + k as u64, "round {round}: acknowledgements out of order");
        }
        acked_total += acked.len() as u64;

        // Recover: opening replays the journal; closing drains it.
        let store = Store::builder(&url)
            .durability(Durability::Journal { fsync: Fsync::EveryBatch })
            .journal(&journal)
            .build()
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        store.close().unwrap_or_else(|e| panic!("round {round}: close failed: {e}"));

        let conn = rusqlite::Connection::open(&db).expect("open");
        let has_table = q(&conn, "SELECT count(*) FROM sqlite_master WHERE name = 'crash'", []);
        if has_table == 0 {
            assert!(acked.is_empty(), "round {round}: writes acknowledged but the table is missing");
            continue;
        }
        // Nothing half applied or applied twice: every id has exactly its two rows.
        let bad = q(
            &conn,
            "SELECT count(*) FROM (SELECT id FROM crash WHERE id >= ?1 GROUP BY id
               HAVING count(*) != 2 OR min(part) != 'a' OR max(part) != 'b')",
            [start as i64],
        );
        assert_eq!(bad, 0, "round {round}: some write is half applied or duplicated");
        // Every acknowledged write is there.
        if let Some(&last) = acked.last() {
            let present = q(
                &conn,
                "SELECT count(DISTINCT id) FROM crash WHERE id BETWEEN ?1 AND ?2",
                [start as i64, last as i64],
            );
            assert_eq!(present as u64, last - start + 1, "round {round}: acknowledged writes lost");
        }
        // In order: ids never go down along the rowid.
        let disorder = q(
            &conn,
            "SELECT count(*) FROM (SELECT id, lag(id) OVER (ORDER BY rowid) AS prev FROM crash WHERE id >= ?1)
             WHERE prev > id",
            [start as i64],
        );
        assert_eq!(disorder, 0, "round {round}: writes applied out of order");
        let max_id = q(&conn, "SELECT coalesce(max(id), 0) FROM crash", []) as u64;
        if max_id > acked.last().copied().unwrap_or(0) {
            killed_with_unacked += 1;
        }
        start = start.max(max_id + 1).max(acked.last().map_or(0, |l| l + 1));
    }
    eprintln!(
        "crash test: {rounds} rounds, {acked_total} writes acknowledged as journaled, all present exactly once; \
         {killed_with_unacked} rounds also had unacknowledged writes applied (allowed)"
    );
    assert!(acked_total > 0, "no round got far enough to acknowledge a write: the test tested nothing");
}

/// Two writers (each its own writer id and journal) into one database,
/// both killed with SIGKILL at random instants, then each reopened: every
/// write either acknowledged as journaled is there exactly once, in its
/// writer's order, and nothing is applied twice. Each writer's checkpoint is
/// its own row, so one's replay never skips or repeats the other's writes.
#[test]
fn two_writers_into_one_database_each_replay_exactly_once_after_kill_9() {
    let rounds: u64 = std::env::var("BACKBURNER_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200) / 4;
    let seed: u64 = std::env::var("BACKBURNER_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("two-writer crash test: {rounds} rounds, BACKBURNER_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("crash.db");
    // Writer `a` writes ids from 1, writer `b` from 10^12: disjoint ranges.
    const B: u64 = 1_000_000_000_000;
    let writers = [("a", 0u64), ("b", B)];
    let mut start = [1u64, B + 1];
    let mut acked_total = 0u64;
    for round in 0..rounds {
        let mut children = Vec::new();
        for (k, (w, _)) in writers.iter().enumerate() {
            children.push(start_child(&db, &dir.path().join(format!("journal-{w}")), start[k], Some(w)));
        }
        std::thread::sleep(Duration::from_micros(5_000 + rng.next() % 80_000));
        let mut acked = Vec::new();
        for (mut child, reader) in children {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            acked.push(reader.join().expect("reader"));
        }
        for (k, (w, _)) in writers.iter().enumerate() {
            let store = Store::builder(&format!("sqlite://{}", db.display()))
                .writer(*w)
                .durability(Durability::Journal { fsync: Fsync::EveryBatch })
                .journal(dir.path().join(format!("journal-{w}")))
                .build()
                .unwrap_or_else(|e| panic!("round {round}: reopen of writer {w} failed: {e}"));
            store.close().unwrap_or_else(|e| panic!("round {round}: close of writer {w} failed: {e}"));
            acked_total += acked[k].len() as u64;
        }
        let conn = rusqlite::Connection::open(&db).expect("open");
        if q(&conn, "SELECT count(*) FROM sqlite_master WHERE name = 'crash'", []) == 0 {
            assert!(acked.iter().all(Vec::is_empty), "round {round}: writes acknowledged but the table is missing");
            continue;
        }
        for (k, (w, base)) in writers.iter().enumerate() {
            let (lo, hi) = (start[k] as i64, (base + B - 1) as i64);
            let bad = q(
                &conn,
                "SELECT count(*) FROM (SELECT id FROM crash WHERE id BETWEEN ?1 AND ?2 GROUP BY id
                   HAVING count(*) != 2 OR min(part) != 'a' OR max(part) != 'b')",
                [lo, hi],
            );
            assert_eq!(bad, 0, "round {round}, writer {w}: some write is half applied or duplicated");
            if let Some(&last) = acked[k].last() {
                let present =
                    q(&conn, "SELECT count(DISTINCT id) FROM crash WHERE id BETWEEN ?1 AND ?2", [lo, last as i64]);
                assert_eq!(present as u64, last - start[k] + 1, "round {round}, writer {w}: acknowledged writes lost");
            }
            let disorder = q(
                &conn,
                "SELECT count(*) FROM (SELECT id, lag(id) OVER (ORDER BY rowid) AS prev FROM crash WHERE id BETWEEN ?1 AND ?2)
                 WHERE prev > id",
                [lo, hi],
            );
            assert_eq!(disorder, 0, "round {round}, writer {w}: writes applied out of order");
            let max_id = q(&conn, "SELECT coalesce(max(id), 0) FROM crash WHERE id BETWEEN ?1 AND ?2", [lo, hi]) as u64;
            start[k] = start[k].max(max_id + 1).max(acked[k].last().map_or(0, |l| l + 1));
        }
        let rows: i64 = q(&conn, "SELECT count(*) FROM backburner_writers WHERE writer IN ('a', 'b')", []);
        assert_eq!(rows, 2, "round {round}: one checkpoint row per writer");
    }
    eprintln!("two-writer crash test: {rounds} rounds, {acked_total} writes acknowledged, all present exactly once");
    assert!(acked_total > 0, "no round got far enough to acknowledge a write: the test tested nothing");
}
