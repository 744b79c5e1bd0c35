//! The dead-letter file: writes that were not applied (refused by the sink
//! for good, or given up while it was unavailable), one JSON object per
//! line, so they can be inspected and replayed ([`read`], and `backburner
//! dead-letter replay FILE --to URL`).
//!
//! ```text
//! {"seq":7,"op":"put","key":"user:42","value":"…","kind":"rejected","error":"…"}
//! {"seq":9,"op":"execute","sql":"INSERT …","params":[1,"x",null,{"blob_base64":"AP8="}],"kind":"gave_up","error":"…"}
//! ```
//!
//! Keys and values that are not UTF-8 text (or hold control characters
//! other than tab and line breaks) are written as `{"base64":"…"}`
//! (standard alphabet, padded): compact for binary data. Files written by
//! earlier versions (`{"hex":"…"}`, `{"blob_hex":"…"}`, no `kind`) are read
//! too.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::error::Error;
use crate::value::SqlValue;
use crate::write::{Record, Write};
use crate::Seq;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
    pub(crate) fn write(&mut self, recs: &[(&Record, &str)], gave_up: bool) -> Option<PathBuf> {
        let path = self.path.clone()?;
        self.line.clear();
        for (rec, error) in recs {
            encode(&mut self.line, rec, error, gave_up);
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
            let mut f = OpenOptions::new().create(true).append(true).read(true).open(path)?;
            // A process killed in the middle of an append left a piece of a
            // line: start on a line of its own, so the next entry is whole
            // (`read` reports the piece as an unreadable line).
            let len = f.metadata()?.len();
            if len > 0 {
                use std::io::{Read as _, Seek as _, SeekFrom};
                let mut last = [0u8];
                f.seek(SeekFrom::Start(len - 1))?;
                f.read_exact(&mut last)?;
                if last[0] != b'\n' {
                    f.write_all(b"\n")?;
                }
            }
            self.file = Some(f);
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

fn encode(out: &mut String, rec: &Record, error: &str, gave_up: bool) {
    let _ = write!(out, "{{\"seq\":{}", rec.seq);
    match &rec.write {
        Write::Put(kv) => {
            out.push_str(",\"op\":\"put\",\"key\":");
            bytes(out, kv.key());
            out.push_str(",\"value\":");
            bytes(out, kv.value());
        }
        Write::Delete(kv) => {
            out.push_str(",\"op\":\"delete\",\"key\":");
            bytes(out, kv.key());
        }
        Write::Execute(e) => {
            out.push_str(",\"op\":\"execute\",\"sql\":");
            string(out, e.sql());
            out.push_str(",\"params\":[");
            for (i, p) in e.params().iter().enumerate() {
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
                    SqlValue::Real(f) => {
                        out.push_str("{\"real\":");
                        string(out, &f.to_string());
                        out.push('}');
                    }
                    SqlValue::Text(s) => string(out, s),
                    SqlValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                    SqlValue::Timestamp(t) => {
                        let (secs, nanos) = crate::time::split_time(*t);
                        out.push_str("{\"timestamp\":\"");
                        crate::time::rfc3339_micros(out, *t);
                        let _ = write!(out, "\",\"unix_secs\":{secs},\"nanos\":{nanos}}}");
                    }
                    SqlValue::Json(s) => {
                        out.push_str("{\"json\":");
                        string(out, s);
                        out.push('}');
                    }
                    SqlValue::Blob(b) => {
                        out.push_str("{\"blob_base64\":\"");
                        B64.encode_string(b, out);
                        out.push_str("\"}");
                    }
                }
            }
            out.push(']');
        }
    }
    out.push_str(if gave_up { ",\"kind\":\"gave_up\"" } else { ",\"kind\":\"rejected\"" });
    out.push_str(",\"error\":");
    string(out, error);
    out.push_str("}\n");
}

fn bytes(out: &mut String, b: &[u8]) {
    // Text as a JSON string, unless it holds control characters: escaped,
    // each takes six bytes (`\u0000`), so binary data that happens to be
    // UTF-8 (a zeroed buffer) went in at six times its size.
    let text =
        std::str::from_utf8(b).ok().filter(|s| !s.bytes().any(|c| c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t')));
    match text {
        Some(s) => string(out, s),
        None => {
            out.push_str("{\"base64\":\"");
            B64.encode_string(b, out);
            out.push_str("\"}");
        }
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

/// One entry of a dead-letter file.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The write's sequence number in the store that gave it up.
    pub seq: Seq,
    /// The write, as it was handed to the store.
    pub write: Write,
    /// Why it was not applied.
    pub error: String,
    /// Given up while the sink was unavailable (`true`), or refused by the
    /// sink for good (`false`).
    pub gave_up: bool,
}

/// What [`read`] found in a dead-letter file.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Contents {
    /// The entries, in the file's order.
    pub entries: Vec<DeadLetter>,
    /// Lines that are not entries (line number from 1, and why): the piece
    /// of a line a killed process left, or a line edited by hand.
    pub unreadable: Vec<(usize, String)>,
}

/// Reads every entry of a dead-letter file, in order. A line that is not
/// an entry does not hide the others: it is listed in
/// [`Contents::unreadable`].
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read (or is not UTF-8).
///
/// # Examples
///
/// ```no_run
/// let found = backburner::dead_letter::read("data/app.db.dead-letter.jsonl".as_ref())?;
/// for entry in &found.entries {
///     println!("seq {}: {:?} ({})", entry.seq, entry.write, entry.error);
/// }
/// for (line, why) in &found.unreadable {
///     eprintln!("line {line} is not an entry: {why}");
/// }
/// # Ok::<(), backburner::Error>(())
/// ```
pub fn read(path: &Path) -> Result<Contents, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let mut out = Contents::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse(line) {
            Ok(entry) => out.entries.push(entry),
            Err(e) => out.unreadable.push((n + 1, e)),
        }
    }
    Ok(out)
}

fn parse(line: &str) -> Result<DeadLetter, String> {
    use serde_json::Value as J;
    let v: J = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let field = |name: &str| v.get(name).ok_or_else(|| format!("no `{name}` field"));
    let seq = field("seq")?.as_u64().ok_or("`seq` is not a whole number")?;
    let error = v.get("error").and_then(J::as_str).unwrap_or_default().to_string();
    let gave_up = v.get("kind").and_then(J::as_str) == Some("gave_up");
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        match field(name)? {
            J::String(s) => Ok(s.clone().into_bytes()),
            J::Object(o) => decode_obj(o, "base64", "hex").map_err(|e| format!("`{name}`: {e}")),
            _ => Err(format!("`{name}` is neither a string nor an object")),
        }
    };
    let write = match field("op")?.as_str() {
        Some("put") => Write::put(bytes("key")?, bytes("value")?),
        Some("delete") => Write::delete(bytes("key")?),
        Some("execute") => {
            let sql = field("sql")?.as_str().ok_or("`sql` is not a string")?.to_string();
            let params = field("params")?
                .as_array()
                .ok_or("`params` is not an array")?
                .iter()
                .map(param)
                .collect::<Result<Vec<_>, _>>()?;
            Write::execute(sql, params)
        }
        _ => return Err("`op` is not put, delete or execute".into()),
    };
    Ok(DeadLetter { seq: Seq(seq), write, error, gave_up })
}

fn param(p: &serde_json::Value) -> Result<SqlValue, String> {
    use serde_json::Value as J;
    Ok(match p {
        J::Null => SqlValue::Null,
        J::Bool(b) => SqlValue::Bool(*b),
        // Exact for every float written with `{:?}` (serde_json's
        // `float_roundtrip` parser).
        J::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().ok_or("a number out of range")?),
        },
        J::String(s) => SqlValue::Text(s.clone()),
        J::Object(o) => {
            if let Some(r) = o.get("real").and_then(|v| v.as_str()) {
                // A non-finite float: "NaN", "inf", "-inf".
                return Ok(SqlValue::Real(r.parse::<f64>().map_err(|e| format!("a real: {e}"))?));
            }
            if let Some(j) = o.get("json").and_then(|v| v.as_str()) {
                return Ok(SqlValue::Json(j.to_string()));
            }
            if let (Some(secs), Some(nanos)) = (o.get("unix_secs").and_then(|v| v.as_i64()), o.get("nanos")) {
                let nanos = nanos.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("`nanos` out of range")?;
                return Ok(SqlValue::Timestamp(crate::time::join_time(secs, nanos)?));
            }
            SqlValue::Blob(decode_obj(o, "blob_base64", "blob_hex")?)
        }
        J::Array(_) => return Err("a parameter is an array".into()),
    })
}

fn decode_obj(o: &serde_json::Map<String, serde_json::Value>, b64: &str, hex: &str) -> Result<Vec<u8>, String> {
    if let Some(s) = o.get(b64).and_then(|v| v.as_str()) {
        return B64.decode(s).map_err(|e| format!("bad base64: {e}"));
    }
    if let Some(s) = o.get(hex).and_then(|v| v.as_str()) {
        let b = s.as_bytes();
        if b.len() % 2 != 0 {
            return Err("odd-length hex".into());
        }
        return b
            .chunks(2)
            .map(|c| {
                std::str::from_utf8(c).ok().and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("bad hex".to_string())
            })
            .collect();
    }
    Err(format!("an object without `{b64}`"))
}
