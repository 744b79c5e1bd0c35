//! Where lines go: a file (rotated by size and/or time, with retention), or
//! standard output / error.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
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
    file: BufWriter<File>,
    size: u64,
    max_bytes: Option<u64>,
    period: Option<Period>,
    period_end: Option<SystemTime>,
    keep: Option<usize>,
    clock: Arc<dyn Clock>,
    pub(crate) rotations: u64,
    gzip: bool,
}

fn open_append(path: &PathBuf) -> io::Result<(BufWriter<File>, u64)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    let size = f.metadata()?.len();
    Ok((BufWriter::with_capacity(64 << 10, f), size))
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
        Ok(FileSink { path, file, size, max_bytes, period, period_end, keep, clock, rotations: 0, gzip })
    }

    /// Writes one whole line, rotating first if it is time.
    pub(crate) fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let by_size = self.max_bytes.is_some_and(|m| self.size > 0 && self.size + line.len() as u64 > m);
        let now = if self.period.is_some() { Some(self.clock.now()) } else { None };
        let by_time = matches!((now, self.period_end), (Some(n), Some(e)) if n >= e);
        if by_size || by_time {
            self.rotate(now.unwrap_or_else(|| self.clock.now()))?;
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()
    }

    fn rotate(&mut self, now: SystemTime) -> io::Result<()> {
        self.file.flush()?;
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
        std::fs::rename(&self.path, &target)?;
        if self.gzip {
            // Retention runs after compression, so a file is never deleted
            // while it is being compressed.
            compress_in_background(target, self.path.clone(), self.keep);
        }
        let (file, size) = open_append(&self.path)?;
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
            let mut enc = flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::default());
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

pub(crate) enum Sink {
    File(FileSink),
    Stdout(BufWriter<io::Stdout>),
    Stderr(io::Stderr),
}

impl Sink {
    pub(crate) fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            Sink::File(f) => f.write_line(line),
            Sink::Stdout(s) => s.write_all(line),
            Sink::Stderr(s) => s.write_all(line),
        }
    }
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Stdout(s) => s.flush(),
            Sink::Stderr(s) => s.flush(),
        }
    }
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.sync(),
            other => other.flush(),
        }
    }
    pub(crate) fn rotations(&self) -> u64 {
        match self {
            Sink::File(f) => f.rotations,
            _ => 0,
        }
    }
}
