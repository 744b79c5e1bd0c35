//! A `tracing` layer (feature `tracing`): events from `tracing` macros go
//! through backburner's logger, so existing code logs through it unchanged.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! use tracing_subscriber::layer::SubscriberExt;
//! let log = backburner::log::Logger::builder().file(dir.path().join("app.log")).build()?;
//! let subscriber = tracing_subscriber::registry().with(log.tracing_layer());
//! tracing_core::dispatcher::with_default(&tracing_core::Dispatch::new(subscriber), || {
//!     // tracing::info!(user = 7, "paid {}", 12);  (with the `tracing` crate)
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Event fields are borrowed, so the message is formatted on the caller;
//! the line goes through the same queues as the logger's own macros.

use std::fmt::Write as _;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;

use super::level::Level;
use super::record::{runtime_site, Entry, Message};
use super::Logger;

/// The layer; see [`Logger::tracing_layer`].
#[derive(Debug, Clone)]
pub struct TracingLayer {
    logger: Logger,
}

impl Logger {
    /// A `tracing_subscriber` layer that logs events through this logger.
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

thread_local! {
    /// Where messages are formatted before one exact-size copy is queued.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for TracingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let lvl = level(meta.level());
        if !self.logger.shared().filter.enabled(lvl, meta.target()) {
            return;
        }
        let at = self.logger.now();
        let render = |buf: &mut String| {
            buf.clear();
            let mut f = Fields { msg: buf, kv: Vec::new() };
            event.record(&mut f);
            let fields = if f.kv.is_empty() { None } else { Some(f.kv.into_boxed_slice()) };
            (Box::<str>::from(buf.as_str()), fields)
        };
        let (text, fields) = SCRATCH
            .try_with(|s| match s.try_borrow_mut() {
                Ok(mut buf) => render(&mut buf),
                Err(_) => render(&mut String::new()),
            })
            .unwrap_or_else(|_| render(&mut String::new()));
        let msg = Message::Event { msg: text, target: meta.target(), fields };
        self.logger.push(Entry { at, site: runtime_site(lvl), msg });
    }
}
