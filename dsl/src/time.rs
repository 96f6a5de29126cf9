//! Timestamps (ms since the Unix epoch) and durations (ms) as text.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Parses RFC 3339 text (`2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.250+02:00`) to epoch ms.
/// A date alone (`2024-05-01`) and a date-time without an offset are read as UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Writes epoch ms as RFC 3339 in UTC with milliseconds: `2023-11-14T22:13:20.000Z`.
pub fn write_rfc3339(ms: i64, out: &mut String) {
    const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_800_000; // 10000-01-01T00:00:00Z
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    if !(MIN..MAX).contains(&ms) {
        // Years beyond four digits (or before year 0): the general, padded form.
        use std::fmt::Write;
        let _ = write!(out, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z");
        return;
    }
    // The common case, on the hot path of every sink: fill a fixed template.
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for k in (at..at + width).rev() {
            b[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, h);
    put(14, 2, min);
    put(17, 2, s);
    put(20, 3, milli);
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

/// Formats epoch ms with a strftime-like pattern (chrono's), in UTC.
pub fn format_timestamp(ms: i64, pattern: &str) -> Option<String> {
    use std::fmt::Write;
    let t = DateTime::from_timestamp_millis(ms)?;
    let mut s = String::new();
    write!(s, "{}", t.format(pattern)).ok()?;
    Some(s)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's method).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Writes a duration in the language's literal form: `10s`, `250ms`, `1d`, ...
pub fn write_duration(ms: i64, out: &mut String) {
    use std::fmt::Write;
    let units = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
    for (size, unit) in units {
        if ms != 0 && ms % size == 0 {
            let _ = write!(out, "{}{unit}", ms / size);
            return;
        }
    }
    let _ = write!(out, "{ms}ms");
}

/// Parses a duration literal (`250ms 10s 5m 2h 1d`) to milliseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0, 1_700_000_000_000, 1_700_000_000_123, -1, 951_782_400_000, 253_402_300_799_999] {
            let mut s = String::new();
            write_rfc3339(ms, &mut s);
            assert_eq!(parse_timestamp(&s), Some(ms), "{s}");
        }
        let mut s = String::new();
        write_rfc3339(1_700_000_000_000, &mut s);
        assert_eq!(s, "2023-11-14T22:13:20.000Z");
        assert_eq!(parse_timestamp("2024-05-01T14:00:00+02:00"), parse_timestamp("2024-05-01T12:00:00Z"));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(250));
        assert_eq!(parse_duration("5m"), Some(300_000));
        assert_eq!(parse_duration("5x"), None);
        let mut s = String::new();
        write_duration(7_200_000, &mut s);
        assert_eq!(s, "2h");
    }
}
