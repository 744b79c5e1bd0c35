//! The `tracing` layer writes the spans an event is in (issue 10: tower-http's
//! `request{method, uri}` span was missing, so lines could not be tied to
//! requests): in text as tracing-subscriber's `fmt` does, `outer{a=1}:inner{b=2}: `
//! before the target; in JSON as `"span":{…}` (the innermost) and
//! `"spans":[…]` (root first), escaped so that a JSON parser reads the values
//! back. Values recorded later (`Span::record`) show; an event in no span has
//! neither; a span the logger's filter drops is left out.
#![cfg(feature = "tracing")]

use backburner::log::{Format, Logger};
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

/// Runs `f` with one logger's layer as the default subscriber and returns
/// the lines it wrote.
fn lines(format: Format, filter: &str, f: impl FnOnce()) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.log");
    let log = Logger::builder().file(&path).format(format).filter(filter).build().expect("logger");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(log.tracing_layer()), f);
    log.flush().expect("flush");
    std::fs::read_to_string(&path).expect("read").lines().map(str::to_owned).collect()
}

/// What follows the level in a text line: `spans target [thread] message fields`.
fn after_level(line: &str) -> &str {
    line.split_once(" INFO  ").map(|x| x.1).expect("an INFO line")
}

/// The line with its thread's name (the test's) replaced by `T`.
fn text_tail(line: &str) -> String {
    let rest = after_level(line);
    let open = rest.find(" [").expect("[thread]");
    let close = rest[open..].find("] ").expect("]") + open;
    format!("{} [T]{}", &rest[..open], &rest[close + 1..])
}

fn nested() {
    let outer = tracing::info_span!("outer", a = 1, s = "hi");
    let _o = outer.enter();
    let inner = tracing::info_span!("inner", b = 2);
    let _i = inner.enter();
    tracing::info!(target: "app", k = "v", "in both");
}

#[test]
fn text_lines_carry_nested_spans_root_first() {
    let l = lines(Format::Text, "info", nested);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(text_tail(&l[0]), "outer{a=1 s=hi}:inner{b=2}: app [T] in both k=v");
}

#[test]
fn json_lines_carry_span_and_spans() {
    let l = lines(Format::Json, "info", nested);
    assert_eq!(l.len(), 1, "{l:?}");
    let v: Value = serde_json::from_str(&l[0]).expect("json");
    assert_eq!(v["msg"], "in both");
    assert_eq!(v["fields"], json!({"k": "v"}));
    assert_eq!(v["span"], json!({"name": "inner", "b": "2"}));
    assert_eq!(v["spans"], json!([{"name": "outer", "a": "1", "s": "hi"}, {"name": "inner", "b": "2"}]));
}

fn recorded() {
    let span = tracing::info_span!("request", method = "GET", status = tracing::field::Empty, n = 1);
    let _e = span.enter();
    tracing::info!(target: "app", "before");
    span.record("status", 404);
    span.record("n", 2);
    tracing::info!(target: "app", "after");
}

#[test]
fn values_recorded_later_show_in_text() {
    let l = lines(Format::Text, "info", recorded);
    assert_eq!(l.len(), 2, "{l:?}");
    assert_eq!(text_tail(&l[0]), "request{method=GET n=1}: app [T] before");
    // In declaration order, the changed value once.
    assert_eq!(text_tail(&l[1]), "request{method=GET status=404 n=2}: app [T] after");
}

#[test]
fn values_recorded_later_show_in_json() {
    let l = lines(Format::Json, "info", recorded);
    assert_eq!(l.len(), 2, "{l:?}");
    let a: Value = serde_json::from_str(&l[0]).expect("json");
    let b: Value = serde_json::from_str(&l[1]).expect("json");
    assert_eq!(a["span"], json!({"name": "request", "method": "GET", "n": "1"}));
    assert_eq!(b["span"], json!({"name": "request", "method": "GET", "status": "404", "n": "2"}));
    assert_eq!(b["spans"], json!([b["span"].clone()]));
}

fn outside_and_after() {
    tracing::info!(target: "app", k = 1, "outside");
    {
        let span = tracing::info_span!("s", a = 1);
        let _e = span.enter();
    }
    tracing::info!(target: "app", "after the span closed");
}

#[test]
fn an_event_in_no_span_has_no_prefix_in_text() {
    let l = lines(Format::Text, "info", outside_and_after);
    assert_eq!(l.len(), 2, "{l:?}");
    assert_eq!(text_tail(&l[0]), "app [T] outside k=1");
    assert_eq!(text_tail(&l[1]), "app [T] after the span closed");
}

#[test]
fn an_event_in_no_span_has_no_span_keys_in_json() {
    let l = lines(Format::Json, "info", outside_and_after);
    assert_eq!(l.len(), 2, "{l:?}");
    for line in &l {
        let v: Value = serde_json::from_str(line).expect("json");
        let keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
        assert!(!keys.contains(&"span") && !keys.contains(&"spans"), "{line}");
    }
}

fn awkward() {
    let span = tracing::info_span!("q\"uote", path = "a\\b \"c\"\nd\te\u{1}", dbg = ?"x\ny");
    let _e = span.enter();
    tracing::info!(target: "app", "m");
}

#[test]
fn span_values_are_escaped_in_json() {
    let l = lines(Format::Json, "info", awkward);
    assert_eq!(l.len(), 1, "{l:?}");
    let v: Value = serde_json::from_str(&l[0]).expect("json");
    assert_eq!(v["span"], json!({"name": "q\"uote", "path": "a\\b \"c\"\nd\te\u{1}", "dbg": "\"x\\ny\""}));
}

#[test]
fn span_values_keep_a_text_line_on_one_line() {
    let l = lines(Format::Text, "info", awkward);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(text_tail(&l[0]), "q\"uote{path=a\\b \"c\"\\nd\te\u{1} dbg=\"x\\ny\"}: app [T] m");
}

#[test]
fn an_explicit_parent_is_the_events_span() {
    let l = lines(Format::Text, "info", || {
        let span = tracing::info_span!("job", id = 7);
        tracing::info!(target: "app", parent: &span, "not entered");
    });
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(text_tail(&l[0]), "job{id=7}: app [T] not entered");
}

#[test]
fn a_span_the_filter_drops_is_left_out() {
    let l = lines(Format::Text, "info", || {
        let outer = tracing::info_span!("outer", a = 1);
        let _o = outer.enter();
        let noisy = tracing::debug_span!("noisy", b = 2);
        let _n = noisy.enter();
        tracing::info!(target: "app", "m");
    });
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(text_tail(&l[0]), "outer{a=1}: app [T] m");
}

#[test]
fn two_loggers_on_one_registry_each_write_the_spans_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tp, jp) = (dir.path().join("t.log"), dir.path().join("j.log"));
    let text = Logger::builder().file(&tp).build().expect("logger");
    let js = Logger::builder().file(&jp).format(Format::Json).build().expect("logger");
    let subscriber = tracing_subscriber::registry().with(text.tracing_layer()).with(js.tracing_layer());
    tracing::subscriber::with_default(subscriber, recorded);
    text.flush().expect("flush");
    js.flush().expect("flush");
    let t = std::fs::read_to_string(&tp).expect("read");
    let t: Vec<&str> = t.lines().collect();
    assert_eq!(text_tail(t[1]), "request{method=GET status=404 n=2}: app [T] after");
    let j = std::fs::read_to_string(&jp).expect("read");
    let b: Value = serde_json::from_str(j.lines().nth(1).expect("two lines")).expect("json");
    assert_eq!(b["span"], json!({"name": "request", "method": "GET", "status": "404", "n": "2"}));
}
