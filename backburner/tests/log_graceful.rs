//! `OnSignal::Continue` in a program that handles SIGTERM itself, as an
//! axum service with `with_graceful_shutdown` does: on SIGTERM the logger
//! drains and the process goes on; the program's own shutdown keeps writing
//! rows and logging, closes its store and returns from `main` with status
//! 0; every row it saw accepted is in SQLite and every line it logged is in
//! the file.
//!
//! The program is this test binary run again (`current_exe`) with
//! `BACKBURNER_GRACEFUL_CHILD` set, running only the ignored test
//! `graceful_child` (the `backburner` binary cannot depend on tokio). Its
//! `main` is the test harness's, which returns once the test has passed.

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use backburner::log::{Logger, OnSignal};
use backburner::Store;

const CHILD: &str = "BACKBURNER_GRACEFUL_CHILD";

#[test]
fn a_program_with_its_own_sigterm_handler_shuts_down_gracefully() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current_exe");
    let mut c = Command::new(exe)
        .args(["graceful_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let mut out = BufReader::new(c.stdout.take().expect("stdout"));
    // The harness prints `test graceful_child ... ` before the test's own output.
    let mut line = String::new();
    while !line.trim_end().ends_with("ready") {
        line.clear();
        assert!(out.read_line(&mut line).expect("read the child's output") > 0, "the child ended before ready");
    }
    let status = Command::new("kill").args(["-TERM", &c.id().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -TERM: {status}");
    // The rest of the output, with the child's report.
    let mut report = None;
    for l in out.lines() {
        let l = l.expect("read the child's output");
        if let Some((_, r)) = l.split_once("report ") {
            report = Some(r.to_string());
        }
    }
    let status = c.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "the program's own shutdown returns from main: {status:?}");
    let report = report.expect("the child's report");
    let (accepted, logged) = parse_report(&report);
    assert!(accepted > 50 && logged > 50, "{report}");

    let conn = rusqlite::Connection::open(dir.path().join("t.db")).expect("open the database");
    let rows: u64 = conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count rows");
    assert_eq!(rows, accepted, "every row the program saw accepted is in SQLite");

    let text = std::fs::read_to_string(dir.path().join("app.log")).expect("read the log");
    assert!(text.ends_with('\n'));
    let numbers: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split_once("graceful line ").and_then(|(_, r)| r.split(' ').next()?.parse().ok()))
        .collect();
    assert_eq!(numbers, (0..logged).collect::<Vec<_>>(), "every line the program logged is in the file, in order");
    assert!(text.contains("SIGTERM received: logs drained"), "the logger notes the signal");
    assert!(text.contains("during shutdown") && text.contains("after close"), "lines of the program's shutdown");
}

/// `accepted=N logged=M`.
fn parse_report(r: &str) -> (u64, u64) {
    let field = |name: &str| -> u64 {
        r.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in the report {r:?}"))
    };
    (field("accepted"), field("logged"))
}

/// The program: a tokio service that logs and writes rows until SIGTERM,
/// then shuts down on its own. Run by the test above only.
#[test]
#[ignore = "the child process of a_program_with_its_own_sigterm_handler_shuts_down_gracefully (it runs it)"]
fn graceful_child() {
    let dir = std::env::var(CHILD).unwrap_or_else(|_| {
        panic!("run by a_program_with_its_own_sigterm_handler_shuts_down_gracefully only (it sets {CHILD})")
    });
    let dir = Path::new(&dir);
    let log = Logger::builder().file(dir.join("app.log")).build().expect("logger");
    let guard = log.install().expect("install");
    guard.handle_signals_with(OnSignal::Continue).expect("handle the signals");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (accepted, logged) = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let store = Store::open(&format!("sqlite://{}", dir.join("t.db").display())).expect("store");
        let (mut accepted, mut logged) = (0u64, 0u64);
        let give_up = tokio::time::Instant::now() + Duration::from_secs(120);
        let step = |phase: &str, accepted: &mut u64, logged: &mut u64| {
            store.put(format!("k{accepted}"), phase).expect("put");
            *accepted += 1;
            backburner::info!(log, "graceful line {} {}", *logged, phase);
            *logged += 1;
        };
        loop {
            tokio::select! {
                _ = term.recv() => break,
                () = tokio::time::sleep_until(give_up) => panic!("no SIGTERM came within 120 s"),
                () = tokio::time::sleep(Duration::from_millis(1)) => {
                    step("before the signal", &mut accepted, &mut logged);
                    if accepted == 20 {
                        println!("\nready");
                        std::io::stdout().flush().expect("flush stdout");
                    }
                }
            }
        }
        // The program's own shutdown: a few more writes and lines, then close.
        for _ in 0..50 {
            step("during shutdown", &mut accepted, &mut logged);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        store.close().expect("close the store");
        backburner::info!(log, "graceful line {} after close", logged);
        (accepted, logged + 1)
    });
    println!("\nreport accepted={accepted} logged={logged}");
    drop(guard); // drains the rest
}
