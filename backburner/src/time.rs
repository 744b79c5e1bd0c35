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

#[cfg(test)]
mod tests {
    use super::rfc3339_micros;
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
}
