//! Line formats against golden files (timestamps masked): text and JSON,
//! every JSON line parses; timestamps are RFC 3339 UTC with microseconds;
//! the filter keeps what it says; the `log` facade carries key-values.

use backburner::log::{Format, Logger};

fn mask(line: &str) -> String {
    // "2026-11-26T16:55:01.123456Z" is 27 bytes.
    let ts = &line[..27];
    assert_eq!(ts.len(), 27);
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.', "{ts}");
    format!("<ts>{}", &line[27..])
}

fn run(format: Format) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g.log");
    let log = Logger::builder().file(&path).format(format).filter("debug,noisy=warn").build().expect("logger");
    std::thread::Builder::new()
        .name("golden".into())
        .spawn(move || {
            backburner::info!(log, "order {} filled at {:.2} for {}", 42u64, 99.5f64, "ACME");
            backburner::warn!(log, target: "app::db", "slow query: {} ms", 1250);
            backburner::debug!(log, "hex {:#x} bool {} char {}", 255u32, true, 'z');
            backburner::info!(log, "exact types: {} {:x} {} {:?}", 0.1f32, -1i8, &7u64, "q");
            backburner::info!(log, "a long string goes the caller's way: {}", "x".repeat(40));
            backburner::info!(log, "quotes \" and \\ and a\nnewline");
            backburner::info!(log, target: "noisy", "dropped by the filter");
            backburner::error!(log, target: "noisy", "kept: error on a warn target");
            backburner::trace!(log, "dropped: trace under debug");
            log.flush().expect("flush");
        })
        .expect("spawn")
        .join()
        .expect("join");
    let text = std::fs::read_to_string(&path).expect("read");
    text.lines().map(|l| mask(l.strip_prefix("{\"ts\":\"").unwrap_or(l))).collect::<Vec<_>>().join("\n") + "\n"
}

const TEXT: &str = r#"<ts> INFO  log_format [golden] order 42 filled at 99.50 for ACME
<ts> WARN  app::db [golden] slow query: 1250 ms
<ts> DEBUG log_format [golden] hex 0xff bool true char z
<ts> INFO  log_format [golden] exact types: 0.1 ff 7 "q"
<ts> INFO  log_format [golden] a long string goes the caller's way: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
<ts> INFO  log_format [golden] quotes " and \ and a\nnewline
<ts> ERROR noisy [golden] kept: error on a warn target
"#;

const JSON: &str = r#"<ts>","level":"INFO","target":"log_format","thread":"golden","msg":"order 42 filled at 99.50 for ACME"}
<ts>","level":"WARN","target":"app::db","thread":"golden","msg":"slow query: 1250 ms"}
<ts>","level":"DEBUG","target":"log_format","thread":"golden","msg":"hex 0xff bool true char z"}
<ts>","level":"INFO","target":"log_format","thread":"golden","msg":"exact types: 0.1 ff 7 \"q\""}
<ts>","level":"INFO","target":"log_format","thread":"golden","msg":"a long string goes the caller's way: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
<ts>","level":"INFO","target":"log_format","thread":"golden","msg":"quotes \" and \\ and a\nnewline"}
<ts>","level":"ERROR","target":"noisy","thread":"golden","msg":"kept: error on a warn target"}
"#;

#[test]
fn text_golden() {
    assert_eq!(run(Format::Text), TEXT);
}

#[test]
fn json_golden_and_every_line_parses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.log");
    let log = Logger::builder().file(&path).format(Format::Json).build().expect("logger");
    for i in 0..100u32 {
        backburner::info!(log, "weird \u{1} \t \"{}\" {}", i, "é\u{7f}");
    }
    log.flush().expect("flush");
    let text = std::fs::read_to_string(&path).expect("read");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["level"], "INFO");
        assert!(v["msg"].as_str().expect("msg").starts_with("weird \u{1} \t \""));
    }
    // Golden, from the timestamp on.
    assert_eq!(run(Format::Json), JSON);
}

#[test]
fn facade_carries_target_and_key_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f.log");
    let log = Logger::builder().file(&path).format(Format::Json).build().expect("logger");
    let guard = log.install().expect("install");
    ::log::info!(target: "app::pay", user = 7, ok = true; "paid {}", 12);
    ::log::debug!("below the default filter");
    guard.flush().expect("flush");
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
    assert_eq!(v["target"], "app::pay");
    assert_eq!(v["msg"], "paid 12");
    assert_eq!(v["fields"]["user"], "7");
    assert_eq!(v["fields"]["ok"], "true");
}

#[test]
fn timestamps_are_utc_wall_clock() {
    let now = || {
        let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M"]).output().expect("date");
        String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.log");
    let log = Logger::builder().file(&path).build().expect("logger");
    let before = now();
    backburner::info!(log, "tick {}", 1);
    log.flush().expect("flush");
    let after = now();
    let text = std::fs::read_to_string(&path).expect("read");
    let minute = &text[..16];
    assert!(minute == before || minute == after, "{minute} is not between {before} and {after}");
}
