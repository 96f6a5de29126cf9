//! Record formats: schema-driven decoders (line → row) and encoders (row → line).
//!
//! A [`Decoder`] turns one line of input into a positional [`Row`] following its schema; it
//! is built once per worker and reused for every line. The fields the pipeline never reads
//! are checked but not materialised: they stay `Value::Null` in the row. An [`Encoder`]
//! writes rows as JSON lines, CSV or plain text.
//!
//! Rules shared by all formats:
//! - A line is given without its terminator; a trailing `'\r'` is ignored. Invalid UTF-8 is
//!   an error.
//! - A record must match its declared schema whether or not the pipeline reads a field; a
//!   record that does not is an error (it goes to the error stream). In JSON and CSV:
//!   - a non-nullable field that is missing (JSON: key absent; CSV: column absent from the
//!     header) or null (JSON `null`; CSV: an empty cell, except for `string` fields, where an
//!     empty cell is the empty string) is an error, read or not; a nullable one is null;
//!   - a *read* field's value is converted to its type as listed below, and any failure is
//!     an error;
//!   - an *unread* field's value is only checked, cheaply, without building a value or
//!     allocating: in JSON its kind must fit the type (`int`: an integer in the `i64`
//!     range, no fraction or exponent; `float`: any number or `NaN`/`Infinity`/`-Infinity`
//!     text; `string`: a string; `bool`: `true`/`false`; `timestamp` and `duration`: an
//!     integer or a string; `list<T>`: an array whose elements are checked the same way;
//!     `T?`: also null); in CSV `int`, `float` and `bool` cells must parse as for read
//!     fields. The *text* of an unread timestamp or duration (JSON string or CSV cell), and
//!     of unread CSV `string` and `list` cells, is NOT validated: `"garbage"` in an unread
//!     timestamp field is accepted.
//! - The syntax of the whole line (JSON, CSV quoting) is always checked; JSON keys and CSV
//!   columns outside the schema are ignored (syntax only). The text format has its own
//!   schema, `{ line: string }`, which every line matches.
//! - Type mapping (target type from the schema): `int` from an integer (a number with a
//!   fraction or an exponent, even `5.0`, is rejected); `float` from any number (and the
//!   texts `NaN`, `Infinity`, `-Infinity`, which the encoders write for non-finite floats);
//!   `string`, `bool`; `timestamp` from integer epoch milliseconds or RFC 3339 text;
//!   `duration` from integer milliseconds or a duration literal (`10s`, `-250ms`);
//!   `list<T>` from a JSON array (in CSV: JSON text in the cell); `T?` also from null.
//! - On error the row's contents are unspecified.

mod csv;
mod json;
mod text;

use eddy_dsl::time::checked_timestamp;
use eddy_dsl::{Row, Schema, Type, Value};

/// How records are laid out in lines of text: the plan's type, re-exported.
/// `Csv { delimiter }` must be an ASCII byte; CSV is read one record per line (quoted fields
/// spanning lines are not supported).
pub use eddy_dsl::plan::Format;

/// A schema field as the decoders need it.
#[derive(Clone, Debug)]
struct FieldInfo {
    name: Box<str>,
    ty: Type,
    used: bool,
}

fn field_infos(schema: &Schema, used: &[bool]) -> Vec<FieldInfo> {
    schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| FieldInfo {
            name: f.name.as_str().into(),
            ty: f.ty.clone(),
            // A `used` slice shorter than the schema counts the rest as used.
            used: used.get(i).copied().unwrap_or(true),
        })
        .collect()
}

/// Resets `row` to `n` nulls, keeping its allocation. (Each null is made, not cloned:
/// `resize` would clone through `Value::clone`'s match, several times the cost.)
fn reset_row(row: &mut Row, n: usize) {
    row.clear();
    row.extend((0..n).map(|_| Value::Null));
}

/// Validates UTF-8 and drops one trailing `'\r'`.
fn line_str(line: &[u8]) -> Result<&str, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    std::str::from_utf8(line).map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))
}

/// Decodes lines of one format into rows of one schema. One per worker, reused for every line.
pub struct Decoder {
    inner: Inner,
}

enum Inner {
    Json(json::JsonDecoder),
    Csv(csv::CsvDecoder),
    Text(text::TextDecoder),
}

impl Decoder {
    /// `used[i]` says whether field i of `schema` is read by the pipeline; unused fields are
    /// checked while parsing (presence, and their kind: see the module doc) but not
    /// materialised, and left as `Value::Null` in the row. Entries missing from `used` count
    /// as used.
    pub fn new(format: &Format, schema: &Schema, used: &[bool]) -> Decoder {
        let fields = field_infos(schema, used);
        let inner = match format {
            Format::Jsonl => Inner::Json(json::JsonDecoder::new(fields)),
            Format::Csv { delimiter, .. } => Inner::Csv(csv::CsvDecoder::new(fields, *delimiter)),
            Format::Text => Inner::Text(text::TextDecoder::new(fields)),
        };
        Decoder { inner }
    }

    /// For CSV with a header: the header line, mapping columns to fields by name. Columns not
    /// in the schema are ignored; a non-nullable field missing from the header is an error,
    /// whether the pipeline reads it or not. Until it is called, CSV columns are
    /// the schema's fields in order. For other formats it does nothing.
    pub fn set_header(&mut self, line: &[u8]) -> Result<(), String> {
        match &mut self.inner {
            Inner::Csv(d) => d.set_header(line),
            Inner::Json(_) | Inner::Text(_) => Ok(()),
        }
    }

    /// Decodes one line (without its terminator; a trailing `'\r'` is tolerated) into `row`,
    /// which gets one value per schema field. Errors are short messages such as
    /// `field 'price': expected int, found string "abc"` or `missing field 'auction'`.
    pub fn decode(&mut self, line: &[u8], row: &mut Row) -> Result<(), String> {
        match &mut self.inner {
            Inner::Json(d) => d.decode(line, row),
            Inner::Csv(d) => d.decode(line, row),
            Inner::Text(d) => d.decode(line, row),
        }
    }
}

/// Encodes rows of one schema as lines of one format.
pub struct Encoder {
    inner: EncInner,
}

enum EncInner {
    Json(json::JsonEncoder),
    Csv(csv::CsvEncoder),
    Text,
}

impl Encoder {
    pub fn new(format: &Format, schema: &Schema) -> Encoder {
        let inner = match format {
            Format::Jsonl => EncInner::Json(json::JsonEncoder::new(schema)),
            Format::Csv { header, delimiter } => EncInner::Csv(csv::CsvEncoder::new(schema, *header, *delimiter)),
            Format::Text => EncInner::Text,
        };
        Encoder { inner }
    }

    /// The header line for CSV with a header (ending with `'\n'`); `None` otherwise.
    pub fn header(&self) -> Option<String> {
        match &self.inner {
            EncInner::Csv(e) => e.header(),
            EncInner::Json(_) | EncInner::Text => None,
        }
    }

    /// Appends one record and `'\n'` to `out`.
    ///
    /// JSON: `{"a":1,"b":"x"}` in schema order, nulls as `null`, timestamps as RFC 3339 text.
    /// CSV: cells as `Value::write_text` shows them, quoted only when they hold the delimiter,
    /// a quote, `\r` or `\n`; null is an empty cell and the empty string is `""`, so both
    /// read back as they were. Text: the fields' text joined by `,`.
    pub fn encode(&self, row: &[Value], out: &mut String) {
        match &self.inner {
            EncInner::Json(e) => e.encode(row, out),
            EncInner::Csv(e) => e.encode(row, out),
            EncInner::Text => text::encode(row, out),
        }
    }
}

/// Parses timestamp text: RFC 3339 (a fast path for the common
/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`, then `eddy_dsl::time::parse_timestamp`) or an
/// integer of epoch milliseconds.
fn parse_timestamp_text(text: &str) -> Option<i64> {
    if let Some(ms) = fast_rfc3339(text.as_bytes()) {
        return Some(ms);
    }
    let t = text.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return checked_timestamp(ms);
    }
    eddy_dsl::time::parse_timestamp(t)
}

/// The timestamps Eddy reads, for error messages (see `eddy_dsl::time::MIN_TIMESTAMP`).
pub const TIMESTAMP_RANGE: &str = "timestamps are years -262143 to 262142";

/// Parses a duration literal (`10s`, `-250ms`) or an integer of milliseconds.
fn parse_duration_text(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return Some(ms);
    }
    match t.strip_prefix('-') {
        Some(rest) => eddy_dsl::time::parse_duration(rest).map(|d| -d),
        None => eddy_dsl::time::parse_duration(t),
    }
}

/// The common RFC 3339 shape without chrono: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of
/// 1 to 9 digits (truncated to milliseconds, as chrono does), then `Z` or `±HH:MM`. Anything
/// else (including leap seconds) returns `None` and takes the general path.
fn fast_rfc3339(s: &[u8]) -> Option<i64> {
    rfc3339_time(s, rfc3339_date(s)?)
}

fn digits(s: &[u8]) -> Option<i64> {
    let mut n = 0i64;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some(n)
}

/// The day (since 1970-01-01) of the `YYYY-MM-DD` that starts `s`, checked, if `s` is long
/// enough to be RFC 3339 text.
fn rfc3339_date(s: &[u8]) -> Option<i64> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    Some(days_from_civil(y, mo, d))
}

/// The rest of `fast_rfc3339` after the date (`s[10..]`), given the date's day.
fn rfc3339_time(s: &[u8], days: i64) -> Option<i64> {
    if s.len() < 20 || s[10] != b'T' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (digits(&s[11..13])?, digits(&s[14..16])?, digits(&s[17..19])?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    // The common form, as Eddy writes it: milliseconds and `Z`.
    if let [b'.', ms @ .., b'Z'] = rest {
        if let (3, Some(ms)) = (ms.len(), digits(ms)) {
            return Some(secs * 1000 + ms);
        }
    }
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        let mut scale = 100;
        for &b in &frac[..n.min(3)] {
            millis += i64::from(b - b'0') * scale;
            scale /= 10;
        }
        rest = &frac[n..];
    }
    let offset_min = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), oh @ .., b':', m1, m2] if oh.len() == 2 => {
            let (oh, om) = (digits(oh)?, digits(&[*m1, *m2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    Some((secs - offset_min * 60) * 1000 + millis)
}

/// `fast_rfc3339` remembering the last date: consecutive events mostly share their day.
#[derive(Default)]
struct DayCache {
    /// The last `YYYY-MM-DD` that was a valid date, and its day.
    date: Option<([u8; 10], i64)>,
}

impl DayCache {
    #[inline]
    fn rfc3339(&mut self, s: &[u8]) -> Option<i64> {
        let prefix = s.get(..10)?;
        let days = match self.date {
            Some((date, days)) if date == prefix => days,
            _ => {
                let days = rfc3339_date(s)?;
                let mut date = [0u8; 10];
                date.copy_from_slice(prefix);
                self.date = Some((date, days));
                days
            }
        };
        rfc3339_time(s, days)
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's method).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Appends an integer in decimal, as `{}` formats it, without the formatting machinery.
fn push_int(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// `eddy_dsl::value::write_json_string`, with a fast path for strings that need no escape.
fn push_json_string(s: &str, out: &mut String) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        eddy_dsl::value::write_json_string(s, out);
    }
}

/// `Value::write_json`, with fast paths for integers and strings (same output).
fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Int(i) | Value::Duration(i) => push_int(out, *i),
        Value::Str(s) => push_json_string(s, out),
        other => other.write_json(out),
    }
}

/// `Value::write_text`, with a fast path for integers (same output).
fn write_text(v: &Value, out: &mut String) {
    match v {
        Value::Int(i) => push_int(out, *i),
        other => other.write_text(out),
    }
}

/// A short description of a text value for error messages: quoted, at most 40 characters.
fn quote_snippet(s: &str) -> String {
    let mut out = String::new();
    match s.char_indices().nth(40) {
        Some((cut, _)) => {
            eddy_dsl::value::write_json_string(&s[..cut], &mut out);
            out.insert_str(out.len() - 1, "...");
        }
        None => eddy_dsl::value::write_json_string(s, &mut out),
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eddy_dsl::Field;

    /// CSV with a header line and `,` as the delimiter.
    pub(super) const CSV: Format = Format::Csv { header: true, delimiter: b',' };

    pub(super) fn schema(fields: &[(&str, Type)]) -> Schema {
        Schema::new(fields.iter().map(|(n, t)| Field { name: (*n).into(), ty: t.clone() }).collect())
    }

    /// Every type, nullable and not, with a value of each.
    fn all_types() -> (Schema, Row) {
        let s = schema(&[
            ("b", Type::BOOL),
            ("i", Type::INT),
            ("f", Type::FLOAT),
            ("s", Type::STRING),
            ("t", Type::TIMESTAMP),
            ("d", Type::DURATION),
            ("l", Type::list(Type::INT)),
            ("ls", Type::list(Type::STRING.nullable())),
            ("ll", Type::list(Type::list(Type::FLOAT))),
            ("ni", Type::INT.nullable()),
            ("ns", Type::STRING.nullable()),
            ("nt", Type::TIMESTAMP.nullable()),
            ("e", Type::STRING.nullable()),
        ]);
        let row = vec![
            Value::Bool(true),
            Value::Int(-42),
            Value::float(0.1),
            Value::str("a, \"quoted\"\nline\twith ünïcode"),
            Value::Timestamp(1_700_000_000_123),
            Value::Duration(-250),
            Value::List(vec![Value::Int(1), Value::Int(i64::MAX)].into()),
            Value::List(vec![Value::str("x,y"), Value::Null].into()),
            Value::List(vec![Value::List(vec![Value::float(1.5)].into())].into()),
            Value::Null,
            Value::Null,
            Value::Timestamp(-1),
            Value::str(""),
        ];
        (s, row)
    }

    #[test]
    fn round_trips_every_type_in_every_format() {
        let (s, row) = all_types();
        for format in [
            Format::Jsonl,
            CSV,
            Format::Csv { header: false, delimiter: b';' },
            Format::Csv { header: true, delimiter: b'\t' },
        ] {
            let enc = Encoder::new(&format, &s);
            let mut out = String::new();
            enc.encode(&row, &mut out);
            let mut dec = Decoder::new(&format, &s, &[true; 13]);
            if let Some(h) = enc.header() {
                dec.set_header(h.trim_end().as_bytes()).unwrap();
            }
            assert!(out.ends_with('\n'));
            let mut got = Row::new();
            dec.decode(out.trim_end_matches('\n').as_bytes(), &mut got)
                .unwrap_or_else(|e| panic!("{format:?}: {e}\n{out}"));
            assert_eq!(got, row, "{format:?}: {out}");
        }
    }

    #[test]
    fn float_edge_values_round_trip() {
        let s = schema(&[("f", Type::FLOAT)]);
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, 5e-324, -0.0, 123.0] {
            for format in [Format::Jsonl, CSV] {
                let mut out = String::new();
                Encoder::new(&format, &s).encode(&[Value::float(x)], &mut out);
                let mut dec = Decoder::new(&format, &s, &[true]);
                let mut row = Row::new();
                dec.decode(out.trim_end().as_bytes(), &mut row).unwrap();
                assert_eq!(row, vec![Value::float(x)], "{out}");
            }
        }
    }

    #[test]
    fn fast_rfc3339_agrees_with_chrono() {
        let mut rng = 0x1234_5678_u64;
        for _ in 0..20_000 {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let ms = (rng >> 20) as i64 - (1i64 << 43) + 1_700_000_000_000;
            let mut s = String::new();
            eddy_dsl::time::write_rfc3339(ms, &mut s);
            assert_eq!(fast_rfc3339(s.as_bytes()), Some(ms), "{s}");
        }
        for s in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01T10:30:00-01:30",
            "2024-02-29T23:59:59.999999999Z",
            "1969-12-31T23:59:59.5Z",
            "2000-01-01T00:00:00.1+00:00",
        ] {
            assert_eq!(fast_rfc3339(s.as_bytes()), eddy_dsl::time::parse_timestamp(s), "{s}");
        }
        for s in ["2023-02-29T00:00:00Z", "2024-05-01T12:00:60Z", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00"] {
            assert_eq!(fast_rfc3339(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse_timestamp_text("2024-05-01"), eddy_dsl::time::parse_timestamp("2024-05-01"));
        assert_eq!(parse_timestamp_text("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_timestamp_text("2023-02-29T00:00:00Z"), None);
    }

    #[test]
    fn fast_writers_match_value_writers() {
        let mut rng = 0x9876_u64;
        let mut values = vec![i64::MIN, i64::MAX, 0, -1, 9, 10, -62_167_219_200_001, 253_402_300_800_000];
        for _ in 0..20_000 {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            values.push((rng as i64) >> (rng % 64));
        }
        for s in ["", "plain", "q\"uote", "back\\slash", "ctl\u{1}\n\t", "ünï"] {
            let (mut fast, mut slow) = (String::new(), String::new());
            push_json_string(s, &mut fast);
            eddy_dsl::value::write_json_string(s, &mut slow);
            assert_eq!(fast, slow);
        }
        for v in values {
            for value in [Value::Int(v), Value::Duration(v), Value::Timestamp(v)] {
                let (mut fast, mut slow) = (String::new(), String::new());
                write_json(&value, &mut fast);
                value.write_json(&mut slow);
                assert_eq!(fast, slow);
                let (mut fast, mut slow) = (String::new(), String::new());
                write_text(&value, &mut fast);
                value.write_text(&mut slow);
                assert_eq!(fast, slow);
            }
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_text("10s"), Some(10_000));
        assert_eq!(parse_duration_text("-250ms"), Some(-250));
        assert_eq!(parse_duration_text("1500"), Some(1500));
        assert_eq!(parse_duration_text("ten"), None);
    }

    #[test]
    fn snippets_are_short() {
        assert_eq!(quote_snippet("abc"), "\"abc\"");
        let long = "x".repeat(100);
        assert_eq!(quote_snippet(&long), format!("\"{}...\"", "x".repeat(40)));
    }
}
