//! Sinks: encode rows and write them. A batch job writes an updating stream's final contents
//! (consolidated when its input is complete) and an append-only stream as it arrives.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::rc::Rc;
use std::sync::{Arc, Mutex, TryLockError};

use differential_dataflow::consolidation::consolidate_updates;
use differential_dataflow::Hashable;
use eddy_dsl::plan::{Format, SinkConnector};
use eddy_dsl::{Row, Schema, Value};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::progress::frontier::MutableAntichain;

use super::{Coll, Shared};
use crate::format::Encoder;
use crate::summary::Counters;

/// Records of a stream handed to the embedding program.
pub type RustSink = Arc<Mutex<dyn FnMut(Row) + Send>>;

/// Where a sink writes, shared by the workers of a process.
pub enum SinkTarget {
    /// One file, opened by the process that writes it (process 0).
    File {
        writer: Mutex<Option<BufWriter<File>>>,
        format: Format,
    },
    /// One file per worker: `path` with `-N` before the extension.
    Parts {
        path: String,
        format: Format,
    },
    Stdout {
        format: Format,
    },
    Rust(RustSink),
}

impl SinkTarget {
    /// Prepares a sink in process `process`: the single-file sink's file is created (with its
    /// header) up front, so an empty result still gives a file.
    pub fn open(
        connector: &SinkConnector,
        schema: &Schema,
        process: usize,
        rust: Option<RustSink>,
    ) -> Result<SinkTarget, String> {
        Ok(match connector {
            SinkConnector::File { path, format, partitioned: false } => {
                let writer = if process == 0 { Some(create(path, format, schema)?) } else { None };
                SinkTarget::File { writer: Mutex::new(writer), format: format.clone() }
            }
            SinkConnector::File { path, format, partitioned: true } => {
                SinkTarget::Parts { path: path.clone(), format: format.clone() }
            }
            SinkConnector::Stdout { format } => {
                if let (0, Some(header)) = (process, Encoder::new(format, schema).header()) {
                    let mut out = std::io::stdout().lock();
                    out.write_all(header.as_bytes()).map_err(|e| format!("cannot write to stdout: {e}"))?;
                }
                SinkTarget::Stdout { format: format.clone() }
            }
            SinkConnector::Rust { .. } => SinkTarget::Rust(rust.ok_or("no receiver for a Rust sink")?),
        })
    }

    /// Whether all records must meet in one place (worker 0) when several processes run.
    fn single(&self) -> bool {
        !matches!(self, SinkTarget::Parts { .. })
    }
}

fn create(path: &str, format: &Format, schema: &Schema) -> Result<BufWriter<File>, String> {
    let io = |e: std::io::Error| format!("cannot write '{path}': {e}");
    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut w = BufWriter::with_capacity(1 << 16, File::create(path).map_err(io)?);
    if let Some(header) = Encoder::new(format, schema).header() {
        w.write_all(header.as_bytes()).map_err(io)?;
    }
    Ok(w)
}

/// The path of worker `index`'s part: `out/q.csv` → `out/q-3.csv`.
pub fn part_path(path: &str, index: usize) -> String {
    let p = std::path::Path::new(path);
    match (p.file_stem().and_then(|s| s.to_str()), p.extension().and_then(|e| e.to_str())) {
        (Some(stem), Some(ext)) => p.with_file_name(format!("{stem}-{index}.{ext}")).to_string_lossy().into_owned(),
        _ => format!("{path}-{index}"),
    }
}

/// How much a worker's sink encodes before it writes.
const CHUNK: usize = 1 << 16;

/// One worker's end of a sink: its encoder, buffer and (for parts) file.
struct Writer {
    target: usize,
    shared: Arc<Shared>,
    encoder: Option<Encoder>,
    part: Option<BufWriter<File>>,
    buf: String,
    /// The buffer's length at which to write it out.
    full: usize,
    written: u64,
}

impl Writer {
    fn write(&mut self, row: Row) {
        self.written += 1;
        match (&self.shared.sinks[self.target], &self.encoder) {
            (SinkTarget::Rust(f), _) => {
                if let Ok(mut f) = f.lock() {
                    f(row);
                }
            }
            (_, Some(encoder)) => {
                encoder.encode(&row, &mut self.buf);
                if self.buf.len() >= self.full {
                    self.flush(false);
                }
            }
            _ => {}
        }
    }

    /// Writes `row` `n` times (none when `n` is not positive).
    fn write_times(&mut self, row: Row, n: isize) {
        for _ in 1..n {
            self.write(row.clone());
        }
        if n > 0 {
            self.write(row);
        }
    }

    fn flush(&mut self, end: bool) {
        let bytes = std::mem::take(&mut self.buf);
        let result = match &self.shared.sinks[self.target] {
            SinkTarget::File { writer, .. } => {
                let mut guard = match writer.try_lock() {
                    // Another worker is writing: rather than wait, go on and try again
                    // with another chunk (up to 4 MB).
                    Err(TryLockError::WouldBlock) if !end && bytes.len() < 1 << 22 => {
                        self.buf = bytes;
                        self.full = self.buf.len() + CHUNK;
                        return;
                    }
                    Err(TryLockError::WouldBlock) => writer.lock().ok(),
                    Err(TryLockError::Poisoned(_)) => None,
                    Ok(w) => Some(w),
                };
                match guard.as_deref_mut().and_then(Option::as_mut) {
                    Some(w) => w.write_all(bytes.as_bytes()).and_then(|_| if end { w.flush() } else { Ok(()) }),
                    None => Ok(()),
                }
            }
            SinkTarget::Parts { .. } => match self.part.as_mut() {
                Some(w) => w.write_all(bytes.as_bytes()).and_then(|_| if end { w.flush() } else { Ok(()) }),
                None => Ok(()),
            },
            SinkTarget::Stdout { .. } => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes.as_bytes()).and_then(|_| if end { out.flush() } else { Ok(()) })
            }
            SinkTarget::Rust(_) => Ok(()),
        };
        if let Err(e) = result {
            // A closed stdout (`eddy run ... | head`) is not worth an error.
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                self.shared.fail(format!("cannot write sink output: {e}"));
            }
        }
        self.buf = bytes;
        self.buf.clear();
        self.full = CHUNK;
    }
}

/// Renders sink `index` of the plan on its input collection.
pub fn render(
    coll: Coll<'_>,
    index: usize,
    updating: bool,
    schema: &Schema,
    shared: &Arc<Shared>,
    counters: &Rc<Counters>,
) {
    let target = &shared.sinks[index];
    let worker = coll.inner.scope().index();
    let mut writer = Writer {
        target: index,
        shared: Arc::clone(shared),
        encoder: None,
        part: None,
        buf: String::new(),
        full: CHUNK,
        written: 0,
    };
    match target {
        SinkTarget::File { format, .. } | SinkTarget::Stdout { format } => {
            writer.encoder = Some(Encoder::new(format, schema))
        }
        SinkTarget::Parts { path, format } => {
            writer.encoder = Some(Encoder::new(format, schema));
            match create(&part_path(path, worker), format, schema) {
                Ok(w) => writer.part = Some(w),
                Err(e) => shared.fail(e),
            }
        }
        SinkTarget::Rust(_) => {}
    }
    let mut state = SinkState {
        writer,
        updating,
        streaming: shared.streaming,
        pending: Vec::new(),
        consolidated: 0,
        retracted: false,
        seen: Vec::new(),
        finished: false,
        counters: Rc::clone(counters),
    };
    let name = format!("Sink {index}");
    // One file written by several processes is written by worker 0; the changes of an
    // updating stream meet by record (a record's insertion and retraction may come from
    // different workers) so that they cancel out.
    let gather = target.single() && shared.multi_process();
    if gather || updating {
        let pact = Exchange::new(move |(row, _, _): &(Row, u64, isize)| if gather { 0 } else { row.hashed() });
        coll.inner.sink(pact, &name, move |(input, frontier)| {
            input.for_each(|_, data| state.absorb(data));
            state.advance(frontier);
        });
    } else {
        coll.inner.sink(Pipeline, &name, move |(input, frontier)| {
            input.for_each(|_, data| state.absorb(data));
            state.advance(frontier);
        });
    }
}

struct SinkState {
    writer: Writer,
    updating: bool,
    /// Whether the job is a stream: changes are written as times complete, with `diff`.
    streaming: bool,
    /// An updating stream's changes not yet written, and how many were left by the last
    /// consolidation.
    pending: Vec<(Row, u64, isize)>,
    consolidated: usize,
    /// Whether an updating stream has retracted anything yet.
    retracted: bool,
    /// The input frontier at the last activation (a move means a flush).
    seen: Vec<u64>,
    finished: bool,
    counters: Rc<Counters>,
}

impl SinkState {
    fn absorb(&mut self, data: &mut Vec<(Row, u64, isize)>) {
        if self.updating {
            self.retracted |= data.iter().any(|(_, _, diff)| *diff < 0);
            if !self.streaming {
                // A batch job writes the final contents: every change counts at one time, so
                // that a result replaced later (at a later watermark) cancels out.
                data.iter_mut().for_each(|(_, time, _)| *time = 0);
            }
            self.pending.append(data);
            // Changes that cancel out are dropped once what is pending has doubled since the
            // last time: amortized, each change is sorted a constant number of times.
            if self.retracted && !self.streaming && self.pending.len() > (2 * self.consolidated).max(1 << 16) {
                consolidate_updates(&mut self.pending);
                self.consolidated = self.pending.len();
            }
            return;
        }
        for (row, _time, diff) in data.drain(..) {
            self.writer.write_times(row, diff);
        }
    }

    /// Writes what the frontier has completed: in a stream, the changes of complete times (and
    /// a flush whenever the frontier moves); in a batch job, the final contents at the end.
    fn advance(&mut self, frontier: &MutableAntichain<u64>) {
        if self.finished {
            return;
        }
        let complete = frontier.is_empty();
        if self.streaming && self.updating {
            let (done, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.pending).into_iter().partition(|(_, t, _)| !frontier.less_equal(t));
            self.pending = later;
            let mut done = done;
            consolidate_updates(&mut done);
            done.sort_by_key(|(_, t, _)| *t);
            for (mut row, _, n) in done {
                row.push(Value::Int(n.signum() as i64));
                for _ in 1..n.abs() {
                    self.writer.write(row.clone());
                }
                self.writer.write(row);
            }
        }
        let moved = frontier.frontier().iter().ne(self.seen.iter());
        if moved && !complete {
            self.seen = frontier.frontier().to_vec();
            if self.streaming {
                self.writer.flush(true);
            }
        }
        if complete {
            self.finished = true;
            let mut rest = std::mem::take(&mut self.pending);
            // With nothing retracted, every change is an insertion that stays: the contents
            // are the changes as they came.
            if self.retracted {
                consolidate_updates(&mut rest);
            }
            for (row, _, n) in rest {
                self.writer.write_times(row, n);
            }
            self.writer.flush(true);
            Counters::add(&self.counters.written[self.writer.target], self.writer.written);
        }
    }
}
