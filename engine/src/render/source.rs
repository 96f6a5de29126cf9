//! Sources: one operator per source and worker, reading its share of the input in batches
//! without blocking the worker, with three outputs — the records, the rejected ones and the
//! late ones — and holding its capability at its watermark (or arrival time).
//!
//! A reader that acknowledges (`Reader::acks`) hears of what is done through the sinks' durable
//! frontier (`Durable`). A batch of records read at once is done when that frontier passes
//! `due = max(the time the batch was sent at, the largest event time in it) + hold` (the plan's
//! `Done::After { hold }`): every stage on the way to a sink emits a record's last result at a
//! time no later than its event time (or arrival time) plus the stage's hold, and a sink holds
//! its durable frontier at a time until its output for that time is flushed. Batches are acked
//! in the order they were read (a later one waits for an earlier one: conservative, and a
//! broker's commit is a prefix anyway). `Done::AtEnd` and a source whose input ended are
//! acked when the job ends successfully (`run`); `Done::Never`, never.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use differential_dataflow::AsCollection;
use eddy_dsl::plan::Done;
use eddy_dsl::Row;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::{ProbeHandle, Scope, StreamVec};

use super::clock::{Clock, Read};
use super::{Coll, Shared};
use crate::connector::{self, SourceSpec, Span, Status, Wake, BATCH};
use crate::summary::Counters;

/// A source's three outputs: records, rejected records (`.errors`), late records (`.late`).
pub struct Outputs<'s> {
    pub ok: Coll<'s>,
    pub errors: Coll<'s>,
    pub late: Coll<'s>,
}

/// Watermark alignment, as Flink's: the event-time sources of a worker read in step. A source
/// whose watermark is ahead of another's waits while the other reads. Without it, a source of
/// sparse events (Nexmark's persons) races ahead in event time of a dense one (auctions), and a
/// join or window over both holds every record of the faster one until the slower catches up.
/// Results do not change (lateness is judged per source); only the order of reading does.
#[derive(Default)]
pub struct Alignment {
    /// Each aligned source's watermark; `u64::MAX` while it is idle (as in Flink, an idle source
    /// holds no other back) and once it is done.
    marks: RefCell<Vec<u64>>,
}

impl Alignment {
    fn join(&self) -> usize {
        let mut marks = self.marks.borrow_mut();
        marks.push(0);
        marks.len() - 1
    }

    fn set(&self, slot: usize, mark: u64) {
        self.marks.borrow_mut()[slot] = mark;
    }

    /// Whether another source is behind `mark`.
    fn ahead(&self, mark: u64) -> bool {
        self.marks.borrow().iter().any(|m| *m < mark)
    }
}

/// When a source's records are done: the plan's rule, and the sinks' durable frontier.
pub struct Durable<'a> {
    pub done: &'a Done,
    /// The field of the event time, if the source has one, and the path inside it to a nested
    /// one.
    pub event_time: Option<(usize, Vec<usize>)>,
    pub probe: &'a ProbeHandle<u64>,
}

/// The positions of the batches sent and not yet acknowledged, each with the time the durable
/// frontier must pass for it to be done.
struct Unacked {
    hold: u64,
    event_time: Option<(usize, Vec<usize>)>,
    probe: ProbeHandle<u64>,
    batches: VecDeque<(u64, Vec<Span>)>,
}

impl Unacked {
    /// Remembers the positions of the batch `ok` (and its rejected records) sent at `stamp`.
    fn sent(&mut self, stamp: u64, ok: &[Row], positions: &[Span]) {
        if positions.is_empty() {
            return;
        }
        let latest = match &self.event_time {
            Some((field, path)) => {
                ok.iter().fold(stamp, |m, row| match eddy_dsl::plan::timestamp_at(row.get(*field), path) {
                    Some(t) => m.max(t.max(0) as u64),
                    _ => m,
                })
            }
            None => stamp,
        };
        self.batches.push_back((latest.saturating_add(self.hold), positions.to_vec()));
    }

    /// The positions of the batches the durable frontier has passed, in order.
    fn done(&mut self) -> Vec<Span> {
        let mut done = Vec::new();
        while let Some((due, _)) = self.batches.front() {
            if self.probe.less_equal(due) {
                break;
            }
            if let Some((_, positions)) = self.batches.pop_front() {
                done.extend(positions);
            }
        }
        done
    }
}

/// Renders source number `source_index` of the plan, reading this worker's share of it.
#[allow(clippy::too_many_arguments)]
pub fn render<'s>(
    scope: Scope<'s, u64>,
    spec: SourceSpec,
    durable: Durable,
    mut clock: Clock,
    source_index: usize,
    align: &Rc<Alignment>,
    shared: &Arc<Shared>,
    counters: &Rc<Counters>,
) -> Outputs<'s> {
    let name = spec.name;
    let mut builder = OperatorBuilder::new(format!("Source {name}"), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(Rc::clone(&info.address));
    // A client that hands data over as it arrives wakes the operator from its own thread.
    let sync = scope.worker().sync_activator_for(info.address.to_vec());
    let wake: Wake = Box::new(move || _ = sync.activate());
    let reader = connector::open((scope.index(), scope.peers()), spec, &shared.connectors, wake).unwrap_or_else(|e| {
        shared.fail(e);
        None
    });
    if let Some(r) = &reader {
        clock.partitions(r.partitions());
    }
    let (ok_out, ok_stream) = builder.new_output::<Vec<(Row, u64, isize)>>();
    let (err_out, err_stream) = builder.new_output::<Vec<(Row, u64, isize)>>();
    let (late_out, late_stream) = builder.new_output::<Vec<(Row, u64, isize)>>();
    let mut outputs = [OutputBuilder::from(ok_out), OutputBuilder::from(err_out), OutputBuilder::from(late_out)];
    let shared = Arc::clone(shared);
    let counters = Rc::clone(counters);
    let source = name.to_string();
    let align = Rc::clone(align);
    let slot = (clock.event_time() && reader.is_some()).then(|| align.join());
    // Only `Done::After` acks while the job runs.
    let mut unacked = match (durable.done, reader.as_ref().is_some_and(|r| r.acks())) {
        (Done::After { hold }, true) => Some(Unacked {
            hold: (*hold).max(0) as u64,
            event_time: durable.event_time,
            probe: durable.probe.clone(),
            batches: VecDeque::new(),
        }),
        _ => None,
    };
    builder.build(move |caps| {
        // One capability per output, all at the same time; dropped (with the reader) when the
        // input is done or the job is stopped.
        let mut caps = Some(caps);
        let mut reader = reader;
        let mut batches: [Vec<Row>; 3] = [Vec::with_capacity(BATCH), Vec::new(), Vec::new()];
        move |_frontiers| {
            let Some(held) = caps.as_mut() else { return };
            // A failed or stopped job acknowledges nothing more.
            if let (Some(unacked), Some(r), false) = (unacked.as_mut(), reader.as_mut(), shared.stopped()) {
                let done = unacked.done();
                if !done.is_empty() {
                    r.ack(&done);
                }
            }
            if slot.is_some() && align.ahead(*held[0].time()) && !shared.stopped() {
                // Another source is behind: it reads first.
                match clock.streaming() {
                    false => activator.activate(),
                    true => activator.activate_after(Duration::from_millis(1)),
                }
                return;
            }
            let mut read = false;
            let status = match reader.as_mut() {
                _ if shared.stopped() => Status::Done,
                Some(r) => {
                    read = true;
                    let [ok, err, _] = &mut batches;
                    r.read(BATCH, ok, err).unwrap_or_else(|e| {
                        shared.fail(e);
                        Status::Done
                    })
                }
                None => Status::Done,
            };
            let time = held[0].time().to_owned();
            let advance = reader.as_mut().and_then(|r| r.advance());
            let runs = reader.as_ref().map_or(&[][..], |r| r.runs());
            let next = clock.stamp(time, Read { runs, advance }, &mut batches, &source);
            let [ok, err, late] = &mut batches;
            Counters::add(&counters.read[source_index], (ok.len() + err.len() + late.len()) as u64);
            Counters::add(&counters.rejected[source_index], err.len() as u64);
            Counters::add(&counters.late[source_index], late.len() as u64);
            // Records go out at the time before the move: no later than any of their event times.
            let stamp = clock.record_time(time);
            if let (Some(unacked), Some(r), true) = (unacked.as_mut(), reader.as_ref(), read) {
                unacked.sent(stamp, &batches[0], r.positions());
            }
            for ((out, cap), batch) in outputs.iter_mut().zip(held.iter()).zip(batches.iter_mut()) {
                if !batch.is_empty() {
                    let stamp_cap = if stamp > *cap.time() { cap.delayed(&stamp) } else { cap.clone() };
                    let mut out = out.activate();
                    out.session(&stamp_cap).give_iterator(batch.drain(..).map(|row| (row, stamp, 1isize)));
                }
            }
            if let Some(slot) = slot {
                align.set(slot, if status == Status::Done || clock.idle { u64::MAX } else { next });
            }
            if status == Status::Done {
                caps = None;
                reader = None;
                return;
            }
            if next > time {
                held.iter_mut().for_each(|c| c.downgrade(&next));
            }
            match (status, clock.streaming()) {
                (Status::More, _) => activator.activate(),
                (Status::Idle, false) => activator.activate_after(Duration::from_millis(1)),
                (Status::Idle, true) => activator.activate_after(Duration::from_millis(10)),
                (Status::Done, _) => {}
            }
        }
    });
    let streams: [StreamVec<'s, u64, (Row, u64, isize)>; 3] = [ok_stream, err_stream, late_stream];
    let [ok, errors, late] = streams.map(|s| s.as_collection());
    Outputs { ok, errors, late }
}

#[cfg(test)]
mod tests {
    use super::Alignment;

    #[test]
    fn a_source_ahead_waits_for_those_behind_until_they_are_done() {
        let align = Alignment::default();
        let (a, b) = (align.join(), align.join());
        // Nothing read yet: nobody is ahead.
        assert!(!align.ahead(0));
        align.set(a, 50);
        assert!(align.ahead(50), "a is ahead of b, which has read nothing");
        align.set(b, 20);
        assert!(align.ahead(50));
        assert!(!align.ahead(20), "b is behind a: it reads");
        align.set(b, 50);
        assert!(!align.ahead(50), "level: both read");
        align.set(b, u64::MAX);
        align.set(a, 70);
        assert!(!align.ahead(70), "b is done: a no longer waits");
    }
}
