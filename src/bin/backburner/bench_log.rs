//! `backburner bench log`: the caller's cost of a log call and sustained
//! lines/s to disk, for backburner's own macros and its `log` facade
//! adapter, against a synchronous `BufWriter`, with the timer's floor and a
//! raw copy of preformatted bytes measured in the same run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use backburner::log::Logger;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::report::{bar, count, dur, median};
use crate::BoxError;

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Lines per producer per run (a burst).
    #[arg(long, default_value_t = 100_000)]
    lines: u64,
    /// Rounds; the candidates are interleaved in each round.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Directory for the log files (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cand {
    Floor,
    RawCopy,
    BufWriter,
    Macro,
    Facade,
}

impl Cand {
    fn name(self) -> &'static str {
        match self {
            Cand::Floor => "timer floor (empty timed section)",
            Cand::RawCopy => "raw copy of preformatted bytes",
            Cand::BufWriter => "synchronous BufWriter (format + write)",
            Cand::Macro => "backburner::info! (deferred format)",
            Cand::Facade => "log::info! via backburner facade",
        }
    }
}

struct Result1 {
    hist: Histogram<u64>,
    rate: f64,
    lost: u64,
}

fn count_lines(path: &Path) -> Result<u64, BoxError> {
    let data = std::fs::read(path)?;
    Ok(data.iter().filter(|&&b| b == b'\n').count() as u64)
}

/// One run: `threads` producers, `lines` each.
// "ACME" is an argument on purpose: every candidate formats the same call.
#[allow(clippy::write_literal)]
fn run(
    c: Cand,
    dir: &Path,
    threads: usize,
    lines: u64,
    facade: &Logger,
) -> Result<Result1, BoxError> {
    let path = dir.join(format!("{c:?}-{threads}.log"));
    let _ = std::fs::remove_file(&path);
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        60_000_000_000,
        3,
    )?));
    let logger = match c {
        Cand::Macro => Some(Logger::builder().file(&path).build()?),
        _ => None,
    };
    let sync_file = match c {
        Cand::BufWriter => Some(Arc::new(Mutex::new(std::io::BufWriter::with_capacity(
            64 << 10,
            std::fs::File::create(&path)?,
        )))),
        _ => None,
    };
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let hist = Arc::clone(&hist);
            let logger = logger.clone();
            let sync_file = sync_file.clone();
            s.spawn(move || {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
                let mut raw: Vec<u8> = Vec::with_capacity(1 << 20);
                let pre = b"2026-11-26T16:55:01.123456Z INFO  bench [main] order 42 filled at 99.5 for ACME\n";
                let price = 99.5f64;
                for id in 0..lines {
                    let t = Instant::now();
                    match c {
                        Cand::Floor => {}
                        Cand::RawCopy => {
                            if raw.len() + pre.len() > raw.capacity() {
                                raw.clear();
                            }
                            raw.extend_from_slice(pre);
                        }
                        Cand::BufWriter => {
                            if let Some(f) = &sync_file {
                                let mut f = f.lock();
                                let _ = writeln!(
                                    f,
                                    "{:?} INFO  bench [main] order {} filled at {} for {}",
                                    SystemTime::now(),
                                    id,
                                    price,
                                    "ACME"
                                );
                            }
                        }
                        Cand::Macro => {
                            if let Some(l) = &logger {
                                backburner::info!(l, "order {} filled at {} for {}", id, price, "ACME");
                            }
                        }
                        Cand::Facade => {
                            ::log::info!(target: "bench", "order {} filled at {} for {}", id, price, "ACME");
                        }
                    }
                    h.saturating_record(t.elapsed().as_nanos() as u64);
                }
                std::hint::black_box(&raw);
                let _ = hist.lock().add(&h);
            });
        }
    });
    // Sustained: until every line is on its way to disk.
    let expected = lines * threads as u64;
    let (rate, lost) = match c {
        Cand::Macro => {
            let l = logger.as_ref().ok_or("no logger")?;
            l.flush()?;
            let rate = expected as f64 / t0.elapsed().as_secs_f64();
            let lost = expected.saturating_sub(count_lines(&path)?);
            (rate, lost)
        }
        Cand::Facade => {
            facade.flush()?;
            let rate = expected as f64 / t0.elapsed().as_secs_f64();
            (rate, 0)
        }
        Cand::BufWriter => {
            if let Some(f) = &sync_file {
                f.lock().flush()?;
            }
            let rate = expected as f64 / t0.elapsed().as_secs_f64();
            let lost = expected.saturating_sub(count_lines(&path)?);
            (rate, lost)
        }
        _ => (expected as f64 / t0.elapsed().as_secs_f64(), 0),
    };
    drop(logger);
    let _ = std::fs::remove_file(&path);
    let hist = Arc::try_unwrap(hist)
        .map_err(|_| "histogram still shared")?
        .into_inner();
    Ok(Result1 { hist, rate, lost })
}

#[allow(clippy::print_literal)] // the table's header cells
pub fn log(a: LogArgs) -> Result<(), BoxError> {
    let tmp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let facade_path = dir.join("facade.log");
    let facade = Logger::builder().file(&facade_path).build()?;
    let _guard = facade.install()?;
    let cands = [
        Cand::Floor,
        Cand::RawCopy,
        Cand::BufWriter,
        Cand::Macro,
        Cand::Facade,
    ];
    let rounds = a.rounds.max(1);
    println!(
        "backburner bench log: bursts of {} lines per producer, {rounds} rounds interleaved, {} CPUs",
        a.lines,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let pb = bar(u64::from(rounds) * cands.len() as u64 * 2, "runs");
    for threads in [1usize, 2] {
        let mut hists: Vec<Histogram<u64>> = cands
            .iter()
            .map(|_| Histogram::new_with_bounds(1, 60_000_000_000, 3))
            .collect::<Result<_, _>>()?;
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); cands.len()];
        let mut lost = vec![0u64; cands.len()];
        let facade_before = count_lines(&facade_path).unwrap_or(0);
        for r in 0..rounds {
            let mut order: Vec<usize> = (0..cands.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let res = run(cands[i], &dir, threads, a.lines, &facade)?;
                hists[i].add(&res.hist)?;
                rates[i].push(res.rate);
                lost[i] += res.lost;
                pb.inc(1);
            }
        }
        facade.flush()?;
        let facade_lines = count_lines(&facade_path)? - facade_before;
        let facade_idx = cands.iter().position(|c| *c == Cand::Facade).unwrap_or(0);
        lost[facade_idx] =
            (a.lines * threads as u64 * u64::from(rounds)).saturating_sub(facade_lines);
        pb.suspend(|| {
            println!("\n{threads} producer thread(s): caller latency per call (all rounds) and lines/s to disk incl. the final drain");
            println!(
                "  {:<40} {:>8} {:>8} {:>8} {:>9}  {:>20}  {}",
                "", "p50", "p99", "p99.9", "max", "lines/s (median)", "lost"
            );
            for (i, c) in cands.iter().enumerate() {
                let h = &hists[i];
                let q = |x: f64| dur(std::time::Duration::from_nanos(h.value_at_quantile(x)));
                let rate = match c {
                    Cand::Floor | Cand::RawCopy => "-".to_string(),
                    _ => format!("{}/s", count(median(&rates[i]))),
                };
                let l = match c {
                    Cand::Floor | Cand::RawCopy => "-".to_string(),
                    _ => lost[i].to_string(),
                };
                println!(
                    "  {:<40} {:>8} {:>8} {:>8} {:>9}  {:>20}  {}",
                    c.name(),
                    q(0.5),
                    q(0.99),
                    q(0.999),
                    dur(std::time::Duration::from_nanos(h.max())),
                    rate,
                    l
                );
            }
            let floor = hists[0].value_at_quantile(0.5);
            let mac = &hists[3];
            println!(
                "  own macro p50 - timer floor: {} ns (target <= 25 ns); p99.9 {} (target <= 5 µs)",
                mac.value_at_quantile(0.5).saturating_sub(floor),
                dur(std::time::Duration::from_nanos(mac.value_at_quantile(0.999)))
            );
            let ratio: Vec<f64> = rates[3].iter().zip(&rates[2]).map(|(m, b)| m / b).collect();
            println!("  own macro lines/s / BufWriter lines/s: {:.2} (median of per-round ratios; target >= 1)", median(&ratio));
        });
    }
    pb.finish_and_clear();
    Ok(())
}
