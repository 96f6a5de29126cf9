//! `render`: the plan → timely/differential operators on one worker. One `match` over the
//! plan's nodes; each family of operators lives in its own file.

mod aggregate;
mod distinct;
mod join;
mod map;
mod sink;
pub mod source;
mod window;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use differential_dataflow::VecCollection;
use eddy_dsl::plan::{NodeKind, Plan};
use eddy_dsl::Row;
use timely::dataflow::Scope;

use crate::readers::Feed;
use crate::summary::Counters;

pub use sink::{RustSink, SinkTarget};

/// Every stream is a differential collection of rows at `u64` times; append-only streams
/// simply never retract.
pub type Coll<'s> = VecCollection<'s, u64, Row, isize>;

/// What the workers of one process share: sink targets, program feeds, the first error.
pub struct Shared {
    pub sinks: Vec<SinkTarget>,
    pub rust_sources: HashMap<String, Arc<Feed>>,
    pub max_line_bytes: usize,
    /// Whether more than one process runs the job (single-file sinks then gather at worker 0).
    pub multi_process: bool,
    /// Set to stop the job (see `RunConfig::stop`).
    stop: Arc<AtomicBool>,
    /// Whether the job is a stream (see `Plan::streaming`).
    pub streaming: bool,
    error: Mutex<Option<String>>,
}

impl Shared {
    pub fn new(
        sinks: Vec<SinkTarget>,
        rust_sources: HashMap<String, Arc<Feed>>,
        max_line_bytes: usize,
        multi_process: bool,
        stop: Arc<AtomicBool>,
        streaming: bool,
    ) -> Shared {
        Shared { sinks, rust_sources, max_line_bytes, multi_process, stop, streaming, error: Mutex::new(None) }
    }

    /// Records a run-time failure (the first one wins); the job then ends with it.
    pub fn fail(&self, error: String) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(error);
        }
    }

    /// Whether the job was asked to stop, or failed.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.error.lock().map_or(true, |e| e.is_some())
    }

    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// Builds the whole plan in `scope`; its operators count what they read and write in `counters`.
pub fn render<'s>(scope: Scope<'s, u64>, plan: &Plan, shared: &Arc<Shared>, counters: &Rc<Counters>) {
    let mut colls: Vec<Option<Coll<'s>>> = vec![None; plan.nodes.len()];
    let mut side: HashMap<usize, source::Outputs<'s>> = HashMap::new();
    let mut source_index = 0;
    for (id, node) in plan.nodes.iter().enumerate() {
        let input = |i: &usize| colls[*i].clone().expect("plan: inputs come before their consumers");
        let coll = match &node.kind {
            NodeKind::Source { connector, used, time } => {
                let (index, peers) = (scope.index(), scope.peers());
                let reader = source::open(index, peers, &node.name, connector, &node.schema, used, shared);
                let clock = source::Clock::new(time, shared.streaming);
                let outputs = source::render(scope, &node.name, reader, clock, source_index, shared, counters);
                source_index += 1;
                let ok = outputs.ok.clone();
                side.insert(id, outputs);
                ok
            }
            NodeKind::Errors { source } => side[source].errors.clone(),
            NodeKind::Late { source } => side[source].late.clone(),
            NodeKind::Window { input: i, size, slide, time, replace } => {
                window::assign(input(i), *size, *slide, *time, *replace)
            }
            NodeKind::Windowed { input: i, window, keys, op } => window::render(input(i), *window, keys, op),
            NodeKind::Join { left, right, left_keys, right_keys, right_fields, outer, kind } => {
                let spec = join::Spec { left_keys, right_keys, right_fields, outer: *outer, kind: *kind };
                join::render(input(left), input(right), spec)
            }
            NodeKind::Top { input: i, keys, n, by, desc } => distinct::top(input(i), keys, *n, by, *desc),
            NodeKind::Map { input: i, steps } => map::map(input(i), steps),
            NodeKind::Unnest { input: i, list } => map::unnest(input(i), list),
            NodeKind::Aggregate { input: i, keys, aggs } => {
                aggregate::render(input(i), keys, aggs, plan.nodes[*i].updating)
            }
            NodeKind::Distinct { input: i, keys } => distinct::render(input(i), keys),
            NodeKind::Union { inputs } => {
                let mut all = inputs.iter().map(input);
                let first = all.next().expect("plan: a union has inputs");
                all.fold(first, |acc, c| acc.concat(c))
            }
        };
        colls[id] = Some(coll);
    }
    for (index, s) in plan.sinks.iter().enumerate() {
        let coll = colls[s.input].clone().expect("plan: sink inputs exist");
        let node = &plan.nodes[s.input];
        sink::render(coll, index, node.updating, &plan.sink_schema(index), shared, counters);
    }
}
