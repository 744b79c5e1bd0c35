//! Line formats: text and JSON, with RFC 3339 UTC timestamps to the microsecond.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch.
pub(crate) fn epoch_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

use super::level::Level;

/// How lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `2026-11-26T16:55:01.123456Z INFO  app::orders [main] order 42 filled key=value`;
    /// a `tracing` event in spans has them before the target:
    /// `… INFO  request{method=GET uri=/x}:db{table=orders}: app::orders [main] …`
    #[default]
    Text,
    /// One JSON object per line:
    /// `{"ts":"…","level":"INFO","target":"app::orders","thread":"main","msg":"…","fields":{"key":"value"}}`;
    /// a `tracing` event in spans ends with the innermost and all of them, root first:
    /// `…,"span":{"name":"db","table":"orders"},"spans":[{"name":"request","method":"GET","uri":"/x"},{"name":"db","table":"orders"}]}`
    Json,
}

pub(crate) use crate::time::rfc3339_micros;

/// Formats timestamps, reusing the date and time of the last second seen.
#[derive(Default)]
pub(crate) struct Stamp {
    secs: u64,
    prefix: String,
}

impl Stamp {
    /// Appends the time `epoch_ns` nanoseconds after 1970-01-01T00:00:00Z.
    pub(crate) fn push(&mut self, out: &mut String, epoch_ns: u64) {
        let secs = epoch_ns / 1_000_000_000;
        if secs != self.secs || self.prefix.is_empty() {
            self.secs = secs;
            self.prefix.clear();
            rfc3339_micros(&mut self.prefix, UNIX_EPOCH + std::time::Duration::from_secs(secs));
            self.prefix.truncate(20); // "YYYY-MM-DDTHH:MM:SS."
        }
        out.push_str(&self.prefix);
        let mut micros = ((epoch_ns % 1_000_000_000) / 1_000) as u32;
        let mut digits = [b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
        for i in (0..6).rev() {
            digits[i] = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        // ASCII digits and 'Z': one copy, not seven pushes.
        out.push_str(std::str::from_utf8(&digits).unwrap_or("000000Z"));
    }
}

/// The parts of one line.
pub(crate) struct Line<'a> {
    /// Nanoseconds since the Unix epoch.
    pub(crate) ts: u64,
    pub(crate) level: Level,
    pub(crate) target: &'a str,
    pub(crate) thread: &'a str,
    /// Appends the message.
    pub(crate) msg: &'a dyn Fn(&mut String),
    pub(crate) fields: &'a [(Box<str>, Box<str>)],
    /// The spans a `tracing` event is in, root first, prepared in this
    /// format by the caller (text: `a{k=v}:b:`; JSON: `{"name":"a","k":"v"},{"name":"b"}`),
    /// and the innermost one (JSON); both empty outside any span.
    pub(crate) spans: (&'a str, &'a str),
}

/// Appends one line (with its newline) to `out`.
pub(crate) fn write_line(out: &mut String, stamp: &mut Stamp, format: Format, l: &Line<'_>) {
    match format {
        Format::Text => {
            out.reserve(64 + l.spans.0.len() + l.target.len() + l.thread.len());
            stamp.push(out, l.ts);
            // " INFO  " with the level padded to five.
            out.push_str(match l.level {
                Level::Error => " ERROR ",
                Level::Warn => " WARN  ",
                Level::Info => " INFO  ",
                Level::Debug => " DEBUG ",
                Level::Trace => " TRACE ",
            });
            // Where tracing-subscriber's `fmt` puts them: before the target.
            if !l.spans.0.is_empty() {
                out.push_str(l.spans.0);
                out.push(' ');
            }
            out.push_str(l.target);
            out.push_str(" [");
            out.push_str(l.thread);
            out.push_str("] ");
            // Rendered in place; one line per record: newlines are escaped.
            let start = out.len();
            (l.msg)(out);
            if out.as_bytes()[start..].iter().any(|&b| b == b'\n' || b == b'\r') {
                let raw = out.split_off(start);
                push_escaped_newlines(out, &raw);
            }
            for (k, v) in l.fields {
                out.push(' ');
                out.push_str(k);
                out.push('=');
                push_escaped_newlines(out, v);
            }
        }
        Format::Json => {
            out.push_str("{\"ts\":\"");
            stamp.push(out, l.ts);
            out.push_str("\",\"level\":\"");
            out.push_str(l.level.as_str());
            out.push_str("\",\"target\":");
            crate::dead_letter::string(out, l.target);
            out.push_str(",\"thread\":");
            crate::dead_letter::string(out, l.thread);
            out.push_str(",\"msg\":");
            let mut m = String::new();
            (l.msg)(&mut m);
            crate::dead_letter::string(out, &m);
            if !l.fields.is_empty() {
                out.push_str(",\"fields\":{");
                for (i, (k, v)) in l.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    crate::dead_letter::string(out, k);
                    out.push(':');
                    crate::dead_letter::string(out, v);
                }
                out.push('}');
            }
            // As tracing-subscriber's JSON format: `span`, then `spans`.
            if !l.spans.0.is_empty() {
                out.push_str(",\"span\":");
                out.push_str(l.spans.1);
                out.push_str(",\"spans\":[");
                out.push_str(l.spans.0);
                out.push(']');
            }
            out.push('}');
        }
    }
    out.push('\n');
}

/// Appends `s` with `\n` and `\r` written as two characters each (text lines).
pub(crate) fn push_escaped_newlines(out: &mut String, s: &str) {
    if s.as_bytes().iter().any(|&b| b == b'\n' || b == b'\r') {
        for c in s.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(s);
    }
}
