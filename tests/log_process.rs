//! The logger loses no line when the process ends: returning from `main`,
//! a panic, `std::process::exit`, `abort` and SIGTERM (with the opt-in
//! handler) each leave every logged line on disk, counted from the file.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const LINES: u64 = 100_000;

fn child(end: &str, file: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_backburner"))
        .args(["log-child", "--lines", &LINES.to_string(), "--end", end, "--file"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

fn lines(file: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(file).expect("read the log");
    assert!(text.is_empty() || text.ends_with('\n'), "a line was cut");
    text.lines().count() as u64
}

#[test]
fn every_way_of_ending_keeps_every_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (end, code) in [("return", Some(0)), ("exit", Some(0)), ("panic", Some(101)), ("abort", None)] {
        let file = dir.path().join(format!("{end}.log"));
        let status = child(end, &file).wait().expect("wait");
        assert_eq!(status.code(), code, "{end}: {status:?}");
        assert_eq!(lines(&file), LINES, "{end}: lines lost");
    }
    let file = dir.path().join("sigterm.log");
    let mut c = child("sigterm", &file);
    let mut out = BufReader::new(c.stdout.take().expect("stdout"));
    let mut ready = String::new();
    out.read_line(&mut ready).expect("ready line");
    assert_eq!(ready.trim(), "ready");
    let pid = c.id() as i32;
    assert_eq!(
        std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill").code(),
        Some(0)
    );
    let status = c.wait().expect("wait");
    assert!(!status.success(), "SIGTERM should end the child as a signal does: {status:?}");
    assert_eq!(lines(&file), LINES, "sigterm: lines lost");
}
