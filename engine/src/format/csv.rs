//! CSV (RFC 4180 quoting), one record per line: a hand-written splitter and typed cells.
//!
//! Quoted cells may hold the delimiter and doubled quotes (`"a ""b"", c"`), but not line
//! breaks: the decoder sees one line at a time, so a quoted field spanning lines is an
//! error (`unterminated quoted field`). A quote inside an unquoted cell is taken literally.
//! Cells: an unquoted empty cell is null for a nullable field, the empty string for a
//! non-nullable string and an error otherwise; a quoted empty cell (`""`) is always the
//! empty string for string fields. Numbers, bools (`true`/`false`), timestamps (epoch ms or
//! RFC 3339) and durations (ms or `10s`) are parsed from the text, ignoring surrounding
//! spaces; lists are JSON text in the cell.
//!
//! A cell of a field the pipeline does not read is not checked (only the line's quoting is),
//! and its column may be missing from the header: a wrong value there loses no record.

use eddy_dsl::{Base, Row, Schema, Value};
use memchr::{memchr, memchr3};

use super::{line_str, parse_duration_text, parse_timestamp_text, quote_snippet, reset_row, FieldInfo};

/// Where one cell's text is: in the line itself, or (when it had doubled quotes) unescaped
/// in the scratch buffer.
#[derive(Clone, Copy)]
struct Cell {
    start: usize,
    end: usize,
    in_scratch: bool,
    quoted: bool,
}

pub(super) struct CsvDecoder {
    fields: Vec<FieldInfo>,
    delimiter: u8,
    /// The schema field of each column, if any.
    columns: Vec<Option<usize>>,
    cells: Vec<Cell>,
    scratch: String,
}

impl CsvDecoder {
    pub(super) fn new(fields: Vec<FieldInfo>, delimiter: u8) -> CsvDecoder {
        let columns = (0..fields.len()).map(Some).collect();
        CsvDecoder { fields, delimiter, columns, cells: Vec::new(), scratch: String::new() }
    }

    pub(super) fn set_header(&mut self, line: &[u8]) -> Result<(), String> {
        let text = line_str(line)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        self.split(text)?;
        let mut seen = vec![false; self.fields.len()];
        let mut columns = Vec::with_capacity(self.cells.len());
        for j in 0..self.cells.len() {
            let name = self.cell_text(text, j);
            let field = self.fields.iter().position(|f| *f.name == *name);
            if let Some(i) = field {
                if std::mem::replace(&mut seen[i], true) {
                    return Err(format!("duplicate column '{name}' in CSV header"));
                }
            }
            columns.push(field);
        }
        // Every non-nullable field the pipeline reads must be there.
        if let Some(f) = self.fields.iter().zip(&seen).find(|(f, seen)| f.used && !f.ty.nullable && !**seen) {
            return Err(format!("missing column '{}', which the pipeline reads", f.0.name));
        }
        self.columns = columns;
        Ok(())
    }

    pub(super) fn decode(&mut self, line: &[u8], row: &mut Row) -> Result<(), String> {
        let text = line_str(line)?;
        self.split(text)?;
        if self.cells.len() != self.columns.len() {
            return Err(format!("expected {} columns, found {}", self.columns.len(), self.cells.len()));
        }
        reset_row(row, self.fields.len());
        for (j, column) in self.columns.iter().enumerate() {
            if let Some(i) = *column {
                let cell = self.cells[j];
                let src = if cell.in_scratch { self.scratch.as_str() } else { text };
                let field = &self.fields[i];
                if field.used {
                    row[i] = cell_value(&src[cell.start..cell.end], cell.quoted, field)?;
                }
            }
        }
        Ok(())
    }

    fn cell_text<'a>(&'a self, line: &'a str, j: usize) -> &'a str {
        let cell = self.cells[j];
        let src = if cell.in_scratch { self.scratch.as_str() } else { line };
        &src[cell.start..cell.end]
    }

    /// Splits a line into `self.cells`. All slicing is at ASCII bytes (quotes, the
    /// delimiter), hence at char boundaries.
    fn split(&mut self, line: &str) -> Result<(), String> {
        let d = self.delimiter;
        if !d.is_ascii() {
            return Err("the CSV delimiter must be an ASCII character".into());
        }
        self.cells.clear();
        self.scratch.clear();
        let bytes = line.as_bytes();
        let mut pos = 0;
        loop {
            if bytes.get(pos) != Some(&b'"') {
                let end = memchr(d, &bytes[pos..]).map_or(bytes.len(), |k| pos + k);
                self.cells.push(Cell { start: pos, end, in_scratch: false, quoted: false });
                if end == bytes.len() {
                    return Ok(());
                }
                pos = end + 1;
                continue;
            }
            let open = pos;
            let mut start = pos + 1;
            let mut in_scratch = None;
            loop {
                let Some(q) = memchr(b'"', &bytes[start..]).map(|k| start + k) else {
                    return Err(format!(
                        "invalid CSV at column {}: unterminated quoted field (fields spanning lines are not supported)",
                        open + 1
                    ));
                };
                if bytes.get(q + 1) == Some(&b'"') {
                    in_scratch.get_or_insert(self.scratch.len());
                    self.scratch.push_str(&line[start..=q]);
                    start = q + 2;
                    continue;
                }
                let cell = match in_scratch {
                    None => Cell { start, end: q, in_scratch: false, quoted: true },
                    Some(s) => {
                        self.scratch.push_str(&line[start..q]);
                        Cell { start: s, end: self.scratch.len(), in_scratch: true, quoted: true }
                    }
                };
                self.cells.push(cell);
                pos = q + 1;
                break;
            }
            match bytes.get(pos) {
                None => return Ok(()),
                Some(&b) if b == d => pos += 1,
                Some(_) => {
                    return Err(format!(
                        "invalid CSV at column {}: expected a delimiter after a closing quote",
                        pos + 1
                    ))
                }
            }
        }
    }
}

/// Converts one cell's text to a value of its field's type.
fn cell_value(text: &str, quoted: bool, field: &FieldInfo) -> Result<Value, String> {
    let ty = &field.ty;
    if text.is_empty() {
        return match ty.base {
            Base::String if quoted || !ty.nullable => Ok(Value::str("")),
            _ if ty.nullable => Ok(Value::Null),
            _ => Err(format!("field '{}': expected {ty}, found an empty cell", field.name)),
        };
    }
    let trimmed = text.trim_ascii();
    let value = match &ty.base {
        Base::String => return Ok(Value::str(text)),
        Base::Int => trimmed.parse().ok().map(Value::Int),
        Base::Float => trimmed.parse().ok().map(Value::float),
        Base::Bool => match trimmed {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Base::Timestamp => parse_timestamp_text(trimmed).map(Value::Timestamp),
        Base::Duration => parse_duration_text(trimmed).map(Value::Duration),
        Base::List(_) | Base::Record(_) | Base::Json => return super::json::parse_value(text, ty, &field.name),
        Base::Null => None,
    };
    value.ok_or_else(|| format!("field '{}': expected {ty}, found {}", field.name, quote_snippet(text)))
}

pub(super) struct CsvEncoder {
    header: Option<String>,
    delimiter: u8,
    width: usize,
}

impl CsvEncoder {
    pub(super) fn new(schema: &Schema, header: bool, delimiter: u8) -> CsvEncoder {
        let header = header.then(|| {
            let mut line = String::new();
            for (i, name) in schema.names().enumerate() {
                if i > 0 {
                    line.push(char::from(delimiter));
                }
                push_cell(name, delimiter, &mut line);
            }
            line.push('\n');
            line
        });
        CsvEncoder { header, delimiter, width: schema.len() }
    }

    pub(super) fn header(&self) -> Option<String> {
        self.header.clone()
    }

    pub(super) fn encode(&self, row: &[Value], out: &mut String) {
        for i in 0..self.width {
            if i > 0 {
                out.push(char::from(self.delimiter));
            }
            match row.get(i).unwrap_or(&Value::Null) {
                Value::Null => {}
                // `""` so that it reads back as the empty string, not as null.
                Value::Str(s) if s.is_empty() => out.push_str("\"\""),
                Value::Str(s) => push_cell(s, self.delimiter, out),
                other => {
                    let start = out.len();
                    super::write_text(other, out);
                    if needs_quotes(&out[start..], self.delimiter) {
                        let text = out.split_off(start);
                        push_quoted(&text, out);
                    }
                }
            }
        }
        out.push('\n');
    }
}

fn needs_quotes(text: &str, delimiter: u8) -> bool {
    let b = text.as_bytes();
    memchr3(b'"', b'\n', b'\r', b).is_some() || memchr(delimiter, b).is_some()
}

fn push_cell(text: &str, delimiter: u8, out: &mut String) {
    if needs_quotes(text, delimiter) {
        push_quoted(text, out);
    } else {
        out.push_str(text);
    }
}

fn push_quoted(text: &str, out: &mut String) {
    out.push('"');
    for (i, part) in text.split('"').enumerate() {
        if i > 0 {
            out.push_str("\"\"");
        }
        out.push_str(part);
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::{schema, CSV};
    use super::super::{Decoder, Encoder, Format};
    use eddy_dsl::{Row, Schema, Type, Value};

    fn s3() -> Schema {
        schema(&[("id", Type::INT), ("name", Type::STRING), ("score", Type::FLOAT.nullable())])
    }

    fn dec(format: &Format, header: Option<&str>, line: &str) -> Result<Row, String> {
        let mut d = Decoder::new(format, &s3(), &[true; 3]);
        if let Some(h) = header {
            d.set_header(h.as_bytes())?;
        }
        let mut row = Row::new();
        d.decode(line.as_bytes(), &mut row).map(|()| row)
    }

    const NO_HEADER: Format = Format::Csv { header: false, delimiter: b',' };

    #[test]
    fn quoting() {
        let row = dec(&NO_HEADER, None, "1,\"a, \"\"b\"\" c\",2.5\r").unwrap();
        assert_eq!(row, vec![Value::Int(1), Value::str("a, \"b\" c"), Value::float(2.5)]);
        let row = dec(&NO_HEADER, None, "1,\"\"\"\",").unwrap();
        assert_eq!(row, vec![Value::Int(1), Value::str("\""), Value::Null]);
        // A quote inside an unquoted cell is literal; unicode passes through.
        let row = dec(&NO_HEADER, None, " 2 ,ab\"c é,\" 3 \"").unwrap();
        assert_eq!(row, vec![Value::Int(2), Value::str("ab\"c é"), Value::float(3.0)]);
        let semi = Format::Csv { header: false, delimiter: b';' };
        let row = dec(&semi, None, "3;x,y;").unwrap();
        assert_eq!(row, vec![Value::Int(3), Value::str("x,y"), Value::Null]);
    }

    #[test]
    fn empty_cells() {
        let s = schema(&[("a", Type::STRING), ("b", Type::STRING.nullable()), ("c", Type::STRING.nullable())]);
        let mut d = Decoder::new(&NO_HEADER, &s, &[true; 3]);
        let mut row = Row::new();
        d.decode(b",,\"\"", &mut row).unwrap();
        assert_eq!(row, vec![Value::str(""), Value::Null, Value::str("")]);
        assert_eq!(dec(&NO_HEADER, None, ",x,").unwrap_err(), "field 'id': expected int, found an empty cell");
    }

    #[test]
    fn rejections() {
        let cases = [
            ("1,x", "expected 3 columns, found 2"),
            ("1,x,2,3", "expected 3 columns, found 4"),
            ("abc,x,1", "field 'id': expected int, found \"abc\""),
            ("1.5,x,1", "field 'id': expected int, found \"1.5\""),
            ("1,x,1.2.3", "field 'score': expected float?, found \"1.2.3\""),
            ("1,\"x,2", "invalid CSV at column 3: unterminated quoted field (fields spanning lines are not supported)"),
            ("1,\"x\"y,2", "invalid CSV at column 6: expected a delimiter after a closing quote"),
        ];
        for (line, want) in cases {
            assert_eq!(dec(&NO_HEADER, None, line).unwrap_err(), want, "{line}");
        }
        let mut d = Decoder::new(&NO_HEADER, &s3(), &[true; 3]);
        let mut row = Row::new();
        assert_eq!(d.decode(b"1,\xe9,2", &mut row).unwrap_err(), "invalid UTF-8 at byte 2");
    }

    #[test]
    fn every_type_from_text() {
        let s = schema(&[
            ("b", Type::BOOL),
            ("t", Type::TIMESTAMP),
            ("t2", Type::TIMESTAMP),
            ("d", Type::DURATION),
            ("l", Type::list(Type::STRING)),
            ("n", Type::BOOL.nullable()),
        ]);
        let mut d = Decoder::new(&NO_HEADER, &s, &[true; 6]);
        let mut row = Row::new();
        d.decode(b"false,1700000000000,2023-11-14T22:13:20.5Z,5m,\"[\"\"a\"\",\"\"b\"\"]\",", &mut row).unwrap();
        assert_eq!(
            row,
            vec![
                Value::Bool(false),
                Value::Timestamp(1_700_000_000_000),
                Value::Timestamp(1_700_000_000_500),
                Value::Duration(300_000),
                Value::List(vec![Value::str("a"), Value::str("b")].into()),
                Value::Null
            ]
        );
        assert_eq!(d.decode(b"yes,1,1,1s,[],", &mut row).unwrap_err(), "field 'b': expected bool, found \"yes\"");
        assert_eq!(
            d.decode(b"true,1,1,1s,[1],", &mut row).unwrap_err(),
            "field 'l[0]': expected string, found integer 1"
        );
        assert_eq!(
            d.decode(b"true,1,1,1s,[,", &mut row).unwrap_err(),
            "field 'l': invalid JSON at column 1: EOF while parsing a list"
        );
        assert_eq!(d.decode(b"true,x,1,1s,[],", &mut row).unwrap_err(), "field 't': expected timestamp, found \"x\"");
    }

    #[test]
    fn header_maps_columns_by_name() {
        let h = Some("\u{feff}extra,score,id,name");
        let row = dec(&CSV, h, "zzz,1.5,7,bob").unwrap();
        assert_eq!(row, vec![Value::Int(7), Value::str("bob"), Value::float(1.5)]);
        // A nullable field may be absent from the header.
        let row = dec(&CSV, Some("name,id"), "bob,7").unwrap();
        assert_eq!(row, vec![Value::Int(7), Value::str("bob"), Value::Null]);
        assert_eq!(dec(&CSV, Some("name,id"), "bob,7,1").unwrap_err(), "expected 2 columns, found 3");
        assert_eq!(dec(&CSV, Some("name,score"), "").unwrap_err(), "missing column 'id', which the pipeline reads");
        assert_eq!(dec(&CSV, Some("id,name,id"), "").unwrap_err(), "duplicate column 'id' in CSV header");
        // A field that is not read may be absent, nullable or not, and is not checked.
        let mut d = Decoder::new(&CSV, &s3(), &[false, true, false]);
        d.set_header(b"name,score").unwrap();
        d.set_header(b"name,id").unwrap();
        let mut row = Row::new();
        d.decode(b"bob,7", &mut row).unwrap();
        assert_eq!(row, vec![Value::Null, Value::str("bob"), Value::Null]);
        d.decode(b"bob,x", &mut row).unwrap();
        assert_eq!(row, vec![Value::Null, Value::str("bob"), Value::Null]);
    }

    #[test]
    fn unread_columns_are_neither_checked_nor_built() {
        let mut d = Decoder::new(&NO_HEADER, &s3(), &[false, true, false]);
        let mut row = Row::new();
        for line in ["abc,x,1", "1.5,x,q", ",x,", "\"\",x,\"\"", "9223372036854775808,x,\"q\"\"\""] {
            d.decode(line.as_bytes(), &mut row).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(row, vec![Value::Null, Value::str("x"), Value::Null], "{line}");
        }
        // Quoting is still checked.
        assert_eq!(
            d.decode(b"1,x,\"q", &mut row).unwrap_err(),
            "invalid CSV at column 5: unterminated quoted field (fields spanning lines are not supported)"
        );
        // And the cells that are read.
        assert_eq!(d.decode(b"1,,1", &mut row), Ok(()));
        let mut d = Decoder::new(&NO_HEADER, &s3(), &[true, false, false]);
        assert_eq!(d.decode(b"x,a,1", &mut row).unwrap_err(), "field 'id': expected int, found \"x\"");
    }

    #[test]
    fn encodes_with_quotes_only_when_needed() {
        let e = Encoder::new(
            &CSV,
            &schema(&[("a", Type::STRING), ("b,c", Type::INT.nullable()), ("l", Type::list(Type::INT))]),
        );
        assert_eq!(e.header().as_deref(), Some("a,\"b,c\",l\n"));
        let mut out = String::new();
        e.encode(&[Value::str("plain"), Value::Null, Value::List(vec![Value::Int(1)].into())], &mut out);
        e.encode(
            &[Value::str("x,\"y\"\n"), Value::Int(3), Value::List(vec![Value::Int(1), Value::Int(2)].into())],
            &mut out,
        );
        e.encode(&[Value::str(""), Value::Int(3), Value::List(vec![].into())], &mut out);
        assert_eq!(out, "plain,,[1]\n\"x,\"\"y\"\"\n\",3,\"[1,2]\"\n\"\",3,[]\n");
        let tsv = Encoder::new(
            &Format::Csv { header: false, delimiter: b'\t' },
            &schema(&[("a", Type::STRING), ("t", Type::TIMESTAMP)]),
        );
        assert_eq!(tsv.header(), None);
        let mut out = String::new();
        tsv.encode(&[Value::str("a,b"), Value::Timestamp(0)], &mut out);
        assert_eq!(out, "a,b\t1970-01-01T00:00:00.000Z\n");
    }
}
