//! Sinks: encode rows and write them. A batch job writes an updating stream's final contents
//! (consolidated when its input is complete) and an append-only stream as it arrives.
//!
//! A batch job writes each file under a temporary name beside it (`.name.eddy-tmp-PID`) and
//! renames it at its successful end (`SinkTarget::commit`): a job that fails or is stopped
//! leaves no complete-looking file behind, and any previous file as it was. A stream never
//! ends successfully, so it writes its files in place.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
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
pub struct SinkTarget {
    /// The sink as the summary shows it (`stream -> connector`), to name it in errors.
    label: String,
    to: To,
    /// The files written under temporary names, to rename at the end.
    staged: Mutex<Vec<Staged>>,
}

enum To {
    /// One file, opened by the process that writes it (process 0).
    File {
        file: Mutex<Option<File>>,
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
    /// Prepares sink `label` in process `process`: the single-file sink's file is created (with
    /// its header) up front, so an empty result still gives a file.
    pub fn open(
        connector: &SinkConnector,
        schema: &Schema,
        label: String,
        (process, streaming): (usize, bool),
        rust: Option<RustSink>,
    ) -> Result<SinkTarget, String> {
        let mut staged = Vec::new();
        let to = match connector {
            SinkConnector::File { path, format, partitioned: false } => {
                let file = match process {
                    0 => Some(create(path, format, schema, streaming, &mut staged)?),
                    _ => None,
                };
                To::File { file: Mutex::new(file), format: format.clone() }
            }
            SinkConnector::File { path, format, partitioned: true } => {
                To::Parts { path: path.clone(), format: format.clone() }
            }
            SinkConnector::Stdout { format } => {
                if let (0, Some(header)) = (process, Encoder::new(format, schema).header()) {
                    let mut out = std::io::stdout().lock();
                    out.write_all(header.as_bytes()).map_err(|e| format!("sink {label}: cannot write: {e}"))?;
                }
                To::Stdout { format: format.clone() }
            }
            SinkConnector::Rust { .. } => To::Rust(rust.ok_or("no receiver for a Rust sink")?),
        };
        Ok(SinkTarget { label, to, staged: Mutex::new(staged) })
    }

    /// Gives the files this process wrote their names: the job succeeded.
    pub fn commit(&self) -> Result<(), String> {
        let mut staged = self.staged.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for file in staged.drain(..) {
            file.commit().map_err(|e| format!("sink {}: {e}", self.label))?;
        }
        Ok(())
    }

    /// Whether all records must meet in one place (worker 0) when several processes run.
    fn single(&self) -> bool {
        !matches!(self.to, To::Parts { .. })
    }
}

/// A file written under a temporary name; dropped before `commit`, it is removed.
struct Staged {
    temp: PathBuf,
    path: PathBuf,
}

impl Staged {
    fn commit(self) -> Result<(), String> {
        std::fs::rename(&self.temp, &self.path)
            .map_err(|e| format!("cannot rename '{}' to '{}': {e}", self.temp.display(), self.path.display()))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // After `commit` the temporary name is gone, and this finds nothing to remove.
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Creates the file `path` with its header: in a batch job under a temporary name, recorded
/// in `staged`. A path that exists and is not a regular file (`/dev/null`, a pipe) is
/// written in place: it cannot be replaced.
fn create(
    path: &str,
    format: &Format,
    schema: &Schema,
    streaming: bool,
    staged: &mut Vec<Staged>,
) -> Result<File, String> {
    let io = |e: std::io::Error| format!("cannot write '{path}': {e}");
    // A link is followed: the file it points to is replaced, not the link.
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| path.into()),
        _ => PathBuf::from(path),
    };
    let target = target.as_path();
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let special = std::fs::metadata(target).is_ok_and(|m| !m.is_file());
    let mut file = match (streaming || special, target.file_name()) {
        (false, Some(name)) => {
            let temp_name = format!(".{}.eddy-tmp-{}", name.to_string_lossy(), std::process::id());
            let temp = dir.map_or_else(|| PathBuf::from(&temp_name), |d| d.join(&temp_name));
            let file = File::create(&temp).map_err(io)?;
            staged.push(Staged { temp, path: target.to_path_buf() });
            file
        }
        _ => File::create(target).map_err(io)?,
    };
    if let Some(header) = Encoder::new(format, schema).header() {
        file.write_all(header.as_bytes()).map_err(io)?;
    }
    Ok(file)
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

/// One worker's end of a sink: its encoder, buffer and (for parts) file. Writes go straight to
/// the file in chunks of `CHUNK` (no `BufWriter`), so that `written` counts only the records
/// whose bytes the system took.
struct Writer {
    target: usize,
    shared: Arc<Shared>,
    encoder: Option<Encoder>,
    part: Option<File>,
    buf: String,
    /// The buffer's length at which to write it out.
    full: usize,
    /// Records encoded in `buf`, not yet written.
    buffered: u64,
    /// Records written: handed to the system or to the program's closure.
    written: u64,
    /// Whether a write failed: the job ends with that error, and what comes is dropped.
    failed: bool,
    counters: Rc<Counters>,
}

impl Writer {
    fn write(&mut self, row: Row) {
        if self.failed {
            return;
        }
        match (&self.shared.sinks[self.target].to, &self.encoder) {
            (To::Rust(f), _) => {
                if let Ok(mut f) = f.lock() {
                    f(row);
                    self.written += 1;
                }
            }
            (_, Some(encoder)) => {
                encoder.encode(&row, &mut self.buf);
                self.buffered += 1;
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
        if self.failed {
            return;
        }
        let bytes = std::mem::take(&mut self.buf);
        let sink = &self.shared.sinks[self.target];
        let result = match &sink.to {
            To::File { file, .. } => {
                let mut guard = match file.try_lock() {
                    // Another worker is writing: rather than wait, go on and try again
                    // with another chunk (up to 4 MB).
                    Err(TryLockError::WouldBlock) if !end && bytes.len() < 1 << 22 => {
                        self.buf = bytes;
                        self.full = self.buf.len() + CHUNK;
                        return;
                    }
                    Err(TryLockError::WouldBlock) => file.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Ok(w) => w,
                };
                match guard.as_mut() {
                    Some(f) => f.write_all(bytes.as_bytes()),
                    None => Ok(()),
                }
            }
            To::Parts { .. } => match self.part.as_mut() {
                Some(f) => f.write_all(bytes.as_bytes()),
                None => Ok(()),
            },
            To::Stdout { .. } => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes.as_bytes()).and_then(|_| if end { out.flush() } else { Ok(()) })
            }
            To::Rust(_) => Ok(()),
        };
        match result {
            Ok(()) => self.written += self.buffered,
            // A full disk or a closed pipe (`eddy run ... | head`) ends the job with an error.
            Err(e) => {
                self.failed = true;
                Counters::add(&self.counters.failed[self.target], 1);
                self.shared.fail(format!("sink {}: cannot write: {e}", sink.label));
            }
        }
        self.buffered = 0;
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
        buffered: 0,
        written: 0,
        failed: false,
        counters: Rc::clone(counters),
    };
    match &target.to {
        To::File { format, .. } | To::Stdout { format } => writer.encoder = Some(Encoder::new(format, schema)),
        To::Parts { path, format } => {
            writer.encoder = Some(Encoder::new(format, schema));
            let mut staged = target.staged.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match create(&part_path(path, worker), format, schema, shared.streaming, &mut staged) {
                Ok(f) => writer.part = Some(f),
                Err(e) => {
                    writer.failed = true;
                    Counters::add(&counters.failed[index], 1);
                    shared.fail(e);
                }
            }
        }
        To::Rust(_) => {}
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
