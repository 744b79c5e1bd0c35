//! Guards the logger's async flush: `flush_async` waits for a slow
//! destination without blocking the executor thread (a timer task on the
//! same current-thread runtime keeps ticking), every line logged from
//! 1,000 tasks is there when it resolves, and a cancelled flush loses no
//! line.

mod common;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backburner::log::{Destination, Logger};
use common::with_ticker;

/// Collects lines, taking `delay` over each write.
struct Slow {
    out: Arc<Mutex<Vec<u8>>>,
    delay: Duration,
}

impl Destination for Slow {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        std::thread::sleep(self.delay);
        self.out.lock().expect("out").extend_from_slice(bytes);
        Ok(bytes.len())
    }
}

fn lines(out: &Arc<Mutex<Vec<u8>>>) -> usize {
    out.lock().expect("out").iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn flush_async_waits_for_a_slow_destination_without_blocking_the_executor() {
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Logger::builder()
        .destination(Slow { out: out.clone(), delay: Duration::from_millis(100) })
        .build()
        .expect("logger");
    let (elapsed, gap) = with_ticker(async {
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { backburner::info!(log, "task {}", i) })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let started = Instant::now();
        log.flush_async().await.expect("flush");
        started.elapsed()
    });
    assert_eq!(lines(&out), 1000, "every line is written when flush_async resolves");
    assert!(elapsed >= Duration::from_millis(100), "flush_async returned before the destination took the lines");
    // A blocking flush stops the ticker for at least one slow write.
    assert!(gap < Duration::from_millis(50), "the executor thread was blocked for {gap:?}");
}

#[test]
fn a_cancelled_flush_async_loses_no_line() {
    let out = Arc::new(Mutex::new(Vec::new()));
    let log = Logger::builder()
        .destination(Slow { out: out.clone(), delay: Duration::from_millis(50) })
        .build()
        .expect("logger");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        for i in 0..10 {
            backburner::info!(log, "line {}", i);
        }
        assert!(tokio::time::timeout(Duration::from_millis(5), log.flush_async()).await.is_err(), "the slow write won");
        tokio::time::timeout(Duration::from_secs(30), log.sync_async()).await.expect("flush hung").expect("sync");
    });
    assert_eq!(lines(&out), 10);
}
