//! `backburner log-child`: logs lines then ends in a chosen way; used by the
//! logger's tests to count what each kind of end leaves on disk.

use std::path::PathBuf;

use backburner::log::Logger;

use crate::BoxError;

#[derive(clap::Args, Debug)]
pub struct LogChildArgs {
    /// The log file.
    #[arg(long)]
    file: PathBuf,
    /// Lines to log.
    #[arg(long)]
    lines: u64,
    /// How to end: return, exit, panic, abort, sigterm (waits for the signal).
    #[arg(long)]
    end: String,
    /// Threads logging.
    #[arg(long, default_value_t = 2)]
    threads: u64,
}

pub fn child(a: LogChildArgs) -> Result<(), BoxError> {
    let log = Logger::builder().file(&a.file).build()?;
    let guard = log.install()?;
    guard.handle_signals()?;
    std::thread::scope(|s| {
        for t in 0..a.threads {
            let log = log.clone();
            s.spawn(move || {
                for i in 0..a.lines / a.threads {
                    backburner::info!(log, "thread {} line {}", t, i);
                }
            });
        }
    });
    match a.end.as_str() {
        "return" => Ok(()),
        "exit" => std::process::exit(0),
        "panic" => panic!("log-child panics after logging"),
        "abort" => std::process::abort(),
        "sigterm" => {
            println!("ready");
            use std::io::Write as _;
            std::io::stdout().flush()?;
            std::thread::sleep(std::time::Duration::from_secs(60));
            Err("no SIGTERM came".into())
        }
        other => Err(format!("unknown end `{other}`").into()),
    }
}
