//! Rust feeds: records handed over by the embedding program (an iterator, a channel, or a
//! test's script), checked against the schema like decoded records.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use eddy_dsl::plan::{FeedItem, Format};
use eddy_dsl::{Row, Schema, Value};

use super::lines::LineDecoder;
use super::{error_row, raw_row, Reader, Span, Status};

/// Records handed over by the embedding Rust program.
pub enum Feed {
    /// An iterator, shared by the workers of the process that pull from it in turn.
    Iter(Mutex<Box<dyn Iterator<Item = Row> + Send>>),
    /// A channel; the source ends when every sender is dropped.
    Channel(Mutex<Receiver<Row>>),
    /// A test's script of records and watermark moves, read in order by worker 0 alone.
    Script(Mutex<std::collections::VecDeque<FeedItem>>),
}

/// The program's callback for an acknowledged feed: how many of its records (in the order it
/// gave them) are done — every result depending on them is durable in every sink.
pub type Ack = Arc<Mutex<dyn FnMut(u64) + Send>>;

/// The positions of an acknowledged feed (0, 1, ... in the order the program gave its records),
/// shared by the workers that take records from it: they are done in any order, and the
/// program hears of the prefix that is done, in order.
pub struct Ledger {
    state: Mutex<Tally>,
    ack: Ack,
}

#[derive(Default)]
struct Tally {
    /// Positions taken by the workers so far.
    taken: u64,
    /// Done ranges beyond `upto`, by start (merged when they touch).
    done: BTreeMap<u64, u64>,
    /// All positions below are done, and the program was told.
    upto: u64,
}

impl Ledger {
    pub fn new(ack: Ack) -> Ledger {
        Ledger { state: Mutex::new(Tally::default()), ack }
    }

    /// Takes the next `n` positions (called under the feed's lock, so that they follow the
    /// order in which the program gave the records).
    fn take(&self, n: u64) -> Range<u64> {
        let mut tally = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let start = tally.taken;
        tally.taken += n;
        start..tally.taken
    }

    /// Records the positions `done` as done, and tells the program how far the done prefix now
    /// reaches, if it moved. The call is made under the ledger's lock: the program hears of its
    /// acknowledgements in order.
    pub fn done(&self, done: Range<u64>) {
        let mut tally = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if done.end <= done.start {
            return;
        }
        let end = tally.done.get(&done.start).map_or(done.end, |e| (*e).max(done.end));
        tally.done.insert(done.start, end);
        let before = tally.upto;
        // The ranges that start inside the done prefix, or right at its end, extend it.
        while let Some((&start, &end)) = tally.done.first_key_value() {
            if start > tally.upto {
                break;
            }
            tally.done.remove(&start);
            tally.upto = tally.upto.max(end);
        }
        if tally.upto > before {
            if let Ok(mut ack) = self.ack.lock() {
                ack(tally.upto);
            }
        }
    }

    /// Every position taken is done (the job ended successfully).
    pub fn all(&self) {
        let taken = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).taken;
        self.done(0..taken);
    }
}

/// A worker's view of a Rust feed: rows are checked against the schema like decoded records.
pub struct RustReader {
    feed: Arc<Feed>,
    source: String,
    schema: Schema,
    count: u64,
    advance: Option<i64>,
    /// The feed's positions, when the program acknowledges it; what the last read took.
    ledger: Option<Arc<Ledger>>,
    taken: Vec<Span>,
}

impl RustReader {
    pub fn new(source: &str, feed: Arc<Feed>, schema: &Schema, ledger: Option<Arc<Ledger>>) -> RustReader {
        let (source, schema) = (source.to_string(), schema.clone());
        RustReader { feed, source, schema, count: 0, advance: None, ledger, taken: Vec::new() }
    }

    /// Takes positions for the `n` records just read (while the feed is still locked).
    fn took(&mut self, n: u64) {
        self.taken.clear();
        if let (Some(ledger), 1..) = (&self.ledger, n) {
            self.taken.push((0, ledger.take(n)));
        }
    }

    /// Reads from the program's iterator or channel, and takes positions for what it read.
    fn read_feed(&mut self, max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String> {
        let feed = Arc::clone(&self.feed);
        let before = self.count;
        // The feed stays locked until positions are taken: several workers read one feed.
        match &*feed {
            Feed::Iter(iter) => {
                let mut iter = iter.lock().map_err(|_| "a feed of the program panicked".to_string())?;
                let mut status = Status::More;
                for _ in 0..max {
                    match iter.next() {
                        Some(row) => self.accept(row, ok, err),
                        None => {
                            status = Status::Done;
                            break;
                        }
                    }
                }
                self.took(self.count - before);
                Ok(status)
            }
            Feed::Channel(rx) => {
                let rx = rx.lock().map_err(|_| "a feed of the program panicked".to_string())?;
                let mut status = Status::More;
                for _ in 0..max {
                    match rx.try_recv() {
                        Ok(row) => self.accept(row, ok, err),
                        Err(TryRecvError::Empty) => {
                            status = Status::Idle;
                            break;
                        }
                        Err(TryRecvError::Disconnected) => {
                            status = Status::Done;
                            break;
                        }
                    }
                }
                self.took(self.count - before);
                Ok(status)
            }
            Feed::Script(_) => self.read_script(max, ok, err),
        }
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
        self.read_feed(max, ok, err)
    }

    fn acks(&self) -> bool {
        self.ledger.is_some()
    }

    fn positions(&self) -> &[Span] {
        &self.taken
    }

    fn ack(&mut self, done: &[Span]) {
        if let Some(ledger) = &self.ledger {
            done.iter().for_each(|(_, range)| ledger.done(range.clone()));
        }
    }
}

impl RustReader {
    /// A test's script (never acknowledged).
    fn read_script(&mut self, max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String> {
        let feed = Arc::clone(&self.feed);
        let Feed::Script(items) = &*feed else { return Ok(Status::Done) };
        let mut items = items.lock().map_err(|_| "a test feed failed".to_string())?;
        for _ in 0..max {
            match items.pop_front() {
                Some(FeedItem::Row(row)) => self.accept(row, ok, err),
                Some(FeedItem::Raw { line, format }) => self.decode(line.as_bytes(), &format, ok, err),
                // The batch ends here, so the records before and after the move are judged
                // against the right watermark.
                Some(FeedItem::Advance(t)) => {
                    self.advance = Some(t);
                    return Ok(Status::More);
                }
                None => return Ok(Status::Done),
            }
        }
        Ok(Status::More)
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::Ledger;

    #[test]
    fn the_program_hears_of_the_done_prefix_in_order_whatever_the_order_of_the_acks() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&heard);
        let ledger = Ledger::new(Arc::new(Mutex::new(move |upto| sink.lock().unwrap().push(upto))));
        let (a, b, c) = (ledger.take(3), ledger.take(2), ledger.take(4));
        ledger.done(b);
        assert!(heard.lock().unwrap().is_empty(), "0..3 is not done: nothing is");
        ledger.done(a);
        ledger.done(5..5);
        ledger.done(c);
        assert_eq!(*heard.lock().unwrap(), vec![5, 9]);
        ledger.take(1);
        ledger.all();
        ledger.all();
        assert_eq!(*heard.lock().unwrap(), vec![5, 9, 10]);
    }
}
