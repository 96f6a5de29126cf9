//! Readers: where a source's records come from. Each worker reads its own share (stripes of
//! a file, blocks of generated events) in batches, and never blocks its worker: inputs that
//! must block (stdin) are read on their own thread and handed over through a bounded channel.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use eddy_dsl::plan::{FeedItem, Format};
use eddy_dsl::{Row, Schema, Value};

use crate::format::Decoder;
use crate::nexmark;
use crate::render::source::error_row;

/// What a reader has left after a `read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// More is ready now: schedule again.
    More,
    /// Nothing ready yet: try again soon.
    Idle,
    /// The input is exhausted.
    Done,
}

pub trait Reader {
    /// Reads up to `max` records, appending decoded rows to `ok` and `.errors` rows to `err`.
    fn read(&mut self, max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String>;

    /// A time the watermark must move to after the records just read (a test's `advance`).
    fn advance(&mut self) -> Option<i64> {
        None
    }
}

/// Splits lines of bytes into decoded rows and error rows, tracking line numbers.
struct LineDecoder {
    decoder: Decoder,
    source: String,
    /// Where lines come from, for error positions (a path, or `stdin`).
    origin: String,
    row: Row,
}

impl LineDecoder {
    fn new(source: &str, origin: &str, format: &Format, schema: &Schema, used: &[bool]) -> LineDecoder {
        LineDecoder {
            decoder: Decoder::new(format, schema, used),
            source: source.to_string(),
            origin: origin.to_string(),
            row: new_row(schema.len()),
        }
    }

    /// Decodes a line into `ok`, or returns why it cannot. The decoded row itself is pushed
    /// (no copy); the next line decodes into a new one.
    fn decode(&mut self, line: &[u8], ok: &mut Vec<Row>) -> Option<String> {
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
    fn decode_line(&mut self, line: &[u8], ok: &mut Vec<Row>) -> Option<String> {
        if line.is_empty() || line == b"\r" {
            None
        } else {
            self.decode(line, ok)
        }
    }

    fn reject(&self, line: &[u8], error: String, line_no: u64, err: &mut Vec<Row>) {
        err.push(error_row(line, error, &self.source, format!("{}:{line_no}", self.origin)));
    }
}

/// An empty row for `n` fields, with room for the two a `window` appends (`window_start`,
/// `window_end`), which then costs no reallocation.
fn new_row(n: usize) -> Row {
    Vec::with_capacity(n + 2)
}

/// One line read by `read_line`.
struct Line {
    /// Bytes consumed, the '\n' included (0 at the end of the input).
    consumed: usize,
    /// The line was longer than the limit (and was cut).
    too_long: bool,
    /// The line ended with '\n' (not with the end of the input).
    complete: bool,
}

/// Reads one line into `buf` (without its '\n'), keeping at most `limit` bytes.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<Line> {
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

/// The bytes of a file a worker reads before it takes another stripe. Small enough that all
/// workers move through a time-ordered file together (so that the watermark, the minimum over
/// them, keeps up and windows close early) and that a worker slowed down leaves little for the
/// others to wait for; large enough that the seek between stripes costs nothing, and that a
/// small file is one partition, judged for lateness as one reader judges it.
pub const STRIPE: u64 = 1 << 20;

/// Deals the stripes of a file to the workers of one process, each stripe to the first worker
/// that asks: a worker slowed down (its core busy with other work, a costlier stretch of the
/// file) reads fewer stripes instead of holding the job up, as Flink's readers ask for splits.
/// Processes share no memory, so they split the file beforehand: process `p` of `n` reads
/// stripes `p`, `p + n`, `p + 2n`, ...
#[derive(Clone)]
pub struct Dealer {
    /// How many stripes this process's workers have taken.
    taken: Arc<AtomicU64>,
    process: u64,
    processes: u64,
    /// The size of a stripe (`STRIPE`).
    pub stripe: u64,
}

impl Dealer {
    pub fn new(process: usize, processes: usize, stripe: u64) -> Dealer {
        let (process, processes) = (process as u64, processes.max(1) as u64);
        Dealer { taken: Arc::new(AtomicU64::new(0)), process, processes, stripe }
    }

    /// Where the next stripe starts.
    fn deal(&self) -> u64 {
        let n = self.process + self.taken.fetch_add(1, Ordering::Relaxed) * self.processes;
        n.saturating_mul(self.stripe)
    }
}

/// How a file is shared among the workers.
pub enum Stripes {
    /// Stripes, dealt (a file read to its end).
    Dealt(Dealer),
    /// One contiguous range per worker, the last one open-ended (a followed file).
    Range,
}

/// The size of a page of the page cache (where file reads start, see `FileReader::seek`).
const PAGE: u64 = 4096;

/// A worker's share of a file: the stripes dealt to it, aligned to whole lines (a line belongs
/// to the stripe that holds its first byte), or a contiguous range (see `Stripes`).
pub struct FileReader {
    reader: BufReader<File>,
    path: String,
    lines: LineDecoder,
    /// Offset of the next line, and where the current stripe ends.
    offset: u64,
    end: u64,
    /// The length of the file (when opened).
    len: u64,
    /// What deals the next stripe (none: one range).
    dealer: Option<Dealer>,
    /// Line numbers, counted lazily (for error positions only): the number of lines before
    /// an offset already counted.
    counted: (u64, u64),
    buf: Vec<u8>,
    limit: usize,
    /// Keep reading lines appended to the file (the last worker's range is open-ended).
    follow: bool,
}

impl FileReader {
    /// Opens worker `worker`'s share of `path`.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        source: &str,
        path: &str,
        format: &Format,
        schema: &Schema,
        used: &[bool],
        (worker, peers): (usize, usize),
        limit: usize,
        stripes: Stripes,
    ) -> Result<FileReader, String> {
        let io = |e: std::io::Error| format!("cannot read '{path}': {e}");
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let (w, p) = (worker as u64, peers as u64);
        let follow = matches!(stripes, Stripes::Range);
        // Dealt stripes start with an empty one: the first read takes a stripe.
        let (start, end, dealer) = match stripes {
            Stripes::Range => (len * w / p, if w + 1 == p { u64::MAX } else { len * (w + 1) / p }, None),
            Stripes::Dealt(dealer) => (0, 0, Some(dealer)),
        };
        let mut reader = FileReader {
            reader: BufReader::with_capacity(1 << 17, file),
            path: path.to_string(),
            lines: LineDecoder::new(source, path, format, schema, used),
            offset: 0,
            end,
            len,
            dealer,
            counted: (0, 0),
            buf: Vec::new(),
            limit,
            follow: follow && w + 1 == p,
        };
        if matches!(format, Format::Csv { header: true, .. }) {
            let n = read_line(&mut reader.reader, &mut reader.buf, limit).map_err(io)?.consumed;
            reader.lines.decoder.set_header(&reader.buf).map_err(|e| format!("{path}:1: bad CSV header: {e}"))?;
            reader.offset = n as u64;
        }
        reader.seek(start.max(reader.offset))?;
        Ok(reader)
    }

    /// Moves to the first line that starts at or after `at`.
    fn seek(&mut self, at: u64) -> Result<(), String> {
        let io = |e: std::io::Error| format!("cannot read '{}': {e}", self.path);
        if at <= self.offset {
            // Lines are read in order, and the last one read started before `at` (it belonged
            // to the stripe before): the next one is the first at or after `at`.
            return Ok(());
        }
        // The line that straddles `at` belongs to the stripe before. Reads start on a page
        // boundary and skip to `at - 1` in the buffer: the kernel copies a read that starts
        // within a page several times slower.
        let page = (at - 1) & !(PAGE - 1);
        self.reader.seek(SeekFrom::Start(page)).map_err(io)?;
        let skip = (at - 1 - page) as usize;
        let skipped = self.reader.fill_buf().map_err(io)?.len().min(skip);
        self.reader.consume(skipped);
        let n = read_line(&mut self.reader, &mut self.buf, 0).map_err(io)?.consumed;
        self.offset = at + (n as u64).saturating_sub(1);
        Ok(())
    }

    /// Moves to the next stripe dealt to this worker; false when there is none.
    fn next_stripe(&mut self) -> Result<bool, String> {
        let Some(dealer) = &self.dealer else {
            return Ok(false);
        };
        let start = dealer.deal();
        if start >= self.len {
            return Ok(false);
        }
        self.end = start + dealer.stripe;
        self.seek(start)?;
        Ok(true)
    }

    /// The 1-based number of the line starting at `at`, counting the lines before it from
    /// the last position counted (lines are read in order, so each byte is counted once).
    fn line_number(&mut self, at: u64) -> u64 {
        let (from, mut lines) = self.counted;
        if let Ok(mut f) = File::open(&self.path) {
            if f.seek(SeekFrom::Start(from)).is_ok() {
                let mut r = f.take(at.saturating_sub(from));
                let mut chunk = vec![0u8; 1 << 16];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    lines += memchr::memchr_iter(b'\n', &chunk[..n]).count() as u64;
                }
            }
        }
        self.counted = (at, lines);
        lines + 1
    }
}

impl Reader for FileReader {
    fn read(&mut self, max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String> {
        for _ in 0..max {
            while self.offset >= self.end {
                if !self.next_stripe()? {
                    return Ok(Status::Done);
                }
            }
            // The common case: the whole line is in the reader's buffer, and decodes from there.
            let available = self.reader.fill_buf().map_err(|e| format!("cannot read '{}': {e}", self.path))?;
            if let Some(i) = memchr::memchr(b'\n', available).filter(|i| *i <= self.limit) {
                let line = &available[..i];
                let error = self.lines.decode_line(line, ok);
                if let Some(e) = error {
                    self.buf.clear();
                    self.buf.extend_from_slice(line);
                    let no = self.line_number(self.offset);
                    self.lines.reject(&self.buf, e, no, err);
                }
                self.reader.consume(i + 1);
                self.offset += i as u64 + 1;
                continue;
            }
            let read = read_line(&mut self.reader, &mut self.buf, self.limit)
                .map_err(|e| format!("cannot read '{}': {e}", self.path))?;
            let (n, too_long) = (read.consumed, read.too_long);
            if self.follow && !read.complete {
                // The end of the file for now (perhaps in the middle of a line being written):
                // read that line again when more has arrived.
                let back = -(n as i64);
                self.reader.seek_relative(back).map_err(|e| format!("cannot read '{}': {e}", self.path))?;
                return Ok(Status::Idle);
            }
            if n == 0 {
                return Ok(Status::Done);
            }
            let at = self.offset;
            self.offset += n as u64;
            let line = std::mem::take(&mut self.buf);
            let error = if too_long {
                Some(format!("line longer than {} bytes", self.limit))
            } else {
                self.lines.decode_line(&line, ok)
            };
            if let Some(e) = error {
                let no = self.line_number(at);
                self.lines.reject(&line, e, no, err);
            }
            self.buf = line;
        }
        Ok(Status::More)
    }
}

/// Standard input, read on its own thread (reads block) by worker 0 only.
pub struct StdinReader {
    lines: LineDecoder,
    rx: Receiver<Vec<(Vec<u8>, bool)>>,
    line_no: u64,
    limit: usize,
    header_pending: bool,
}

impl StdinReader {
    pub fn new(source: &str, format: &Format, schema: &Schema, used: &[bool], limit: usize) -> StdinReader {
        let (tx, rx) = sync_channel(16);
        std::thread::spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
            loop {
                let mut batch = Vec::with_capacity(1024);
                let mut eof = false;
                while batch.len() < 1024 {
                    let mut buf = Vec::new();
                    match read_line(&mut reader, &mut buf, limit) {
                        Ok(Line { consumed: 0, .. }) | Err(_) => {
                            eof = true;
                            break;
                        }
                        Ok(line) => batch.push((buf, line.too_long)),
                    }
                    if reader.buffer().is_empty() {
                        break; // hand over what we have rather than wait for more
                    }
                }
                if (!batch.is_empty() && tx.send(batch).is_err()) || eof {
                    return;
                }
            }
        });
        let header_pending = matches!(format, Format::Csv { header: true, .. });
        StdinReader {
            lines: LineDecoder::new(source, "stdin", format, schema, used),
            rx,
            line_no: 0,
            limit,
            header_pending,
        }
    }
}

impl Reader for StdinReader {
    fn read(&mut self, _max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String> {
        let batch = match self.rx.try_recv() {
            Ok(batch) => batch,
            Err(TryRecvError::Empty) => return Ok(Status::Idle),
            Err(TryRecvError::Disconnected) => return Ok(Status::Done),
        };
        for (line, too_long) in batch {
            self.line_no += 1;
            let no = self.line_no;
            if self.header_pending {
                self.header_pending = false;
                self.lines.decoder.set_header(&line).map_err(|e| format!("stdin: bad CSV header: {e}"))?;
            } else if too_long {
                self.lines.reject(&line, format!("line longer than {} bytes", self.limit), no, err);
            } else if let Some(e) = self.lines.decode_line(&line, ok) {
                self.lines.reject(&line, e, no, err);
            }
        }
        Ok(Status::More)
    }
}

/// This worker's share of the Nexmark events, projected onto the source's schema.
pub struct GenerateReader {
    generator: nexmark::Generator,
    kind: nexmark::Kind,
    /// The next event index, and the end of the events (`u64::MAX`: unbounded).
    next: u64,
    end: u64,
    /// Workers take blocks of this many events in turn, skipping `skip` events (the other
    /// workers' blocks) after each.
    block: u64,
    skip: u64,
    /// For each field of the source's schema, its position in the generated row.
    projection: Option<Vec<usize>>,
    buf: Vec<Row>,
    pace: Option<Pace>,
}

/// Events per second of wall time; event times then follow the clock from the start.
struct Pace {
    /// Events per second, over all workers.
    rate: u64,
    started: std::time::Instant,
    /// Epoch ms of the start: the model's time is mapped onto the clock from here, at
    /// `1000 / rate` ms per event.
    start_ms: i64,
    /// Positions of `date_time` and `expires` in the generated row.
    times: Vec<usize>,
}

impl GenerateReader {
    pub fn new(
        kind: &str,
        events: Option<u64>,
        seed: u64,
        rate: u64,
        schema: &Schema,
        worker: usize,
        peers: usize,
    ) -> Result<GenerateReader, String> {
        let kind = nexmark::Kind::parse(kind).ok_or_else(|| format!("unknown Nexmark kind '{kind}'"))?;
        let full = nexmark::schema(kind);
        let projection: Vec<usize> = schema.fields.iter().filter_map(|f| full.index_of(&f.name)).collect();
        let identity = projection.len() == full.len() && projection.iter().enumerate().all(|(i, p)| i == *p);
        let (w, p) = (worker as u64, peers as u64);
        // Workers take blocks of events in turn, so that all of them move through event time
        // together (the watermark, their minimum, keeps up and windows close early): blocks of
        // a batch's size, so that no worker waits long for its turn.
        let block = crate::render::source::BATCH as u64;
        let (next, end) = (w * block, events.unwrap_or(u64::MAX));
        let pace = (rate > 0).then(|| Pace {
            rate,
            started: std::time::Instant::now(),
            start_ms: now_ms(),
            times: ["date_time", "expires"].iter().filter_map(|f| full.index_of(f)).collect(),
        });
        Ok(GenerateReader {
            generator: nexmark::Generator::new(seed),
            kind,
            next,
            end,
            block,
            skip: (p - 1) * block,
            projection: (!identity).then_some(projection),
            buf: Vec::new(),
            pace,
        })
    }

    /// Appends the records of the kind among `events` to `ok`, in the source's schema.
    fn fill(&mut self, events: std::ops::Range<u64>, ok: &mut Vec<Row>) {
        self.buf.clear();
        self.generator.fill(self.kind, events, &mut self.buf);
        if let Some(pace) = &self.pace {
            for row in &mut self.buf {
                for &t in &pace.times {
                    if let Value::Timestamp(ms) = &mut row[t] {
                        *ms = pace.start_ms + (*ms - nexmark::BASE_TIME) * 1000 / pace.rate as i64;
                    }
                }
            }
        }
        match &self.projection {
            None => ok.append(&mut self.buf),
            Some(projection) => ok.extend(self.buf.drain(..).map(|mut row| {
                if projection.is_sorted() {
                    // In place: each field moves down to its position (never onto one still to
                    // be read), and the unread ones at the end are dropped.
                    for (j, &i) in projection.iter().enumerate() {
                        row.swap(j, i);
                    }
                    row.truncate(projection.len());
                    row
                } else {
                    projection.iter().map(|i| std::mem::take(&mut row[*i])).collect()
                }
            })),
        }
    }
}

impl Reader for GenerateReader {
    /// Up to `max` records of the kind (not events: persons are 1 event in 50), from as many
    /// of this worker's blocks as that takes, or fewer where a paced generator's time has not
    /// come.
    fn read(&mut self, max: usize, ok: &mut Vec<Row>, _err: &mut Vec<Row>) -> Result<Status, String> {
        let mut wanted = max as u64;
        while wanted > 0 && self.next < self.end {
            let block_end = (self.next / self.block + 1) * self.block;
            let mut to = nexmark::end_holding(self.kind, self.next, wanted).min(self.end).min(block_end);
            if let Some(pace) = &self.pace {
                // Only the events whose time has come.
                let due = (pace.started.elapsed().as_secs_f64() * pace.rate as f64) as u64;
                to = to.min(due.max(self.next));
                if to == self.next {
                    return Ok(if wanted < max as u64 { Status::More } else { Status::Idle });
                }
            }
            self.fill(self.next..to, ok);
            wanted = wanted.saturating_sub(nexmark::count(self.kind, self.next..to));
            self.next = to;
            if to == block_end {
                self.next = self.next.saturating_add(self.skip);
            }
        }
        Ok(if self.next >= self.end { Status::Done } else { Status::More })
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

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
                let raw = format!("{row:?}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_dsl::{Field, Type};

    /// Reads `path` with one worker per entry of `turns` and stripes of `stripe` bytes, the
    /// workers taking turns, each reading up to its number of records a turn; each worker's
    /// rows and `.errors` rows, in the order it read them.
    fn read_dealt(
        path: &str,
        format: &Format,
        schema: &Schema,
        turns: &[usize],
        stripe: u64,
    ) -> Vec<(Vec<Row>, Vec<Row>)> {
        let dealer = Dealer::new(0, 1, stripe);
        let used = vec![true; schema.len()];
        let mut readers: Vec<Option<FileReader>> = (0..turns.len())
            .map(|w| {
                let stripes = Stripes::Dealt(dealer.clone());
                Some(
                    FileReader::open("s", path, format, schema, &used, (w, turns.len()), 1 << 20, stripes)
                        .expect("open"),
                )
            })
            .collect();
        let mut read = vec![(Vec::new(), Vec::new()); turns.len()];
        while readers.iter().any(Option::is_some) {
            for (w, slot) in readers.iter_mut().enumerate() {
                if let Some(r) = slot {
                    let (ok, err) = &mut read[w];
                    if r.read(turns[w], ok, err).expect("read") == Status::Done {
                        *slot = None;
                    }
                }
            }
        }
        read
    }

    /// `read_dealt` of a text file: each worker's lines.
    fn read_lines(path: &str, turns: &[usize], stripe: u64) -> Vec<Vec<String>> {
        let schema = Schema::new(vec![Field { name: "line".into(), ty: Type::STRING }]);
        read_dealt(path, &Format::Text, &schema, turns, stripe)
            .into_iter()
            .map(|(ok, err)| {
                assert!(err.is_empty());
                ok.iter().map(|row| row[0].as_str().unwrap_or_default().to_string()).collect()
            })
            .collect()
    }

    #[test]
    fn workers_read_every_line_once_in_stripes() {
        let dir = std::env::temp_dir().join(format!("eddy-stripes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lines.txt");
        // Lines of every length from 1 to 60 bytes, and some far longer than a stripe.
        let lines: Vec<String> =
            (0..400)
                .map(|i| {
                    if i % 97 == 5 {
                        format!("{i}:{}", "x".repeat(3000))
                    } else {
                        format!("{i}:{}", "y".repeat(i % 60))
                    }
                })
                .collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        for (peers, stripe) in (1..=5).flat_map(|p| [1, 10, 100, 1000].map(|s| (p, s))) {
            let shares = read_lines(&path.display().to_string(), &vec![7; peers], stripe);
            let mut all: Vec<&String> = shares.iter().flatten().collect();
            all.sort_by_key(|l| l.split(':').next().and_then(|n| n.parse::<usize>().ok()));
            assert_eq!(all, lines.iter().collect::<Vec<_>>(), "{peers} workers, stripes of {stripe}");
            for share in &shares {
                assert!(!share.is_empty(), "{peers} workers, stripes of {stripe}: every worker gets a share");
                let numbers: Vec<usize> = share.iter().filter_map(|l| l.split(':').next()?.parse().ok()).collect();
                assert!(numbers.is_sorted(), "{peers} workers: a worker reads its lines in file order");
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_worker_that_reads_faster_is_dealt_more_stripes() {
        let dir = std::env::temp_dir().join(format!("eddy-dealt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lines.txt");
        // 1000 lines of 10 bytes, in stripes of 100 bytes: 100 stripes of 10 lines.
        let text: String = (0..1000).map(|i| format!("line {i:04}\n")).collect();
        std::fs::write(&path, text).expect("write");
        // Worker 0 reads one line a turn, worker 1 thirty (three stripes). Worker 0 takes a
        // stripe every ten turns: stripes 0, 31, 62 and 93 (worker 1 takes the three after each
        // every turn); its share is 4 stripes, where every other stripe would be 50.
        let shares = read_lines(&path.display().to_string(), &[1, 30], 100);
        let firsts: Vec<&str> = shares[0].iter().step_by(10).map(|l| &l[5..]).collect();
        assert_eq!(firsts, ["0000", "0310", "0620", "0930"]);
        assert_eq!((shares[0].len(), shares[1].len()), (40, 960));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejected_lines_have_their_line_numbers_whoever_reads_them() {
        let dir = std::env::temp_dir().join(format!("eddy-stripe-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lines.jsonl");
        // Every seventh line is not JSON; its text says its number.
        let text: String =
            (1..=200).map(|n| if n % 7 == 0 { format!("bad {n}\n") } else { format!("{{\"a\":{n}}}\n") }).collect();
        std::fs::write(&path, text).expect("write");
        let path = path.display().to_string();
        let schema = Schema::new(vec![Field { name: "a".into(), ty: Type::INT }]);
        for (turns, stripe) in [(&[5][..], 1 << 20), (&[5, 5], 10), (&[2, 5, 9], 64), (&[5, 1, 5, 3], 1000)] {
            let mut positions = Vec::new();
            for (_, err) in read_dealt(&path, &Format::Jsonl, &schema, turns, stripe) {
                for row in err {
                    let raw = row[0].as_str().unwrap_or_default().to_string();
                    positions.push((raw, row[3].as_str().unwrap_or_default().to_string()));
                }
            }
            positions.sort_by_key(|(raw, _)| raw.trim_start_matches("bad ").parse::<u32>().unwrap_or(0));
            let expected: Vec<(String, String)> =
                (1..=200).filter(|n| n % 7 == 0).map(|n| (format!("bad {n}"), format!("{path}:{n}"))).collect();
            assert_eq!(positions, expected, "turns {turns:?}, stripes of {stripe}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
