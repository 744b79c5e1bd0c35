//! A `tracing` layer (feature `tracing`): events from `tracing` macros go
//! through backburner's logger, so existing code logs through it unchanged,
//! with the spans each event is in, as tracing-subscriber's `fmt` layer
//! writes them.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! use tracing_subscriber::layer::SubscriberExt;
//! let path = dir.path().join("app.log");
//! let log = backburner::log::Logger::builder().file(&path).build()?;
//! let subscriber = tracing_subscriber::registry().with(log.tracing_layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let request = tracing::info_span!("request", method = "GET", uri = "/x");
//!     let _in = request.enter();
//!     tracing::info!(target: "app", status = 404, "finished processing request");
//! });
//! log.flush()?;
//! let line = std::fs::read_to_string(&path)?;
//! // 2026-11-26T16:55:01.123456Z INFO  request{method=GET uri=/x}: app [main] finished processing request status=404
//! assert!(line.contains(" INFO  request{method=GET uri=/x}: app ["), "{line}");
//! assert!(line.ends_with("] finished processing request status=404\n"), "{line}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With `Format::Json` the same event ends with the innermost span and the
//! whole stack, root first (field values are strings, as the event's are):
//! `…,"msg":"finished processing request","fields":{"status":"404"},`
//! `"span":{"name":"request","method":"GET","uri":"/x"},"spans":[{"name":"request","method":"GET","uri":"/x"}]}`.
//!
//! Event fields are borrowed, so the message is formatted on the caller;
//! the line goes through the same queues as the logger's own macros.
//!
//! Spans: a span's fields are formatted once, when it is created (and again
//! when `Span::record` changes them), into the logger's format, and kept in
//! the span's extensions in the registry. An event copies the prepared
//! text of the spans it is in, root first, into the same allocation as its
//! message. A span whose level and target the logger's filter drops is not
//! recorded and not shown, as under a filter in tracing-subscriber. What
//! an event pays for its spans is a registry lookup and a read lock per
//! span, and the copy: about 110–130 ns for one span of two fields in
//! `backburner bench log` (docs/design.md, "The `tracing` layer").

use std::fmt::Write as _;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::format::{push_escaped_newlines, Format};
use super::level::Level;
use super::record::{runtime_site, Entry, Message};
use super::Logger;

/// The layer; see [`Logger::tracing_layer`].
#[derive(Debug, Clone)]
pub struct TracingLayer {
    logger: Logger,
}

impl Logger {
    /// A `tracing_subscriber` layer that logs events through this logger,
    /// with the spans they are in. It needs a subscriber that stores spans
    /// (`tracing_subscriber::registry()`).
    pub fn tracing_layer(&self) -> TracingLayer {
        TracingLayer { logger: self.clone() }
    }
}

fn level(l: &tracing_core::Level) -> Level {
    match *l {
        tracing_core::Level::ERROR => Level::Error,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::DEBUG => Level::Debug,
        _ => Level::Trace,
    }
}

struct Fields<'a> {
    msg: &'a mut String,
    kv: Vec<(Box<str>, Box<str>)>,
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            self.kv.push((field.name().into(), value.into()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.msg, "{value:?}");
        } else {
            self.kv.push((field.name().into(), format!("{value:?}").into_boxed_str()));
        }
    }
}

/// A span's field values as an event's are written: a string as given,
/// any other value as `record_debug` receives it. Keyed by the field's
/// index in the span's field set, so they stay in declaration order.
#[derive(Default)]
struct SpanValues(Vec<(usize, &'static str, Box<str>)>);

impl Visit for SpanValues {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.index(), field.name(), value.into()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.index(), field.name(), format!("{value:?}").into_boxed_str()));
    }
}

/// What a span's extensions hold for backburner: its values, and the span
/// as each logger that records it writes it.
///
/// Several backburner layers (loggers) on one registry share it: each adds
/// its own form, and recording a value replaces the field's value, so a
/// `Span::record` merged by every layer leaves each field once.
struct SpanFields {
    /// (field index, name, value), by index.
    values: Vec<(usize, &'static str, Box<str>)>,
    /// (logger id, the span in that logger's format): text `name{k=v k2=v2}:`
    /// (`name:` without fields), JSON `{"name":"name","k":"v","k2":"v2"}`.
    forms: Vec<(usize, Box<str>)>,
}

impl SpanFields {
    fn merge(&mut self, new: SpanValues) {
        for (i, name, v) in new.0 {
            match self.values.binary_search_by_key(&i, |e| e.0) {
                Ok(at) => self.values[at].2 = v,
                Err(at) => self.values.insert(at, (i, name, v)),
            }
        }
    }

    fn form(&self, logger: usize) -> Option<&str> {
        self.forms.iter().find(|f| f.0 == logger).map(|f| &*f.1)
    }

    /// Sets `logger`'s form from the values.
    fn render(&mut self, logger: usize, format: Format, name: &str) {
        let mut out = String::with_capacity(
            name.len() + 2 + self.values.iter().map(|v| v.1.len() + v.2.len() + 6).sum::<usize>(),
        );
        match format {
            Format::Json => {
                out.push_str("{\"name\":");
                crate::dead_letter::string(&mut out, name);
                for (_, k, v) in &self.values {
                    out.push(',');
                    crate::dead_letter::string(&mut out, k);
                    out.push(':');
                    crate::dead_letter::string(&mut out, v);
                }
                out.push('}');
            }
            Format::Text => {
                push_escaped_newlines(&mut out, name);
                for (i, (_, k, v)) in self.values.iter().enumerate() {
                    out.push(if i == 0 { '{' } else { ' ' });
                    // A field name may be any string literal: one with a
                    // newline must not split the line.
                    push_escaped_newlines(&mut out, k);
                    out.push('=');
                    push_escaped_newlines(&mut out, v);
                }
                if !self.values.is_empty() {
                    out.push('}');
                }
                out.push(':');
            }
        }
        let out = out.into_boxed_str();
        match self.forms.iter_mut().find(|f| f.0 == logger) {
            Some(f) => f.1 = out,
            None => self.forms.push((logger, out)),
        }
    }
}

/// Deeper spans (towards the root) are left out of a line.
const MAX_DEPTH: usize = 64;

/// Appends the prepared forms of `span` and its ancestors, root first: text
/// forms as they are (`a{k=v}:b:`), JSON forms separated by commas. Spans
/// this logger did not record are skipped; `last` ends as the start of the
/// innermost one written. (Walked through `SpanRef::parent`, which looks
/// each span up once; `Scope` looks the first one up again.)
fn push_from_root<'a, R: LookupSpan<'a>>(
    out: &mut String,
    span: SpanRef<'a, R>,
    logger: usize,
    json: bool,
    depth: usize,
    last: &mut usize,
) {
    if depth < MAX_DEPTH {
        if let Some(parent) = span.parent() {
            push_from_root(out, parent, logger, json, depth + 1, last);
        }
    }
    let ext = span.extensions();
    if let Some(form) = ext.get::<SpanFields>().and_then(|f| f.form(logger)) {
        if json && !out.is_empty() {
            out.push(',');
        }
        *last = out.len();
        out.push_str(form);
    }
}

thread_local! {
    /// Where messages are formatted before one exact-size copy is queued.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl<S> tracing_subscriber::Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let shared = self.logger.shared();
        if !shared.filter.enabled(level(meta.level()), meta.target()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // Formatted before the lock is taken: a value's `Debug` may log.
        let mut values = SpanValues::default();
        attrs.record(&mut values);
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanFields>() {
            // Another backburner logger's layer recorded it first.
            Some(f) => {
                if f.form(shared.id).is_none() {
                    f.render(shared.id, shared.format, meta.name());
                }
            }
            None => {
                let mut f = SpanFields { values: Vec::with_capacity(values.0.len()), forms: Vec::with_capacity(1) };
                f.merge(values);
                f.render(shared.id, shared.format, meta.name());
                ext.insert(f);
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let logger = self.logger.shared().id;
        // Not recorded by this logger (its filter dropped the span).
        let ours = span.extensions().get::<SpanFields>().is_some_and(|f| f.form(logger).is_some());
        if !ours {
            return;
        }
        let mut new = SpanValues::default();
        values.record(&mut new);
        let mut ext = span.extensions_mut();
        if let Some(f) = ext.get_mut::<SpanFields>() {
            f.merge(new);
            f.render(logger, self.logger.shared().format, span.name());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let lvl = level(meta.level());
        let shared = self.logger.shared();
        if !shared.filter.enabled(lvl, meta.target()) {
            return;
        }
        let at = self.logger.now();
        let render = |buf: &mut String| {
            buf.clear();
            let mut inner = 0;
            if let Some(span) = ctx.event_span(event) {
                push_from_root(buf, span, shared.id, shared.format == Format::Json, 0, &mut inner);
            }
            // Absurdly long span text is left out rather than mis-cut.
            let spans = u32::try_from(buf.len()).unwrap_or_else(|_| {
                buf.clear();
                inner = 0;
                0
            });
            let mut f = Fields { msg: buf, kv: Vec::new() };
            event.record(&mut f);
            let fields = if f.kv.is_empty() { None } else { Some(f.kv.into_boxed_slice()) };
            (Box::<str>::from(buf.as_str()), spans, inner as u32, fields)
        };
        let (text, spans, inner, fields) = SCRATCH
            .try_with(|s| match s.try_borrow_mut() {
                Ok(mut buf) => render(&mut buf),
                Err(_) => render(&mut String::new()),
            })
            .unwrap_or_else(|_| render(&mut String::new()));
        let msg = Message::Event { text, spans, inner, target: meta.target(), fields };
        self.logger.push(Entry { at, site: runtime_site(lvl), msg });
    }
}
