//! The logger on a disk that fills up, on a real full disk (a 256 KiB
//! tmpfs, filled by a filler file): a write the kernel cuts short leaves no
//! piece of a line in the file (the next line is not glued to it),
//! `LogStats::written` counts exactly the lines on disk and `write_errors`
//! the others, and the size kept for rotation is the file's.
//!
//! The tests mount a tmpfs, so they must run as root (CI does).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use backburner::log::{LogError, Logger};

/// A 256 KiB tmpfs mounted in a temporary directory, unmounted on drop
/// (also when the test fails).
struct SmallDisk {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new() -> SmallDisk {
        let uid = Command::new("id").arg("-u").output().expect("run id -u");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test mounts a small tmpfs to fill it up: run it as root (CI does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&mount)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs -o size=256k tmpfs {} failed: {status}", mount.display());
        SmallDisk { mount, _dir: dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        match Command::new("umount").arg(&self.mount).status() {
            Ok(s) if s.success() => {}
            other => eprintln!("umount {} failed: {other:?}; unmount it by hand", self.mount.display()),
        }
    }
}

/// Fills the disk: writes to `path` until the disk refuses more.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![b'x'; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "the filler stops on ENOSPC: {e}");
                break;
            }
        }
    }
}

/// Whether `line` is one whole line of this test: `<ts> INFO  <target>
/// [<thread>] <phase> line <n> end`; returns its phase and number.
fn parse(line: &str) -> Option<(&str, u64)> {
    let b = line.as_bytes();
    let stamp = b.len() > 27 && b[26] == b'Z' && b[10] == b'T' && b[..4].iter().all(u8::is_ascii_digit);
    if !stamp {
        return None;
    }
    let rest = line.get(27..)?.strip_prefix(" INFO  ")?;
    let (_, msg) = rest.split_once("] ")?;
    let (phase, n) = msg.strip_suffix(" end")?.split_once(" line ")?;
    let n = n.parse().ok()?;
    ["before", "during", "after"].contains(&phase).then_some((phase, n))
}

/// Reads the log, checks that every line is whole, and returns the lines
/// of each phase, in the order of the file.
fn lines_by_phase(file: &Path) -> [Vec<u64>; 3] {
    let text = std::fs::read_to_string(file).expect("read the log");
    assert!(text.ends_with('\n'), "the log does not end with a newline: {:?}", &text[text.len().saturating_sub(200)..]);
    let mut by = [Vec::new(), Vec::new(), Vec::new()];
    for (i, line) in text.lines().enumerate() {
        let Some((phase, n)) = parse(line) else { panic!("line {} is not whole (or two glued): {line:?}", i + 1) };
        by[["before", "during", "after"].iter().position(|p| *p == phase).expect("phase")].push(n);
    }
    by
}

#[test]
fn a_full_disk_leaves_only_whole_lines_and_counts_them() {
    let disk = SmallDisk::new();
    let file = disk.mount.join("app.log");
    let log = Logger::builder().file(&file).build().expect("logger");
    // A few lines first: the log's last page is partly used, so the first
    // write into the full disk is cut short (the page has room), not refused.
    for i in 0..10u64 {
        backburner::info!(log, "before line {} end", i);
    }
    log.flush().expect("flush before the disk is full");
    let filler = disk.mount.join("filler");
    fill(&filler);

    const DURING: u64 = 3_000; // about 240 KB: far more than the page's room
    for i in 0..DURING {
        backburner::info!(log, "during line {} end", i);
    }
    match log.flush() {
        Err(LogError::Write { lines, message }) => {
            assert!(lines > 0 && lines <= DURING, "{lines} lines lost: {message}");
            assert!(message.contains("No space left"), "{message}");
        }
        other => panic!("a flush onto a full disk should report the lost lines: {other:?}"),
    }
    let full = log.stats();
    assert!(full.write_errors > 0, "{full:?}");

    std::fs::remove_file(&filler).expect("free the space");
    for i in 0..100u64 {
        backburner::info!(log, "after line {} end", i);
    }
    log.flush().expect("flush once there is room again");

    let [before, during, after] = lines_by_phase(&file);
    let stats = log.stats();
    assert_eq!(before, (0..10).collect::<Vec<_>>());
    assert_eq!(after, (0..100).collect::<Vec<_>>());
    // The lines that made it are the first ones, in order (then the disk was full).
    assert_eq!(during, (0..during.len() as u64).collect::<Vec<_>>());
    assert!(!during.is_empty(), "the page's room took some lines (a cut-short write, not a refused one)");
    let on_disk = (before.len() + during.len() + after.len()) as u64;
    assert_eq!(stats.written, on_disk, "written counts the lines on disk: {stats:?}");
    assert_eq!(stats.write_errors, DURING - during.len() as u64, "write_errors counts the others: {stats:?}");
    assert_eq!(stats.logged, stats.written + stats.write_errors, "{stats:?}");
}

/// The size kept for rotation is the file's: the bytes of lines lost to a
/// full disk do not count, so the file does not rotate early; it rotates
/// when its real size would pass the limit.
#[test]
fn after_a_full_disk_rotation_goes_by_the_real_size() {
    const LIMIT: u64 = 32 << 10;
    let disk = SmallDisk::new();
    let file = disk.mount.join("app.log");
    let log = Logger::builder().file(&file).rotate_bytes(LIMIT).build().expect("logger");
    for i in 0..10u64 {
        backburner::info!(log, "before line {} end", i);
    }
    log.flush().expect("flush before the disk is full");
    let filler = disk.mount.join("filler");
    fill(&filler);
    for i in 0..3_000u64 {
        backburner::info!(log, "during line {} end", i);
    }
    assert!(log.flush().is_err(), "the disk is full");
    std::fs::remove_file(&filler).expect("free the space");
    for i in 0..100u64 {
        backburner::info!(log, "after line {} end", i);
    }
    log.flush().expect("flush once there is room again");
    let size = std::fs::metadata(&file).expect("stat").len();
    assert!(size < LIMIT, "{size} bytes");
    assert_eq!(log.stats().rotations, 0, "the file ({size} bytes) rotated before reaching {LIMIT}");
    // Up to the limit and past it: one rotation.
    let line = std::fs::read_to_string(&file).expect("read").lines().last().map(str::len).expect("a line") as u64 + 1;
    let more = (LIMIT - size) / line + 10;
    for i in 100..100 + more {
        backburner::info!(log, "after line {} end", i);
    }
    log.flush().expect("flush");
    assert_eq!(log.stats().rotations, 1, "the file passed {LIMIT} bytes: it rotates once");
}

/// A write cut short where the piece cannot be cut off the file (a named
/// pipe whose reader goes away while the write waits for room: `ftruncate`
/// does not apply to a pipe): the rest of the cut line is written first
/// once the destination takes bytes again, so the stream holds whole lines
/// only, and `written` counts them.
#[test]
fn a_cut_line_that_cannot_be_cut_back_is_finished_first() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("out.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(made.success(), "mkfifo {}: {made:?}", fifo.display());
    // A reader that reads nothing, so that the logger can open the pipe.
    let first =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).expect("open the reader");
    let log = Logger::builder().file(&fifo).build().expect("logger");
    // Lines of 75 bytes: 874 of them (65,550 bytes) fill the 64 KiB buffer,
    // and the pipe takes 65,536: the write waits inside the 874th line.
    let writer = {
        let log = log.clone();
        std::thread::Builder::new()
            .name("pipe".into())
            .spawn(move || {
                for i in 0..2_000u64 {
                    backburner::info!(log, "pipe line {:05} end", i);
                }
                log.flush()
            })
            .expect("spawn")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rustix::io::ioctl_fionread(&first).expect("FIONREAD") < 65_536 {
        assert!(std::time::Instant::now() < deadline, "the pipe never filled up");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // The reader goes away while the write waits: it is cut short (EPIPE next).
    drop(first);
    match writer.join().expect("join") {
        Err(LogError::Write { lines, message }) => assert!(lines > 0, "{lines}: {message}"),
        other => panic!("the flush should report lines lost to the broken pipe: {other:?}"),
    }
    // A new reader gets what is in the pipe, then the rest of the cut line
    // and the next lines.
    // Opened here (at once: the logger holds the writing end), so that the
    // pipe has a reader before the next lines are written.
    let mut second = std::fs::File::open(&fifo).expect("open the reader");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        second.read_to_string(&mut text).expect("read");
        text
    });
    let log2 = log.clone();
    std::thread::Builder::new()
        .name("pipe".into())
        .spawn(move || {
            for i in 0..100u64 {
                backburner::info!(log2, "after line {:05} end", i);
            }
            log2.flush()
        })
        .expect("spawn")
        .join()
        .expect("join")
        .expect("flush once the pipe has a reader again");
    let stats = log.stats();
    drop(log); // the worker stops and closes the pipe: the reader sees its end
    let text = reader.join().expect("reader");
    assert!(!text[..65_536].ends_with('\n'), "the first write was cut inside a line");
    assert!(text.ends_with('\n'));
    let mut pipe_lines = 0;
    for (i, line) in text.lines().enumerate() {
        let whole = (line.len() == 74 && line.contains("[pipe] pipe line ")
            || line.len() == 75 && line.contains("[pipe] after line "))
            && line.ends_with(" end");
        assert!(whole, "line {} is not whole (or two glued): {line:?}", i + 1);
        pipe_lines += line.contains(" pipe line ") as u64;
    }
    assert_eq!(text.lines().filter(|l| l.contains(" after line ")).count(), 100);
    assert_eq!(stats.written, text.lines().count() as u64, "{stats:?}");
    assert_eq!(stats.write_errors, 2_000 - pipe_lines, "{stats:?}");
}
