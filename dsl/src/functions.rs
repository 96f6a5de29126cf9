//! Built-in scalar functions and user-defined ones: their signatures (for the checker) and
//! their evaluation (total: a bad argument gives `null`, never a panic).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::plan::UdfImpl;
use crate::time;
use crate::types::{Base, Type};
use crate::value::Value;

/// A function an expression may call.
#[derive(Clone)]
pub enum Function {
    Builtin(Builtin),
    Udf(Arc<Udf>),
}

impl Function {
    pub fn name(&self) -> &str {
        match self {
            Function::Builtin(b) => b.name(),
            Function::Udf(u) => &u.name,
        }
    }
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A function registered by an embedding program, with the signature the checker enforces.
pub struct Udf {
    pub name: String,
    pub params: Vec<Type>,
    pub ret: Type,
    pub imp: UdfImpl,
}

/// The user-defined functions known to the checker and the engine.
#[derive(Clone, Default)]
pub struct Functions {
    pub udfs: HashMap<String, Arc<Udf>>,
}

macro_rules! builtins {
    ($($variant:ident = $name:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Builtin { $($variant),* }
        impl Builtin {
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(Builtin::$variant => $name),* }
            }
        }
    };
}

builtins! {
    Lower = "lower", Upper = "upper", Trim = "trim", Len = "len", Contains = "contains",
    StartsWith = "starts_with", EndsWith = "ends_with", Split = "split", Replace = "replace",
    RegexMatch = "regex_match", Substr = "substr", Abs = "abs", Round = "round", Floor = "floor",
    Ceil = "ceil", Coalesce = "coalesce", Int = "int", Float = "float", String = "string",
    ToTimestamp = "to_timestamp", FormatTimestamp = "format_timestamp", ToFixed = "to_fixed",
    Now = "now", RegexExtract = "regex_extract", RegexReplace = "regex_replace", Strpos = "strpos",
    Year = "year", Month = "month", Day = "day", Hour = "hour", Minute = "minute", Second = "second",
    Weekday = "weekday", DateTrunc = "date_trunc", ParseTimestamp = "parse_timestamp",
    JsonGet = "json_get", ParseJson = "parse_json", Bool = "bool",
}

impl Builtin {
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.iter().copied().find(|b| b.name() == name)
    }

    /// How it is called, for diagnostics.
    pub fn usage(self) -> &'static str {
        match self {
            Builtin::Lower => "lower(string) -> string",
            Builtin::Upper => "upper(string) -> string",
            Builtin::Trim => "trim(string) -> string",
            Builtin::Len => "len(string | list) -> int",
            Builtin::Contains => "contains(string, string) -> bool",
            Builtin::StartsWith => "starts_with(string, string) -> bool",
            Builtin::EndsWith => "ends_with(string, string) -> bool",
            Builtin::Split => "split(string, separator: string) -> list<string>",
            Builtin::Replace => "replace(string, from: string, to: string) -> string",
            Builtin::RegexMatch => "regex_match(string, pattern: string) -> bool",
            Builtin::Substr => "substr(string, start: int[, length: int]) -> string (start counts from 1)",
            Builtin::Abs => "abs(int | float | duration) -> same type",
            Builtin::Round => "round(float[, digits: int]) -> float, round(int) -> int",
            Builtin::Floor => "floor(float) -> float",
            Builtin::Ceil => "ceil(float) -> float",
            Builtin::Coalesce => "coalesce(a, b, ...) -> the first non-null argument",
            Builtin::Int => "int(float | string | bool | timestamp | duration | json) -> int",
            Builtin::Float => "float(int | string | json) -> float",
            Builtin::String => "string(any) -> string",
            Builtin::ToTimestamp => "to_timestamp(int | string) -> timestamp",
            Builtin::FormatTimestamp => "format_timestamp(timestamp, pattern: string[, zone: string]) -> string",
            Builtin::RegexExtract => {
                "regex_extract(string, pattern: string[, group: int]) -> string (null when no match)"
            }
            Builtin::RegexReplace => {
                "regex_replace(string, pattern: string, replacement: string) -> string ($1 is group 1)"
            }
            Builtin::Strpos => "strpos(string, sub: string) -> int (1-based, 0 when absent)",
            Builtin::Year => "year(timestamp) -> int",
            Builtin::Month => "month(timestamp) -> int",
            Builtin::Day => "day(timestamp) -> int",
            Builtin::Hour => "hour(timestamp) -> int",
            Builtin::Minute => "minute(timestamp) -> int",
            Builtin::Second => "second(timestamp) -> int",
            Builtin::Weekday => "weekday(timestamp) -> int (1 = Monday ... 7 = Sunday)",
            Builtin::DateTrunc => {
                "date_trunc(unit: string, timestamp) -> timestamp (second, minute, hour, day, week, month, year)"
            }
            Builtin::ParseTimestamp => {
                "parse_timestamp(string, pattern: string) -> timestamp (null when it does not match)"
            }
            Builtin::ToFixed => "to_fixed(int | float, digits: int) -> string (digits from 0 to 1074, else null)",
            Builtin::Now => "now() -> timestamp",
            Builtin::JsonGet => {
                "json_get(json, path: string) -> json (\"a.b\"; a number indexes an array; null when missing)"
            }
            Builtin::ParseJson => "parse_json(string) -> json (null when it is not JSON)",
            Builtin::Bool => "bool(json | string) -> bool (true or false; null otherwise)",
        }
    }

    /// The result type for these argument types, or what is wrong with them.
    pub fn check(self, args: &[Type]) -> Result<Type, std::string::String> {
        use Builtin::*;
        let arity = |lo: usize, hi: usize| -> Result<(), std::string::String> {
            if args.len() < lo || args.len() > hi {
                let n = if lo == hi { format!("{lo}") } else { format!("{lo} to {hi}") };
                Err(format!(
                    "{}() takes {n} argument{}, found {}",
                    self.name(),
                    if hi == 1 { "" } else { "s" },
                    args.len()
                ))
            } else {
                Ok(())
            }
        };
        let nullable = args.iter().any(|t| t.nullable);
        let want = |i: usize, ok: &[Base], what: &str| -> Result<(), std::string::String> {
            let t = &args[i];
            if t.base == Base::Null || ok.contains(&t.base) {
                Ok(())
            } else {
                Err(format!("argument {} of {}() must be {what}, found {t}", i + 1, self.name()))
            }
        };
        let s = [Base::String];
        let num = [Base::Int, Base::Float];
        let out = |base: Base| Ok(Type::new(base).with_nullable(nullable));
        match self {
            Lower | Upper | Trim => {
                arity(1, 1)?;
                want(0, &s, "a string")?;
                out(Base::String)
            }
            Len => {
                arity(1, 1)?;
                if !matches!(args[0].base, Base::String | Base::List(_) | Base::Null) {
                    return Err(format!("len() takes a string or a list, found {}", args[0]));
                }
                out(Base::Int)
            }
            Contains | StartsWith | EndsWith | RegexMatch => {
                arity(2, 2)?;
                want(0, &s, "a string")?;
                want(1, &s, "a string")?;
                out(Base::Bool)
            }
            Split => {
                arity(2, 2)?;
                want(0, &s, "a string")?;
                want(1, &s, "a string")?;
                Ok(Type::list(Type::STRING).with_nullable(nullable))
            }
            Replace => {
                arity(3, 3)?;
                (0..3).try_for_each(|i| want(i, &s, "a string"))?;
                out(Base::String)
            }
            Substr => {
                arity(2, 3)?;
                want(0, &s, "a string")?;
                (1..args.len()).try_for_each(|i| want(i, &[Base::Int], "an int"))?;
                out(Base::String)
            }
            Abs => {
                arity(1, 1)?;
                want(0, &[Base::Int, Base::Float, Base::Duration], "a number or a duration")?;
                Ok(args[0].clone())
            }
            Round => {
                arity(1, 2)?;
                want(0, &num, "a number")?;
                if args.len() == 2 {
                    want(1, &[Base::Int], "an int")?;
                    return out(Base::Float);
                }
                Ok(if args[0].base == Base::Int { args[0].clone() } else { Type::FLOAT.with_nullable(nullable) })
            }
            Floor | Ceil => {
                arity(1, 1)?;
                want(0, &num, "a number")?;
                Ok(if args[0].base == Base::Int { args[0].clone() } else { Type::FLOAT.with_nullable(nullable) })
            }
            Coalesce => {
                if args.is_empty() {
                    return Err("coalesce() takes at least one argument".into());
                }
                let mut ty = args[0].clone();
                for (i, t) in args.iter().enumerate().skip(1) {
                    ty = ty.unify(t).ok_or_else(|| {
                        format!(
                            "arguments of coalesce() must have one type: argument {} is {t}, the ones before are {ty}",
                            i + 1
                        )
                    })?;
                }
                Ok(ty.with_nullable(args.iter().all(|t| t.nullable)))
            }
            Int => {
                arity(1, 1)?;
                want(
                    0,
                    &[Base::Int, Base::Float, Base::String, Base::Bool, Base::Timestamp, Base::Duration, Base::Json],
                    "a number, string, bool, timestamp, duration or json",
                )?;
                let may_fail = matches!(args[0].base, Base::String | Base::Float | Base::Json);
                Ok(Type::INT.with_nullable(nullable || may_fail))
            }
            Float => {
                arity(1, 1)?;
                want(0, &[Base::Int, Base::Float, Base::String, Base::Json], "a number, a string or json")?;
                Ok(Type::FLOAT.with_nullable(nullable || matches!(args[0].base, Base::String | Base::Json)))
            }
            Bool => {
                arity(1, 1)?;
                want(0, &[Base::Bool, Base::String, Base::Json], "json, a string or a bool")?;
                Ok(Type::BOOL.with_nullable(nullable || args[0].base != Base::Bool))
            }
            JsonGet => {
                arity(2, 2)?;
                want(0, &[Base::Json], "json")?;
                want(1, &s, "a string (a path: \"a.b\")")?;
                Ok(Type::JSON.nullable())
            }
            ParseJson => {
                arity(1, 1)?;
                want(0, &s, "a string")?;
                Ok(Type::JSON.nullable())
            }
            String => {
                arity(1, 1)?;
                out(Base::String)
            }
            ToTimestamp => {
                arity(1, 1)?;
                want(0, &[Base::Int, Base::String, Base::Timestamp], "an int (epoch ms) or a string (RFC 3339)")?;
                Ok(Type::TIMESTAMP.with_nullable(nullable || args[0].base == Base::String))
            }
            FormatTimestamp => {
                arity(2, 3)?;
                want(0, &[Base::Timestamp], "a timestamp")?;
                (1..args.len()).try_for_each(|i| want(i, &s, "a string"))?;
                Ok(Type::STRING.nullable())
            }
            RegexExtract => {
                arity(2, 3)?;
                want(0, &s, "a string")?;
                want(1, &s, "a string")?;
                if args.len() == 3 {
                    want(2, &[Base::Int], "an int")?;
                }
                Ok(Type::STRING.nullable())
            }
            RegexReplace => {
                arity(3, 3)?;
                (0..3).try_for_each(|i| want(i, &s, "a string"))?;
                out(Base::String)
            }
            Strpos => {
                arity(2, 2)?;
                want(0, &s, "a string")?;
                want(1, &s, "a string")?;
                out(Base::Int)
            }
            Year | Month | Day | Hour | Minute | Second | Weekday => {
                arity(1, 1)?;
                want(0, &[Base::Timestamp], "a timestamp")?;
                out(Base::Int)
            }
            DateTrunc => {
                arity(2, 2)?;
                want(0, &s, "a string (second, minute, hour, day, week, month or year)")?;
                want(1, &[Base::Timestamp], "a timestamp")?;
                out(Base::Timestamp)
            }
            ParseTimestamp => {
                arity(2, 2)?;
                want(0, &s, "a string")?;
                want(1, &s, "a string")?;
                Ok(Type::TIMESTAMP.nullable())
            }
            ToFixed => {
                arity(2, 2)?;
                want(0, &num, "a number")?;
                want(1, &[Base::Int], "an int")?;
                out(Base::String)
            }
            Now => {
                arity(0, 0)?;
                Ok(Type::TIMESTAMP)
            }
        }
    }

    /// Evaluates the function; any null argument gives null (except for `coalesce`).
    pub fn call(self, args: &[Value]) -> Value {
        use Builtin::*;
        match self {
            Coalesce => return args.iter().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null),
            Now => {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                return Value::Timestamp(ms);
            }
            _ if args.iter().any(Value::is_null) => return Value::Null,
            _ => {}
        }
        let str_arg = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("");
        let int_arg = |i: usize| args.get(i).and_then(Value::as_int);
        match self {
            Lower => Value::str(&str_arg(0).to_lowercase()),
            Upper => Value::str(&str_arg(0).to_uppercase()),
            Trim => Value::str(str_arg(0).trim()),
            Len => match &args[0] {
                Value::List(items) => Value::Int(items.len() as i64),
                v => Value::Int(v.as_str().map_or(0, |s| s.chars().count()) as i64),
            },
            Contains => Value::Bool(str_arg(0).contains(str_arg(1))),
            StartsWith => Value::Bool(str_arg(0).starts_with(str_arg(1))),
            EndsWith => Value::Bool(str_arg(0).ends_with(str_arg(1))),
            Split => {
                let sep = str_arg(1);
                let parts: Vec<Value> = if sep.is_empty() {
                    str_arg(0).chars().map(|c| Value::str(c.encode_utf8(&mut [0; 4]))).collect()
                } else {
                    str_arg(0).split(sep).map(Value::str).collect()
                };
                Value::List(parts.into())
            }
            Replace => Value::str(&str_arg(0).replace(str_arg(1), str_arg(2))),
            RegexMatch | RegexExtract | RegexReplace => match regex(str_arg(1)) {
                // The pattern, computed per record: compiled here (a constant one is compiled once,
                // see `eval`).
                Ok(re) => {
                    let mut rest = vec![args[0].clone()];
                    rest.extend_from_slice(&args[2..]);
                    self.with_regex(&re, &rest)
                }
                Err(_) => Value::Null,
            },
            Strpos => match str_arg(0).find(str_arg(1)) {
                Some(at) => Value::Int(str_arg(0)[..at].chars().count() as i64 + 1),
                None => Value::Int(0),
            },
            Year | Month | Day | Hour | Minute | Second | Weekday => {
                let part = match self {
                    Year => time::Part::Year,
                    Month => time::Part::Month,
                    Day => time::Part::Day,
                    Hour => time::Part::Hour,
                    Minute => time::Part::Minute,
                    Second => time::Part::Second,
                    _ => time::Part::Weekday,
                };
                match &args[0] {
                    Value::Timestamp(t) => time::part(*t, part).map_or(Value::Null, Value::Int),
                    _ => Value::Null,
                }
            }
            DateTrunc => match &args[1] {
                Value::Timestamp(t) => time::truncate(*t, str_arg(0)).map_or(Value::Null, Value::Timestamp),
                _ => Value::Null,
            },
            ParseTimestamp => time::parse_with(str_arg(0), str_arg(1)).map_or(Value::Null, Value::Timestamp),
            Substr => substr(str_arg(0), int_arg(1).unwrap_or(1), int_arg(2)),
            Abs => match &args[0] {
                Value::Int(i) => i.checked_abs().map_or(Value::Null, Value::Int),
                Value::Duration(d) => d.checked_abs().map_or(Value::Null, Value::Duration),
                v => v.as_float().map_or(Value::Null, |x| Value::float(x.abs())),
            },
            Round | Floor | Ceil => match (&args[0], args.get(1)) {
                (Value::Int(i), None) => Value::Int(*i),
                (v, digits) => {
                    let x = v.as_float().unwrap_or(f64::NAN);
                    let scale = 10f64.powi(digits.and_then(Value::as_int).unwrap_or(0).clamp(-300, 300) as i32);
                    let f = match self {
                        Floor => f64::floor,
                        Ceil => f64::ceil,
                        _ => f64::round,
                    };
                    let scaled = x * scale;
                    // At 2^52 and beyond, a float has no fraction: `x` has nothing to round at
                    // these digits (and scaling it could overflow to infinity).
                    Value::float(match digits {
                        None => f(x),
                        Some(_) if !scaled.is_finite() || scaled.abs() >= (1u64 << 52) as f64 => x,
                        Some(_) => f(scaled) / scale,
                    })
                }
            },
            Int => match &args[0] {
                Value::Int(i) | Value::Timestamp(i) | Value::Duration(i) => Value::Int(*i),
                Value::Bool(b) => Value::Int(i64::from(*b)),
                Value::Float(f) => {
                    let x = f.get().trunc();
                    if x.is_finite() && x >= i64::MIN as f64 && x < i64::MAX as f64 {
                        Value::Int(x as i64)
                    } else {
                        Value::Null
                    }
                }
                Value::Str(s) => s.trim().parse::<i64>().map_or(Value::Null, Value::Int),
                Value::Json(j) => crate::json::int(j).map_or(Value::Null, Value::Int),
                _ => Value::Null,
            },
            Float => match &args[0] {
                Value::Str(s) => s.trim().parse::<f64>().map_or(Value::Null, Value::float),
                Value::Json(j) => crate::json::float(j).map_or(Value::Null, Value::float),
                v => v.as_float().map_or(Value::Null, Value::float),
            },
            String => match &args[0] {
                Value::Json(j) => Value::str(&crate::json::text(j)),
                v => {
                    let mut s = std::string::String::new();
                    v.write_text(&mut s);
                    Value::str(&s)
                }
            },
            Bool => match &args[0] {
                Value::Bool(b) => Value::Bool(*b),
                Value::Json(j) => crate::json::bool(j).map_or(Value::Null, Value::Bool),
                Value::Str(s) => match s.trim() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::Null,
                },
                _ => Value::Null,
            },
            JsonGet => match &args[0] {
                Value::Json(j) => crate::json::get(j, str_arg(1)).map_or(Value::Null, |v| Value::Json(v.into())),
                _ => Value::Null,
            },
            ParseJson => crate::json::parse(str_arg(0)).map_or(Value::Null, |j| Value::Json(j.into())),
            ToTimestamp => match &args[0] {
                Value::Int(i) | Value::Timestamp(i) => {
                    time::checked_timestamp(*i).map_or(Value::Null, Value::Timestamp)
                }
                Value::Str(s) => time::parse_timestamp(s).map_or(Value::Null, Value::Timestamp),
                _ => Value::Null,
            },
            FormatTimestamp => {
                let text = match (&args[0], args[1].as_str(), args.get(2).and_then(Value::as_str)) {
                    (Value::Timestamp(t), Some(p), None) => time::format_timestamp(*t, p),
                    (Value::Timestamp(t), Some(p), Some(zone)) => time::format_timestamp_in(*t, p, zone),
                    _ => None,
                };
                text.map_or(Value::Null, |s| Value::str(&s))
            }
            ToFixed => match (&args[0], int_arg(1)) {
                (v, Some(digits)) if (0..=MAX_FIXED_DIGITS).contains(&digits) => to_fixed(v, digits as usize),
                _ => Value::Null,
            },
            Coalesce | Now => Value::Null,
        }
    }
}

impl Builtin {
    /// Whether argument 1 is a regular expression (compiled once when it is a constant).
    pub fn takes_pattern(self) -> bool {
        matches!(self, Builtin::RegexMatch | Builtin::RegexExtract | Builtin::RegexReplace)
    }

    /// A regex function on its compiled pattern, given its other arguments (the subject, then
    /// the group or the replacement); any null gives null.
    pub fn with_regex(self, re: &regex::Regex, args: &[Value]) -> Value {
        if args.iter().any(Value::is_null) {
            return Value::Null;
        }
        let Some(subject) = args[0].as_str() else { return Value::Null };
        match self {
            Builtin::RegexMatch => Value::Bool(re.is_match(subject)),
            Builtin::RegexExtract => {
                let group = args.get(1).and_then(Value::as_int).unwrap_or(0);
                let found = usize::try_from(group).ok().and_then(|g| re.captures(subject)?.get(g));
                found.map_or(Value::Null, |m| Value::str(m.as_str()))
            }
            Builtin::RegexReplace => {
                let replacement = args.get(1).and_then(Value::as_str).unwrap_or("");
                Value::str(&re.replace_all(subject, replacement))
            }
            _ => Value::Null,
        }
    }
}

/// The most digits `to_fixed` writes after the point: a float's exact decimal expansion has at
/// most 1074 (the smallest subnormal, 2^-1074).
pub const MAX_FIXED_DIGITS: i64 = 1074;

/// `to_fixed(v, digits)`: an int exactly (not through a float), a float rounded to `digits`,
/// a non-finite float as sinks write it (`NaN`, `Infinity`, `-Infinity`).
fn to_fixed(v: &Value, digits: usize) -> Value {
    match v {
        Value::Int(i) if digits == 0 => Value::str(&i.to_string()),
        Value::Int(i) => Value::str(&format!("{i}.{:0<digits$}", "")),
        v => match v.as_float() {
            Some(x) if x.is_finite() => Value::str(&format!("{x:.digits$}")),
            Some(x) => {
                let mut s = String::new();
                Value::float(x).write_text(&mut s);
                Value::str(&s)
            }
            None => Value::Null,
        },
    }
}

/// `substr(s, start, len)`: characters from `start` (1 is the first; 0 or negative count from
/// 1 like SQL), at most `len` of them.
fn substr(s: &str, start: i64, len: Option<i64>) -> Value {
    let (from, to) = match len {
        Some(n) if n < 0 => return Value::Null,
        Some(n) => (start, start.saturating_add(n)),
        None => (start, i64::MAX),
    };
    let from = from.max(1) as usize - 1;
    let to = (to.max(1) as usize).saturating_sub(1);
    if to <= from {
        return Value::str("");
    }
    let text: std::string::String = s.chars().skip(from).take(to - from).collect();
    Value::str(&text)
}

/// The largest compiled form a `regex_match` pattern may take (and its lazy DFA's cache):
/// it bounds the time and memory compiling a pattern takes, so a pathological one is
/// rejected at check time (or, for a pattern computed per record, gives null) instead of
/// running for minutes.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a `regex_match` pattern within `REGEX_SIZE_LIMIT`.
pub fn regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).dfa_size_limit(REGEX_SIZE_LIMIT).build()
}

/// Why a constant `regex_match` pattern cannot be used, in one line.
pub fn regex_problem(pattern: &str) -> Option<String> {
    match regex(pattern) {
        Ok(_) => None,
        Err(regex::Error::CompiledTooBig(limit)) => {
            Some(format!("the pattern is too large once compiled (over {} KiB)", limit >> 10))
        }
        Err(e) => {
            let text = e.to_string();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid pattern");
            Some(format!("invalid pattern: {}", last.trim().trim_start_matches("error: ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(b: Builtin, args: &[Value]) -> Value {
        b.call(args)
    }

    #[test]
    fn strings() {
        assert_eq!(call(Builtin::Substr, &[Value::str("hello"), Value::Int(2), Value::Int(3)]), Value::str("ell"));
        assert_eq!(call(Builtin::Substr, &[Value::str("hello"), Value::Int(4)]), Value::str("lo"));
        assert_eq!(call(Builtin::Substr, &[Value::str("hello"), Value::Int(0), Value::Int(2)]), Value::str("h"));
        assert_eq!(call(Builtin::Len, &[Value::str("héé")]), Value::Int(3));
        assert_eq!(
            call(Builtin::Split, &[Value::str("a,b"), Value::str(",")]),
            Value::List(vec![Value::str("a"), Value::str("b")].into())
        );
        assert_eq!(call(Builtin::Upper, &[Value::Null]), Value::Null);
    }

    #[test]
    fn numbers() {
        assert_eq!(call(Builtin::ToFixed, &[Value::float(2.0 / 3.0), Value::Int(3)]), Value::str("0.667"));
        assert_eq!(call(Builtin::ToFixed, &[Value::Int(5), Value::Int(2)]), Value::str("5.00"));
    }

    #[test]
    fn to_fixed_is_exact_for_ints_and_total_for_floats() {
        let fixed = |v: Value, d: i64| call(Builtin::ToFixed, &[v, Value::Int(d)]);
        assert_eq!(fixed(Value::Int(i64::MAX), 0), Value::str("9223372036854775807"));
        assert_eq!(fixed(Value::Int(i64::MIN), 2), Value::str("-9223372036854775808.00"));
        assert_eq!(fixed(Value::float(f64::INFINITY), 2), Value::str("Infinity"));
        assert_eq!(fixed(Value::float(f64::NEG_INFINITY), 0), Value::str("-Infinity"));
        assert_eq!(fixed(Value::float(f64::NAN), 1), Value::str("NaN"));
        // More than 100 digits, exactly: 0.1 is 0.1000000000000000055511151231257827...
        let long = fixed(Value::float(0.1), 120);
        assert_eq!(long.as_str().map(str::len), Some(122));
        assert!(long.as_str().is_some_and(|s| s.starts_with("0.1000000000000000055511151231257827")));
        assert_eq!(fixed(Value::float(0.5), 1075), Value::Null);
        assert_eq!(fixed(Value::float(0.5), -1), Value::Null);
    }

    #[test]
    fn regex_extract_replace_and_strpos() {
        let s = |x: &str| Value::str(x);
        let extract = |args: &[Value]| call(Builtin::RegexExtract, args);
        assert_eq!(extract(&[s("id=42&x=7"), s("[0-9]+")]), s("42"));
        assert_eq!(extract(&[s("id=42&x=7"), s("x=([0-9]+)"), Value::Int(1)]), s("7"));
        assert_eq!(extract(&[s("id=42"), s("x=([0-9]+)"), Value::Int(1)]), Value::Null, "no match");
        assert_eq!(extract(&[s("id=42"), s("id=([0-9]+)"), Value::Int(2)]), Value::Null, "no such group");
        assert_eq!(extract(&[s("id=42"), s("id=([0-9]+)"), Value::Int(-1)]), Value::Null);
        assert_eq!(extract(&[s("id=42"), s("(")]), Value::Null, "a bad pattern computed per record");
        let replace = |args: &[Value]| call(Builtin::RegexReplace, args);
        assert_eq!(replace(&[s("a1b22c"), s("([0-9]+)"), s("<$1>")]), s("a<1>b<22>c"));
        assert_eq!(replace(&[s("a1"), s("[0-9]"), s("$$")]), s("a$"));
        let strpos = |a: &str, b: &str| call(Builtin::Strpos, &[s(a), s(b)]);
        assert_eq!(strpos("héllo wörld", "wö"), Value::Int(7), "in characters, not bytes");
        assert_eq!(strpos("abc", "z"), Value::Int(0));
        assert_eq!(strpos("abc", ""), Value::Int(1));
    }

    #[test]
    fn round_leaves_numbers_without_a_fraction_at_those_digits() {
        let round = |x: f64, d: i64| call(Builtin::Round, &[Value::float(x), Value::Int(d)]);
        assert_eq!(round(1e300, 10), Value::float(1e300));
        assert_eq!(round(-1e300, 300), Value::float(-1e300));
        assert_eq!(round(2.5e15, 3), Value::float(2.5e15));
        assert_eq!(round(1.25, 1), Value::float(1.3));
        assert_eq!(round(1234.5, -2), Value::float(1200.0));
        assert_eq!(call(Builtin::Round, &[Value::float(2.5)]), Value::float(3.0));
        assert_eq!(call(Builtin::Round, &[Value::float(1.2345), Value::Int(2)]), Value::float(1.23));
        assert_eq!(call(Builtin::Int, &[Value::str("x")]), Value::Null);
        assert_eq!(call(Builtin::Int, &[Value::float(-2.7)]), Value::Int(-2));
        assert_eq!(call(Builtin::Coalesce, &[Value::Null, Value::Int(1)]), Value::Int(1));
    }

    #[test]
    fn signatures() {
        assert_eq!(Builtin::Lower.check(&[Type::STRING.nullable()]), Ok(Type::STRING.nullable()));
        assert!(Builtin::Lower.check(&[Type::INT]).unwrap_err().contains("found int"));
        assert!(Builtin::Substr.check(&[Type::STRING]).unwrap_err().contains("2 to 3 arguments"));
        assert_eq!(Builtin::Coalesce.check(&[Type::INT.nullable(), Type::INT]), Ok(Type::INT));
    }
}
