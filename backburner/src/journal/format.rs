//! The journal's byte format: segment headers and records.
//!
//! ```text
//! segment  = header record* zeros*
//! header   = "BBJRNL" 0x00 0x01 | version u32 | flags u32 | first_seq u64 | reserved u64   (32 bytes)
//! record   = len u32 | crc u32 | seq u64 | payload[len]
//! crc      = CRC32C(len | seq | payload)
//! payload  = 1 klen:u32 key value                  (put)
//!          | 2 key                                 (delete)
//!          | 3 sql_len:u32 sql n:u32 param*        (execute)
//! param    = 0 | 1 i64 | 2 f64 | 3 len:u32 utf8 | 4 len:u32 bytes
//!          | 5 u8 (bool) | 6 secs:i64 nanos:u32 (timestamp, from 1970) | 7 len:u32 utf8 (JSON)
//! ```
//!
//! All integers are little-endian. Segments are preallocated, so the data
//! ends where nothing but zeros follows. A record is valid only if its
//! whole length lies in the file and its CRC matches.

use crate::value::{KvBuf, SqlValue};
use crate::write::{KeyValue, Write};

/// First bytes of every segment.
pub const MAGIC: [u8; 8] = *b"BBJRNL\x00\x01";
/// Format version written in the header.
pub const VERSION: u32 = 1;
/// Bytes of the segment header.
pub const HEADER_LEN: usize = 32;
/// Bytes of a record header (len, crc, seq).
pub const RECORD_HEADER: usize = 16;
/// Largest payload accepted (a larger length is corruption).
pub const MAX_PAYLOAD: usize = 1 << 30;

/// The segment header for a segment whose first record has `first_seq`.
pub(crate) fn header(first_seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    h
}

fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn len_u32(n: usize) -> u32 {
    // Callers refuse writes whose parts exceed MAX_PAYLOAD before this.
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Bytes `op` takes in the journal, header included.
pub(crate) fn encoded_len(op: &Write) -> usize {
    RECORD_HEADER
        + 1
        + match op {
            Write::Put(kv) => 4 + kv.key().len() + kv.value().len(),
            Write::Delete(kv) => kv.key().len(),
            Write::Execute(e) => {
                8 + e.sql().len()
                    + e.params()
                        .iter()
                        .map(|p| {
                            1 + match p {
                                SqlValue::Null => 0,
                                SqlValue::Integer(_) | SqlValue::Real(_) => 8,
                                SqlValue::Text(s) | SqlValue::Json(s) => 4 + s.len(),
                                SqlValue::Blob(b) => 4 + b.len(),
                                SqlValue::Bool(_) => 1,
                                SqlValue::Timestamp(_) => 12,
                            }
                        })
                        .sum::<usize>()
            }
        }
}

/// Appends one record to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, seq: u64, op: &Write) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER]);
    match op {
        Write::Put(kv) => {
            out.push(1);
            put_u32(out, len_u32(kv.key().len()));
            out.extend_from_slice(kv.key());
            out.extend_from_slice(kv.value());
        }
        Write::Delete(kv) => {
            out.push(2);
            out.extend_from_slice(kv.key());
        }
        Write::Execute(e) => {
            out.push(3);
            put_u32(out, len_u32(e.sql().len()));
            out.extend_from_slice(e.sql().as_bytes());
            put_u32(out, len_u32(e.params().len()));
            for p in e.params() {
                match p {
                    SqlValue::Null => out.push(0),
                    SqlValue::Integer(i) => {
                        out.push(1);
                        out.extend_from_slice(&i.to_le_bytes());
                    }
                    SqlValue::Real(f) => {
                        out.push(2);
                        out.extend_from_slice(&f.to_le_bytes());
                    }
                    SqlValue::Text(s) => {
                        out.push(3);
                        put_u32(out, len_u32(s.len()));
                        out.extend_from_slice(s.as_bytes());
                    }
                    SqlValue::Blob(b) => {
                        out.push(4);
                        put_u32(out, len_u32(b.len()));
                        out.extend_from_slice(b);
                    }
                    SqlValue::Bool(b) => {
                        out.push(5);
                        out.push(u8::from(*b));
                    }
                    SqlValue::Timestamp(t) => {
                        out.push(6);
                        let (secs, nanos) = split_time(*t);
                        out.extend_from_slice(&secs.to_le_bytes());
                        out.extend_from_slice(&nanos.to_le_bytes());
                    }
                    SqlValue::Json(s) => {
                        out.push(7);
                        put_u32(out, len_u32(s.len()));
                        out.extend_from_slice(s.as_bytes());
                    }
                }
            }
        }
    }
    let len = len_u32(out.len() - start - RECORD_HEADER);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 8..start + 16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc(&out[start..start + 4], &out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn crc(len: &[u8], seq_and_payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len), seq_and_payload)
}

use crate::time::{join_time, split_time};

/// A cursor over a payload that never reads out of bounds.
struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.b.len() {
            return Err(format!("payload ends {} bytes early", n - self.b.len()));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<usize, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64(&mut self) -> Result<[u8; 8], String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(a)
    }
}

/// Decodes a record's payload (whose CRC has been checked).
pub(crate) fn decode(payload: &[u8]) -> Result<Write, String> {
    let mut c = Cursor { b: payload };
    let op = match c.u8()? {
        1 => {
            let klen = c.u32()?;
            let key = c.take(klen)?;
            Write::Put(KeyValue(KvBuf::new(key, c.b)))
        }
        2 => Write::Delete(KeyValue(KvBuf::new(c.b, &[]))),
        3 => {
            let n = c.u32()?;
            let sql = std::str::from_utf8(c.take(n)?).map_err(|e| format!("statement is not UTF-8: {e}"))?;
            let count = c.u32()?;
            // Each parameter takes at least one byte: bound the allocation.
            let mut params = Vec::with_capacity(count.min(c.b.len()));
            for _ in 0..count {
                params.push(match c.u8()? {
                    0 => SqlValue::Null,
                    1 => SqlValue::Integer(i64::from_le_bytes(c.u64()?)),
                    2 => SqlValue::Real(f64::from_le_bytes(c.u64()?)),
                    3 => {
                        let n = c.u32()?;
                        let s =
                            std::str::from_utf8(c.take(n)?).map_err(|e| format!("text parameter is not UTF-8: {e}"))?;
                        SqlValue::Text(s.to_owned())
                    }
                    4 => {
                        let n = c.u32()?;
                        SqlValue::Blob(c.take(n)?.to_vec())
                    }
                    5 => match c.u8()? {
                        0 => SqlValue::Bool(false),
                        1 => SqlValue::Bool(true),
                        b => return Err(format!("boolean parameter is {b}, not 0 or 1")),
                    },
                    6 => {
                        let secs = i64::from_le_bytes(c.u64()?);
                        let nanos = c.u32()? as u32;
                        SqlValue::Timestamp(join_time(secs, nanos)?)
                    }
                    7 => {
                        let n = c.u32()?;
                        let s =
                            std::str::from_utf8(c.take(n)?).map_err(|e| format!("JSON parameter is not UTF-8: {e}"))?;
                        SqlValue::Json(s.to_owned())
                    }
                    t => return Err(format!("unknown parameter type {t}")),
                });
            }
            if !c.b.is_empty() {
                return Err(format!("{} bytes after the last parameter", c.b.len()));
            }
            Write::execute(sql.to_owned(), params)
        }
        k => return Err(format!("unknown record kind {k}")),
    };
    Ok(op)
}

/// One valid record found in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Offset of the record in the segment file.
    pub offset: u64,
    /// Its `Seq`.
    pub seq: u64,
    /// Bytes it takes, header included.
    pub len: u64,
}

/// How the data of a segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// At `offset`: the rest of the file is zeros (or there is no rest).
    Clean {
        /// Where the next record would go.
        offset: u64,
    },
    /// A record at `offset` is damaged (short, bad length, bad CRC, seq not
    /// increasing, undecodable).
    Bad {
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
        /// A valid record starts somewhere after it: the damage is not a torn tail.
        valid_after: Option<u64>,
    },
}

/// What a segment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// `first_seq` from the header.
    pub first_seq: u64,
    /// The valid records before `end`, in order.
    pub records: Vec<Found>,
    /// How the data ends.
    pub end: End,
}

/// Reads a record header and checks the record at `off`; returns its seq and length.
fn record_at(buf: &[u8], off: usize, after_seq: u64) -> Result<(u64, usize), String> {
    let Some(h) = buf.get(off..off + RECORD_HEADER) else {
        return Err(format!("record header cut short ({} of {RECORD_HEADER} bytes)", buf.len() - off));
    };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let crc_stored = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let mut s = [0u8; 8];
    s.copy_from_slice(&h[8..16]);
    let seq = u64::from_le_bytes(s);
    if len == 0 || len > MAX_PAYLOAD {
        return Err(format!("impossible record length {len}"));
    }
    let end = off + RECORD_HEADER + len;
    let Some(payload) = buf.get(off + RECORD_HEADER..end) else {
        return Err(format!("record of {len} bytes cut short at the end of the file"));
    };
    let crc_now = crc32c::crc32c_append(crc(&h[0..4], &h[8..16]), payload);
    if crc_now != crc_stored {
        return Err(format!("checksum mismatch (stored {crc_stored:08x}, computed {crc_now:08x})"));
    }
    if seq <= after_seq {
        return Err(format!("seq {seq} does not follow seq {after_seq}"));
    }
    decode(payload)?;
    Ok((seq, RECORD_HEADER + len))
}

/// Scans a whole segment. Never panics and never reads out of bounds,
/// whatever the bytes: the journal reader's fuzz target checks this.
///
/// # Errors
///
/// When the header is missing or wrong (not a journal segment).
pub fn scan(buf: &[u8]) -> Result<Scan, String> {
    let Some(h) = buf.get(..HEADER_LEN) else {
        return Err(format!("segment header cut short ({} of {HEADER_LEN} bytes)", buf.len()));
    };
    if h[..8] != MAGIC {
        return Err("not a backburner journal segment (bad magic)".into());
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != VERSION {
        return Err(format!("journal format version {version}; this build reads version {VERSION}"));
    }
    let mut fs = [0u8; 8];
    fs.copy_from_slice(&h[16..24]);
    let first_seq = u64::from_le_bytes(fs);
    let (records, end) = scan_from(buf, HEADER_LEN as u64, first_seq.saturating_sub(1));
    Ok(Scan { first_seq, records, end })
}

/// Scans records from `start` on, each with a seq above `after_seq`.
///
/// The data ends at the last non-zero byte of `buf`: what follows is the
/// zeros a preallocated segment reads as. A record may end in zeros past
/// it, but every record starts before it, so after a bad record the search
/// for a valid one (which tells damage in the middle from a torn tail)
/// looks only at offsets before it: the work is bounded by the bytes
/// written, never by the segment's size.
pub fn scan_from(buf: &[u8], start: u64, after_seq: u64) -> (Vec<Found>, End) {
    let data_end = data_end(buf);
    let mut records = Vec::new();
    let mut off = usize::try_from(start).unwrap_or(usize::MAX).min(buf.len());
    let mut last = after_seq;
    loop {
        if off >= data_end {
            return (records, End::Clean { offset: off as u64 });
        }
        match record_at(buf, off, last) {
            Ok((seq, len)) => {
                records.push(Found { offset: off as u64, seq, len: len as u64 });
                last = seq;
                off += len;
            }
            Err(reason) => {
                let valid_after = valid_after(buf, off, data_end, last).map(|o| o as u64);
                return (records, End::Bad { offset: off as u64, reason, valid_after });
            }
        }
    }
}

/// One past the last non-zero byte of `buf` (0 when it is all zeros).
pub(crate) fn data_end(buf: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    static ZEROS: [u8; CHUNK] = [0; CHUNK];
    // Whole chunks from the end first (a comparison with zeros is a
    // `memcmp`): a preallocated segment is mostly zeros.
    let mut end = buf.len();
    while end >= CHUNK && buf[end - CHUNK..end] == ZEROS {
        end -= CHUNK;
    }
    buf[..end].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// The first offset after the bad record at `bad` where a valid record
/// starts, if any. A valid record's kind byte (the first of its payload,
/// 1 to 3) is not zero, so it starts more than `RECORD_HEADER` bytes before
/// `data_end`; offsets whose header cannot hold a record are passed over
/// before the checksum is computed.
fn valid_after(buf: &[u8], bad: usize, data_end: usize, last: u64) -> Option<usize> {
    (bad + 1..data_end.saturating_sub(RECORD_HEADER)).find(|&o| {
        probed();
        plausible(buf, o, last) && record_at(buf, o, last).is_ok()
    })
}

/// Whether a record could start at `off` (a cheap test on its header and
/// kind byte; [`record_at`] decides).
fn plausible(buf: &[u8], off: usize, after_seq: u64) -> bool {
    let Some(h) = buf.get(off..off + RECORD_HEADER + 1) else {
        return false;
    };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let mut s = [0u8; 8];
    s.copy_from_slice(&h[8..16]);
    (1..=MAX_PAYLOAD).contains(&len)
        && buf.len() - off - RECORD_HEADER >= len
        && (1..=3).contains(&h[RECORD_HEADER])
        && u64::from_le_bytes(s) > after_seq
}

/// Counts the offsets the search for a valid record after a bad one
/// probes, for the tests that bound that work.
#[cfg(test)]
fn probed() {
    tests::PROBES.with(|p| p.set(p.get() + 1));
}
#[cfg(not(test))]
fn probed() {}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        pub(super) static PROBES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    fn ops() -> Vec<Write> {
        vec![
            Write::put(b"k", b"v"),
            Write::delete(b"gone"),
            Write::put([3u8; 100], [4u8; 300]),
            Write::execute(
                "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                vec![
                    SqlValue::Null,
                    SqlValue::Integer(-7),
                    SqlValue::Real(1.5),
                    SqlValue::Text("é".into()),
                    SqlValue::Blob(vec![0, 255]),
                    SqlValue::Bool(true),
                    SqlValue::Timestamp(std::time::UNIX_EPOCH + std::time::Duration::new(1_764_628_800, 123_456_789)),
                    SqlValue::Timestamp(std::time::UNIX_EPOCH - std::time::Duration::new(86_400, 1)),
                    SqlValue::Json(r#"{"a":[1,2]}"#.into()),
                ],
            ),
        ]
    }

    fn segment() -> Vec<u8> {
        let mut buf = header(10).to_vec();
        for (i, op) in ops().iter().enumerate() {
            let before = buf.len();
            encode(&mut buf, 10 + 2 * i as u64, op);
            assert_eq!(buf.len() - before, encoded_len(op));
        }
        buf
    }

    #[test]
    fn round_trip() {
        let mut buf = segment();
        buf.extend_from_slice(&[0u8; 100]);
        let s = scan(&buf).expect("scan");
        assert_eq!(s.first_seq, 10);
        assert_eq!(s.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![10, 12, 14, 16]);
        assert!(matches!(s.end, End::Clean { .. }));
        for (r, op) in s.records.iter().zip(ops()) {
            let at = r.offset as usize + RECORD_HEADER;
            let back = decode(&buf[at..r.offset as usize + r.len as usize]).expect("decode");
            let mut a = Vec::new();
            let mut b = Vec::new();
            encode(&mut a, 1, &back);
            encode(&mut b, 1, &op);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn torn_tail_and_middle_corruption_are_told_apart() {
        let full = segment();
        let s = scan(&full).expect("scan");
        let last = *s.records.last().expect("records");
        // Cut inside the last record: torn tail, nothing valid after.
        for cut in [last.offset as usize + 3, last.offset as usize + 20, full.len() - 1] {
            let s = scan(&full[..cut]).expect("scan");
            assert_eq!(s.records.len(), 3);
            match s.end {
                End::Bad { offset, valid_after: None, .. } => assert_eq!(offset, last.offset),
                e => panic!("cut at {cut}: {e:?}"),
            }
        }
        // Flip a byte in the second record: valid records follow it.
        let mut bad = full.clone();
        let second = s.records[1];
        bad[second.offset as usize + RECORD_HEADER + 1] ^= 0x40;
        let s2 = scan(&bad).expect("scan");
        assert_eq!(s2.records.len(), 1);
        match s2.end {
            End::Bad { offset, valid_after: Some(v), ref reason } => {
                assert_eq!(offset, second.offset);
                assert_eq!(v, s.records[2].offset);
                assert!(reason.contains("checksum"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn garbage_never_panics() {
        let full = segment();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..2000 {
            let mut b = full.clone();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pos = HEADER_LEN + (x as usize % (b.len() - HEADER_LEN));
            b[pos] = (x >> 32) as u8;
            b.truncate(b.len() - (i % 40));
            let _ = scan(&b);
        }
        assert!(scan(b"short").is_err());
        assert!(scan(&[0u8; 64]).is_err());
    }

    /// `segment()` cut at `cut` and padded with zeros to 64 MiB, as a
    /// preallocated segment reads after a crash cut the last write short.
    fn preallocated(full: &[u8], cut: usize) -> Vec<u8> {
        let mut buf = full[..cut].to_vec();
        buf.resize(64 << 20, 0);
        buf
    }

    #[test]
    fn a_torn_tail_before_preallocated_zeros_is_found_without_probing_the_zeros() {
        let full = segment();
        let s = scan(&full).expect("scan");
        let last = *s.records.last().expect("records");
        for cut in [last.offset as usize + 3, last.offset as usize + RECORD_HEADER + 3, full.len() - 1] {
            let buf = preallocated(&full, cut);
            PROBES.with(|p| p.set(0));
            let s = scan(&buf).expect("scan");
            let probes = PROBES.with(|p| p.get());
            assert_eq!(s.records.len(), 3);
            match s.end {
                End::Bad { offset, valid_after: None, .. } => assert_eq!(offset, last.offset),
                e => panic!("cut at {cut}: {e:?}"),
            }
            // Only the torn record's own bytes can start a valid record.
            let torn = (cut - last.offset as usize) as u64;
            assert!(probes <= torn, "cut at {cut}: {probes} offsets probed, the torn record has {torn} bytes");
        }
        // Damage in the middle is still told apart, zeros or not.
        let mut bad = preallocated(&full, full.len());
        let second = s.records[1];
        bad[second.offset as usize + RECORD_HEADER + 1] ^= 0x40;
        match scan(&bad).expect("scan").end {
            End::Bad { offset, valid_after: Some(v), .. } => {
                assert_eq!(offset, second.offset);
                assert_eq!(v, s.records[2].offset);
            }
            e => panic!("{e:?}"),
        }
        // A last record that ends in zero bytes ends the data after it, not at its last non-zero byte.
        let mut buf = header(1).to_vec();
        encode(&mut buf, 1, &Write::put(b"k", [7, 0, 0, 0]));
        let end = buf.len() as u64;
        buf.resize(64 << 20, 0);
        let s = scan(&buf).expect("scan");
        assert_eq!(s.records.len(), 1);
        assert_eq!(s.end, End::Clean { offset: end });
    }

    /// The scan as it was before the search was bounded: every offset after
    /// a bad record is tried, up to the end of the buffer.
    fn exhaustive(buf: &[u8], after_seq: u64) -> (Vec<Found>, End) {
        let mut records = Vec::new();
        let mut off = HEADER_LEN;
        let mut last = after_seq;
        loop {
            if buf[off..].iter().all(|&b| b == 0) {
                return (records, End::Clean { offset: off as u64 });
            }
            match record_at(buf, off, last) {
                Ok((seq, len)) => {
                    records.push(Found { offset: off as u64, seq, len: len as u64 });
                    last = seq;
                    off += len;
                }
                Err(reason) => {
                    let valid_after = (off + 1..buf.len().saturating_sub(RECORD_HEADER - 1))
                        .find(|&o| record_at(buf, o, last).is_ok())
                        .map(|o| o as u64);
                    return (records, End::Bad { offset: off as u64, reason, valid_after });
                }
            }
        }
    }

    #[test]
    fn the_bounded_search_finds_what_the_exhaustive_one_finds() {
        // Short records last, ending in zeros: a record whose kind byte is
        // its last non-zero byte is the edge of the bounded search.
        let mut full = segment();
        encode(&mut full, 30, &Write::put(b"z", [0, 0]));
        encode(&mut full, 31, &Write::delete(b""));
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..3000 {
            let mut b = full.clone();
            for _ in 0..1 + i % 3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let pos = HEADER_LEN + (x as usize % (b.len() - HEADER_LEN));
                // Zeros too: a torn write leaves zeros where it stopped.
                b[pos] = if i % 4 == 0 { 0 } else { (x >> 32) as u8 };
            }
            b.truncate(b.len() - (i % 40));
            b.resize(b.len() + (i % 5) * 37, 0);
            let s = scan(&b).expect("header intact");
            assert_eq!((s.records, s.end), exhaustive(&b, 9), "mutation {i}");
        }
    }
}
