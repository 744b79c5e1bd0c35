//! Many threads × many lines through the logger: nothing lost, nothing
//! duplicated, each thread's lines in order; dropping the logger drains it;
//! with DropNewest, drops are counted and reported by a line in the file.

use std::collections::HashMap;

use backburner::log::{Backpressure, Logger};

#[test]
fn many_threads_nothing_lost_or_duplicated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    const THREADS: u64 = 8;
    const N: u64 = 20_000;
    {
        // A small queue, so that Block backpressure is exercised.
        let log = Logger::builder().file(&path).queue_capacity(256).build().expect("logger");
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0..N {
                        backburner::info!(log, "t={} i={} {}", t, i, "payload");
                    }
                });
            }
        });
        let st = log.stats();
        assert_eq!(st.logged, THREADS * N);
        assert_eq!(st.dropped, 0);
        // No flush: dropping the last handle drains.
    }
    let text = std::fs::read_to_string(&path).expect("read");
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut count = 0;
    for line in text.lines() {
        let msg = line.split("] ").nth(1).expect("message");
        let mut parts = msg.split(' ');
        let t: u64 = parts.next().and_then(|p| p.strip_prefix("t=")).and_then(|v| v.parse().ok()).expect("t");
        let i: u64 = parts.next().and_then(|p| p.strip_prefix("i=")).and_then(|v| v.parse().ok()).expect("i");
        let want = next.entry(t).or_insert(0);
        assert_eq!(i, *want, "thread {t}: line {i} out of order or duplicated (expected {want})");
        *want += 1;
        count += 1;
    }
    assert_eq!(count, THREADS * N);
    assert!(next.values().all(|&n| n == N));
}

#[test]
fn drop_newest_counts_and_reports_drops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    let log =
        Logger::builder().file(&path).queue_capacity(4).backpressure(Backpressure::DropNewest).build().expect("logger");
    for i in 0..50_000u64 {
        backburner::info!(log, "line {}", i);
    }
    log.flush().expect("flush");
    let st = log.stats();
    let text = std::fs::read_to_string(&path).expect("read");
    let written = text.lines().filter(|l| l.contains("line ")).count() as u64;
    assert_eq!(written + st.dropped, 50_000, "every line is written or counted as dropped");
    if st.dropped > 0 {
        let reported: u64 =
            text.lines().filter_map(|l| l.split("] ").nth(1)?.split(' ').next()?.parse::<u64>().ok()).sum();
        assert!(text.contains("were dropped: its queue was full"), "no drop notice in the file");
        assert_eq!(reported, st.dropped, "the notices add up to the drops");
    }
}

#[test]
fn write_errors_are_reported_not_swallowed() {
    // /dev/full fails every write with ENOSPC, as a full disk does.
    let log = Logger::builder().file("/dev/full").build().expect("logger");
    for i in 0..1_000u64 {
        backburner::info!(log, "line {}", i);
    }
    match log.flush() {
        Err(backburner::log::LogError::Write { lines, message }) => {
            assert!(lines > 0);
            assert!(message.contains("No space left") || message.contains("space"), "{message}");
        }
        other => panic!("expected a write error, got {other:?}"),
    }
    let st = log.stats();
    assert!(st.write_errors > 0);
    assert_eq!(st.written, 0);
}

#[test]
fn flush_and_sync_return_while_other_threads_keep_logging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    let log = Logger::builder().file(&path).build().expect("logger");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let noisy = log.clone();
        let stop = &stop;
        s.spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                backburner::info!(noisy, "noise {}", i);
                i += 1;
                if i.is_multiple_of(64) {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        });
        for k in 0..20u64 {
            backburner::info!(log, "marker {}", k);
            // Returns although the other thread never stops logging (sync
            // too, which also waits for the file to be synced)...
            if k % 2 == 0 {
                log.flush().expect("flush");
            } else {
                log.sync().expect("sync");
            }
            // ...and the marker logged before it is in the file.
            let text = tail(&path, 8 << 20);
            assert!(text.contains(&format!("marker {k}\n")), "marker {k} missing after flush");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    log.sync().expect("sync");
}

/// The last `n` bytes of a file, as text.
fn tail(path: &std::path::Path, n: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).expect("open");
    let len = f.metadata().expect("meta").len();
    f.seek(SeekFrom::Start(len.saturating_sub(n))).expect("seek");
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}
