//! State shared by the store handles, the journal thread and the worker.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use super::overlay::Overlay;
use super::queue::Queue;
use super::ticket::Progress;
use crate::stats::Counters;

/// State shared by the store handles and the worker.
pub(crate) struct Shared {
    pub(crate) progress: Arc<Progress>,
    pub(crate) queue: Queue,
    pub(crate) overlay: Overlay,
    pub(crate) counters: Counters,
    /// Set by `close`: the last `Seq` the worker must process before it stops.
    pub(crate) close_target: AtomicU64,
    /// The `Seq` of the newest `execute` (which may touch keyed data).
    pub(crate) last_exec: AtomicU64,
    /// Set when a close deadline passed: the worker stops trying the sink.
    /// Without a journal it gives up what is left (dead-letter file,
    /// `Error::GaveUp`); with one it stops and the journal keeps it.
    pub(crate) abandon: AtomicBool,
    /// For a sink whose checkpoint is local (`Checkpoint::Local`): the
    /// checkpoint last saved in the journal's directory. The journal deletes
    /// a segment once this passes it, not the watermark (which runs ahead
    /// of the saved checkpoint): a segment deleted before a saved checkpoint
    /// covers it would let a crash restart the seqs below writes already
    /// delivered, giving their idempotency keys to new writes.
    pub(crate) checkpointed: Option<AtomicU64>,
}
