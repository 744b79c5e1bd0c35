//! The store's counters through the `metrics` facade (feature `metrics`):
//! after writes, a rejected write and a flush, the recorder has seen the
//! committed and dead-lettered counts and the batch histograms.
#![cfg(feature = "metrics")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

#[derive(Default)]
struct Value(AtomicU64);

impl metrics::CounterFn for Value {
    fn increment(&self, v: u64) {
        self.0.fetch_add(v, Ordering::SeqCst);
    }
    fn absolute(&self, v: u64) {
        self.0.store(v, Ordering::SeqCst);
    }
}
impl metrics::GaugeFn for Value {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, v: f64) {
        self.0.store(v as u64, Ordering::SeqCst);
    }
}
impl metrics::HistogramFn for Value {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Keeps one number per metric name (counters: the sum; histograms: the
/// number of samples; gauges: the last value).
#[derive(Default, Clone)]
struct Rec(Arc<Mutex<HashMap<String, Arc<Value>>>>);

impl Rec {
    fn get(&self, name: &str) -> u64 {
        self.0.lock().expect("lock").get(name).map_or(0, |v| v.0.load(Ordering::SeqCst))
    }
    fn value(&self, key: &Key) -> Arc<Value> {
        Arc::clone(self.0.lock().expect("lock").entry(key.name().to_string()).or_default())
    }
}

impl Recorder for Rec {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.value(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.value(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.value(key))
    }
}

#[test]
fn batches_are_published() {
    let rec = Rec::default();
    metrics::set_global_recorder(rec.clone()).expect("recorder");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = backburner::Store::builder(&format!("sqlite://{}/t.db", dir.path().display()))
        .linger(Duration::from_millis(1))
        .build()
        .expect("open");
    for i in 0..1_000u32 {
        drop(store.put(i.to_be_bytes(), "v").expect("put"));
    }
    drop(store.execute("INSERT INTO no_such_table VALUES (1)", []).expect("queued"));
    assert!(store.flush().is_err(), "the rejected write is reported");
    store.close().expect("close");
    assert_eq!(rec.get("backburner_committed_total"), 1_000);
    assert_eq!(rec.get("backburner_dead_letters_total"), 1);
    let batches = rec.get("backburner_batches_total");
    assert!(batches >= 1);
    assert_eq!(rec.get("backburner_batch_size"), batches, "one sample per batch");
    assert_eq!(rec.get("backburner_commit_seconds"), batches);
    assert_eq!(rec.get("backburner_queue_depth"), 0);
}
