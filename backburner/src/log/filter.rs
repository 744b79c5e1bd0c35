//! Level and target filters in the familiar `RUST_LOG` syntax:
//! `info`, `warn,my_app=debug,my_app::db=trace`, `off`, `my_app`.

use super::level::Level;

/// Which lines to keep: a default level and per-target levels (the longest
/// matching target prefix wins, matched on `::` boundaries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    default: Option<Level>,
    /// (target prefix, level or off), longest first.
    targets: Vec<(String, Option<Level>)>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter { default: Some(Level::Info), targets: Vec::new() }
    }
}

fn parse_level(s: &str) -> Result<Option<Level>, String> {
    Ok(Some(match s.trim().to_ascii_lowercase().as_str() {
        "off" => return Ok(None),
        "error" => Level::Error,
        "warn" | "warning" => Level::Warn,
        "info" => Level::Info,
        "debug" => Level::Debug,
        "trace" => Level::Trace,
        other => return Err(format!("unknown level `{other}`; use off, error, warn, info, debug or trace")),
    }))
}

impl Filter {
    /// Parses `RUST_LOG`-style directives.
    ///
    /// ```
    /// use backburner::log::{Filter, Level};
    /// let f = Filter::parse("warn,app=debug,app::db=off")?;
    /// assert!(f.enabled(Level::Debug, "app::http"));
    /// assert!(!f.enabled(Level::Error, "app::db"));
    /// assert!(!f.enabled(Level::Info, "other"));
    /// # Ok::<(), String>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A message naming the directive that is not understood.
    pub fn parse(spec: &str) -> Result<Filter, String> {
        let mut f = Filter { default: None, targets: Vec::new() };
        let mut default_set = false;
        for d in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match d.split_once('=') {
                Some((target, level)) => {
                    let level = parse_level(level).map_err(|e| format!("in `{d}`: {e}"))?;
                    f.targets.push((target.trim().to_string(), level));
                }
                None => match parse_level(d) {
                    Ok(level) => {
                        f.default = level;
                        default_set = true;
                    }
                    // A bare target enables everything for it.
                    Err(_) if d.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '-') => {
                        f.targets.push((d.to_string(), Some(Level::Trace)));
                    }
                    Err(e) => return Err(format!("in `{d}`: {e}")),
                },
            }
        }
        if !default_set && f.targets.is_empty() {
            f.default = Some(Level::Error);
        }
        f.targets.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        Ok(f)
    }

    /// The level allowed for `target`.
    pub fn level_for(&self, target: &str) -> Option<Level> {
        for (prefix, level) in &self.targets {
            if target == prefix || (target.starts_with(prefix.as_str()) && target[prefix.len()..].starts_with("::")) {
                return *level;
            }
        }
        self.default
    }

    /// Whether a line at `level` for `target` is kept.
    pub fn enabled(&self, level: Level, target: &str) -> bool {
        self.level_for(target).is_some_and(|max| level <= max)
    }

    /// The most verbose level any directive allows.
    pub fn max_level(&self) -> Option<Level> {
        self.targets.iter().filter_map(|t| t.1).chain(self.default).max()
    }
}
