//! `aggregate` per tumbling or sliding window, in two steps. Each worker first combines its own
//! records per window and key, in place (`States::add_to_group`: only a new group allocates);
//! when the watermark passes a window's end it sends one partial state per key, exchanged by
//! key, and the owner of the key merges the partials and emits the result. Only partials cross
//! the exchange: for Nexmark Q5, about one message per auction and window instead of one per
//! bid. With one worker, the combined states are the windows' results.

use std::collections::BTreeMap;

use differential_dataflow::{AsCollection, Hashable};
use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Agg, Expr, Lag};
use eddy_dsl::{Row, Value};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Capability, InputCapability};

use super::super::aggregate::{Groups, State, States};
use super::super::Coll;
use super::{complete, result_time};

/// One worker's part of a window's group: its keys, the window's start and end, its state.
type Partial = (Row, [i64; 2], State);

/// The groups of one window still open on this worker.
struct Open {
    cap: Capability<u64>,
    start: i64,
    groups: Groups,
}

/// The open windows of one worker, by their end.
type Windows = BTreeMap<i64, Open>;

/// The open window ending at `end`, opened with a capability for its results if it is new.
fn window<'w>(open: &'w mut Windows, cap: &InputCapability<u64>, start: i64, end: i64) -> &'w mut Open {
    open.entry(end).or_insert_with(|| {
        let at = result_time(end).max(*cap.least().unwrap_or(&0));
        Open { cap: cap.delayed(&at, 0), start, groups: Groups::default() }
    })
}

/// The windows the frontier has passed (by `lag`), in order of their ends.
fn closed(
    open: &mut Windows,
    frontier: &timely::progress::frontier::MutableAntichain<u64>,
    lag: Lag,
) -> Vec<(i64, Open)> {
    let mut done = Vec::new();
    while let Some(entry) = open.first_entry() {
        if !complete(frontier, *entry.key(), lag) {
            break;
        }
        done.push((*entry.key(), entry.remove()));
    }
    done
}

/// Output: the keys, `window_start`, `window_end`, then the aggregates. `start` and `end` are
/// the positions of the window's bounds in the input records.
pub fn render<'s>(input: Coll<'s>, (start, end): (usize, usize), keys: &[Expr], aggs: &[Agg], lag: Lag) -> Coll<'s> {
    let nkeys = keys.len();
    let keys: Vec<Eval> = keys.iter().map(compile).collect();
    let states = States::new(aggs);
    let (combiner, merger) = (states.clone(), states.clone());
    // With one worker, its partials are the whole windows': they are finished in place.
    let single = input.inner.scope().peers() == 1;
    let partials = input.inner.unary_frontier(Pipeline, "WindowCombine", move |_cap, _info| {
        let mut open = Windows::new();
        let mut key: Row = Vec::with_capacity(nkeys);
        move |(input, frontier), output| {
            input.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                for (row, _time, diff) in data.drain(..) {
                    let (Some(Value::Timestamp(s)), Some(Value::Timestamp(e))) = (row.get(start), row.get(end)) else {
                        continue;
                    };
                    if diff <= 0 {
                        continue; // windowed inputs are append-only
                    }
                    let groups = &mut window(&mut open, &cap, *s, *e).groups;
                    combiner.add_to_group(groups, &keys, &mut key, &row, diff);
                }
            });
            for (e, window) in closed(&mut open, frontier, lag) {
                let mut session = output.session(&window.cap);
                let bounds = [window.start, e];
                session.give_iterator(
                    window.groups.into_iter().map(|(keys, acc)| ((keys, bounds, acc), *window.cap.time(), 1isize)),
                );
            }
        }
    });
    let result = move |keys: Row, [start, end]: [i64; 2], acc: &State| {
        states.result(keys, &[Value::Timestamp(start), Value::Timestamp(end)], acc)
    };
    if single {
        let finish =
            move |((keys, bounds, acc), time, diff): (Partial, u64, isize)| (result(keys, bounds, &acc), time, diff);
        return partials.map(finish).as_collection();
    }
    // The records of one key meet on one worker; without keys, those of one window.
    let exchange = Exchange::new(
        move |((keys, [_, end], _), _, _): &(Partial, u64, isize)| {
            if nkeys == 0 {
                end.hashed()
            } else {
                keys.hashed()
            }
        },
    );
    partials
        .unary_frontier(exchange, "WindowMerge", move |_cap, _info| {
            let mut open = Windows::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data: &mut Vec<(Partial, u64, isize)>| {
                    for ((keys, [s, e], partial), _time, _diff) in data.drain(..) {
                        let groups = &mut window(&mut open, &cap, s, e).groups;
                        match groups.get_mut(&keys[..]) {
                            Some(acc) => merger.merge(acc, &partial, 1),
                            None => {
                                groups.insert(keys, partial);
                            }
                        }
                    }
                });
                for (e, window) in closed(&mut open, frontier, lag) {
                    let mut session = output.session(&window.cap);
                    let time = *window.cap.time();
                    session.give_iterator(
                        window
                            .groups
                            .into_iter()
                            .map(|(keys, acc)| (result(keys, [window.start, e], &acc), time, 1isize)),
                    );
                }
            }
        })
        .as_collection()
}
