//! The drop of a store's last handle, and of a logger's guard and last
//! clone, inside a tokio runtime (a `current_thread` one and a
//! multi-threaded one, as `#[tokio::main]` builds): it returns while the
//! drain is still blocked (another connection holds SQLite's write lock, or
//! the log destination is held), so it did not wait on the executor; and
//! every accepted write and every logged line still lands, in the same
//! process (counted once the lock is released) and when `main` returns
//! right after the drop (the exit handler waits for the drain).
//!
//! The programs that return from `main` are this test binary run again
//! (`current_exe`) with `BACKBURNER_DROP_CHILD` set, running one ignored
//! test; its `main` is the test harness's, which returns once the test has
//! passed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use backburner::log::{Destination, Logger};
use backburner::Store;

const CHILD: &str = "BACKBURNER_DROP_CHILD";
/// How long a holder keeps its lock if nobody releases it: a drop that
/// waited for the drain returns only then.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Another connection holding SQLite's write lock until `release` (or the
/// watchdog).
struct Lock {
    release: mpsc::Sender<()>,
    fired: Arc<AtomicBool>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl Lock {
    fn take(db: &Path) -> Lock {
        let (release, rx) = mpsc::channel::<()>();
        let (locked_tx, locked_rx) = mpsc::channel();
        let fired = Arc::new(AtomicBool::new(false));
        let holder = {
            let (db, fired) = (db.to_path_buf(), Arc::clone(&fired));
            std::thread::spawn(move || {
                let conn = rusqlite::Connection::open(&db).expect("rusqlite");
                conn.execute_batch("BEGIN IMMEDIATE").expect("lock");
                locked_tx.send(()).expect("tell");
                if rx.recv_timeout(WATCHDOG).is_err() {
                    fired.store(true, Ordering::SeqCst);
                }
                conn.execute_batch("COMMIT").expect("unlock");
            })
        };
        locked_rx.recv().expect("locked");
        Lock { release, fired, holder: Some(holder) }
    }

    /// Whether the lock is still held (the watchdog did not release it).
    fn held(&self) -> bool {
        !self.fired.load(Ordering::SeqCst)
    }

    fn release(mut self) {
        let _ = self.release.send(());
        self.holder.take().expect("holder").join().expect("holder");
    }
}

fn open(db: &Path) -> Store {
    Store::open(&format!("sqlite://{}?busy_timeout_ms=20", db.display())).expect("open")
}

fn rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("rusqlite");
    conn.query_row("SELECT count(*) FROM backburner_kv", [], |r| r.get(0)).expect("count")
}

/// Counts rows until there are `n` or 30 s passed (the background close
/// drains at its own pace).
fn wait_rows(db: &Path, n: i64) -> i64 {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let got = rows(db);
        if got >= n || Instant::now() > end {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const WRITES: i64 = 2000;

/// Puts `WRITES` rows behind a held lock and drops the last handle in
/// `rt`, on the thread `on_worker` picks; the drop returns before the
/// lock is released, and every row lands after.
fn drop_in(rt: tokio::runtime::Runtime, on_worker: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = open(&db);
    store.put("warm", "up").expect("put").wait().expect("commit");
    let lock = Lock::take(&db);
    let body = async move {
        for i in 0..WRITES - 1 {
            store.put(format!("k{i}"), "v").expect("put");
        }
        drop(store);
    };
    if on_worker {
        rt.block_on(async { tokio::spawn(body).await.expect("task") });
    } else {
        rt.block_on(body);
    }
    let held = lock.held();
    lock.release();
    assert!(
        held,
        "the drop waited for the drain on the executor thread (returned only when the watchdog released the lock)"
    );
    assert_eq!(wait_rows(&db, WRITES), WRITES, "every accepted write is committed after the drop");
    drop(rt);
}

#[test]
fn the_last_handle_dropped_on_a_current_thread_runtime_does_not_block_it() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    drop_in(rt, false);
}

#[test]
fn the_last_handle_dropped_on_a_multi_thread_runtime_worker_does_not_block_it() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    drop_in(rt, true);
}

#[test]
fn the_last_handle_dropped_on_an_ordinary_thread_waits_for_the_drain() {
    // The other side of the rule: outside a runtime the rows are in SQLite
    // when the drop returns.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = open(&db);
    let lock = Lock::take(&db);
    for i in 0..100 {
        store.put(format!("k{i}"), "v").expect("put");
    }
    let release = lock.release.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let _ = release.send(());
    });
    drop(store);
    assert_eq!(rows(&db), 100, "the drop drained before it returned");
    releaser.join().expect("releaser");
    lock.release();
}

/// Runs the ignored test `name` in a child process with `CHILD` set to
/// `dir`; its standard output.
fn run_child(name: &str, dir: &Path, flavor: &str) -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .env("BACKBURNER_DROP_FLAVOR", flavor)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the child failed: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD).map(PathBuf::from)
}

fn child_runtime() -> tokio::runtime::Runtime {
    match std::env::var("BACKBURNER_DROP_FLAVOR").as_deref() {
        Ok("current_thread") => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build(),
    }
    .expect("runtime")
}

#[test]
fn main_returning_right_after_the_drop_loses_no_write() {
    for flavor in ["current_thread", "multi_thread"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_child("store_child", dir.path(), flavor);
        assert!(out.contains("drop returned while locked"), "{flavor}: {out}");
        assert_eq!(rows(&dir.path().join("t.db")), WRITES, "{flavor}: every accepted write is in SQLite");
    }
}

/// `async fn main` that writes, drops the store (the lock still held), lets
/// the lock go 300 ms later and returns at once: only the exit handler
/// can wait for the drain.
#[test]
#[ignore = "run by main_returning_right_after_the_drop_loses_no_write"]
fn store_child() {
    let Some(dir) = child_dir() else { return };
    let db = dir.join("t.db");
    let store = open(&db);
    store.put("warm", "up").expect("put").wait().expect("commit");
    let lock = Lock::take(&db);
    child_runtime().block_on(async move {
        for i in 0..WRITES - 1 {
            store.put(format!("k{i}"), "v").expect("put");
        }
        drop(store);
        if lock.held() {
            println!("drop returned while locked");
        }
        let release = lock.release.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let _ = release.send(());
        });
        std::mem::forget(lock);
    });
}

/// The log destination's gate: it takes nothing until this is set.
static GATE: AtomicBool = AtomicBool::new(false);

/// A file that takes bytes only once `GATE` is open.
struct GatedFile(std::fs::File);

impl Destination for GatedFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        while !GATE.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.0.write(bytes)
    }
}

const TASKS: usize = 1000;

#[test]
fn a_guard_dropped_in_the_runtime_loses_no_line() {
    for flavor in ["current_thread", "multi_thread"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_child("log_child", dir.path(), flavor);
        assert!(out.contains("drops returned while the destination was held"), "{flavor}: {out}");
        let text = std::fs::read_to_string(dir.path().join("app.log")).expect("read the log");
        let lines = text.lines().filter(|l| l.contains("from task")).count();
        assert_eq!(lines, TASKS, "{flavor}: every line logged by the tasks is in the file");
    }
}

/// `async fn main` whose 1,000 tasks log a line each while the destination
/// is held; the guard and the last logger clone are dropped inside the
/// runtime, the destination opens 300 ms later, and `main` returns at once.
#[test]
#[ignore = "run by a_guard_dropped_in_the_runtime_loses_no_line"]
fn log_child() {
    let Some(dir) = child_dir() else { return };
    let file = std::fs::File::create(dir.join("app.log")).expect("create the log");
    let log = Logger::builder().destination(GatedFile(file)).build().expect("logger");
    // A drop that waits for the destination returns only when this opens it.
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        GATE.store(true, Ordering::SeqCst);
    });
    let guard = log.guard();
    child_runtime().block_on(async move {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { backburner::info!(log, "line from task {}", i) })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        drop(guard);
        drop(log);
        if !GATE.load(Ordering::SeqCst) {
            println!("drops returned while the destination was held");
        }
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            GATE.store(true, Ordering::SeqCst);
        });
    });
}

#[test]
fn a_store_dropped_in_the_runtime_and_opened_again_finds_its_writes() {
    // `drop(store); Store::open_async(url)` in async code: the new open
    // waits for the background close, so the old writes are committed
    // (not given up by a fenced writer) and a journal is free (not Locked).
    reopen_finds_writes(|db| format!("sqlite://{}?busy_timeout_ms=20", db.display()));
}

#[test]
fn a_store_dropped_in_the_runtime_and_opened_again_by_another_spelling_finds_its_writes() {
    // The same database and journal, named another way (`dir/./t.db`,
    // without the options): the open waits for the close all the same.
    reopen_finds_writes(|db| {
        let dir = db.parent().expect("dir");
        format!("sqlite://{}/./{}", dir.display(), db.file_name().expect("name").to_string_lossy())
    });
}

/// Drops a journaled store with writes behind a held lock inside a
/// runtime, then opens the same database with the URL `again` gives.
fn reopen_finds_writes(again: impl FnOnce(&Path) -> String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}?busy_timeout_ms=20", db.display());
    let again_url = again(&db);
    let journal = backburner::Durability::Journal { fsync: backburner::Fsync::Never };
    let store = Store::builder(&url).durability(journal).build().expect("open");
    store.put("warm", "up").expect("put").wait().expect("commit");
    let lock = Lock::take(&db);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let n = rt.block_on(async move {
        for i in 0..WRITES - 1 {
            store.put(format!("k{i}"), "v").expect("put");
        }
        drop(store);
        let release = lock.release.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let _ = release.send(());
        });
        let again = Store::builder(&again_url).durability(journal).build_async().await.expect("open again");
        let n = again.query_async("SELECT count(*) FROM backburner_kv", []).await.expect("count");
        again.close_async().await.expect("close");
        lock.release();
        n[0][0].as_i64()
    });
    assert_eq!(n, Some(WRITES), "the reopened store sees every write of the dropped one");
}
