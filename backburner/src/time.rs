//! Times as text: RFC 3339 in UTC with microseconds, as the logger writes
//! them and the SQLite sink stores timestamp parameters.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn rfc3339_micros(out: &mut String, t: SystemTime) {
    // Before 1970: written as 1970-01-01T00:00:00Z (callers clamp).
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, dd) = civil_from_days(days);
    let _ =
        write!(out, "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{micros:06}Z", rem / 3600, (rem % 3600) / 60, rem % 60);
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
    }
}
