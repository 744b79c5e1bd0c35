//! Where lines go: a file (rotated by size and/or time, with retention), or
//! standard output / error.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where time comes from, for rotation: tests move a clock by hand.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Rotation by time, at UTC boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Period {
    /// At the start of every hour.
    Hourly,
    /// At midnight UTC.
    Daily,
}

impl Period {
    fn secs(self) -> u64 {
        match self {
            Period::Hourly => 3600,
            Period::Daily => 86_400,
        }
    }
    /// The first boundary after `t`.
    fn next_after(self, t: SystemTime) -> SystemTime {
        let s = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        UNIX_EPOCH + Duration::from_secs((s / self.secs() + 1) * self.secs())
    }
}

pub(crate) struct FileSink {
    pub(crate) path: PathBuf,
    file: File,
    size: u64,
    max_bytes: Option<u64>,
    period: Option<Period>,
    period_end: Option<SystemTime>,
    keep: Option<usize>,
    clock: Arc<dyn Clock>,
    pub(crate) rotations: u64,
    gzip: bool,
    /// After a failed rotation: not before this.
    retry_at: Option<SystemTime>,
}

/// Opens `path` for appending; if the file ends inside a line (a process
/// killed in the middle of a write, another program's text), writes a
/// newline first, so that the first line written is a line of its own.
fn open_append(path: &PathBuf) -> io::Result<(File, u64)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    let mut size = f.metadata()?.len();
    if size > 0 && ends_inside_a_line(path, size) {
        f.write_all(b"\n")?;
        size += 1;
    }
    Ok((f, size))
}

/// Whether the last of the `size` bytes of the file at `path` is not a
/// newline. A file that cannot be read (write-only) is taken as whole.
fn ends_inside_a_line(path: &PathBuf, size: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut last = [b'\n'];
    match File::open(path) {
        Ok(f) => f.read_exact_at(&mut last, size - 1).is_ok() && last[0] != b'\n',
        Err(_) => false,
    }
}

impl FileSink {
    pub(crate) fn open(
        path: PathBuf,
        max_bytes: Option<u64>,
        period: Option<Period>,
        keep: Option<usize>,
        clock: Arc<dyn Clock>,
        gzip: bool,
    ) -> io::Result<FileSink> {
        let (file, size) = open_append(&path)?;
        let period_end = period.map(|p| p.next_after(clock.now()));
        Ok(FileSink {
            path,
            file,
            size,
            max_bytes,
            period,
            period_end,
            keep,
            clock,
            rotations: 0,
            gzip,
            retry_at: None,
        })
    }

    /// Whether the file must rotate before a line of `len` bytes.
    fn due(&self, len: usize) -> Option<SystemTime> {
        let by_size = self.max_bytes.is_some_and(|m| self.size > 0 && self.size + len as u64 > m);
        let now = if self.period.is_some() || by_size { Some(self.clock.now()) } else { None };
        let by_time = matches!((now, self.period_end), (Some(n), Some(e)) if n >= e);
        // After a failed rotation, lines go on to the current file and the
        // next try waits a second (not one try per line).
        let backing_off = matches!((now, self.retry_at), (Some(n), Some(r)) if n < r);
        if (by_size || by_time) && !backing_off {
            now
        } else {
            None
        }
    }

    fn rotate(&mut self, now: SystemTime) -> io::Result<()> {
        let mut stamp = String::new();
        super::format::rfc3339_micros(&mut stamp, now);
        // 2026-11-26T16:55:01.123456Z -> 2026-11-26T16-55-01.123456Z (no colons in file names)
        let stamp = stamp.replace(':', "-");
        let mut target = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        let mut n = 1;
        while target.exists() {
            target = PathBuf::from(format!("{}.{stamp}.{n}", self.path.display()));
            n += 1;
        }
        let backoff = |e: io::Error, this: &mut FileSink| {
            this.retry_at = Some(now + Duration::from_secs(1));
            e
        };
        if let Err(e) = std::fs::rename(&self.path, &target) {
            return Err(backoff(e, self));
        }
        let (file, size) = match open_append(&self.path) {
            Ok(f) => f,
            Err(e) => {
                // Put the file back, so that the current handle and the path
                // agree again; lines keep going to it.
                let _ = std::fs::rename(&target, &self.path);
                return Err(backoff(e, self));
            }
        };
        self.retry_at = None;
        if self.gzip {
            // Retention runs after compression, so a file is never deleted
            // while it is being compressed.
            compress_in_background(target, self.path.clone(), self.keep);
        }
        self.file = file;
        self.size = size;
        self.rotations += 1;
        if let Some(p) = self.period {
            self.period_end = Some(p.next_after(now));
        }
        if let (Some(keep), false) = (self.keep, self.gzip) {
            // A failed clean-up is reported, not fatal: the line still goes out.
            if let Err(e) = prune(&self.path, keep) {
                eprintln!("backburner: could not delete old rotated logs of {}: {e}", self.path.display());
            }
        }
        Ok(())
    }
}

/// Deletes the oldest rotated files of `path` beyond `keep` (a file and
/// its `.gz` count once).
fn prune(path: &std::path::Path, keep: usize) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return Ok(()) };
    let prefix = format!("{name}.");
    let mut rotated: Vec<(String, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if let Some(n) = e.file_name().to_str().filter(|n| n.starts_with(&prefix)) {
            // Names carry the rotation time: they sort oldest first.
            rotated.push((n.trim_end_matches(".gz").to_string(), e.path()));
        }
    }
    rotated.sort();
    let mut stems: Vec<&str> = rotated.iter().map(|(s, _)| s.as_str()).collect();
    stems.dedup();
    let excess = stems.len().saturating_sub(keep);
    let old: std::collections::HashSet<&str> = stems.into_iter().take(excess).collect();
    for (stem, p) in &rotated {
        if old.contains(stem.as_str()) {
            std::fs::remove_file(p)?;
        }
    }
    Ok(())
}

/// Compresses a rotated file to `<file>.gz` on a thread of its own (a large
/// file takes a while; logging goes on meanwhile), then removes the original.
#[cfg(feature = "gzip")]
fn compress_in_background(path: PathBuf, log: PathBuf, keep: Option<usize>) {
    let spawned = std::thread::Builder::new().name("backburner-log-gzip".into()).spawn(move || {
        let gz = PathBuf::from(format!("{}.gz", path.display()));
        let r = (|| -> io::Result<()> {
            let mut input = File::open(&path)?;
            let out = File::create(&gz)?;
            let mut enc = flate2::write::GzEncoder::new(io::BufWriter::new(out), flate2::Compression::default());
            io::copy(&mut input, &mut enc)?;
            enc.finish()?.flush()?;
            std::fs::remove_file(&path)
        })();
        if let Err(e) = r {
            eprintln!("backburner: could not gzip the rotated log {}: {e} (the file is kept as it is)", path.display());
            let _ = std::fs::remove_file(&gz);
        }
        if let Some(keep) = keep {
            if let Err(e) = prune(&log, keep) {
                eprintln!("backburner: could not delete old rotated logs of {}: {e}", log.display());
            }
        }
    });
    if let Err(e) = spawned {
        eprintln!("backburner: could not start gzip of a rotated log: {e}");
    }
}

#[cfg(not(feature = "gzip"))]
fn compress_in_background(_path: PathBuf, _log: PathBuf, _keep: Option<usize>) {}

enum Out {
    File(FileSink),
    Stdout(io::Stdout),
    Stderr(io::Stderr),
}

impl Out {
    /// Hands `bytes` to the OS, in as many `write` calls as it takes;
    /// returns how many bytes it took, and the error that stopped it (a
    /// write the kernel cuts short, on a full disk, is followed by one that
    /// fails).
    fn write(&mut self, bytes: &[u8]) -> (usize, io::Result<()>) {
        let mut done = 0;
        while done < bytes.len() {
            let r = match self {
                Out::File(f) => f.file.write(&bytes[done..]),
                Out::Stdout(s) => s.write(&bytes[done..]),
                Out::Stderr(s) => s.write(&bytes[done..]),
            };
            match r {
                Ok(0) => {
                    return (done, Err(io::Error::new(io::ErrorKind::WriteZero, "the destination took no more bytes")))
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (done, Err(e)),
            }
        }
        if let Out::Stdout(s) = self {
            if let Err(e) = s.flush() {
                return (done, Err(e));
            }
        }
        (done, Ok(()))
    }

    /// Removes the last `piece` bytes of the file (a piece of a line that a
    /// failed write left). Standard output and error cannot be cut.
    fn cut(&mut self, piece: usize) -> io::Result<()> {
        match self {
            Out::File(f) => {
                use std::io::Seek as _;
                let len = f.file.metadata()?.len();
                // In append mode the position is the end of this process's
                // own last write. If the file is longer, another process
                // appended after the piece: cutting would take its bytes, so
                // the piece is finished instead (the caller's other path).
                let end = f.file.stream_position()?;
                if end != len {
                    return Err(io::Error::other(format!(
                        "another writer appended after the piece (file {len} bytes, ours end at {end})"
                    )));
                }
                let to = len.checked_sub(piece as u64).ok_or_else(|| {
                    io::Error::other(format!("the file holds {len} bytes, fewer than the {piece} to cut"))
                })?;
                f.file.set_len(to)
            }
            Out::Stdout(_) | Out::Stderr(_) => {
                Err(io::Error::new(io::ErrorKind::Unsupported, "standard output and error cannot be cut back"))
            }
        }
    }

    /// Takes `bytes` that will not reach the file off the size kept for rotation.
    fn forget(&mut self, bytes: usize) {
        if let Out::File(f) = self {
            f.size = f.size.saturating_sub(bytes as u64);
        }
    }
}

/// Hands `bytes`, `lines` whole lines, to the OS under `gate`, after `rest`
/// (the end of a line whose start is already in the file) if there is one.
///
/// Lines reach the file whole or not at all. When a write fails after part
/// of `bytes` went out (a disk that fills up), the lines that went out
/// whole count as written and the piece of the next one is cut off the
/// file; if it cannot be cut, the rest of that line is kept in `rest`, to
/// be written before anything else, so that the line is finished and
/// nothing is glued to its piece. The other lines count as lost. The
/// bytes that will not reach the file come off the size kept for rotation.
fn hand_over(out: &mut Out, gate: &Mutex<()>, rest: &mut Vec<u8>, bytes: &[u8], lines: u64) -> Wrote {
    let _gate = gate.lock();
    let mut w = Wrote::default();
    if !rest.is_empty() {
        let (n, r) = out.write(rest);
        rest.drain(..n);
        match r {
            Ok(()) => w.lines += 1,
            Err(e) => {
                // The line is still unfinished: nothing may follow it.
                out.forget(bytes.len());
                return Wrote { lines: 0, lost: lines, error: Some(e) };
            }
        }
    }
    let (n, r) = out.write(bytes);
    let Err(e) = r else {
        w.lines += lines;
        return w;
    };
    let whole = bytes[..n].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let done = bytes[..whole].iter().filter(|&&b| b == b'\n').count() as u64;
    // Bytes that will not be in the file.
    let mut gone = bytes.len() - whole;
    let mut unfinished = 0;
    if n > whole && out.cut(n - whole).is_err() {
        let end = bytes[n..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| n + i + 1);
        rest.extend_from_slice(&bytes[n..end]);
        gone = bytes.len() - end;
        unfinished = 1;
    }
    out.forget(gone);
    w.lines += done;
    w.lost += lines.saturating_sub(done + unfinished);
    w.error = Some(e);
    w
}

/// A destination with its write buffer: the worker formats each line at
/// the end of the buffer (no copy), and the buffer goes to the OS in
/// 64 KiB writes, when the rings are empty, and before a rotation (which
/// happens between lines, so no line is ever split across files).
pub(crate) struct Sink {
    out: Out,
    buf: String,
    /// Lines in `buf`.
    lines: u64,
    /// The end of a line whose start is in the file (a write cut short that
    /// could not be cut back): written before anything else.
    rest: Vec<u8>,
    /// Held for each hand-over to the OS (one per buffer, not per line:
    /// uncontended). The end of the process takes it and keeps it (see
    /// `exit::end`), so that no write is in flight when the process ends
    /// (the kernel cuts a write short when the process is killed during it)
    /// and none starts after.
    gate: Arc<Mutex<()>>,
}

/// Lines handed to the OS, or lost to a write error, by one call.
#[derive(Default)]
pub(crate) struct Wrote {
    pub(crate) lines: u64,
    pub(crate) lost: u64,
    pub(crate) error: Option<io::Error>,
}

impl Wrote {
    fn add(&mut self, other: Wrote) {
        self.lines += other.lines;
        self.lost += other.lost;
        self.error = self.error.take().or(other.error);
    }
}

const BUF: usize = 64 << 10;

impl Sink {
    pub(crate) fn file(f: FileSink) -> Sink {
        Sink::new(Out::File(f))
    }
    pub(crate) fn stdout() -> Sink {
        Sink::new(Out::Stdout(io::stdout()))
    }
    pub(crate) fn stderr() -> Sink {
        Sink::new(Out::Stderr(io::stderr()))
    }
    fn new(out: Out) -> Sink {
        Sink { out, buf: String::with_capacity(BUF + 4096), lines: 0, rest: Vec::new(), gate: Arc::new(Mutex::new(())) }
    }

    /// The lock held for each write to the OS.
    pub(crate) fn gate(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.gate)
    }

    /// The buffer, to format one line at its end; then call [`Sink::commit`]
    /// with the length it had before.
    pub(crate) fn buf(&mut self) -> &mut String {
        &mut self.buf
    }

    /// Takes whole lines formatted elsewhere: `text`, whose lines end at
    /// `ends`. In one copy when no rotation falls inside them, else line by
    /// line (a rotation happens between lines).
    pub(crate) fn append_lines(&mut self, text: &str, ends: &[usize]) -> Wrote {
        let due = match &self.out {
            Out::File(f) => f.due(text.len()).is_some(),
            Out::Stdout(_) | Out::Stderr(_) => false,
        };
        if due {
            let mut w = Wrote::default();
            let mut prev = 0;
            for &end in ends {
                let start = self.buf.len();
                self.buf.push_str(&text[prev..end]);
                prev = end;
                w.add(self.commit(start));
            }
            return w;
        }
        if text.len() < BUF {
            if let Out::File(f) = &mut self.out {
                f.size += text.len() as u64;
            }
            self.buf.push_str(text);
            self.lines += ends.len() as u64;
            return if self.buf.len() >= BUF { self.flush_buf() } else { Wrote::default() };
        }
        // A large block: what the buffer holds, then the block itself,
        // without copying it into the buffer first.
        let mut w = self.flush_buf();
        if let Out::File(f) = &mut self.out {
            f.size += text.len() as u64;
        }
        w.add(hand_over(&mut self.out, &self.gate, &mut self.rest, text.as_bytes(), ends.len() as u64));
        w
    }

    /// Takes the line formatted at `buf[start..]`, rotating first if due.
    pub(crate) fn commit(&mut self, start: usize) -> Wrote {
        let len = self.buf.len() - start;
        let mut w = Wrote::default();
        let due = match &self.out {
            Out::File(f) => f.due(len),
            Out::Stdout(_) | Out::Stderr(_) => None,
        };
        if let Some(now) = due {
            // The lines before this one go to the old file.
            w = self.hand_over_buf(start);
            // Not after a failed write (the file may end inside a line).
            // A failed rotation loses nothing: lines stay on the current file.
            if let (None, Out::File(f)) = (&w.error, &mut self.out) {
                if let Err(e) = f.rotate(now) {
                    w.error = Some(io::Error::new(e.kind(), format!("log rotation failed: {e}")));
                }
            }
        }
        if let Out::File(f) = &mut self.out {
            f.size += len as u64;
        }
        self.lines += 1;
        if self.buf.len() >= BUF {
            w.add(self.flush_buf());
        }
        w
    }

    /// Hands the first `upto` bytes of the buffer (all its lines, or all but
    /// the last one when a rotation comes before it) to the OS, and drops
    /// them.
    fn hand_over_buf(&mut self, upto: usize) -> Wrote {
        let w = hand_over(&mut self.out, &self.gate, &mut self.rest, &self.buf.as_bytes()[..upto], self.lines);
        self.buf.drain(..upto);
        self.lines = 0;
        w
    }

    fn flush_buf(&mut self) -> Wrote {
        if self.buf.is_empty() && self.rest.is_empty() {
            return Wrote::default();
        }
        self.hand_over_buf(self.buf.len())
    }

    /// Hands the buffer to the OS.
    pub(crate) fn flush(&mut self) -> Wrote {
        self.flush_buf()
    }

    /// Hands the buffer to the OS and syncs the file.
    pub(crate) fn sync(&mut self) -> Wrote {
        let mut w = self.flush_buf();
        if let Out::File(f) = &mut self.out {
            if let Err(e) = f.file.sync_data() {
                w.error = w.error.or(Some(e));
            }
        }
        w
    }

    pub(crate) fn rotations(&self) -> u64 {
        match &self.out {
            Out::File(f) => f.rotations,
            _ => 0,
        }
    }
}
