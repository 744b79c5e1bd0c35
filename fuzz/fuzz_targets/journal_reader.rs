//! The journal reader on arbitrary bytes: it must never panic nor read out
//! of bounds, and what it returns must be consistent (records inside the
//! buffer, in order, with increasing seqs; the end after the last record).
#![no_main]

use backburner::journal::{scan, scan_from, End, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fn check(data: &[u8], records: &[backburner::journal::Found], end: &End, start: u64) {
    let mut at = start;
    let mut last_seq = None;
    for r in records {
        assert!(r.offset >= at, "records overlap");
        assert!(r.offset + r.len <= data.len() as u64, "record past the end");
        if let Some(s) = last_seq {
            assert!(r.seq > s, "seqs not increasing");
        }
        last_seq = Some(r.seq);
        at = r.offset + r.len;
    }
    match end {
        End::Clean { offset } => assert!(*offset >= at && *offset <= data.len() as u64),
        End::Bad { offset, valid_after, .. } => {
            assert!(*offset >= at && *offset < data.len() as u64);
            if let Some(v) = valid_after {
                assert!(v > offset && *v < data.len() as u64);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = scan(data) {
        check(data, &s.records, &s.end, HEADER_LEN as u64);
    }
    // Records without a header too, from an offset the input chooses.
    if let Some((&first, rest)) = data.split_first() {
        let start = u64::from(first) % (rest.len() as u64 + 1);
        let (records, end) = scan_from(rest, start, 0);
        check(rest, &records, &end, start);
    }
});
