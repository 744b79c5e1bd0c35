//! What a full queue does: [`Backpressure`], one type for both front ends,
//! the store's bounded queue (`engine::queue`) and the logger's per-thread
//! queues (`log`). It depends on nothing else in the crate.

use std::time::Duration;

/// What a caller does when its queue is full: a write to a
/// [`Store`](crate::Store) ([`Builder::backpressure`](crate::Builder::backpressure))
/// or a log call to a [`Logger`](crate::log::Logger)
/// ([`log::Builder::backpressure`](crate::log::Builder::backpressure)).
///
/// The two differ in what becomes of what is not queued: a store hands the
/// write back in its error, so the caller still holds it and nothing
/// accepted is ever lost; a log call returns nothing, so the logger drops
/// the line, counts it in [`LogStats::dropped`](crate::log::LogStats::dropped)
/// and, once there is room, writes a line that says how many were dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backpressure {
    /// Wait for room (the default). Survives any burst, at the callers'
    /// expense: they slow down to the pace of the sink or of the disk.
    ///
    /// Store: lossless; no write is refused while the store is open.
    /// Logger: lossless; the caller yields its core until the worker makes
    /// room. (A logger whose worker panicked makes no room: the line is
    /// then dropped and counted, see
    /// [`LogError::Poisoned`](crate::log::LogError::Poisoned).)
    #[default]
    Block,
    /// Wait for room at most this long. Survives bursts that the consumer
    /// catches up with within the wait; a caller never waits much longer
    /// than that for a slow sink or disk.
    ///
    /// Store: then the write is refused with
    /// [`Error::Timeout`](crate::Error::Timeout), the write handed back.
    /// Lossless too: a refused write was never accepted, and the caller
    /// holds it. `Timeout(Duration::ZERO)` is refused by the store's
    /// `build` (use `DropNewest`).
    /// Logger: then the line is dropped and counted, as with `DropNewest`.
    /// `Timeout(Duration::ZERO)` is `DropNewest`.
    Timeout(Duration),
    /// Never wait. Survives nothing beyond what the queue holds: a caller
    /// that finds it full loses its turn.
    ///
    /// Store: the write is refused with
    /// [`Error::QueueFull`](crate::Error::QueueFull), the write handed back,
    /// and counted in [`Stats::dropped`](crate::Stats::dropped).
    /// Logger: the line is dropped and counted.
    DropNewest,
}
