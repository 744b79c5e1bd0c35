//! `backburner journal inspect DIR` and `backburner journal replay DIR --to URL`.

use std::path::PathBuf;
use std::time::Duration;

use backburner::journal::{inspect as read_segments, End, FsStorage};
use backburner::{Durability, Fsync, RecoveryMode, Store};

use crate::report::bar;
use crate::BoxError;

#[derive(clap::Subcommand, Debug)]
pub enum JournalCommand {
    /// List the segments of a journal: records, seq range, checksum status.
    Inspect {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Apply a journal's writes to a sink (those after its last applied seq).
    Replay {
        /// The journal directory.
        dir: PathBuf,
        /// The sink, e.g. sqlite://data/app.db.
        #[arg(long)]
        to: String,
        /// Skip damaged records instead of refusing (the damaged writes are lost).
        #[arg(long)]
        skip_corrupt: bool,
    },
}

pub fn run(cmd: JournalCommand) -> Result<(), BoxError> {
    match cmd {
        JournalCommand::Inspect { dir } => inspect(dir),
        JournalCommand::Replay { dir, to, skip_corrupt } => replay(dir, &to, skip_corrupt),
    }
}

fn storage(dir: &PathBuf) -> Result<FsStorage, BoxError> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory (a journal is a directory of .bbj segments)", dir.display()).into());
    }
    Ok(FsStorage::new(dir)?)
}

fn inspect(dir: PathBuf) -> Result<(), BoxError> {
    let segs = read_segments(&storage(&dir)?)?;
    println!("journal {}: {} segment(s)", dir.display(), segs.len());
    println!("  {:<26} {:>10} {:>8}  {:<23}  status", "segment", "bytes", "records", "seqs");
    let (mut records, mut lo, mut hi, mut bad) = (0usize, u64::MAX, 0u64, 0usize);
    for (i, s) in segs.iter().enumerate() {
        let is_last = i + 1 == segs.len();
        records += s.records;
        if let Some((a, b)) = s.seqs {
            lo = lo.min(a);
            hi = hi.max(b);
        }
        let status = match &s.status {
            Ok(End::Clean { offset }) => format!("ok (data ends at {offset})"),
            Ok(End::Bad { offset, reason, valid_after: None }) if is_last => {
                format!("torn tail at {offset}: {reason} (truncated on open)")
            }
            Ok(End::Bad { offset, reason, valid_after: None }) => {
                bad += 1;
                format!("CORRUPT end at {offset}: {reason} (not the last segment: not a torn write)")
            }
            Ok(End::Bad { offset, reason, valid_after: Some(v) }) => {
                bad += 1;
                format!("CORRUPT at {offset}: {reason} (valid records resume at {v})")
            }
            Err(e) => {
                bad += 1;
                format!("UNREADABLE: {e}")
            }
        };
        let seqs = s.seqs.map_or("-".to_string(), |(a, b)| format!("{a}..={b}"));
        println!("  {:<26} {:>10} {:>8}  {:<23}  {status}", s.name, s.bytes, s.records, seqs);
    }
    if records > 0 {
        println!(
            "total: {records} record(s), seqs {lo}..={hi}; checksums: {}",
            if bad == 0 { "all valid" } else { "DAMAGED" }
        );
    } else {
        println!("total: no records");
    }
    if bad > 0 {
        return Err(format!("{bad} segment(s) damaged beyond a torn tail").into());
    }
    Ok(())
}

/// Replays from a copy of the journal, so that the original stays as it is
/// (opening a store on a journal deletes the segments it has applied, and
/// truncates a torn tail): the same journal can be replayed into several sinks.
fn replay(dir: PathBuf, to: &str, skip_corrupt: bool) -> Result<(), BoxError> {
    let segs = read_segments(&storage(&dir)?)?;
    let total: usize = segs.iter().map(|s| s.records).sum();
    let copy = tempfile::tempdir()?;
    for s in &segs {
        std::fs::copy(dir.join(&s.name), copy.path().join(&s.name))?;
    }
    // The journal holds one writer's writes: replay them as that writer,
    // unless the URL names one (then the store checks that it is the same).
    let owner = backburner::journal::journal_writer(&storage(&dir)?)?;
    if let Some(w) = &owner {
        std::fs::write(copy.path().join("WRITER"), format!("{w}\n"))?;
    }
    let mut builder = Store::builder(to);
    if let (Some(w), false) = (&owner, to.contains("writer=")) {
        builder = builder.writer(w.as_str());
    }
    let store = builder
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal(copy.path())
        .recovery(if skip_corrupt { RecoveryMode::SkipCorrupt } else { RecoveryMode::Strict })
        .build()?;
    let before = store.stats();
    let pending = before.queue_depth;
    let pb = bar(pending, "replaying");
    let flusher = {
        let store = store.clone();
        std::thread::spawn(move || store.flush())
    };
    while !flusher.is_finished() {
        pb.set_position(pending.saturating_sub(store.stats().queue_depth));
        std::thread::sleep(Duration::from_millis(50));
    }
    let flushed = flusher.join().map_err(|_| "flush thread panicked")?;
    pb.finish_and_clear();
    let st = store.stats();
    store.close()?;
    flushed?;
    println!(
        "replayed {} write(s) from {} into {to} ({} record(s) in the journal; the others were applied already); {} dead-lettered",
        st.committed + st.dead_letters,
        dir.display(),
        total,
        st.dead_letters
    );
    Ok(())
}
