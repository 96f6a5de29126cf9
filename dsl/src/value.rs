//! Run-time values. A row is a `Vec<Value>` whose positions follow its schema.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::time;

/// A float with a total order, so that floats can be keys, be sorted and live in
/// differential collections. The order is IEEE 754 `totalOrder` (`-0.0 < 0.0`, NaN last);
/// `-0.0` and every NaN are made canonical on construction, so `-0.0 == 0.0` and all NaNs
/// are one value.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct F64(f64);

impl F64 {
    pub fn new(x: f64) -> F64 {
        if x == 0.0 {
            F64(0.0)
        } else if x.is_nan() {
            F64(f64::NAN)
        } else {
            F64(x)
        }
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

impl PartialEq for F64 {
    fn eq(&self, other: &F64) -> bool {
        self.0.total_cmp(&other.0) == Ordering::Equal
    }
}
impl Eq for F64 {}
impl PartialOrd for F64 {
    fn partial_cmp(&self, other: &F64) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for F64 {
    fn cmp(&self, other: &F64) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl Hash for F64 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}

/// One value of a field. Copying a row is cheap: strings of up to 23 bytes are kept inline
/// (no allocation: most keys, codes and names) and longer ones are shared, as lists are.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(F64),
    Str(SmolStr),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Milliseconds.
    Duration(i64),
    List(Arc<[Value]>),
    /// A record (a nested object): its values in the positions of its type's fields, and
    /// their names.
    Record(Arc<RecordValue>),
    /// A JSON value as its compact text, keys in input order (see `crate::json`).
    Json(Arc<str>),
}

/// The value of a record field: names shared by every value of its type, values by position.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordValue {
    pub names: Arc<[SmolStr]>,
    pub values: Vec<Value>,
}

/// A record: values in the positions of its schema's fields.
pub type Row = Vec<Value>;

impl Value {
    pub fn float(x: f64) -> Value {
        Value::Float(F64::new(x))
    }

    pub fn str(s: &str) -> Value {
        Value::Str(SmolStr::new(s))
    }

    /// A record value of the type whose field names are `names`.
    pub fn record(names: &Arc<[SmolStr]>, values: Vec<Value>) -> Value {
        Value::Record(Arc::new(RecordValue { names: Arc::clone(names), values }))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Timestamp(i) | Value::Duration(i) => Some(*i),
            _ => None,
        }
    }

    /// Ints widen to floats.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(f.get()),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Writes the value as JSON (timestamps as RFC 3339 text, durations as milliseconds).
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Duration(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => write_float_json(f.get(), out),
            Value::Str(s) => write_json_string(s, out),
            Value::Timestamp(t) => {
                out.push('"');
                time::write_rfc3339(*t, out);
                out.push('"');
            }
            Value::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Record(r) => {
                out.push('{');
                for (i, (name, v)) in r.names.iter().zip(&r.values).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(name, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
            Value::Json(text) => out.push_str(text),
        }
    }

    /// Writes the value as plain text, as CSV cells and `string(x)` show it: strings
    /// unquoted, null as the empty string, lists as JSON.
    pub fn write_text(&self, out: &mut String) {
        match self {
            Value::Null => {}
            Value::Str(s) => out.push_str(s),
            Value::Timestamp(t) => time::write_rfc3339(*t, out),
            Value::Duration(d) => time::write_duration(*d, out),
            Value::Float(f) => FloatText(f.get()).push(out),
            other => other.write_json(out),
        }
    }
}

/// A float in its shortest exact form; NaN and infinities (not JSON numbers) as text.
struct FloatText(f64);

impl FloatText {
    /// Appends the text: the same as `Display` (Rust's `{:?}` for finite floats), through
    /// `ryu` where the two agree. Both write the shortest digits that read back to `x`, and
    /// a `.0` on integral values; they differ
    /// - in where exponents start: ryu writes plain decimals for 1e-5 <= |x| < 1e16, Rust
    ///   for 1e-4 <= |x| < 1e16;
    /// - on exact ties between two shortest candidates (ryu rounds half to even, Rust half
    ///   up). A tie happens exactly when `x` has j binary fraction digits, so an exact
    ///   decimal text with j fraction digits ending in 5, and the shortest text has j - 1.
    ///
    /// In both cases `{:?}` writes the text.
    fn push(&self, out: &mut String) {
        let x = self.0;
        if x == 0.0 || (x.is_finite() && (1e-4..1e16).contains(&x.abs())) {
            let mut buf = ryu::Buffer::new();
            let text = buf.format_finite(x);
            let fraction = match text.strip_suffix(".0") {
                Some(_) => 0,
                None => text.rfind('.').map_or(0, |dot| text.len() - dot - 1),
            };
            if fraction + 1 != fraction_bits(x) {
                out.push_str(text);
                return;
            }
        }
        use std::fmt::Write;
        let _ = write!(out, "{self}");
    }
}

/// The number of binary digits after the point of a finite float (0 for integers).
fn fraction_bits(x: f64) -> usize {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let (mantissa, exp) =
        if biased == 0 { (bits & ((1 << 52) - 1), -1074) } else { (bits & ((1 << 52) - 1) | (1 << 52), biased - 1075) };
    if mantissa == 0 {
        return 0;
    }
    (-(exp + i64::from(mantissa.trailing_zeros()))).max(0) as usize
}

impl fmt::Display for FloatText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x.is_nan() {
            f.write_str("NaN")
        } else if x.is_infinite() {
            f.write_str(if x > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            // Rust's `{}` prints the shortest text that reads back to the same float,
            // without an exponent; `{:?}` keeps a `.0` on integral values.
            write!(f, "{x:?}")
        }
    }
}

fn write_float_json(x: f64, out: &mut String) {
    if x.is_finite() {
        FloatText(x).push(out);
    } else {
        out.push('"');
        FloatText(x).push(out);
        out.push('"');
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_string(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

impl fmt::Display for Value {
    /// Values as the language writes literals: strings quoted, timestamps with `@`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        match self {
            Value::Timestamp(t) => {
                s.push('@');
                time::write_rfc3339(*t, &mut s);
            }
            Value::Duration(d) => time::write_duration(*d, &mut s),
            Value::List(items) => {
                s.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    s.push_str(&v.to_string());
                }
                s.push(']');
            }
            Value::Record(r) => {
                s.push('{');
                for (i, (name, v)) in r.names.iter().zip(&r.values).enumerate() {
                    s.push_str(if i > 0 { ", " } else { " " });
                    s.push_str(&format!("{name}: {v}"));
                }
                s.push_str(" }");
            }
            other => other.write_json(&mut s),
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_three_words() {
        // Rows are vectors of values: a short string inline must not make every value larger.
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn floats_are_totally_ordered_and_canonical() {
        assert_eq!(Value::float(-0.0), Value::float(0.0));
        assert_eq!(Value::float(f64::NAN), Value::float(-f64::NAN));
        assert!(Value::float(1.5) < Value::float(2.0));
        assert!(Value::float(f64::INFINITY) < Value::float(f64::NAN));
    }

    /// `FloatText::push` (ryu where it agrees) writes exactly what `{:?}` writes.
    #[test]
    fn float_text_is_rusts_debug_text() {
        let check = |x: f64| {
            let mut fast = String::new();
            FloatText(x).push(&mut fast);
            assert_eq!(fast, FloatText(x).to_string(), "{:#x}", x.to_bits());
            if x.is_finite() {
                assert_eq!(fast, format!("{x:?}"));
            }
        };
        let mut specials = vec![
            0.0,
            -0.0,
            0.1,
            0.2,
            0.3,
            2.0,
            -2.0,
            1.5,
            908.0,
            227.0,
            0.908,
            1e21,
            1e-7,
            1e-5,
            1.5e-5,
            1e-4,
            9.99e-5,
            0.00011,
            1e15,
            1e16,
            9999999999999998.0,
            1e16 - 2.0,
            1e17,
            123456789012345680000.0,
            1e300,
            5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740993.0,
            4503599627370496.5,
            1.0 / 3.0,
            2.0 / 3.0,
            100.0,
            1e-4 * 0.999_999_999_999_9,
        ];
        // Ties: the most fraction digits at each magnitude, where the shortest text drops one.
        for bits in 0..=52 {
            let base = 2f64.powi(52 - bits);
            for k in 1..200u32 {
                specials.push((base - f64::from(k)) + f64::from(k) / 2f64.powi(bits));
                specials.push(base * 1.5 + f64::from(k) * 2f64.powi(-bits));
            }
        }
        for i in 0..64 {
            specials.push(2f64.powi(i));
            specials.push(-(10f64.powi(i - 32)));
            specials.push((i as f64) * 0.908);
        }
        for x in specials {
            check(x);
            check(-x);
        }
        // Random bit patterns (every exponent), and prices in euros as Q1 makes them.
        let mut rng = 0x1234_5678_9abc_def0_u64;
        for _ in 0..200_000 {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            check(f64::from_bits(rng));
            check((rng >> 40) as f64 * 0.908);
            check((rng >> 11) as f64 / (1u64 << 53) as f64);
        }
    }

    #[test]
    fn json_text() {
        let mut s = String::new();
        Value::List(vec![Value::float(0.1), Value::float(2.0), Value::str("a\"\n\u{1}")].into()).write_json(&mut s);
        assert_eq!(s, r#"[0.1,2.0,"a\"\n\u0001"]"#);
        let mut t = String::new();
        Value::Timestamp(1_700_000_000_000).write_json(&mut t);
        assert_eq!(t, "\"2023-11-14T22:13:20.000Z\"");
    }
}
