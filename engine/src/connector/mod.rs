//! Connectors: where a source's records come from, one module each. Each worker reads its own
//! share (stripes of a file, blocks of generated events) in batches through a `Reader`, and
//! never blocks its worker: inputs that must block (stdin) are read on their own thread and
//! handed over through a bounded channel. `open` is the one place that knows them all.

mod feed;
mod file;
mod generate;
mod lines;
pub mod sink;
mod stdin;
mod task;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use eddy_dsl::plan::SourceConnector;
use eddy_dsl::{Row, Schema, Value};

use feed::Ledger;
pub use feed::{Ack, Feed};
use file::{Dealer, Stripes};
use task::Runtime;
pub use task::Wake;

/// Records per batch: one timely message, one time check. Small enough that a batch's rows
/// are still in the cache when the operators after the source read them (4096 was 10-20 %
/// slower on Nexmark's aggregates and joins), large enough that per-message costs vanish.
pub const BATCH: usize = 1024;

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

/// A range of a partition's positions: `(partition, from..to)`.
pub type Span = (usize, Range<u64>);

pub trait Reader {
    /// Reads up to `max` records, appending decoded rows to `ok` and `.errors` rows to `err`.
    fn read(&mut self, max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String>;

    /// A time the watermark must move to after the records just read (a test's `advance`).
    fn advance(&mut self) -> Option<i64> {
        None
    }

    /// How many partitions this reader holds: each has its own watermark, and the source's
    /// is their minimum (a slow partition's records are judged against its own).
    fn partitions(&self) -> usize {
        1
    }

    /// The partition of each run of the rows the last `read` appended, as `(partition, rows)`
    /// in order; empty when they are all of partition 0.
    fn runs(&self) -> &[(usize, usize)] {
        &[]
    }

    /// Whether this reader acknowledges what is done (then the source operator tracks the
    /// positions it emitted, and calls `ack`).
    fn acks(&self) -> bool {
        false
    }

    /// The positions of the records the last `read` took, as ranges `(partition, from..to)`
    /// (a partition's offsets for a broker, sequence numbers for a feed or for requests): the
    /// rejected records' too, which are done with the others.
    fn positions(&self) -> &[Span] {
        &[]
    }

    /// The positions `done` are done: every result depending on them is durable in every sink
    /// (see `render/source.rs` for when). Ranges come in the order they were read, per
    /// partition; a reader commits, acknowledges or replies.
    fn ack(&mut self, _done: &[Span]) {}
}

/// What the connectors of one process share across its workers.
pub struct Connectors {
    /// The feeds of `Rust` sources, by source name.
    pub rust_sources: HashMap<String, Arc<Feed>>,
    /// The positions of the feeds the program acknowledges, by source name.
    ledgers: HashMap<String, Arc<Ledger>>,
    /// Longer input lines are rejected to `.errors`.
    pub max_line_bytes: usize,
    /// Per file source, what deals its stripes to this process's workers.
    dealers: Mutex<HashMap<String, Dealer>>,
    /// This process, of how many.
    process: (usize, usize),
    /// The async runtime of the client tasks, made when a connector first needs one.
    runtime: Runtime,
}

impl Connectors {
    pub fn new(
        (rust_sources, acks): (HashMap<String, Arc<Feed>>, HashMap<String, Ack>),
        max_line_bytes: usize,
        process: (usize, usize),
    ) -> Connectors {
        let ledgers = acks.into_iter().map(|(name, ack)| (name, Arc::new(Ledger::new(ack)))).collect();
        Connectors {
            rust_sources,
            ledgers,
            max_line_bytes,
            dealers: Mutex::new(HashMap::new()),
            process,
            runtime: Runtime::default(),
        }
    }

    /// The job ended successfully: everything source `source` read is done.
    pub fn done_at_end(&self, source: &str) {
        if let Some(ledger) = self.ledgers.get(source) {
            ledger.all();
        }
    }

    /// What deals the stripes of file source `source` to this process's workers (the same for
    /// all of them).
    fn dealer(&self, source: &str) -> Dealer {
        let (process, processes) = self.process;
        let mut dealers = self.dealers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let new = || Dealer::new(process, processes, file::STRIPE);
        dealers.entry(source.to_string()).or_insert_with(new).clone()
    }
}

/// What a source is: its name, connector, schema and the fields read (see `Source { used }`).
pub struct SourceSpec<'a> {
    pub name: &'a str,
    pub connector: &'a SourceConnector,
    pub schema: &'a Schema,
    pub used: &'a [bool],
}

/// Worker `worker` of `peers`' reader for a source, or `None` when it has no share of it;
/// `wake` schedules the source's operator (for clients that hand over data as it arrives).
pub fn open(
    (worker, peers): (usize, usize),
    source: SourceSpec,
    connectors: &Connectors,
    wake: Wake,
) -> Result<Option<Box<dyn Reader>>, String> {
    let SourceSpec { name, connector, schema, used } = source;
    match connector {
        SourceConnector::File { path, format, follow } => file::FileReader::open(
            name,
            path,
            format,
            schema,
            used,
            (worker, peers),
            connectors.max_line_bytes,
            if *follow { Stripes::Range } else { Stripes::Dealt(connectors.dealer(name)) },
        )
        .map(|r| Some(Box::new(r) as Box<dyn Reader>)),
        SourceConnector::Stdin { .. } if worker > 0 => Ok(None),
        SourceConnector::Stdin { format } => {
            let limit = connectors.max_line_bytes;
            stdin::StdinReader::new(name, format, schema, used, limit, &connectors.runtime, wake)
                .map(|r| Some(Box::new(r) as Box<dyn Reader>))
        }
        SourceConnector::Generate { kind, events, seed, rate } => {
            generate::GenerateReader::new(kind, *events, *seed, *rate, schema, worker, peers)
                .map(|r| Some(Box::new(r) as Box<dyn Reader>))
        }
        SourceConnector::Rust => {
            Ok(connectors.rust_sources.get(name).filter(|feed| worker == 0 || !matches!(***feed, Feed::Script(_))).map(
                |feed| {
                    let ledger = connectors.ledgers.get(name).cloned();
                    Box::new(feed::RustReader::new(name, Arc::clone(feed), schema, ledger)) as Box<dyn Reader>
                },
            ))
        }
    }
}

/// The row of `source.errors` for a record that failed to decode.
pub fn error_row(raw: &[u8], error: String, source: &str, position: String) -> Row {
    const MAX_RAW: usize = 4096;
    let raw = String::from_utf8_lossy(&raw[..raw.len().min(MAX_RAW)]);
    vec![Value::str(&raw), Value::str(&error), Value::str(source), Value::str(&position)]
}

/// The raw text of a `.errors` row for a record that came as a row, not as text (from a Rust
/// feed, or a decoded record rejected later): its values as a JSON array, as sinks write them.
pub fn raw_row(row: &[Value]) -> String {
    let mut raw = String::from("[");
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            raw.push(',');
        }
        v.write_json(&mut raw);
    }
    raw.push(']');
    raw
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
