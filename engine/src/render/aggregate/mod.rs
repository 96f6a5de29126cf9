//! `aggregate`: records are combined on each worker first (one partial state per key), the
//! partials are exchanged by key and merged per group. Over an updating input, differential's
//! `reduce` merges them, so that a retracted record updates its group's result. Over an
//! append-only input (the common case) groups only grow: `append_only` keeps one state per
//! group and, when a time completes, replaces the results of the groups that changed.

mod append_only;
mod state;

pub use append_only::render as append_only;
pub(super) use state::{Groups, State, States};

use std::collections::HashMap;

use differential_dataflow::{AsCollection, VecCollection};
use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Agg, Expr};
use eddy_dsl::Row;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Capability, ToStream};

use super::{Coll, Time};

/// The aggregate at any time (also inside `iterate`), on differential's `reduce`.
pub fn render<'s, T: Time>(input: Coll<'s, T>, keys: &[Expr], aggs: &[Agg], input_updating: bool) -> Coll<'s, T> {
    let states = States::new(aggs);
    partials(input, keys, &states, input_updating)
        .reduce(move |_key, partials: &[(&State, isize)], out: &mut Vec<(Row, isize)>| {
            let mut acc = states.empty();
            for (partial, n) in partials {
                if *n > 0 {
                    states.merge(&mut acc, partial, *n);
                }
            }
            out.push((states.finish(&acc), 1));
        })
        .map(|(mut key, values)| {
            key.extend(values);
            key
        })
}

/// The partial states of each group on this worker, keyed, for the exchange: combined locally
/// over an append-only input, one per record over an updating one. Without `group by` there is
/// one group, even of no records (as in SQL: a count of 0): one empty state, added once by
/// worker 0, adds nothing to the others.
fn partials<'s, T: Time>(
    input: Coll<'s, T>,
    keys: &[Expr],
    states: &States,
    input_updating: bool,
) -> VecCollection<'s, T, (Row, State), isize> {
    let grouped = !keys.is_empty();
    let keys: Vec<Eval> = keys.iter().map(compile).collect();
    let scope = input.inner.scope();
    let mut partials = if input_updating {
        // Retractions must reach the group as they are: no local combining.
        let states = states.clone();
        input.map(move |row| (keys.iter().map(|k| k(&row)).collect(), states.init(&row)))
    } else {
        combine_locally(input, keys, states.clone())
    };
    if !grouped {
        let empty = if scope.index() == 0 { vec![(Row::new(), states.empty())] } else { Vec::new() };
        let empty = empty.to_stream(scope).container::<Vec<_>>().map(|kv| (kv, T::minimum(), 1isize)).as_collection();
        partials = partials.concat(empty);
    }
    partials
}

/// Merges the records of each key on this worker, per time, and emits one partial state per
/// key when the time is complete. Each record's key is evaluated into a reused row and looked
/// up by slice, and the record is added to its group's state in place: only a new group
/// allocates.
fn combine_locally<'s, T: Time>(
    input: Coll<'s, T>,
    keys: Vec<Eval>,
    states: States,
) -> differential_dataflow::VecCollection<'s, T, (Row, State), isize> {
    input
        .inner
        .unary_frontier(Pipeline, "Combine", move |_cap, _info| {
            let mut pending: HashMap<T, (Capability<T>, Groups), foldhash::fast::RandomState> = HashMap::default();
            let mut key: Row = Vec::with_capacity(keys.len());
            move |(input, frontier), output| {
                input.for_each(|cap, data: &mut Vec<(Row, T, isize)>| {
                    for (row, time, diff) in data.drain(..) {
                        let (_, groups) = match pending.get_mut(&time) {
                            Some(entry) => entry,
                            None => pending
                                .entry(time.clone())
                                .or_insert_with(|| (cap.delayed(&time, 0), Groups::default())),
                        };
                        states.add_to_group(groups, &keys, &mut key, &row, diff);
                    }
                });
                let mut done: Vec<T> = pending.keys().filter(|t| !frontier.less_equal(t)).cloned().collect();
                done.sort();
                for time in done {
                    if let Some((cap, groups)) = pending.remove(&time) {
                        let mut session = output.session(&cap);
                        session.give_iterator(groups.into_iter().map(|kv| (kv, time.clone(), 1isize)));
                    }
                }
            }
        })
        .as_collection()
}
