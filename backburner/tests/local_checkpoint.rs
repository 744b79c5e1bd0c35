//! Guards the checkpoint of a sink that cannot store it with its writes
//! (`Checkpoint::Local`, as an HTTP endpoint): such a store is refused
//! without a journal; with one, the checkpoint kept in the journal's
//! directory (`checkpoint-a`, `checkpoint-b`) stops a reopened store from
//! delivering again what the sink took; and when the checkpoint lags (lost,
//! or older than the deliveries), the store delivers again, at least once,
//! each write with the same idempotency key (`writer:seq`) and payload as
//! before: a key never names two different writes.
//!
//! The sink is a file of lines `idempotency_key<TAB>key<TAB>value`, one per
//! delivered write, appended and synced per batch.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use backburner::{
    ApplyError, Batch, Checkpoint, Durability, Error, Fsync, Outcomes, Resume, Seq, Sink, SinkError, Store, Write,
};

/// Appends each delivered put to a file, one line each.
struct Lines {
    path: PathBuf,
}

impl Sink for Lines {
    fn open_writer(&mut self, _: &str) -> Result<Resume, SinkError> {
        // A sink with a local checkpoint knows nothing of seqs.
        Ok(Resume { last_applied: Seq(0), epoch: 0 })
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::Local
    }

    fn apply(&mut self, batch: &Batch<'_>, _: &mut Outcomes<'_>) -> Result<(), ApplyError> {
        let mut text = String::new();
        for (position, (seq, w)) in batch.writes().enumerate() {
            let Write::Put(kv) = w else {
                return Err(ApplyError::Rejected { position, error: SinkError::new("this sink takes puts only") });
            };
            let s = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8");
            text.push_str(&format!("{}\t{}\t{}\n", batch.idempotency_key(seq), s(kv.key()), s(kv.value())));
        }
        let io = |e: std::io::Error| ApplyError::Transient(SinkError::with_source("cannot append to the lines", e));
        let mut f = OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_data().map_err(io)
    }
}

/// The deliveries in the file: (idempotency key, key, value), in order.
fn deliveries(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let mut f = l.split('\t');
            let mut next = || f.next().unwrap_or_else(|| panic!("bad line {l:?}")).to_string();
            (next(), next(), next())
        })
        .collect()
}

/// Deliveries per idempotency key, checking that no key names two
/// different writes (a receiver that drops repeated keys would lose one).
fn by_key(path: &Path) -> BTreeMap<String, (String, String, usize)> {
    let mut seen: BTreeMap<String, (String, String, usize)> = BTreeMap::new();
    for (idem, key, value) in deliveries(path) {
        let e = seen.entry(idem.clone()).or_insert_with(|| (key.clone(), value.clone(), 0));
        assert_eq!((&e.0, &e.1), (&key, &value), "idempotency key {idem} names two different writes");
        e.2 += 1;
    }
    seen
}

fn open(lines: &Path, journal: &Path) -> Store {
    Store::builder("lines")
        .sink(Lines { path: lines.to_path_buf() })
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal(journal)
        .build()
        .expect("open")
}

/// Puts `k{i}` = `v{i}` for i in `from..to`, then closes the store.
fn put_and_close(store: Store, from: u64, to: u64) {
    for i in from..to {
        let t = store.put(format!("k{i}"), format!("v{i}")).expect("put");
        assert_eq!(t.seq().get(), i + 1, "the seqs continue");
    }
    store.close().expect("close");
}

fn checkpoint_files(journal: &Path) -> Vec<(String, Vec<u8>)> {
    ["checkpoint-a", "checkpoint-b"]
        .into_iter()
        .filter_map(|n| std::fs::read(journal.join(n)).ok().map(|b| (n.to_string(), b)))
        .collect()
}

/// Puts the checkpoint files back as `saved` holds them (as a crash
/// before the next save would have left them).
fn restore(journal: &Path, saved: &[(String, Vec<u8>)]) {
    for n in ["checkpoint-a", "checkpoint-b"] {
        let _ = std::fs::remove_file(journal.join(n));
    }
    for (n, b) in saved {
        std::fs::write(journal.join(n), b).expect("restore the checkpoint");
    }
}

fn keys(from: u64, to: u64) -> Vec<String> {
    (from..=to).map(|s| format!("default:{s}")).collect()
}

#[test]
fn a_local_checkpoint_needs_a_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = dir.path().join("lines");
    let r = Store::builder("lines").sink(Lines { path: lines.clone() }).build();
    match r {
        Err(e @ Error::InvalidOption { name: "durability", .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("Checkpoint::Local") && msg.contains("give the store a journal"), "{msg}");
            assert!(msg.contains("Durability::Journal"), "{msg}");
        }
        Err(e) => panic!("expected InvalidOption {{ name: \"durability\" }}, got {e:?}"),
        Ok(s) => {
            let _ = s.close();
            panic!("a store over a Checkpoint::Local sink opened without a journal");
        }
    }
    assert!(deliveries(&lines).is_empty());
}

#[test]
fn a_reopened_store_delivers_nothing_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lines, journal) = (dir.path().join("lines"), dir.path().join("journal"));
    put_and_close(open(&lines, &journal), 0, 100);
    let got = by_key(&lines);
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), {
        let mut k = keys(1, 100);
        k.sort();
        k
    });
    assert!(got.values().all(|(_, _, n)| *n == 1), "delivered once each");
    assert!(!checkpoint_files(&journal).is_empty(), "the checkpoint is in the journal's directory");

    // Reopened (a fresh sink on the same file), twice: nothing again.
    for _ in 0..2 {
        let store = open(&lines, &journal);
        assert_eq!(store.watermark().get(), 100, "resumes at the saved checkpoint");
        store.flush().expect("flush");
        store.close().expect("close");
        assert_eq!(deliveries(&lines).len(), 100, "nothing delivered again");
    }
    // New writes continue after it, once each.
    put_and_close(open(&lines, &journal), 100, 110);
    let got = by_key(&lines);
    assert_eq!(got.len(), 110);
    assert!(got.values().all(|(_, _, n)| *n == 1), "delivered once each");
}

#[test]
fn a_lost_checkpoint_delivers_again_with_the_same_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lines, journal) = (dir.path().join("lines"), dir.path().join("journal"));
    put_and_close(open(&lines, &journal), 0, 100);
    assert_eq!(deliveries(&lines).len(), 100);
    // The checkpoint lost (a crash before its first save); the journal
    // still holds the writes.
    restore(&journal, &[]);
    let store = open(&lines, &journal);
    store.flush().expect("flush");
    store.close().expect("close");
    let got = by_key(&lines);
    assert_eq!(got.len(), 100, "every write delivered, under its own key");
    let again = got.values().filter(|(_, _, n)| *n > 1).count();
    assert!(again > 0, "nothing was delivered again: the test shows nothing");
    assert!(got.values().all(|(_, _, n)| *n <= 2), "delivered again once at most");
}

#[test]
fn a_lagging_checkpoint_delivers_again_only_what_follows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lines, journal) = (dir.path().join("lines"), dir.path().join("journal"));
    put_and_close(open(&lines, &journal), 0, 50);
    let at_50 = checkpoint_files(&journal);
    put_and_close(open(&lines, &journal), 50, 100);
    // A crash before the checkpoint of the second run was saved.
    restore(&journal, &at_50);
    let store = open(&lines, &journal);
    assert_eq!(store.watermark().get(), 50);
    store.flush().expect("flush");
    store.close().expect("close");
    let got = by_key(&lines);
    assert_eq!(got.len(), 100, "every write delivered");
    let mut again: Vec<String> = got.iter().filter(|(_, (_, _, n))| *n > 1).map(|(k, _)| k.clone()).collect();
    again.sort_by_key(|k| k[8..].parse::<u64>().expect("seq"));
    assert_eq!(again, keys(51, 100), "delivered again: exactly the writes after the checkpoint");
}

#[test]
fn a_key_is_never_given_to_a_new_write_after_a_lagging_checkpoint() {
    // A run that delivers again the writes after a lagging checkpoint
    // (51..=100 after 50) deletes the journal segment holding them once it
    // may. A crash at that instant leaves the checkpoint files as they are
    // then; the next run must hand out seqs after 100 all the same: the
    // keys `default:51`.. name writes already delivered.
    let dir = tempfile::tempdir().expect("tempdir");
    let (lines, journal) = (dir.path().join("lines"), dir.path().join("journal"));
    put_and_close(open(&lines, &journal), 0, 50);
    let at_50 = checkpoint_files(&journal);
    put_and_close(open(&lines, &journal), 50, 100);
    restore(&journal, &at_50);
    let replayed = segments(&journal);
    assert!(!replayed.is_empty(), "the journal holds 51..=100");

    let store = open(&lines, &journal);
    store.flush().expect("the writes after the checkpoint are delivered again");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while segments(&journal).iter().any(|s| replayed.contains(s)) {
        assert!(std::time::Instant::now() < deadline, "the journal never deleted {replayed:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // What a kill -9 now would leave.
    let at_crash = checkpoint_files(&journal);
    store.close().expect("close");
    restore(&journal, &at_crash);

    let store = open(&lines, &journal);
    let t = store.put("new", "write").expect("put");
    t.wait().expect("delivered");
    store.close().expect("close");
    let got = by_key(&lines); // panics if a key names two different writes
    assert!(t.seq().get() > 100, "seq {} was handed out again", t.seq());
    assert_eq!(got.len(), 101);
}

/// The journal's segment files.
fn segments(journal: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(journal)
        .expect("journal dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bbj"))
        .collect();
    names.sort();
    names
}
