//! `backburner dead-letter replay FILE --to URL`: applies the writes of a
//! dead-letter file to a store, exactly those, in the file's order.

use std::path::PathBuf;
use std::time::Duration;

use backburner::{Error, Store, Write};

use crate::report::bar;
use crate::BoxError;

#[derive(clap::Subcommand, Debug)]
pub enum DeadLetterCommand {
    /// Apply every write of a dead-letter file to a store, in order, and
    /// report the ones that fail again (saved to --failed).
    Replay {
        /// The dead-letter file (JSON lines, e.g. data/app.db.dead-letter.jsonl).
        file: PathBuf,
        /// The store to apply them to, e.g. sqlite://data/app.db.
        #[arg(long)]
        to: String,
        /// Where the writes that fail again are saved (default: FILE.failed.jsonl).
        #[arg(long)]
        failed: Option<PathBuf>,
        /// Tries of a batch while the sink is unavailable before its writes count as failed again.
        #[arg(long, default_value_t = 10)]
        retries: u32,
    },
}

/// The writer id of `dead-letter replay` unless its URL names one.
const REPLAY_WRITER: &str = "dead-letter-replay";

pub fn run(cmd: DeadLetterCommand) -> Result<(), BoxError> {
    match cmd {
        DeadLetterCommand::Replay { file, to, failed, retries } => replay(file, &to, failed, retries),
    }
}

fn replay(file: PathBuf, to: &str, failed: Option<PathBuf>, retries: u32) -> Result<(), BoxError> {
    let found = backburner::dead_letter::read(&file)?;
    for (line, why) in &found.unreadable {
        eprintln!("{}: line {line} is not a dead-letter entry and is skipped: {why}", file.display());
    }
    let entries = found.entries;
    let failed = failed.unwrap_or_else(|| PathBuf::from(format!("{}.failed.jsonl", file.display())));
    // New writes, under a writer of their own unless the URL names one: a
    // replay must not take over (fence) the writer of an application that
    // is running on the same database.
    let mut builder = Store::builder(to);
    if !to.contains("writer=") {
        builder = builder.writer(REPLAY_WRITER);
    }
    let store = builder
        .dead_letter(Some(failed.clone()))
        .retries(retries, Duration::from_millis(10), Duration::from_secs(1))
        .build()?;
    let pb = bar(entries.len() as u64, "replaying");
    // Submitted in the file's order (the store applies them in that order),
    // then waited for one by one.
    let mut again: Vec<(u64, Error)> = Vec::new();
    let mut tickets = Vec::with_capacity(entries.len());
    for e in &entries {
        let r = match &e.write {
            Write::Put(kv) => store.put(kv.key(), kv.value()),
            Write::Delete(kv) => store.delete(kv.key()),
            Write::Execute(st) => store.execute(st.sql(), st.params()).map(|t| t.without_outcome()),
            other => return Err(format!("seq {}: a write this version cannot replay: {other:?}", e.seq).into()),
        };
        match r {
            Ok(t) => tickets.push((e.seq.get(), t)),
            // Refused at the call (too large, a bad statement): never accepted.
            Err(err) => {
                pb.inc(1);
                again.push((e.seq.get(), err));
            }
        }
    }
    let mut applied = 0u64;
    for (seq, t) in tickets {
        match t.wait() {
            Ok(()) => applied += 1,
            Err(err) => again.push((seq, err)),
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let closed = store.close();
    again.sort_by_key(|(seq, _)| *seq);
    println!(
        "replayed {} write(s) from {} into {to}: {applied} applied, {} failed again",
        entries.len(),
        file.display(),
        again.len()
    );
    for (seq, err) in again.iter().take(10) {
        println!("  seq {seq}: {err}");
    }
    if again.len() > 10 {
        println!("  … and {} more", again.len() - 10);
    }
    closed?;
    if !found.unreadable.is_empty() {
        return Err(format!(
            "{} line(s) of {} are not dead-letter entries and were not replayed (see above)",
            found.unreadable.len(),
            file.display()
        )
        .into());
    }
    if !again.is_empty() {
        let saved = if failed.exists() { format!("saved to {}", failed.display()) } else { "see above".into() };
        return Err(format!(
            "{} write(s) failed again ({saved}); the file {} is left as it was",
            again.len(),
            file.display()
        )
        .into());
    }
    Ok(())
}
