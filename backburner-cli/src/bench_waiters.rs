//! `backburner bench waiters`: the time per batch against the number of
//! tasks awaiting their tickets at once, on one executor thread.
//!
//! Each ticket has its own slot, so the worker wakes exactly the waiters of
//! the writes it commits: the time per batch should not grow with the
//! number of waiters (a store-wide list of wakers scanned per batch would
//! make it grow linearly). Counts are interleaved over the rounds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use crate::report::{bar, median, min_max, work_dir};

fn us(xs: &[f64]) -> String {
    let (lo, hi) = min_max(xs);
    format!("{:.0} µs ({:.0}–{:.0})", median(xs), lo, hi)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Args, Debug)]
pub struct WaitersArgs {
    /// Numbers of tasks awaiting at once (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000u64, 10_000, 100_000])]
    counts: Vec<u64>,
    /// Writes per batch (`batch_max`).
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Rounds; the counts are interleaved in each round.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Directory for the files (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// `n` tasks each put a row and, if `wait`, await its ticket (else one
/// flush at the end); returns µs per batch.
fn run(dir: &Path, n: u64, batch: usize, round: u32, wait: bool) -> Result<f64, BoxError> {
    let db = dir.join(format!("waiters-{n}-{round}-{wait}.db"));
    let store = Arc::new(
        backburner::Store::builder(&format!("sqlite://{}", db.display()))
            .capacity(2 * n as usize)
            .batch_max(batch)
            .build()?,
    );
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let before = store.stats().batches;
    let started = Instant::now();
    let ok = rt.block_on(async {
        let mut tasks = Vec::with_capacity(n as usize);
        for i in 0..n {
            let s = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                match s.put(i.to_le_bytes(), "v") {
                    Ok(t) if wait => t.await.is_ok(),
                    Ok(_) => true,
                    Err(_) => false,
                }
            }));
        }
        let mut ok = 0u64;
        for t in tasks {
            ok += u64::from(t.await.unwrap_or(false));
        }
        ok
    });
    if !wait {
        store.flush()?;
    }
    let elapsed = started.elapsed();
    let batches = store.stats().batches - before;
    if ok != n {
        return Err(format!("{} of {n} tickets failed", n - ok).into());
    }
    store.close()?;
    drop(store);
    let _ = std::fs::remove_file(&db);
    Ok(elapsed.as_secs_f64() * 1e6 / batches.max(1) as f64)
}

pub fn waiters(a: WaitersArgs) -> Result<(), BoxError> {
    let (dir, _tmp) = work_dir(a.dir.as_deref())?;
    let rounds = a.rounds.max(1);
    println!(
        "backburner bench waiters: tasks awaiting their tickets at once on one executor thread, batch_max {}, {rounds} rounds interleaved, {} CPUs",
        a.batch,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    // Per count: with every task awaiting its ticket, and the same writes
    // fire-and-forget (one flush at the end), so the sink's own cost (a
    // table that grows) is measured apart from the waiters'.
    let k = a.counts.len();
    let mut waiting: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut alone: Vec<Vec<f64>> = vec![Vec::new(); k];
    let pb = bar(u64::from(rounds) * 2 * k as u64, "runs");
    for r in 0..rounds {
        let mut order: Vec<usize> = (0..k).collect();
        if r % 2 == 1 {
            order.reverse();
        }
        for i in order {
            waiting[i].push(run(&dir, a.counts[i], a.batch, r, true)?);
            alone[i].push(run(&dir, a.counts[i], a.batch, r, false)?);
            pb.inc(2);
        }
    }
    pb.finish_and_clear();
    println!(
        "\nwall time per batch, from the first put to the last ticket resolved (median (min–max) over {rounds} rounds)"
    );
    println!(
        "  {:>8}  {:<24} {:<24} ratio (median of per-round)",
        "tasks", "each awaits its ticket", "fire-and-forget"
    );
    let mut ratios = Vec::new();
    for (i, n) in a.counts.iter().enumerate() {
        let ratio: Vec<f64> = waiting[i].iter().zip(&alone[i]).map(|(w, f)| w / f).collect();
        ratios.push(median(&ratio));
        println!("  {n:>8}  {:<24} {:<24} {:.2}", us(&waiting[i]), us(&alone[i]), median(&ratio));
    }
    let grow = ratios[k - 1] / ratios[0];
    let span = a.counts[k - 1] as f64 / a.counts[0] as f64;
    println!(
        "  the waiters' share of a batch at {span:.0}x the waiters: {grow:.2}x (target: does not grow with the waiters, <= 1.5x; a list of wakers scanned per batch grows ~linearly)"
    );
    Ok(())
}
