//! Lines: reading one line at a time within a limit, and decoding lines into rows and
//! `.errors` rows with their positions, for the connectors that read lines.

use std::io::BufRead;

use eddy_dsl::plan::Format;
use eddy_dsl::{Row, Schema};

use super::error_row;
use crate::format::Decoder;

/// Splits lines of bytes into decoded rows and error rows, tracking line numbers.
pub(super) struct LineDecoder {
    pub(super) decoder: Decoder,
    source: String,
    /// Where lines come from, for error positions (a path, or `stdin`).
    origin: String,
    row: Row,
}

impl LineDecoder {
    pub(super) fn new(source: &str, origin: &str, format: &Format, schema: &Schema, used: &[bool]) -> LineDecoder {
        LineDecoder {
            decoder: Decoder::new(format, schema, used),
            source: source.to_string(),
            origin: origin.to_string(),
            row: new_row(schema.len()),
        }
    }

    /// Decodes a line into `ok`, or returns why it cannot. The decoded row itself is pushed
    /// (no copy); the next line decodes into a new one.
    pub(super) fn decode(&mut self, line: &[u8], ok: &mut Vec<Row>) -> Option<String> {
        match self.decoder.decode(line, &mut self.row) {
            Ok(()) => {
                let n = self.row.len();
                ok.push(std::mem::replace(&mut self.row, new_row(n)));
                None
            }
            Err(e) => Some(e),
        }
    }

    /// `decode`, with blank lines (empty, or a lone `'\r'`) skipped.
    pub(super) fn decode_line(&mut self, line: &[u8], ok: &mut Vec<Row>) -> Option<String> {
        if line.is_empty() || line == b"\r" {
            None
        } else {
            self.decode(line, ok)
        }
    }

    pub(super) fn reject(&self, line: &[u8], error: String, line_no: u64, err: &mut Vec<Row>) {
        err.push(error_row(line, error, &self.source, format!("{}:{line_no}", self.origin)));
    }
}

/// An empty row for `n` fields, with room for the two a `window` appends (`window_start`,
/// `window_end`), which then costs no reallocation.
pub(super) fn new_row(n: usize) -> Row {
    Vec::with_capacity(n + 2)
}

/// One line read by `read_line`.
pub(super) struct Line {
    /// Bytes consumed, the '\n' included (0 at the end of the input).
    pub(super) consumed: usize,
    /// The line was longer than the limit (and was cut).
    pub(super) too_long: bool,
    /// The line ended with '\n' (not with the end of the input).
    pub(super) complete: bool,
}

/// Reads one line into `buf` (without its '\n'), keeping at most `limit` bytes.
pub(super) fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<Line> {
    buf.clear();
    let mut line = Line { consumed: 0, too_long: false, complete: false };
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(line);
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        let room = limit.saturating_sub(buf.len());
        if chunk.len() > room {
            line.too_long = true;
        }
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = done.unwrap_or(chunk.len());
        reader.consume(n);
        line.consumed += n;
        if done.is_some() {
            line.complete = true;
            return Ok(line);
        }
    }
}
