//! `aggregate` per tumbling or sliding window, in two steps. Each worker first combines its own
//! records per window and key, in place (`States::add_to_group`: only a new group allocates).
//! When the watermark passes a window's end, each key's partial state goes to the key's owner,
//! which merges the partials and emits the result. Only partials cross between workers: for
//! Nexmark Q5, about one per auction, window and worker instead of one per bid. A worker keeps
//! the groups it owns where they are (its `WindowMerge` takes over its `WindowCombine`'s table)
//! and sends the others encoded, a few bytes each. With one worker, the combined states are the
//! windows' results.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use bincode::Options;
use differential_dataflow::{AsCollection, Hashable};
use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Agg, Expr, Lag};
use eddy_dsl::{Row, Value};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::dataflow::StreamVec;
use timely::progress::frontier::MutableAntichain;

use super::super::aggregate::{Groups, State, States};
use super::super::Coll;
use super::{complete, result_time};

/// The groups of one window still open on this worker.
struct Open<G> {
    cap: Capability<u64>,
    start: i64,
    groups: G,
}

/// The open windows of one worker, by their end.
type Windows<G> = BTreeMap<i64, Open<G>>;

/// The open window ending at `end`, opened with a capability for its results if it is new.
fn window<'w, G: Default>(
    open: &'w mut Windows<G>,
    cap: &InputCapability<u64>,
    start: i64,
    end: i64,
) -> &'w mut Open<G> {
    open.entry(end).or_insert_with(|| {
        let at = result_time(end).max(*cap.least().unwrap_or(&0));
        Open { cap: cap.delayed(&at, 0), start, groups: G::default() }
    })
}

/// The windows the frontier has passed (by `lag`), in order of their ends.
fn closed<G>(open: &mut Windows<G>, frontier: &MutableAntichain<u64>, lag: Lag) -> Vec<(i64, Open<G>)> {
    let mut done = Vec::new();
    while let Some(entry) = open.first_entry() {
        if !complete(frontier, *entry.key(), lag) {
            break;
        }
        done.push((*entry.key(), entry.remove()));
    }
    done
}

/// What one worker sends another when a window closes: the receiver, the window's start and
/// end, and the partial groups the receiver owns, encoded (`encode`), with their number. Every
/// worker sends every worker one, even empty: it gives the receiver its capability for the
/// window's results.
type Partials = (u64, [i64; 2], Vec<u8>, usize);

/// Partial groups as they travel: bincode's variable-length integers, a few bytes a group. A
/// group's keys and state live apart on its worker's heap; read from another CPU they cost
/// more than encoding and decoding them (see benches/analysis.md).
fn codec() -> impl Options + Copy {
    bincode::DefaultOptions::new()
}

fn encode(bytes: &mut Vec<u8>, keys: &Row, acc: &State) {
    // Writing to a vector cannot fail, and keys and states are plain data.
    let _ = codec().serialize_into(bytes, &(keys, acc));
}

/// The `n` groups `encode` wrote into `bytes`.
fn decode(bytes: &[u8], n: usize) -> impl Iterator<Item = (Row, State)> + '_ {
    let mut de = bincode::Deserializer::from_slice(bytes, codec());
    (0..n).map_while(move |_| serde::Deserialize::deserialize(&mut de).ok())
}

/// Output: the keys, `window_start`, `window_end`, then the aggregates. `start` and `end` are
/// the positions of the window's bounds in the input records.
pub fn render<'s>(input: Coll<'s>, bounds: (usize, usize), keys: &[Expr], aggs: &[Agg], lag: Lag) -> Coll<'s> {
    let states = States::new(aggs);
    let merger = states.clone();
    let (me, peers) = (input.inner.scope().index(), input.inner.scope().peers());
    let result = move |keys: Row, [start, end]: [i64; 2], acc: &State| {
        states.result(keys, &[Value::Timestamp(start), Value::Timestamp(end)], acc)
    };
    if peers == 1 {
        // The combined states are the results.
        let finish = move |bounds, groups: Groups, out: &mut Vec<Row>| {
            out.extend(groups.into_iter().map(|(keys, acc)| result(keys, bounds, &acc)));
        };
        return combine(input, bounds, keys, &merger, lag, finish).as_collection();
    }
    // The worker that merges a key's partials; without keys, a window's.
    let owner = move |keys: &Row, end: i64| {
        let hash = if keys.is_empty() { end.hashed() } else { keys.hashed() };
        (hash % peers as u64) as usize
    };
    // Closed windows' groups this worker owns, from its WindowCombine to its WindowMerge.
    let owned: Rc<RefCell<BTreeMap<i64, Groups>>> = Rc::default();
    let kept = Rc::clone(&owned);
    let finish = move |[start, end]: [i64; 2], mut groups: Groups, out: &mut Vec<Partials>| {
        let mut parts = vec![(Vec::new(), 0); peers];
        groups.retain(|keys, acc| match owner(keys, end) {
            to if to == me => true,
            to => {
                encode(&mut parts[to].0, keys, acc);
                parts[to].1 += 1;
                false
            }
        });
        let earlier = kept.borrow_mut().insert(end, groups);
        debug_assert!(earlier.is_none(), "a window closes once");
        out.extend(parts.into_iter().enumerate().map(|(to, (bytes, n))| (to as u64, [start, end], bytes, n)));
    };
    combine(input, bounds, keys, &merger, lag, finish)
        .unary_frontier(
            Exchange::new(|((to, ..), ..): &(Partials, u64, isize)| *to),
            "WindowMerge",
            move |_cap, _info| {
                let mut open = Windows::<Vec<(Vec<u8>, usize)>>::new();
                move |(input, frontier), output| {
                    input.for_each(|cap, data: &mut Vec<(Partials, u64, isize)>| {
                        for ((_, [s, e], bytes, n), _time, _diff) in data.drain(..) {
                            window(&mut open, &cap, s, e).groups.push((bytes, n));
                        }
                    });
                    for (e, window) in closed(&mut open, frontier, lag) {
                        // The frontier passes a window here only once this worker's
                        // WindowCombine has closed it too: its own groups are in `owned`.
                        let mut groups = owned.borrow_mut().remove(&e).unwrap_or_default();
                        for (bytes, n) in &window.groups {
                            merge(&merger, &mut groups, decode(bytes, *n));
                        }
                        let mut session = output.session(&window.cap);
                        let time = *window.cap.time();
                        session.give_iterator(
                            groups.into_iter().map(|(keys, acc)| (result(keys, [window.start, e], &acc), time, 1isize)),
                        );
                    }
                }
            },
        )
        .as_collection()
}

/// Each worker's records combined per window and key; when the frontier passes a window's
/// end (by `lag`), `finish` turns its groups into what the operator sends, at the window's
/// result time.
fn combine<'s, D: Clone + 'static>(
    input: Coll<'s>,
    (start, end): (usize, usize),
    keys: &[Expr],
    states: &States,
    lag: Lag,
    finish: impl Fn([i64; 2], Groups, &mut Vec<D>) + 'static,
) -> StreamVec<'s, u64, (D, u64, isize)> {
    let keys: Vec<Eval> = keys.iter().map(compile).collect();
    let states = states.clone();
    input.inner.unary_frontier(Pipeline, "WindowCombine", move |_cap, _info| {
        let mut open = Windows::<Groups>::new();
        let mut key: Row = Vec::with_capacity(keys.len());
        let mut out = Vec::new();
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
                    states.add_to_group(groups, &keys, &mut key, &row, diff);
                }
            });
            for (e, Open { cap, start, groups }) in closed(&mut open, frontier, lag) {
                finish([start, e], groups, &mut out);
                output.session(&cap).give_iterator(out.drain(..).map(|d| (d, *cap.time(), 1isize)));
            }
        }
    })
}

/// Merges partial groups into `groups`.
fn merge(states: &States, groups: &mut Groups, partials: impl IntoIterator<Item = (Row, State)>) {
    for (keys, partial) in partials {
        match groups.get_mut(&keys) {
            Some(acc) => states.merge(acc, &partial, 1),
            None => {
                groups.insert(keys, partial);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_dsl::plan::AggFunc;
    use std::sync::Arc;

    #[test]
    fn partial_groups_decode_as_they_were_encoded() {
        use AggFunc::*;
        // Every kind of slot: counters, values, exact float sums, an overflowed sum, means,
        // sets, lists; field 0 is an int, field 1 a float.
        let aggs: Vec<Agg> = [(Count, None), (Min, Some(0)), (Sum, Some(0)), (Sum, Some(1)), (Avg, Some(1))]
            .into_iter()
            .chain([(CountDistinct, Some(0)), (Collect, Some(0)), (Last, Some(0))])
            .map(|(func, field)| Agg { func, arg: field.map(Expr::Field), ty: eddy_dsl::Type::INT })
            .collect();
        let states = States::new(&aggs);
        let mut acc = states.init(&vec![Value::Int(i64::MAX), Value::float(0.1)]);
        for row in [vec![Value::Int(7), Value::float(1e16)], vec![Value::Int(-3), Value::Null]] {
            states.add(&mut acc, &row, 2);
        }
        let long = Value::str("a string much longer than twenty-three bytes");
        let list = Value::List(Arc::from(vec![Value::Int(1), long.clone(), Value::Null]));
        let groups: Vec<(Row, State)> = vec![
            (vec![long, Value::Null], acc.clone()),
            (vec![Value::Bool(true), Value::Timestamp(-5), Value::Duration(9)], states.empty()),
            (vec![list, Value::str("short")], acc),
            (Vec::new(), states.init(&vec![Value::Int(0), Value::float(f64::INFINITY)])),
        ];
        let mut bytes = Vec::new();
        for (keys, acc) in &groups {
            encode(&mut bytes, keys, acc);
        }
        assert_eq!(decode(&bytes, groups.len()).collect::<Vec<_>>(), groups);
        assert_eq!(decode(&bytes, 2).count(), 2, "only the number asked for");
    }
}
