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
    assert!(
        out.status.success(),
        "backburner {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn demo_reports_no_stale_reads_and_every_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let out = run_ok(&[
        "demo",
        "--rows",
        "20000",
        "--trials",
        "50",
        "--sync-sample",
        "20",
        "--dir",
        d,
    ]);
    assert!(
        out.contains("backburner put + get:         stale reads in 0 of 50 trials"),
        "{out}"
    );
    assert!(
        out.contains("rows counted in SQLite: 20000 (expected 20000)"),
        "{out}"
    );
    assert!(
        out.contains("sequential:") && out.contains("concurrent:"),
        "{out}"
    );
    assert!(out.contains("extrapolated from 20 rows"), "{out}");
}

#[test]
fn bench_store_prints_the_table_with_ratios() {
    let out = run_ok(&[
        "bench",
        "store",
        "--rounds",
        "1",
        "--rows",
        "5000",
        "--burst",
        "2000",
        "--autocommit-rows",
        "20",
    ]);
    for needle in [
        "hand-batched txns (ceiling)",
        "per-row autocommit, defaults",
        "backburner / ceiling:",
        "timer floor",
        "get, pending key (overlay)",
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
    let out = bin()
        .args(["demo", "--rows", "many"])
        .output()
        .expect("run backburner");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rows"));
}
