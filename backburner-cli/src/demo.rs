//! `backburner demo`: the scenario from the README, with a short report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use backburner::Store;
use rusqlite::Connection;

use crate::baseline::{self, RowGen, Settings};
use crate::report::{bar, count, dur, spinner};
use crate::BoxError;

pub fn run(dir: Option<PathBuf>, rows: u64, trials: u32, sync_sample: u64) -> Result<(), BoxError> {
    let (dir, _tmp) =
        crate::report::work_dir(dir.as_deref()).map_err(|e| format!("cannot create the demo directory: {e}"))?;
    println!("backburner demo (files in {})\n", dir.display());
    gather()?;
    race(&dir, trials)?;
    let commit_time = bulk(&dir, rows)?;
    synchronous(&dir, rows, sync_sample, commit_time)?;
    Ok(())
}

/// Five jobs of one second each: one after another, then side by side.
fn gather() -> Result<(), BoxError> {
    println!("1. Five jobs of one second each (the classic `gather`)");
    let job = || std::thread::sleep(Duration::from_secs(1));
    let pb = spinner("five jobs, one after another");
    let t = Instant::now();
    for _ in 0..5 {
        job();
    }
    let seq = t.elapsed();
    pb.finish_and_clear();
    let pb = spinner("five jobs, concurrently");
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..5 {
            s.spawn(job);
        }
    });
    let conc = t.elapsed();
    pb.finish_and_clear();
    println!(
        "   sequential: {}   concurrent: {}   ({:.1}x)\n",
        dur(seq),
        dur(conc),
        seq.as_secs_f64() / conc.as_secs_f64()
    );
    Ok(())
}

/// A write on the back burner, then a read right away.
fn race(dir: &Path, trials: u32) -> Result<(), BoxError> {
    println!("2. The race: write, then read the same row right away ({trials} trials each)");
    let naive_db = dir.join("race-naive.db");
    baseline::remove_db(&naive_db);
    let writer = baseline::NaiveWriter::start(&naive_db)?;
    let reader = Connection::open(&naive_db)?;
    let mut stale_naive = 0;
    let pb = bar(u64::from(trials) * 2, "naive, then backburner");
    for i in 0..trials {
        let (k, v) = (format!("race:{i}"), format!("value {i}"));
        writer.write(&k, &v);
        if baseline::read_key(&reader, &k)?.as_deref() != Some(v.as_bytes()) {
            stale_naive += 1;
        }
        pb.inc(1);
    }
    writer.finish()?;

    let bb_db = dir.join("race-backburner.db");
    baseline::remove_db(&bb_db);
    let store = Store::open(&format!("sqlite://{}", bb_db.display()))?;
    let mut stale_bb = 0;
    for i in 0..trials {
        let (k, v) = (format!("race:{i}"), format!("value {i}"));
        drop(store.put(&k, &v)?);
        if store.get(&k)?.as_deref() != Some(v.as_bytes()) {
            stale_bb += 1;
        }
        pb.inc(1);
    }
    store.close()?;
    pb.finish_and_clear();
    println!("   naive fire-and-forget thread: stale reads in {stale_naive} of {trials} trials");
    println!("   backburner put + get:         stale reads in {stale_bb} of {trials} trials\n");
    if stale_bb != 0 {
        return Err(format!("backburner gave {stale_bb} stale reads: read-your-writes is broken").into());
    }
    Ok(())
}

/// `rows` puts through backburner; returns the time until all were committed.
fn bulk(dir: &Path, rows: u64) -> Result<Duration, BoxError> {
    println!("3. {} puts through backburner into SQLite", count(rows as f64));
    let db = dir.join("bulk.db");
    baseline::remove_db(&db);
    let store = Store::open(&format!("sqlite://{}", db.display()))?;
    let mut g = RowGen::new();
    let pb = bar(rows, "enqueue");
    let chunk = (rows / 100).max(1);
    // The first puts find the queue empty: they show the caller's own cost.
    // Later ones wait for SQLite when the queue is full (Backpressure::Block).
    let first = (store.capacity() as u64 / 2).min(rows);
    let t = Instant::now();
    for i in 0..first {
        let (k, v) = g.row(i);
        drop(store.put(k, v)?);
    }
    let burst = t.elapsed();
    let mut caller = burst;
    let mut i = first;
    pb.set_position(i);
    while i < rows {
        let end = (i + chunk).min(rows);
        let c = Instant::now();
        while i < end {
            let (k, v) = g.row(i);
            drop(store.put(k, v)?);
            i += 1;
        }
        caller += c.elapsed();
        pb.set_position(i);
    }
    let enqueued = t.elapsed();
    pb.finish_and_clear();
    let pb = bar(rows, "commit");
    let flusher = {
        let store = store.clone();
        std::thread::spawn(move || store.flush())
    };
    while !flusher.is_finished() {
        pb.set_position(store.stats().committed.min(rows));
        std::thread::sleep(Duration::from_millis(50));
    }
    flusher.join().map_err(|_| "flush thread panicked")??;
    let committed = t.elapsed();
    pb.finish_and_clear();
    let stats = store.stats();
    store.close()?;
    let n = baseline::count_rows(&db)?;
    let per = |d: Duration, n: u64| dur(d / u32::try_from(n.max(1)).unwrap_or(u32::MAX));
    println!(
        "   caller time per put (formatting the row included): {} over the first {} puts (queue with room);",
        per(burst, first),
        count(first as f64)
    );
    println!(
        "                                                      {} over all {} (once the queue is full, puts wait for SQLite: {} in all)",
        per(caller, rows),
        count(rows as f64),
        dur(enqueued)
    );
    println!(
        "   all committed after: {}  ({}/s, {} batches, mean {:.0} rows per batch)",
        dur(committed),
        count(rows as f64 / committed.as_secs_f64()),
        stats.batches,
        stats.mean_batch_size
    );
    println!("   rows counted in SQLite: {n} (expected {rows})\n");
    if n != rows {
        return Err(format!("SQLite holds {n} rows, expected {rows}: writes were lost").into());
    }
    Ok(committed)
}

/// The same rows the synchronous way: one transaction per row, sampled.
fn synchronous(dir: &Path, rows: u64, sample: u64, bb_time: Duration) -> Result<(), BoxError> {
    println!("4. The same rows the synchronous way: one transaction per row");
    for settings in [Settings::Defaults, Settings::Wal] {
        let db = dir.join("sync.db");
        baseline::remove_db(&db);
        // In WAL mode enough rows to cross SQLite's automatic checkpoints.
        let cap = match settings {
            Settings::Defaults => sample,
            Settings::Wal => sample.max(20_000),
        }
        .min(rows)
        .max(1);
        let pb = bar(cap, "one transaction per row");
        let (n, took) = baseline::autocommit(&db, settings, cap, Duration::from_secs(10), |i| {
            if i % 16 == 0 {
                pb.set_position(i);
            }
        })?;
        pb.finish_and_clear();
        baseline::remove_db(&db);
        let rate = n as f64 / took.as_secs_f64();
        let projected = Duration::from_secs_f64(rows as f64 / rate);
        let how = if n < rows { format!("extrapolated from {n} rows") } else { "measured".to_string() };
        println!("   {}:", settings.label());
        println!(
            "     {}/s; {} rows would take {} ({how}); backburner is {:.0}x faster",
            count(rate),
            count(rows as f64),
            dur(projected),
            projected.as_secs_f64() / bb_time.as_secs_f64()
        );
    }
    println!();
    Ok(())
}
