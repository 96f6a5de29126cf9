//! Plain text: each line is one record `{ line: string }`.

use eddy_dsl::{Row, Value};

use super::{line_str, reset_row, FieldInfo};

pub(super) struct TextDecoder {
    width: usize,
}

impl TextDecoder {
    /// The line goes to the first field (the schema is `{ line: string }`); any other fields
    /// stay null.
    pub(super) fn new(fields: Vec<FieldInfo>) -> TextDecoder {
        TextDecoder { width: fields.len() }
    }

    pub(super) fn decode(&mut self, line: &[u8], row: &mut Row) -> Result<(), String> {
        let text = line_str(line)?;
        reset_row(row, self.width);
        if let Some(first) = row.first_mut() {
            *first = Value::str(text);
        }
        Ok(())
    }
}

/// The fields' text joined by `,` (for one field, just its text), then `'\n'`.
pub(super) fn encode(row: &[Value], out: &mut String) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        super::write_text(v, out);
    }
    out.push('\n');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::schema;
    use super::super::{Decoder, Encoder, Format};
    use eddy_dsl::connectors::text_schema;
    use eddy_dsl::{Row, Type, Value};

    #[test]
    fn lines_are_records() {
        let mut d = Decoder::new(&Format::Text, &text_schema(), &[true]);
        let mut row = Row::new();
        d.decode(b"hello, \"world\"\r", &mut row).unwrap();
        assert_eq!(row, vec![Value::str("hello, \"world\"")]);
        d.decode(b"", &mut row).unwrap();
        assert_eq!(row, vec![Value::str("")]);
        assert_eq!(d.decode(b"ab\xff", &mut row).unwrap_err(), "invalid UTF-8 at byte 2");
    }

    #[test]
    fn encodes_text() {
        let mut out = String::new();
        Encoder::new(&Format::Text, &text_schema()).encode(&[Value::str("a line")], &mut out);
        let s = schema(&[("a", Type::INT), ("b", Type::STRING.nullable()), ("d", Type::DURATION)]);
        Encoder::new(&Format::Text, &s).encode(&[Value::Int(1), Value::Null, Value::Duration(10_000)], &mut out);
        assert_eq!(out, "a line\n1,,10s\n");
    }
}
