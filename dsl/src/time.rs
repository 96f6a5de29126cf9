//! Timestamps (ms since the Unix epoch) and durations (ms) as text.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};

/// The earliest timestamp (ms): `-262143-01-01T00:00:00.000Z`, chrono's first. Every
/// timestamp from this to `MAX_TIMESTAMP` is written and read back exactly (years outside
/// 0000-9999 in ISO 8601's expanded form, `+10000-01-01T00:00:00.000Z`). A value outside the
/// range is rejected when read (the record goes to `.errors`) and is null when computed, so
/// that time arithmetic (windows of at most `MAX_WINDOW`) cannot overflow.
pub const MIN_TIMESTAMP: i64 = -8_334_601_228_800_000;
/// The latest timestamp (ms): `+262142-12-31T23:59:59.999Z`, chrono's last.
pub const MAX_TIMESTAMP: i64 = 8_210_266_876_799_999;
/// The longest window size, slide or session gap: 10 000 years of 365.25 days.
pub const MAX_WINDOW: i64 = 10_000 * 36_525 * 864_000;

/// `ms` if it is a timestamp Eddy can work with (see `MIN_TIMESTAMP`).
pub fn checked_timestamp(ms: i64) -> Option<i64> {
    (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&ms).then_some(ms)
}

/// Parses RFC 3339 text (`2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.250+02:00`) to epoch ms.
/// A date alone (`2024-05-01`) and a date-time without an offset are read as UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    // A `Z` after a date-time that RFC 3339 cannot hold: an expanded year (`+10000-...`).
    let naive = text.strip_suffix('Z').filter(|t| t.starts_with(['+', '-'])).unwrap_or(text);
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
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
    let in_day = ms.rem_euclid(86_400_000) as u32;
    let (h, min, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    if !(MIN..MAX).contains(&ms) {
        // Years beyond four digits or before year 0: ISO 8601's expanded form, signed, which
        // `parse_timestamp` reads back.
        use std::fmt::Write;
        let (y, m, d) = civil_from_days(days);
        let _ = write!(out, "{y:+05}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z");
        return;
    }
    // The common case, on the hot path of every sink: fill a fixed template, with the date of
    // the day before (timestamps written one after another mostly share their day).
    let mut b = *b"0000-00-00T00:00:00.000Z";
    b[..10].copy_from_slice(&LAST_DAY.with(|last| match last.get() {
        (day, date) if day == days => date,
        _ => {
            let (y, m, d) = civil_from_days(days);
            let mut date = *b"0000-00-00";
            date[..2].copy_from_slice(two_digits((y / 100) as u32));
            date[2..4].copy_from_slice(two_digits((y % 100) as u32));
            date[5..7].copy_from_slice(two_digits(m as u32));
            date[8..].copy_from_slice(two_digits(d as u32));
            last.set((days, date));
            date
        }
    }));
    b[11..13].copy_from_slice(two_digits(h));
    b[14..16].copy_from_slice(two_digits(min));
    b[17..19].copy_from_slice(two_digits(s));
    b[20] = b'0' + (milli / 100) as u8;
    b[21..23].copy_from_slice(two_digits(milli % 100));
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

thread_local! {
    /// The day `write_rfc3339` wrote last, and its `YYYY-MM-DD`.
    static LAST_DAY: std::cell::Cell<(i64, [u8; 10])> = const { std::cell::Cell::new((i64::MIN, [0; 10])) };
}

/// The two digits of `n` (below 100).
fn two_digits(n: u32) -> &'static [u8] {
    const DIGITS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839\
                                 40414243444546474849505152535455565758596061626364656667686970717273747576777879\
                                 8081828384858687888990919293949596979899";
    let i = 2 * (n as usize % 100);
    &DIGITS[i..i + 2]
}

/// Formats epoch ms with a strftime-like pattern (chrono's), in UTC.
pub fn format_timestamp(ms: i64, pattern: &str) -> Option<String> {
    use std::fmt::Write;
    let t = DateTime::from_timestamp_millis(ms)?;
    let mut s = String::new();
    write!(s, "{}", t.format(pattern)).ok()?;
    Some(s)
}

/// Formats epoch ms with a strftime-like pattern in the IANA time zone `zone`
/// (`"Europe/Paris"`); `None` for an unknown zone or a bad pattern.
pub fn format_timestamp_in(ms: i64, pattern: &str, zone: &str) -> Option<String> {
    use std::fmt::Write;
    let zone: chrono_tz::Tz = zone.parse().ok()?;
    let t = DateTime::from_timestamp_millis(ms)?.with_timezone(&zone);
    let mut s = String::new();
    write!(s, "{}", t.format(pattern)).ok()?;
    Some(s)
}

/// Whether a strftime pattern has a specifier chrono does not know.
pub fn bad_pattern(pattern: &str) -> bool {
    chrono::format::StrftimeItems::new(pattern).any(|item| item == chrono::format::Item::Error)
}

/// The IANA time zone names, for suggestions.
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|z| z.name())
}

/// Whether `zone` is an IANA time zone name.
pub fn known_zone(zone: &str) -> bool {
    zone.parse::<chrono_tz::Tz>().is_ok()
}

/// Parses text with a strftime pattern (`"%d/%b/%Y:%H:%M:%S %z"`) to epoch ms: the whole text
/// must match; a `%z` offset is applied, and without one the time is UTC; a pattern of a date
/// alone gives its midnight. `None` when it does not match.
pub fn parse_with(text: &str, pattern: &str) -> Option<i64> {
    let ms = if pattern.contains('z') && DateTime::parse_from_str(text, pattern).is_ok() {
        DateTime::parse_from_str(text, pattern).ok()?.timestamp_millis()
    } else if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
        t.and_utc().timestamp_millis()
    } else {
        NaiveDate::parse_from_str(text, pattern).ok()?.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis()
    };
    checked_timestamp(ms)
}

/// A part of a timestamp, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    /// Whole seconds, 0 to 59.
    Second,
    /// 1 for Monday to 7 for Sunday.
    Weekday,
}

/// Part `part` of the timestamp `ms`.
pub fn part(ms: i64, part: Part) -> Option<i64> {
    let t = DateTime::from_timestamp_millis(ms)?;
    Some(match part {
        Part::Year => i64::from(t.year()),
        Part::Month => i64::from(t.month()),
        Part::Day => i64::from(t.day()),
        Part::Hour => i64::from(t.hour()),
        Part::Minute => i64::from(t.minute()),
        Part::Second => i64::from(t.second()),
        Part::Weekday => i64::from(t.weekday().number_from_monday()),
    })
}

/// The units `date_trunc` rounds down to.
pub const TRUNC_UNITS: &[&str] = &["second", "minute", "hour", "day", "week", "month", "year"];

/// `ms` rounded down to the start of its `unit` (one of `TRUNC_UNITS`), in UTC; weeks start on
/// Monday.
pub fn truncate(ms: i64, unit: &str) -> Option<i64> {
    const DAY: i64 = 86_400_000;
    let fixed = |size: i64| Some(ms - ms.rem_euclid(size));
    match unit {
        "second" => fixed(1000),
        "minute" => fixed(60_000),
        "hour" => fixed(3_600_000),
        "day" => fixed(DAY),
        // 1970-01-01 was a Thursday: Monday is 3 days before.
        "week" => checked_timestamp(ms - (ms + 3 * DAY).rem_euclid(7 * DAY)),
        "month" | "year" => {
            let t = DateTime::from_timestamp_millis(ms)?;
            let month = if unit == "month" { t.month() } else { 1 };
            let start = NaiveDate::from_ymd_opt(t.year(), month, 1)?.and_hms_opt(0, 0, 0)?;
            checked_timestamp(start.and_utc().timestamp_millis())
        }
        _ => None,
    }
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
        // The day's date is kept from one call to the next: a new day gets its own.
        for (ms, text) in [
            (1_700_000_000_001, "2023-11-14T22:13:20.001Z"),
            (1_700_006_400_000, "2023-11-15T00:00:00.000Z"),
            (951_868_799_999, "2000-02-29T23:59:59.999Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ] {
            s.clear();
            write_rfc3339(ms, &mut s);
            assert_eq!(s, text);
        }
        assert_eq!(parse_timestamp("2024-05-01T14:00:00+02:00"), parse_timestamp("2024-05-01T12:00:00Z"));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
    }

    #[test]
    fn timestamps_outside_years_0000_to_9999_round_trip() {
        for (ms, text) in [
            (253_402_300_800_000, "+10000-01-01T00:00:00.000Z"),
            (-62_167_219_200_001, "-0001-12-31T23:59:59.999Z"),
            (MIN_TIMESTAMP, "-262143-01-01T00:00:00.000Z"),
            (MAX_TIMESTAMP, "+262142-12-31T23:59:59.999Z"),
        ] {
            let mut s = String::new();
            write_rfc3339(ms, &mut s);
            assert_eq!(s, text);
            assert_eq!(parse_timestamp(&s), Some(ms), "{s}");
        }
        assert_eq!(checked_timestamp(MAX_TIMESTAMP + 1), None);
        assert_eq!(checked_timestamp(i64::MIN), None);
        // Window arithmetic on the range cannot overflow.
        assert!(MIN_TIMESTAMP.checked_sub(2 * MAX_WINDOW).is_some());
        assert!(MAX_TIMESTAMP.checked_add(2 * MAX_WINDOW).is_some());
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
    }

    #[test]
    fn parts_and_truncation_in_utc() {
        // 2024-05-01T12:34:56.789Z, a Wednesday.
        let t = parse_timestamp("2024-05-01T12:34:56.789Z").unwrap_or_default();
        let parts = [Part::Year, Part::Month, Part::Day, Part::Hour, Part::Minute, Part::Second, Part::Weekday];
        assert_eq!(parts.map(|p| part(t, p)), [2024, 5, 1, 12, 34, 56, 3].map(Some));
        let trunc = |unit: &str| {
            let mut s = String::new();
            write_rfc3339(truncate(t, unit).unwrap_or_default(), &mut s);
            s
        };
        assert_eq!(trunc("second"), "2024-05-01T12:34:56.000Z");
        assert_eq!(trunc("minute"), "2024-05-01T12:34:00.000Z");
        assert_eq!(trunc("hour"), "2024-05-01T12:00:00.000Z");
        assert_eq!(trunc("day"), "2024-05-01T00:00:00.000Z");
        assert_eq!(trunc("week"), "2024-04-29T00:00:00.000Z");
        assert_eq!(trunc("month"), "2024-05-01T00:00:00.000Z");
        assert_eq!(trunc("year"), "2024-01-01T00:00:00.000Z");
        assert_eq!(truncate(t, "fortnight"), None);
        // Before 1970 too: 1969-12-31T23:59:59.999Z was a Wednesday.
        assert_eq!(truncate(-1, "week"), parse_timestamp("1969-12-29T00:00:00Z"));
        assert_eq!(part(-1, Part::Weekday), Some(3));
    }

    #[test]
    fn parsing_and_formatting_with_patterns_and_zones() {
        let apache = parse_with("01/May/2024:14:00:00 +0200", "%d/%b/%Y:%H:%M:%S %z");
        assert_eq!(apache, parse_timestamp("2024-05-01T12:00:00Z"));
        assert_eq!(parse_with("2024-05-01 12:00", "%Y-%m-%d %H:%M"), parse_timestamp("2024-05-01T12:00:00Z"));
        assert_eq!(parse_with("2024-05-01", "%Y-%m-%d"), parse_timestamp("2024-05-01T00:00:00Z"));
        // The whole text must match.
        assert_eq!(parse_with("2024-05-01 trailing", "%Y-%m-%d"), None);
        assert_eq!(parse_with("yesterday", "%Y-%m-%d"), None);
        let t = parse_timestamp("2024-01-15T12:00:00Z").unwrap_or_default();
        assert_eq!(format_timestamp_in(t, "%H:%M %Z", "Europe/Paris").as_deref(), Some("13:00 CET"));
        assert_eq!(format_timestamp_in(t, "%H:%M", "America/New_York").as_deref(), Some("07:00"));
        assert_eq!(format_timestamp_in(t, "%H:%M", "Mars/Olympus"), None);
        assert!(known_zone("Asia/Tokyo") && !known_zone("Europe/Pariss"));
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
