//! The process-wide list of open stores, so that an ending process can
//! drain them: the logger's signal handler (`Guard::handle_signals`) closes
//! every open store before it ends the process.
//!
//! The exit handler (`log::exit`, registered by each store's open) drains
//! them too, so that `std::process::exit`, or `main` returning while a
//! store is still open or still closing in the background, loses nothing.
//!
//! A store registers itself when it opens; the list holds weak references
//! only, so it never keeps a store alive (a dead one is pruned at the next
//! registration), and a store already closed answers its drain at once.

use std::sync::{Condvar, Mutex, OnceLock, PoisonError, Weak};

/// Something that can be drained before the process ends.
pub(crate) trait Drain: Send + Sync {
    /// Drains (within the store's drain timeout) and closes. Errors are
    /// reported on standard error: the process is ending, nobody else can
    /// hear them.
    fn drain_for_exit(&self);
}

fn registry() -> &'static Mutex<Vec<Weak<dyn Drain>>> {
    static R: OnceLock<Mutex<Vec<Weak<dyn Drain>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Vec::new()))
}

/// Adds an open store to the list (dead entries are pruned on the way).
pub(crate) fn register(d: Weak<dyn Drain>) {
    let mut r = registry().lock().unwrap_or_else(PoisonError::into_inner);
    r.retain(|w| w.strong_count() > 0);
    r.push(d);
}

/// Drains and closes every store still open, one after the other.
pub(crate) fn drain_all() {
    // Upgraded first, the lock released before any drain: a drain may take
    // seconds and a store may open or close meanwhile.
    let open: Vec<_> = {
        let r = registry().lock().unwrap_or_else(PoisonError::into_inner);
        r.iter().filter_map(Weak::upgrade).collect()
    };
    for d in open {
        d.drain_for_exit();
    }
}

/// Whether the calling thread runs an async runtime's tasks, where a drop
/// must not wait for a drain: a tokio runtime (feature `tokio`, on by
/// default), inside `block_on` or on one of its worker threads. No
/// runtime-agnostic test exists: under another runtime this says `false`,
/// and the drop of a store's last handle drains in place (the docs point
/// such programs to `close_async`).
pub(crate) fn on_executor() -> bool {
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok() {
        return true;
    }
    false
}

/// Stores of this process closing in the background (their last handle
/// dropped on an executor thread), by key (`close_key`: the URL without its
/// options), and the opens waiting for them.
static BACKGROUND: Mutex<Vec<String>> = Mutex::new(Vec::new());
static BACKGROUND_DONE: Condvar = Condvar::new();

/// What an open and a background close compare: the store's URL without
/// its `?options` (the same database, whatever the options), and for a
/// SQLite URL the database's path with its directory made canonical, so
/// that `sqlite://data/app.db`, `sqlite://./data//app.db` and the absolute
/// spelling are one database. A directory that cannot be resolved (not
/// there yet) leaves the path as written.
pub(crate) fn close_key(url: &str) -> String {
    let bare = url.split('?').next().unwrap_or(url);
    if let Some(rest) = bare.strip_prefix("sqlite:") {
        let path = std::path::Path::new(rest.strip_prefix("//").unwrap_or(rest));
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
            let dir = if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir };
            if let Ok(dir) = std::fs::canonicalize(dir) {
                return format!("sqlite://{}", dir.join(name).display());
            }
        }
    }
    bare.to_string()
}

/// One background close, counted from `begin` until dropped (the close's
/// end, or a panic in it).
pub(crate) struct BackgroundClose(String);

impl BackgroundClose {
    /// `key` is the store's `close_key`, computed when it opened (the
    /// current directory may have changed since, and a drop on an executor
    /// thread should not touch the file system).
    pub(crate) fn begin(key: String) -> BackgroundClose {
        BACKGROUND.lock().unwrap_or_else(PoisonError::into_inner).push(key.clone());
        BackgroundClose(key)
    }
}

impl Drop for BackgroundClose {
    fn drop(&mut self) {
        let mut list = BACKGROUND.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = list.iter().position(|k| *k == self.0) {
            list.swap_remove(i);
        }
        BACKGROUND_DONE.notify_all();
    }
}

/// Waits, for at most `bound`, until no store of this process with the
/// key `key` ([`close_key`]) is closing in the background: an open, as the closing
/// store may hold the journal's lock and the writer. Not on a store's own
/// threads (a sink or a destination opening a store could wait for the
/// close that waits for it); past the bound the open goes on (and says
/// `Locked` if the journal is still held).
pub(crate) fn wait_for_background_closes(key: &str, bound: std::time::Duration) {
    if crate::thread::is_store_thread() {
        return;
    }
    let list = BACKGROUND.lock().unwrap_or_else(PoisonError::into_inner);
    let closing = |l: &mut Vec<String>| l.iter().any(|k| k == key);
    drop(BACKGROUND_DONE.wait_timeout_while(list, bound, closing).unwrap_or_else(PoisonError::into_inner));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::close_key;

    #[test]
    fn spellings_of_one_database_share_a_close_key() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().display();
        let key = close_key(&format!("sqlite://{d}/t.db?busy_timeout_ms=20"));
        for same in [format!("sqlite://{d}/./t.db"), format!("sqlite://{d}//t.db"), format!("sqlite:{d}/t.db")] {
            assert_eq!(close_key(&same), key, "{same}");
        }
        assert_ne!(close_key(&format!("sqlite://{d}/u.db")), key);
        std::fs::create_dir(dir.path().join("sub")).expect("sub");
        assert_eq!(close_key(&format!("sqlite://{d}/sub/../t.db")), key);
        // Not SQLite, or a directory that is not there: the text, options aside.
        assert_eq!(close_key("custom-label?x=1"), "custom-label");
        assert_eq!(close_key("sqlite:///no/such/dir/t.db?x=1"), "sqlite:///no/such/dir/t.db");
    }
}
