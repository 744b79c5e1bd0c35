//! The `tracing` layer (feature `tracing`): events logged with `tracing`
//! macros reach the file through backburner, with target, level, message and
//! fields, and none is lost.
#![cfg(feature = "tracing")]

use backburner::log::{Format, Logger};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn tracing_events_go_through_backburner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.log");
    let log = Logger::builder().file(&path).format(Format::Json).build().expect("logger");
    let subscriber = tracing_subscriber::registry().with(log.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..1000 {
            tracing::info!(target: "app::orders", order = i, side = "buy", "filled {}", i);
        }
        tracing::debug!("below the default filter");
    });
    log.flush().expect("flush");
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).expect("json");
        assert_eq!(v["target"], "app::orders");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["msg"], format!("filled {i}"));
        assert_eq!(v["fields"]["order"], i.to_string());
        assert_eq!(v["fields"]["side"], "buy");
    }
}
