//! Eddy: event pipelines written in a small declarative language, compiled to timely dataflow.
//!
//! This crate is the embedding API (the `eddy` CLI is a thin user of it): compile a pipeline
//! from text or a file, set params, register Rust functions, feed sources from Rust, receive
//! a stream's records in a closure, and run on threads or processes.
//!
//! ```
//! use eddy::{Pipeline, RunConfig, Type, Value};
//! use std::sync::{Arc, Mutex};
//!
//! let text = r#"
//!     schema Reading { sensor: string, celsius: float }
//!     param limit: float = 30.0
//!     source readings: Reading = file("unused.jsonl")
//!     stream hot = readings
//!       | filter celsius > limit
//!       | select { sensor: shout(sensor), fahrenheit: celsius * 9.0 / 5.0 + 32.0 }
//!     sink hot -> stdout()
//! "#;
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let out = Arc::clone(&seen);
//! let summary = Pipeline::from_text("example.eddy", text)
//!     .param("limit", "25")
//!     .function("shout", &[Type::STRING], Type::STRING, |args| match &args[0] {
//!         Value::Str(s) => Value::str(&s.to_uppercase()),
//!         _ => Value::Null,
//!     })
//!     .feed("readings", vec![
//!         vec![Value::str("a"), Value::float(20.0)],
//!         vec![Value::str("b"), Value::float(40.0)],
//!     ])
//!     .on_records("hot", move |r| out.lock().unwrap().push(r.to_json()))
//!     .run(&RunConfig { workers: 2, ..RunConfig::default() })
//!     .unwrap();
//! assert_eq!(*seen.lock().unwrap(), vec![r#"{"sensor":"B","fahrenheit":104.0}"#.to_string()]);
//! assert_eq!(summary.source("readings").unwrap().read, 2);
//! ```

mod diagnostics;
mod testing;

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use eddy_dsl::check::Options;
use eddy_dsl::functions::Udf;
use eddy_dsl::plan::Plan;

pub use diagnostics::render as render_diagnostics;
pub use eddy_dsl::{Diagnostic, Row, Schema, Severity, Type, Value};
pub use eddy_engine::{RunConfig, SinkSummary, SourceSummary, Summary};
pub use testing::TestOutcome;

/// A pipeline to compile and run, with what the embedding program connects to it.
pub struct Pipeline {
    name: String,
    text: String,
    options: Options,
    feeds: HashMap<String, Arc<eddy_engine::Feed>>,
    acks: HashMap<String, eddy_engine::Ack>,
    receivers: HashMap<String, Box<dyn FnMut(Record) + Send>>,
}

/// A pipeline that passed `check`: its plan, and the warnings found.
pub struct Compiled {
    pub plan: Plan,
    pub warnings: Vec<Diagnostic>,
    name: String,
    text: String,
}

impl Compiled {
    /// The warnings, rendered like errors.
    pub fn render_warnings(&self, color: bool) -> String {
        render_diagnostics(&self.name, &self.text, &self.warnings, color)
    }
}

/// Why a pipeline did not run.
#[derive(Debug)]
pub enum Error {
    /// The pipeline has mistakes; nothing ran.
    Pipeline { name: String, text: String, diagnostics: Vec<Diagnostic> },
    /// Reading the pipeline file failed.
    Io(String),
    /// The job could not start, or a worker failed.
    Runtime(String),
    /// The job ran and failed (a sink could not write, an input could not be read); the
    /// summary counts what it did until then.
    Failed { message: String, summary: Summary },
}

impl Error {
    /// The diagnostics rendered with the source lines and carets.
    pub fn render(&self, color: bool) -> String {
        match self {
            Error::Pipeline { name, text, diagnostics } => render_diagnostics(name, text, diagnostics, color),
            other => format!("error: {other}\n"),
        }
    }

    /// The CLI's exit code for this error: 1 for a pipeline mistake, 2 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Pipeline { .. } => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Pipeline { diagnostics, .. } => {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                write!(f, "the pipeline has {errors} error{}", if errors == 1 { "" } else { "s" })
            }
            Error::Io(e) | Error::Runtime(e) | Error::Failed { message: e, .. } => f.write_str(e),
        }
    }
}

impl std::error::Error for Error {}

/// A record a stream handed to the program: values by position, named by the schema.
#[derive(Clone, Debug)]
pub struct Record {
    pub schema: Arc<Schema>,
    pub values: Row,
}

impl Record {
    /// The value of a field by name.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.schema.index_of(field).and_then(|i| self.values.get(i))
    }

    /// The record as one line of JSON, as the `jsonl` format writes it.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        for (i, (f, v)) in self.schema.fields.iter().zip(&self.values).enumerate() {
            if i > 0 {
                s.push(',');
            }
            eddy_dsl::value::write_json_string(&f.name, &mut s);
            s.push(':');
            v.write_json(&mut s);
        }
        s.push('}');
        s
    }
}

impl Pipeline {
    /// A pipeline from text; `name` is how diagnostics refer to it.
    pub fn from_text(name: &str, text: &str) -> Pipeline {
        Pipeline {
            name: name.to_string(),
            text: text.to_string(),
            options: Options { check_files: true, ..Options::default() },
            feeds: HashMap::new(),
            acks: HashMap::new(),
            receivers: HashMap::new(),
        }
    }

    /// A pipeline from a `.eddy` file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Pipeline, Error> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Io(format!("cannot read '{}': {e}", path.display())))?;
        Ok(Pipeline::from_text(&path.display().to_string(), &text))
    }

    /// Overrides a param, given as text as on the command line (`--param name=value`).
    pub fn param(mut self, name: &str, value: &str) -> Pipeline {
        self.options.params.push((name.to_string(), value.to_string()));
        self
    }

    /// Whether `check` looks for input files (on by default).
    pub fn check_files(mut self, check: bool) -> Pipeline {
        self.options.check_files = check;
        self
    }

    /// Registers a function expressions can call, with the signature the checker enforces.
    pub fn function(
        mut self,
        name: &str,
        params: &[Type],
        ret: Type,
        f: impl Fn(&[Value]) -> Value + Send + Sync + 'static,
    ) -> Pipeline {
        let udf = Udf { name: name.to_string(), params: params.to_vec(), ret, imp: Arc::new(f) };
        self.options.functions.udfs.insert(name.to_string(), Arc::new(udf));
        self
    }

    /// Feeds source `source` from an iterator of rows (values in the schema's field order)
    /// instead of its connector. Rows that do not match the schema go to `source.errors`.
    pub fn feed<I>(mut self, source: &str, rows: I) -> Pipeline
    where
        I: IntoIterator<Item = Row>,
        I::IntoIter: Send + 'static,
    {
        let iter: Box<dyn Iterator<Item = Row> + Send> = Box::new(rows.into_iter());
        self.feeds.insert(source.to_string(), Arc::new(eddy_engine::Feed::Iter(Mutex::new(iter))));
        self.options.rust_sources.insert(source.to_string());
        self
    }

    /// Feeds source `source` from a channel; the source ends when every sender is dropped.
    pub fn feed_channel(mut self, source: &str, rows: Receiver<Row>) -> Pipeline {
        self.feeds.insert(source.to_string(), Arc::new(eddy_engine::Feed::Channel(Mutex::new(rows))));
        self.options.rust_sources.insert(source.to_string());
        self
    }

    /// Feeds source `source` from an iterator, as `feed`, and calls `ack` with how many of its
    /// records (from the first, in order) are done: every result that depends on them is in
    /// every sink (written to a file, handed to `on_records`). The program may then commit its
    /// own source (a queue, an offset) up to there. When a record is done depends on the
    /// pipeline (`explain` says it, as `done:`): in a batch job, at its successful end; in a
    /// stream, once the sinks' progress passes its event time plus what windows hold it;
    /// never while a stage keeps its results changing (an aggregate without a window). A job
    /// that fails acknowledges nothing more.
    pub fn feed_acked<I>(self, source: &str, rows: I, ack: impl FnMut(u64) + Send + 'static) -> Pipeline
    where
        I: IntoIterator<Item = Row>,
        I::IntoIter: Send + 'static,
    {
        let mut p = self.feed(source, rows);
        p.acks.insert(source.to_string(), Arc::new(Mutex::new(ack)));
        p
    }

    /// Feeds source `source` from a channel, as `feed_channel`, with acknowledgements as
    /// `feed_acked`.
    pub fn feed_channel_acked(
        self,
        source: &str,
        rows: Receiver<Row>,
        ack: impl FnMut(u64) + Send + 'static,
    ) -> Pipeline {
        let mut p = self.feed_channel(source, rows);
        p.acks.insert(source.to_string(), Arc::new(Mutex::new(ack)));
        p
    }

    /// Calls `f` with every record of stream `stream` (`name`, or `source.errors`). In a batch
    /// job an updating stream gives its final contents.
    pub fn on_records(mut self, stream: &str, f: impl FnMut(Record) + Send + 'static) -> Pipeline {
        self.receivers.insert(stream.to_string(), Box::new(f));
        self.options.rust_sinks.insert(stream.to_string());
        self
    }

    /// Parses, checks and lowers the pipeline, its `test` blocks included (as `eddy check`
    /// does): every mistake in the file.
    pub fn compile(&self) -> Result<Compiled, Error> {
        self.compile_with(&self.options)
    }

    /// Parses, checks and lowers the pipeline to run it: the `test` blocks are left out, as a
    /// run ignores them, so a mistake inside one does not stop the run.
    pub fn compile_to_run(&self) -> Result<Compiled, Error> {
        self.compile_with(&Options { ignore_tests: true, ..self.options.clone() })
    }

    fn compile_with(&self, options: &Options) -> Result<Compiled, Error> {
        match eddy_dsl::compile(&self.text, options) {
            Ok((plan, warnings)) => Ok(Compiled { plan, warnings, name: self.name.clone(), text: self.text.clone() }),
            Err(diagnostics) => Err(Error::Pipeline { name: self.name.clone(), text: self.text.clone(), diagnostics }),
        }
    }

    /// Compiles and runs the pipeline to the end; returns the summary.
    pub fn run(self, config: &RunConfig) -> Result<Summary, Error> {
        let compiled = self.compile_to_run()?;
        self.run_compiled(&compiled, config)
    }

    /// Runs the pipeline's `test` blocks, one after the other; the outcome of each.
    pub fn run_tests(&self, config: &RunConfig) -> Result<Vec<TestOutcome>, Error> {
        let tests = eddy_dsl::compile_tests(&self.text, &self.options).map_err(|diagnostics| Error::Pipeline {
            name: self.name.clone(),
            text: self.text.clone(),
            diagnostics,
        })?;
        Ok(tests.iter().map(|(case, plan)| testing::run(case, plan, config)).collect())
    }

    /// Runs a pipeline compiled with `compile`.
    pub fn run_compiled(self, compiled: &Compiled, config: &RunConfig) -> Result<Summary, Error> {
        let mut bindings = eddy_engine::Bindings { sources: self.feeds, acks: self.acks, sinks: HashMap::new() };
        for (stream, mut f) in self.receivers {
            let wanted = eddy_dsl::plan::SinkConnector::Rust { stream: stream.clone() };
            let Some(sink) = compiled.plan.sinks.iter().find(|s| s.connector == wanted) else { continue };
            let schema = Arc::new(compiled.plan.nodes[sink.input].schema.clone());
            let receiver: eddy_engine::RustSink =
                Arc::new(Mutex::new(move |values: Row| f(Record { schema: Arc::clone(&schema), values })));
            bindings.sinks.insert(stream, receiver);
        }
        eddy_engine::run(&compiled.plan, config, bindings).map_err(|e| match e {
            eddy_engine::Error::Failed { error, summary } => Error::Failed { message: error, summary },
            other => Error::Runtime(other.to_string()),
        })
    }
}
