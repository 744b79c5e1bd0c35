//! The command-line tool: `demo` and `bench store` run end to end on small
//! sizes and report what they promise (no stale reads, every row counted,
//! the benchmark table with its ratios), and bad flags fail with help.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_backburner"))
}

fn run_ok(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("run backburner");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "backburner {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn demo_reports_no_stale_reads_and_every_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let out = run_ok(&["demo", "--rows", "20000", "--trials", "50", "--sync-sample", "20", "--dir", d]);
    assert!(out.contains("backburner put + get:         stale reads in 0 of 50 trials"), "{out}");
    assert!(out.contains("rows counted in SQLite: 20000 (expected 20000)"), "{out}");
    assert!(out.contains("sequential:") && out.contains("concurrent:"), "{out}");
    assert!(out.contains("extrapolated from 20 rows"), "{out}");
}

#[test]
fn bench_store_prints_the_table_with_ratios() {
    let out =
        run_ok(&["bench", "store", "--rounds", "1", "--rows", "5000", "--burst", "2000", "--autocommit-rows", "20"]);
    for needle in [
        "hand-batched txns (ceiling)",
        "per-row autocommit, defaults",
        "backburner / ceiling:",
        "timer floor",
        "get, pending key (",
        "p99.9",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn help_and_bad_flags() {
    let help = run_ok(&["--help"]);
    assert!(help.contains("demo") && help.contains("bench"), "{help}");
    run_ok(&["demo", "--help"]);
    run_ok(&["bench", "store", "--help"]);
    let out = bin().args(["demo", "--rows", "many"]).output().expect("run backburner");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rows"));
}

#[test]
fn journal_inspect_and_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("a.db");
    let j = dir.path().join("j");
    let mut child = Command::new(env!("CARGO_BIN_EXE_backburner-test-child"))
        .args(["crash-child", "--db"])
        .arg(&db)
        .arg("--journal")
        .arg(&j)
        .args(["--start", "1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Let it journal some writes, whatever the machine's speed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(&j).map_or(0, |d| d.count()) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().expect("kill");
    child.wait().expect("wait");
    let j_str = j.to_str().expect("utf-8");
    let out = run_ok(&["journal", "inspect", j_str]);
    assert!(out.contains("checksums: all valid"), "{out}");
    let total: u64 =
        out.lines().find_map(|l| l.strip_prefix("total: ")?.split(' ').next()?.parse().ok()).expect("total line");
    assert!(total > 0, "{out}");
    let other = format!("sqlite://{}", dir.path().join("b.db").display());
    let first = run_ok(&["journal", "replay", j_str, "--to", &other]);
    assert!(first.contains(&format!("replayed {total} write(s)")), "{first}");
    let again = run_ok(&["journal", "replay", j_str, "--to", &other]);
    assert!(again.contains("replayed 0 write(s)"), "replay is exactly once: {again}");
    // Inspect leaves the journal as it was.
    assert!(run_ok(&["journal", "inspect", j_str]).contains(&format!("total: {total} record(s)")));
    let bad = bin().args(["journal", "inspect", "/nonexistent/journal"]).output().expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a directory"));
}

/// `backburner dead-letter replay`: exactly the writes of the file, in
/// order, into the target; the ones that fail again are reported and saved.
#[test]
fn dead_letter_replay_applies_exactly_the_file() {
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let dead = dir.path().join("dead.jsonl");
    {
        let c = rusqlite::Connection::open(&db).expect("open");
        c.execute_batch("CREATE TABLE t(id INTEGER, b BLOB)").expect("table");
    }
    // A store whose sink is down gives its writes up on drop: the file to replay.
    {
        let sink = backburner::sink::sqlite::SqliteSink::open(&db, Default::default()).expect("sink");
        let store = backburner::Store::builder("down")
            .sink(Down(sink))
            .dead_letter(Some(dead.clone()))
            .drain_timeout(Duration::from_millis(200))
            .build()
            .expect("open");
        store.put("a", "1").expect("put");
        store.put([0xffu8, 0], [0u8, 1, 2]).expect("put");
        store.put("gone", "x").expect("put");
        store.delete("gone").expect("delete");
        store.execute("INSERT INTO t VALUES (?1, ?2)", backburner::params![7, vec![0u8, 255]]).expect("execute");
        store.execute("INSERT INTO nowhere VALUES (1)", []).expect("execute");
    }
    let file = dead.to_str().expect("utf-8");
    let url = format!("sqlite://{}", db.display());
    let out = bin().args(["dead-letter", "replay", file, "--to", &url, "--retries", "1"]).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "one write fails again: the command says so\n{stdout}\n{stderr}");
    assert!(stdout.contains("replayed 6 write(s)") && stdout.contains("5 applied, 1 failed again"), "{stdout}");
    assert!(stdout.contains("nowhere"), "the failure is named: {stdout}");
    assert!(stderr.contains("failed again") && stderr.contains(".failed.jsonl"), "{stderr}");
    let c = rusqlite::Connection::open(&db).expect("open");
    let kv: i64 = c.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count");
    assert_eq!(kv, 2, "a and the binary key; `gone` put then deleted, in order");
    let bin_value: Vec<u8> =
        c.query_row("SELECT value FROM backburner_kv WHERE key = x'ff00'", [], |r| r.get(0)).expect("binary key");
    assert_eq!(bin_value, vec![0, 1, 2]);
    let row: (i64, Vec<u8>) = c.query_row("SELECT id, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("row");
    assert_eq!(row, (7, vec![0, 255]));
    let failed = std::fs::read_to_string(format!("{file}.failed.jsonl")).expect("the failed-again file");
    assert_eq!(failed.lines().count(), 1, "{failed}");
    assert!(failed.contains("nowhere"), "{failed}");
}

/// The SQLite sink, down: every batch fails transiently.
struct Down(backburner::sink::sqlite::SqliteSink);

impl backburner::Sink for Down {
    fn open_writer(&mut self, writer: &str) -> Result<backburner::Resume, backburner::SinkError> {
        self.0.open_writer(writer)
    }
    fn apply(
        &mut self,
        _: &backburner::Batch<'_>,
        _outcomes: &mut backburner::Outcomes<'_>,
    ) -> Result<(), backburner::ApplyError> {
        Err(backburner::ApplyError::Transient(backburner::SinkError::new("database is locked (simulated outage)")))
    }
    fn reader(&mut self) -> Result<Option<Box<dyn backburner::SinkReader>>, backburner::SinkError> {
        self.0.reader()
    }
}
