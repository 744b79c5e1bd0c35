//! The dead-letter file: writes the sink refused for good, one JSON object
//! per line, so they can be inspected and replayed by hand.
//!
//! ```text
//! {"seq":7,"op":"put","key":"user:42","value":"…","error":"…"}
//! {"seq":9,"op":"execute","sql":"INSERT …","params":[1,"x",null,{"blob_hex":"00ff"}],"error":"…"}
//! ```
//!
//! Keys and values that are not UTF-8 are written as `{"hex":"…"}`.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::queue::{Op, Record};
use crate::value::SqlValue;

pub(crate) struct DeadLetters {
    path: Option<PathBuf>,
    file: Option<File>,
    line: String,
}

impl DeadLetters {
    pub(crate) fn new(path: Option<PathBuf>) -> DeadLetters {
        DeadLetters { path, file: None, line: String::new() }
    }

    /// Appends the records and syncs the file once. Returns the file's path,
    /// or `None` (after logging why) when they could not be saved.
    pub(crate) fn write(&mut self, recs: &[(&Record, &str)]) -> Option<PathBuf> {
        let path = self.path.clone()?;
        self.line.clear();
        for (rec, error) in recs {
            encode(&mut self.line, rec, error);
        }
        match self.append(&path) {
            Ok(()) => Some(path),
            Err(e) => {
                ::log::error!(
                    "backburner: could not write {} rejected write(s) to the dead-letter file {}: {e}",
                    recs.len(),
                    path.display()
                );
                self.file = None;
                None
            }
        }
    }

    fn append(&mut self, path: &Path) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(OpenOptions::new().create(true).append(true).open(path)?);
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let before = f.metadata()?.len();
        if let Err(e) = f.write_all(self.line.as_bytes()).and_then(|()| f.sync_data()) {
            // No half line left behind for the next append to run into.
            let _ = f.set_len(before);
            return Err(e);
        }
        Ok(())
    }
}

fn encode(out: &mut String, rec: &Record, error: &str) {
    let _ = write!(out, "{{\"seq\":{}", rec.seq);
    match &rec.op {
        Op::Put(kv) => {
            out.push_str(",\"op\":\"put\",\"key\":");
            bytes(out, kv.key());
            out.push_str(",\"value\":");
            bytes(out, kv.value());
        }
        Op::Delete(kv) => {
            out.push_str(",\"op\":\"delete\",\"key\":");
            bytes(out, kv.key());
        }
        Op::Execute(e) => {
            out.push_str(",\"op\":\"execute\",\"sql\":");
            string(out, &e.sql);
            out.push_str(",\"params\":[");
            for (i, p) in e.params.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match p {
                    SqlValue::Null => out.push_str("null"),
                    SqlValue::Integer(i) => {
                        let _ = write!(out, "{i}");
                    }
                    SqlValue::Real(f) if f.is_finite() => {
                        let _ = write!(out, "{f:?}");
                    }
                    SqlValue::Real(f) => string(out, &f.to_string()),
                    SqlValue::Text(s) => string(out, s),
                    SqlValue::Blob(b) => {
                        out.push_str("{\"blob_hex\":\"");
                        hex(out, b);
                        out.push_str("\"}");
                    }
                }
            }
            out.push(']');
        }
    }
    out.push_str(",\"error\":");
    string(out, error);
    out.push_str("}\n");
}

fn bytes(out: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => string(out, s),
        Err(_) => {
            out.push_str("{\"hex\":\"");
            hex(out, b);
            out.push_str("\"}");
        }
    }
}

fn hex(out: &mut String, b: &[u8]) {
    for x in b {
        let _ = write!(out, "{x:02x}");
    }
}

/// A JSON string literal (RFC 8259 escaping).
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
