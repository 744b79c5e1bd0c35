//! `backburner log-child`: logs lines then ends in a chosen way; used by the
//! logger's tests to count what each kind of end leaves on disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backburner::log::{Logger, OnSignal};
use backburner::Store;

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
    /// Also opens a store at this URL (e.g. sqlite://DIR/t.db) and puts
    /// --rows rows into it, after the logging and before the end; it
    /// lingers for 10 minutes, so only a drain commits them.
    #[arg(long)]
    store: Option<String>,
    /// Rows to put with --store.
    #[arg(long, default_value_t = 1_000)]
    rows: u64,
    /// What SIGTERM and SIGINT do: exit (Guard::handle_signals) or continue
    /// (Guard::handle_signals_with(OnSignal::Continue)).
    #[arg(long, default_value = "exit")]
    on_signal: String,
}

pub fn child(a: LogChildArgs) -> Result<(), BoxError> {
    let log = Logger::builder().file(&a.file).queue_capacity(a.queue).build()?;
    let guard = log.install()?;
    match a.on_signal.as_str() {
        "exit" => guard.handle_signals()?,
        "continue" => guard.handle_signals_with(OnSignal::Continue)?,
        other => return Err(format!("unknown --on-signal `{other}`: exit or continue").into()),
    }
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
    // Kept open until the end: only the end's drain closes it.
    let _store = match &a.store {
        Some(url) => {
            let store = Store::builder(url).linger(Duration::from_secs(600)).batch_max(1 << 20).build()?;
            for i in 0..a.rows {
                store.put(format!("k{i}"), format!("v{i}"))?;
            }
            Some(store)
        }
        None => None,
    };
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
