//! `Store`: the public front end over the queue, the overlay and the worker.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::backpressure::Backpressure;
use crate::engine::intake::Intake;
use crate::engine::journal_writer::{Limits, Writer};
use crate::engine::overlay::{Lookup, Overlay};
use crate::engine::queue::Queue;
use crate::engine::shared::Shared;
use crate::engine::submit::Room;
use crate::engine::ticket::{Progress, Ticket, CLOSING, OPEN};
use crate::engine::worker::{Chunk, Config, Feed, Source, Worker};
use crate::error::{Error, Result};
use crate::journal::checkpoint::LocalCheckpoint;
use crate::journal::recovery::{recover, Recovered};
use crate::journal::{FsStorage, Fsync, JournalConfig, RecoveryMode, Storage};
use crate::outcome::Executed;
use crate::row::{map_rows, Row};
use crate::sink::{Checkpoint, Sink, SinkReader, DEFAULT_WRITER};
use crate::stats::{Counters, Stats};
use crate::value::{IntoParams, KvBuf, ParamError, SqlValue, Value};
use crate::write::{KeyValue, Record, Write, MAX_SEQ};
use crate::Seq;

/// What an accepted write survives before it is committed in the sink.
///
/// "Committed" means applied in the sink and visible to its readers. What a
/// commit survives is the sink's business: with SQLite in WAL mode and
/// `synchronous=normal` (the default) a commit survives a crash of the
/// process but the last commits may be lost on power loss; with
/// `?synchronous=full` it survives a power loss too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Accepted writes live in memory until their batch commits. They survive
    /// `close`, the drop of the last handle, and a panic that unwinds through
    /// it; they are lost if the process is killed or aborts before the commit.
    #[default]
    Memory,
    /// Accepted writes go to a local journal first ([`Builder::journal`],
    /// by default `<db>.journal/` beside the database) and are replayed on
    /// open after the sink's last applied `Seq`: a write whose ticket says
    /// journaled ([`Ticket::wait_journaled`](crate::Ticket::wait_journaled))
    /// survives `kill -9` at any instant and is applied exactly once. What it
    /// survives beyond that is the [`Fsync`] policy's. While the sink is
    /// down, writes keep landing in the journal and the worker retries with
    /// backoff without giving up.
    Journal {
        /// When the journal syncs.
        fsync: Fsync,
    },
}

/// Configures and opens a [`Store`]; see [`Store::builder`].
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder {
    url: String,
    sink: Option<Box<dyn Sink>>,
    capacity: usize,
    cfg: Config,
    backpressure: Backpressure,
    durability: Durability,
    dead_letter: Option<Option<PathBuf>>,
    journal_dir: Option<PathBuf>,
    journal_storage: Option<Arc<dyn Storage>>,
    segment_bytes: u64,
    journal_max_bytes: u64,
    recovery: RecoveryMode,
    drain_timeout: Duration,
    writer: Option<String>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("url", &self.url)
            .field("capacity", &self.capacity)
            .field("config", &self.cfg)
            .field("backpressure", &self.backpressure)
            .field("durability", &self.durability)
            .finish()
    }
}

impl Builder {
    fn new(url: &str) -> Builder {
        Builder {
            url: url.to_string(),
            sink: None,
            capacity: 65_536,
            cfg: Config {
                batch_max: 10_000,
                linger: Duration::from_millis(5),
                max_retries: u32::MAX,
                backoff_base: Duration::from_millis(10),
                backoff_max: Duration::from_secs(1),
                dead_letter: None,
                writer: String::new(),
                epoch: 0,
            },
            backpressure: Backpressure::Block,
            durability: Durability::Memory,
            dead_letter: None,
            journal_dir: None,
            journal_storage: None,
            segment_bytes: 64 << 20,
            journal_max_bytes: 1 << 30,
            recovery: RecoveryMode::Strict,
            drain_timeout: Duration::from_secs(10),
            writer: None,
        }
    }

    /// The writer id of this store (default `default`, or the URL's
    /// `?writer=NAME`): the sink keeps one checkpoint per writer, so several
    /// stores (app instances, each with its own journal) can write into one
    /// database and each replays exactly its own writes. Opening a writer
    /// fences the store that had it before ([`Error::Fenced`]): give each
    /// running instance its own id. 1 to 200 ASCII letters, digits, `.`, `_`
    /// or `-` (an id names files: a writer other than `default` has its own
    /// default journal, `<db>.<writer>.journal/`, and dead-letter file).
    pub fn writer(mut self, id: impl Into<String>) -> Builder {
        self.writer = Some(id.into());
        self
    }

    /// Writes held in the queue at most (default 65,536); see [`Backpressure`].
    /// Writes admitted with a permit ([`Store::reserve_async`]) have room of
    /// their own, as many again.
    pub fn capacity(mut self, n: usize) -> Builder {
        self.capacity = n;
        self
    }

    /// The most writes in one batch, one transaction (default 10,000).
    pub fn batch_max(mut self, n: usize) -> Builder {
        self.cfg.batch_max = n;
        self
    }

    /// How long the worker waits for a batch to fill before it commits a
    /// partial one (default 5 ms). A waiting ticket, `flush`, `query` or a
    /// full queue cut it short.
    pub fn linger(mut self, d: Duration) -> Builder {
        self.cfg.linger = d;
        self
    }

    /// What a write does when the queue is full (default [`Backpressure::Block`]).
    pub fn backpressure(mut self, b: Backpressure) -> Builder {
        self.backpressure = b;
        self
    }

    /// What accepted writes survive (default [`Durability::Memory`]).
    pub fn durability(mut self, d: Durability) -> Builder {
        self.durability = d;
        self
    }

    /// How a batch that fails for a transient reason (the database locked
    /// or down, its disk full) is tried again: with a backoff of `base`,
    /// doubled at each try, at most `max` (default 10 ms, 1 s), and by
    /// default for as long as the store is open (`max_retries` =
    /// `u32::MAX`): an outage is not a reason to give up a write, and
    /// producers feel it through the queue's [`Backpressure`].
    ///
    /// A smaller `max_retries` is a retry budget: a batch still failing
    /// after it is given up, its writes saved to the dead-letter file and
    /// their tickets failed with [`Error::GaveUp`] (not
    /// [`Error::Rejected`]: the sink did not refuse them). With a journal
    /// the budget is ignored: the journal holds the writes, so the worker
    /// never gives up on them.
    pub fn retries(mut self, max_retries: u32, base: Duration, max: Duration) -> Builder {
        self.cfg.max_retries = max_retries;
        self.cfg.backoff_base = base;
        self.cfg.backoff_max = max;
        self
    }

    /// How long the drop of the last handle waits for a sink that makes no
    /// progress before it gives up (default 10 s; a long drain into a
    /// working sink runs to its end): after that long without a commit it saves
    /// what is left to the dead-letter file with [`Error::GaveUp`] (with a
    /// journal: leaves it in the journal, for the next open) and says so on
    /// standard error. [`Store::close`] waits as long as it takes;
    /// [`Store::close_timeout`] takes its own deadline.
    pub fn drain_timeout(mut self, d: Duration) -> Builder {
        self.drain_timeout = d;
        self
    }

    /// Where rejected writes are saved, as JSON lines; `None` to not save
    /// them. Default: beside the database, `<db>.dead-letter.jsonl`
    /// (`<db>.<writer>.dead-letter.jsonl` for a writer other than `default`).
    pub fn dead_letter(mut self, path: Option<PathBuf>) -> Builder {
        self.dead_letter = Some(path);
        self
    }

    /// The journal's directory (with [`Durability::Journal`]); default
    /// `<db>.journal/` beside a SQLite database (`<db>.<writer>.journal/`
    /// for a writer other than `default`). A journal holds one writer's
    /// writes and opens only as that writer (its `WRITER` file names it).
    pub fn journal(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.journal_dir = Some(dir.into());
        self
    }

    /// Journal files through `storage` instead of a directory: for tests
    /// that inject faults ([`journal::fault`](crate::journal::fault)).
    pub fn journal_storage(mut self, storage: Arc<dyn Storage>) -> Builder {
        self.journal_storage = Some(storage);
        self
    }

    /// Journal segment size (default 64 MiB, reserved on disk when a segment
    /// is created) and the journal's cap (default 1 GiB): at the cap the
    /// journal stops taking writes until the sink catches up, and the queue's
    /// [`Backpressure`] applies. Nothing is dropped.
    pub fn journal_limits(mut self, segment_bytes: u64, max_bytes: u64) -> Builder {
        self.segment_bytes = segment_bytes;
        self.journal_max_bytes = max_bytes;
        self
    }

    /// What recovery does with a corrupt journal (default [`RecoveryMode::Strict`]).
    pub fn recovery(mut self, mode: RecoveryMode) -> Builder {
        self.recovery = mode;
        self
    }

    /// Uses `sink` instead of the one the URL names (the URL is then only a label).
    pub fn sink(mut self, sink: impl Sink) -> Builder {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Opens the sink, resumes after its last applied `Seq`, and starts the worker.
    ///
    /// If a store of this process with the same URL (options aside) is
    /// still closing in the background (its last handle was dropped inside
    /// an async runtime, see [`Store`]), the open first waits for that
    /// close to end, for at most the drain timeout, so that a store dropped
    /// and opened again finds its writes committed and its journal free.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] or [`Error::InvalidOption`] naming what is wrong,
    /// [`Error::Sink`] when the sink cannot be opened.
    pub fn build(self) -> Result<Store> {
        // A store of this process still closing in the background (its last
        // handle dropped on an executor thread) may hold the journal's lock
        // and the writer: `drop(store); Store::open(url)` must find its
        // writes committed and the journal free, as it does when the drop
        // drains in place.
        let close_key = crate::drain::close_key(&self.url);
        crate::drain::wait_for_background_closes(&close_key, self.drain_timeout);
        let opened = self.open()?;
        let recovered = opened.recover()?;
        opened.spawn(recovered, close_key)
    }

    /// The async form of [`build`](Builder::build): the open (the sink's
    /// connection, the journal's replay, which can take a while) runs on a
    /// thread of its own, "backburner-open", and the future resolves when
    /// it is done, under any executor.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not stop the open: it runs to its end on
    /// its thread, and the store it opened is then dropped, which closes it
    /// (its replayed writes drained, the journal's lock released) as the
    /// drop of a last handle does. An open started meanwhile may find the
    /// journal still locked ([`Error::Locked`]).
    ///
    /// # Errors
    ///
    /// As [`build`](Builder::build); [`Error::Sink`] if the open thread
    /// could not start or panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}/app.db", dir.path().display());
    /// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// # rt.block_on(async {
    /// let store = backburner::Store::builder(&url).capacity(4096).build_async().await?;
    /// store.put("k", "v")?.await?;
    /// store.close_async().await?;
    /// # Ok::<(), backburner::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn build_async(self) -> Result<Store> {
        // A store opened for a future that is gone is dropped, which closes it.
        match crate::engine::reads::on_thread("backburner-open", move || self.build(), drop).await {
            Some(r) => r,
            None => Err(Error::Sink(crate::SinkError::new(
                "the store could not be opened: the open thread could not start or panicked",
            ))),
        }
    }

    /// Checks the options, opens the sink and the journal's directory (and
    /// its lock), and reads the sink's last applied `Seq`.
    fn open(self) -> Result<Opened> {
        let Builder {
            url,
            sink,
            capacity,
            mut cfg,
            backpressure,
            durability,
            dead_letter,
            journal_dir,
            journal_storage,
            segment_bytes,
            journal_max_bytes,
            recovery,
            drain_timeout,
            writer,
        } = self;
        let invalid = |name: &'static str, reason: &str| Err(Error::InvalidOption { name, reason: reason.into() });
        if capacity == 0 {
            return invalid("capacity", "must be at least 1");
        }
        if cfg.batch_max == 0 {
            return invalid("batch_max", "must be at least 1");
        }
        if cfg.batch_max > u32::MAX as usize / 2 {
            return invalid("batch_max", "must be below 2^31");
        }
        if backpressure == Backpressure::Timeout(Duration::ZERO) {
            return invalid("backpressure", "Timeout(0) never waits; use Backpressure::DropNewest for that");
        }
        let fsync = match durability {
            Durability::Memory => None,
            Durability::Journal { fsync } => Some(fsync),
        };
        if cfg.batch_max > 1 << 24 {
            return invalid("batch_max", "must be at most 16,777,216 (a batch is one transaction held in memory)");
        }
        if fsync.is_some() && (segment_bytes < 4096 || journal_max_bytes < segment_bytes.saturating_mul(2)) {
            return invalid("journal_limits", "segments must be at least 4 KiB and the cap at least two segments");
        }
        let dest = match sink {
            Some(sink) => crate::sink::Destination { sink, journal: None, dead_letter: None, writer: None },
            None => crate::sink::open_url(&url, writer.as_deref())?,
        };
        let mut sink = dest.sink;
        let writer = writer.or(dest.writer).unwrap_or_else(|| DEFAULT_WRITER.to_string());
        crate::sink::check_writer(&writer).map_err(|reason| Error::InvalidOption { name: "writer", reason })?;
        let local = sink.checkpoint() == Checkpoint::Local;
        if local && fsync.is_none() {
            return invalid(
                "durability",
                "this sink cannot store its checkpoint with the writes (Checkpoint::Local): give the store a journal (Builder::durability(Durability::Journal { .. })), which keeps the checkpoint and replays the writes after a crash",
            );
        }
        cfg.dead_letter = dead_letter.unwrap_or(dest.dead_letter);
        let mut lock = None;
        // Without a journal, a journal left by a run with one must not hold
        // writes the sink lacks (checked once the sink's seq is known).
        let leftover = match (fsync, &journal_storage) {
            (None, None) => journal_dir.clone().or_else(|| dest.journal.clone()).filter(|d| d.is_dir()),
            _ => None,
        };
        // A journal of another writer is not this store's to check.
        let leftover = match leftover {
            Some(dir) => match FsStorage::new(&dir).and_then(|fs| crate::journal::journal_writer(&fs)) {
                Ok(Some(owner)) if owner != writer => None,
                _ => Some(dir),
            },
            None => None,
        };
        let journal = match fsync {
            None => None,
            Some(fsync) => {
                let storage: Arc<dyn Storage> = match (journal_storage, journal_dir.or(dest.journal)) {
                    (Some(s), _) => s,
                    (None, Some(dir)) => {
                        let fs = FsStorage::new(&dir).map_err(|source| crate::journal::dir_error(&dir, source))?;
                        // One store per journal: a second would truncate the
                        // first's tail, replay its records, delete its segments.
                        lock = Some(fs.lock().map_err(|source| match source.kind() {
                            std::io::ErrorKind::WouldBlock => Error::Locked { path: dir.clone() },
                            _ => crate::journal::dir_error(&dir, source),
                        })?);
                        Arc::new(fs)
                    }
                    (None, None) => {
                        return invalid("journal", "a store with a custom sink needs Builder::journal(dir)")
                    }
                };
                // A journal holds one writer's seqs: it is opened as that writer only.
                crate::journal::claim_journal(storage.as_ref(), &writer)?;
                // With a journal, the sink may be down for long: the journal
                // holds the writes, so the worker never gives up on them.
                cfg.max_retries = u32::MAX;
                Some(JournalConfig { storage, fsync, segment_bytes, max_bytes: journal_max_bytes, recovery })
            }
        };
        let resume = sink.open_writer(&writer)?;
        let last = match (&journal, local) {
            (Some(j), true) => LocalCheckpoint::load(j.storage.as_ref())?,
            _ => resume.last_applied.0,
        };
        cfg.writer = writer;
        cfg.epoch = resume.epoch;
        if let Some(dir) = leftover {
            let pending = FsStorage::new(&dir)
                .and_then(|fs| crate::journal::inspect(&fs))
                .map(|segs| segs.iter().any(|s| s.seqs.is_some_and(|(_, hi)| hi > last)))
                .map_err(|source| Error::Io { path: dir.clone(), source })?;
            if pending {
                return Err(Error::JournalPresent { path: dir });
            }
        }
        if last > MAX_SEQ {
            return Err(Error::Sink(crate::SinkError::new(format!(
                "the sink's last applied seq is {last}, beyond the largest backburner uses ({MAX_SEQ}); its metadata was changed by hand"
            ))));
        }
        Ok(Opened { url, sink, capacity, cfg, backpressure, journal, lock, last, drain_timeout, local })
    }
}

/// A store opened but not started: what `Builder::open` found.
struct Opened {
    url: String,
    sink: Box<dyn Sink>,
    capacity: usize,
    cfg: Config,
    backpressure: Backpressure,
    journal: Option<JournalConfig>,
    lock: Option<std::fs::File>,
    /// The writer's last applied `Seq`.
    last: u64,
    drain_timeout: Duration,
    /// The checkpoint lives in the journal's directory (`Checkpoint::Local`).
    local: bool,
}

impl Opened {
    /// Reads the journal (if any): its segments, and the records after the
    /// sink's last applied `Seq`, repairing a torn tail.
    fn recover(&self) -> Result<Option<Recovered>> {
        match &self.journal {
            Some(j) => Ok(Some(recover(j.storage.as_ref(), self.last, j.recovery)?)),
            None => Ok(None),
        }
    }

    /// Builds the engine (queue, overlay, progress), stages replayed
    /// records, and starts the journal thread and the worker.
    fn spawn(self, recovered: Option<Recovered>, close_key: String) -> Result<Store> {
        let Opened { url, mut sink, capacity, cfg, backpressure, journal, lock, last, drain_timeout, local } = self;
        let local = match (&journal, local) {
            (Some(j), true) => Some(LocalCheckpoint::new(Arc::clone(&j.storage), last)),
            _ => None,
        };
        let max_seq = recovered.as_ref().map_or(0, |r| r.max_seq);
        let first = last.max(max_seq) + 1;
        let reader = sink.reader()?;
        let limit = match sink.max_write_bytes() {
            Some(n) if n < MAX_WRITE => Limit { bytes: n, what: "the sink takes" },
            _ => Limit { bytes: MAX_WRITE, what: "backburner takes (MAX_WRITE)" },
        };
        let journal_path = journal.as_ref().map(|j| j.storage.path(""));
        let (queue, rx, lane) = Queue::new(capacity, backpressure, first);
        let shared = Arc::new(Shared {
            progress: Arc::new(Progress::new(last, journal.is_some(), first - 1)),
            queue,
            overlay: Overlay::new(capacity, first),
            counters: Counters::new(),
            close_target: AtomicU64::new(u64::MAX),
            last_exec: AtomicU64::new(0),
            abandon: AtomicBool::new(false),
            checkpointed: local.as_ref().map(|_| AtomicU64::new(last)),
        });
        let intake = Intake::new(rx, lane, Arc::clone(&shared), first);
        let mut threads = Vec::new();
        let source = match (journal, recovered) {
            (Some(j), Some(rec)) => {
                let (tx, feed_rx) = crossbeam_channel::unbounded();
                // Replayed writes are pending like any other: in the overlay
                // (read-your-writes holds across the restart), then applied
                // first, in order.
                let mut records = rec.records;
                for r in &mut records {
                    match r.key().cloned() {
                        Some(kv) => {
                            r.hash = shared.overlay.hash(kv.key());
                            let tomb = matches!(r.write, Write::Delete(_));
                            shared.overlay.insert(r.hash, r.seq, kv, tomb, &shared.progress.watermark);
                        }
                        None => {
                            shared.last_exec.fetch_max(r.seq, Ordering::SeqCst);
                        }
                    }
                }
                shared.queue.replayed.store(records.len() as u64, Ordering::Relaxed);
                if !records.is_empty() {
                    ::log::info!("backburner: replaying {} journaled write(s) after seq {last}", records.len());
                }
                let _ = tx.send(Chunk { records, done: first - 1 });
                let writer = Writer::new(
                    intake,
                    j.storage,
                    Arc::clone(&shared),
                    tx,
                    j.fsync,
                    Limits { segment_bytes: j.segment_bytes, max_bytes: j.max_bytes },
                    rec.segments,
                    rec.next_index,
                    first - 1,
                );
                threads.push(spawn("backburner-journal", &shared.progress, move || writer.run())?);
                Source::Journal(Feed::new(feed_rx, last))
            }
            _ => Source::Queue(intake),
        };
        let worker = Worker::new(source, sink, Arc::clone(&shared), cfg, local);
        let handle = match spawn("backburner-worker", &shared.progress, move || worker.run()) {
            Ok(h) => h,
            Err(e) => {
                // Stop the journal thread, if one started.
                shared.progress.poison("the worker thread could not start".into());
                for t in threads {
                    let _ = t.join();
                }
                return Err(e);
            }
        };
        let _ = shared.progress.worker.set(handle.thread().clone());
        threads.push(handle);
        let thread_ids = threads.iter().map(|t| t.thread().id()).collect();
        let inner = Arc::new(Inner {
            shared,
            reader: reader.map(Arc::from),
            reads: crate::engine::reads::ReadPool::new(2),
            close_key,
            url,
            threads: Mutex::new(threads),
            lock: Mutex::new(lock),
            limit,
            drain_timeout,
            journal: journal_path,
            reported: AtomicBool::new(false),
            thread_ids,
        });
        let weak: std::sync::Weak<dyn crate::drain::Drain> = Arc::downgrade(&inner) as _;
        crate::drain::register(weak);
        // `std::process::exit`, or `main` returning while this store is
        // open or closing in the background, drains it first.
        crate::log::exit::register();
        Ok(Store { inner: Arc::new(Handles(inner)) })
    }
}

/// Room for one write in a store's queue, from [`Store::reserve_async`].
/// Its calls enqueue at once and never wait; dropping it unused gives the
/// room back.
#[must_use = "a permit holds room in the queue until it is used or dropped"]
pub struct Permit<'a> {
    store: &'a Store,
    used: bool,
}

impl Permit<'_> {
    /// [`Store::put`] into the room this permit holds.
    ///
    /// # Errors
    ///
    /// As [`Store::put`], except that a full queue never refuses it.
    pub fn put(self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Ticket> {
        self.admit(|s| s.keyed(key.as_ref(), value.as_ref(), false, Room::Permit))
    }

    /// [`Store::delete`] into the room this permit holds.
    ///
    /// # Errors
    ///
    /// As [`Permit::put`].
    pub fn delete(self, key: impl AsRef<[u8]>) -> Result<Ticket> {
        self.admit(|s| s.keyed(key.as_ref(), &[], true, Room::Permit))
    }

    /// [`Store::execute`] into the room this permit holds.
    ///
    /// # Errors
    ///
    /// As [`Store::execute`], except that a full queue never refuses it.
    pub fn execute(self, sql: &str, params: impl IntoParams) -> Result<Ticket<Executed>> {
        self.admit(|s| s.statement(sql, params, Room::Permit))
    }

    /// Runs the write path; the room is the write's only if it was
    /// accepted. Refused (too large, a bad statement, a closed store) or
    /// unwound by a panic, the permit keeps it and its drop gives it back.
    fn admit<T>(mut self, write: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let r = write(self.store);
        self.used = r.is_ok();
        r
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.store.shared().queue.release(1);
        }
    }
}

/// The largest write, in bytes (key and value, or statement and parameters).
pub const MAX_WRITE: usize = (1 << 30) - 64;

/// The largest write a store takes, and who sets it.
#[derive(Clone, Copy)]
struct Limit {
    bytes: usize,
    what: &'static str,
}

/// A statement refused for a parameter no `SqlValue` holds, handed back.
#[cold]
fn refused_params(sql: &str, e: ParamError) -> Error {
    let reason = e.to_string();
    Error::InvalidStatement { write: Some(Box::new(Write::execute(sql, e.into_values()))), reason }
}

#[cold]
fn too_large(write: Write, size: usize, limit: Limit) -> Error {
    Error::TooLarge { write: Box::new(write), size, limit: limit.bytes, what: limit.what }
}

/// Starts a store thread that latches the store if it panics. The worker's
/// normal end (a drain) wakes waits for seqs `close` refused.
fn spawn(name: &str, progress: &Arc<Progress>, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    let progress = Arc::clone(progress);
    let is_worker = name == "backburner-worker";
    progress.thread_started();
    let counted = Arc::clone(&progress);
    let handle = crate::thread::spawn(name, f, move |ended| {
        match ended {
            Ok(()) if is_worker => progress.stop(),
            Ok(()) => {}
            Err(reason) => progress.poison(reason),
        }
        // `close_async` waits for every thread's end.
        progress.thread_ended();
    });
    if handle.is_err() {
        counted.thread_ended();
    }
    handle.map_err(|e| Error::Io { path: PathBuf::from(format!("<thread {name}>")), source: e })
}

struct Inner {
    shared: Arc<Shared>,
    /// `None` for a sink that takes writes only.
    reader: Option<Arc<dyn SinkReader>>,
    /// Threads for `get_async` and `query_async` (started on first use).
    reads: crate::engine::reads::ReadPool,
    url: String,
    /// What a background close of this store is listed by
    /// (`drain::close_key`, computed at open).
    close_key: String,
    /// The journal writer (if any), then the worker: joined in that order.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The journal directory's lock, held until the store is closed.
    lock: Mutex<Option<std::fs::File>>,
    limit: Limit,
    /// How long the drop of the last handle drains.
    drain_timeout: Duration,
    /// The journal's directory, if the store has one.
    journal: Option<PathBuf>,
    /// Set when the close that joined the threads has returned its report:
    /// later closes (the drop after `close`) do not repeat it.
    reported: AtomicBool,
    /// The store's threads (journal writer, worker): an exit from one of
    /// them does not wait for the store's drain (see `drain_for_exit`).
    thread_ids: Vec<std::thread::ThreadId>,
}

/// A write-behind store: writes return at once with a [`Ticket`], a worker
/// thread batches them into the sink, and reads through the store see every
/// earlier write made through it.
///
/// `Store` is a cheap handle: clone it into every thread that writes. The
/// last handle dropped closes the store, draining every accepted write
/// (errors are then logged; call [`close`](Store::close) to see them).
///
/// # Examples
///
/// ```
/// use backburner::{params, Store};
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}/app.db", dir.path().display());
/// let store = Store::open(&url)?;
/// let t = store.put("user:42", b"{\"name\":\"Ada\"}")?;      // returns at once
/// store.delete("user:41")?;
/// assert_eq!(store.get("user:42")?.as_deref(), Some(&b"{\"name\":\"Ada\"}"[..])); // read-your-writes
/// t.wait()?;                                                   // committed in SQLite
///
/// store.execute("CREATE TABLE IF NOT EXISTS events(user_id INTEGER, kind TEXT)", [])?;
/// store.execute("INSERT INTO events(user_id, kind) VALUES (?1, ?2)", params![42, "login"])?;
/// let rows = store.query("SELECT count(*) FROM events", [])?;  // waits for earlier writes
/// assert_eq!(rows[0][0].as_i64(), Some(1));
/// store.close()?;                                              // drain and stop
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Dropping the last handle
///
/// The drop of the last handle closes the store: it refuses new writes
/// and drains every accepted one (for at most the drain timeout while the
/// sink makes no progress; see [`Builder::drain_timeout`]).
///
/// * On an ordinary thread it waits for the drain, so the writes are in
///   the sink when the drop returns.
/// * Inside a tokio runtime (on one of its worker threads, in `block_on`,
///   in `spawn_blocking`, or under a `Runtime::enter` guard; feature
///   `tokio`, on by default) it never blocks the executor: it starts a
///   thread, `backburner-close`, that drains and closes, and returns at
///   once. The writes are in the sink a little later, not yet when the
///   drop returns; an open of this process waits for such a close first,
///   so `drop(store)` then `Store::open(url)` finds them committed and the
///   journal free. The process cannot end before they are in the sink
///   either: `main` returning and `std::process::exit` run an exit handler
///   that waits for the drain of every store still open or still closing.
///   A signal that ends the process without running it does end it first:
///   `SIGKILL`, a crash, `abort`, and `SIGTERM` or `SIGINT` unless
///   [`log::Guard::handle_signals`](crate::log::Guard::handle_signals)
///   handles them or the program shuts down on them itself (axum's
///   graceful shutdown, then `close_async`). With a journal, the next open
///   applies what it held.
///
/// In async code, `store.close_async().await` before the last handle goes
/// is the way to know when every write is in the sink and to see the
/// errors (a drop can only print them). Under a runtime other than tokio,
/// the drop cannot tell that it runs on an executor and drains in place:
/// call `close_async` there.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Handles>,
}

/// What the handles share: its drop, when the last handle goes, closes the
/// store (see [`Store`]'s "Dropping the last handle"). `Inner` outlives it
/// while a background close (or the exit handler) still works on it.
struct Handles(Arc<Inner>);

impl std::ops::Deref for Handles {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        const WHEN: &str = "on drop of the last handle";
        if crate::drain::on_executor() && !self.0.is_closed() {
            // An executor thread must not wait for the drain: refuse new
            // writes now and let a thread of the store's own drain and
            // join. The exit handler waits for it if the process ends
            // first. A thread that cannot start leaves the drain here.
            self.0.begin_close();
            let inner = Arc::clone(&self.0);
            let closing = crate::drain::BackgroundClose::begin(self.0.close_key.clone());
            let closer = move || {
                inner.close_and_tell(WHEN);
                drop(closing);
            };
            if std::thread::Builder::new().name("backburner-close".into()).spawn(closer).is_ok() {
                return;
            }
        }
        self.0.close_and_tell(WHEN);
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.inner.url).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a store with the default settings.
    ///
    /// URLs: `sqlite://PATH` (relative) or `sqlite:///ABSOLUTE/PATH`, with
    /// options `?synchronous=off|normal|full&busy_timeout_ms=N&wal_limit_mb=N&checkpoint_rows=N&writer=NAME`
    /// (`writer`: see [`Builder::writer`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] naming what is wrong, or [`Error::Sink`] when
    /// the database cannot be opened.
    pub fn open(url: &str) -> Result<Store> {
        Store::builder(url).build()
    }

    /// The async form of [`open`](Store::open): see
    /// [`Builder::build_async`] (the open runs on a thread of its own).
    ///
    /// # Cancel safety
    ///
    /// As [`Builder::build_async`]: a dropped future lets the open finish,
    /// then closes the store it opened.
    ///
    /// # Errors
    ///
    /// As [`open`](Store::open).
    pub async fn open_async(url: &str) -> Result<Store> {
        Store::builder(url).build_async().await
    }

    /// A builder for a store with other settings.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backburner::{Backpressure, Store};
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}/app.db", dir.path().display());
    /// let store = Store::builder(&url)
    ///     .batch_max(5_000)
    ///     .linger(Duration::from_millis(2))
    ///     .backpressure(Backpressure::Timeout(Duration::from_secs(1)))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(url: &str) -> Builder {
        Builder::new(url)
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    #[inline]
    fn keyed(&self, key: &[u8], value: &[u8], tombstone: bool, room: Room) -> Result<Ticket> {
        let s = self.shared();
        let size = key.len() + value.len();
        if size > self.inner.limit.bytes {
            let write = match tombstone {
                true => Write::delete(key),
                false => Write::put(key, value),
            };
            return Err(too_large(write, size, self.inner.limit));
        }
        let kv = KvBuf::new(key, value);
        let hash = s.overlay.hash(key);
        let write = if tombstone { Write::Delete(KeyValue(kv.clone())) } else { Write::Put(KeyValue(kv.clone())) };
        s.submit(Record { seq: 0, hash, write, done: None }, Some((hash, &kv, tombstone)), room)
    }

    /// Sets `key` to `value` in the store's key/value table, in the background.
    ///
    /// Returns once the write is queued; later reads through this store see
    /// it at once. `Ok` does *not* mean the write is in the sink: wait on the
    /// ticket, or call [`flush`](Store::flush), for that.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after `close`; [`Error::QueueFull`] or
    /// [`Error::Timeout`] when the queue is full and the [`Backpressure`]
    /// policy says so. Each hands the write back.
    #[inline]
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Ticket> {
        self.keyed(key.as_ref(), value.as_ref(), false, Room::Queue)
    }

    /// Removes `key` from the store's key/value table, in the background.
    /// Same promises and errors as [`put`](Store::put).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<Ticket> {
        self.keyed(key.as_ref(), &[], true, Room::Queue)
    }

    /// The value of `key`: the newest pending write if there is one, else the
    /// sink's committed value. Sees every write made through this store
    /// before the call.
    ///
    /// # Errors
    ///
    /// [`Error::Sink`] when the sink read fails; [`Error::Closed`] after
    /// `close`; [`Error::Poisoned`] if the worker stopped.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        self.inner.check_open()?;
        let reader = self.inner.reader("get")?;
        let key = key.as_ref();
        let s = self.shared();
        // A pending statement may have written this key: let it land first.
        let exec = s.last_exec.load(Ordering::SeqCst);
        if exec > s.progress.watermark() {
            self.inner.wait_for(exec)?;
        }
        let hash = s.overlay.hash(key);
        s.overlay.sync(s.queue.last_seq(), &s.progress.watermark);
        match s.overlay.get(hash, key, &s.progress.watermark) {
            Lookup::Value(v) => Ok(Some(v)),
            Lookup::Deleted => Ok(None),
            Lookup::Miss => Ok(reader.get(key)?.map(Value::from)),
        }
    }

    /// The async form of [`get`](Store::get): after any pending `execute`
    /// (awaited, as `get` waits for it), a pending write is answered from
    /// the overlay; a committed value is read on one of the store's two
    /// reader threads, so the calling thread never blocks on the sink,
    /// under any executor. (Reads queue behind each other on those threads:
    /// a slow `query_async` delays the next ones.)
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels only the wait: a read already handed to
    /// a reader thread finishes there and its answer is dropped. No future
    /// ever holds a sink connection.
    ///
    /// # Errors
    ///
    /// As [`get`](Store::get).
    pub async fn get_async(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        self.inner.check_open()?;
        let reader = self.inner.shared_reader("get")?;
        let key = key.as_ref();
        let s = self.shared();
        let exec = s.last_exec.load(Ordering::SeqCst);
        if exec > s.progress.watermark() {
            self.inner.wait_for_async(exec).await?;
        }
        let hash = s.overlay.hash(key);
        s.overlay.sync(s.queue.last_seq(), &s.progress.watermark);
        match s.overlay.get(hash, key, &s.progress.watermark) {
            Lookup::Value(v) => Ok(Some(v)),
            Lookup::Deleted => Ok(None),
            Lookup::Miss => {
                let key = key.to_vec();
                Ok(self.inner.read(move || reader.get(&key)).await??.map(Value::from))
            }
        }
    }

    /// The async form of [`query`](Store::query): waits for the earlier
    /// writes without blocking, then runs the statement on one of the
    /// store's reader threads.
    ///
    /// # Cancel safety
    ///
    /// As [`get_async`](Store::get_async): the statement may still run to
    /// its end on the reader thread; its rows are dropped.
    ///
    /// # Errors
    ///
    /// As [`query`](Store::query).
    pub async fn query_async(&self, sql: &str, params: impl IntoParams) -> Result<Vec<Vec<SqlValue>>> {
        if let Err(reason) = crate::sink::statement::check(sql, crate::sink::statement::Call::Query) {
            return Err(Error::InvalidStatement { write: None, reason });
        }
        let params = params.into_params()?;
        self.inner.check_open()?;
        let reader = self.inner.shared_reader("query")?;
        let upto = self.shared().queue.last_seq();
        self.inner.wait_for_async(upto).await?;
        let sql = sql.to_string();
        Ok(self.inner.read(move || reader.query(&sql, &params)).await??)
    }

    /// Queues any write statement (`INSERT`, `UPDATE`, `DELETE`, DDL). Statements
    /// are applied in enqueue order, in batches, each batch in one
    /// transaction. Same promises and errors as [`put`](Store::put); a
    /// statement the sink rejects fails its ticket and goes to the
    /// dead-letter file, while the rest of its batch commits. SQL that is
    /// not one statement (a NUL byte, text after the first statement, no
    /// statement) is refused at once with [`Error::InvalidStatement`], the
    /// write handed back; so is a parameter that SQLite cannot store, an
    /// integer outside `i64` (a `u64` above `i64::MAX`: see [`Param`](crate::Param)),
    /// which is never wrapped or turned into a real.
    ///
    /// # Examples
    ///
    /// ```
    /// use backburner::{params, Error};
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}/app.db", dir.path().display());
    /// let store = backburner::Store::open(&url)?;
    /// store.execute("CREATE TABLE t(n INTEGER, big TEXT)", [])?;
    /// let (small, big): (u64, u64) = (7, u64::MAX);
    /// store.execute("INSERT INTO t(n) VALUES (?1)", params![small])?;
    /// let err = store.execute("INSERT INTO t(n) VALUES (?1)", params![big]).unwrap_err();
    /// assert!(err.to_string().contains("parameter 1 is 18446744073709551615 (u64), above i64::MAX"));
    /// assert!(matches!(err, Error::InvalidStatement { write: Some(_), .. })); // handed back, nothing queued
    /// // As text, into a TEXT column (an INTEGER column would make it a rounded REAL):
    /// store.execute("INSERT INTO t(big) VALUES (?1)", params![big.to_string()])?;
    /// let back = store.query_map("SELECT big, typeof(big) FROM t WHERE big IS NOT NULL", [], |r| {
    ///     Ok((r.get::<String>(0)?, r.get::<String>(1)?))
    /// })?;
    /// assert_eq!(back, [(u64::MAX.to_string(), "text".to_string())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute(&self, sql: &str, params: impl IntoParams) -> Result<Ticket<Executed>> {
        self.statement(sql, params, Room::Queue)
    }

    fn statement(&self, sql: &str, params: impl IntoParams, room: Room) -> Result<Ticket<Executed>> {
        let s = self.shared();
        let params = match params.into_params() {
            Ok(p) => p,
            Err(e) => return Err(refused_params(sql, e)),
        };
        let write = Write::execute(sql, params);
        let size = crate::journal::encoded_len(&write) - crate::journal::RECORD_HEADER - 1;
        if size > self.inner.limit.bytes {
            return Err(too_large(write, size, self.inner.limit));
        }
        if let Err(reason) = crate::sink::statement::check(sql, crate::sink::statement::Call::Execute) {
            return Err(Error::InvalidStatement { write: Some(Box::new(write)), reason });
        }
        let ticket = s.submit(Record { seq: 0, hash: 0, write, done: None }, None, room)?;
        s.last_exec.fetch_max(ticket.seq().get(), Ordering::SeqCst);
        Ok(ticket)
    }

    /// Waits, without blocking the thread, for room for one write, and
    /// returns a [`Permit`] that holds it: the async form of admission. The
    /// permit's [`put`](Permit::put), [`delete`](Permit::delete) and
    /// [`execute`](Permit::execute) then enqueue at once, whatever the
    /// [`Backpressure`] policy (which governs the calls without a permit).
    /// Writes admitted with permits have room of their own, `capacity` of
    /// them; the future is woken by the store's threads as room frees (no
    /// order among waiting tasks is promised: each woken task takes a permit
    /// or waits again).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves takes no room and enqueues
    /// nothing: the write was never handed over, so nothing is lost or
    /// half done (the usual `select!` between room and a timer is safe).
    /// Dropping a permit unused gives its room back.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the store is closing, [`Error::Poisoned`] (or
    /// [`Error::Fenced`]) once it cannot apply writes; a waiting future
    /// resolves to these when the store closes or stops.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}/t.db", dir.path().display());
    /// async fn save(store: &backburner::Store, id: u64) -> backburner::Result<()> {
    ///     let permit = store.reserve_async().await?; // waits for room, never blocks a thread
    ///     permit.put(format!("order:{id}"), "paid")?; // enqueued at once
    ///     Ok(())
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn reserve_async(&self) -> Result<Permit<'_>> {
        let s = self.shared();
        std::future::poll_fn(|cx| s.queue.poll_reserve(&s.progress, cx)).await?;
        Ok(Permit { store: self, used: false })
    }

    /// Runs a read-only statement after every earlier write through this store
    /// has been processed, and returns its rows. To read them as Rust
    /// types, use [`query_map`](Store::query_map).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStatement`] when `sql` is not one statement or a
    /// parameter is an integer outside `i64` (checked first, without
    /// waiting); [`Error::Sink`] when the statement fails or
    /// writes (use [`execute`](Store::execute)); [`Error::Closed`] after
    /// `close`; [`Error::Poisoned`] when earlier writes can no longer be applied.
    pub fn query(&self, sql: &str, params: impl IntoParams) -> Result<Vec<Vec<SqlValue>>> {
        if let Err(reason) = crate::sink::statement::check(sql, crate::sink::statement::Call::Query) {
            return Err(Error::InvalidStatement { write: None, reason });
        }
        let params = params.into_params()?;
        self.inner.check_open()?;
        let reader = self.inner.reader("query")?;
        let upto = self.shared().queue.last_seq();
        self.inner.wait_for(upto)?;
        Ok(reader.query(sql, &params)?)
    }

    /// Runs a read-only statement as [`query`](Store::query) does (after
    /// every earlier write through this store is processed), and maps each
    /// row with `f`, in order: `f` reads the columns it wants with
    /// [`Row::get`], typed, and its first error is the call's.
    ///
    /// `f` runs on the calling thread, over rows already fetched (the
    /// sink's answer is read whole first, as `query` reads it), so it may
    /// borrow from the caller and need not be `Send`.
    ///
    /// # Errors
    ///
    /// As [`query`](Store::query); [`Error::Column`] when a column is not
    /// the type `f` asks for; any error `f` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use backburner::params;
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}/app.db", dir.path().display());
    /// let store = backburner::Store::open(&url)?;
    /// store.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, visits INTEGER)", [])?;
    /// let id: u64 = 42;
    /// store.execute("INSERT INTO users VALUES (?1, ?2, ?3)", params![id, "Ada", 3usize])?;
    ///
    /// struct User { id: u64, name: String, visits: usize }
    /// let users = store.query_map("SELECT id, name, visits FROM users", [], |row| {
    ///     Ok(User { id: row.get(0)?, name: row.get(1)?, visits: row.get(2)? })
    /// })?; // sees the insert, pending a moment ago
    /// assert_eq!((users[0].id, users[0].name.as_str(), users[0].visits), (42, "Ada", 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: impl IntoParams,
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        map_rows(&self.query(sql, params)?, f)
    }

    /// The async form of [`query_map`](Store::query_map): the statement runs
    /// as in [`query_async`](Store::query_async), on one of the store's
    /// reader threads, and `f` then maps the fetched rows in the awaiting
    /// task (so `f` may borrow and need not be `Send`; the future is `Send`
    /// when `f` and the parameters are).
    ///
    /// # Cancel safety
    ///
    /// As [`query_async`](Store::query_async): the statement may still run
    /// to its end on the reader thread; its rows are dropped unmapped.
    ///
    /// # Errors
    ///
    /// As [`query_map`](Store::query_map).
    ///
    /// # Examples
    ///
    /// ```
    /// async fn names(store: &backburner::Store) -> backburner::Result<Vec<(i64, String)>> {
    ///     store.query_map_async("SELECT id, name FROM users ORDER BY id", [], |row| {
    ///         Ok((row.get(0)?, row.get(1)?))
    ///     }).await
    /// }
    /// ```
    pub async fn query_map_async<T>(
        &self,
        sql: &str,
        params: impl IntoParams,
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        map_rows(&self.query_async(sql, params).await?, f)
    }

    /// Blocks until every write accepted before the call is processed.
    ///
    /// # Errors
    ///
    /// [`Error::WritesFailed`] if writes failed since the previous `flush`
    /// and no ticket's `wait` returned that failure; [`Error::Closed`] after
    /// `close`; [`Error::Poisoned`] if the worker stopped.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        let upto = self.shared().queue.last_seq();
        self.inner.wait_for(upto)?;
        self.shared().progress.take_unreported()
    }

    /// The async form of [`flush`](Store::flush): resolves once every write
    /// accepted before the call is processed, without blocking a thread,
    /// under any executor (the worker wakes the task).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels only the wait: nothing is lost, the
    /// writes are applied all the same, and the failures it would have
    /// reported stay for the next `flush` or `close`.
    ///
    /// # Errors
    ///
    /// As [`flush`](Store::flush).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}/t.db", dir.path().display());
    /// async fn save_all(store: &backburner::Store) -> backburner::Result<()> {
    ///     store.put("a", "1")?;
    ///     store.put("b", "2")?;
    ///     store.flush_async().await // both committed
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn flush_async(&self) -> Result<()> {
        self.inner.check_open()?;
        let upto = self.shared().queue.last_seq();
        let p = &self.shared().progress;
        match std::future::poll_fn(|cx| p.poll_processed(upto, cx)).await {
            Ok(()) | Err(Error::Rejected { .. } | Error::GaveUp { .. }) => {}
            Err(e) => return Err(e),
        }
        p.take_unreported()
    }

    /// The async form of [`close`](Store::close): from its first poll it
    /// refuses new writes, then resolves once every accepted write is
    /// processed and every store thread has done its work, without blocking
    /// a thread meanwhile (it then joins them, which waits only for their
    /// exit). To bound the wait, race it with your runtime's timer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the close: the store refuses new
    /// writes from the first poll on, and the worker drains what was
    /// accepted and stops all the same; a later `close` or `close_async`
    /// (or the drop of the last handle) reports what this one would have.
    ///
    /// # Errors
    ///
    /// As [`close`](Store::close).
    pub async fn close_async(&self) -> Result<()> {
        let inner = &self.inner;
        inner.begin_close();
        let p = &inner.shared.progress;
        // Until every store thread has done its work (each end counts and
        // wakes the waiters): joining them then waits only for their exit.
        std::future::poll_fn(|cx| p.poll_threads_ended(cx)).await;
        inner.close(None)
    }

    /// Drains every accepted write, stops the worker and closes the sink.
    /// Later calls on any handle of this store return [`Error::Closed`].
    /// Calling it again is harmless.
    ///
    /// It waits as long as draining takes: while the sink is unavailable,
    /// the worker keeps retrying. To bound the wait, use
    /// [`close_timeout`](Store::close_timeout).
    ///
    /// # Errors
    ///
    /// [`Error::WritesFailed`] for failed writes that nobody saw through
    /// their ticket (a failure a ticket's `wait` returned is not reported
    /// again); [`Error::Poisoned`] if the worker stopped.
    pub fn close(&self) -> Result<()> {
        self.inner.close(None)
    }

    /// Like [`close`](Store::close), but drains for at most `timeout`
    /// (plus a sink call already in progress). When the deadline passes the
    /// worker stops trying the sink: without a journal, the writes still
    /// pending are saved to the dead-letter file and their tickets fail
    /// with [`Error::GaveUp`]; with a journal, they stay in the journal and
    /// the next open applies them.
    ///
    /// # Errors
    ///
    /// As [`close`](Store::close); writes given up are counted in
    /// [`Error::WritesFailed`]'s `gave_up`; with a journal,
    /// [`Error::Unfinished`] says how many writes wait in the journal.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}/app.db", dir.path().display());
    /// let store = backburner::Store::open(&url)?;
    /// store.put("k", "v")?;
    /// store.close_timeout(Duration::from_secs(5))?;  // the sink is up: all committed
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_timeout(&self, timeout: Duration) -> Result<()> {
        self.inner.close(Some(Bound::Deadline(deadline_in(timeout))))
    }

    /// The async form of [`close_timeout`](Store::close_timeout): the
    /// bounded close runs on a thread of its own, "backburner-close"
    /// (the deadline needs a timer, and the futures of this crate need no
    /// runtime), and the future resolves with its report.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo or stop the close once it was
    /// polled: new writes are refused from the first poll on, and the close
    /// runs to its deadline on its thread; its report, which nobody awaits
    /// any more, is printed on standard error (and logged), as a drop's is.
    ///
    /// # Errors
    ///
    /// As [`close_timeout`](Store::close_timeout).
    pub async fn close_timeout_async(&self, timeout: Duration) -> Result<()> {
        let deadline = deadline_in(timeout);
        self.inner.begin_close();
        let inner = Arc::clone(&self.inner.0);
        let url = self.inner.url.clone();
        let close = move || inner.close(Some(Bound::Deadline(deadline)));
        // Nobody awaits the report any more: say it, as a drop does.
        let unheard = move |r: Result<()>| {
            if let Err(e) = r {
                eprintln!("backburner: closing the store {url} (close_timeout_async, its future dropped): {e}");
                ::log::error!("backburner: closing the store {url} (close_timeout_async, its future dropped): {e}");
            }
        };
        match crate::engine::reads::on_thread("backburner-close", close, unheard).await {
            Some(r) => r,
            None => Err(Error::Io {
                path: PathBuf::from("<thread backburner-close>"),
                source: std::io::Error::other("the close thread could not start, or it panicked"),
            }),
        }
    }

    /// Every write up to this `Seq` has been processed.
    pub fn watermark(&self) -> Seq {
        Seq(self.shared().progress.watermark())
    }

    /// A snapshot of the store's counters.
    pub fn stats(&self) -> Stats {
        let s = self.shared();
        let mut st = s.counters.snapshot();
        let wm = s.progress.watermark();
        st.dropped = s.queue.dropped.load(Ordering::Relaxed);
        st.watermark = wm;
        // Counted from accepted writes, not from seqs: a refused write took
        // a seq too, but it is neither enqueued nor waiting.
        st.enqueued = s.queue.accepted();
        st.queue_depth = st.enqueued.saturating_sub(st.committed + st.dead_letters);
        st.overlay_keys = s.overlay.len(s.queue.last_seq(), &s.progress.watermark) as u64;
        st
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.shared().queue.capacity()
    }
}

impl Inner {
    /// The sink's reader, or `Error::CannotRead` for a write-only sink.
    fn reader(&self, what: &'static str) -> Result<&dyn SinkReader> {
        self.reader.as_deref().ok_or(Error::CannotRead { what })
    }

    /// The sink's reader, to move to a reader thread.
    fn shared_reader(&self, what: &'static str) -> Result<Arc<dyn SinkReader>> {
        self.reader.clone().ok_or(Error::CannotRead { what })
    }

    /// The awaitable form of `wait_for`.
    async fn wait_for_async(&self, seq: u64) -> Result<()> {
        let p = &self.shared.progress;
        match std::future::poll_fn(|cx| p.poll_processed(seq, cx)).await {
            Ok(()) | Err(Error::Rejected { .. } | Error::GaveUp { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Runs `read` on the read pool.
    async fn read<T: Send + 'static>(&self, read: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        match self.reads.run(read).await {
            Some(v) => Ok(v),
            None => Err(Error::Sink(crate::SinkError::new(
                "the read did not complete: the sink's reader panicked, or no reader thread could be started",
            ))),
        }
    }

    /// `Error::Closed` (or the poison) once the store is closed: reads and
    /// flushes after `close` fail like writes do.
    fn check_open(&self) -> Result<()> {
        let p = &self.shared.progress;
        if p.state.load(Ordering::SeqCst) == OPEN {
            return Ok(());
        }
        Err(p.poisoned().unwrap_or(Error::Closed { write: None }))
    }

    fn wait_for(&self, seq: u64) -> Result<()> {
        let p = &self.shared.progress;
        match p.wait(seq, None) {
            Some(Ok(())) | Some(Err(Error::Rejected { .. } | Error::GaveUp { .. })) => Ok(()),
            Some(Err(e)) => Err(e),
            None => Err(p.poisoned().unwrap_or(Error::Closed { write: None })),
        }
    }

    /// Whether a close has joined the threads and reported: a later close
    /// has nothing to wait for.
    fn is_closed(&self) -> bool {
        self.reported.load(Ordering::SeqCst)
    }

    /// Refuses new writes from now on and tells the worker to drain and stop.
    fn begin_close(&self) {
        let s = &self.shared;
        let p = &s.progress;
        if p.state.compare_exchange(OPEN, CLOSING, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            // Every write that took a seq before this load is waited for;
            // writes after it see CLOSING and are refused (see `Queue::enqueue`).
            s.close_target.store(s.queue.last_seq(), Ordering::SeqCst);
        }
        s.queue.wake_worker(p);
        // Tasks waiting for room see the close now, not after the drain.
        s.queue.wake_room();
    }

    fn close(&self, bound: Option<Bound>) -> Result<()> {
        let s = &self.shared;
        let p = &s.progress;
        self.begin_close();
        if let Some(bound) = bound {
            let target = s.close_target.load(Ordering::SeqCst).min(s.queue.last_seq());
            let done = match bound {
                Bound::Deadline(d) => p.wait(target, Some(d)).is_some(),
                // Extended while the watermark moves: a long drain into a
                // working sink completes; a sink that stays down is given up.
                Bound::Stall(d) => loop {
                    let before = p.watermark();
                    if p.wait(target, Some(deadline_in(d))).is_some() {
                        break true;
                    }
                    if p.watermark() == before {
                        break false;
                    }
                },
            };
            if !done {
                // Out of time: the worker stops trying the sink (see `Worker::attempt`).
                s.abandon.store(true, Ordering::SeqCst);
                if let Some(t) = p.worker.get() {
                    t.unpark();
                }
                s.queue.wake_worker(p);
            }
        }
        let handles = std::mem::take(&mut *self.threads.lock());
        let joined = !handles.is_empty();
        // Join all of them, even after a failure: none may outlive `close`.
        let mut panicked = false;
        for h in handles {
            panicked |= h.join().is_err();
        }
        // The journal is no longer written: another store may open it. Only
        // the close that joined the threads knows that.
        if joined {
            drop(self.lock.lock().take());
        }
        if panicked {
            let reason = "a store thread panicked".to_string();
            return Err(p.poisoned().unwrap_or(Error::Poisoned { reason, write: None }));
        }
        let abandoned = s.abandon.load(Ordering::SeqCst);
        if !joined {
            // Another handle is closing, or closed: wait for the drain.
            match self.wait_for(s.close_target.load(Ordering::SeqCst).min(s.queue.last_seq())) {
                Ok(()) => {}
                // Stopped by a close deadline with writes left in the
                // journal: said below (or already, by the first close).
                Err(Error::Closed { .. }) if abandoned && self.journal.is_some() => {}
                Err(e) => return Err(e),
            }
            if self.reported.load(Ordering::SeqCst) {
                // The close that joined the threads gave the report.
                return Ok(());
            }
        }
        let r = self.report(abandoned);
        if joined {
            self.reported.store(true, Ordering::SeqCst);
        }
        r
    }

    /// What a close reports: the poison, writes left in the journal by a
    /// close deadline (with the failures nobody saw), or those failures.
    fn report(&self, abandoned: bool) -> Result<()> {
        let s = &self.shared;
        if let Some(e) = s.progress.poisoned() {
            return Err(e);
        }
        let failures = s.progress.take_unreported();
        if let (true, Some(journal)) = (abandoned, &self.journal) {
            let st = s.counters.snapshot();
            let count = s.queue.accepted().saturating_sub(st.committed + st.dead_letters);
            if count > 0 {
                let failed = failures.err().map(Box::new);
                return Err(Error::Unfinished { count, journal: journal.clone(), failed });
            }
        }
        failures
    }
}

/// How long a close drains.
#[derive(Clone, Copy)]
enum Bound {
    /// Until this instant.
    Deadline(Instant),
    /// Until the sink makes no progress for this long.
    Stall(Duration),
}

/// `d` from now; a `d` too large for an `Instant` is a century.
fn deadline_in(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

impl Inner {
    /// Closes within the drain timeout; what went wrong goes to standard
    /// error, as nobody else can hear it (a drop, a process ending).
    fn close_and_tell(&self, when: &str) {
        // A close that already returned its report to the caller (an explicit
        // `close`) is not told again on stderr.
        let told = self.reported.load(Ordering::SeqCst);
        if let Err(e) = self.close(Some(Bound::Stall(self.drain_timeout))) {
            if told {
                return;
            }
            eprintln!("backburner: closing the store {} {when}: {e}", self.url);
            ::log::error!("backburner: closing the store {} {when}: {e}", self.url);
        }
    }
}

impl crate::drain::Drain for Inner {
    fn drain_for_exit(&self) {
        if self.thread_ids.contains(&std::thread::current().id()) {
            // The process ends from one of this store's own threads (a
            // sink, a panic hook or a logger's destination there called
            // `exit`): it cannot wait for itself. New writes are refused;
            // with a journal, the next open applies what is left.
            self.begin_close();
            return;
        }
        self.close_and_tell("before the process ends");
    }
}

#[cfg(all(test, not(loom), feature = "sqlite"))]
mod lazy_index_tests {
    use std::time::{Duration, Instant};

    use super::Store;

    /// Polls until `f` holds, for at most 10 s.
    fn eventually(f: impl Fn() -> bool) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// The worker indexes staged writes while it lingers only while reads
    /// come: a store nobody reads from pays for no index, and a read still
    /// sees every write before it.
    #[test]
    fn the_worker_indexes_staged_writes_only_while_reads_come() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::builder(&url).linger(Duration::from_secs(60)).build().expect("open");
        let s = store.shared();
        for i in 0..1000 {
            store.put(format!("k{i}"), format!("v{i}")).expect("put");
        }
        // The worker lingers (60 s) with 1,000 writes staged; before, it
        // indexed them within a millisecond.
        std::thread::sleep(Duration::from_millis(100));
        let last = s.queue.last_seq();
        assert!(s.overlay.scanned() < last, "the worker indexed writes nobody read");
        // A read indexes them itself, and sees every one.
        for i in (0..1000).step_by(97) {
            assert_eq!(store.get(format!("k{i}")).expect("get").as_deref(), Some(format!("v{i}").as_bytes()));
        }
        assert!(s.overlay.scanned() >= last);
        // Reads came: the worker now indexes new writes while it lingers,
        // so that the next read finds little to do.
        for i in 1000..2000 {
            store.put(format!("k{i}"), format!("v{i}")).expect("put");
        }
        let last = s.queue.last_seq();
        assert!(eventually(|| s.overlay.scanned() >= last), "the worker did not index while reads come");
        assert_eq!(store.get("k1999").expect("get").as_deref(), Some(&b"v1999"[..]));
        store.close().expect("close");

        // A burst nobody reads: the worker leaves at most 1,024 writes
        // unindexed, so that a later read has little to index.
        let store = Store::builder(&url).linger(Duration::from_secs(60)).batch_max(100_000).build().expect("reopen");
        let s = store.shared();
        for i in 0..20_000 {
            store.put(format!("b{i}"), "x").expect("put");
        }
        let last = s.queue.last_seq();
        assert!(eventually(|| s.overlay.scanned() + 1024 >= last), "the worker left more than 1,024 unindexed");
        std::thread::sleep(Duration::from_millis(50));
        assert!(s.overlay.scanned() + 1024 <= last, "the worker indexed the newest 1,024 writes nobody read");
        assert_eq!(store.get("b19999").expect("get").as_deref(), Some(&b"x"[..]));
        store.close().expect("close");

        // A small queue (a ring of 256 slots): the worker leaves at most a
        // quarter of the ring unindexed, so that a producer coming round
        // to a slot finds its previous write indexed, not indexes it itself.
        let store = Store::builder(&url).linger(Duration::from_secs(60)).capacity(256).build().expect("reopen");
        let s = store.shared();
        assert_eq!(s.overlay.ring_size(), 256);
        for i in 0..200 {
            store.put(format!("s{i}"), "x").expect("put");
        }
        let last = s.queue.last_seq();
        assert!(eventually(|| s.overlay.scanned() + 64 >= last), "the worker left more than a quarter of the ring");
        assert_eq!(store.get("s199").expect("get").as_deref(), Some(&b"x"[..]));
        store.close().expect("close");
        let conn = rusqlite::Connection::open(dir.path().join("t.db")).expect("db");
        let n: i64 = conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 22_200);
    }
}
