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

use super::record::{Entry, FacadeMsg, Message};
use super::{Level, Logger};

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

struct Fields {
    msg: String,
    kv: Vec<(Box<str>, Box<str>)>,
}

impl Visit for Fields {
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

impl<S: Subscriber> tracing_subscriber::Layer<S> for TracingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let lvl = level(meta.level());
        if !self.logger.shared().filter.enabled(lvl, meta.target()) {
            return;
        }
        let at = self.logger.now();
        let mut f = Fields { msg: String::new(), kv: Vec::new() };
        event.record(&mut f);
        let msg = Message::Facade(Box::new(FacadeMsg {
            msg: f.msg.into_boxed_str(),
            target: meta.target().into(),
            fields: f.kv.into_boxed_slice(),
        }));
        self.logger.push(Entry { at, site: super::runtime_site(lvl), msg });
    }
}
