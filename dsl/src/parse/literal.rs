//! Literals: numbers, durations, timestamps and strings, with their mistakes as diagnostics
//! (out of range, unknown unit, invalid escape) collected by the builder.

use super::{span, Builder, Rule, P};
use crate::ast::{Expr, ExprKind};
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::time::{parse_duration, parse_timestamp};
use crate::value::Value;

impl Builder {
    pub(super) fn literal(&mut self, p: P) -> Expr {
        let sp = span(&p);
        let text = p.as_str();
        let value = match p.as_rule() {
            Rule::int => return self.int_literal(text, sp),
            Rule::float => self.float_literal(text, sp),
            Rule::duration => self.duration_literal(text, sp),
            Rule::timestamp => self.timestamp_literal(text, sp),
            Rule::string => Value::str(&self.string_text(&p)),
            Rule::boolean => Value::Bool(text == "true"),
            Rule::null_lit => Value::Null,
            r => unreachable!("grammar: primary has no {r:?}"),
        };
        Expr { kind: ExprKind::Lit(value), span: sp }
    }

    /// `text` is the digits, with a leading `-` when unary minus was folded in.
    pub(super) fn int_literal(&mut self, text: &str, sp: Span) -> Expr {
        let value = match text.parse::<i64>() {
            Ok(n) => Value::Int(n),
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(sp, format!("integer literal {text} is out of range"))
                        .label("does not fit in 64 bits")
                        .help(format!("integers range from {} to {}; use a float", i64::MIN, i64::MAX)),
                );
                Value::Null
            }
        };
        Expr { kind: ExprKind::Lit(value), span: sp }
    }

    fn float_literal(&mut self, text: &str, sp: Span) -> Value {
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Value::float(x),
            _ => {
                self.diags.push(
                    Diagnostic::error(sp, format!("float literal {text} is out of range"))
                        .label("too large for a 64-bit float"),
                );
                Value::Null
            }
        }
    }

    fn duration_literal(&mut self, text: &str, sp: Span) -> Value {
        if let Some(ms) = parse_duration(text) {
            return Value::Duration(ms);
        }
        let unit_at = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let unit = &text[unit_at..];
        let diag = if ["ms", "s", "m", "h", "d"].contains(&unit) {
            Diagnostic::error(sp, format!("duration {text} is out of range")).label("too long to count in milliseconds")
        } else {
            let unit_span = Span::new(sp.start + unit_at, sp.end);
            let d = Diagnostic::error(unit_span, format!("unknown duration unit '{unit}'"))
                .label("expected ms, s, m, h or d");
            match unit_alias(unit) {
                Some(u) => d.help(format!("did you mean '{}{u}'?", &text[..unit_at])),
                None => d.help("durations are written like 250ms, 10s, 5m, 2h, 1d"),
            }
        };
        self.diags.push(diag);
        Value::Null
    }

    fn timestamp_literal(&mut self, text: &str, sp: Span) -> Value {
        match parse_timestamp(&text[1..]) {
            Some(ms) => Value::Timestamp(ms),
            None => {
                self.diags.push(
                    Diagnostic::error(sp, format!("invalid timestamp {text}"))
                        .label("not an RFC 3339 date-time")
                        .help("write timestamps like @2024-05-01T12:00:00Z or @2024-05-01T12:00:00.250+02:00"),
                );
                Value::Null
            }
        }
    }

    /// The text of a `string` pair with its JSON escapes resolved.
    pub(super) fn string_text(&mut self, p: &P) -> String {
        let start = p.as_span().start();
        let raw = p.as_str();
        let body = &raw[1..raw.len() - 1];
        match unescape(body) {
            Ok(s) => s,
            Err((at, len, message)) => {
                let at = start + 1 + at;
                self.diags.push(
                    Diagnostic::error(Span::new(at, at + len), message)
                        .label("invalid escape")
                        .help(r#"strings use JSON escapes: \" \\ \/ \b \f \n \r \t \uXXXX"#),
                );
                String::new()
            }
        }
    }
}

/// The duration unit meant by a longer spelling: `min` → `m`, `secs` → `s`, `millis` → `ms`.
pub(super) fn unit_alias(unit: &str) -> Option<&'static str> {
    let u = unit.to_ascii_lowercase();
    let aliases: [(&[&str], &str); 5] = [
        (&["msec", "msecs", "milli", "millis", "millisecond", "milliseconds"], "ms"),
        (&["sec", "secs", "second", "seconds"], "s"),
        (&["min", "mins", "minute", "minutes"], "m"),
        (&["hr", "hrs", "hour", "hours"], "h"),
        (&["day", "days"], "d"),
    ];
    let lower_is_unit = ["ms", "s", "m", "h", "d"].iter().find(|x| **x == u).copied();
    aliases.iter().find(|(names, _)| names.contains(&u.as_str())).map(|(_, to)| *to).or(lower_is_unit)
}

/// Resolves JSON escapes; on failure, the escape's byte offset and length, and a message.
pub(super) fn unescape(body: &str) -> Result<String, (usize, usize, String)> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err((i, 1, "unfinished escape at the end of a string".into()));
        };
        let simple = match e {
            '"' => Some('"'),
            '\\' => Some('\\'),
            '/' => Some('/'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'u' => None,
            other => {
                let len = 1 + other.len_utf8();
                return Err((i, len, format!("unknown escape '\\{other}' in a string")));
            }
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let hex = |at: usize| -> Option<u32> {
            let digits = body.get(at..at + 4)?;
            if digits.chars().all(|c| c.is_ascii_hexdigit()) {
                u32::from_str_radix(digits, 16).ok()
            } else {
                None
            }
        };
        let bad = |len: usize| (i, len, "invalid unicode escape in a string".to_string());
        let first = hex(i + 2).ok_or_else(|| bad(2))?;
        let (code, len) = if (0xD800..0xDC00).contains(&first) {
            // A high surrogate must be followed by `\uDC00`..`\uDFFF`.
            let low = (body.get(i + 6..i + 8) == Some("\\u")).then(|| hex(i + 8)).flatten();
            match low {
                Some(low) if (0xDC00..0xE000).contains(&low) => {
                    (0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00), 12)
                }
                _ => return Err(bad(6)),
            }
        } else {
            (first, 6)
        };
        out.push(char::from_u32(code).ok_or_else(|| bad(len))?);
        // Skip the hex digits (and the second escape of a surrogate pair).
        while chars.peek().is_some_and(|(j, _)| *j < i + len) {
            chars.next();
        }
    }
    Ok(out)
}
