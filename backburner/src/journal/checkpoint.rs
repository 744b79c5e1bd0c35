//! The checkpoint of a sink that cannot store it with its writes
//! ([`Checkpoint::Local`](crate::sink::Checkpoint::Local), an HTTP
//! endpoint): the last applied `Seq`, kept in the journal's directory.
//!
//! Two files, `checkpoint-a` and `checkpoint-b`, each 20 bytes: the magic
//! `BBCKPT01`, the seq (u64 LE) and a CRC32C of both. Saves alternate between
//! them, so a save torn by a crash leaves the other one whole; opening takes
//! the highest valid seq. Saves happen at most every 100 ms while the worker
//! is busy (and when it idles or stops), each synced: a checkpoint late only
//! makes the next open deliver again writes the sink already has, each with
//! the same idempotency key. That is the at-least-once such a sink promises;
//! a checkpoint never runs ahead of what the sink took. The journal deletes
//! a segment only once a saved checkpoint covers it, so the next open
//! always finds, in the checkpoint or in the segments, the highest seq
//! delivered, and hands out seqs after it: a key never names two writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::storage::Storage;
use crate::error::Error;

const MAGIC: &[u8; 8] = b"BBCKPT01";
const NAMES: [&str; 2] = ["checkpoint-a", "checkpoint-b"];
const EVERY: Duration = Duration::from_millis(100);

fn encode(seq: u64) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(MAGIC);
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&b[..16]);
    b[16..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode(b: &[u8]) -> Option<u64> {
    let b: &[u8; 20] = b.get(..20)?.try_into().ok()?;
    let crc = u32::from_le_bytes(b[16..].try_into().ok()?);
    (&b[..8] == MAGIC && crc32c::crc32c(&b[..16]) == crc)
        .then(|| u64::from_le_bytes(b[8..16].try_into().unwrap_or_default()))
}

/// Saves the checkpoint of a `Checkpoint::Local` sink.
pub(crate) struct LocalCheckpoint {
    storage: Arc<dyn Storage>,
    /// The index in `NAMES` of the file the next save overwrites.
    next: usize,
    saved: u64,
    last_save: Instant,
}

impl LocalCheckpoint {
    /// The last saved checkpoint in `storage` (0 if none is there).
    ///
    /// # Errors
    ///
    /// When a checkpoint file exists but cannot be read.
    pub(crate) fn load(storage: &dyn Storage) -> Result<u64, Error> {
        let mut best = 0;
        let names = storage.list().map_err(|source| Error::Io { path: storage.path(""), source })?;
        for name in NAMES {
            if !names.iter().any(|n| n == name) {
                continue;
            }
            let bytes = storage.read(name).map_err(|source| Error::Io { path: storage.path(name), source })?;
            match decode(&bytes) {
                Some(seq) => best = best.max(seq),
                None => ::log::warn!(
                    "backburner: checkpoint file {} is torn or damaged; using the other one",
                    storage.path(name).display()
                ),
            }
        }
        Ok(best)
    }

    /// The saver for `storage`, whose loaded checkpoint is `saved`. The
    /// first save overwrites the file that does not hold `saved`: a crash in
    /// the middle of it (the file removed, not yet written again) leaves the
    /// newest checkpoint whole, which the journal's deletions rely on.
    pub(crate) fn new(storage: Arc<dyn Storage>, saved: u64) -> LocalCheckpoint {
        let holds = |name: &str| storage.read(name).ok().and_then(|b| decode(&b)) == Some(saved);
        let next = if saved > 0 && holds(NAMES[0]) { 1 } else { 0 };
        LocalCheckpoint { storage, next, saved, last_save: Instant::now() }
    }

    /// Saves `seq` if the last save is 100 ms old.
    pub(crate) fn save_soon(&mut self, seq: u64) {
        if self.last_save.elapsed() >= EVERY {
            self.save(seq);
        }
    }

    /// The last checkpoint saved (or loaded).
    pub(crate) fn saved(&self) -> u64 {
        self.saved
    }

    /// Saves `seq` now (if it moved), synced with its directory entry. A
    /// failure is logged: the next save tries again, and until then an open
    /// delivers more writes again.
    pub(crate) fn save(&mut self, seq: u64) {
        if seq <= self.saved {
            return;
        }
        let name = NAMES[self.next];
        let r = match self.storage.remove(name) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => self
                .storage
                .create(name, 20)
                .and_then(|mut f| f.write_at(0, &encode(seq)).and_then(|()| f.sync()))
                .and_then(|()| self.storage.sync_dir()),
        };
        match r {
            Ok(()) => {
                self.saved = seq;
                self.next = 1 - self.next;
                self.last_save = Instant::now();
            }
            Err(e) => ::log::warn!(
                "backburner: could not save the checkpoint (seq {seq}) to {}: {e}; a reopen will deliver again the writes since seq {}",
                self.storage.path(name).display(),
                self.saved
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::FsStorage;

    #[test]
    fn the_highest_whole_checkpoint_wins_and_a_torn_one_is_skipped() {
        let dir = tempfile::tempdir().expect("dir");
        let fs: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()).expect("storage"));
        assert_eq!(LocalCheckpoint::load(fs.as_ref()).expect("load"), 0);
        let mut c = LocalCheckpoint::new(Arc::clone(&fs), 0);
        c.save(10);
        c.save(25);
        assert_eq!(LocalCheckpoint::load(fs.as_ref()).expect("load"), 25);
        // The newest file torn: the other one still holds 10.
        std::fs::write(dir.path().join("checkpoint-b"), &encode(25)[..12]).expect("tear");
        assert_eq!(LocalCheckpoint::load(fs.as_ref()).expect("load"), 10);
        c.save(30);
        assert_eq!(LocalCheckpoint::load(fs.as_ref()).expect("load"), 30);
        // After a restart, the first save leaves the newest file alone.
        let mut again = LocalCheckpoint::new(Arc::clone(&fs), 30);
        std::fs::remove_file(dir.path().join("checkpoint-b")).expect("b");
        again.save(40);
        assert_eq!(std::fs::read(dir.path().join("checkpoint-a")).ok().and_then(|b| decode(&b)), Some(30));
        assert_eq!(LocalCheckpoint::load(fs.as_ref()).expect("load"), 40);
    }
}
