//! The sink operator, the same for every connector: a batch job writes an updating stream's
//! final contents (consolidated when its input is complete) and an append-only stream as it
//! arrives; a stream writes an updating stream's changes with a `diff` field as their times
//! complete. Whenever the frontier moves, the connector's writer flushes (see
//! `connector::sink`).

use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::consolidation::consolidate_updates;
use differential_dataflow::Hashable;
use eddy_dsl::{Row, Value};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::progress::frontier::MutableAntichain;

use super::{Coll, Shared};
use crate::connector::sink::{Sink, SinkWriter};
use crate::summary::Counters;

/// A sink of the plan in this process: its connector, and its name as the summary shows it
/// (`stream -> connector`) for errors.
pub struct SinkTarget {
    pub label: String,
    pub sink: Box<dyn Sink>,
}

impl SinkTarget {
    /// Makes what this process wrote visible: the job succeeded.
    pub fn commit(&self) -> Result<(), String> {
        self.sink.finish().map_err(|e| format!("sink {}: {e}", self.label))
    }
}

/// One worker's end of sink `target`: what fails is reported once, and what comes after it is
/// dropped (the job ends with the error).
struct Writer {
    target: usize,
    shared: Arc<Shared>,
    /// `None` when the writer could not be opened, or failed.
    out: Option<Box<dyn SinkWriter>>,
    /// Records written before a failure.
    written: u64,
    counters: Rc<Counters>,
}

impl Writer {
    fn write(&mut self, row: Row) {
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.write(row) {
                self.failed(e);
            }
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
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.flush(end) {
                self.failed(e);
            }
        }
    }

    /// Records handed over by the connector.
    fn written(&self) -> u64 {
        self.out.as_ref().map_or(self.written, |o| o.written())
    }

    // A full disk or a closed pipe (`eddy run ... | head`) ends the job with an error.
    fn failed(&mut self, e: String) {
        self.written = self.written();
        self.out = None;
        Counters::add(&self.counters.failed[self.target], 1);
        let label = &self.shared.sinks[self.target].label;
        self.shared.fail(format!("sink {label}: cannot write: {e}"));
    }
}

/// Renders sink `index` of the plan on its input collection. Its output carries no records: it
/// is the sink's durable frontier. The operator holds a capability at the earliest time whose
/// output may not be durable yet: in a stream, the input frontier once what came before it is
/// flushed; in a batch job, the start until the input is complete. A sink whose writer failed
/// holds its capability where it failed until its input is complete (nothing after it is
/// durable; the job ends with the error, and its sources acknowledge nothing more).
///
/// Today's writers flush synchronously, inside the activation that sees the frontier move, so
/// this frontier equals the input frontier after the flush (the operator's output follows its
/// input anyway); the capability is where a writer whose deliveries are confirmed later (a
/// broker's producer) will hold it back, and it keeps a failed sink's frontier where it failed.
pub fn render<'s>(
    coll: Coll<'s>,
    index: usize,
    updating: bool,
    shared: &Arc<Shared>,
    counters: &Rc<Counters>,
) -> StreamVec<'s, u64, ()> {
    let target = &shared.sinks[index];
    let worker = coll.inner.scope().index();
    let out = match target.sink.writer(worker, shared.streaming) {
        Ok(out) => Some(out),
        Err(e) => {
            Counters::add(&counters.failed[index], 1);
            shared.fail(e);
            None
        }
    };
    let writer = Writer { target: index, shared: Arc::clone(shared), out, written: 0, counters: Rc::clone(counters) };
    let state = SinkState {
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
    let gather = target.sink.single() && shared.multi_process();
    if gather || updating {
        let pact = Exchange::new(move |(row, _, _): &(Row, u64, isize)| if gather { 0 } else { row.hashed() });
        operate(coll, pact, &name, state)
    } else {
        operate(coll, Pipeline, &name, state)
    }
}

/// The sink operator over `coll`, its records moved by `pact`.
fn operate<'s, P>(coll: Coll<'s>, pact: P, name: &str, mut state: SinkState) -> StreamVec<'s, u64, ()>
where
    P: ParallelizationContract<u64, Vec<(Row, u64, isize)>>,
{
    coll.inner.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(pact, name, move |cap, _info| {
        let mut held = Some(cap);
        move |(input, frontier), _output| {
            input.for_each(|_, data| state.absorb(data));
            state.advance(frontier);
            match frontier.frontier().first() {
                None => held = None,
                Some(t) if state.streaming && state.writer.out.is_some() => {
                    if let Some(cap) = held.as_mut().filter(|c| c.time() < t) {
                        cap.downgrade(t);
                    }
                }
                Some(_) => {}
            }
        }
    })
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
            Counters::add(&self.counters.written[self.writer.target], self.writer.written());
        }
    }
}
