//! One thread's lines stay in order and whole, also when `flush` finds a
//! backlog of many thousands of lines and formats it on two threads (the
//! second thread's half is appended in one block after the first half).

use backburner::log::Logger;

#[test]
fn a_large_backlog_flushed_on_two_threads_keeps_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    const N: u64 = 200_000;
    // Room for the whole burst: the caller never waits, so most of it is
    // still queued when `flush` is called.
    let log = Logger::builder().file(&path).queue_capacity(N as usize).build().expect("logger");
    for i in 0..N {
        backburner::info!(log, "line {} price {} of {}", i, i as f64 / 4.0, "ACME");
    }
    log.flush().expect("flush");
    let text = std::fs::read_to_string(&path).expect("read");
    let mut want = 0u64;
    for line in text.lines() {
        let rest = line.split_once("] line ").map(|(_, r)| r).unwrap_or_else(|| panic!("not a line: {line:?}"));
        let want_text = format!("{want} price {} of ACME", want as f64 / 4.0);
        assert_eq!(rest, want_text, "line {want} out of order or damaged");
        want += 1;
    }
    assert_eq!(want, N, "lines in the file");
}
