//! The worker's line handling, the same for every [`Destination`]: the
//! 64 KiB line buffer, hand-overs under the gate, whole lines after a
//! write cut short (cut back, or the rest of the line finished first),
//! rotation between lines, and the count of what was written or lost.

use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use super::destination::Destination;

/// Hands `bytes` to `dest`, in as many `write` calls as it takes, then
/// flushes it; returns how many bytes it took, and the error that stopped
/// it (a write the kernel cuts short, on a full disk, is followed by one
/// that fails).
fn write_all(dest: &mut dyn Destination, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < bytes.len() {
        match dest.write(&bytes[done..]) {
            Ok(0) => {
                return (done, Err(io::Error::new(io::ErrorKind::WriteZero, "the destination took no more bytes")))
            }
            // More than it was given: a destination's bug, taken as all.
            Ok(n) => done = (done + n).min(bytes.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Err(e)),
        }
    }
    if let Err(e) = dest.flush() {
        return (done, Err(e));
    }
    (done, Ok(()))
}

/// Hands `bytes`, `lines` whole lines, to `dest` under `gate`, after
/// `rest` (the end of a line whose start is already out) if there is one.
///
/// Lines reach the destination whole or not at all. When a write fails
/// after part of `bytes` went out (a disk that fills up), the lines that
/// went out whole count as written and the piece of the next one is cut
/// back (`Destination::cut_back`); if it cannot be, the rest of that line
/// is kept in `rest`, to be written before anything else, so that the line
/// is finished and nothing is glued to its piece. The other lines count as
/// lost.
fn hand_over(dest: &mut dyn Destination, gate: &Mutex<()>, rest: &mut Vec<u8>, bytes: &[u8], lines: u64) -> Wrote {
    let _gate = gate.lock();
    let mut w = Wrote::default();
    if !rest.is_empty() {
        let (n, r) = write_all(dest, rest);
        rest.drain(..n);
        match r {
            Ok(()) => w.lines += 1,
            // The line is still unfinished: nothing may follow it.
            Err(e) => return Wrote { lines: 0, lost: lines, error: Some(e) },
        }
    }
    let (n, r) = write_all(dest, bytes);
    let Err(e) = r else {
        w.lines += lines;
        return w;
    };
    let whole = bytes[..n].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let done = bytes[..whole].iter().filter(|&&b| b == b'\n').count() as u64;
    let mut unfinished = 0;
    if n > whole && dest.cut_back(n - whole).is_err() {
        let end = bytes[n..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| n + i + 1);
        rest.extend_from_slice(&bytes[n..end]);
        unfinished = 1;
    }
    w.lines += done;
    w.lost += lines.saturating_sub(done + unfinished);
    w.error = Some(e);
    w
}

/// A destination with its write buffer: the worker formats each line at
/// the end of the buffer (no copy), and the buffer goes to the destination
/// in 64 KiB hand-overs, when the rings are empty, and before a rotation
/// (which happens between lines, so no line is ever split across files).
pub(crate) struct Sink {
    dest: Box<dyn Destination>,
    buf: String,
    /// Lines in `buf`.
    lines: u64,
    /// The end of a line whose start is in the destination (a write cut
    /// short that could not be cut back): written before anything else.
    rest: Vec<u8>,
    /// Held for each hand-over to the destination (one per buffer, not per
    /// line: uncontended). The end of the process takes it and keeps it
    /// (see `exit::end`), so that no write is in flight when the process
    /// ends (the kernel cuts a write short when the process is killed
    /// during it) and none starts after.
    gate: Arc<Mutex<()>>,
    /// Rotations that succeeded.
    rotations: u64,
}

/// Lines handed to the destination, or lost to a write error, by one call.
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
    pub(crate) fn new(dest: Box<dyn Destination>) -> Sink {
        Sink {
            dest,
            buf: String::with_capacity(BUF + 4096),
            lines: 0,
            rest: Vec::new(),
            gate: Arc::new(Mutex::new(())),
            rotations: 0,
        }
    }

    /// The lock held for each write to the destination.
    pub(crate) fn gate(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.gate)
    }

    /// The buffer, to format one line at its end; then call [`Sink::commit`]
    /// with the length it had before.
    pub(crate) fn buf(&mut self) -> &mut String {
        &mut self.buf
    }

    /// Bytes held for the destination and not written yet, before
    /// `buf[upto..]`: the buffer's lines, and the rest of a cut line.
    fn held(&self, upto: usize) -> u64 {
        (upto + self.rest.len()) as u64
    }

    /// Takes whole lines formatted elsewhere: `text`, whose lines end at
    /// `ends`. In one copy when no rotation falls inside them, else line by
    /// line (a rotation happens between lines).
    pub(crate) fn append_lines(&mut self, text: &str, ends: &[usize]) -> Wrote {
        let held = self.held(self.buf.len());
        if self.dest.rotation_due(held, text.len()) {
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
            self.buf.push_str(text);
            self.lines += ends.len() as u64;
            return if self.buf.len() >= BUF { self.flush_buf() } else { Wrote::default() };
        }
        // A large block: what the buffer holds, then the block itself,
        // without copying it into the buffer first.
        let mut w = self.flush_buf();
        w.add(hand_over(&mut *self.dest, &self.gate, &mut self.rest, text.as_bytes(), ends.len() as u64));
        w
    }

    /// Takes the line formatted at `buf[start..]`, rotating first if due.
    pub(crate) fn commit(&mut self, start: usize) -> Wrote {
        let len = self.buf.len() - start;
        let mut w = Wrote::default();
        let held = self.held(start);
        if self.dest.rotation_due(held, len) {
            // The lines before this one go to the old file.
            w = self.hand_over_buf(start);
            // Not after a failed write (the file may end inside a line).
            // A failed rotation loses nothing: lines stay on the current file.
            if w.error.is_none() {
                // Under the gate: a destination's rotation may write.
                let rotated = {
                    let _gate = self.gate.lock();
                    self.dest.rotate()
                };
                match rotated {
                    Ok(()) => self.rotations += 1,
                    Err(e) => w.error = Some(io::Error::new(e.kind(), format!("log rotation failed: {e}"))),
                }
            }
        }
        self.lines += 1;
        if self.buf.len() >= BUF {
            w.add(self.flush_buf());
        }
        w
    }

    /// Hands the first `upto` bytes of the buffer (all its lines, or all but
    /// the last one when a rotation comes before it) to the destination,
    /// and drops them.
    fn hand_over_buf(&mut self, upto: usize) -> Wrote {
        let w = hand_over(&mut *self.dest, &self.gate, &mut self.rest, &self.buf.as_bytes()[..upto], self.lines);
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

    /// Hands the buffer to the destination.
    pub(crate) fn flush(&mut self) -> Wrote {
        self.flush_buf()
    }

    /// Hands the buffer to the destination and syncs it.
    pub(crate) fn sync(&mut self) -> Wrote {
        let mut w = self.flush_buf();
        // Under the gate: a destination's sync may write.
        let synced = {
            let _gate = self.gate.lock();
            self.dest.sync()
        };
        if let Err(e) = synced {
            w.error = w.error.or(Some(e));
        }
        w
    }

    /// Rotations that succeeded.
    pub(crate) fn rotations(&self) -> u64 {
        self.rotations
    }
}
