//! Sources: one operator per source and worker, reading its share of the input in batches
//! without blocking the worker, with two outputs — the decoded records and the rejected ones.

use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use eddy_dsl::plan::SourceConnector;
use eddy_dsl::{Row, Schema, Value};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::{Scope, StreamVec};

use super::{Coll, Shared};
use crate::readers::{self, Reader};
use crate::summary::Counters;

/// Records per batch: one timely message, one time check.
pub const BATCH: usize = 4096;

/// Renders source number `source_index` of the plan, reading with `reader` (see `open`): its
/// records and its rejected records.
pub fn render<'s>(
    scope: Scope<'s, u64>,
    name: &str,
    reader: Option<Box<dyn Reader>>,
    source_index: usize,
    shared: &Arc<Shared>,
    counters: &Rc<Counters>,
) -> (Coll<'s>, Coll<'s>) {
    let mut builder = OperatorBuilder::new(format!("Source {name}"), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(Rc::clone(&info.address));
    let (ok_out, ok_stream) = builder.new_output::<Vec<(Row, u64, isize)>>();
    let (err_out, err_stream) = builder.new_output::<Vec<(Row, u64, isize)>>();
    let mut ok_out = OutputBuilder::from(ok_out);
    let mut err_out = OutputBuilder::from(err_out);
    let shared = Arc::clone(shared);
    let counters = Rc::clone(counters);
    builder.build(move |caps| {
        // One capability per output; dropped (with the reader) when the input is done.
        let mut caps = Some(caps);
        let mut reader = reader;
        let mut ok: Vec<Row> = Vec::with_capacity(BATCH);
        let mut err: Vec<Row> = Vec::new();
        move |_frontiers| {
            let Some([ok_cap, err_cap]) = caps.as_deref() else { return };
            let done = match reader.as_mut() {
                Some(r) => {
                    let status = r.read(BATCH, &mut ok, &mut err);
                    if let Err(e) = &status {
                        shared.fail(e.clone());
                    }
                    status.unwrap_or(readers::Status::Done)
                }
                None => readers::Status::Done,
            };
            Counters::add(&counters.read[source_index], (ok.len() + err.len()) as u64);
            Counters::add(&counters.rejected[source_index], err.len() as u64);
            if !ok.is_empty() {
                let mut out = ok_out.activate();
                let mut session = out.session(ok_cap);
                session.give_iterator(ok.drain(..).map(|row| (row, 0u64, 1isize)));
            }
            if !err.is_empty() {
                let mut out = err_out.activate();
                let mut session = out.session(err_cap);
                session.give_iterator(err.drain(..).map(|row| (row, 0u64, 1isize)));
            }
            match done {
                readers::Status::Done => {
                    caps = None;
                    reader = None;
                }
                readers::Status::More => activator.activate(),
                readers::Status::Idle => activator.activate_after(std::time::Duration::from_millis(1)),
            }
        }
    });
    let ok: StreamVec<'s, u64, (Row, u64, isize)> = ok_stream;
    let err: StreamVec<'s, u64, (Row, u64, isize)> = err_stream;
    (ok.as_collection(), err.as_collection())
}

/// This worker's reader for the source, or `None` when it has no share of it.
pub fn open(
    worker: usize,
    peers: usize,
    name: &str,
    connector: &SourceConnector,
    schema: &Schema,
    used: &[bool],
    shared: &Arc<Shared>,
) -> Option<Box<dyn Reader>> {
    let result: Result<Option<Box<dyn Reader>>, String> = match connector {
        SourceConnector::File { path, format } => {
            readers::FileReader::open(name, path, format, schema, used, worker, peers, shared.max_line_bytes)
                .map(|r| Some(Box::new(r) as Box<dyn Reader>))
        }
        SourceConnector::Stdin { format } => Ok((worker == 0).then(|| {
            Box::new(readers::StdinReader::new(name, format, schema, used, shared.max_line_bytes)) as Box<dyn Reader>
        })),
        SourceConnector::Generate { kind, events, seed } => {
            readers::GenerateReader::new(kind, *events, *seed, schema, worker, peers)
                .map(|r| Some(Box::new(r) as Box<dyn Reader>))
        }
        SourceConnector::Rust => Ok(shared
            .rust_sources
            .get(name)
            .map(|feed| Box::new(readers::RustReader::new(name, Arc::clone(feed), schema)) as Box<dyn Reader>)),
    };
    result.unwrap_or_else(|e| {
        shared.fail(e);
        None
    })
}

/// The row of `source.errors` for a record that failed to decode.
pub fn error_row(raw: &[u8], error: String, source: &str, position: String) -> Row {
    const MAX_RAW: usize = 4096;
    let raw = String::from_utf8_lossy(&raw[..raw.len().min(MAX_RAW)]);
    vec![Value::str(&raw), Value::str(&error), Value::str(source), Value::str(&position)]
}
