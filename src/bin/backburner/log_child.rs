//! `backburner log-child`: logs lines then ends in a chosen way; used by the
//! logger's tests to count what each kind of end leaves on disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backburner::log::Logger;

use crate::BoxError;

#[derive(clap::Args, Debug)]
pub struct LogChildArgs {
    /// The log file.
    #[arg(long)]
    file: PathBuf,
    /// Lines to log (in all, before the end; ignored with --burst).
    #[arg(long, default_value_t = 0)]
    lines: u64,
    /// How to end: return, exit, panic, abort, sigterm or sigint (both wait for a signal).
    #[arg(long)]
    end: String,
    /// Threads logging.
    #[arg(long, default_value_t = 2)]
    threads: u64,
    /// The threads (named w0, w1, ...) log `burst thread T line N end` without
    /// end, and the process ends while they do.
    #[arg(long)]
    burst: bool,
    /// With --burst: lines logged in all before the end begins ("ready" is
    /// printed then, for the signal ends).
    #[arg(long, default_value_t = 5_000)]
    burst_min: u64,
    /// With --burst: microseconds to wait after --burst-min lines, before ending.
    #[arg(long, default_value_t = 0)]
    delay_us: u64,
    /// Lines each thread's queue holds.
    #[arg(long, default_value_t = 16_384)]
    queue: usize,
}

pub fn child(a: LogChildArgs) -> Result<(), BoxError> {
    let log = Logger::builder().file(&a.file).queue_capacity(a.queue).build()?;
    let guard = log.install()?;
    guard.handle_signals()?;
    if a.burst {
        burst(&log, &a);
    } else {
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
    }
    match a.end.as_str() {
        "return" => Ok(()),
        "exit" => std::process::exit(0),
        "panic" => panic!("log-child panics after logging"),
        "abort" => std::process::abort(),
        "sigterm" | "sigint" => {
            println!("ready");
            use std::io::Write as _;
            std::io::stdout().flush()?;
            std::thread::sleep(Duration::from_secs(60));
            Err("no signal came".into())
        }
        other => Err(format!("unknown end `{other}`").into()),
    }
}

/// Starts threads that log until the process ends; returns once they have
/// logged `burst_min` lines in all and `delay_us` more have passed.
fn burst(log: &Logger, a: &LogChildArgs) {
    let count = Arc::new(AtomicU64::new(0));
    for t in 0..a.threads {
        let (log, count) = (log.clone(), Arc::clone(&count));
        let spawned = std::thread::Builder::new().name(format!("w{t}")).spawn(move || {
            for i in 0u64.. {
                backburner::info!(log, "burst thread {} line {} end", t, i);
                if i % 64 == 63 {
                    count.fetch_add(64, Ordering::Relaxed);
                }
            }
        });
        if let Err(e) = spawned {
            eprintln!("log-child: cannot start a logging thread: {e}");
            std::process::exit(2);
        }
    }
    while count.load(Ordering::Relaxed) < a.burst_min {
        std::thread::sleep(Duration::from_micros(100));
    }
    std::thread::sleep(Duration::from_micros(a.delay_us));
}
