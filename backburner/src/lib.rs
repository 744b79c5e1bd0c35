//! # backburner
//!
//! Fire-and-forget writes that can neither race nor be lost.
//!
//! A [`Store`] takes a write (`put`, `delete`, `execute`) and returns at once
//! with a [`Ticket`]: the caller's cost is an enqueue. A worker thread
//! batches the writes into the sink (SQLite by default), one transaction
//! per batch. Two classic failures of fire-and-forget are gone:
//!
//! * **the race**: every read through the store ([`Store::get`],
//!   [`Store::query`]) sees every write made through it before the read
//!   (read-your-writes), through an in-memory overlay of pending keyed
//!   writes and by waiting for pending statements;
//! * **the loss**: nothing accepted is dropped. The queue blocks when full by
//!   default ([`Backpressure::Block`]); `close` and the drop of the last
//!   handle drain every accepted write; a write the sink rejects for good
//!   fails its ticket and is saved to a dead-letter file.
//!
//! ## Quickstart
//!
//! ```
//! use backburner::{params, Store};
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("sqlite://{}/app.db", dir.path().display());
//! let store = Store::open(&url)?;                 // e.g. "sqlite://data/app.db"
//! store.put("user:42", "Ada")?;                   // returns at once
//! assert_eq!(store.get("user:42")?.as_deref(), Some(&b"Ada"[..]));
//!
//! store.execute("CREATE TABLE IF NOT EXISTS events(user_id INTEGER, kind TEXT)", [])?;
//! let ticket = store.execute("INSERT INTO events VALUES (?1, ?2)", params![42, "login"])?;
//! ticket.wait()?;                                 // committed in SQLite
//! let rows = store.query("SELECT count(*) FROM events", [])?;
//! assert_eq!(rows[0][0].as_i64(), Some(1));
//! store.close()?;                                 // drain, stop, report errors
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Threads and async
//!
//! Every call works from plain threads and from async code, under any
//! executor: the futures are woken by the store's own threads. One rule
//! names them: a call that can wait has an `_async` twin that returns a
//! future instead of blocking the thread, and documents what a dropped
//! future leaves behind (`# Cancel safety`):
//!
//! | blocks the thread | awaits |
//! |---|---|
//! | [`Ticket::wait`] | `ticket.await` ([`Ticket`] is `IntoFuture`) |
//! | [`Ticket::wait_journaled`] | [`Ticket::wait_journaled_async`] |
//! | `put`/`delete`/`execute` into a full queue ([`Backpressure::Block`]) | [`Store::reserve_async`], then [`Permit::put`] (never waits) |
//! | [`Store::flush`] | [`Store::flush_async`] |
//! | [`Store::close`] | [`Store::close_async`] |
//! | [`Store::close_timeout`] | [`Store::close_timeout_async`] |
//! | [`Store::open`], [`Builder::build`] (a journal's replay) | [`Store::open_async`], [`Builder::build_async`] |
//! | [`Store::get`] | [`Store::get_async`] (a committed key is read on the store's reader threads) |
//! | [`Store::query`] | [`Store::query_async`] (run on the store's reader threads) |
//! | [`Store::query_map`] | [`Store::query_map_async`] (the statement runs on the reader threads; the closure maps the rows in the awaiting task) |
//! | [`log::Logger::flush`] | [`log::Logger::flush_async`] |
//! | [`log::Logger::sync`] | [`log::Logger::sync_async`] |
//!
//! Drops never block an executor: the last [`Store`] handle, a
//! [`log::Guard`] or the last [`log::Logger`] clone dropped inside a tokio
//! runtime (feature `tokio`, on by default) hand their drain to a thread of
//! their own and return; an exit handler waits for it before the process
//! ends (see [`Store`], "Dropping the last handle"). Under another runtime
//! they drain in place: `close_async().await` first.
//!
//! Still blocking (keep them off an executor's threads): a write without a
//! permit into a full queue under [`Backpressure::Block`] (use
//! [`Store::reserve_async`]), and a log call into a full ring under the
//! logger's `Backpressure::Block`.
//!
//! See `docs/design.md` in the repository for the design and its guarantees.

mod backpressure;
pub mod dead_letter;
mod drain;
mod engine;
mod error;
pub mod journal;
pub mod log;
mod outcome;
mod row;
pub mod sink;
mod stats;
mod store;
mod sync;
mod thread;
mod time;
mod value;
mod wakers;
mod write;

pub use backpressure::Backpressure;
pub use engine::ticket::{JournaledFuture, Ticket, TicketFuture};
pub use error::{Error, Result};
pub use journal::{Fsync, RecoveryMode};
pub use outcome::{Executed, Outcome, TicketOutput};
pub use row::{FromSql, FromSqlError, Row};
pub use sink::{ApplyError, Batch, Checkpoint, Outcomes, Resume, Sink, SinkError, SinkReader};
pub use stats::Stats;
pub use store::{Builder, Durability, Permit, Store, MAX_WRITE};
pub use value::{params_from_iter, IntoParams, Param, ParamError, ParamsFromIter, SqlValue, Value};
pub use write::{KeyValue, Seq, Statement, Write};
