//! Helpers shared by the integration tests: sinks that wrap the real SQLite
//! sink to hold batches at a gate or to fail on purpose, and row counts read
//! straight from the database file.

// Each test file uses only some of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use backburner::sink::sqlite::{SqliteOptions, SqliteSink};
use backburner::{ApplyError, Batch, Sink, SinkError, SinkReader};

/// How long a helper waits for something that must happen before it calls
/// the test hung. Only a bound against hanging forever, never a speed check.
pub const HANG: Duration = Duration::from_secs(60);

/// Rows in `table` of the database at `db`, read with a connection of our own.
pub fn count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("rusqlite open");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("count")
}

/// The committed value of `key` in `backburner_kv`, read with a connection of our own.
pub fn committed(db: &Path, key: &[u8]) -> Option<Vec<u8>> {
    let conn = rusqlite::Connection::open(db).expect("rusqlite open");
    let mut st = conn.prepare("SELECT value FROM backburner_kv WHERE key = ?1").expect("prepare");
    let mut rows = st.query([key]).expect("query");
    rows.next().expect("row").map(|r| r.get::<_, Vec<u8>>(0).expect("value"))
}

#[derive(Default)]
struct GateState {
    open: bool,
    permits: u64,
    entered: u64,
}

/// Holds every `apply` of a [`GatedSink`] until it is opened or given permits.
#[derive(Default)]
pub struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Lets every `apply`, now and later, through.
    pub fn open(&self) {
        self.state.lock().expect("gate").open = true;
        self.cv.notify_all();
    }

    /// Lets `n` more `apply` calls through.
    pub fn allow(&self, n: u64) {
        self.state.lock().expect("gate").permits += n;
        self.cv.notify_all();
    }

    /// How many `apply` calls have started.
    pub fn entered(&self) -> u64 {
        self.state.lock().expect("gate").entered
    }

    /// Waits until `n` calls of `apply` have started (panics after [`HANG`]).
    pub fn wait_entered(&self, n: u64) {
        let deadline = Instant::now() + HANG;
        let mut st = self.state.lock().expect("gate");
        while st.entered < n {
            let left =
                deadline.checked_duration_since(Instant::now()).unwrap_or_else(|| panic!("apply #{n} never started"));
            st = self.cv.wait_timeout(st, left).expect("gate").0;
        }
    }

    /// A guard that opens the gate when dropped, so that a failed assertion
    /// unwinds (and closes the store) instead of hanging on a held batch.
    /// Declare it after the store: it is then dropped first.
    pub fn open_on_drop(self: &Arc<Self>) -> OpenOnDrop {
        OpenOnDrop(Arc::clone(self))
    }

    fn pass(&self) {
        let mut st = self.state.lock().expect("gate");
        st.entered += 1;
        self.cv.notify_all();
        while !st.open && st.permits == 0 {
            st = self.cv.wait(st).expect("gate");
        }
        if !st.open {
            st.permits -= 1;
        }
    }
}

/// Opens its gate when dropped.
pub struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Opens the real SQLite sink at `db` with the default options.
pub fn sqlite(db: &Path) -> SqliteSink {
    SqliteSink::open(db, SqliteOptions::default()).expect("open the SQLite sink")
}

/// The SQLite sink, with every `apply` held at a [`Gate`] first.
pub struct GatedSink {
    pub inner: SqliteSink,
    pub gate: Arc<Gate>,
}

impl Sink for GatedSink {
    fn open_writer(&mut self, writer: &str) -> Result<backburner::Resume, SinkError> {
        self.inner.open_writer(writer)
    }
    fn apply(&mut self, batch: &Batch<'_>, outcomes: &mut backburner::Outcomes<'_>) -> Result<(), ApplyError> {
        self.gate.pass();
        self.inner.apply(batch, outcomes)
    }
    fn maintain(&mut self, idle: bool) {
        self.inner.maintain(idle);
    }
    fn reader(&mut self) -> Result<Option<Box<dyn SinkReader>>, SinkError> {
        self.inner.reader()
    }
}

/// The SQLite sink, failing the first `fail_first` calls of `apply` with a
/// transient error (`u64::MAX`: always). Counts the calls.
pub struct FlakySink {
    pub inner: SqliteSink,
    pub fail_first: u64,
    pub calls: Arc<AtomicU64>,
}

impl Sink for FlakySink {
    fn open_writer(&mut self, writer: &str) -> Result<backburner::Resume, SinkError> {
        self.inner.open_writer(writer)
    }
    fn apply(&mut self, batch: &Batch<'_>, outcomes: &mut backburner::Outcomes<'_>) -> Result<(), ApplyError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_first {
            return Err(ApplyError::Transient(SinkError::new(format!("injected transient failure #{}", n + 1))));
        }
        self.inner.apply(batch, outcomes)
    }
    fn maintain(&mut self, idle: bool) {
        self.inner.maintain(idle);
    }
    fn reader(&mut self) -> Result<Option<Box<dyn SinkReader>>, SinkError> {
        self.inner.reader()
    }
}

/// The SQLite sink, down: every batch fails transiently, as a locked database would.
pub struct Down(pub SqliteSink);

impl Sink for Down {
    fn open_writer(&mut self, writer: &str) -> Result<backburner::Resume, SinkError> {
        self.0.open_writer(writer)
    }
    fn apply(&mut self, _: &Batch<'_>, _outcomes: &mut backburner::Outcomes<'_>) -> Result<(), ApplyError> {
        std::thread::sleep(Duration::from_millis(1));
        Err(ApplyError::Transient(SinkError::new("database is locked (simulated outage)")))
    }
    fn reader(&mut self) -> Result<Option<Box<dyn SinkReader>>, SinkError> {
        self.0.reader()
    }
}

/// Captures the `log` facade's lines (warnings and above), once per test
/// binary, so that tests can check what was warned.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(format!("{} {}", r.level(), r.args()));
        }
    }
    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAP: std::sync::OnceLock<&'static Capture> = std::sync::OnceLock::new();
    CAP.get_or_init(|| {
        let cap: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        let _ = log::set_logger(cap);
        log::set_max_level(log::LevelFilter::Warn);
        cap
    })
}

/// Starts capturing the `log` facade's lines (idempotent).
pub fn capture_logs() {
    capture();
}

/// The captured lines that contain `needle`.
pub fn warnings_about(needle: &str) -> Vec<String> {
    capture().0.lock().expect("logs").iter().filter(|l| l.contains(needle)).cloned().collect()
}

/// The lines of a dead-letter file, parsed (none if it does not exist).
pub fn dead_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"))).collect()
}

/// Runs `f` on a current-thread runtime beside a task that ticks every
/// millisecond; returns `f`'s value and the longest gap between ticks (a
/// call that blocks the executor thread stalls the ticker all that time).
pub fn with_ticker<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let worst = Arc::new(AtomicU64::new(0));
        let ticker = {
            let (stop, worst) = (stop.clone(), worst.clone());
            tokio::spawn(async move {
                let mut last = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let now = Instant::now();
                    worst.fetch_max((now - last).as_micros() as u64, Ordering::SeqCst);
                    last = now;
                }
            })
        };
        // Let the ticker start.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let out = f.await;
        stop.store(true, Ordering::SeqCst);
        ticker.await.expect("ticker");
        (out, Duration::from_micros(worst.load(Ordering::SeqCst)))
    })
}
