//! The logger loses no line when the process ends: returning from `main`,
//! a panic, `std::process::exit`, `abort` and SIGTERM (with the opt-in
//! handler) each leave every logged line on disk, counted from the file.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const LINES: u64 = 100_000;

fn child(end: &str, file: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_backburner-test-child"))
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

/// Whether `line` is one whole line of `log-child --burst`:
/// `2026-11-26T16:55:01.123456Z INFO  backburner::log_child [w0] burst thread 0 line 123 end`.
fn whole_burst_line(line: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let b = line.as_bytes();
    let stamp = b.len() > 27
        && b[..27].iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            26 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    let parts = || {
        let rest = line.get(27..)?.strip_prefix(" INFO  ")?;
        let (_target, rest) = rest.split_once(" [")?;
        let (thread, msg) = rest.split_once("] ")?;
        let (t, n) = msg.strip_prefix("burst thread ")?.strip_suffix(" end")?.split_once(" line ")?;
        Some((thread.strip_prefix('w')? == t, t, n))
    };
    stamp && matches!(parts(), Some((true, t, n)) if digits(t) && digits(n))
}

/// Checks that `text` is whole lines of `log-child --burst`; returns how many.
fn check_burst_file(text: &str, what: &str) -> usize {
    assert!(
        text.ends_with('\n'),
        "{what}: the file does not end with a newline: {:?}",
        &text[text.len().saturating_sub(120)..]
    );
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        assert!(whole_burst_line(line), "{what}: line {} is not whole: {line:?}", i + 1);
        n += 1;
    }
    n
}

fn kill(sig: &str, pid: u32) {
    let status = Command::new("kill").args([sig, &pid.to_string()]).status().expect("run kill");
    assert_eq!(status.code(), Some(0), "kill {sig} {pid}");
}

/// How each round's child ends, and the signal that should end it.
const ENDS: [(&str, Option<i32>); 4] = [("exit", None), ("abort", Some(6)), ("sigterm", Some(15)), ("sigint", Some(2))];

/// Runs `log-child --burst` (with `args`) logging to `file` until it ends
/// as `end` says, `delay_us` into the burst; checks how it ended.
/// `while_running` runs once the child is started (it reads a pipe, for one).
fn burst_child<T>(
    file: &std::path::Path,
    args: &[&str],
    (end, sig): (&str, Option<i32>),
    delay_us: u64,
    while_running: impl FnOnce() -> T,
) -> T {
    use std::os::unix::process::ExitStatusExt;
    let by_signal = end.starts_with("sig");
    let mut c = Command::new(env!("CARGO_BIN_EXE_backburner-test-child"))
        .args(["log-child", "--burst", "--end", end])
        .args(args)
        .arg("--delay-us")
        .arg(if by_signal { "0".to_string() } else { delay_us.to_string() })
        .arg("--file")
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn log-child");
    let stdout = c.stdout.take().expect("stdout");
    let pid = c.id();
    let signaller = std::thread::spawn({
        let end = end.to_string();
        move || {
            if end.starts_with("sig") {
                let mut ready = String::new();
                BufReader::new(stdout).read_line(&mut ready).expect("ready line");
                assert_eq!(ready.trim(), "ready", "{end}");
                std::thread::sleep(std::time::Duration::from_micros(delay_us));
                kill(if end == "sigterm" { "-TERM" } else { "-INT" }, pid);
            }
        }
    });
    let out = while_running();
    signaller.join().expect("signaller");
    let status = c.wait().expect("wait");
    match sig {
        None => assert_eq!(status.code(), Some(0), "{end}: {status:?}"),
        Some(s) => assert_eq!(status.signal(), Some(s), "{end}: {status:?}"),
    }
    out
}

/// Threads log without pause while the main thread ends the process by
/// `std::process::exit`, `abort`, SIGTERM or SIGINT (with `handle_signals`),
/// 20 rounds each, all appending to one file: no line may be cut short (a
/// write cut by the process's end) or glued to the next process's first line.
#[test]
fn ending_mid_burst_leaves_only_whole_lines() {
    use std::io::{Read, Seek};
    const ROUNDS: u64 = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("burst.log");
    let (mut total, mut checked) = (0, 0);
    for round in 0..ROUNDS {
        for (end, sig) in ENDS {
            // A different moment in the burst each round.
            let delay_us = (round * 397 + sig.unwrap_or(0) as u64 * 131) % 3_000;
            // Rings of 1,024 lines: the drain at the end writes at most
            // 2,048 lines more than --burst-min (the file stays small).
            burst_child(&file, &["--queue", "1024"], (end, sig), delay_us, || ());
        }
        // What this round appended (the rounds before ended with a whole line).
        let mut text = String::new();
        let mut f = std::fs::File::open(&file).expect("open the log");
        f.seek(std::io::SeekFrom::Start(checked)).expect("seek");
        f.read_to_string(&mut text).expect("read the log");
        total += check_burst_file(&text, &format!("round {round}"));
        checked += text.len() as u64;
    }
    assert!(total as u64 >= ROUNDS * 4 * 5_000, "each child logs at least 5,000 lines before it ends: {total}");
}

/// As `ending_mid_burst_leaves_only_whole_lines`, into a named pipe that
/// the test reads slowly: the worker spends most of its time in a write
/// that waits for room, so an end that does not wait for the write in
/// flight cuts a line nearly every time (on a disk the window is the few
/// microseconds a write takes).
#[test]
fn ending_mid_burst_into_a_slow_pipe_leaves_only_whole_lines() {
    use std::io::Read;
    const ROUNDS: u64 = 5;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("burst.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(made.success(), "mkfifo {}: {made:?}", fifo.display());
    for round in 0..ROUNDS {
        for (end, sig) in ENDS {
            let delay_us = (round * 397 + sig.unwrap_or(0) as u64 * 131) % 3_000;
            let text = burst_child(&fifo, &["--threads", "4"], (end, sig), delay_us, || {
                // Opens once the child's logger has opened its end; reads
                // until the child is gone, 16 KiB at a time with a pause.
                let mut f = std::fs::File::open(&fifo).expect("open the fifo");
                let (mut out, mut buf) = (Vec::new(), vec![0u8; 16 << 10]);
                loop {
                    let n = f.read(&mut buf).expect("read the fifo");
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                String::from_utf8(out).expect("UTF-8")
            });
            let n = check_burst_file(&text, &format!("round {round}, {end}"));
            assert!(n >= 5_000, "round {round}, {end}: {n} lines");
        }
    }
}

/// A file left ending inside a line (a process killed by `kill -9` in the
/// middle of a write, another program's text) gets a newline before the
/// first line of the next logger that opens it; a file ending with a newline
/// gets none.
#[test]
fn a_file_left_without_a_newline_gets_its_next_line_on_a_line_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (left, sep) in
        [("2026-12-01T21:40:47.497369Z INFO  app [w0] burst thread 0 l", "\n"), ("a whole line\n", ""), ("", "")]
    {
        let file = dir.path().join("left.log");
        std::fs::write(&file, left).expect("write the leftover");
        let log = backburner::log::Logger::builder().file(&file).build().expect("logger");
        backburner::info!(log, "the next line");
        log.flush().expect("flush");
        let text = std::fs::read_to_string(&file).expect("read the log");
        let rest =
            text.strip_prefix(left).and_then(|r| r.strip_prefix(sep)).unwrap_or_else(|| panic!("{left:?}: {text:?}"));
        assert!(rest.ends_with(" the next line\n") && rest.lines().count() == 1, "{left:?}: {text:?}");
        assert_eq!(log.stats().written, 1);
    }
}

fn rows(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count rows")
}

/// Lines of `log-child` (`thread T line N`) in the file.
fn child_lines(file: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(file).expect("read the log");
    assert!(text.is_empty() || text.ends_with('\n'), "a line was cut");
    text.lines().filter(|l| l.contains("] thread ") && l.contains(" line ")).count() as u64
}

/// A child that logs, puts rows into a store (lingering 10 minutes: only a
/// drain commits them) and waits for a signal; returns it with the log
/// file and the database.
fn store_child(
    dir: &std::path::Path,
    on_signal: &str,
) -> (std::process::Child, std::path::PathBuf, std::path::PathBuf) {
    let (file, db) = (dir.join("app.log"), dir.join("t.db"));
    let mut c = Command::new(env!("CARGO_BIN_EXE_backburner-test-child"))
        .args(["log-child", "--lines", "10000", "--end", "sigterm", "--rows", "3000", "--on-signal", on_signal])
        .arg("--store")
        .arg(format!("sqlite://{}", db.display()))
        .arg("--file")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn log-child");
    let mut ready = String::new();
    BufReader::new(c.stdout.take().expect("stdout")).read_line(&mut ready).expect("ready line");
    assert_eq!(ready.trim(), "ready");
    assert_eq!(rows(&db), 0, "nothing is committed before the drain");
    (c, file, db)
}

/// `handle_signals`: on SIGTERM every line logged and every row a store
/// accepted reach the disk (the store is closed, its writes drained,
/// before the process ends), and the process ends by the signal.
#[test]
fn handle_signals_drains_the_stores_before_the_process_ends() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut c, file, db) = store_child(dir.path(), "exit");
    kill("-TERM", c.id());
    let status = c.wait().expect("wait");
    assert_eq!(status.signal(), Some(15), "ended by SIGTERM: {status:?}");
    assert_eq!(child_lines(&file), 10_000, "lines lost");
    assert_eq!(rows(&db), 3_000, "rows the store accepted are lost");
}

/// `OnSignal::Continue`: the first SIGTERM drains the logs (with a warning
/// line that says so) and the process goes on; the second ends it as
/// `Exit` does, stores drained.
#[test]
fn with_continue_a_second_sigterm_ends_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut c, file, db) = store_child(dir.path(), "continue");
    kill("-TERM", c.id());
    // The signal thread has taken the first signal once its note is in the file.
    let note = "SIGTERM received: logs drained; the program's own shutdown goes on (OnSignal::Continue)";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&file).expect("read the log").contains(note) {
        assert!(c.try_wait().expect("try_wait").is_none(), "the first SIGTERM ended the process");
        assert!(std::time::Instant::now() < deadline, "no note of the first SIGTERM in the log");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(c.try_wait().expect("try_wait").is_none(), "the first SIGTERM ended the process");
    assert_eq!(child_lines(&file), 10_000, "the first SIGTERM drains the logs");
    assert_eq!(rows(&db), 0, "the first SIGTERM leaves the stores to the program");
    kill("-TERM", c.id());
    let status = c.wait().expect("wait");
    assert_eq!(status.signal(), Some(15), "ended by the second SIGTERM: {status:?}");
    assert_eq!(rows(&db), 3_000, "the second SIGTERM drains the stores");
}
