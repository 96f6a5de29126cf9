//! JSON lines: a serde visitor that parses an object straight into a positional row.
//!
//! Each key is looked up among the schema's fields (trying the next field in schema order
//! first, since writers usually keep that order). A used field's value is deserialized
//! directly into a `Value` of the field's type. The values of fields the pipeline never reads,
//! and of keys outside the schema, are skipped with `IgnoredAny`, which checks their JSON
//! syntax only: a field that is not read is not checked, neither its kind nor its presence
//! (so a wrong value there loses no record). Every non-nullable field that is read must be
//! present. Duplicate keys: each value is checked, the last one wins.

use std::collections::HashMap;
use std::fmt;

use eddy_dsl::time::checked_timestamp;
use eddy_dsl::{Base, Row, Schema, Type, Value};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{line_str, parse_duration_text, parse_timestamp_text, quote_snippet, reset_row, DayCache, FieldInfo};

pub(super) struct JsonDecoder {
    fields: Vec<FieldInfo>,
    lookup: Lookup,
    /// Non-nullable fields that are read: checked for presence after each line.
    required: Vec<usize>,
    /// Which fields the current line has, reset for each line.
    seen: Vec<bool>,
    /// The message of a type error, set by the visitors (serde errors carry no payload
    /// we could read back without formatting).
    err: Option<String>,
    /// The day of the last RFC 3339 timestamp read by the fast path.
    days: DayCache,
}

impl JsonDecoder {
    pub(super) fn new(fields: Vec<FieldInfo>) -> JsonDecoder {
        let lookup = Lookup::new(&fields);
        let required = fields.iter().enumerate().filter(|(_, f)| f.used && !f.ty.nullable).map(|(i, _)| i).collect();
        let seen = vec![false; fields.len()];
        JsonDecoder { fields, lookup, required, seen, err: None, days: DayCache::default() }
    }

    pub(super) fn decode(&mut self, line: &[u8], row: &mut Row) -> Result<(), String> {
        if self.decode_flat(line, row) {
            return Ok(());
        }
        self.decode_serde(line, row)
    }

    /// The fast path for the common line: a flat object whose keys have no escapes, whose
    /// values are strings without escapes, integers, `true`/`false`/`null`, or (for float
    /// fields) numbers. Keys are compared at the cursor, and unread values are skipped as the
    /// serde path skips them. Returns `false` for
    /// anything else: a line it cannot decode, or any error; the serde path then decodes the
    /// line again from the start, so that accepted rows and error messages are exactly those
    /// of the serde path.
    fn decode_flat(&mut self, line: &[u8], row: &mut Row) -> bool {
        let b = line.strip_suffix(b"\r").unwrap_or(line);
        if !b.is_ascii() && std::str::from_utf8(b).is_err() {
            return false;
        }
        let mut c = Cursor { b, i: 0 };
        c.ws();
        if !c.eat(b'{') {
            return false;
        }
        reset_row(row, self.fields.len());
        self.seen.fill(false);
        c.ws();
        if !c.eat(b'}') {
            let mut next = 0;
            loop {
                if !c.eat(b'"') {
                    return false;
                }
                let found = match self.lookup.expected(&c.b[c.i..], &mut next) {
                    Some((i, len)) => {
                        c.i += len + 1;
                        Some(i)
                    }
                    None => {
                        let Some(key) = c.string() else { return false };
                        self.lookup.find_bytes(key, &mut next)
                    }
                };
                c.ws();
                if !c.eat(b':') {
                    return false;
                }
                c.ws();
                let ok = match found {
                    Some(i) if self.fields[i].used => {
                        self.seen[i] = true;
                        match c.value(&self.fields[i].ty, &mut self.days) {
                            Some(v) => {
                                row[i] = v;
                                true
                            }
                            None => false,
                        }
                    }
                    _ => c.skip(),
                };
                if !ok {
                    return false;
                }
                c.ws();
                if c.eat(b',') {
                    c.ws();
                } else if c.eat(b'}') {
                    break;
                } else {
                    return false;
                }
            }
        }
        c.ws();
        if c.i != b.len() {
            return false;
        }
        // A present non-nullable field is not null: `value` rejects null for it.
        self.required.iter().all(|&i| self.seen[i])
    }

    /// The general path: serde_json with seeds, and every error message.
    fn decode_serde(&mut self, line: &[u8], row: &mut Row) -> Result<(), String> {
        let text = line_str(line)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim_ascii().is_empty() {
            return Err("empty line".into());
        }
        reset_row(row, self.fields.len());
        self.err = None;
        self.seen.fill(false);
        let mut de = serde_json::Deserializer::from_str(text);
        let seed =
            RowSeed { fields: &self.fields, lookup: &self.lookup, row, seen: &mut self.seen, err: &mut self.err };
        if let Err(e) = seed.deserialize(&mut de).and_then(|()| de.end()) {
            return Err(self.err.take().unwrap_or_else(|| syntax_message(&e)));
        }
        // A present non-nullable field is not null: the seeds reject null for it.
        for &i in &self.required {
            if !self.seen[i] {
                return Err(format!("missing field '{}'", self.fields[i].name));
            }
        }
        Ok(())
    }
}

/// The position of the first `"`, `\\` or control character at or after `from`, eight bytes
/// at a time.
#[inline]
fn special(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // A byte is flagged if it is below 0x20, or is '"' or '\\' (then x ^ c has a zero byte).
        // Flags can be wrong only above a true one, so the lowest flag is exact.
        let q = x ^ (ONES * u64::from(b'"'));
        let s = x ^ (ONES * u64::from(b'\\'));
        let found =
            ((x.wrapping_sub(ONES * 0x20) & !x) | (q.wrapping_sub(ONES) & !q) | (s.wrapping_sub(ONES) & !s)) & HIGH;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\').map(|k| i + k)
}

/// The fast path's position in a line. Every method returns `None`/`false` where the serde
/// path might see anything but what the method accepts, so that the line goes to it.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// Skips JSON whitespace.
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// After an opening quote: the string's bytes, if it has neither escapes nor control
    /// characters (which serde_json rejects); the cursor moves past the closing quote.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        let end = special(self.b, start)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        Some(&self.b[start..end])
    }

    /// An integer as serde_json reads one into an `i64` (`visit_i64` or `visit_u64` up to
    /// `i64::MAX`): no leading zero, no fraction or exponent, not `-0` (a float to serde_json).
    #[inline]
    fn int(&mut self) -> Option<i64> {
        let neg = self.eat(b'-');
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&d) = self.b.get(self.i) {
            if !d.is_ascii_digit() {
                break;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0
            || (digits > 1 && self.b[start] == b'0')
            || matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        if neg {
            match n {
                0 => None,
                n if n <= 1 << 63 => Some((n as i64).wrapping_neg()),
                _ => None,
            }
        } else {
            i64::try_from(n).ok()
        }
    }

    /// A number read as a float, by serde_json itself (the same digits give the same float).
    fn float(&mut self) -> Option<f64> {
        let rest = self.b.get(self.i..)?;
        let n = rest.iter().take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')).count();
        let x = serde_json::from_slice::<f64>(&rest[..n]).ok()?;
        self.i += n;
        Some(x)
    }

    /// A string's text, as `&str`.
    #[inline]
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.string()?).ok()
    }

    /// `true`, `false` or `null` (`Some(None)`).
    #[inline]
    fn literal(&mut self) -> Option<Option<bool>> {
        let rest = self.b.get(self.i..)?;
        let (v, n) = if rest.starts_with(b"true") {
            (Some(true), 4)
        } else if rest.starts_with(b"false") {
            (Some(false), 5)
        } else if rest.starts_with(b"null") {
            (None, 4)
        } else {
            return None;
        };
        self.i += n;
        Some(v)
    }

    /// A used field's value, as `ValueSeed` builds it.
    #[inline]
    fn value(&mut self, ty: &Type, days: &mut DayCache) -> Option<Value> {
        let first = *self.b.get(self.i)?;
        match (&ty.base, first) {
            (_, b't' | b'f' | b'n') => match (self.literal()?, &ty.base) {
                (None, _) if ty.nullable => Some(Value::Null),
                (Some(v), Base::Bool) => Some(Value::Bool(v)),
                _ => None,
            },
            (Base::Int, _) => Some(Value::Int(self.int()?)),
            (Base::String, b'"') => {
                self.i += 1;
                Some(Value::str(self.str()?))
            }
            (Base::Timestamp, b'"') => {
                self.i += 1;
                let s = self.string()?;
                match days.rfc3339(s) {
                    Some(t) => Some(Value::Timestamp(t)),
                    None => parse_timestamp_text(std::str::from_utf8(s).ok()?).map(Value::Timestamp),
                }
            }
            (Base::Timestamp, _) => checked_timestamp(self.int()?).map(Value::Timestamp),
            (Base::Duration, b'"') => {
                self.i += 1;
                parse_duration_text(self.str()?).map(Value::Duration)
            }
            (Base::Duration, _) => Some(Value::Duration(self.int()?)),
            (Base::Float, b'"') => {
                self.i += 1;
                match self.string()? {
                    b"NaN" => Some(Value::float(f64::NAN)),
                    b"Infinity" => Some(Value::float(f64::INFINITY)),
                    b"-Infinity" => Some(Value::float(f64::NEG_INFINITY)),
                    _ => None,
                }
            }
            (Base::Float, b'-' | b'0'..=b'9') => {
                let start = self.i;
                match self.int() {
                    Some(v) => Some(Value::float(v as f64)),
                    None => {
                        self.i = start;
                        self.float().map(Value::float)
                    }
                }
            }
            _ => None,
        }
    }

    /// The value of a field that is not read, or of a key outside the schema: a string, a
    /// number or a literal (anything else goes to the serde path, which checks its syntax).
    #[inline]
    fn skip(&mut self) -> bool {
        match self.b.get(self.i) {
            Some(b'"') => {
                self.i += 1;
                self.string().is_some()
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                self.int().is_some() || {
                    self.i = start;
                    self.float().is_some()
                }
            }
            Some(_) => self.literal().is_some(),
            None => false,
        }
    }
}

/// Parses JSON text (a CSV cell holding a list) as a value of type `ty`.
pub(super) fn parse_value(text: &str, ty: &Type, name: &str) -> Result<Value, String> {
    let mut err = None;
    let mut value = Value::Null;
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = ValueSeed { ty, path: Path::Field(name), err: &mut err, slot: &mut value };
    match seed.deserialize(&mut de).and_then(|()| de.end()) {
        Ok(()) => Ok(value),
        Err(e) => Err(err.unwrap_or_else(|| format!("field '{name}': {}", syntax_message(&e)))),
    }
}

/// `invalid JSON at column 17: expected value`, from serde_json's
/// `expected value at line 1 column 17`.
fn syntax_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = full.rfind(" at line ").map_or(full.as_str(), |p| &full[..p]);
    format!("invalid JSON at column {}: {msg}", e.column())
}

/// Finds a key's field: the field after the previous match first, then a scan (few fields)
/// or a hash map (many).
struct Lookup {
    names: Vec<Box<str>>,
    /// Per name, whether it is written in JSON as it is (no quote, backslash or control
    /// character: every plain identifier).
    plain: Vec<bool>,
    map: Option<HashMap<Box<str>, usize>>,
}

impl Lookup {
    const SCAN_LIMIT: usize = 16;

    fn new(fields: &[FieldInfo]) -> Lookup {
        let names: Vec<Box<str>> = fields.iter().map(|f| f.name.clone()).collect();
        let plain = names.iter().map(|n| n.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\')).collect();
        let map = (names.len() > Lookup::SCAN_LIMIT)
            .then(|| names.iter().enumerate().rev().map(|(i, n)| (n.clone(), i)).collect());
        Lookup { names, plain, map }
    }

    /// The next field in schema order, if `rest` (a line after a key's opening quote) starts
    /// with its plain name and the closing quote: (its index, the name's length). The key is
    /// then that name, found without scanning for its end.
    #[inline]
    fn expected(&self, rest: &[u8], cursor: &mut usize) -> Option<(usize, usize)> {
        let name = self.names.get(*cursor)?.as_bytes();
        if !self.plain[*cursor] || rest.get(name.len()) != Some(&b'"') || !same(&rest[..name.len()], name) {
            return None;
        }
        *cursor += 1;
        Some((*cursor - 1, name.len()))
    }

    /// `find` for a key given as bytes (the fast path's keys, which have no escapes).
    #[inline]
    fn find_bytes(&self, key: &[u8], cursor: &mut usize) -> Option<usize> {
        let i = match self.names.get(*cursor) {
            Some(n) if same(n.as_bytes(), key) => *cursor,
            _ => match &self.map {
                Some(map) => *map.get(std::str::from_utf8(key).ok()?)?,
                None => self.names.iter().position(|n| same(n.as_bytes(), key))?,
            },
        };
        *cursor = i + 1;
        Some(i)
    }

    /// The index of `key`'s field, if the schema has it.
    #[inline]
    fn find(&self, key: &str, cursor: &mut usize) -> Option<usize> {
        let i = match self.names.get(*cursor) {
            Some(n) if same(n.as_bytes(), key.as_bytes()) => *cursor,
            _ => match &self.map {
                Some(map) => *map.get(key)?,
                None => self.names.iter().position(|n| same(n.as_bytes(), key.as_bytes()))?,
            },
        };
        *cursor = i + 1;
        Some(i)
    }
}

/// String equality without a `memcmp` call: keys are short.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Where a value sits, for messages: `price`, `tags[2]`.
#[derive(Clone, Copy)]
enum Path<'a> {
    Field(&'a str),
    Elem(&'a Path<'a>, usize),
    /// A field of a nested record: `user.address.zip`.
    Sub(&'a Path<'a>, &'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Field(name) => f.write_str(name),
            Path::Elem(parent, i) => write!(f, "{parent}[{i}]"),
            Path::Sub(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

/// What was found instead of the expected type.
enum Found<'a> {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
    Null,
    Array,
    Object,
}

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Bool(b) => write!(f, "bool {b}"),
            Found::Int(i) => write!(f, "integer {i}"),
            Found::Float(x) => write!(f, "float {x}"),
            Found::Str(s) => write!(f, "string {}", quote_snippet(s)),
            Found::Null => f.write_str("null"),
            Found::Array => f.write_str("array"),
            Found::Object => f.write_str("object"),
        }
    }
}

/// Records `msg` and returns the error that stops serde_json; `decode` reports `msg`.
fn fail<T, E: de::Error>(err: &mut Option<String>, msg: String) -> Result<T, E> {
    *err = Some(msg);
    Err(E::custom(""))
}

struct RowSeed<'a> {
    fields: &'a [FieldInfo],
    lookup: &'a Lookup,
    row: &'a mut Row,
    seen: &'a mut [bool],
    err: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl RowSeed<'_> {
    fn not_object<E: de::Error>(self, found: Found) -> Result<(), E> {
        fail(self.err, format!("expected a JSON object, found {found}"))
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut cursor = 0;
        while let Some(slot) = map.next_key_seed(KeySeed { lookup: self.lookup, cursor: &mut cursor })? {
            match slot {
                Some(i) if self.fields[i].used => {
                    self.seen[i] = true;
                    let field = &self.fields[i];
                    let path = Path::Field(&field.name);
                    let seed = ValueSeed { ty: &field.ty, path, err: &mut *self.err, slot: &mut self.row[i] };
                    map.next_value_seed(seed)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.not_object(Found::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.not_object(Found::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.not_object(Found::Int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.not_object(Found::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.not_object(Found::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_object(Found::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<(), A::Error> {
        self.not_object(Found::Array)
    }
}

/// Reads a key as `&str` (borrowed from the line when it has no escapes) and finds its field.
struct KeySeed<'a> {
    lookup: &'a Lookup,
    cursor: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.lookup.find(key, self.cursor))
    }
}

/// Deserializes one value straight into `slot`, as a `Value` of type `ty`. (Writing in
/// place rather than returning the value avoids moving it through `Result`s, which showed
/// as store-forwarding stalls in profiles.)
struct ValueSeed<'a> {
    ty: &'a Type,
    path: Path<'a>,
    err: &'a mut Option<String>,
    slot: &'a mut Value,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    #[inline]
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if matches!(self.ty.base, Base::Json) {
            // Any JSON value, kept as it came (compact); a JSON null is null.
            let raw = <Box<serde_json::value::RawValue> as Deserialize>::deserialize(d)?;
            return match raw.get().trim() {
                "null" if self.ty.nullable => self.put(Value::Null),
                "null" => self.mismatch(Found::Null),
                text => self.put(Value::Json(eddy_dsl::json::compact(text).into())),
            };
        }
        d.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    #[inline]
    fn put<E>(self, v: Value) -> Result<(), E> {
        *self.slot = v;
        Ok(())
    }

    fn mismatch<E: de::Error>(self, found: Found) -> Result<(), E> {
        mismatch(self.err, self.path, self.ty, found)
    }

    #[cold]
    #[inline(never)]
    fn invalid<E: de::Error>(self, what: &str, text: &str) -> Result<(), E> {
        let msg = format!("field '{}': invalid {what} {}", self.path, quote_snippet(text));
        fail(self.err, msg)
    }
}

/// `field 'price': expected int, found string "abc"`.
#[cold]
#[inline(never)]
fn mismatch<E: de::Error>(err: &mut Option<String>, path: Path, ty: &Type, found: Found) -> Result<(), E> {
    let msg = format!("field '{path}': expected {}, found {found}", ty.clone().non_null());
    fail(err, msg)
}

/// A timestamp (ms) beyond the range Eddy can write and read back.
#[cold]
#[inline(never)]
fn timestamp_out_of_range<E: de::Error>(err: &mut Option<String>, path: Path, ms: i128) -> Result<(), E> {
    fail(err, format!("field '{path}': timestamp {ms} ms out of range ({})", crate::format::TIMESTAMP_RANGE))
}

/// An integer above `i64::MAX` where the type wants an `i64` (or is not a number at all).
#[cold]
#[inline(never)]
fn out_of_range<E: de::Error>(err: &mut Option<String>, path: Path, ty: &Type, v: u64) -> Result<(), E> {
    match ty.base {
        Base::Timestamp => timestamp_out_of_range(err, path, v.into()),
        Base::Int | Base::Duration => fail(err, format!("field '{path}': integer {v} out of range")),
        _ => mismatch(err, path, ty, Found::Int(v.into())),
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.ty)
    }

    #[inline]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        match self.ty.base {
            Base::Int => self.put(Value::Int(v)),
            Base::Float => self.put(Value::float(v as f64)),
            Base::Timestamp => match checked_timestamp(v) {
                Some(t) => self.put(Value::Timestamp(t)),
                None => timestamp_out_of_range(self.err, self.path, v.into()),
            },
            Base::Duration => self.put(Value::Duration(v)),
            _ => self.mismatch(Found::Int(v.into())),
        }
    }

    #[inline]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) if self.ty.base == Base::Float => self.put(Value::float(v as f64)),
            Err(_) => out_of_range(self.err, self.path, self.ty, v),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match self.ty.base {
            Base::Float => self.put(Value::float(v)),
            // A whole number beyond i64 (serde reads it as a float): out of range, not a float.
            Base::Int | Base::Timestamp | Base::Duration if v.fract() == 0.0 && v.abs() >= 9.2e18 => {
                fail(self.err, format!("field '{}': integer out of range (about {v:e}; ints are 64-bit)", self.path))
            }
            _ => self.mismatch(Found::Float(v)),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.ty.base {
            Base::Bool => self.put(Value::Bool(v)),
            _ => self.mismatch(Found::Bool(v)),
        }
    }

    #[inline]
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.ty.base {
            Base::String => self.put(Value::str(v)),
            Base::Timestamp => match parse_timestamp_text(v) {
                Some(t) => self.put(Value::Timestamp(t)),
                None => self.invalid("timestamp", v),
            },
            Base::Duration => match parse_duration_text(v) {
                Some(d) => self.put(Value::Duration(d)),
                None => self.invalid("duration", v),
            },
            // The encoders write non-finite floats as these strings.
            Base::Float => match v {
                "NaN" => self.put(Value::float(f64::NAN)),
                "Infinity" => self.put(Value::float(f64::INFINITY)),
                "-Infinity" => self.put(Value::float(f64::NEG_INFINITY)),
                _ => self.mismatch(Found::Str(v)),
            },
            _ => self.mismatch(Found::Str(v)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.ty.nullable {
            self.put(Value::Null)
        } else {
            self.mismatch(Found::Null)
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Base::List(elem) = &self.ty.base else {
            return self.mismatch(Found::Array);
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        let path = self.path;
        loop {
            let mut item = Value::Null;
            let seed =
                ValueSeed { ty: elem, path: Path::Elem(&path, items.len()), err: &mut *self.err, slot: &mut item };
            match seq.next_element_seed(seed)? {
                Some(()) => items.push(item),
                None => break,
            }
        }
        *self.slot = Value::List(items.into());
        Ok(())
    }

    /// A nested object, read into a record value driven by its type: keys outside it are
    /// skipped, and every non-nullable field of it must be there.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Base::Record(record) = &self.ty.base else {
            return self.mismatch(Found::Object);
        };
        let mut values = vec![Value::Null; record.fields.len()];
        let mut seen = vec![false; record.fields.len()];
        let path = self.path;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match record.index_of(&key) {
                Some(i) => {
                    seen[i] = true;
                    let field = &record.fields[i];
                    let path = Path::Sub(&path, &field.name);
                    let seed = ValueSeed { ty: &field.ty, path, err: &mut *self.err, slot: &mut values[i] };
                    map.next_value_seed(seed)?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some((field, _)) = record.fields.iter().zip(&seen).find(|(f, seen)| !f.ty.nullable && !**seen) {
            return fail(self.err, format!("missing field '{path}.{}'", field.name));
        }
        *self.slot = Value::record(record.names(), values);
        Ok(())
    }
}

/// Writes rows as `{"a":1,"b":"x"}` with the keys pre-rendered.
pub(super) struct JsonEncoder {
    /// `{"a":` for the first field, `,"b":` for the others.
    prefixes: Vec<String>,
}

impl JsonEncoder {
    pub(super) fn new(schema: &Schema) -> JsonEncoder {
        let prefixes = schema
            .names()
            .enumerate()
            .map(|(i, name)| {
                let mut p = String::from(if i == 0 { "{" } else { "," });
                eddy_dsl::value::write_json_string(name, &mut p);
                p.push(':');
                p
            })
            .collect();
        JsonEncoder { prefixes }
    }

    pub(super) fn encode(&self, row: &[Value], out: &mut String) {
        if self.prefixes.is_empty() {
            out.push_str("{}\n");
            return;
        }
        for (i, prefix) in self.prefixes.iter().enumerate() {
            out.push_str(prefix);
            super::write_json(row.get(i).unwrap_or(&Value::Null), out);
        }
        out.push_str("}\n");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::schema;
    use super::super::{Decoder, Encoder, Format};
    use eddy_dsl::{Row, Type, Value};

    fn bid_schema() -> eddy_dsl::Schema {
        schema(&[
            ("auction", Type::INT),
            ("price", Type::INT),
            ("channel", Type::STRING),
            ("date_time", Type::TIMESTAMP),
            ("extra", Type::STRING.nullable()),
        ])
    }

    fn decode_with(used: &[bool], line: &str) -> Result<Row, String> {
        let mut d = Decoder::new(&Format::Jsonl, &bid_schema(), used);
        let mut row = Row::new();
        d.decode(line.as_bytes(), &mut row).map(|()| row)
    }

    fn decode(line: &str) -> Result<Row, String> {
        decode_with(&[true; 5], line)
    }

    #[test]
    fn a_key_is_read_whole_even_when_it_starts_with_the_next_name() {
        // Keys that the next field's name begins, or that begin it, are other keys.
        let row = decode(r#"{"auction":1,"pricey":7,"price":2,"channel":"c","date_time":"2024-05-01T12:00:00Z"}"#);
        assert_eq!(row.unwrap()[1], Value::Int(2));
        assert!(decode(r#"{"auctio":1,"price":2,"channel":"c","date_time":"2024-05-01T12:00:00Z"}"#).is_err());
        // A name with a quote or a backslash (a `quoted` name) is matched only as JSON writes it.
        let odd = schema(&[("a\"b", Type::INT), ("c\\", Type::INT)]);
        let decode_odd = |line: &str| {
            let mut d = Decoder::new(&Format::Jsonl, &odd, &[true, true]);
            let mut row = Row::new();
            d.decode(line.as_bytes(), &mut row).map(|()| row)
        };
        assert_eq!(decode_odd(r#"{"a\"b":1,"c\\":2}"#), Ok(vec![Value::Int(1), Value::Int(2)]));
        assert!(decode_odd(r#"{"a"b":1,"c\\":2}"#).is_err());
        assert!(decode_odd(r#"{"a\"b":1,"c\":2}"#).is_err());
    }

    #[test]
    fn decodes_fields_in_any_order_and_ignores_unknown_keys() {
        let row = decode(
            r#"{"price":5,"zzz":{"a":[1,2,{"b":null}]},"auction":1000,"date_time":"2023-11-14T22:13:20.001Z","channel":"Goo\"gle\u00e9"}"#,
        )
        .unwrap();
        assert_eq!(
            row,
            vec![
                Value::Int(1000),
                Value::Int(5),
                Value::str("Goo\"gleé"),
                Value::Timestamp(1_700_000_000_001),
                Value::Null
            ]
        );
        // Epoch ms for timestamps, a trailing '\r', duplicate keys (the last wins), an
        // escaped key.
        let row = decode(
            "{\"auction\":1,\"auction\":2,\"pri\\u0063e\":3,\"channel\":\"\",\"date_time\":17,\"extra\":null}\r",
        )
        .unwrap();
        assert_eq!(row, vec![Value::Int(2), Value::Int(3), Value::str(""), Value::Timestamp(17), Value::Null]);
    }

    #[test]
    fn decodes_every_type() {
        let s = schema(&[
            ("b", Type::BOOL),
            ("i", Type::INT),
            ("f", Type::FLOAT),
            ("f2", Type::FLOAT),
            ("t", Type::TIMESTAMP),
            ("d", Type::DURATION),
            ("d2", Type::DURATION),
            ("l", Type::list(Type::INT.nullable())),
            ("n", Type::STRING.nullable()),
            ("m", Type::INT.nullable()),
        ]);
        let mut d = Decoder::new(&Format::Jsonl, &s, &[true; 10]);
        let mut row = Row::new();
        d.decode(
            br#"{"b":false,"i":-9223372036854775808,"f":2.5e3,"f2":7,"t":"2024-05-01T14:00:00+02:00","d":"10s","d2":250,"l":[1,null,3],"n":null}"#,
            &mut row,
        )
        .unwrap();
        assert_eq!(
            row,
            vec![
                Value::Bool(false),
                Value::Int(i64::MIN),
                Value::float(2500.0),
                Value::float(7.0),
                Value::Timestamp(1_714_564_800_000),
                Value::Duration(10_000),
                Value::Duration(250),
                Value::List(vec![Value::Int(1), Value::Null, Value::Int(3)].into()),
                Value::Null,
                Value::Null,
            ]
        );
    }

    #[test]
    fn rejections() {
        let ok = r#""channel":"c","date_time":1"#;
        let cases = [
            (format!(r#"{{"auction":1,"price":"abc",{ok}}}"#), r#"field 'price': expected int, found string "abc""#),
            (format!(r#"{{"auction":1,"price":5.0,{ok}}}"#), "field 'price': expected int, found float 5"),
            (format!(r#"{{"auction":1,"price":1e3,{ok}}}"#), "field 'price': expected int, found float 1000"),
            (format!(r#"{{"auction":1,"price":null,{ok}}}"#), "field 'price': expected int, found null"),
            (format!(r#"{{"auction":1,"price":[1],{ok}}}"#), "field 'price': expected int, found array"),
            (format!(r#"{{"auction":1,"price":{{}},{ok}}}"#), "field 'price': expected int, found object"),
            (format!(r#"{{"auction":1,"price":true,{ok}}}"#), "field 'price': expected int, found bool true"),
            (
                format!(r#"{{"auction":1,"price":9223372036854775808,{ok}}}"#),
                "field 'price': integer 9223372036854775808 out of range",
            ),
            (format!(r#"{{"auction":1,{ok}}}"#), "missing field 'price'"),
            (format!(r#"{{"auction":1,"price":2,{ok},"extra":5}}"#), "field 'extra': expected string, found integer 5"),
            (
                r#"{"auction":1,"price":2,"channel":"c","date_time":"yesterday"}"#.into(),
                r#"field 'date_time': invalid timestamp "yesterday""#,
            ),
            (
                r#"{"auction":1,"price":2,"channel":"c","date_time":1.5}"#.into(),
                "field 'date_time': expected timestamp, found float 1.5",
            ),
            (
                r#"{"auction":1,"price":2,"channel":"c","date_time":1"#.into(),
                "invalid JSON at column 50: EOF while parsing an object",
            ),
            (format!(r#"{{"auction":1,"price":2,{ok}}} x"#), "invalid JSON at column 53: trailing characters"),
            (format!(r#"{{"auction":1,"price":2,{ok}}}{{}}"#), "invalid JSON at column 52: trailing characters"),
            (r#"{"auction":1,,}"#.into(), "invalid JSON at column 14: key must be a string"),
            ("{'a':1}".into(), "invalid JSON at column 2: key must be a string"),
            ("[1,2]".into(), "expected a JSON object, found array"),
            ("\"x\"".into(), "expected a JSON object, found string \"x\""),
            ("42".into(), "expected a JSON object, found integer 42"),
            ("  ".into(), "empty line"),
            ("\u{feff}".into(), "empty line"),
        ];
        for (line, want) in cases {
            assert_eq!(decode(&line).unwrap_err(), want, "{line}");
        }
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let mut d = Decoder::new(&Format::Jsonl, &bid_schema(), &[true; 5]);
        let mut row = Row::new();
        assert_eq!(d.decode(b"{\"channel\":\"a\xff\"}", &mut row).unwrap_err(), "invalid UTF-8 at byte 13");
        // Also inside values that are skipped.
        let mut d = Decoder::new(&Format::Jsonl, &bid_schema(), &[false; 5]);
        assert_eq!(d.decode(b"{\"zz\":\"\xc3\"}", &mut row).unwrap_err(), "invalid UTF-8 at byte 7");
    }

    #[test]
    fn list_element_errors_name_the_element() {
        let s = schema(&[("m", Type::list(Type::list(Type::INT)))]);
        let mut d = Decoder::new(&Format::Jsonl, &s, &[true]);
        let mut row = Row::new();
        assert_eq!(
            d.decode(br#"{"m":[[1],[2,"x"]]}"#, &mut row).unwrap_err(),
            r#"field 'm[1][1]': expected int, found string "x""#
        );
        assert_eq!(d.decode(br#"{"m":[null]}"#, &mut row).unwrap_err(), "field 'm[0]': expected list<int>, found null");
    }

    #[test]
    fn an_integer_beyond_64_bits_is_out_of_range_not_a_float() {
        let used = [true, true, false, true, false];
        for (price, want) in [
            ("99999999999999999999", "field 'price': integer out of range (about 1e20; ints are 64-bit)"),
            (
                "-9223372036854775809",
                "field 'price': integer out of range (about -9.223372036854776e18; ints are 64-bit)",
            ),
            ("9223372036854775808", "field 'price': integer 9223372036854775808 out of range"),
            ("1.5", "field 'price': expected int, found float 1.5"),
        ] {
            let line = format!(r#"{{"auction":7,"price":{price},"date_time":5}}"#);
            assert_eq!(decode_with(&used, &line).unwrap_err(), want, "{line}");
        }
    }

    #[test]
    fn unread_fields_are_neither_checked_nor_built() {
        let used = [true, false, false, true, false];
        let row = decode_with(&used, r#"{"auction":7,"price":3,"channel":"c","date_time":5,"extra":"x"}"#).unwrap();
        assert_eq!(row, vec![Value::Int(7), Value::Null, Value::Null, Value::Timestamp(5), Value::Null]);
        let ok = r#""auction":7,"date_time":5"#;
        // Any value, of any kind, or none at all, in a field that is not read: the record is
        // kept, by the fast path and the serde path alike.
        for unread in [
            r#""price":"abc","channel":7"#,
            r#""price":5.5,"channel":null"#,
            r#""price":1e3,"channel":[1,{"x":2}]"#,
            r#""price":9223372036854775808,"channel":{"a":1}"#,
            r#""price":true"#,
            r#""price":null,"extra":5"#,
            "",
        ] {
            let line = if unread.is_empty() { format!("{{{ok}}}") } else { format!("{{{ok},{unread}}}") };
            let row = decode_with(&used, &line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(row, vec![Value::Int(7), Value::Null, Value::Null, Value::Timestamp(5), Value::Null], "{line}");
        }
        let cases = [
            // The syntax of unread values is still checked: the line must be JSON.
            (format!(r#"{{{ok},"price":2,"zzz":[1,,2]}}"#), "invalid JSON at column 47: expected value"),
            (format!(r#"{{{ok},"price":[1,}}"#), "invalid JSON at column 39: expected value"),
            // Fields that are read are still required and checked.
            (r#"{"auction":7,"price":1,"channel":"c"}"#.into(), "missing field 'date_time'"),
            (r#"{"auction":"7","date_time":5}"#.into(), r#"field 'auction': expected int, found string "7""#),
        ];
        for (line, want) in cases {
            assert_eq!(decode_with(&used, &line).unwrap_err(), want, "{line}");
        }
    }

    #[test]
    fn special_bytes_are_found_eight_at_a_time() {
        let mut rng = 7_u64;
        let alphabet = [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff, b'!', b']', 0x00, b'#'];
        for len in 0..40 {
            for _ in 0..300 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                        let r = (rng >> 33) as usize;
                        if r & 3 == 0 {
                            alphabet[r / 4 % alphabet.len()]
                        } else {
                            b'a' + (r % 26) as u8
                        }
                    })
                    .collect();
                for from in 0..=len {
                    let want =
                        bytes[from..].iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\').map(|k| from + k);
                    assert_eq!(super::special(&bytes, from), want, "{bytes:?} from {from}");
                }
            }
        }
    }

    /// The fast path accepts a line only if the serde path accepts it, with the same row.
    #[test]
    fn the_fast_path_agrees_with_serde() {
        use super::super::field_infos;
        use super::JsonDecoder;
        let s = schema(&[
            ("i", Type::INT),
            ("f", Type::FLOAT),
            ("s", Type::STRING),
            ("t", Type::TIMESTAMP),
            ("d", Type::DURATION),
            ("b", Type::BOOL),
            ("n", Type::INT.nullable()),
            ("ns", Type::STRING.nullable()),
        ]);
        let keys = ["i", "f", "s", "t", "d", "b", "n", "ns", "zz", "i\\u0041"];
        let values = [
            "0",
            "1",
            "-0",
            "01",
            "-5",
            "-",
            "1x",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "1.5",
            "1e3",
            "-2.5E-3",
            "1e400",
            "1.",
            r#""x""#,
            r#""a\"b""#,
            r#""é""#,
            "\"\u{1}\"",
            r#""2023-11-14T22:13:20.004Z""#,
            r#""2023-11-15T00:00:00+02:00""#,
            r#""2023-02-29T00:00:00Z""#,
            r#""2024-05-01""#,
            r#""garbage""#,
            r#""10s""#,
            r#""-250ms""#,
            r#""NaN""#,
            r#""-Infinity""#,
            "null",
            "true",
            "false",
            "nul",
            "[1]",
            "{}",
            r#""""#,
        ];
        let mut rng = 0x5eed_u64;
        let mut next = |n: usize| {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (rng >> 33) as usize % n
        };
        let (mut fast_ok, mut serde_ok) = (0, 0);
        for round in 0..30_000 {
            let used: Vec<bool> = (0..8).map(|_| next(2) == 0).collect();
            let mut d = JsonDecoder::new(field_infos(&s, &used));
            let mut line = String::from(["{", " {", "{ "][next(3)]);
            // Mostly good values in the schema's order, as writers do; sometimes anything.
            let good = ["-5", "1.5", r#""x""#, r#""2023-11-14T22:13:20.004Z""#, "250", "true", "null", r#""é""#];
            for k in 0..6 + next(5) {
                if k > 0 {
                    line.push_str([",", " , ", ",\t"][next(3)]);
                }
                let key = if next(8) == 0 { keys[next(keys.len())] } else { keys[k % 8] };
                let value = if next(6) == 0 { values[next(values.len())] } else { good[k % 8] };
                line.push_str(&format!("\"{key}\"{}{value}", [":", " : "][next(2)]));
            }
            line.push_str(["}", "} ", "}\r", "}x", "", "}}"][next(6).min(next(6))]);
            let (mut a, mut b) = (Row::new(), Row::new());
            let fast = d.decode_flat(line.as_bytes(), &mut a);
            let slow = d.decode_serde(line.as_bytes(), &mut b);
            if fast {
                fast_ok += 1;
                assert_eq!(slow, Ok(()), "round {round}: {line}");
                assert_eq!(a, b, "round {round}: {line}");
            }
            serde_ok += usize::from(slow.is_ok());
        }
        // Both paths were exercised.
        assert!(fast_ok > 1000 && serde_ok > fast_ok, "{fast_ok} {serde_ok}");
    }

    #[test]
    fn many_fields_use_the_hash_lookup() {
        let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let fields: Vec<(&str, Type)> = names.iter().map(|n| (n.as_str(), Type::INT)).collect();
        let s = schema(&fields);
        let mut used = vec![false; 40];
        used[3] = true;
        used[39] = true;
        let mut d = Decoder::new(&Format::Jsonl, &s, &used);
        let line: Vec<String> = (0..40).rev().map(|i| format!("\"f{i}\":{i}")).collect();
        let mut row = Row::new();
        d.decode(format!("{{{}}}", line.join(",")).as_bytes(), &mut row).unwrap();
        assert_eq!(row[3], Value::Int(3));
        assert_eq!(row[39], Value::Int(39));
        assert_eq!(row[0], Value::Null);
    }

    #[test]
    fn encodes_in_schema_order() {
        let e = Encoder::new(&Format::Jsonl, &bid_schema());
        let mut out = String::new();
        e.encode(
            &[Value::Int(1), Value::Int(2), Value::str("a\"b"), Value::Timestamp(1_700_000_000_000), Value::Null],
            &mut out,
        );
        assert_eq!(
            out,
            "{\"auction\":1,\"price\":2,\"channel\":\"a\\\"b\",\"date_time\":\"2023-11-14T22:13:20.000Z\",\"extra\":null}\n"
        );
        assert_eq!(e.header(), None);
        let mut out = String::new();
        Encoder::new(&Format::Jsonl, &schema(&[])).encode(&[], &mut out);
        assert_eq!(out, "{}\n");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod bench {
    use super::super::{Decoder, Encoder, Format};
    use crate::nexmark::{schema, Generator, Kind};
    use eddy_dsl::Row;
    use std::time::Instant;

    /// Decodes bids in a loop, for a profiler: `EDDY_USED=0000000` picks the used fields.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn decode_profile() {
        let used: Vec<bool> =
            std::env::var("EDDY_USED").unwrap_or("1111111".into()).bytes().map(|b| b == b'1').collect();
        let s = schema(Kind::Bid);
        let mut rows = Vec::new();
        Generator::default().fill(Kind::Bid, 0..100_000, &mut rows);
        let enc = Encoder::new(&Format::Jsonl, &s);
        let mut text = String::new();
        for r in &rows {
            enc.encode(r, &mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        let mut d = Decoder::new(&Format::Jsonl, &s, &used);
        let mut row = Row::new();
        for _ in 0..3 {
            let start = Instant::now();
            for _ in 0..10 {
                for l in &lines {
                    d.decode(l.as_bytes(), &mut row).unwrap();
                }
            }
            println!("{:.1} ns/line", start.elapsed().as_secs_f64() * 1e9 / (10 * lines.len()) as f64);
        }
    }

    /// `cargo test --release -p eddy-engine format::json::bench -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a test"]
    fn decode_speed() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Bid {
            auction: i64,
            bidder: i64,
            price: i64,
            channel: String,
            url: String,
            date_time: String,
            extra: Option<String>,
        }
        let n = 1_000_000;
        let s = schema(Kind::Bid);
        let mut rows = Vec::new();
        Generator::default().fill(Kind::Bid, 0..n * 50 / 46 + 50, &mut rows);
        rows.truncate(n as usize);
        let enc = Encoder::new(&Format::Jsonl, &s);
        let mut text = String::new();
        for r in &rows {
            enc.encode(r, &mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        let time = |name: &str, f: &mut dyn FnMut(&str) -> i64| {
            // The best of three runs: the machine is shared.
            let (mut secs, mut sum) = (f64::MAX, 0i64);
            for _ in 0..3 {
                let start = Instant::now();
                sum = 0;
                for l in &lines {
                    sum = sum.wrapping_add(f(l));
                }
                secs = secs.min(start.elapsed().as_secs_f64());
            }
            println!(
                "{name:<40} {:>6.1} ns/line {:>5.2} M lines/s ({sum})",
                secs * 1e9 / n as f64,
                n as f64 / secs / 1e6
            );
        };
        time("serde struct (all fields, date_time text)", &mut |l| {
            let b: Bid = serde_json::from_str(l).unwrap();
            b.price + b.date_time.len() as i64
        });
        time("serde struct + RFC 3339 via chrono", &mut |l| {
            let b: Bid = serde_json::from_str(l).unwrap();
            b.price + eddy_dsl::time::parse_timestamp(&b.date_time).unwrap()
        });
        time("from_utf8 only", &mut |l| std::str::from_utf8(l.as_bytes()).unwrap().len() as i64);
        time("serde_json IgnoredAny", &mut |l| {
            serde_json::from_str::<serde::de::IgnoredAny>(l).unwrap();
            1
        });
        let mut row = Row::new();
        let mut none = Decoder::new(&Format::Jsonl, &s, &[false; 7]);
        time("Decoder, no field", &mut |l| {
            none.decode(l.as_bytes(), &mut row).unwrap();
            1
        });
        let mut row = Row::new();
        let mut all = Decoder::new(&Format::Jsonl, &s, &[true; 7]);
        time("Decoder, all 7 fields", &mut |l| {
            all.decode(l.as_bytes(), &mut row).unwrap();
            row[2].as_int().unwrap()
        });
        let mut three = Decoder::new(&Format::Jsonl, &s, &[true, false, true, false, false, true, false]);
        time("Decoder, 3 fields (auction, price, date_time)", &mut |l| {
            three.decode(l.as_bytes(), &mut row).unwrap();
            row[2].as_int().unwrap()
        });
        let csv = Format::Csv { header: false, delimiter: b',' };
        let enc = Encoder::new(&csv, &s);
        let mut text = String::new();
        for r in &rows {
            enc.encode(r, &mut text);
        }
        let csv_lines: Vec<&str> = text.lines().collect();
        let mut csv3 = Decoder::new(&csv, &s, &[true, false, true, false, false, true, false]);
        let start = Instant::now();
        for l in &csv_lines {
            csv3.decode(l.as_bytes(), &mut row).unwrap();
        }
        println!("{:<40} {:>6.1} ns/line", "CSV Decoder, 3 fields", start.elapsed().as_secs_f64() * 1e9 / n as f64);
        let start = Instant::now();
        let mut out = String::new();
        let enc = Encoder::new(&Format::Jsonl, &s);
        for r in &rows {
            out.clear();
            enc.encode(r, &mut out);
        }
        println!("{:<40} {:>6.1} ns/line", "JSON Encoder", start.elapsed().as_secs_f64() * 1e9 / n as f64);
        let dir = std::env::temp_dir().join(format!("eddy-nexmark-bench-{}", std::process::id()));
        let start = Instant::now();
        let events = 2_000_000;
        crate::nexmark::write_jsonl(&dir, events, 42).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!("nexmark::write_jsonl {:.2} M events/s", events as f64 / secs / 1e6);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
