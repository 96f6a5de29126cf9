//! Rust feeds: records handed over by the embedding program (an iterator, a channel, or a
//! test's script), checked against the schema like decoded records.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use eddy_dsl::plan::{FeedItem, Format};
use eddy_dsl::{Row, Schema, Value};

use super::lines::LineDecoder;
use super::{error_row, raw_row, Reader, Status};

/// Records handed over by the embedding Rust program.
pub enum Feed {
    /// An iterator, shared by the workers of the process that pull from it in turn.
    Iter(Mutex<Box<dyn Iterator<Item = Row> + Send>>),
    /// A channel; the source ends when every sender is dropped.
    Channel(Mutex<Receiver<Row>>),
    /// A test's script of records and watermark moves, read in order by worker 0 alone.
    Script(Mutex<std::collections::VecDeque<FeedItem>>),
}

/// A worker's view of a Rust feed: rows are checked against the schema like decoded records.
pub struct RustReader {
    feed: Arc<Feed>,
    source: String,
    schema: Schema,
    count: u64,
    advance: Option<i64>,
}

impl RustReader {
    pub fn new(source: &str, feed: Arc<Feed>, schema: &Schema) -> RustReader {
        RustReader { feed, source: source.to_string(), schema: schema.clone(), count: 0, advance: None }
    }

    /// A line of text given by a test, decoded like the source's input.
    fn decode(&mut self, line: &[u8], format: &Format, ok: &mut Vec<Row>, err: &mut Vec<Row>) {
        self.count += 1;
        let used = vec![true; self.schema.len()];
        let mut lines = LineDecoder::new(&self.source, "test", format, &self.schema, &used);
        if let Some(e) = lines.decode(line, ok) {
            lines.reject(line, e, self.count, err);
        }
    }

    fn accept(&mut self, row: Row, ok: &mut Vec<Row>, err: &mut Vec<Row>) {
        self.count += 1;
        match conform(&self.schema, row) {
            Ok(row) => ok.push(row),
            Err((row, e)) => {
                let raw = raw_row(&row);
                err.push(error_row(raw.as_bytes(), e, &self.source, format!("record {}", self.count)));
            }
        }
    }
}

impl Reader for RustReader {
    fn advance(&mut self) -> Option<i64> {
        self.advance.take()
    }

    fn read(&mut self, max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String> {
        let feed = Arc::clone(&self.feed);
        match &*feed {
            Feed::Iter(iter) => {
                let mut iter = iter.lock().map_err(|_| "a feed of the program panicked".to_string())?;
                for _ in 0..max {
                    match iter.next() {
                        Some(row) => self.accept(row, ok, err),
                        None => return Ok(Status::Done),
                    }
                }
                Ok(Status::More)
            }
            Feed::Script(items) => {
                let mut items = items.lock().map_err(|_| "a test feed failed".to_string())?;
                for _ in 0..max {
                    match items.pop_front() {
                        Some(FeedItem::Row(row)) => self.accept(row, ok, err),
                        Some(FeedItem::Raw { line, format }) => self.decode(line.as_bytes(), &format, ok, err),
                        // The batch ends here, so the records before and after the move are
                        // judged against the right watermark.
                        Some(FeedItem::Advance(t)) => {
                            self.advance = Some(t);
                            return Ok(Status::More);
                        }
                        None => return Ok(Status::Done),
                    }
                }
                Ok(Status::More)
            }
            Feed::Channel(rx) => {
                let rx = rx.lock().map_err(|_| "a feed of the program panicked".to_string())?;
                for _ in 0..max {
                    match rx.try_recv() {
                        Ok(row) => self.accept(row, ok, err),
                        Err(TryRecvError::Empty) => return Ok(Status::Idle),
                        Err(TryRecvError::Disconnected) => return Ok(Status::Done),
                    }
                }
                Ok(Status::More)
            }
        }
    }
}

/// Checks a row from the program against the schema (ints widen to floats where a float is
/// declared), or says which field is wrong.
fn conform(schema: &Schema, mut row: Row) -> Result<Row, (Row, String)> {
    if row.len() != schema.len() {
        let e = format!("expected {} fields {}, found {}", schema.len(), schema, row.len());
        return Err((row, e));
    }
    for (value, field) in row.iter_mut().zip(&schema.fields) {
        if let (Value::Int(i), eddy_dsl::Base::Float) = (&*value, &field.ty.base) {
            *value = Value::float(*i as f64);
        }
        let ty = eddy_dsl::check::type_of_value(value);
        if !ty.fits(&field.ty) {
            let e = format!("field '{}': expected {}, found {ty}", field.name, field.ty);
            return Err((row, e));
        }
        if let Value::Timestamp(t) = value {
            if eddy_dsl::time::checked_timestamp(*t).is_none() {
                let e = format!(
                    "field '{}': timestamp {t} ms out of range ({})",
                    field.name,
                    crate::format::TIMESTAMP_RANGE
                );
                return Err((row, e));
            }
        }
    }
    Ok(row)
}
