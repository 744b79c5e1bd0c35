//! `backburner bench waiters`: the time per batch against the number of
//! tasks awaiting their tickets at once, on one executor thread.
//!
//! Each ticket has its own slot, so the worker wakes exactly the waiters of
//! the writes it commits: the time per batch should not grow with the
//! number of waiters (a store-wide list of wakers scanned per batch would
//! make it grow linearly). Counts are interleaved over the rounds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Rounds; the counts are interleaved in each round.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Directory for the files (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The SQLite sink, holding its first batch until every task has put its
/// write (and so registered its waiter): then every waiter is waiting at
/// once while the batches are committed.
struct Held {
    inner: backburner::sink::sqlite::SqliteSink,
    open: Arc<AtomicBool>,
}

impl backburner::Sink for Held {
    fn open_writer(&mut self, writer: &str) -> Result<backburner::Resume, backburner::SinkError> {
        self.inner.open_writer(writer)
    }
    fn apply(
        &mut self,
        batch: &backburner::Batch<'_>,
        outcomes: &mut backburner::Outcomes<'_>,
    ) -> Result<(), backburner::ApplyError> {
        while !self.open.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        self.inner.apply(batch, outcomes)
    }
    fn maintain(&mut self, idle: bool) {
        self.inner.maintain(idle);
    }
}

/// `n` tasks each put a row and, if `wait`, await its ticket (else one
/// flush at the end); the sink takes no batch until all have put. Returns
/// µs per batch from then until the last write is done, and µs per task
/// until then (spawn, put, first poll: the waiter's registration).
fn run(dir: &Path, n: u64, batch: usize, round: u32, wait: bool) -> Result<(f64, f64), BoxError> {
    let db = dir.join(format!("waiters-{n}-{round}-{wait}.db"));
    let open = Arc::new(AtomicBool::new(false));
    let sink = Held {
        inner: backburner::sink::sqlite::SqliteSink::open(&db, backburner::sink::sqlite::SqliteOptions::default())?,
        open: Arc::clone(&open),
    };
    let store =
        Arc::new(backburner::Store::builder("held").sink(sink).capacity(2 * n as usize).batch_max(batch).build()?);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let put = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let opened = Arc::new(parking_lot::Mutex::new(None::<Instant>));
    let ok = rt.block_on(async {
        let mut tasks = Vec::with_capacity(n as usize);
        for i in 0..n {
            let (s, put, open, opened) = (Arc::clone(&store), Arc::clone(&put), Arc::clone(&open), Arc::clone(&opened));
            tasks.push(tokio::spawn(async move {
                let r = s.put(i.to_le_bytes(), "v");
                if put.fetch_add(1, Ordering::SeqCst) + 1 == n {
                    *opened.lock() = Some(Instant::now());
                    open.store(true, Ordering::SeqCst);
                }
                match r {
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
    let at = opened.lock().unwrap_or(started);
    let elapsed = at.elapsed();
    let setup = at.duration_since(started);
    let batches = store.stats().batches;
    if ok != n {
        return Err(format!("{} of {n} tickets failed", n - ok).into());
    }
    store.close()?;
    drop(store);
    let _ = std::fs::remove_file(&db);
    Ok((elapsed.as_secs_f64() * 1e6 / batches.max(1) as f64, setup.as_secs_f64() * 1e6 / n as f64))
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
    let mut setup: Vec<Vec<f64>> = vec![Vec::new(); k];
    let pb = bar(u64::from(rounds) * 2 * k as u64, "runs");
    for r in 0..rounds {
        let mut order: Vec<usize> = (0..k).collect();
        if r % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (per_batch, per_task) = run(&dir, a.counts[i], a.batch, r, true)?;
            waiting[i].push(per_batch);
            setup[i].push(per_task);
            alone[i].push(run(&dir, a.counts[i], a.batch, r, false)?.0);
            pb.inc(2);
        }
    }
    pb.finish_and_clear();
    println!(
        "\nwall time per batch, from the moment every task has put its write (all waiting at once) to the last ticket resolved (median (min–max) over {rounds} rounds)"
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
    println!(
        "\ntime per task to spawn, put and start awaiting its ticket (all before the first commit; median (min–max))"
    );
    for (i, n) in a.counts.iter().enumerate() {
        let (lo, hi) = min_max(&setup[i]);
        println!("  {n:>8}  {:.2} µs ({lo:.2}–{hi:.2})", median(&setup[i]));
    }
    let per_task: Vec<f64> = setup[k - 1].iter().zip(&setup[0]).map(|(x, b)| x / b).collect();
    let grow = ratios[k - 1] / ratios[0];
    let span = a.counts[k - 1] as f64 / a.counts[0] as f64;
    println!(
        "  the waiters' share of a batch at {span:.0}x the waiters: {grow:.2}x (target: does not grow with the waiters, <= 1.5x; a list of wakers scanned per batch grows ~linearly)"
    );
    println!(
        "  time per task to start waiting at {span:.0}x the waiters: {:.2}x (target <= 1.5x; a list searched at each registration grows ~linearly)",
        median(&per_task)
    );
    Ok(())
}
