//! `backburner`: the command-line front end (demo, benchmarks).
//!
//! A thin binary over the library: flags are parsed here, the work is done
//! by `backburner` and by the baselines in `baseline.rs`.

mod baseline;
mod bench;
mod bench_log;
mod bench_waiters;
mod dead_letter;
mod demo;
mod journal;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Fire-and-forget writes that can neither race nor be lost.
#[derive(Parser, Debug)]
#[command(name = "backburner", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the speed and the two failures of fire-and-forget (race, loss), fixed.
    ///
    /// Runs on SQLite in a temporary directory (or --dir): five concurrent
    /// jobs against five sequential ones; a naive fire-and-forget write racing
    /// a read, against the same through backburner; a million puts with the
    /// time until they are committed and a row count from SQLite; and the
    /// same rows written one transaction per row (sampled, extrapolated).
    Demo(DemoArgs),
    /// Benchmarks against baselines measured in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Inspect or replay a journal.
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// Replay the writes of a dead-letter file.
    #[command(subcommand)]
    DeadLetter(dead_letter::DeadLetterCommand),
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Directory for the database files (default: a temporary directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Rows to write in the bulk step.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Trials of the race step.
    #[arg(long, default_value_t = 200)]
    trials: u32,
    /// Most rows written one transaction per row (the rest is extrapolated).
    #[arg(long, default_value_t = 1_000)]
    sync_sample: u64,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Put latency, get latency and sustained rows/s into SQLite, against
    /// per-row autocommit and hand-written batched transactions (the ceiling).
    Store(bench::StoreArgs),
    /// Committed rows/s with Memory and with each journal fsync policy,
    /// against one fsync per write.
    Journal(bench::JournalArgs),
    /// A log call's cost to the caller and lines/s to disk, against a
    /// synchronous BufWriter, the timer's floor and a raw copy.
    Log(bench_log::LogArgs),
    /// Time per batch against the number of tasks awaiting their tickets at
    /// once (one slot per ticket: it should not grow with the waiters).
    Waiters(bench_waiters::WaitersArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Demo(a) => demo::run(a.dir, a.rows, a.trials, a.sync_sample),
        Command::Bench(BenchCommand::Store(a)) => bench::store(a),
        Command::Bench(BenchCommand::Journal(a)) => bench::journal(a),
        Command::Bench(BenchCommand::Log(a)) => bench_log::log(a),
        Command::Bench(BenchCommand::Waiters(a)) => bench_waiters::waiters(a),
        Command::Journal(c) => journal::run(c),
        Command::DeadLetter(c) => dead_letter::run(c),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// The binary's error type: any error, with a message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
