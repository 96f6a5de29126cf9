//! `render`: the plan → timely/differential operators on one worker. One `match` over the
//! plan's nodes; each family of operators lives in its own file. The operators that also run
//! inside `iterate` (generic over the time) are in `common`, which the top-level match falls
//! through to; the plan says which physical strategy each node takes (`AggStrategy`, a join's
//! `symmetric`), and render obeys it.

mod aggregate;
mod clock;
mod distinct;
mod iterate;
mod join;
mod map;
mod sink;
mod source;
mod window;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use eddy_dsl::plan::{AggStrategy, JoinKind, NodeKind, Plan};
use eddy_dsl::Row;
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::{ProbeHandle, Scope};

use crate::connector::{Ack, Connectors, Feed, SourceSpec};
use crate::summary::Counters;

pub use sink::SinkTarget;

/// A map keyed by rows (groups, join keys). foldhash (already a dependency of differential)
/// hashes a short row of values several times faster than std's SipHash; its `RandomState` is
/// seeded per map, which keeps some resistance to crafted keys.
pub type RowMap<V> = HashMap<Row, V, foldhash::fast::RandomState>;

/// Every stream is a differential collection of rows at `u64` times (or, inside `iterate`,
/// at times with a round counter); append-only streams simply never retract.
pub type Coll<'s, T = u64> = VecCollection<'s, T, Row, isize>;

/// The times the operators that also run inside `iterate` work with.
pub trait Time: timely::progress::Timestamp + Lattice + std::hash::Hash {}
impl<T: timely::progress::Timestamp + Lattice + std::hash::Hash> Time for T {}

/// What the workers of one process share: sink targets, the connectors' state, the first
/// error.
pub struct Shared {
    pub sinks: Vec<SinkTarget>,
    pub connectors: Connectors,
    /// This process, of how many.
    process: (usize, usize),
    /// Set to stop the job (see `RunConfig::stop`).
    stop: Arc<AtomicBool>,
    /// Whether the job is a stream (see `Plan::streaming`).
    pub streaming: bool,
    error: Mutex<Option<String>>,
}

impl Shared {
    pub fn new(
        sinks: Vec<SinkTarget>,
        rust_sources: (HashMap<String, Arc<Feed>>, HashMap<String, Ack>),
        max_line_bytes: usize,
        (process, processes): (usize, usize),
        stop: Arc<AtomicBool>,
        streaming: bool,
    ) -> Shared {
        Shared {
            sinks,
            connectors: Connectors::new(rust_sources, max_line_bytes, (process, processes)),
            process: (process, processes),
            stop,
            streaming,
            error: Mutex::new(None),
        }
    }

    /// Whether more than one process runs the job (single-file sinks then gather at worker 0).
    pub fn multi_process(&self) -> bool {
        self.process.1 > 1
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
/// The probe over every sink's durable output is made first, for the sources to watch.
pub fn render<'s>(scope: Scope<'s, u64>, plan: &Plan, shared: &Arc<Shared>, counters: &Rc<Counters>) {
    let probe = ProbeHandle::new();
    let mut colls: Vec<Option<Coll<'s>>> = vec![None; plan.nodes.len()];
    let mut side: HashMap<usize, source::Outputs<'s>> = HashMap::new();
    let (mut source_index, mut iterate_index) = (0, 0);
    let align = Rc::new(source::Alignment::default());
    for (id, node) in plan.nodes.iter().enumerate() {
        let input = |i: &usize| colls[*i].clone().expect("plan: inputs come before their consumers");
        let coll = match &node.kind {
            NodeKind::Source { connector, used, time, done } => {
                let spec = SourceSpec { name: &node.name, connector, schema: &node.schema, used };
                let durable = source::Durable {
                    done,
                    event_time: time.watermark.map(|(f, _)| (f, time.path.clone())),
                    probe: &probe,
                };
                let clock = clock::Clock::new(time, shared.streaming);
                let outputs = source::render(scope, spec, durable, clock, source_index, &align, shared, counters);
                source_index += 1;
                let ok = outputs.ok.clone();
                side.insert(id, outputs);
                ok
            }
            NodeKind::Errors { source } => side[source].errors.clone(),
            NodeKind::Late { source } => side[source].late.clone(),
            NodeKind::Window { input: i, size, slide, time, replace } => {
                window::assign(input(i), *size, *slide, time.clone(), *replace)
            }
            NodeKind::Windowed { input: i, window, keys, op, lag } => {
                window::render(input(i), window.clone(), keys, op, *lag)
            }
            NodeKind::Aggregate { input: i, keys, aggs, strategy: AggStrategy::InPlace } => {
                aggregate::append_only(input(i), keys, aggs)
            }
            NodeKind::Join { left, right, left_keys, right_keys, right_fields, predicate, outer, kind, symmetric } => {
                let spec = join::Spec { left_keys, right_keys, right_fields, predicate, outer: *outer, kind: *kind };
                join::render(input(left), input(right), spec, *symmetric)
            }
            NodeKind::Iterate { input: i, max, body, result } => {
                let outer: HashMap<usize, Coll<'s>> = node.kind.inputs().iter().map(|o| (*o, input(o))).collect();
                iterate_index += 1;
                iterate::render(input(i), body, *result, *max, outer, counters, iterate_index - 1)
            }
            NodeKind::Loop | NodeKind::Outer { .. } => unreachable!("plan: only in iterate bodies"),
            kind => common(kind, &input).expect("render: every node kind is rendered"),
        };
        colls[id] = Some(coll);
    }
    let mut durable = Vec::new();
    for (index, s) in plan.sinks.iter().enumerate() {
        let coll = colls[s.input].clone().expect("plan: sink inputs exist");
        let node = &plan.nodes[s.input];
        durable.push(sink::render(coll, index, node.updating, shared, counters));
    }
    // The sinks' durable frontier, which the sources' acknowledgements follow.
    scope.concatenate(durable).probe_with(&probe);
}

/// The operators that work at any time: in the dataflow, and inside iterate bodies (joins
/// without time bounds only). `None` for the others.
fn common<'s, T: Time>(kind: &NodeKind, input: &dyn Fn(&usize) -> Coll<'s, T>) -> Option<Coll<'s, T>> {
    Some(match kind {
        NodeKind::Map { input: i, steps } => map::map(input(i), steps),
        NodeKind::Unnest { input: i, list } => map::unnest(input(i), list),
        NodeKind::Aggregate { input: i, keys, aggs, strategy } => {
            aggregate::render(input(i), keys, aggs, *strategy == AggStrategy::Reduce)
        }
        NodeKind::Distinct { input: i, keys } => distinct::render(input(i), keys),
        NodeKind::Top { input: i, keys, n, by, ties } => distinct::top(input(i), keys, *n, by, *ties),
        NodeKind::Union { inputs } => {
            let mut all = inputs.iter().map(input);
            let first = all.next()?;
            all.fold(first, |acc, c| acc.concat(c))
        }
        NodeKind::Join {
            left,
            right,
            left_keys,
            right_keys,
            right_fields,
            predicate,
            outer,
            kind: JoinKind::Incremental,
            ..
        } => {
            let kind = JoinKind::Incremental;
            let spec = join::Spec { left_keys, right_keys, right_fields, predicate, outer: *outer, kind };
            join::incremental(input(left), input(right), spec)
        }
        _ => return None,
    })
}
