//! Sink connectors: where a stream's records go, one module each. `open` is the one place that
//! knows them all; the sink operator (`render/sink.rs`) drives them through `Sink` and
//! `SinkWriter` alone.
//!
//! A sink is opened once per process (`Sink`), and each worker writes through its own
//! `SinkWriter`. A writer reports a time durable when the operator has flushed it at a frontier
//! move: for a file, written to the system; for stdout, written; for a Rust receiver, handed
//! over. A batch job's files are staged under temporary names and given theirs by `finish`.

mod file;
mod rust;
mod stdout;

use std::sync::{Arc, Mutex};

use eddy_dsl::plan::{Format, SinkConnector};
use eddy_dsl::{Row, Schema};

use crate::format::Encoder;

/// Records of a stream handed to the embedding program.
pub type RustSink = Arc<Mutex<dyn FnMut(Row) + Send>>;

/// A sink's end in one process, shared by its workers.
pub trait Sink: Send + Sync {
    /// Whether all records must meet at one worker (worker 0) when several processes run.
    fn single(&self) -> bool {
        true
    }

    /// Worker `worker`'s writer (`streaming`: whether the job is a stream).
    fn writer(&self, worker: usize, streaming: bool) -> Result<Box<dyn SinkWriter>, String>;

    /// The job succeeded: make what this process wrote visible (rename staged files).
    fn finish(&self) -> Result<(), String> {
        Ok(())
    }
}

/// One worker's end of a sink. After an error the operator writes nothing more to it.
pub trait SinkWriter {
    /// Writes one record (it may be buffered until `flush`).
    fn write(&mut self, row: Row) -> Result<(), String>;

    /// The frontier moved (`end`: for the last time): hands what is buffered over, so that it
    /// is durable. `end == false` may keep a chunk a little longer (see `file`).
    fn flush(&mut self, end: bool) -> Result<(), String>;

    /// Records handed over so far (to the system or to the program).
    fn written(&self) -> u64;
}

/// How sink `label` (`stream -> connector`) is opened in process `process`.
pub struct SinkSpec<'a> {
    pub connector: &'a SinkConnector,
    pub schema: &'a Schema,
    pub label: String,
    pub process: usize,
    pub streaming: bool,
    /// The program's receiver, for a `Rust` sink.
    pub rust: Option<RustSink>,
}

/// Opens a sink in this process: a single file is created with its header up front (by process
/// 0), so an empty result still gives a file; stdout gets its header.
pub fn open(spec: SinkSpec) -> Result<Box<dyn Sink>, String> {
    let SinkSpec { connector, schema, label, process, streaming, rust } = spec;
    Ok(match connector {
        SinkConnector::File { path, format, partitioned: false } => {
            Box::new(file::FileSink::single(path, format, schema, process, streaming)?)
        }
        SinkConnector::File { path, format, partitioned: true } => {
            Box::new(file::FileSink::parts(path, format, schema))
        }
        SinkConnector::Stdout { format } => Box::new(stdout::StdoutSink::open(format, schema, &label, process)?),
        SinkConnector::Rust { .. } => Box::new(rust::Receiver(rust.ok_or("no receiver for a Rust sink")?)),
    })
}

/// How much a worker's sink encodes before it writes.
const CHUNK: usize = 1 << 16;

/// Records encoded as text, waiting to be written in chunks of `CHUNK` (no `BufWriter`), so
/// that `written` counts only the records whose bytes the system took.
struct Encoded {
    encoder: Encoder,
    buf: String,
    /// The buffer's length at which to write it out.
    full: usize,
    /// Records encoded in `buf`, not yet written.
    buffered: u64,
    written: u64,
}

impl Encoded {
    fn new(format: &Format, schema: &Schema) -> Encoded {
        Encoded { encoder: Encoder::new(format, schema), buf: String::new(), full: CHUNK, buffered: 0, written: 0 }
    }

    /// Encodes `row`; true when the buffer is full and should be written.
    fn push(&mut self, row: &Row) -> bool {
        self.encoder.encode(row, &mut self.buf);
        self.buffered += 1;
        self.buf.len() >= self.full
    }

    /// The buffer was written (or failed to be: it is dropped either way).
    fn wrote(&mut self, ok: bool) {
        if ok {
            self.written += self.buffered;
        }
        self.buffered = 0;
        self.buf.clear();
        self.full = CHUNK;
    }

    /// Writing must wait: take another chunk first.
    fn defer(&mut self) {
        self.full = self.buf.len() + CHUNK;
    }
}
