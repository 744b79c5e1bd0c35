//! The engine under every front end: admission (the bounded queue and its
//! backpressure), intake (records back in `Seq` order), the journal thread,
//! the worker that owns the sink, tickets and the watermark, and the overlay
//! that serves read-your-writes. Imports point down: the front ends
//! (`store`, `log`) use the engine; the engine uses the write vocabulary,
//! the sinks, the journal's format and storage, and the dead-letter file.

pub(crate) mod intake;
pub(crate) mod journal_writer;
pub(crate) mod overlay;
pub(crate) mod queue;
pub(crate) mod reads;
pub(crate) mod shared;
pub(crate) mod submit;
pub(crate) mod ticket;
pub(crate) mod worker;
