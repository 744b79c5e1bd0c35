//! The log file as a [`Destination`]: opened for appending (a newline
//! first if it ends inside a line), rotated by size and/or time
//! ([`Period`], read from a [`Clock`]), with retention (`keep`) and gzip of
//! rotated files; cut back after a write cut short, if nobody wrote after.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek as _, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::destination::Destination;

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

/// The log file: appended to, rotated, cut back.
pub(crate) struct FileDestination {
    path: PathBuf,
    file: File,
    /// The file's length as this process sees it: its length when opened,
    /// plus the bytes written, less the bytes cut back. Bytes that never
    /// reached the file do not count, so a full disk does not make it
    /// rotate early; the bytes the logger still holds come with each
    /// question (`rotation_due`).
    size: u64,
    max_bytes: Option<u64>,
    period: Option<Period>,
    period_end: Option<SystemTime>,
    keep: Option<usize>,
    clock: Arc<dyn Clock>,
    gzip: bool,
    /// After a failed rotation: not before this.
    retry_at: Option<SystemTime>,
    /// The time read by the last `rotation_due` that said yes: the
    /// rotation's time (the clock is read once per question).
    due_at: Option<SystemTime>,
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

impl FileDestination {
    pub(crate) fn open(
        path: PathBuf,
        max_bytes: Option<u64>,
        period: Option<Period>,
        keep: Option<usize>,
        clock: Arc<dyn Clock>,
        gzip: bool,
    ) -> io::Result<FileDestination> {
        let (file, size) = open_append(&path)?;
        let period_end = period.map(|p| p.next_after(clock.now()));
        Ok(FileDestination {
            path,
            file,
            size,
            max_bytes,
            period,
            period_end,
            keep,
            clock,
            gzip,
            retry_at: None,
            due_at: None,
        })
    }

    /// Whether the file must rotate before `len` bytes that come after
    /// `held` bytes not written yet; if so, the time.
    fn due(&self, held: u64, len: usize) -> Option<SystemTime> {
        let size = self.size + held;
        let by_size = self.max_bytes.is_some_and(|m| size > 0 && size + len as u64 > m);
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

    /// Renames the file to `<file>.<now>` and opens a new one at the path.
    fn rotate_at(&mut self, now: SystemTime) -> io::Result<()> {
        let mut stamp = String::new();
        crate::time::rfc3339_micros(&mut stamp, now);
        // 2026-11-26T16:55:01.123456Z -> 2026-11-26T16-55-01.123456Z (no colons in file names)
        let stamp = stamp.replace(':', "-");
        let mut target = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        let mut n = 1;
        while target.exists() {
            target = PathBuf::from(format!("{}.{stamp}.{n}", self.path.display()));
            n += 1;
        }
        let backoff = |e: io::Error, this: &mut FileDestination| {
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

impl Destination for FileDestination {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.file.write(bytes)?;
        self.size += n as u64;
        Ok(n)
    }

    /// Removes the last `piece` bytes of the file (a piece of a line that a
    /// failed write left), unless another process appended after them.
    fn cut_back(&mut self, piece: usize) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        // In append mode the position is the end of this process's own
        // last write. If the file is longer, another process appended after
        // the piece: cutting would take its bytes, so the piece is finished
        // instead (the logger's other path).
        let end = self.file.stream_position()?;
        if end != len {
            return Err(io::Error::other(format!(
                "another writer appended after the piece (file {len} bytes, ours end at {end})"
            )));
        }
        let to = len
            .checked_sub(piece as u64)
            .ok_or_else(|| io::Error::other(format!("the file holds {len} bytes, fewer than the {piece} to cut")))?;
        self.file.set_len(to)?;
        self.size = to;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn rotation_due(&mut self, held: u64, next: usize) -> bool {
        self.due_at = self.due(held, next);
        self.due_at.is_some()
    }

    fn rotate(&mut self) -> io::Result<()> {
        let now = match self.due_at.take() {
            Some(t) => t,
            None => self.clock.now(),
        };
        self.rotate_at(now)
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
