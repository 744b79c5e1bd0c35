//! Storage backends for tests: one that fails the Nth I/O operation, and an
//! in-memory one that can lose what was not synced, as a power loss would.
//!
//! ```
//! use std::sync::Arc;
//! use backburner::journal::fault::{Fault, FaultyStorage, MemStorage};
//!
//! let mem = Arc::new(MemStorage::new());
//! // Fail the 3rd operation and every one after it, as a dying disk would.
//! let faulty = FaultyStorage::new(mem.clone(), Fault::from(3).persistent());
//! # let _ = faulty;
//! ```

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::storage::{SegmentFile, Storage};

/// Which operation fails, and how.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    at: u64,
    persistent: bool,
    kind: io::ErrorKind,
}

impl Fault {
    /// The `n`th operation (counting from 1) fails once with an I/O error.
    pub fn from(n: u64) -> Fault {
        Fault { at: n, persistent: false, kind: io::ErrorKind::Other }
    }
    /// Every operation from the `n`th on fails.
    pub fn persistent(mut self) -> Fault {
        self.persistent = true;
        self
    }
    /// Fails with this kind (`StorageFull` for a full disk).
    pub fn kind(mut self, kind: io::ErrorKind) -> Fault {
        self.kind = kind;
        self
    }
    /// Never fails (counts only).
    pub fn never() -> Fault {
        Fault::from(u64::MAX)
    }
}

/// Wraps a storage and fails the operation a [`Fault`] names. Counts every
/// operation (list, read, create, write, sync, remove, truncate, sync_dir).
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    count: Arc<AtomicU64>,
    fault: Fault,
}

impl FaultyStorage {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Storage>, fault: Fault) -> FaultyStorage {
        FaultyStorage { inner, count: Arc::new(AtomicU64::new(0)), fault }
    }
    /// Operations so far.
    pub fn ops(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
    /// A counter shared with clones of segment files.
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.count)
    }
}

fn tick(count: &AtomicU64, fault: &Fault, what: &str) -> io::Result<()> {
    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
    if n == fault.at || (fault.persistent && n >= fault.at) {
        return Err(io::Error::new(fault.kind, format!("injected fault at I/O operation {n} ({what})")));
    }
    Ok(())
}

struct FaultySegment {
    inner: Box<dyn SegmentFile>,
    count: Arc<AtomicU64>,
    fault: Fault,
}

impl SegmentFile for FaultySegment {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        tick(&self.count, &self.fault, "write")?;
        self.inner.write_at(offset, buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        tick(&self.count, &self.fault, "sync")?;
        self.inner.sync()
    }
}

impl Storage for FaultyStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        tick(&self.count, &self.fault, "list")?;
        self.inner.list()
    }
    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        tick(&self.count, &self.fault, "read")?;
        self.inner.read(name)
    }
    fn create(&self, name: &str, len: u64) -> io::Result<Box<dyn SegmentFile>> {
        tick(&self.count, &self.fault, "create")?;
        let inner = self.inner.create(name, len)?;
        Ok(Box::new(FaultySegment { inner, count: Arc::clone(&self.count), fault: self.fault }))
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        tick(&self.count, &self.fault, "remove")?;
        self.inner.remove(name)
    }
    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        tick(&self.count, &self.fault, "truncate")?;
        self.inner.truncate(name, len)
    }
    fn sync_dir(&self) -> io::Result<()> {
        tick(&self.count, &self.fault, "sync_dir")?;
        self.inner.sync_dir()
    }
    fn path(&self, name: &str) -> PathBuf {
        self.inner.path(name)
    }
}

#[derive(Default, Clone)]
struct MemFile {
    /// What reads see now.
    data: Vec<u8>,
    /// What survives a power loss.
    synced: Vec<u8>,
    /// Whether the directory entry survives a power loss.
    entry_synced: bool,
}

#[derive(Default)]
struct MemState {
    files: HashMap<String, MemFile>,
    /// Removed, but the removal is not yet durable.
    removed: HashMap<String, MemFile>,
}

/// An in-memory directory that keeps, per file, what was synced apart from
/// what was only written, so that [`power_loss`](MemStorage::power_loss)
/// can drop the rest.
#[derive(Default, Clone)]
pub struct MemStorage {
    state: Arc<Mutex<MemState>>,
}

impl MemStorage {
    /// An empty directory.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Simulates a power loss: every file goes back to its last synced
    /// content plus the first `keep_unsynced(name, unsynced_len)` bytes of
    /// what was written after it (a torn write); files created since the
    /// last directory sync vanish, removals since then are undone.
    pub fn power_loss(&self, mut keep_unsynced: impl FnMut(&str, usize) -> usize) {
        let mut st = self.state.lock();
        let removed = std::mem::take(&mut st.removed);
        for (name, f) in removed {
            if f.entry_synced {
                st.files.insert(name, f);
            }
        }
        st.files.retain(|_, f| f.entry_synced);
        for (name, f) in st.files.iter_mut() {
            let mut data = f.synced.clone();
            if f.data.len() > data.len() || f.data[..data.len()] != data[..] {
                // Writes since the sync: keep a prefix of the changed bytes.
                let from = f.data.iter().zip(&data).position(|(a, b)| a != b).unwrap_or(data.len().min(f.data.len()));
                let changed = f.data.len().saturating_sub(from);
                let keep = keep_unsynced(name, changed).min(changed);
                data.resize(data.len().max(from + keep), 0);
                data[from..from + keep].copy_from_slice(&f.data[from..from + keep]);
            }
            f.data = data;
        }
    }

    /// An independent copy of the directory as it is now: what a process
    /// started after a `kill -9` of this one would find (written data
    /// survives in the OS cache).
    pub fn snapshot(&self) -> MemStorage {
        let st = self.state.lock();
        let files = st.files.clone();
        MemStorage { state: Arc::new(Mutex::new(MemState { files, removed: HashMap::new() })) }
    }

    /// Names of the segment files (not the journal's `WRITER` file or its
    /// checkpoint files).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.state.lock().files.keys().filter(|n| super::parse_name(n).is_some()).cloned().collect();
        v.sort();
        v
    }

    /// The current bytes of a file.
    pub fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.state.lock().files.get(name).map(|f| f.data.clone())
    }

    /// Overwrites bytes of a file (to simulate corruption).
    pub fn corrupt(&self, name: &str, offset: usize, bytes: &[u8]) {
        if let Some(f) = self.state.lock().files.get_mut(name) {
            let end = (offset + bytes.len()).min(f.data.len());
            if offset < end {
                f.data[offset..end].copy_from_slice(&bytes[..end - offset]);
                f.synced = f.data.clone();
            }
        }
    }
}

struct MemSegment {
    state: Arc<Mutex<MemState>>,
    name: String,
}

fn gone(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name} was removed"))
}

impl SegmentFile for MemSegment {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut st = self.state.lock();
        let f = st.files.get_mut(&self.name).ok_or_else(|| gone(&self.name))?;
        let off = offset as usize;
        if f.data.len() < off + buf.len() {
            f.data.resize(off + buf.len(), 0);
        }
        f.data[off..off + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut st = self.state.lock();
        let f = st.files.get_mut(&self.name).ok_or_else(|| gone(&self.name))?;
        f.synced = f.data.clone();
        Ok(())
    }
}

impl Storage for MemStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.state.lock().files.keys().cloned().collect())
    }
    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.bytes(name).ok_or_else(|| gone(name))
    }
    fn create(&self, name: &str, len: u64) -> io::Result<Box<dyn SegmentFile>> {
        let mut st = self.state.lock();
        if st.files.contains_key(name) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{name} exists")));
        }
        let zeros = vec![0u8; len as usize];
        st.files.insert(name.to_string(), MemFile { data: zeros.clone(), synced: zeros, entry_synced: false });
        Ok(Box::new(MemSegment { state: Arc::clone(&self.state), name: name.to_string() }))
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        let mut st = self.state.lock();
        let f = st.files.remove(name).ok_or_else(|| gone(name))?;
        st.removed.insert(name.to_string(), f);
        Ok(())
    }
    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut st = self.state.lock();
        let f = st.files.get_mut(name).ok_or_else(|| gone(name))?;
        f.data.truncate(len as usize);
        f.synced = f.data.clone();
        Ok(())
    }
    fn sync_dir(&self) -> io::Result<()> {
        let mut st = self.state.lock();
        st.removed.clear();
        for f in st.files.values_mut() {
            f.entry_synced = true;
        }
        Ok(())
    }
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from("<memory>").join(name)
    }
}
