//! Times a burst of log calls from one thread (a quick profile target).
fn main() {
    let dir = std::env::temp_dir().join("bb-logspin");
    let _ = std::fs::remove_dir_all(&dir);
    let log =
        backburner::log::Logger::builder().file(dir.join("a.log")).queue_capacity(200_000).build().expect("logger");
    for round in 0..5 {
        let t = std::time::Instant::now();
        for id in 0..100_000u64 {
            backburner::info!(log, "order {} filled at {} for {}", id, 99.5f64, "ACME");
        }
        let e = t.elapsed();
        let f = std::time::Instant::now();
        log.flush().expect("flush");
        println!(
            "round {round}: {:.1} ns per call, flush {:?}, {:.2} M lines/s overall",
            e.as_nanos() as f64 / 100_000.0,
            f.elapsed(),
            100_000.0 / t.elapsed().as_secs_f64() / 1e6
        );
    }
}
