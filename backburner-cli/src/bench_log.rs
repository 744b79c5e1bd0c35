//! `backburner bench log`: the caller's cost of a log call and sustained
//! lines/s to disk, for backburner's own macros (and, with feature
//! `bench-compare`, its `tracing` layer against tracing-appender, slog-async
//! and ftlog), against a synchronous `BufWriter`, with the timer's floor and
//! a raw copy of preformatted bytes measured in the same run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use backburner::log::Logger;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::report::{bar, dur, median, spread};
use crate::BoxError;

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Lines per producer per run (a burst).
    #[arg(long, default_value_t = 100_000)]
    lines: u64,
    /// Rounds; the candidates are interleaved in each round.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Lines each thread's queue holds in backburner's logger (default: the
    /// burst, as tracing-appender's default buffer of 128,000 lines does).
    #[arg(long)]
    queue: Option<usize>,
    /// Directory for the log files (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Run only these candidates (comma-separated, as in `--only Macro,TracingLayerInSpan`;
    /// an unknown name lists them), with the timer floor.
    #[arg(long)]
    only: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cand {
    Floor,
    RawCopy,
    BufWriter,
    Macro,
    #[cfg(not(feature = "bench-compare"))]
    Facade,
    #[cfg(feature = "bench-compare")]
    TracingLayer,
    #[cfg(feature = "bench-compare")]
    TracingLayerInSpan,
    #[cfg(feature = "bench-compare")]
    AppenderLossy,
    #[cfg(feature = "bench-compare")]
    AppenderLossyInSpan,
    #[cfg(feature = "bench-compare")]
    AppenderLossless,
    #[cfg(feature = "bench-compare")]
    SlogAsync,
    #[cfg(feature = "bench-compare")]
    Ftlog,
}

impl Cand {
    /// Every candidate; the last one is the one on the global `log` logger.
    fn all() -> Vec<Cand> {
        let mut v = vec![Cand::Floor, Cand::RawCopy, Cand::BufWriter, Cand::Macro];
        #[cfg(not(feature = "bench-compare"))]
        v.push(Cand::Facade);
        #[cfg(feature = "bench-compare")]
        v.extend([
            Cand::TracingLayer,
            Cand::TracingLayerInSpan,
            Cand::AppenderLossy,
            Cand::AppenderLossyInSpan,
            Cand::AppenderLossless,
            Cand::SlogAsync,
            Cand::Ftlog,
        ]);
        v
    }

    fn name(self) -> &'static str {
        match self {
            Cand::Floor => "timer floor (empty timed section)",
            Cand::RawCopy => "raw copy of preformatted bytes",
            Cand::BufWriter => "synchronous BufWriter (format + write)",
            Cand::Macro => "backburner::info! (deferred format)",
            #[cfg(not(feature = "bench-compare"))]
            Cand::Facade => "log::info! via backburner facade",
            #[cfg(feature = "bench-compare")]
            Cand::TracingLayer => "tracing::info! + backburner layer",
            #[cfg(feature = "bench-compare")]
            Cand::TracingLayerInSpan => "  the same in a span of 2 fields",
            #[cfg(feature = "bench-compare")]
            Cand::AppenderLossy => "tracing-appender non_blocking (lossy)",
            #[cfg(feature = "bench-compare")]
            Cand::AppenderLossyInSpan => "  the same in a span of 2 fields",
            #[cfg(feature = "bench-compare")]
            Cand::AppenderLossless => "tracing-appender non_blocking (lossless)",
            #[cfg(feature = "bench-compare")]
            Cand::SlogAsync => "slog + slog-async (default)",
            #[cfg(feature = "bench-compare")]
            Cand::Ftlog => "ftlog (default)",
        }
    }

    /// Floor and raw copy write nothing.
    fn writes(self) -> bool {
        !matches!(self, Cand::Floor | Cand::RawCopy)
    }
}

fn count_lines(path: &Path) -> Result<u64, BoxError> {
    let data = std::fs::read(path)?;
    Ok(data.iter().filter(|&&b| b == b'\n').count() as u64)
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// The candidate that logs through the global `log` logger (backburner's
/// facade, or ftlog when comparing): its file is counted by the caller.
fn global_logger() -> Setup {
    Setup {
        init: None,
        op: Box::new(|id, price, _| ::log::info!(target: "bench", "order {} filled at {} for {}", id, price, "ACME")),
        finish: Box::new(|| {
            ::log::logger().flush();
            Ok(())
        }),
        file: None,
    }
}

/// One timed call: `(id, price, scratch buffer)`.
type Op = Box<dyn Fn(u64, f64, &mut Vec<u8>) + Sync>;

/// Run once in each producer thread before its loop; what it returns is held
/// until the loop ends (a `tracing` default-dispatcher guard).
type ThreadInit = Box<dyn Fn() -> Box<dyn std::any::Any> + Sync>;

/// The operation under test, and how to finish (drain) afterwards.
struct Setup {
    op: Op,
    init: Option<ThreadInit>,
    finish: Box<dyn FnOnce() -> Result<(), BoxError>>,
    /// The file to count lines in; `None`: counted by the caller.
    file: Option<PathBuf>,
}

/// Each producer's `tracing` dispatcher; `in_span`: with a span of two
/// fields entered around the whole loop (as a request's span is around its
/// events), created in the thread before the clock starts.
#[cfg(feature = "bench-compare")]
fn thread_init(d: tracing::Dispatch, in_span: bool) -> ThreadInit {
    Box::new(move || {
        let guard = tracing::dispatcher::set_default(&d);
        let span = in_span.then(|| tracing::info_span!("request", method = "GET", uri = "/orders/42").entered());
        // The span is exited before the dispatcher is restored.
        Box::new((span, guard))
    })
}

const PRE: &[u8] = b"2026-11-26T16:55:01.123456Z INFO  bench [main] order 42 filled at 99.5 for ACME\n";

#[cfg(feature = "bench-compare")]
struct SlogFile(std::sync::Mutex<std::io::BufWriter<std::fs::File>>);

#[cfg(feature = "bench-compare")]
impl slog::Drain for SlogFile {
    type Ok = ();
    type Err = std::io::Error;
    fn log(&self, r: &slog::Record<'_>, _: &slog::OwnedKVList) -> std::io::Result<()> {
        let mut f = self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        writeln!(f, "{:?} {} bench {}", SystemTime::now(), r.level().as_short_str(), r.msg())
    }
}

// "ACME" is an argument on purpose: every candidate formats the same call.
#[allow(clippy::write_literal)]
fn setup(c: Cand, path: &Path, queue: usize) -> Result<Setup, BoxError> {
    let file = Some(path.to_path_buf());
    Ok(match c {
        Cand::Floor => Setup { op: Box::new(|_, _, _| {}), init: None, finish: Box::new(|| Ok(())), file: None },
        Cand::RawCopy => Setup {
            init: None,
            op: Box::new(|_, _, raw| {
                if raw.len() + PRE.len() > raw.capacity() {
                    raw.clear();
                }
                raw.extend_from_slice(PRE);
            }),
            finish: Box::new(|| Ok(())),
            file: None,
        },
        Cand::BufWriter => {
            let w = Arc::new(Mutex::new(std::io::BufWriter::with_capacity(64 << 10, std::fs::File::create(path)?)));
            let w2 = Arc::clone(&w);
            Setup {
                init: None,
                op: Box::new(move |id, price, _| {
                    let mut f = w.lock();
                    let _ = writeln!(
                        f,
                        "{:?} INFO  bench [main] order {} filled at {} for {}",
                        SystemTime::now(),
                        id,
                        price,
                        "ACME"
                    );
                }),
                finish: Box::new(move || Ok(w2.lock().flush()?)),
                file,
            }
        }
        Cand::Macro => {
            let l = Logger::builder().file(path).queue_capacity(queue).build()?;
            let l2 = l.clone();
            Setup {
                init: None,
                op: Box::new(move |id, price, _| {
                    backburner::info!(l, "order {} filled at {} for {}", id, price, "ACME")
                }),
                finish: Box::new(move || Ok(l2.flush()?)),
                file,
            }
        }
        #[cfg(not(feature = "bench-compare"))]
        Cand::Facade => global_logger(),
        #[cfg(feature = "bench-compare")]
        Cand::TracingLayer | Cand::TracingLayerInSpan => {
            use tracing_subscriber::layer::SubscriberExt;
            let l = Logger::builder().file(path).queue_capacity(queue).build()?;
            let d = tracing::Dispatch::new(tracing_subscriber::registry().with(l.tracing_layer()));
            // Held by `op`, dropped after the clock stops (see `run`).
            let keep = l.clone();
            Setup {
                init: Some(thread_init(d, c == Cand::TracingLayerInSpan)),
                op: Box::new(move |id, price, _| {
                    let _ = &keep;
                    tracing::info!(target: "bench", "order {} filled at {} for {}", id, price, "ACME")
                }),
                finish: Box::new(move || Ok(l.flush()?)),
                file,
            }
        }
        #[cfg(feature = "bench-compare")]
        Cand::AppenderLossy | Cand::AppenderLossyInSpan | Cand::AppenderLossless => {
            let (nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(c != Cand::AppenderLossless)
                .finish(std::fs::File::create(path)?);
            let sub = tracing_subscriber::fmt().with_writer(nb).with_ansi(false).finish();
            let d = tracing::Dispatch::new(sub);
            Setup {
                init: Some(thread_init(d, c == Cand::AppenderLossyInSpan)),
                op: Box::new(
                    move |id, price, _| tracing::info!(target: "bench", "order {} filled at {} for {}", id, price, "ACME"),
                ),
                finish: Box::new(move || {
                    drop(guard);
                    Ok(())
                }),
                file,
            }
        }
        #[cfg(feature = "bench-compare")]
        Cand::SlogAsync => {
            use slog::Drain as _;
            let drain = SlogFile(std::sync::Mutex::new(std::io::BufWriter::new(std::fs::File::create(path)?)));
            let (drain, guard) = slog_async::Async::new(drain.ignore_res()).build_with_guard();
            let log = slog::Logger::root(drain.fuse(), slog::o!());
            Setup {
                init: None,
                op: Box::new(move |id, price, _| slog::info!(log, "order {} filled at {} for {}", id, price, "ACME")),
                finish: Box::new(move || {
                    drop(guard);
                    Ok(())
                }),
                file,
            }
        }
        #[cfg(feature = "bench-compare")]
        Cand::Ftlog => global_logger(),
    })
}

struct Outcome {
    hist: Histogram<u64>,
    rate: f64,
    lost: Option<u64>,
}

/// One run: `threads` producers, `lines` each.
fn run(c: Cand, dir: &Path, threads: usize, lines: u64, queue: usize) -> Result<Outcome, BoxError> {
    let path = dir.join(format!("{c:?}-{threads}.log"));
    let _ = std::fs::remove_file(&path);
    let s = setup(c, &path, queue)?;
    let total = Mutex::new(hist());
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (op, init, total) = (&s.op, &s.init, &total);
            scope.spawn(move || {
                let _guard = init.as_ref().map(|f| f());
                let mut h = hist();
                let mut raw: Vec<u8> = Vec::with_capacity(1 << 20);
                for id in 0..lines {
                    let t = Instant::now();
                    op(id, 99.5, &mut raw);
                    h.saturating_record(t.elapsed().as_nanos() as u64);
                }
                std::hint::black_box(&raw);
                let _ = total.lock().add(&h);
            });
        }
    });
    let Setup { op, init, finish, file } = s;
    drop(init);
    finish()?;
    let rate = (lines * threads as u64) as f64 / t0.elapsed().as_secs_f64();
    // Dropped once the clock has stopped: backburner's logger also syncs its
    // file (fdatasync) when its last handle drops, which no other candidate
    // does; the clock stops when every line is handed to the OS.
    drop(op);
    let lost = match file {
        Some(f) => {
            let n = count_lines(&f)?;
            let _ = std::fs::remove_file(&f);
            Some((lines * threads as u64).saturating_sub(n))
        }
        None => None,
    };
    Ok(Outcome { hist: total.into_inner(), rate, lost })
}

#[allow(clippy::print_literal)] // the table's header cells
pub fn log(a: LogArgs) -> Result<(), BoxError> {
    let (dir, _tmp) = crate::report::work_dir(a.dir.as_deref())?;
    // The `log` facade's global logger: backburner's, or ftlog when comparing.
    let global_path = dir.join("global.log");
    #[cfg(not(feature = "bench-compare"))]
    let _guard = Logger::builder().file(&global_path).build()?.install()?;
    #[cfg(feature = "bench-compare")]
    let _guard = ftlog::builder().root(ftlog::appender::FileAppender::new(&global_path)).build()?.init()?;
    let mut cands = Cand::all();
    if let Some(only) = &a.only {
        let names: Vec<String> = cands.iter().map(|c| format!("{c:?}")).collect();
        let want: Vec<&str> = only.split(',').map(str::trim).collect();
        if let Some(bad) = want.iter().find(|w| !names.iter().any(|n| n.eq_ignore_ascii_case(w))) {
            return Err(format!("unknown candidate `{bad}`; the candidates are {}", names.join(", ")).into());
        }
        cands.retain(|c| *c == Cand::Floor || want.iter().any(|w| format!("{c:?}").eq_ignore_ascii_case(w)));
    }
    let pos = |c: Cand| cands.iter().position(|&x| x == c);
    let rounds = a.rounds.max(1);
    let queue = a.queue.unwrap_or(usize::try_from(a.lines)?);
    println!(
        "backburner bench log: bursts of {} lines per producer, {rounds} rounds interleaved, {} CPUs; backburner queue {queue} lines per thread",
        a.lines,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let pb = bar(u64::from(rounds) * cands.len() as u64 * 2, "runs");
    for threads in [1usize, 2] {
        let mut hists: Vec<Histogram<u64>> = cands.iter().map(|_| hist()).collect();
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); cands.len()];
        let mut lost = vec![0u64; cands.len()];
        let global_before = count_lines(&global_path).unwrap_or(0);
        let mut global_expected = 0;
        for r in 0..rounds {
            let mut order: Vec<usize> = (0..cands.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let res = run(cands[i], &dir, threads, a.lines, queue)?;
                hists[i].add(&res.hist)?;
                rates[i].push(res.rate);
                match res.lost {
                    Some(l) => lost[i] += l,
                    None if cands[i].writes() => global_expected += a.lines * threads as u64,
                    None => {}
                }
                pb.inc(1);
            }
        }
        ::log::logger().flush();
        std::thread::sleep(Duration::from_millis(200));
        let global_lines = count_lines(&global_path).unwrap_or(0) - global_before;
        // The candidate on the global `log` logger (the last one): count its file.
        #[cfg(not(feature = "bench-compare"))]
        let global = pos(Cand::Facade);
        #[cfg(feature = "bench-compare")]
        let global = pos(Cand::Ftlog);
        if let Some(g) = global {
            lost[g] = global_expected.saturating_sub(global_lines);
        }
        pb.suspend(|| {
            println!("\n{threads} producer thread(s): caller latency per call (all rounds) and lines/s into the file (handed to the OS) incl. the final drain");
            println!(
                "  {:<42} {:>8} {:>8} {:>8} {:>9}  {:>32}  {}",
                "", "p50", "p99", "p99.9", "max", "lines/s: median (min–max)", "lines lost"
            );
            for (i, c) in cands.iter().enumerate() {
                let h = &hists[i];
                let q = |x: f64| dur(Duration::from_nanos(h.value_at_quantile(x)));
                let (rate, l) = if c.writes() {
                    let total = a.lines * threads as u64 * u64::from(rounds);
                    (
                        spread(&rates[i]),
                        format!("{} of {} ({:.1}%)", lost[i], total, 100.0 * lost[i] as f64 / total as f64),
                    )
                } else {
                    ("-".into(), "-".into())
                };
                println!(
                    "  {:<42} {:>8} {:>8} {:>8} {:>9}  {:>32}  {}",
                    c.name(),
                    q(0.5),
                    q(0.99),
                    q(0.999),
                    dur(Duration::from_nanos(h.max())),
                    rate,
                    l
                );
            }
            let floor = hists[0].value_at_quantile(0.5);
            if let Some(m) = pos(Cand::Macro) {
                let mac = &hists[m];
                println!(
                    "  own macro p50 - timer floor: {} ns (target <= 25 ns); own macro p99.9 {} (target <= 5 µs)",
                    mac.value_at_quantile(0.5).saturating_sub(floor),
                    dur(Duration::from_nanos(mac.value_at_quantile(0.999)))
                );
            }
            if let (Some(m), Some(b)) = (pos(Cand::Macro), pos(Cand::BufWriter)) {
                let ratio: Vec<f64> = rates[m].iter().zip(&rates[b]).map(|(m, b)| m / b).collect();
                let (lo, hi) = crate::report::min_max(&ratio);
                println!(
                    "  own macro lines/s / BufWriter lines/s: {:.2} (median of per-round ratios, {lo:.2}–{hi:.2}; target >= 1: {})",
                    median(&ratio),
                    if median(&ratio) >= 1.0 { "met" } else { "MISSED" }
                );
            }
            #[cfg(feature = "bench-compare")]
            for (layer, appender, what) in [
                (Cand::TracingLayer, Cand::AppenderLossy, ""),
                (Cand::TracingLayerInSpan, Cand::AppenderLossyInSpan, ", both in a span of 2 fields"),
            ] {
                if let (Some(l), Some(t)) = (pos(layer), pos(appender)) {
                    println!(
                        "  tracing layer p50 / tracing-appender (lossy) p50{what}: {:.2} (target <= 0.50)",
                        hists[l].value_at_quantile(0.5) as f64 / hists[t].value_at_quantile(0.5) as f64
                    );
                }
            }
        });
    }
    pb.finish_and_clear();
    Ok(())
}
