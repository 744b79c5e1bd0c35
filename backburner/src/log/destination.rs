//! What the log worker writes into: the [`Destination`] trait. The line
//! handling (`sink.rs`: the buffer, whole lines after a short write, the
//! gate, the counts) drives it; the file (`file.rs`), standard output and
//! error (`stdio.rs`) and a user's own destination implement it. Uses
//! nothing else of the logger.

use std::io;

/// Where a logger's lines go: a byte stream the log worker hands whole lines
/// to, in blocks of up to about 64 KiB (never one call per line). Give one
/// to [`Builder::destination`](crate::log::Builder::destination); the
/// file, standard output and standard error are destinations too.
///
/// All calls come from the logger's worker thread, one at a time. Every
/// call but [`rotation_due`](Destination::rotation_due) (which only
/// decides) is made under a lock that the end of the process takes and
/// keeps once the call under way returns (see "Whole lines" in the
/// [module docs](crate::log)), so no write is under way when the process
/// ends and none starts after. A call that blocks holds up the worker
/// (the rings fill, and [`Backpressure`](crate::log::Backpressure) decides
/// what callers do), and a drain at the end of the process waits for it.
/// The logger makes these guarantees whatever the destination does:
///
/// * **Whole lines.** If [`write`](Destination::write) takes fewer bytes
///   than it was given, the logger calls it again with the rest. If it
///   fails after part of a line went out, the logger asks
///   [`cut_back`](Destination::cut_back) to remove that piece; if the
///   destination cannot, the logger keeps the rest of the line and writes
///   it before anything else at its next hand-over, so nothing is glued to
///   the piece. The lines after it are lost (counted, see below); the
///   logger does not retry them.
/// * **Counted.** A line counts in [`LogStats::written`] once every byte of
///   it was taken by `write`, and in [`LogStats::write_errors`] if it was
///   lost. The first error's message is kept; the next
///   [`Logger::flush`], [`Logger::sync`] or [`Guard::flush`] returns it as
///   [`LogError::Write`], and the drains at the end of the process print
///   it on standard error.
/// * **Rotation between lines.** A destination that splits its output
///   into parts (the file, rotated by size or time) says so in
///   [`rotation_due`](Destination::rotation_due); the logger then hands
///   over the lines before, and calls [`rotate`](Destination::rotate)
///   before the line, so no line is split across parts.
///
/// Only [`write`](Destination::write) must be written; the other methods
/// have defaults for a destination that cannot cut back, has nothing to
/// flush or sync, and does not rotate.
///
/// `Ok` from a method does not promise that the bytes are durable, or
/// even out of the process: `write` means the destination took them (as
/// [`std::io::Write::write`] does), and only [`sync`](Destination::sync),
/// as the destination implements it, can mean more.
///
/// # Errors
///
/// An error from [`write`](Destination::write) loses the lines of that
/// hand-over that had not gone out whole, and is reported as above; one
/// from [`flush`](Destination::flush) or [`sync`](Destination::sync) loses
/// no line (`write` took them) and is reported the same way. An error from
/// [`cut_back`](Destination::cut_back) only makes the logger finish the cut
/// line instead; an error from [`rotate`](Destination::rotate) loses
/// nothing (the lines go on to the current part) and is reported as a
/// write error of 0 lines, "log rotation failed: …".
/// [`std::io::ErrorKind::Interrupted`] from `write` is retried.
///
/// # Panics
///
/// A panic in a method is a panic of the log worker: it latches the logger
/// ([`LogError::Poisoned`]); the lines not yet written are lost.
///
/// # Examples
///
/// A destination that collects the lines in memory:
///
/// ```
/// use std::io;
/// use std::sync::{Arc, Mutex};
/// use backburner::log::{Destination, Logger};
///
/// struct Collect(Arc<Mutex<Vec<u8>>>);
///
/// impl Destination for Collect {
///     fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
///         let mut v = self.0.lock().map_err(|_| io::Error::other("a reader panicked"))?;
///         v.extend_from_slice(bytes);
///         Ok(bytes.len())
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let lines = Arc::new(Mutex::new(Vec::new()));
/// let log = Logger::builder().destination(Collect(Arc::clone(&lines))).build()?;
/// backburner::info!(log, "order {} filled", 42u64);
/// log.flush()?; // every line logged before is in `lines`, whole
/// let text = String::from_utf8(lines.lock().map_err(|_| "poisoned")?.clone())?;
/// assert!(text.ends_with(" order 42 filled\n"), "{text}");
/// # Ok(())
/// # }
/// ```
///
/// [`LogStats::written`]: crate::log::LogStats::written
/// [`LogStats::write_errors`]: crate::log::LogStats::write_errors
/// [`Logger::flush`]: crate::log::Logger::flush
/// [`Logger::sync`]: crate::log::Logger::sync
/// [`Guard::flush`]: crate::log::Guard::flush
/// [`LogError::Write`]: crate::log::LogError::Write
/// [`LogError::Poisoned`]: crate::log::LogError::Poisoned
pub trait Destination: Send + 'static {
    /// Takes some of `bytes`, as [`std::io::Write::write`] does, and returns
    /// how many. The logger calls again with the rest until all are taken;
    /// `Ok(0)` for a non-empty `bytes` is taken as an error
    /// ([`std::io::ErrorKind::WriteZero`]).
    ///
    /// `Ok(n)` does not promise that the `n` bytes are durable.
    ///
    /// # Errors
    ///
    /// Any I/O error: the lines not yet taken whole are lost (see the
    /// trait's docs for the piece of a line taken before the error).
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize>;

    /// Called once every byte of a hand-over was taken: passes on what the
    /// destination buffers (standard output flushes its `LineWriter`).
    /// Default: nothing to do.
    ///
    /// `Ok` does not promise that the bytes are durable.
    ///
    /// # Errors
    ///
    /// Any I/O error, reported as a write error; the hand-over's lines,
    /// already taken by `write`, count as written.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Removes the last `piece` bytes taken by [`write`](Destination::write):
    /// the start of a line whose end did not go out, so that the next line
    /// starts on a line of its own. Default: cannot (an
    /// [`std::io::ErrorKind::Unsupported`] error), and the logger finishes
    /// the line instead.
    ///
    /// `Ok` must mean the piece is gone: the logger then writes the next
    /// line right after the last whole one.
    ///
    /// # Errors
    ///
    /// When the piece cannot be removed (a stream, a pipe; a file that
    /// another process appended to since). The logger then writes the rest
    /// of the line first, at the next hand-over.
    fn cut_back(&mut self, piece: usize) -> io::Result<()> {
        let _ = piece;
        Err(io::Error::new(io::ErrorKind::Unsupported, "this log destination cannot cut back"))
    }

    /// Makes what was written durable ([`Logger::sync`], and the worker's
    /// stop). Default: nothing to do.
    ///
    /// `Ok` promises what the destination makes of it: the file syncs its
    /// data (`fdatasync`); standard output and error do nothing.
    ///
    /// # Errors
    ///
    /// Any I/O error, reported as a write error.
    ///
    /// [`Logger::sync`]: crate::log::Logger::sync
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Whether the destination wants a new part ([`rotate`](Destination::rotate))
    /// before the next `next` bytes, which come after `held` bytes that the
    /// logger holds for it and has not written yet. `next` is one line, or
    /// a block of whole lines; for a block the logger asks again before
    /// each of its lines, and calls `rotate` only before a line. Called for
    /// every line: keep it cheap. Default: never.
    fn rotation_due(&mut self, held: u64, next: usize) -> bool {
        let _ = (held, next);
        false
    }

    /// Starts a new part (the file renames itself and opens a new one),
    /// after the logger has written the lines before it, and only if that
    /// write succeeded; counted in [`LogStats::rotations`]. Default:
    /// nothing to do.
    ///
    /// `Ok` does not promise that anything was written to the new part.
    ///
    /// # Errors
    ///
    /// When the new part cannot be started: nothing is lost, the lines go
    /// on to the current part, and the error is reported as a write error
    /// of 0 lines ("log rotation failed: …"). The logger asks again before
    /// a later line.
    ///
    /// [`LogStats::rotations`]: crate::log::LogStats::rotations
    fn rotate(&mut self) -> io::Result<()> {
        Ok(())
    }
}
