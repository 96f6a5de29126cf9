//! The `json` type: a JSON value kept as it came, as compact text with its keys in input order,
//! and what the language does with one: read a path of it, read text as one, convert a scalar.

use std::collections::HashMap;

use serde_json::value::RawValue;

/// `raw` (valid JSON) without the whitespace between its tokens.
pub fn compact(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// `text` read as JSON, compact; `None` when it is not JSON.
pub fn parse(text: &str) -> Option<String> {
    serde_json::from_str::<&RawValue>(text).ok().map(|raw| compact(raw.get()))
}

/// The value at `path` (`"a.b"`; a segment that is a number indexes an array), as compact
/// JSON text; `None` for a missing path or a JSON `null`.
pub fn get(text: &str, path: &str) -> Option<String> {
    let mut at: Box<RawValue> = serde_json::from_str(text).ok()?;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let inner = at.get().trim_start();
        at = if inner.starts_with('{') {
            let mut object: HashMap<String, Box<RawValue>> = serde_json::from_str(inner).ok()?;
            object.remove(segment)?
        } else if inner.starts_with('[') {
            let mut array: Vec<Box<RawValue>> = serde_json::from_str(inner).ok()?;
            let i: usize = segment.parse().ok()?;
            (i < array.len()).then(|| array.swap_remove(i))?
        } else {
            return None;
        };
    }
    let found = at.get().trim();
    (found != "null").then(|| compact(found))
}

/// The text of a JSON value: a string's content, unquoted; any other value's JSON text.
pub fn text(json: &str) -> String {
    match serde_json::from_str::<String>(json) {
        Ok(s) => s,
        Err(_) => json.to_string(),
    }
}

/// A JSON scalar as an int, a float or a bool (`None` for anything else, a string included).
pub fn int(json: &str) -> Option<i64> {
    serde_json::from_str(json).ok()
}

pub fn float(json: &str) -> Option<f64> {
    serde_json::from_str::<f64>(json).ok().filter(|_| !json.starts_with('"'))
}

pub fn bool(json: &str) -> Option<bool> {
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_conversions() {
        let j = parse(r#"{ "b": 1, "a": { "c": [10, {"d": "x y"}], "n": null }, "s": "q\"t" }"#).unwrap_or_default();
        assert_eq!(j, r#"{"b":1,"a":{"c":[10,{"d":"x y"}],"n":null},"s":"q\"t"}"#, "keys in input order");
        assert_eq!(get(&j, "a.c.1.d").as_deref(), Some(r#""x y""#));
        assert_eq!(get(&j, "a.c.0").as_deref(), Some("10"));
        assert_eq!(get(&j, "a.n"), None, "a JSON null");
        assert_eq!(get(&j, "a.zz"), None, "a missing key");
        assert_eq!(get(&j, "a.c.9"), None, "out of range");
        assert_eq!(get(&j, "b.c"), None, "into a scalar");
        assert_eq!(get(&j, "").as_deref(), Some(j.as_str()));
        assert_eq!(text(r#""q\"t""#), "q\"t");
        assert_eq!(text(r#"{"a":1}"#), r#"{"a":1}"#);
        assert_eq!((int("42"), int("4.5"), int(r#""42""#)), (Some(42), None, None));
        assert_eq!((float("4.5"), float("42"), float(r#""4.5""#)), (Some(4.5), Some(42.0), None));
        assert_eq!((bool("true"), bool("1")), (Some(true), None));
        assert_eq!(parse("{not json"), None);
    }
}
