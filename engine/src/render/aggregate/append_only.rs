//! `aggregate` over an append-only input: groups only grow, so each keeps one state, and when
//! a time completes each group that changed retracts its last result and adds the new one. No
//! arrangement: a batch job holds each group's state once. With several workers, each combines
//! its records per key first and the partials are exchanged by key and merged (`merged`). With
//! one, nothing is exchanged and records go to their group's state directly (`single`).

use std::collections::BTreeMap;

use differential_dataflow::{AsCollection, Hashable};
use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Agg, Expr};
use eddy_dsl::{Row, Value};
use indexmap::IndexMap;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::MutableAntichain;

use super::{partials, Groups, State, States};
use crate::render::Coll;

pub fn render<'s>(input: Coll<'s>, keys: &[Expr], aggs: &[Agg]) -> Coll<'s> {
    if input.inner.scope().peers() == 1 {
        single(input, keys, aggs)
    } else {
        merged(input, keys, aggs)
    }
}

/// One group: its state, its last result, and whether the time being completed changed it.
struct Group {
    acc: State,
    last: Option<Row>,
    changed: bool,
}

/// The groups of one worker, by key, side by side in the order they were made (an index map:
/// one vector of groups and a table of their positions, where a hash map of groups would
/// spread them over a table twice their number, and move them all when it grows).
#[derive(Default)]
struct Table {
    groups: IndexMap<Row, Group, foldhash::fast::RandomState>,
    /// The positions of the groups changed since the last completed time, each once.
    changed: Vec<usize>,
}

impl Table {
    /// Applies `update` to the state of `key`'s group (a new, empty one if there is none),
    /// and marks the group changed.
    fn touch(&mut self, key: &[Value], states: &States, update: impl FnOnce(&mut State)) {
        match self.groups.get_full_mut(key) {
            Some((at, _, group)) => {
                update(&mut group.acc);
                if !group.changed {
                    group.changed = true;
                    self.changed.push(at);
                }
            }
            None => {
                let mut acc = states.empty();
                update(&mut acc);
                let (at, _) = self.groups.insert_full(key.to_vec(), Group { acc, last: None, changed: true });
                self.changed.push(at);
            }
        }
    }

    /// Completes a time: merges its `partials` into their groups, then writes, for each group
    /// the time changed, the retraction of the last result and the new result. At the `last`
    /// time (the input is complete) no group can change again: the groups are written out and
    /// freed instead of keeping their results.
    fn complete(
        &mut self,
        states: &States,
        partials: impl IntoIterator<Item = Partial>,
        last: bool,
        mut give: impl FnMut(Row, isize),
    ) {
        for (key, partial) in partials {
            self.touch(&key, states, |acc| states.merge(acc, &partial, 1));
        }
        let mut emit = |mut key: Row, result: Row, previous: Option<Row>| {
            if previous.as_ref() == Some(&result) {
                return;
            }
            if let Some(old) = previous {
                give(key.iter().chain(&old).cloned().collect(), -1);
            }
            key.extend(result);
            give(key, 1);
        };
        if last {
            self.changed = Vec::new();
            for (key, group) in std::mem::take(&mut self.groups).into_iter().filter(|(_, g)| g.changed) {
                emit(key, states.finish(&group.acc), group.last);
            }
            return;
        }
        for at in std::mem::take(&mut self.changed) {
            let Some((key, group)) = self.groups.get_index_mut(at) else { continue };
            group.changed = false;
            let result = states.finish(&group.acc);
            let previous = group.last.replace(result.clone());
            emit(key.clone(), result, previous);
        }
    }
}

/// A group's key and partial state.
type Partial = (Row, State);

/// The earliest time the frontier has passed, taken out of `times` with what it holds.
fn next_complete<V>(times: &mut BTreeMap<u64, V>, frontier: &MutableAntichain<u64>) -> Option<(u64, V)> {
    let entry = times.first_entry()?;
    (!frontier.less_equal(entry.key())).then(|| entry.remove_entry())
}

/// Several workers: partials combined on each, exchanged by key and merged into the groups of
/// their key's worker when their time completes.
fn merged<'s>(input: Coll<'s>, keys: &[Expr], aggs: &[Agg]) -> Coll<'s> {
    let states = States::new(aggs);
    let by_key = Exchange::new(|((key, _), _, _): &(Partial, u64, isize)| key.hashed());
    partials(input, keys, &states, false)
        .inner
        .unary_frontier(by_key, "Merge", move |_cap, _info| {
            let mut table = Table::default();
            // The partials of times not yet complete.
            let mut pending: BTreeMap<u64, (Capability<u64>, Vec<Partial>)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data: &mut Vec<(Partial, u64, isize)>| {
                    for (kv, time, _diff) in data.drain(..) {
                        pending.entry(time).or_insert_with(|| (cap.delayed(&time, 0), Vec::new())).1.push(kv);
                    }
                });
                while let Some((time, (cap, partials))) = next_complete(&mut pending, frontier) {
                    let last = frontier.is_empty() && pending.is_empty();
                    let mut session = output.session(&cap);
                    table.complete(&states, partials, last, |row, diff| session.give((row, time, diff)));
                }
            }
        })
        .as_collection()
}

/// One worker: each record goes to its group's state in place as it arrives, when its time is
/// the earliest not yet complete (always, in a batch job: everything is at time 0). Records of
/// a later time wait, combined per key, until the times before it are written.
fn single<'s>(input: Coll<'s>, keys: &[Expr], aggs: &[Agg]) -> Coll<'s> {
    let states = States::new(aggs);
    let grouped = !keys.is_empty();
    let keys: Vec<Eval> = keys.iter().map(compile).collect();
    input
        .inner
        .unary_frontier(Pipeline, "Aggregate", move |cap, _info| {
            let mut table = Table::default();
            // Per time not yet complete: its capability, and the records of a time after the
            // earliest one, combined.
            let mut times: BTreeMap<u64, (Capability<u64>, Groups)> = BTreeMap::new();
            if !grouped {
                // Without `group by` there is one group, even of no records (SQL's count of 0).
                table.touch(&[], &states, |_| {});
                times.insert(*cap.time(), (cap, Groups::default()));
            }
            let mut key: Row = Vec::with_capacity(keys.len());
            move |(input, frontier), output| {
                // Completed times first: what arrives now is at the earliest time not complete
                // or later, and must not reach the results of an earlier one.
                while let Some((time, (cap, later))) = next_complete(&mut times, frontier) {
                    let last = frontier.is_empty() && times.is_empty();
                    let mut session = output.session(&cap);
                    table.complete(&states, later, last, |row, diff| session.give((row, time, diff)));
                }
                let earliest = frontier.frontier().first().copied();
                input.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                    let mut seen = None; // the time of the record before, whose entry exists
                    for (row, time, diff) in data.drain(..) {
                        if seen != Some(time) {
                            times.entry(time).or_insert_with(|| (cap.delayed(&time, 0), Groups::default()));
                            seen = Some(time);
                        }
                        if Some(time) == earliest {
                            key.clear();
                            key.extend(keys.iter().map(|k| k(&row)));
                            table.touch(&key, &states, |acc| states.add(acc, &row, diff));
                        } else if let Some((_, later)) = times.get_mut(&time) {
                            states.add_to_group(later, &keys, &mut key, &row, diff);
                        }
                    }
                });
            }
        })
        .as_collection()
}
