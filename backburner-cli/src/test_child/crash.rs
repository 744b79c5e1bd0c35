//! `backburner crash-child`: the writer that the crash test kills with
//! SIGKILL. It writes with `Durability::Journal { fsync: EveryBatch }` and
//! prints, in order, `J <id>` for each write its ticket reports journaled
//! (or `F <id> <error>`), flushing stdout after each line.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use backburner::{params, Durability, Fsync, Store};

use crate::BoxError;

#[derive(clap::Args, Debug)]
pub struct ChildArgs {
    /// The SQLite database.
    #[arg(long)]
    db: PathBuf,
    /// The journal directory.
    #[arg(long)]
    journal: PathBuf,
    /// First id to write.
    #[arg(long)]
    start: u64,
    /// Pause between writes, in microseconds.
    #[arg(long, default_value_t = 20)]
    pace_us: u64,
    /// The writer id (default: the store's default writer).
    #[arg(long)]
    writer: Option<String>,
}

pub fn child(a: ChildArgs) -> Result<(), BoxError> {
    let mut builder = Store::builder(&format!("sqlite://{}", a.db.display()));
    if let Some(w) = &a.writer {
        builder = builder.writer(w.as_str());
    }
    let store = builder
        .durability(Durability::Journal { fsync: Fsync::EveryBatch })
        .journal(&a.journal)
        .journal_limits(256 << 10, 64 << 20)
        .linger(Duration::from_millis(2))
        .build()?;
    store.execute("CREATE TABLE IF NOT EXISTS crash(id INTEGER NOT NULL, part TEXT NOT NULL)", [])?;
    // The checker looks rows up by id after every round: keep the long mode fast.
    store.execute("CREATE INDEX IF NOT EXISTS crash_id ON crash(id)", [])?;
    let (tx, rx) = std::sync::mpsc::channel::<(u64, backburner::Ticket<backburner::Executed>)>();
    let reporter = std::thread::spawn(move || {
        let out = std::io::stdout();
        for (id, t) in rx {
            let line = match t.wait_journaled() {
                Ok(()) => format!("J {id}\n"),
                Err(e) => format!("F {id} {e}\n"),
            };
            let mut o = out.lock();
            if o.write_all(line.as_bytes()).and_then(|()| o.flush()).is_err() {
                return;
            }
        }
    });
    let mut id = a.start;
    // Runs until killed; each write is two rows, so a half-applied write shows.
    loop {
        let t = store.execute("INSERT INTO crash(id, part) VALUES (?1, 'a'), (?1, 'b')", params![id as i64])?;
        if tx.send((id, t)).is_err() {
            break;
        }
        id += 1;
        if a.pace_us > 0 {
            std::thread::sleep(Duration::from_micros(a.pace_us));
        }
    }
    drop(tx);
    let _ = reporter.join();
    Ok(())
}
