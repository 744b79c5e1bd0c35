//! The journal's file I/O, behind traits so that tests can inject faults
//! ([`super::fault`]) and simulate power loss.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The files of one journal directory.
///
/// Every call is one I/O operation; fault-injecting backends count them.
pub trait Storage: Send + Sync + 'static {
    /// Names of the files in the directory.
    ///
    /// # Errors
    ///
    /// When the directory cannot be read.
    fn list(&self) -> io::Result<Vec<String>>;

    /// The whole content of a file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;

    /// Creates a new file of `len` bytes, reserved on disk (so that writes
    /// inside it cannot fail for lack of space), reading as zeros.
    ///
    /// # Errors
    ///
    /// `ErrorKind::StorageFull` when the space cannot be reserved; others
    /// when the file cannot be created.
    fn create(&self, name: &str, len: u64) -> io::Result<Box<dyn SegmentFile>>;

    /// Removes a file.
    ///
    /// # Errors
    ///
    /// When it cannot be removed.
    fn remove(&self, name: &str) -> io::Result<()>;

    /// Cuts a file to `len` bytes (repair of a torn tail).
    ///
    /// # Errors
    ///
    /// When it cannot be cut.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;

    /// Makes the directory's creations and removals durable.
    ///
    /// # Errors
    ///
    /// When the sync fails.
    fn sync_dir(&self) -> io::Result<()>;

    /// The file's path, for messages.
    fn path(&self, name: &str) -> PathBuf;
}

/// A segment open for writing.
pub trait SegmentFile: Send {
    /// Writes all of `buf` at `offset`.
    ///
    /// # Errors
    ///
    /// When the write fails (the journal is then poisoned).
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;

    /// Makes every write so far durable (`fdatasync`).
    ///
    /// # Errors
    ///
    /// When the sync fails (the journal is then poisoned: a later sync may
    /// report success with the data gone).
    fn sync(&mut self) -> io::Result<()>;
}

/// Real files in a directory.
#[derive(Debug, Clone)]
pub struct FsStorage {
    dir: PathBuf,
}

impl FsStorage {
    /// Uses (and creates if needed) `dir`.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<FsStorage> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        Ok(FsStorage { dir })
    }
}

/// The error for a journal directory `dir` that cannot be created, locked
/// or read, with its cause and what to do, as far as the file system tells.
pub(crate) fn dir_error(dir: &Path, source: io::Error) -> crate::Error {
    let todo = "or choose another directory with Builder::journal";
    let file_in_way = dir.ancestors().find(|a| a.is_file());
    let reason = match (source.raw_os_error(), file_in_way) {
        (_, Some(f)) if f == dir => format!("it is a file, not a directory; move the file away, {todo}"),
        (_, Some(f)) => {
            format!("{} is a file, so no directory can be created below it; move it away, {todo}", f.display())
        }
        (Some(libc::EROFS), _) => format!(
            "it is on a read-only file system, and the journal writes its LOCK file and segments there; remount it \
             read-write, {todo}"
        ),
        (Some(libc::EACCES | libc::EPERM), _) => format!(
            "no permission to create files in it (the journal writes its LOCK file and segments there); give the \
             store's user write permission on it, {todo}"
        ),
        _ => format!("{source}; {todo}"),
    };
    crate::Error::JournalDir { path: dir.to_path_buf(), reason, source }
}

struct FsSegment {
    file: File,
}

impl SegmentFile for FsSegment {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

impl FsStorage {
    /// Takes an exclusive lock on the directory (a `LOCK` file, `flock`),
    /// held until the returned file is closed (the OS releases it when the
    /// process dies).
    ///
    /// # Errors
    ///
    /// `ErrorKind::WouldBlock` if another store holds it.
    pub fn lock(&self) -> io::Result<File> {
        let f = OpenOptions::new().create(true).truncate(false).write(true).open(self.dir.join("LOCK"))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|e| {
            let e = io::Error::from(e);
            if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(io::ErrorKind::WouldBlock, "another store has this journal open")
            } else {
                e
            }
        })?;
        Ok(f)
    }
}

impl Storage for FsStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            if let Some(n) = e?.file_name().to_str() {
                names.push(n.to_string());
            }
        }
        Ok(names)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(name))
    }

    fn create(&self, name: &str, len: u64) -> io::Result<Box<dyn SegmentFile>> {
        let path = self.dir.join(name);
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        if let Err(e) = rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len) {
            let _ = std::fs::remove_file(&path);
            let e = io::Error::from(e);
            return Err(if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) {
                io::Error::new(io::ErrorKind::StorageFull, e)
            } else {
                e
            });
        }
        Ok(Box::new(FsSegment { file }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(self.dir.join(name))?;
        f.set_len(len)?;
        f.sync_all()
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}
