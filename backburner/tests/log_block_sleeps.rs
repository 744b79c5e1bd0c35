//! Guards that the logger's `Backpressure::Block` waits without spinning:
//! a thread whose ring is full while a slow destination holds the worker
//! uses little CPU while it waits, and every line still arrives.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backburner::log::{Destination, Logger};
use backburner::Backpressure;

struct Slow(Arc<Mutex<usize>>);

impl Destination for Slow {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        std::thread::sleep(Duration::from_millis(50));
        *self.0.lock().expect("lines") += bytes.iter().filter(|&&b| b == b'\n').count();
        Ok(bytes.len())
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    #[allow(unsafe_code)]
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn a_producer_blocked_on_a_full_ring_does_not_spin() {
    let lines = Arc::new(Mutex::new(0));
    let log = Logger::builder()
        .destination(Slow(lines.clone()))
        .queue_capacity(16)
        .backpressure(Backpressure::Block)
        .build()
        .expect("logger");
    let (wall, cpu) = std::thread::spawn(move || {
        let (t0, c0) = (Instant::now(), thread_cpu());
        for i in 0..5_000 {
            backburner::info!(log, "line {}", i);
        }
        log.flush().expect("flush");
        (t0.elapsed(), thread_cpu() - c0)
    })
    .join()
    .expect("producer");
    assert_eq!(*lines.lock().expect("lines"), 5_000);
    assert!(wall >= Duration::from_millis(200), "the destination did not hold the producer: {wall:?}");
    // A yield loop keeps the thread on the CPU for most of the wait.
    assert!(cpu < wall / 5, "the blocked producer used {cpu:?} of CPU in {wall:?}");
}
