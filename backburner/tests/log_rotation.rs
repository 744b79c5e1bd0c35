//! Rotation under load never splits or loses a line: threads log while a
//! hand-moved clock crosses hour boundaries and files rotate by size too;
//! every line is whole and every line is in exactly one file. `keep(n)`
//! deletes the oldest rotated files.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backburner::log::{Clock, Logger, Period};

struct Manual(AtomicU64);
impl Clock for Manual {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

fn all_lines(dir: &std::path::Path) -> (Vec<String>, usize) {
    let mut lines = Vec::new();
    let mut files = 0;
    for e in std::fs::read_dir(dir).expect("dir") {
        let text = std::fs::read_to_string(e.expect("entry").path()).expect("read");
        assert!(text.is_empty() || text.ends_with('\n'), "a file ends inside a line");
        lines.extend(text.lines().map(String::from));
        files += 1;
    }
    (lines, files)
}

#[test]
fn rotation_under_load_keeps_every_line_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(Manual(AtomicU64::new(1_700_000_000)));
    let log = Logger::builder()
        .file(dir.path().join("app.log"))
        .rotate_every(Period::Hourly)
        .rotate_bytes(256 << 10)
        .clock(clock.clone())
        .build()
        .expect("logger");
    const THREADS: u64 = 4;
    const N: u64 = 25_000;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let log = log.clone();
            s.spawn(move || {
                for i in 0..N {
                    backburner::info!(log, "t={} i={} padding-padding", t, i);
                }
            });
        }
        // Cross five hour boundaries while they log.
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(5));
            clock.0.fetch_add(3600, Ordering::SeqCst);
        }
    });
    log.flush().expect("flush");
    assert!(log.stats().rotations >= 2, "rotated {} times", log.stats().rotations);
    let (lines, files) = all_lines(dir.path());
    assert!(files >= 3, "{files} files");
    assert_eq!(lines.len() as u64, THREADS * N, "lines lost or duplicated across rotations");
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        assert!(l.ends_with("padding-padding"), "split line: {l}");
        assert!(seen.insert(l.split("] ").nth(1).expect("msg").to_string()), "duplicate: {l}");
    }
}

#[test]
fn keep_deletes_the_oldest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Logger::builder().file(dir.path().join("app.log")).rotate_bytes(4 << 10).keep(3).build().expect("logger");
    for i in 0..5_000u64 {
        backburner::info!(log, "line {} of a log that rotates often", i);
        if i % 500 == 0 {
            log.flush().expect("flush");
        }
    }
    log.flush().expect("flush");
    assert!(log.stats().rotations > 5);
    let (lines, files) = all_lines(dir.path());
    assert_eq!(files, 4, "the current file and 3 rotated ones");
    // What is left is the newest lines, in order and whole.
    assert!(lines.iter().any(|l| l.contains("line 4999 of")));
    assert!(!lines.iter().any(|l| l.contains("line 0 of")));
}

#[cfg(feature = "gzip")]
#[test]
fn rotated_files_are_gzipped_without_losing_lines() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let log =
        Logger::builder().file(dir.path().join("app.log")).rotate_bytes(16 << 10).gzip(true).build().expect("logger");
    for i in 0..5_000u64 {
        backburner::info!(log, "line {} of a log that is compressed when rotated", i);
    }
    log.flush().expect("flush");
    let rotations = log.stats().rotations;
    assert!(rotations > 3);
    // Compression runs on background threads: wait for every rotated file.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        let gz = names.iter().filter(|n| n.ends_with(".gz")).count() as u64;
        let plain_rotated = names.iter().filter(|n| n.starts_with("app.log.") && !n.ends_with(".gz")).count();
        if gz == rotations && plain_rotated == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "gzip did not finish: {names:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut total = 0;
    for e in std::fs::read_dir(dir.path()).expect("dir") {
        let path = e.expect("entry").path();
        let mut text = String::new();
        if path.extension().is_some_and(|x| x == "gz") {
            flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("open"))
                .read_to_string(&mut text)
                .expect("gunzip");
        } else {
            text = std::fs::read_to_string(&path).expect("read");
        }
        assert!(text.is_empty() || text.ends_with('\n'));
        total += text.lines().count();
    }
    assert_eq!(total, 5_000);
}
