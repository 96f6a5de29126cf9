//! `aggregate`: records are combined on each worker first (one partial state per key), the
//! partials are exchanged by key and merged per group. Over an updating input, differential's
//! `reduce` merges them, so that a retracted record updates its group's result. Over an
//! append-only input (the common case) groups only grow: `append_only` keeps one state per
//! group and, when a time completes, replaces the results of the groups that changed.

mod append_only;

pub use append_only::render as append_only;

use std::collections::HashMap;

use differential_dataflow::{AsCollection, VecCollection};
use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Agg, AggFunc, Expr};
use eddy_dsl::{Row, Value};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Capability, ToStream};

use super::{Coll, RowMap, Time};

/// The aggregate at any time (also inside `iterate`), on differential's `reduce`.
pub fn render<'s, T: Time>(input: Coll<'s, T>, keys: &[Expr], aggs: &[Agg], input_updating: bool) -> Coll<'s, T> {
    let states = States::new(aggs);
    partials(input, keys, &states, input_updating)
        .reduce(move |_key, partials: &[(&Row, isize)], out: &mut Vec<(Row, isize)>| {
            let mut acc = states.empty();
            for (partial, n) in partials {
                if *n > 0 {
                    states.merge(&mut acc, partial, *n);
                }
            }
            out.push((states.finish(acc), 1));
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
) -> VecCollection<'s, T, (Row, Row), isize> {
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

/// Groups on one worker: the key row to the partial state.
pub(super) type Groups = RowMap<Row>;

/// Merges the records of each key on this worker, per time, and emits one partial state per
/// key when the time is complete. Each record's key is evaluated into a reused row and looked
/// up by slice, and the record is added to its group's state in place: only a new group
/// allocates.
fn combine_locally<'s, T: Time>(
    input: Coll<'s, T>,
    keys: Vec<Eval>,
    states: States,
) -> differential_dataflow::VecCollection<'s, T, (Row, Row), isize> {
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

/// The partial states of a list of aggregates, laid out in one row: one slot per aggregate,
/// two for `avg` (sum, count).
#[derive(Clone)]
pub(super) struct States {
    funcs: std::rc::Rc<[AggFunc]>,
    args: std::rc::Rc<[Option<Eval>]>,
}

impl States {
    pub(super) fn new(aggs: &[Agg]) -> States {
        States {
            funcs: aggs.iter().map(|a| a.func).collect(),
            args: aggs.iter().map(|a| a.arg.as_ref().map(compile)).collect(),
        }
    }

    /// The state of no records.
    pub(super) fn empty(&self) -> Row {
        let mut row = Vec::new();
        for f in self.funcs.iter() {
            match f {
                AggFunc::Count => row.push(Value::Int(0)),
                AggFunc::Avg => row.extend([Value::Null, Value::Int(0)]),
                AggFunc::CountDistinct | AggFunc::Collect => row.push(Value::List(Vec::new().into())),
                _ => row.push(Value::Null),
            }
        }
        row
    }

    /// The state of one record.
    pub(super) fn init(&self, row: &Row) -> Row {
        let mut state = Vec::with_capacity(self.funcs.len());
        for (f, arg) in self.funcs.iter().zip(self.args.iter()) {
            let (p, p2) = init_slot(*f, arg.as_ref().map(|a| a(row)));
            state.push(p);
            state.extend(p2);
        }
        state
    }

    /// Adds `n` copies of `partial` to `acc`.
    pub(super) fn merge(&self, acc: &mut Row, partial: &[Value], n: isize) {
        let mut slot = 0;
        for f in self.funcs.iter() {
            let p2 = if *f == AggFunc::Avg { partial.get(slot + 1) } else { None };
            merge_slot(*f, &mut acc[slot..], &partial[slot], p2, n as i64);
            slot += if *f == AggFunc::Avg { 2 } else { 1 };
        }
    }

    /// Adds `n` copies of `row` to its group in `groups`. The key is evaluated into `key`, a
    /// reused row, and looked up by slice: only a new group takes it (and allocates).
    pub(super) fn add_to_group(&self, groups: &mut Groups, keys: &[Eval], key: &mut Row, row: &Row, n: isize) {
        key.clear();
        key.extend(keys.iter().map(|k| k(row)));
        match groups.get_mut(&key[..]) {
            Some(acc) => self.add(acc, row, n),
            None => {
                let mut acc = self.empty();
                self.add(&mut acc, row, n);
                groups.insert(std::mem::replace(key, Vec::with_capacity(keys.len())), acc);
            }
        }
    }

    /// Adds `n` copies of one record to `acc`: `merge(acc, &init(row), n)` without building
    /// the record's state row.
    pub(super) fn add(&self, acc: &mut Row, row: &Row, n: isize) {
        let n = n as i64;
        let mut slot = 0;
        for (f, arg) in self.funcs.iter().zip(self.args.iter()) {
            match (f, arg) {
                (AggFunc::Count, None) => {
                    let a = &mut acc[slot];
                    *a = Value::Int(a.as_int().unwrap_or(0).saturating_add(n));
                }
                // What `merge_slot` does with the record's value as the partial, without
                // moving it through one (copies do not change a least or greatest value).
                (AggFunc::Min | AggFunc::First | AggFunc::Max | AggFunc::Last, Some(arg)) => {
                    let v = arg(row);
                    let a = &mut acc[slot];
                    let replaces = match f {
                        AggFunc::Min | AggFunc::First => v < *a,
                        _ => v > *a,
                    };
                    if !v.is_null() && (a.is_null() || replaces) {
                        *a = v;
                    }
                }
                _ => {
                    let (p, p2) = init_slot(*f, arg.as_ref().map(|a| a(row)));
                    merge_slot(*f, &mut acc[slot..], &p, p2.as_ref(), n);
                }
            }
            slot += if *f == AggFunc::Avg { 2 } else { 1 };
        }
    }

    /// The aggregates' values from a state.
    pub(super) fn finish(&self, acc: Row) -> Row {
        let mut out = Vec::with_capacity(self.funcs.len());
        let mut slots = acc.into_iter();
        for f in self.funcs.iter() {
            let v = slots.next().unwrap_or(Value::Null);
            out.push(match f {
                AggFunc::Avg => {
                    let count = slots.next().and_then(|c| c.as_int()).unwrap_or(0);
                    match v {
                        Value::List(partials) if count > 0 => Value::float(total(&partials) / count as f64),
                        _ => Value::Null,
                    }
                }
                AggFunc::CountDistinct => match v {
                    Value::List(set) => Value::Int(set.len() as i64),
                    _ => Value::Int(0),
                },
                AggFunc::Collect => match v {
                    // Values in ascending order: the same answer whatever the arrival order.
                    Value::List(items) => {
                        let mut items = items.to_vec();
                        items.sort();
                        Value::List(items.into())
                    }
                    other => other,
                },
                AggFunc::Sum => match v {
                    Value::List(partials) => Value::float(total(&partials)),
                    other => other,
                },
                _ => v,
            });
        }
        out
    }
}

/// One aggregate's partial state for one record, given its argument's value: one slot, and
/// a second for `avg` (the count).
fn init_slot(f: AggFunc, v: Option<Value>) -> (Value, Option<Value>) {
    match (f, v) {
        (AggFunc::Count, None) => (Value::Int(1), None),
        (AggFunc::Count, Some(v)) => (Value::Int(i64::from(!v.is_null())), None),
        (AggFunc::Avg, Some(v)) if !v.is_null() => (float_sum(v.as_float().unwrap_or(0.0)), Some(Value::Int(1))),
        (AggFunc::Sum, Some(Value::Float(x))) => (float_sum(x.get()), None),
        (AggFunc::Avg, _) => (Value::Null, Some(Value::Int(0))),
        (AggFunc::CountDistinct | AggFunc::Collect, Some(v)) if !v.is_null() => (Value::List(vec![v].into()), None),
        (AggFunc::CountDistinct | AggFunc::Collect, _) => (Value::List(Vec::new().into()), None),
        (_, v) => (v.unwrap_or(Value::Null), None),
    }
}

/// Adds `n` copies of one aggregate's partial state `p` (and `p2`, avg's count) to its slots
/// at the start of `acc`.
fn merge_slot(f: AggFunc, acc: &mut [Value], p: &Value, p2: Option<&Value>, n: i64) {
    let a = &mut acc[0];
    match f {
        AggFunc::Count => {
            *a = Value::Int(a.as_int().unwrap_or(0).saturating_add(p.as_int().unwrap_or(0).saturating_mul(n)))
        }
        AggFunc::Sum => *a = add(a, &times(p, n)),
        AggFunc::Min | AggFunc::First => {
            if !p.is_null() && (a.is_null() || *p < *a) {
                *a = p.clone();
            }
        }
        AggFunc::Max | AggFunc::Last => {
            if !p.is_null() && (a.is_null() || *p > *a) {
                *a = p.clone();
            }
        }
        AggFunc::Avg => {
            *a = add(a, &times(p, n));
            if let Some(c) = acc.get_mut(1) {
                *c = Value::Int(c.as_int().unwrap_or(0) + p2.and_then(Value::as_int).unwrap_or(0) * n);
            }
        }
        AggFunc::CountDistinct => {
            if let (Value::List(x), Value::List(y)) = (&*a, p) {
                if !y.is_empty() {
                    let mut set: Vec<Value> = x.iter().chain(y.iter()).cloned().collect();
                    set.sort();
                    set.dedup();
                    *a = Value::List(set.into());
                }
            }
        }
        AggFunc::Collect => {
            if let (Value::List(x), Value::List(y)) = (&*a, p) {
                if !y.is_empty() {
                    let mut all: Vec<Value> = x.to_vec();
                    for _ in 0..n {
                        all.extend(y.iter().cloned());
                    }
                    *a = Value::List(all.into());
                }
            }
        }
    }
}

/// `v` added `n` times (for sums of repeated records).
fn times(v: &Value, n: i64) -> Value {
    match v {
        Value::Int(i) => i.checked_mul(n).map_or(Value::Null, Value::Int),
        Value::Duration(d) => d.checked_mul(n).map_or(Value::Null, Value::Duration),
        Value::List(partials) if n > 1 => {
            let mut sum: Vec<f64> = Vec::new();
            for _ in 0..n {
                partials.iter().for_each(|p| add_exact(&mut sum, p.as_float().unwrap_or(0.0)));
            }
            Value::List(sum.into_iter().map(Value::float).collect())
        }
        other => other.clone(),
    }
}

/// Null-skipping addition: the sum of nothing is null.
fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Null, x) | (x, Value::Null) => x.clone(),
        (Value::Int(x), Value::Int(y)) => x.checked_add(*y).map_or(Value::Null, Value::Int),
        (Value::Duration(x), Value::Duration(y)) => x.checked_add(*y).map_or(Value::Null, Value::Duration),
        (Value::List(x), Value::List(y)) => {
            let mut sum: Vec<f64> = x.iter().map(|v| v.as_float().unwrap_or(0.0)).collect();
            y.iter().for_each(|p| add_exact(&mut sum, p.as_float().unwrap_or(0.0)));
            Value::List(sum.into_iter().map(Value::float).collect())
        }
        _ => Value::Null,
    }
}

/// A float sum is kept exactly, as non-overlapping partials (Shewchuk's algorithm, as in
/// Python's `math.fsum`), so it rounds once at the end and does not depend on the order in
/// which workers add records up.
fn float_sum(x: f64) -> Value {
    Value::List(vec![Value::float(x)].into())
}

fn add_exact(partials: &mut Vec<f64>, mut x: f64) {
    if !x.is_finite() || partials.iter().any(|p| !p.is_finite()) {
        // Infinities and NaN absorb everything; keep the plain sum.
        let s = partials.iter().sum::<f64>() + x;
        partials.clear();
        partials.push(s);
        return;
    }
    let mut kept = 0;
    for j in 0..partials.len() {
        let mut y = partials[j];
        if x.abs() < y.abs() {
            std::mem::swap(&mut x, &mut y);
        }
        let hi = x + y;
        let lo = y - (hi - x);
        if lo != 0.0 {
            partials[kept] = lo;
            kept += 1;
        }
        x = hi;
    }
    partials.truncate(kept);
    partials.push(x);
}

/// The correctly rounded value of a sum of partials.
fn total(partials: &[Value]) -> f64 {
    let p: Vec<f64> = partials.iter().map(|v| v.as_float().unwrap_or(0.0)).collect();
    let Some((&last, rest)) = p.split_last() else { return 0.0 };
    if !last.is_finite() {
        return last;
    }
    let (mut hi, mut lo) = (last, 0.0);
    let mut n = rest.len();
    while n > 0 {
        let x = hi;
        let y = rest[n - 1];
        n -= 1;
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // Round half-way cases correctly, as math.fsum does.
    if n > 0 && ((lo < 0.0 && rest[n - 1] < 0.0) || (lo > 0.0 && rest[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_sums_do_not_depend_on_order() {
        let xs = [0.1, 1e16, 0.2, -1e16, 0.3, 0.908, 1e-3];
        let sum = |order: &[usize]| {
            let mut acc = Value::Null;
            for i in order {
                acc = add(&acc, &float_sum(xs[*i]));
            }
            match acc {
                Value::List(p) => total(&p),
                _ => f64::NAN,
            }
        };
        let a = sum(&[0, 1, 2, 3, 4, 5, 6]);
        let b = sum(&[6, 5, 4, 3, 2, 1, 0]);
        let c = sum(&[3, 0, 5, 1, 6, 2, 4]);
        assert_eq!(a, b);
        assert_eq!(a, c);
        // Python: math.fsum([0.1, 1e16, 0.2, -1e16, 0.3, 0.908, 1e-3])
        assert_eq!(a, 1.5090000000000001);
    }
}
