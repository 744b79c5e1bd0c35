//! The `log` crate's adapter: [`Logger::install`] makes a logger the
//! facade's, whose records (`log::info!` and the like, and the store's own
//! lines) go through the same queues as the logger's macros. An adapter
//! over the front end: it uses `Logger`, nothing uses it.

use super::error::LogError;
use super::level::Level;
use super::record::{runtime_site, Entry, FacadeMsg, Message};
use super::{Guard, Logger};

/// The `log` facade's logger.
struct Facade {
    logger: Logger,
}

impl ::log::Log for Facade {
    fn enabled(&self, m: &::log::Metadata<'_>) -> bool {
        self.logger.shared().filter.enabled(level(m.level()), m.target())
    }
    fn log(&self, record: &::log::Record<'_>) {
        self.logger.log_record(record);
    }
    fn flush(&self) {
        let _ = self.logger.flush();
    }
}

/// The facade's level of a line.
fn level(l: ::log::Level) -> Level {
    match l {
        ::log::Level::Error => Level::Error,
        ::log::Level::Warn => Level::Warn,
        ::log::Level::Info => Level::Info,
        ::log::Level::Debug => Level::Debug,
        ::log::Level::Trace => Level::Trace,
    }
}

/// The facade's maximum level for a filter's most verbose level (`None`: off).
fn level_filter(max: Option<Level>) -> ::log::LevelFilter {
    match max {
        None => ::log::LevelFilter::Off,
        Some(Level::Error) => ::log::LevelFilter::Error,
        Some(Level::Warn) => ::log::LevelFilter::Warn,
        Some(Level::Info) => ::log::LevelFilter::Info,
        Some(Level::Debug) => ::log::LevelFilter::Debug,
        Some(Level::Trace) => ::log::LevelFilter::Trace,
    }
}

/// Collects a record's key-value pairs as text.
struct KvCollect<'a>(&'a mut Vec<(Box<str>, Box<str>)>);

impl<'kvs> ::log::kv::VisitSource<'kvs> for KvCollect<'_> {
    fn visit_pair(&mut self, key: ::log::kv::Key<'kvs>, value: ::log::kv::Value<'kvs>) -> Result<(), ::log::kv::Error> {
        self.0.push((key.as_str().into(), value.to_string().into_boxed_str()));
        Ok(())
    }
}

impl Logger {
    /// Makes this logger the `log` facade's logger, and registers an exit
    /// handler that drains it on `std::process::exit`. Keep the guard
    /// alive until the end of `main`: dropping it drains the logger.
    ///
    /// # Errors
    ///
    /// [`LogError::AlreadyInstalled`] if the facade has a logger already.
    pub fn install(&self) -> Result<Guard, LogError> {
        ::log::set_boxed_logger(Box::new(Facade { logger: self.clone() })).map_err(|_| LogError::AlreadyInstalled)?;
        ::log::set_max_level(level_filter(self.shared().filter.max_level()));
        Ok(self.guard())
    }

    /// Queues a record of the facade (its message formatted here: the
    /// record borrows its arguments).
    fn log_record(&self, record: &::log::Record<'_>) {
        let level = level(record.level());
        let target = record.target();
        if !self.shared().filter.enabled(level, target) {
            return;
        }
        let site = runtime_site(level);
        let at = self.now();
        let text = match record.args().as_str() {
            Some(s) => Box::from(s),
            None => record.args().to_string().into_boxed_str(),
        };
        let mut fields = Vec::new();
        let _ = record.key_values().visit(&mut KvCollect(&mut fields));
        let msg = Message::Facade(Box::new(FacadeMsg {
            msg: text,
            target: target.into(),
            fields: fields.into_boxed_slice(),
        }));
        self.push(Entry { at, site, msg });
    }
}
