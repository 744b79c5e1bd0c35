//! `backburner-test-child`: programs that the command-line tool's tests
//! start and end in chosen ways (kill -9, SIGTERM, exit, abort), kept out of
//! the `backburner` binary users run.

mod crash;
mod log_child;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Test children (not for users).
#[derive(Parser, Debug)]
#[command(name = "backburner-test-child")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Log lines, then end in a chosen way; used by the logger tests.
    LogChild(log_child::LogChildArgs),
    /// Write journaled rows until killed; used by the crash test.
    CrashChild(crash::ChildArgs),
}

/// The binary's error type: any error, with a message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let r = match Cli::parse().command {
        Command::CrashChild(a) => crash::child(a),
        Command::LogChild(a) => log_child::child(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
