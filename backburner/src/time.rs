//! Times as text: RFC 3339 in UTC with microseconds, as the logger writes
//! them and the SQLite sink stores timestamp parameters.

use std::fmt::Write as _;
use std::time::SystemTime;

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds,
/// truncated). Times before 1970 are written as they are (`1969-12-31T…`);
/// years outside 0000–9999 come out with more digits or a sign, which is
/// not RFC 3339 (SQLite's date functions read years 0000–9999 only).
pub(crate) fn rfc3339_micros(out: &mut String, t: SystemTime) {
    let (secs, nanos) = split_time(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let micros = nanos / 1000;
    let (y, m, dd) = civil_from_days(days);
    let _ =
        write!(out, "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{micros:06}Z", rem / 3600, (rem % 3600) / 60, rem % 60);
}

/// A time as whole seconds from 1970 (negative before) and nanoseconds.
pub(crate) fn split_time(t: std::time::SystemTime) -> (i64, u32) {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos());
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    }
}

/// The inverse of [`split_time`].
pub(crate) fn join_time(secs: i64, nanos: u32) -> Result<std::time::SystemTime, String> {
    use std::time::{Duration, UNIX_EPOCH};
    if nanos >= 1_000_000_000 {
        return Err(format!("timestamp nanoseconds {nanos} out of range"));
    }
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::new(0, nanos)))
    };
    t.ok_or_else(|| format!("timestamp {secs}.{nanos:09} s out of range"))
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) in the proleptic Gregorian calendar to days since
/// 1970-01-01: the inverse of [`civil_from_days`] (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads `YYYY-MM-DD[T| ]HH:MM:SS[.fraction][Z|±HH:MM]`: RFC 3339 (as
/// [`rfc3339_micros`] writes it) and SQLite's `datetime()` text, which has
/// a space and no offset (it is UTC). `None` for anything else (a leap
/// second included: `SystemTime` has none).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && matches!(b.get(10), Some(b'T' | b't' | b' ')) && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d == 0 || d > month_days[m as usize - 1] || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            // Digits past the ninth (below a nanosecond) are dropped.
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        nanos *= 10u32.pow(9u32.saturating_sub((i - start) as u32));
    }
    let offset = match b.get(i..)? {
        b"" | b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), m, d);
    let secs = days * 86_400 + i64::from(hh * 3600 + mm * 60 + ss) - offset;
    join_time(secs, nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::{parse_rfc3339, rfc3339_micros};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps() {
        let mut s = String::new();
        rfc3339_micros(&mut s, UNIX_EPOCH);
        assert_eq!(s, "1970-01-01T00:00:00.000000Z");
        s.clear();
        // 2024-02-29T23:59:59.999999Z (a leap day)
        rfc3339_micros(&mut s, UNIX_EPOCH + Duration::new(1_709_251_199, 999_999_000));
        assert_eq!(s, "2024-02-29T23:59:59.999999Z");
        s.clear();
        rfc3339_micros(&mut s, UNIX_EPOCH + Duration::from_secs(4_102_444_800));
        assert_eq!(s, "2100-01-01T00:00:00.000000Z");
        s.clear();
        // Before 1970: the day before the epoch, one microsecond before midnight.
        rfc3339_micros(&mut s, UNIX_EPOCH - Duration::from_micros(1));
        assert_eq!(s, "1969-12-31T23:59:59.999999Z");
        s.clear();
        rfc3339_micros(&mut s, UNIX_EPOCH - Duration::from_secs(86_400 * 365));
        assert_eq!(s, "1969-01-01T00:00:00.000000Z");
    }

    #[test]
    fn timestamps_read_back() {
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_709_251_199, 999_999_000),
            UNIX_EPOCH + Duration::from_secs(4_102_444_800),
            UNIX_EPOCH - Duration::from_micros(1),
            UNIX_EPOCH - Duration::from_secs(86_400 * 365 * 300),
        ] {
            let mut s = String::new();
            rfc3339_micros(&mut s, t);
            assert_eq!(parse_rfc3339(&s), Some(t), "{s}");
        }
        let at = |secs: u64, nanos: u32| Some(UNIX_EPOCH + Duration::new(secs, nanos));
        assert_eq!(parse_rfc3339("2025-12-01 22:40:00"), at(1_764_628_800, 0), "SQLite's datetime()");
        assert_eq!(parse_rfc3339("2025-12-01T22:40:00.5"), at(1_764_628_800, 500_000_000));
        assert_eq!(parse_rfc3339("2025-12-01T22:40:00.123456789123Z"), at(1_764_628_800, 123_456_789));
        assert_eq!(parse_rfc3339("2025-12-02T00:40:00+02:00"), at(1_764_628_800, 0));
        assert_eq!(parse_rfc3339("2025-12-01T20:10:00-02:30"), at(1_764_628_800, 0));
        for bad in [
            "",
            "2025-12-01",
            "2025-12-01T22:40",
            "2025-13-01T22:40:00Z",
            "2025-02-29T00:00:00Z",
            "2025-12-01T24:00:00Z",
            "2025-12-01T23:59:60Z",
            "2025-12-01T22:40:00.Z",
            "2025-12-01T22:40:00+0200",
            "2025-12-01T22:40:00 UTC",
            "+2025-12-01T22:40:00Z",
            "2025-12-01T22:40:00Zx",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some(), "a leap day");
    }
}
